// Distinct types for identifiers, so a group id cannot be passed where an
// event id is expected, and the small value types every part shares.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace keycast {

template <typename Tag>
struct Id {
  int64_t value = 0;
  constexpr Id() = default;
  constexpr explicit Id(int64_t v) : value(v) {}
  constexpr bool valid() const { return value > 0; }
  auto operator<=>(const Id&) const = default;
};

using ClientId = Id<struct ClientTag>;
using GroupId = Id<struct GroupTag>;
using EventId = Id<struct EventTag>;

// Security parameter index of one interval's security association.
// 0 is reserved ("no SA"), as in ESP (RFC 4303 section 2.1).
struct Spi {
  uint32_t value = 0;
  auto operator<=>(const Spi&) const = default;
};

// Identifies one sender of an event inside its nonces, so several senders
// on one event never share a nonce under one key (as RFC 6054 does for
// group ESP). Assigned by the key service; 0 means "receiver".
struct SenderId {
  uint32_t value = 0;
  auto operator<=>(const SenderId&) const = default;
};

// Version of a service key (ticket signing key, ticket sealing key).
struct KeyVersion {
  uint32_t value = 0;
  auto operator<=>(const KeyVersion&) const = default;
};

// An interval of an event: which occurrence of its schedule, and which
// interval inside that occurrence (0-based). Interval keys are numbered by
// Epoch; the packed form orders epochs in time.
struct Epoch {
  uint32_t occurrence = 0;
  uint32_t index = 0;
  constexpr uint64_t packed() const { return (uint64_t(occurrence) << 32) | index; }
  static constexpr Epoch FromPacked(uint64_t p) { return Epoch{uint32_t(p >> 32), uint32_t(p)}; }
  auto operator<=>(const Epoch&) const = default;
};

// Which keys of an event an SA belongs to (docs/key-protocol.md,
// "Generations"): the event's key generation, bumped by a rekey or a secret
// rotation, and its schedule version, bumped by an edit of the schedule or
// the interval length. Neither ever goes back, and every change bumps one of
// them, so the keys in force later compare greater (`number` first). The
// data plane lets an SA of a greater generation cut short one of a smaller.
struct KeyGeneration {
  uint32_t number = 0;    // 1 = the event's first generation; 0 = none
  uint32_t schedule = 0;  // 1 = the event's first schedule; 0 = none
  constexpr uint64_t packed() const { return (uint64_t(number) << 32) | schedule; }
  constexpr bool valid() const { return number != 0 && schedule != 0; }
  auto operator<=>(const KeyGeneration&) const = default;
};

enum class Role : uint8_t { kReceiver = 1, kSender = 2 };
std::string_view RoleName(Role r);
bool ParseRole(std::string_view s, Role* out);

// An IPv4 or IPv6 address.
struct IpAddress {
  enum class Family : uint8_t { kNone = 0, kV4 = 4, kV6 = 6 };
  Family family = Family::kNone;
  uint8_t bytes[16] = {};

  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
  bool empty() const { return family == Family::kNone; }
  bool IsMulticast() const;
  bool IsUnspecified() const;
  size_t size() const { return family == Family::kV4 ? 4 : family == Family::kV6 ? 16 : 0; }
  bool operator==(const IpAddress& o) const;
};

// host:port of a key server. host is a DNS name or an address literal.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  // Accepts "host:port" and "[v6]:port". Port 0 ("any free port") only
  // when allow_port_zero, for listen addresses.
  static std::optional<Endpoint> Parse(std::string_view text, bool allow_port_zero = false);
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

}  // namespace keycast

template <typename Tag>
struct std::hash<keycast::Id<Tag>> {
  size_t operator()(const keycast::Id<Tag>& id) const noexcept {
    return std::hash<int64_t>()(id.value);
  }
};
