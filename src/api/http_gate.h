// The HTTP front of the API server: a ConnGate (keycast/conn_gate.h) that
// owns the listening socket, with HTTP/1.1 framing, in front of
// cpp-httplib's router.
//
// Why a gate and not cpp-httplib's listen loop: cpp-httplib 0.11.4 (Debian
// 12) gives every connection a thread of its pool from accept to close, and
// its read timeout is per recv(). Two hundred clients sending their headers
// a byte a second, or idling on keep-alive, hold all sixteen threads, and a
// long-poll holds one for up to a minute. None of its hooks can stop that
// (new_task_queue gets an opaque closure, the pre-routing handler runs after
// the head was read on a committed thread, set_socket_options only sets
// socket options). So the gate reads each request whole on its event loop
// under total deadlines, counts connections per peer, and only then gives
// the request to a worker: a thread of the request pool, or of the separate
// long-poll pool for routes marked as long-polls. cpp-httplib still parses,
// routes and answers: the worker runs the library's own request processor
// (Server::process_request) over the request in memory.
//
// The gate needs a Content-Length for a body: a request with
// Transfer-Encoding is answered 411 (RFC 9112 section 6.3 lets a server
// refuse it), so a body never arrives on a worker's time.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "keycast/api_server.h"
#include "keycast/conn_gate.h"

namespace keycast::api {

// cpp-httplib's router with its request processor opened to the gate.
class HttpRouter : public httplib::Server {
 public:
  // Parses, routes and answers one request read from s, writing the answer
  // to s. Returns false if the connection must close.
  bool ProcessBuffered(httplib::Stream& s, bool close_connection, bool& connection_closed) {
    return process_request(s, close_connection, connection_closed, nullptr);
  }
};

// Which requests wait for events (they go to the long-poll pool).
using LongPollPredicate = std::function<bool(std::string_view method, std::string_view path)>;

// An HTTP answer in the API's error format with Connection: close.
// retry_after_seconds > 0 adds Retry-After.
std::string CannedHttpError(int status, const Status& error, int64_t retry_after_seconds);

// HTTP/1.1 framing for the gate: a message is the head and Content-Length
// bytes of body.
class HttpGateProtocol : public GateProtocol {
 public:
  HttpGateProtocol(HttpRouter* router, LongPollPredicate long_poll, const ApiServerOptions& o);
  Frame Examine(std::string_view buffered) override;
  bool Handle(const Message& m, std::string* out) override;
  std::string Refusal(GateRefusal why, size_t pool) override;

  static constexpr size_t kRequestPool = 0;
  static constexpr size_t kLongPollPool = 1;

 private:
  HttpRouter* router_;
  LongPollPredicate long_poll_;
  ApiServerOptions o_;
};

// The gate, its protocol and the TLS context, as the API server starts them.
class HttpFront {
 public:
  // Loads the TLS certificate and key when the options name them.
  static Result<std::unique_ptr<HttpFront>> Create(HttpRouter* router, LongPollPredicate long_poll,
                                                   const ApiServerOptions& o);
  ~HttpFront();
  Status Start() { return gate_->Start(); }
  void Stop() { gate_->Stop(); }
  int port() const { return gate_->port(); }
  size_t open_connections() const { return gate_->open_connections(); }

 private:
  HttpFront() = default;
  std::unique_ptr<HttpGateProtocol> protocol_;
  std::unique_ptr<ConnGate> gate_;
};

}  // namespace keycast::api
