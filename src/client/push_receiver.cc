// PushReceiver: a socket on an event's control group (docs/push.md).
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keycast/client.h"
#include "keycast/push/format.h"

namespace keycast {
namespace {

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

PushReceiver::~PushReceiver() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<PushReceiver>> PushReceiver::Open(const IpAddress& group, uint16_t port,
                                                         const std::string& interface) {
  if (!group.IsMulticast())
    return InvalidArgument("control group " + group.ToString() + " is not multicast");
  std::unique_ptr<PushReceiver> r(new PushReceiver());
  r->group_ = group;
  r->port_ = port;
  bool v4 = group.family == IpAddress::Family::kV4;
  r->fd_ = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (r->fd_ < 0) return Internal(Errno("socket"));
  int one = 1;
  // Several agents on one host share the group's port; each gets a copy.
  ::setsockopt(r->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // A large push arrives as a burst of datagrams.
  int rcvbuf = 4 << 20;
  ::setsockopt(r->fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (v4) {
    // Bound to the group address: only that group's datagrams arrive.
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    std::memcpy(&a.sin_addr, group.bytes, 4);
    if (::bind(r->fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return Unavailable(Errno("bind"));
    ip_mreqn m{};
    std::memcpy(&m.imr_multiaddr, group.bytes, 4);
    if (!interface.empty() && ::inet_pton(AF_INET, interface.c_str(), &m.imr_address) != 1) {
      m.imr_ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
      if (m.imr_ifindex == 0)
        return InvalidArgument("push interface '" + interface + "' not found");
    }
    if (::setsockopt(r->fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0)
      return Unavailable(Errno("joining the control group"));
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    std::memcpy(&a.sin6_addr, group.bytes, 16);
    if (::bind(r->fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return Unavailable(Errno("bind"));
    ipv6_mreq m{};
    std::memcpy(&m.ipv6mr_multiaddr, group.bytes, 16);
    if (!interface.empty()) m.ipv6mr_interface = ::if_nametoindex(interface.c_str());
    if (::setsockopt(r->fd_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) != 0)
      return Unavailable(Errno("joining the control group"));
  }
  return r;
}

void PushReceiver::Drain(const std::function<void(ByteView)>& fn) {
  uint8_t buf[push::kMaxDatagramBytes + 1];
  for (int i = 0; i < 4096; ++i) {  // bounded: the caller's loop comes back
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return;
    // MSG_TRUNC returns the real length: an oversized datagram stays oversized.
    size_t len = std::min(static_cast<size_t>(n), sizeof buf);
    fn(ByteView(buf, len));
  }
}

}  // namespace keycast
