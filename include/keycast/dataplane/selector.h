// A selector: which datagrams a policy applies to (seed 001 Fig. 12, the
// selector half of a selector / security-association pair). It matches on
// direction, destination address (exact or prefix, IPv4 or IPv6), destination
// port (exact or range), optional source address, and protocol.
//
// Thread safety: plain value types; Matches is a pure function.
#pragma once

#include <cstdint>
#include <optional>

#include "keycast/dataplane/flow.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::dataplane {

// An address prefix; length 32 (IPv4) or 128 (IPv6) is an exact address.
class AddressPrefix {
 public:
  // Empty: matches nothing (a selector refuses it in Validate).
  AddressPrefix() = default;
  // REQUIRES-free factory: fails on an empty address, a length beyond the
  // family's width, or host bits set beyond the prefix ("239.1.2.3/16").
  static Result<AddressPrefix> Make(const IpAddress& address, uint8_t length);
  // The prefix that matches exactly this address. REQUIRES: !address.empty().
  static AddressPrefix Exact(const IpAddress& address);

  // False for an address of the other family and for an empty prefix.
  // Does not allocate.
  bool Contains(const IpAddress& a) const;

  const IpAddress& address() const { return address_; }
  uint8_t length() const { return length_; }
  IpAddress::Family family() const { return address_.family; }
  bool operator==(const AddressPrefix&) const = default;

 private:
  AddressPrefix(const IpAddress& a, uint8_t length) : address_(a), length_(length) {}
  IpAddress address_;
  uint8_t length_ = 0;
};

// An inclusive port range; {p, p} is exact. Default: any port.
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 65535;
  static constexpr PortRange Exact(uint16_t p) { return {p, p}; }
  static constexpr PortRange Any() { return {}; }
  bool Contains(uint16_t p) const { return p >= first && p <= last; }
  bool valid() const { return first <= last; }
  bool operator==(const PortRange&) const = default;
};

struct Selector {
  Direction direction = Direction::kOutbound;
  AddressPrefix destination;                         // required
  PortRange destination_port;                        // default: any
  std::optional<AddressPrefix> source;               // default: any source
  std::optional<uint8_t> protocol = kIpProtocolUdp;  // nullopt: any protocol

  // OK, or why the selector can never match sensibly (family mix, bad range).
  Status Validate() const;
  // First-match semantics live in the SPD; this is the per-selector test.
  // Does not allocate.
  bool Matches(Direction d, const Flow& flow) const;
};

}  // namespace keycast::dataplane
