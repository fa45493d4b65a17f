// Multicast rekey push (seed 000 claims 14-15, seed 001 Figure 8): for each
// event whose delivery is push or both, the key service keeps a logical key
// hierarchy (lkh::KeyTree) of the members it granted keys to, and before each
// interval multicasts the NEXT interval key to the members still authorised,
// in one signed, sequence-numbered LKH rekey message per interval.
//
// Timing (docs/push.md): the push of epoch k is committed and sent `lead`
// before k starts (default a quarter of the interval), batching every join
// and leave since the previous push:
//   joins   members granted a key by the key service (the grant hook);
//   leaves  members the directory no longer authorises for the event, and
//           members with no grant for member_lifetime_seconds (their ticket
//           has expired by then).
// A joiner is admitted by the first commit after its grant; the key reply it
// gets after that carries its path keys (push::PushGrant in the reply's
// `extra`), which are fresh at that commit, so it never learns an earlier key
// (backward secrecy). A removed member's path is refreshed by the commit that
// removes it, so it cannot unwrap that push or any later one (forward
// secrecy), at a cost of O(d log_d n) wrapped keys per removal.
//
// Security property: a member recovers interval key k from the push only if
// the key service granted it a key before the commit of k and the directory
// still authorised it at that commit.
//
// Thread safety: OnGrant is safe to call concurrently (the key service's
// workers call it); Tick runs on one thread (Start's, or the caller's).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "keycast/directory.h"
#include "keycast/lkh.h"
#include "keycast/push/format.h"
#include "keycast/sa.h"
#include "keycast/service_keys.h"

namespace keycast {

struct PushOptions {
  unsigned degree = lkh::kDefaultDegree;  // default 4
  // The push of epoch k leaves lead = clamp(lead_fraction * interval,
  // min_lead_ms, max_lead_ms) before k starts (never more than the interval).
  double lead_fraction = 0.25;                  // default
  int64_t min_lead_ms = 200;                    // default
  int64_t max_lead_ms = 60'000;                 // default
  int repeats = 2;                              // default: each push is sent twice
  uint64_t rate_bytes_per_second = 12'500'000;  // default 100 Mbit/s pacing
  int ttl = 16;                                 // default multicast TTL / hop limit
  std::string interface;                        // sending interface: IPv4 address or
                                                // interface name; empty = routing table
  // One control group for every event (members filter by event id). Default
  // (port 0): each event's own group address with port + 1.
  IpAddress control_group;
  uint16_t control_port = 0;
  // A member with no grant for this long leaves at the next commit: its
  // ticket has expired by then. Set it to the ticket lifetime plus the skew.
  int64_t member_lifetime_seconds = 8 * 3600 + 30;  // default
};

// Where the datagrams go. Send must be thread-compatible (one caller).
class PushTransport {
 public:
  virtual ~PushTransport() = default;
  virtual Status Send(const IpAddress& group, uint16_t port, ByteView datagram) = 0;
};

// UDP multicast: TTL, loopback to local members on, the given interface.
Result<std::unique_ptr<PushTransport>> OpenUdpPushTransport(const PushOptions& options);

class PushService {
 public:
  // The SA of one epoch (the key service's KeyEngine::DeriveSa for a receiver).
  using DeriveSa = std::function<Result<SecurityAssociation>(const Event&, Epoch)>;

  // Pointers are borrowed and must outlive the service.
  PushService(const Directory* directory, const ServiceKeys* keys, const Clock* clock,
              DeriveSa derive, PushTransport* transport, PushOptions options);
  ~PushService();

  // The key service's grant hook: records the grant (a join, or a renewal)
  // and returns the encoded push::PushGrant for the reply's `extra`, with the
  // member's path keys once a commit has admitted it. Empty for pull events.
  // The membership lasts member_lifetime_seconds from now, and never beyond
  // `valid_until` (Unix seconds, the expiry of the requester's ticket; 0:
  // unknown).
  Bytes OnGrant(const Event& event, ClientId client, Role role, Epoch epoch,
                int64_t valid_until = 0);

  // Commits and sends what is due now (pushes, repeats); returns when it
  // should next be called.
  Micros Tick();

  // Runs Tick on a thread of its own until Stop.
  Status Start();
  void Stop();

  // The control group of an event's pushes; nullopt when the event has no
  // usable group address.
  static std::optional<std::pair<IpAddress, uint16_t>> ControlGroup(const Event& event,
                                                                    const PushOptions& options);
  // How long before epoch k starts its push is sent.
  static Micros Lead(const Event& event, const PushOptions& options);

  struct EventStatus {
    size_t members = 0;  // in the tree after the last commit
    uint64_t tree_id = 0;
    uint64_t seq = 0;  // of the last commit
    std::optional<Epoch> last_epoch;
    size_t last_message_bytes = 0;  // signed push message
    size_t last_datagrams = 0;
    size_t last_joins = 0, last_leaves = 0;
    double last_commit_ms = 0;  // CPU work of the last commit (joins, leaves, Commit, signatures)
    Bytes last_message;         // the last push message (for tests and tools)
  };
  std::optional<EventStatus> Inspect(EventId event) const;

 private:
  struct EventState;
  std::shared_ptr<EventState> StateFor(const Event& event, bool create);
  void Commit(EventState& st, const Event& event, Epoch epoch, Micros now);
  void SendAll(EventState& st);

  const Directory* directory_;
  const ServiceKeys* keys_;
  const Clock* clock_;
  DeriveSa derive_;
  PushTransport* transport_;
  PushOptions options_;

  mutable std::mutex mu_;  // guards states_
  std::unordered_map<int64_t, std::shared_ptr<EventState>> states_;

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keycast
