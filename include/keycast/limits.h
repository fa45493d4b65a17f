// Protocol limits and defaults, in one place. Each states its unit. Operators
// can change the ones marked "default" through configuration; the bounds are
// fixed by the formats.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keycast::limits {

// ---- names and directory objects ----
inline constexpr size_t kMaxNameLength = 64;        // client/group/event names, bytes
inline constexpr size_t kMaxTitleLength = 200;      // event titles, bytes (UTF-8)
inline constexpr size_t kMaxPasswordLength = 1024;  // bytes
inline constexpr size_t kMinPasswordLength = 8;     // bytes
inline constexpr size_t kMaxKeyServersPerEvent = 8;
inline constexpr size_t kMaxHostLength = 253;   // DNS name or address literal
inline constexpr size_t kMaxRruleLength = 255;  // bytes
inline constexpr uint32_t kMinIntervalSeconds = 1;
inline constexpr uint32_t kMaxIntervalSeconds = 7 * 24 * 3600;
inline constexpr uint32_t kMaxInitialKeyingSeconds = 7 * 24 * 3600;
inline constexpr uint16_t kMaxClearIntervals = 1000;
inline constexpr int64_t kMaxEventDurationSeconds = 10LL * 366 * 24 * 3600;  // ten years

// ---- admin API ----
inline constexpr size_t kMaxRequestBodyBytes = 64 * 1024;  // JSON bodies
inline constexpr size_t kMaxJsonDepth = 8;

// ---- tickets ----
inline constexpr size_t kMaxTicketBytes = 256 * 1024;  // whole signed ticket
inline constexpr size_t kMaxEventsPerTicket = 4096;
inline constexpr size_t kMaxGroupsPerTicket = 1024;
inline constexpr size_t kMaxSealedPartBytes = 48 * 1024;  // part sealed for the key service
inline constexpr int64_t kDefaultTicketLifetimeSeconds = 8 * 3600;  // default
inline constexpr int64_t kMaxTicketLifetimeSeconds = 7 * 24 * 3600;
inline constexpr size_t kSessionKeySize = 32;

// ---- key service ----
inline constexpr int64_t kDefaultClockSkewSeconds = 30;  // default
inline constexpr int64_t kDefaultGraceSeconds =
    2;  // default: key k valid this long past interval k
inline constexpr size_t kMaxUdpRequestBytes = 1400;  // fits a 1500-byte MTU unfragmented
inline constexpr size_t kMaxTcpMessageBytes = 64 * 1024;

}  // namespace keycast::limits
