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
#include "keycast/model.h"
#include "keycast/sa.h"
#include "keycast/schedule.h"
#include "keycast/status.h"
#include "keycast/ticket.h"

namespace keycast {

// What a client holds after logging in.
struct ClientSession {
  Bytes ticket_bytes;
  Ticket ticket;  // verified
  SecretBytes session_key;
  std::string grant_digest;
  // Published rekey-signing keys (GET /v1/ticket-keys), to verify multicast
  // pushes (docs/push.md). Filled by TicketClient::Login and Watch.
  std::vector<std::pair<KeyVersion, Bytes>> rekey_keys;
};

// How a client proves who it is to the ticket service.
struct ClientCredentials {
  std::string api_key;           // kca_...; or
  std::string client, password;  // name + password
};

// The ticket service over HTTP(S).
// Thread safety: safe for concurrent use.
class TicketClient {
 public:
  struct Options {
    int timeout_seconds = 10;
    std::string ca_file;  // for https:// URLs; empty = system store
  };
  // Ends a Watch in flight from another thread (its connection is shut
  // down; Watch returns Cancelled), and every later Watch at once.
  class WatchCanceller {
   public:
    void Cancel();

   private:
    friend class TicketClient;
    std::mutex mu_;
    bool cancelled_ = false;                // GUARDED_BY(mu_)
    std::function<void()> stop_in_flight_;  // GUARDED_BY(mu_)
  };
  TicketClient(std::string base_url, Options options);
  TicketClient(std::string base_url) : TicketClient(std::move(base_url), Options{}) {}

  // Logs in, fetches the published keys and verifies the ticket.
  Result<ClientSession> Login(const ClientCredentials& creds) const;
  // Long-poll (seed 001: tickets re-issued when events change): a fresh
  // verified session when the grant differs from `digest`; nullopt at timeout.
  Result<std::optional<ClientSession>> Watch(const ClientCredentials& creds,
                                             const std::string& digest, int timeout_seconds,
                                             WatchCanceller* canceller = nullptr) const;
  // Verifies ticket bytes against the service's published keys.
  Result<Ticket> Verify(ByteView ticket) const;
  // The published rekey-signing public keys, by version (for a session
  // loaded from disk, whose rekey_keys are not saved).
  Result<std::vector<std::pair<KeyVersion, Bytes>>> RekeyKeys() const;

  const std::string& base_url() const { return base_url_; }

 private:
  Result<ClientSession> FromReply(const std::string& body) const;
  Result<Ticket> VerifyWithKeys(ByteView ticket,
                                std::vector<std::pair<KeyVersion, Bytes>>* rekey_keys) const;
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
  // Source authentication: sender ids seen in authentic packets that the
  // SA of *epoch does not vouch for, for the agent to ask about (a refresh
  // of that epoch with them as hints; docs/key-protocol.md, "Senders").
  // Takes them; false when there are none.
  virtual bool TakeSignerHints(EventId /*event*/, Epoch* /*epoch*/,
                               std::vector<SenderId>* /*senders*/) {
    return false;
  }
};

// One key exchange with a key service, over UDP with retries and a TCP
// fallback, failing over between the endpoints listed for the event.
// Thread safety: one request at a time per KeyClient.
class KeyClient {
 public:
  struct Options {
    int attempts_per_server = 4;   // UDP tries before the next server
    int initial_timeout_ms = 250;  // doubles each try, with +-25 % jitter
    int max_timeout_ms = 4000;
  };
  // REQUIRES: session outlives the KeyClient.
  KeyClient(const ClientSession& session, Options options);
  ~KeyClient();

  // Sends a request built from the arguments to the event's key servers in
  // order. Returns the authenticated reply (which may carry a refusal), or an
  // error when no server answered.
  Result<keyproto::Reply> Request(const TicketEvent& event, keyproto::RequestKind kind, Epoch epoch,
                                  SenderId sender,
                                  uint64_t server_nonce = keyproto::kClientInitiated,
                                  const std::vector<SenderId>& signer_hints = {});
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
  Result<keyproto::Reply> ExchangeUdp(const Endpoint& server, const Bytes& request,
                                      const keyproto::Nonce& nonce);
  Result<Bytes> ExchangeTcp(const Endpoint& server, const Bytes& request);
  keyproto::Request Build(const TicketEvent& event, keyproto::RequestKind kind, Epoch epoch,
                          SenderId sender, uint64_t server_nonce);

  const ClientSession& session_;
  keyproto::SessionKeys keys_;
  Options options_;
  int fd_ = -1;
  int family_ = 0;
  Micros clock_offset_ = 0;
  std::mt19937_64 rng_;
  std::vector<keyproto::Wakeup> pending_wakeups_;
};

// The agent's timing as pure functions of the event, the time and a seeded
// random source (seed 000 claims 10, 12 and 18; seed 001 Figures 6, 7 and
// 9), so that `keycast simulate flash-crowd` runs exactly what agents do.
// Thread safety: not safe for concurrent use; one per agent.
class AgentTiming {
 public:
  struct Event {
    Schedule schedule;
    uint32_t interval_seconds = 0;
    uint32_t initial_keying_seconds = 0;
    uint16_t clear_intervals = 0;
  };
  static Event Of(const TicketEvent& e);

  AgentTiming(Event event, uint64_t seed);

  // When an agent that starts (or whose machine is switched on) at `now`
  // sends its initial request (claim 10): a random instant between the
  // opening of the initial keying period (or now, if later) and the key
  // deadline. The deadline is the start of the event; when the first
  // intervals go unencrypted (claim 18, Figure 7) it is a quarter interval
  // before the first encrypted one, leaving time for that key's refresh. At
  // or past the deadline (a late join): now. nullopt when the event is over.
  std::optional<Micros> InitialRequestAt(Micros now);

  // What the first request sent at `at` asks for. Normally the initial
  // request (the key service picks the epoch). Inside the unencrypted
  // interval just before the first encrypted one (Figure 7), the refresh of
  // that first encrypted epoch instead: the current interval needs no key
  // (clear_now names it; the agent makes its clear SA itself), so a late
  // joiner needs one request, not two in a hurry before the deadline.
  struct FirstRequest {
    bool refresh = false;
    Epoch epoch;                     // refresh: the epoch asked for
    std::optional<Epoch> clear_now;  // refresh: the current, unencrypted epoch
  };
  FirstRequest FirstRequestAt(Micros at) const;

  // The refresh of the epoch after the latest key held (its epoch,
  // initiation and lifetime), claim 12: at the agent's random offset into
  // that key's interval, drawn once in [0, 3/4 interval) and kept for every
  // later interval. When that moment has passed (a late join), a random
  // instant of what is left of the first 3/4 of the interval, so late
  // joiners do not refresh in a burst. nullopt when no epoch adjoins it
  // (the occurrence ends): plan an initial request instead.
  struct Refresh {
    Epoch epoch;
    Micros due = 0;
  };
  std::optional<Refresh> NextRefresh(Epoch have, Micros initiation, Micros lifetime, Micros now);

  // Push (docs/push.md): when to pull a key whose push, sent at push_at,
  // has not come: at a fixed random point of [push_at + lead/4,
  // push_at + 3/4 lead), so the members that missed a push do not all pull
  // at once, and all before the key is needed.
  Micros PushFallbackAt(Micros push_at, Micros lead) const;

  // After a failed exchange: jittered exponential backoff, 0.25 s .. 7.5 s.
  Micros RetryAt(Micros now);
  void ResetBackoff() { backoff_ms_ = 500; }

  int64_t refresh_offset_ms() const { return refresh_offset_ms_; }
  const Event& event() const { return event_; }

 private:
  double Unit();
  Event event_;
  std::mt19937_64 rng_;
  int64_t refresh_offset_ms_ = -1;
  double push_fraction_ = 0;
  int backoff_ms_ = 500;
};

// The multicast side of push for one agent: a UDP socket bound to the
// event's control group and joined to it on the given interface.
// Thread safety: one thread.
class PushReceiver {
 public:
  // interface: IPv4 address or interface name to join on; empty = any.
  static Result<std::unique_ptr<PushReceiver>> Open(const IpAddress& group, uint16_t port,
                                                    const std::string& interface);
  ~PushReceiver();
  int fd() const { return fd_; }
  const IpAddress& group() const { return group_; }
  uint16_t port() const { return port_; }
  // Hands every datagram waiting on the socket to fn, without blocking.
  void Drain(const std::function<void(ByteView)>& fn);

 private:
  PushReceiver() = default;
  int fd_ = -1;
  IpAddress group_;
  uint16_t port_ = 0;
};

// The client agent for one event: schedules the initial request at a random
// instant of the initial keying period (seed 000 claim 10), refreshes at a
// random offset of the first forward security window and at the same offset
// of every later interval (claim 12), keeps previous / current / next keys,
// retries with jittered backoff, fails over between key servers, answers
// wakeups (seed 003) and gives up on one after a timeout.
//
// Push (seed 001 Figure 8, docs/push.md): for an event whose delivery is
// push, once a key reply has brought its LKH path keys the agent listens on
// the event's control group and takes each next key from the push; it pulls
// only when a push is missed (a gap, a drop, or nothing by its fallback
// time) and to renew its membership. With delivery both it does both: pulls
// each refresh as in pull mode and takes pushes as they come.
// Thread safety: Start/Stop from one thread; accessors are safe anywhere.
class Agent {
 public:
  struct Options {
    const Clock* clock = &SystemClock::Get();
    KeySink* sink = nullptr;  // may be null
    KeyClient::Options key_client;
    int wakeup_answer_timeout_ms = 3000;        // seed 003 claim 16: give up after
    uint64_t seed = 0;                          // 0 = random; fixed for tests
    bool use_push = true;                       // follow pushes of push/both events
    std::string push_interface;                 // IPv4 address or interface to join on; empty = any
    size_t push_max_message_bytes = 16u << 20;  // default 16 MiB
    // Called for each state change, for logs and the CLI.
    std::function<void(const std::string&)> log;
  };
  struct Stats {
    uint64_t requests = 0, keys = 0, refusals = 0, failures = 0, wakeups = 0, wakeup_timeouts = 0;
    // Push: keys taken from pushes, pushes dropped (forged, replayed,
    // reordered, truncated, ...: keycast_push_rejected_total has the
    // reasons), pulls made because a push was missed or could not be used.
    uint64_t pushed = 0, push_rejected = 0, push_fallbacks = 0;
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
  // Replaces the session (a fresh ticket) without interrupting keys: the
  // agent's thread switches to it before its next step. The old session
  // stays alive until nothing of the agent points into it any more.
  // REQUIRES: session was verified (TicketClient::Login or Watch) for the
  // same client as the agent's, and its ticket lists the agent's event; a
  // session whose ticket does not is dropped and the agent keeps the one it
  // has (the key service refuses it once the grant is gone).
  // Safe to call from any thread, also while the agent runs.
  void UpdateSession(ClientSession session);

 private:
  void Run();
  // Switches to a session UpdateSession left, if any. Run's thread only.
  void TakePendingSession();
  void Log(const std::string& m);
  bool Fetch(keyproto::RequestKind kind, Epoch epoch, uint64_t server_nonce,
             const std::vector<SenderId>& signer_hints = {});
  void Accept(const SecurityAssociation& sa);
  struct Push;
  void HandleGrant(ByteView extra);
  bool OnPushDatagram(ByteView datagram);
  bool PushActive() const;
  Micros Now() const;

  // Run's thread only, once started. The event points into the session it
  // came from and keeps that session alive (shared ownership), so a renewal
  // never frees what the agent is reading; client_ refers to the session
  // it was built from, and is replaced together with it.
  std::shared_ptr<const ClientSession> session_;
  std::shared_ptr<const TicketEvent> event_;
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
  std::unique_ptr<ClientSession> pending_session_;  // GUARDED_BY(session_mu_)
  std::unique_ptr<Push> push_;                      // Run's thread only
};

}  // namespace keycast
