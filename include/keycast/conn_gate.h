// ConnGate: the front door of a TCP service. It owns the listening socket,
// accepts connections and keeps each one on a single event-loop thread
// (epoll) until a whole request is in memory; only then does a worker
// thread see it, and the worker's answer goes back to the loop, which
// writes it out. Slow and idle clients therefore cost a file descriptor and
// a buffer, never a worker thread.
//
// Why not cpp-httplib's own server loop: cpp-httplib 0.11.4 (Debian 12)
// serves a connection on one thread of its fixed pool from accept to close,
// including the keep-alive wait, and its read timeout is per recv() (a
// client sending its headers a byte a second never trips it). Its hooks
// cannot fix that: new_task_queue receives an opaque closure (no socket to
// look at), the pre-routing handler and set_socket_options run only after a
// thread has been committed, and no hook sees the bytes of the head as they
// arrive. So the gate enforces what the library cannot (per-peer and total
// connection caps, a deadline for the whole head, another for the body, an
// idle timeout, a write timeout, separate worker pools), and hands complete
// requests to the library's request processor (docs/limits.md).
//
// What a connection may cost is bounded: at most max_connections are open
// (max_connections_per_peer from one IPv4 address or IPv6 /64), each buffers
// at most max_message_bytes, and each is closed when a deadline passes. When
// the table is full, the connection that has waited longest without
// delivering a request is closed to make room for a new one.
//
// The protocol (HTTP, the key service's framed TCP) is a GateProtocol: it
// says when the bytes buffered so far form a whole message and which worker
// pool handles it, and turns a message into an answer.
//
// Thread safety: Start/Stop from one thread. GateProtocol::Examine and
// Refusal run on the loop thread; Handle runs on the pools' threads,
// concurrently for different connections.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "keycast/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace keycast {

// Why the gate itself closed a connection (each has a counter
// keycast_<name>_gate_refusals_total{reason="..."}).
enum class GateRefusal : uint8_t {
  kPeerLimit,    // the peer already has max_connections_per_peer open
  kCapacity,     // max_connections open and none could be closed for room
  kHeadTimeout,  // the head (or frame) was not complete within head_timeout_ms
  kBodyTimeout,  // the body was not complete within body_timeout_ms
  kPoolFull,     // the message's worker pool has no room (GateProtocol picked it)
};
std::string_view GateRefusalName(GateRefusal r);

struct GatePool {
  size_t threads = 1;
  // Messages that may wait for a thread; beyond, Examine's message is
  // refused with kPoolFull. SIZE_MAX: unbounded (bounded by max_connections).
  size_t max_queued = SIZE_MAX;
};

struct GateOptions {
  std::string name = "tcp";  // metric and log prefix: "http", "key_tcp"
  std::string addr;          // host:port to listen on (port 0: any free port)
  size_t max_connections = 1024;
  size_t max_connections_per_peer = 64;
  // Time to receive a whole head (HTTP request line and headers, or a
  // framed message): from accept for a connection's first request, from
  // its first byte for later ones.
  int64_t head_timeout_ms = 10'000;
  // Time from the end of the head to the end of the body.
  int64_t body_timeout_ms = 10'000;
  // Time a connection may stay open between two requests.
  int64_t idle_timeout_ms = 10'000;
  // Time to write one answer.
  int64_t write_timeout_ms = 10'000;
  size_t max_message_bytes = 80 * 1024;  // the input buffer of a connection
  size_t max_requests_per_connection = 10'000;
  std::vector<GatePool> pools = {GatePool{}};
  bool tcp_nodelay = true;
  // Non-null: TLS on every connection (the handshake counts towards the
  // head timeout). The gate takes a reference (SSL_CTX_up_ref).
  ssl_ctx_st* tls = nullptr;
};

class GateProtocol {
 public:
  virtual ~GateProtocol() = default;

  struct Frame {
    enum Kind : uint8_t {
      kNeedHead,  // the head is incomplete: head_timeout_ms applies
      kNeedBody,  // the head is complete, the body is not: body_timeout_ms applies
      kComplete,  // the first `length` bytes are a message for pool `pool`
      kReject,    // send `reply` (may be empty) and close
    };
    Kind kind = kNeedHead;
    size_t length = 0;
    size_t pool = 0;
    std::string reply;
  };
  // Examines the bytes a connection has buffered: the start of its next
  // message. Must return kComplete or kReject before the buffer reaches
  // max_message_bytes.
  virtual Frame Examine(std::string_view buffered) = 0;

  struct Message {
    std::string_view bytes;
    const sockaddr_storage* peer = nullptr;
    socklen_t peer_len = 0;
    std::string peer_ip, local_ip;
    int peer_port = 0, local_port = 0;
    bool last = false;  // the gate closes the connection after this answer
  };
  // Handles one message on a thread of its pool; appends the answer to
  // *out. Returns false to close the connection once the answer is written.
  virtual bool Handle(const Message& m, std::string* out) = 0;

  // What to send before the gate closes a connection for `why`; "" closes
  // without a word. `pool` is the message's pool for kPoolFull.
  virtual std::string Refusal(GateRefusal why, size_t pool) = 0;
};

class ConnGate {
 public:
  // protocol must outlive the gate.
  ConnGate(GateOptions options, GateProtocol* protocol);
  ~ConnGate();

  // Binds, listens and starts the loop and the pools. REQUIRES: not started.
  Status Start();
  // Stops accepting, closes idle connections, lets messages in progress
  // finish and their answers be written (each within write_timeout_ms),
  // then closes everything and joins every thread. Idempotent.
  void Stop();

  // host:port bound (the port chosen for port 0).
  std::string endpoint() const;
  int port() const;
  // Connections open now (for tests and metrics).
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycast
