// The key service (seed 000 claims 7-18; seed 001 Figures 5, 8; seed 003).
//
// For each request it checks, in this order, with a reason for each
// refusal: the ticket's credential (sealed for this service) and its expiry,
// the proof of possession of the session key, the clock-skew bound, the
// replay cache, a server nonce if the request answers a wakeup, that the
// ticket lists the event, the client's live authorisation in the directory
// (a revocation takes effect without waiting for the ticket to expire), and
// the time window: an initial request only inside the initial keying period
// before an occurrence starts (or later, as a late join), a refresh only
// inside the forward security window of the epoch it asks for. It chooses
// the epoch from its own clock (seed 000 claim 16).
//
// Requests that do not authenticate are dropped and counted, never answered:
// an unauthenticated sender gets no bytes back. Authenticated refusals get an
// authenticated error reply.
//
// KeyEngine is the decision procedure without sockets; KeyService serves it
// over UDP (SO_REUSEPORT workers) and TCP. The TCP side runs behind a
// ConnGate (keycast/conn_gate.h): connections per peer and in all are
// capped, a frame must arrive whole within a deadline, idle connections are
// closed, and frames are handled on a small pool (docs/limits.md).
//
// Thread safety: KeyEngine::Handle is safe to call concurrently.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "keycast/clock.h"
#include "keycast/directory.h"
#include "keycast/key_protocol.h"
#include "keycast/limits.h"
#include "keycast/sa.h"
#include "keycast/seal.h"
#include "keycast/service_keys.h"
#include "keycast/store.h"

namespace keycast {

struct KeyServiceOptions {
  std::string addr = "127.0.0.1:7400";  // UDP and TCP
  size_t threads = 2;                   // UDP workers
  int64_t clock_skew_seconds = 30;      // bound on |client clock - server clock|
  int64_t grace_seconds = 2;            // key k stays usable this long after interval k
  size_t replay_cache_entries = 4'000'000;
  int64_t wakeup_nonce_seconds = 30;  // lifetime of a wakeup's server nonce
  size_t max_udp_reply = 1400;        // larger answers say "use TCP"
  // A requester is remembered (for wakeups and the keyed-clients count) this
  // long after its last granted request; older entries are dropped.
  int64_t requester_ttl_seconds = 24 * 3600;
  // TCP (for answers too large for a datagram), docs/limits.md.
  size_t tcp_threads = limits::kDefaultKeyTcpThreads;
  size_t tcp_max_connections = limits::kDefaultKeyTcpMaxConnections;
  size_t tcp_max_connections_per_ip = limits::kDefaultKeyTcpMaxConnectionsPerIp;  // IPv6: /64
  int64_t tcp_frame_timeout_ms = limits::kDefaultKeyTcpFrameTimeoutMs;            // one whole frame
  int64_t tcp_idle_timeout_ms = limits::kDefaultKeyTcpIdleTimeoutMs;              // between frames
};

// Why a request got nothing or an error; each has a counter
// keycast_key_requests_total{result="..."}.
enum class KeyOutcome : uint8_t {
  kOk,
  kMalformed,
  kUnknownKeyVersion,
  kBadCredential,
  kBadProof,
  kTicketExpired,
  kClockSkew,
  kReplay,
  kBadNonce,
  kNotInTicket,
  kNotAuthorized,
  kUnknownEvent,
  kTooEarly,
  kTooLate,
  kUseTcp,
  kInternal,
  kCount,
};
std::string_view KeyOutcomeName(KeyOutcome o);

class KeyEngine {
 public:
  KeyEngine(const Directory* directory, const ServiceKeys* keys, Store* store, const Sealer* sealer,
            const Clock* clock, KeyServiceOptions options);
  ~KeyEngine();

  // Handles one request; returns the reply to send, or empty to drop.
  // `from` is the sender's address (kept for wakeups).
  Bytes Handle(ByteView request, const sockaddr_storage& from, socklen_t from_len, bool over_tcp,
               KeyOutcome* outcome = nullptr);

  // Which secret and generation an interval key derives from
  // (docs/key-protocol.md, "Generations"); EventKeyState::InForce.
  using KeysInForce = keycast::KeysInForce;
  static KeysInForce InForce(const EventKeyState& k, Micros at) { return k.InForce(at); }

  // The SA of one epoch for a role, from the keys in force now. Clear when
  // the epoch is one of the event's unencrypted first intervals. With source
  // authentication, a sender's SA carries its signing key; the senders an SA
  // vouches for (SecurityAssociation::signers) are filled in by Handle, not here.
  Result<SecurityAssociation> DeriveSa(const Event& event, Epoch epoch, Role role, SenderId sender);
  // The same from given keys; NotFound once their secret version is retired.
  Result<SecurityAssociation> DeriveSaFor(const Event& event, Epoch epoch, Role role,
                                          SenderId sender, KeysInForce keys);

  // Seed 003: a wakeup for every agent that recently fetched keys of the
  // event, each with a fresh server nonce. The transport sends them.
  struct OutgoingWakeup {
    sockaddr_storage to;
    socklen_t to_len;
    Bytes message;
    uint64_t nonce;
  };
  std::vector<OutgoingWakeup> MakeWakeups(EventId event);

  // How many distinct clients were granted keys of `event` at or after
  // `since` (the reservation statistics' "receivers currently keyed").
  size_t RecentClients(EventId event, Micros since);

  uint64_t count(KeyOutcome o) const;

  // Called for every key granted, after all checks, before the reply is
  // sealed; what it returns rides in the reply's `extra` field (push mode:
  // the member's LKH path keys). `valid_until` is the expiry of the ticket
  // the request was made with (Unix seconds): the grant must not outlive
  // it. Must be thread-safe and quick.
  // REQUIRES: set before serving.
  using GrantHook = std::function<Bytes(const Event& event, ClientId client, Role role, Epoch epoch,
                                        int64_t valid_until)>;
  void SetGrantHook(GrantHook hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ConnGate;
class GateProtocol;

class KeyService {
 public:
  KeyService(const Directory* directory, const ServiceKeys* keys, Store* store,
             const Sealer* sealer, const Clock* clock, KeyServiceOptions options);
  ~KeyService();

  Status Start();
  void Stop();
  // host:port actually bound (port 0 in options picks a free one).
  std::string endpoint() const;
  KeyEngine& engine() { return *engine_; }
  // Sends wakeups for the event to its recent requesters; returns how many.
  size_t TriggerRekey(EventId event);
  // TCP connections open now.
  size_t tcp_connections() const;

 private:
  void UdpLoop(int fd);

  KeyServiceOptions options_;
  std::unique_ptr<KeyEngine> engine_;
  std::vector<int> udp_fds_;
  std::unique_ptr<GateProtocol> tcp_protocol_;
  std::unique_ptr<ConnGate> tcp_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace keycast
