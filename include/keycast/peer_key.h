// The unit that per-source limits count (connections per peer, failed
// logins per address): an IPv4 address, or the /64 prefix of an IPv6
// address. A /64 is the smallest block a subscriber is given (RFC 6177), so
// one host cannot escape a per-address limit by cycling through the
// addresses of its own prefix. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
// what a dual-stack socket reports for IPv4 peers) count as IPv4.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace keycast {

struct PeerKey {
  uint8_t family = 0;     // 4, 6, or 0 for a source that is not an IP address
  uint8_t bytes[8] = {};  // IPv4: the 4 address bytes; IPv6: the first 8 (the /64)

  static PeerKey Of(const sockaddr* addr);
  // From the textual address cpp-httplib reports (Request::remote_addr).
  // Text that is not an address gives family 0: all such sources share one key.
  static PeerKey Of(std::string_view ip_text);

  // "192.0.2.7", "2001:db8:1:2::/64", or "unknown".
  std::string ToString() const;
  bool operator==(const PeerKey& o) const;
};

struct PeerKeyHash {
  size_t operator()(const PeerKey& k) const noexcept;
};

}  // namespace keycast
