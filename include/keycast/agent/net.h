// Sockets of the security agent: a plain UDP socket for local plaintext, a
// multicast sender and a multicast receiver (any-source or source-specific)
// for protected traffic on the wire, and the address conversions they need.
// IPv4 and IPv6 alike; interfaces are named ("eth0"), empty = let routing
// choose.
//
// Thread safety: Fd is a move-only owner; the functions are reentrant.
#pragma once

#include <sys/socket.h>

#include <string>
#include <utility>

#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::agent {

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Close();

 private:
  int fd_ = -1;
};

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// REQUIRES-free: fails on an empty address.
Result<SocketAddress> ToSocketAddress(const IpAddress& address, uint16_t port);
// The address and port of a sockaddr_in / sockaddr_in6 (empty address otherwise).
IpAddress FromSocketAddress(const sockaddr_storage& s, uint16_t* port);
// "127.0.0.1:5000" or "[::1]:5000": an address literal and a port (no DNS
// names: these are local sockets). Port 0 only when allow_port_zero.
Result<std::pair<IpAddress, uint16_t>> ParseHostPort(const std::string& text, bool allow_port_zero);

// The index of a named interface; 0 for an empty name.
Result<unsigned> InterfaceIndex(const std::string& name);

struct MulticastOptions {
  std::string interface;       // send and join on this interface; empty = routing decides
  int ttl = 1;                 // IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS; default 1 (one link)
  bool loop = true;            // deliver to listeners on this host too; default true
  int buffer_bytes = 4 << 20;  // SO_SNDBUF / SO_RCVBUF; default 4 MiB
};

// A UDP socket bound to `local` (port 0 = any), for plaintext datagrams on
// this host. Receive timeout: 200 ms (so loops can notice a stop).
Result<Fd> OpenUdpSocket(const IpAddress& local, uint16_t port, int buffer_bytes);

// A UDP socket that sends to multicast groups of `group`'s family with the
// options' TTL, loop and interface; bound to `source` (port 0) when not empty,
// so the datagrams carry the event's source address.
Result<Fd> OpenMulticastSender(const IpAddress& group, const IpAddress& source,
                               const MulticastOptions& o);

// A UDP socket bound to group:port, joined to the group on the options'
// interface (source-specific, MCAST_JOIN_SOURCE_GROUP, when `source` is not
// empty), delivering the destination address of each datagram (IP_PKTINFO /
// IPV6_RECVPKTINFO) and nothing of groups other sockets joined
// (IP_MULTICAST_ALL off). Several may bind one group:port (SO_REUSEADDR).
// Receive timeout: 200 ms.
Result<Fd> OpenMulticastReceiver(const IpAddress& group, uint16_t port, const IpAddress& source,
                                 const MulticastOptions& o);

// The destination address carried by an IP_PKTINFO / IPV6_PKTINFO control
// message of msg, or an empty address.
IpAddress PacketDestination(const struct msghdr& msg);

// The local address and port a socket is bound to.
Result<std::pair<IpAddress, uint16_t>> LocalAddress(int fd);

}  // namespace keycast::agent
