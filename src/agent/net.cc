#include "keycast/agent/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace keycast::agent {

namespace {

Status Errno(const std::string& what) { return Unavailable(what + ": " + std::strerror(errno)); }

int FamilyOf(const IpAddress& a) { return a.family == IpAddress::Family::kV6 ? AF_INET6 : AF_INET; }

Status SetInt(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
    return Errno(std::string("setsockopt ") + what);
  return Status::Ok();
}

void SetReceiveTimeout(int fd) {
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void SetBuffers(int fd, int bytes) {
  if (bytes <= 0) return;
  // The *FORCE variants pass net.core.[rw]mem_max when running as root; the
  // plain ones are capped there otherwise.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() { Close(); }

void Fd::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<SocketAddress> ToSocketAddress(const IpAddress& address, uint16_t port) {
  SocketAddress s;
  if (address.family == IpAddress::Family::kV4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&s.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, address.bytes, 4);
    s.length = sizeof(sockaddr_in);
    return s;
  }
  if (address.family == IpAddress::Family::kV6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, address.bytes, 16);
    s.length = sizeof(sockaddr_in6);
    return s;
  }
  return InvalidArgument("no address");
}

IpAddress FromSocketAddress(const sockaddr_storage& s, uint16_t* port) {
  IpAddress a;
  if (s.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&s);
    a.family = IpAddress::Family::kV4;
    std::memcpy(a.bytes, &in->sin_addr, 4);
    if (port) *port = ntohs(in->sin_port);
  } else if (s.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&s);
    a.family = IpAddress::Family::kV6;
    std::memcpy(a.bytes, &in6->sin6_addr, 16);
    if (port) *port = ntohs(in6->sin6_port);
  } else if (port) {
    *port = 0;
  }
  return a;
}

Result<std::pair<IpAddress, uint16_t>> ParseHostPort(const std::string& text,
                                                     bool allow_port_zero) {
  auto ep = Endpoint::Parse(text, allow_port_zero);
  if (!ep) return InvalidArgument("'" + text + "' is not address:port");
  auto a = IpAddress::Parse(ep->host);
  if (!a) return InvalidArgument("'" + text + "': the host must be an IP address literal");
  return std::make_pair(*a, ep->port);
}

Result<unsigned> InterfaceIndex(const std::string& name) {
  if (name.empty()) return 0u;
  unsigned i = ::if_nametoindex(name.c_str());
  if (i == 0) return NotFound("no network interface named '" + name + "'");
  return i;
}

Result<Fd> OpenUdpSocket(const IpAddress& local, uint16_t port, int buffer_bytes) {
  KC_ASSIGN_OR_RETURN(SocketAddress sa, ToSocketAddress(local, port));
  Fd fd(::socket(FamilyOf(local), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  SetBuffers(fd.get(), buffer_bytes);
  if (::bind(fd.get(), sa.get(), sa.length) != 0)
    return Errno("bind " + local.ToString() + ":" + std::to_string(port));
  SetReceiveTimeout(fd.get());
  return fd;
}

Result<Fd> OpenMulticastSender(const IpAddress& group, const IpAddress& source,
                               const MulticastOptions& o) {
  if (!group.IsMulticast())
    return InvalidArgument(group.ToString() + " is not a multicast address");
  if (o.ttl < 0 || o.ttl > 255) return InvalidArgument("multicast TTL must be 0-255");
  KC_ASSIGN_OR_RETURN(unsigned ifindex, InterfaceIndex(o.interface));
  Fd fd(::socket(FamilyOf(group), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  SetBuffers(fd.get(), o.buffer_bytes);
  if (group.family == IpAddress::Family::kV4) {
    KC_RETURN_IF_ERROR(SetInt(fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, o.ttl, "IP_MULTICAST_TTL"));
    KC_RETURN_IF_ERROR(
        SetInt(fd.get(), IPPROTO_IP, IP_MULTICAST_LOOP, o.loop ? 1 : 0, "IP_MULTICAST_LOOP"));
    if (ifindex) {
      ip_mreqn m{};
      m.imr_ifindex = int(ifindex);
      if (::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0)
        return Errno("IP_MULTICAST_IF " + o.interface);
    }
  } else {
    KC_RETURN_IF_ERROR(
        SetInt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, o.ttl, "IPV6_MULTICAST_HOPS"));
    KC_RETURN_IF_ERROR(
        SetInt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, o.loop ? 1 : 0, "IPV6_MULTICAST_LOOP"));
    if (ifindex)
      KC_RETURN_IF_ERROR(
          SetInt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, int(ifindex), "IPV6_MULTICAST_IF"));
  }
  if (!source.empty()) {
    if (source.family != group.family)
      return InvalidArgument("source and group are of different families");
    KC_ASSIGN_OR_RETURN(SocketAddress sa, ToSocketAddress(source, 0));
    if (::bind(fd.get(), sa.get(), sa.length) != 0)
      return Errno("bind to the event's source address " + source.ToString() +
                   " (is it an address of this host?)");
  }
  return fd;
}

Result<Fd> OpenMulticastReceiver(const IpAddress& group, uint16_t port, const IpAddress& source,
                                 const MulticastOptions& o) {
  if (!group.IsMulticast())
    return InvalidArgument(group.ToString() + " is not a multicast address");
  if (!source.empty() && source.family != group.family)
    return InvalidArgument("source and group are of different families");
  KC_ASSIGN_OR_RETURN(unsigned ifindex, InterfaceIndex(o.interface));
  const bool v6 = group.family == IpAddress::Family::kV6;
  Fd fd(::socket(FamilyOf(group), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  SetBuffers(fd.get(), o.buffer_bytes);
  KC_RETURN_IF_ERROR(SetInt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"));
  if (v6) {
    KC_RETURN_IF_ERROR(SetInt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"));
    KC_RETURN_IF_ERROR(SetInt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL"));
  } else {
    KC_RETURN_IF_ERROR(SetInt(fd.get(), IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO"));
    KC_RETURN_IF_ERROR(SetInt(fd.get(), IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL"));
  }
  // Bound to the group, so datagrams to other groups on the same port stay out.
  KC_ASSIGN_OR_RETURN(SocketAddress bind_to, ToSocketAddress(group, port));
  if (::bind(fd.get(), bind_to.get(), bind_to.length) != 0)
    return Errno("bind " + group.ToString() + ":" + std::to_string(port));
  KC_ASSIGN_OR_RETURN(SocketAddress g, ToSocketAddress(group, 0));
  const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (source.empty()) {
    group_req req{};
    req.gr_interface = ifindex;
    std::memcpy(&req.gr_group, &g.storage, g.length);
    if (::setsockopt(fd.get(), level, MCAST_JOIN_GROUP, &req, sizeof req) != 0)
      return Errno("joining " + group.ToString() +
                   (o.interface.empty() ? "" : " on " + o.interface));
  } else {
    KC_ASSIGN_OR_RETURN(SocketAddress s, ToSocketAddress(source, 0));
    group_source_req req{};
    req.gsr_interface = ifindex;
    std::memcpy(&req.gsr_group, &g.storage, g.length);
    std::memcpy(&req.gsr_source, &s.storage, s.length);
    if (::setsockopt(fd.get(), level, MCAST_JOIN_SOURCE_GROUP, &req, sizeof req) != 0)
      return Errno("joining (" + source.ToString() + ", " + group.ToString() + ")" +
                   (o.interface.empty() ? "" : " on " + o.interface));
  }
  SetReceiveTimeout(fd.get());
  return fd;
}

IpAddress PacketDestination(const msghdr& msg) {
  IpAddress a;
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&msg)); c;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      a.family = IpAddress::Family::kV4;
      std::memcpy(a.bytes, &info.ipi_addr, 4);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      a.family = IpAddress::Family::kV6;
      std::memcpy(a.bytes, &info.ipi6_addr, 16);
    }
  }
  return a;
}

Result<std::pair<IpAddress, uint16_t>> LocalAddress(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) return Errno("getsockname");
  uint16_t port = 0;
  IpAddress a = FromSocketAddress(s, &port);
  return std::make_pair(a, port);
}

}  // namespace keycast::agent
