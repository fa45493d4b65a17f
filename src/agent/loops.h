// Internal: the packet loops of the daemon, each a whole path in one
// function (as wireguard-go's send.go / receive.go). Each runs on its own
// thread until `stop`, reading in batches (recvmmsg) and writing in batches
// (sendmmsg) where the kernel allows; none allocates per datagram.
//
//   RunRelaySend  local plaintext socket -> Protect -> wire
//   RunReceive    wire -> Open -> local plaintext socket (relay) or TUN (transparent)
//   RunTunSend    TUN -> ProtectIpPacket -> wire (or unchanged, no policy)
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <mutex>
#include <vector>

#include "keycast/agent/daemon.h"
#include "keycast/agent/net.h"
#include "keycast/agent/tun.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::agent::internal {

struct AtomicCounters {
  std::atomic<uint64_t> received{0}, sent{0}, delivered{0}, inner_rejected{0}, io_errors{0};
  EventCounters Snapshot() const {
    return {received.load(), sent.load(), delivered.load(), inner_rejected.load(),
            io_errors.load()};
  }
};

// Where one event's protected datagrams go.
struct WireTarget {
  EventId event;
  int fd = -1;                // a multicast sender socket
  SocketAddress destination;  // group:wire port
  AtomicCounters* counters = nullptr;
};

// The event's own addressing, to check what an authentic packet carries.
struct EventAddress {
  EventId event;
  IpAddress group;
  uint16_t port = 0;  // the event's (logical) port
  IpAddress source;   // empty = any
};

// REQUIRES: in_fd has a receive timeout (it is how stop is noticed).
void RunRelaySend(const std::atomic<bool>& stop, int in_fd, const EventAddress& ev,
                  const WireTarget& wire, dataplane::DataPlane& dp, const Clock& clock);

// Delivers to exactly one of: a UDP socket + local address (relay), or the TUN.
struct ReceiveOutput {
  int fd = -1;
  SocketAddress local;
  TunDevice* tun = nullptr;
};

// REQUIRES: wire_fd from OpenMulticastReceiver (receive timeout, PKTINFO).
void RunReceive(const std::atomic<bool>& stop, int wire_fd, const EventAddress& ev,
                const ReceiveOutput& out, AtomicCounters* counters, dataplane::DataPlane& dp,
                const Clock& clock);

// The events a TUN send loop serves; events that start later are added.
class WireTargets {
 public:
  void Add(const WireTarget& t) {
    std::lock_guard<std::mutex> l(mu_);
    targets_.push_back(t);
  }
  bool Find(EventId e, WireTarget* out) const {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& t : targets_)
      if (t.event == e) {
        *out = t;
        return true;
      }
    return false;
  }
  // Calls f(target) for each target, under the lock (f must not call Add).
  template <typename F>
  void ForEach(F&& f) const {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& t : targets_) f(t);
  }

 private:
  mutable std::mutex mu_;
  std::vector<WireTarget> targets_;  // GUARDED_BY(mu_)
};

struct TunCounters {
  std::atomic<uint64_t> ignored{0}, bypassed{0};
};

// bypass_fd: a raw IPv4 socket (IP_HDRINCL) bound to the wire interface, for
// datagrams no policy matches; -1 drops them (counted as ignored).
void RunTunSend(const std::atomic<bool>& stop, TunDevice& tun, const WireTargets& targets,
                int bypass_fd, TunCounters* counters, dataplane::DataPlane& dp, const Clock& clock);

}  // namespace keycast::agent::internal
