// The TUN interface of transparent mode (seed 001 Fig. 13): the event's
// multicast group is routed through it, so the IP packets an unmodified
// application sends to the group come out of its file descriptor, and the
// packets the agent writes into it are received by the application as if
// they came from the network.
//
// Needs CAP_NET_ADMIN (root). The interface exists while the TunDevice
// lives (not persistent), with MTU 65535 so an application's datagram is
// never fragmented before the agent sees it; the wire socket fragments the
// protected datagram instead, and the receiving kernel reassembles it.
//
// Thread safety: Read and Write may run concurrently from different threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keycast/agent/net.h"
#include "keycast/bytes.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::agent {

class TunDevice {
 public:
  static constexpr int kDefaultMtu = 65535;

  // Creates (or attaches to) the TUN interface `name` (IFF_TUN | IFF_NO_PI),
  // sets its MTU and brings it up.
  static Result<std::unique_ptr<TunDevice>> Open(const std::string& name, int mtu = kDefaultMtu);
  ~TunDevice();

  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }

  // Reads one IP packet; waits at most timeout_ms. Returns its size, 0 on
  // timeout, or -1 on error (errno set).
  long Read(MutableByteView buffer, int timeout_ms);
  // Writes one IP packet. Returns false on error (errno set).
  bool Write(ByteView packet);

 private:
  TunDevice(Fd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  Fd fd_;
  std::string name_;
};

// One group routed through the TUN; `source` (on senders of an event that
// names its source address) makes the kernel give the application's
// datagrams that source, which receivers check.
struct GroupRoute {
  IpAddress group;
  IpAddress source;  // empty = the kernel's choice
};

// The routes transparent mode needs: each event group through the TUN, and
// no strict reverse-path filter on it (the packets it delivers come from
// senders routed elsewhere). Add() runs iproute2 (`ip route replace ...`)
// and writes /proc/sys; Remove() deletes what Add() added.
// Thread safety: one thread.
class RouteManager {
 public:
  explicit RouteManager(std::string tun) : tun_(std::move(tun)) {}
  ~RouteManager() { Remove(); }

  // The shell commands an operator runs to do by hand what Add does.
  static std::vector<std::string> Commands(const std::string& tun,
                                           const std::vector<GroupRoute>& routes);

  Status Add(const GroupRoute& route);
  void Remove();

 private:
  std::string tun_;
  std::vector<GroupRoute> added_;
};

}  // namespace keycast::agent
