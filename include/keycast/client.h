// The client side (seed 000 claims 19-21, seed 001 Figure 9): log in to
// the ticket service, verify the ticket, ask the key service for keys at the
// right moments, keep previous / current / next keys, answer server-initiated
// wakeups (seed 003), and hand keys to the data plane through KeySink.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "keycast/clock.h"
#include "keycast/key_protocol.h"
#include "keycast/sa.h"
#include "keycast/status.h"
#include "keycast/ticket.h"

namespace keycast {

// What a client holds after logging in.
struct ClientSession {
  Bytes ticket_bytes;
  Ticket ticket;              // verified
  SecretBytes session_key;
  std::string grant_digest;
};

// How a client proves who it is to the ticket service.
struct ClientCredentials {
  std::string api_key;                 // kca_...; or
  std::string client, password;        // name + password
};

// The ticket service over HTTP(S).
// Thread safety: safe for concurrent use.
class TicketClient {
 public:
  struct Options {
    int timeout_seconds = 10;
    std::string ca_file;  // for https:// URLs; empty = system store
  };
  TicketClient(std::string base_url, Options options);
  TicketClient(std::string base_url) : TicketClient(std::move(base_url), Options{}) {}

  // Logs in, fetches the published keys and verifies the ticket.
  Result<ClientSession> Login(const ClientCredentials& creds) const;
  // Long-poll (seed 001: tickets re-issued when events change): a fresh
  // verified session when the grant differs from `digest`; nullopt at timeout.
  Result<std::optional<ClientSession>> Watch(const ClientCredentials& creds, const std::string& digest,
                                             int timeout_seconds) const;
  // Verifies ticket bytes against the service's published keys.
  Result<Ticket> Verify(ByteView ticket) const;

  const std::string& base_url() const { return base_url_; }

 private:
  Result<ClientSession> FromReply(const std::string& body) const;
  std::string base_url_;
  Options options_;
};

// Receives keys from the agent. The data plane implements it.
class KeySink {
 public:
  virtual ~KeySink() = default;
  virtual void Install(const SecurityAssociation& sa) = 0;
  // The client lost the right to the event (revoked, event over).
  virtual void Revoked(EventId event, const std::string& reason) = 0;
};

// One key exchange with a key service, over UDP with retries and a TCP
// fallback, failing over between the endpoints listed for the event.
// Thread safety: one request at a time per KeyClient.
class KeyClient {
 public:
  struct Options {
    int attempts_per_server = 4;       // UDP tries before the next server
    int initial_timeout_ms = 250;      // doubles each try, with +-25 % jitter
    int max_timeout_ms = 4000;
  };
  KeyClient(const ClientSession& session, Options options);
  ~KeyClient();

  // Sends a request built from the arguments to the event's key servers in
  // order. Returns the authenticated reply (which may carry a refusal), or an
  // error when no server answered.
  Result<keyproto::Reply> Request(const TicketEvent& event, keyproto::RequestKind kind, Epoch epoch,
                                  SenderId sender, uint64_t server_nonce = keyproto::kClientInitiated);
  // Waits up to timeout_ms for a verified wakeup on the request socket.
  std::optional<keyproto::Wakeup> WaitForWakeup(int timeout_ms);
  // Estimated (server clock - local clock), from the last reply.
  Micros clock_offset() const { return clock_offset_; }
  void set_clock_offset(Micros offset) { clock_offset_ = offset; }
  const Options& options() const { return options_; }
  void set_options(const Options& o) { options_ = o; }
  int udp_fd() const { return fd_; }

 private:
  // Sends with retries; returns the first reply that authenticates for any
  // attempt of this exchange.
  Result<keyproto::Reply> ExchangeUdp(const Endpoint& server, const Bytes& request, const keyproto::Nonce& nonce);
  Result<Bytes> ExchangeTcp(const Endpoint& server, const Bytes& request);
  keyproto::Request Build(const TicketEvent& event, keyproto::RequestKind kind, Epoch epoch, SenderId sender,
                          uint64_t server_nonce);

  const ClientSession& session_;
  keyproto::SessionKeys keys_;
  Options options_;
  int fd_ = -1;
  int family_ = 0;
  Micros clock_offset_ = 0;
  std::mt19937_64 rng_;
  std::vector<keyproto::Wakeup> pending_wakeups_;
};

// The client agent for one event: schedules the initial request at a random
// instant of the initial keying period (seed 000 claim 10), refreshes at a
// random offset of the first forward security window and at the same offset
// of every later interval (claim 12), keeps previous / current / next keys,
// retries with jittered backoff, fails over between key servers, answers
// wakeups (seed 003) and gives up on one after a timeout.
// Thread safety: Start/Stop from one thread; accessors are safe anywhere.
class Agent {
 public:
  struct Options {
    const Clock* clock = &SystemClock::Get();
    KeySink* sink = nullptr;                 // may be null
    KeyClient::Options key_client;
    int wakeup_answer_timeout_ms = 3000;     // seed 003 claim 16: give up after
    uint64_t seed = 0;                       // 0 = random; fixed for tests
    // Called for each state change, for logs and the CLI.
    std::function<void(const std::string&)> log;
  };
  struct Stats {
    uint64_t requests = 0, keys = 0, refusals = 0, failures = 0, wakeups = 0, wakeup_timeouts = 0;
  };
  // The keys the agent holds for its event.
  struct Keys {
    std::optional<SecurityAssociation> previous, current, next;
  };

  Agent(ClientSession session, std::string event_name, Options options);
  ~Agent();

  Status Start();
  void Stop();

  Keys keys() const;
  Stats stats() const;
  bool revoked() const { return revoked_.load(); }
  // The offset (ms into each interval) at which refreshes are sent.
  int64_t refresh_offset_ms() const { return refresh_offset_ms_; }
  SenderId sender() const;
  // Replaces the session (a fresh ticket) without interrupting keys.
  void UpdateSession(ClientSession session);

 private:
  void Run();
  void Log(const std::string& m);
  bool Fetch(keyproto::RequestKind kind, Epoch epoch, uint64_t server_nonce);
  void Accept(const SecurityAssociation& sa);
  Micros Now() const;

  std::unique_ptr<ClientSession> session_;
  const TicketEvent* event_ = nullptr;
  std::string event_name_;
  Options options_;
  std::unique_ptr<KeyClient> client_;
  std::mt19937_64 rng_;
  int64_t refresh_offset_ms_ = -1;
  mutable std::mutex mu_;
  Keys keys_;
  Stats stats_;
  SenderId sender_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> revoked_{false};
  std::thread thread_;
  std::mutex session_mu_;
  std::unique_ptr<ClientSession> pending_session_;
};

}  // namespace keycast
