#include "keycast/dataplane/selector.h"

#include <cassert>
#include <string>

namespace keycast::dataplane {

namespace {

// True when the first `length` bits of a and b agree. REQUIRES: both have
// at least ceil(length / 8) bytes.
bool PrefixBitsEqual(const uint8_t* a, const uint8_t* b, uint8_t length) {
  size_t whole = length / 8;
  for (size_t i = 0; i < whole; ++i)
    if (a[i] != b[i]) return false;
  unsigned rest = length % 8;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

Result<AddressPrefix> AddressPrefix::Make(const IpAddress& address, uint8_t length) {
  if (address.empty()) return InvalidArgument("prefix needs an address");
  size_t bits = address.size() * 8;
  if (length > bits)
    return InvalidArgument("prefix length " + std::to_string(length) + " exceeds " +
                           std::to_string(bits) + " bits");
  IpAddress masked = address;
  for (size_t bit = length; bit < bits; ++bit)
    masked.bytes[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  if (!(masked == address))
    return InvalidArgument("address " + address.ToString() + " has host bits set beyond /" +
                           std::to_string(length));
  return AddressPrefix(address, length);
}

AddressPrefix AddressPrefix::Exact(const IpAddress& address) {
  assert(!address.empty());
  return AddressPrefix(address, uint8_t(address.size() * 8));
}

bool AddressPrefix::Contains(const IpAddress& a) const {
  return !address_.empty() && a.family == address_.family &&
         PrefixBitsEqual(a.bytes, address_.bytes, length_);
}

Status Selector::Validate() const {
  if (direction != Direction::kOutbound && direction != Direction::kInbound)
    return InvalidArgument("selector direction must be outbound or inbound");
  if (destination.address().empty()) return InvalidArgument("selector needs a destination");
  if (!destination_port.valid())
    return InvalidArgument("destination port range " + std::to_string(destination_port.first) +
                           "-" + std::to_string(destination_port.last) + " is empty");
  if (source && source->family() != destination.family())
    return InvalidArgument("source and destination prefixes are of different IP families");
  return Status::Ok();
}

bool Selector::Matches(Direction d, const Flow& flow) const {
  if (d != direction) return false;
  if (protocol && *protocol != flow.protocol) return false;
  if (!destination_port.Contains(flow.destination_port)) return false;
  if (!destination.Contains(flow.destination)) return false;
  if (source && !source->Contains(flow.source)) return false;
  return true;
}

}  // namespace keycast::dataplane
