// The multicast sender of the push part.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keycast/push.h"

namespace keycast {
namespace {

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class UdpPushTransport final : public PushTransport {
 public:
  explicit UdpPushTransport(PushOptions o) : options_(std::move(o)) {}
  ~UdpPushTransport() override {
    if (fd4_ >= 0) ::close(fd4_);
    if (fd6_ >= 0) ::close(fd6_);
  }

  Status Open4() {
    fd4_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd4_ < 0) return Internal(Errno("socket"));
    int ttl = options_.ttl, loop = 1;
    if (::setsockopt(fd4_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0)
      return Internal(Errno("IP_MULTICAST_TTL"));
    // Members on this host (and the tests) receive the pushes too.
    if (::setsockopt(fd4_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0)
      return Internal(Errno("IP_MULTICAST_LOOP"));
    if (!options_.interface.empty()) {
      ip_mreqn m{};
      if (::inet_pton(AF_INET, options_.interface.c_str(), &m.imr_address) != 1) {
        m.imr_ifindex = static_cast<int>(::if_nametoindex(options_.interface.c_str()));
        if (m.imr_ifindex == 0)
          return InvalidArgument("push interface '" + options_.interface + "' not found");
      }
      if (::setsockopt(fd4_, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0)
        return Internal(Errno("IP_MULTICAST_IF"));
    }
    return Status::Ok();
  }

  Status Open6() {
    fd6_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd6_ < 0) return Internal(Errno("socket"));
    int hops = options_.ttl, loop = 1;
    if (::setsockopt(fd6_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0)
      return Internal(Errno("IPV6_MULTICAST_HOPS"));
    if (::setsockopt(fd6_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop) != 0)
      return Internal(Errno("IPV6_MULTICAST_LOOP"));
    if (!options_.interface.empty()) {
      unsigned idx = ::if_nametoindex(options_.interface.c_str());
      if (idx != 0 && ::setsockopt(fd6_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) != 0)
        return Internal(Errno("IPV6_MULTICAST_IF"));
    }
    return Status::Ok();
  }

  Status Send(const IpAddress& group, uint16_t port, ByteView d) override {
    if (group.family == IpAddress::Family::kV4) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      std::memcpy(&to.sin_addr, group.bytes, 4);
      if (::sendto(fd4_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        return Unavailable(Errno("sendto"));
      return Status::Ok();
    }
    if (group.family == IpAddress::Family::kV6 && fd6_ >= 0) {
      sockaddr_in6 to{};
      to.sin6_family = AF_INET6;
      to.sin6_port = htons(port);
      std::memcpy(&to.sin6_addr, group.bytes, 16);
      if (::sendto(fd6_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        return Unavailable(Errno("sendto"));
      return Status::Ok();
    }
    return InvalidArgument("no socket for the address family of " + group.ToString());
  }

 private:
  PushOptions options_;
  int fd4_ = -1, fd6_ = -1;
};

}  // namespace

Result<std::unique_ptr<PushTransport>> OpenUdpPushTransport(const PushOptions& options) {
  auto t = std::make_unique<UdpPushTransport>(options);
  KC_RETURN_IF_ERROR(t->Open4());
  // IPv6 is optional: a host without it still pushes to IPv4 groups.
  (void)t->Open6();
  return std::unique_ptr<PushTransport>(std::move(t));
}

}  // namespace keycast
