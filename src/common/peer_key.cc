#include "keycast/peer_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "keycast/types.h"

namespace keycast {
namespace {

PeerKey FromBytes(const uint8_t* b, bool v6) {
  PeerKey k;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v6 && std::memcmp(b, kMapped, 12) == 0) {
    b += 12;
    v6 = false;
  }
  k.family = v6 ? 6 : 4;
  std::memcpy(k.bytes, b, v6 ? 8 : 4);
  return k;
}

}  // namespace

PeerKey PeerKey::Of(const sockaddr* addr) {
  if (addr && addr->sa_family == AF_INET)
    return FromBytes(
        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr),
        false);
  if (addr && addr->sa_family == AF_INET6)
    return FromBytes(
        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr),
        true);
  return PeerKey();
}

PeerKey PeerKey::Of(std::string_view ip_text) {
  auto ip = IpAddress::Parse(ip_text);
  if (!ip) return PeerKey();
  return FromBytes(ip->bytes, ip->family == IpAddress::Family::kV6);
}

std::string PeerKey::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 4) {
    inet_ntop(AF_INET, bytes, buf, sizeof buf);
    return buf;
  }
  if (family == 6) {
    uint8_t full[16] = {};
    std::memcpy(full, bytes, 8);
    inet_ntop(AF_INET6, full, buf, sizeof buf);
    return std::string(buf) + "/64";
  }
  return "unknown";
}

bool PeerKey::operator==(const PeerKey& o) const {
  return family == o.family && std::memcmp(bytes, o.bytes, sizeof bytes) == 0;
}

size_t PeerKeyHash::operator()(const PeerKey& k) const noexcept {
  uint64_t v = 0;
  std::memcpy(&v, k.bytes, 8);
  return std::hash<uint64_t>()(v ^ (uint64_t(k.family) << 56));
}

}  // namespace keycast
