// What the data plane did with each datagram, counted. The packet paths drop
// and count, they never answer (docs/conventions.md), so these counters are
// the only trace a bad packet leaves.
//
// Exposed two ways: a plain snapshot struct (for tests and the agent's status
// page), and, when exported, the process-wide registry
// (keycast::Metrics::Global()) as
//   keycast_dataplane_dropped_total{reason="replay"}
//   keycast_dataplane_packets_total{outcome="protected"}
//
// Thread safety: DataPlaneMetrics counts with relaxed atomics and is safe from
// any thread; a snapshot is not an atomic cut across counters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "keycast/metrics.h"

namespace keycast::dataplane {

// Why a datagram was dropped. Stable snake_case names (DropReasonName) are
// the metric label values.
enum class DropReason : uint8_t {
  kNoSa = 0,          // protect policy, but no SA for the event (or none this member may send with)
  kAuthFailed,        // AEAD authentication failed
  kReplay,            // sequence number already accepted or too old for the window
  kMalformed,         // a bound or field of the packet format does not hold
  kPolicyDiscard,     // a discard policy matched
  kSelectorMismatch,  // authentic, but its destination / port / source / event is not the SA's
  kExpiredSa,         // the SA's interval plus grace is over
  kClearNotAllowed,   // SPI 0 (clear) packet while the event's current SA is not a clear one
  kSenderLimit,       // a new sender on an SA that already tracks the maximum number
  kSequenceExhausted,  // the sender reached kMaxSequence on this SA
  kTooLarge,           // payload above kMaxPayloadSize, or output buffer too small
  kInternal,           // the crypto library failed unexpectedly
  // (values are stable: new reasons go at the end)
  kSequenceJump,   // authentic, but its sequence number is too far ahead of the window
  kUnknownSender,  // source authentication: a sender the SA does not vouch for
  kUnsigned,       // source authentication: no verified manifest covers the packet
  kForged,         // source authentication: the packet is not the one its manifest names
  kBadSignature,   // source authentication: a manifest whose signature does not verify
  kVerifyLimit,    // source authentication: manifest verifications over the sender's budget
  kBatchFull,      // outbound, signed: Protect on a full batch that was not flushed
};
inline constexpr size_t kDropReasonCount = size_t(DropReason::kBatchFull) + 1;
std::string_view DropReasonName(DropReason r);

// What happened to a datagram that was not dropped.
enum class Outcome : uint8_t {
  kProtected = 0,      // outbound, encrypted under an SA
  kOpened,             // inbound, authenticated and decrypted
  kBypassed,           // either direction, passed unchanged (no selector, or bypass policy)
  kClearSent,          // outbound during a clear interval (SPI 0 envelope)
  kClearReceived,      // inbound SPI 0 packet accepted during a clear interval
  kManifestSent,       // outbound: a signed manifest (each copy)
  kManifestVerified,   // inbound: a manifest whose signature verified
  kManifestDuplicate,  // inbound: another copy of a manifest already verified
  kManifestIgnored,    // inbound: a manifest on an SA without source authentication
};
inline constexpr size_t kOutcomeCount = size_t(Outcome::kManifestIgnored) + 1;
std::string_view OutcomeName(Outcome o);

// A snapshot of one DataPlane's counters.
struct DataPlaneCounters {
  std::array<uint64_t, kOutcomeCount> outcomes{};
  std::array<uint64_t, kDropReasonCount> drops{};

  uint64_t count(Outcome o) const { return outcomes[size_t(o)]; }
  uint64_t dropped(DropReason r) const { return drops[size_t(r)]; }
  uint64_t protected_packets() const { return count(Outcome::kProtected); }
  uint64_t opened_packets() const { return count(Outcome::kOpened); }
  uint64_t bypassed_packets() const { return count(Outcome::kBypassed); }
  uint64_t total_dropped() const;
};

// Counts with one relaxed atomic add per datagram. When exported, the
// counters are the process-wide series of Metrics::Global() (shared by every
// exporting DataPlane; the agent runs one), so Snapshot() reads those;
// otherwise they are private to this instance (what tests use).
class DataPlaneMetrics {
 public:
  explicit DataPlaneMetrics(bool export_to_global);
  DataPlaneMetrics(const DataPlaneMetrics&) = delete;
  DataPlaneMetrics& operator=(const DataPlaneMetrics&) = delete;

  void Count(Outcome o) { outcomes_[size_t(o)]->Inc(); }
  void Drop(DropReason r) { drops_[size_t(r)]->Inc(); }
  DataPlaneCounters Snapshot() const;

 private:
  std::array<Counter, kOutcomeCount> own_outcomes_;  // used when not exported
  std::array<Counter, kDropReasonCount> own_drops_;
  std::array<Counter*, kOutcomeCount> outcomes_{};  // own_* or Metrics::Global()'s
  std::array<Counter*, kDropReasonCount> drops_{};
};

}  // namespace keycast::dataplane
