#include "keycast/dataplane/counters.h"

#include <string>

namespace keycast::dataplane {

std::string_view DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kNoSa:
      return "no_sa";
    case DropReason::kAuthFailed:
      return "auth_failed";
    case DropReason::kReplay:
      return "replay";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kPolicyDiscard:
      return "policy_discard";
    case DropReason::kSelectorMismatch:
      return "selector_mismatch";
    case DropReason::kExpiredSa:
      return "expired_sa";
    case DropReason::kClearNotAllowed:
      return "clear_not_allowed";
    case DropReason::kSenderLimit:
      return "sender_limit";
    case DropReason::kSequenceExhausted:
      return "sequence_exhausted";
    case DropReason::kTooLarge:
      return "too_large";
    case DropReason::kSequenceJump:
      return "seq_jump";
    case DropReason::kUnknownSender:
      return "unknown_sender";
    case DropReason::kUnsigned:
      return "unsigned";
    case DropReason::kForged:
      return "forged";
    case DropReason::kBadSignature:
      return "bad_signature";
    case DropReason::kVerifyLimit:
      return "verify_limit";
    case DropReason::kBatchFull:
      return "batch_full";
    case DropReason::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kProtected:
      return "protected";
    case Outcome::kOpened:
      return "opened";
    case Outcome::kBypassed:
      return "bypassed";
    case Outcome::kClearSent:
      return "clear_sent";
    case Outcome::kClearReceived:
      return "clear_received";
    case Outcome::kManifestSent:
      return "manifest_sent";
    case Outcome::kManifestVerified:
      return "manifest_verified";
    case Outcome::kManifestDuplicate:
      return "manifest_duplicate";
    case Outcome::kManifestIgnored:
      return "manifest_ignored";
  }
  return "unknown";
}

uint64_t DataPlaneCounters::total_dropped() const {
  uint64_t n = 0;
  for (uint64_t d : drops) n += d;
  return n;
}

DataPlaneMetrics::DataPlaneMetrics(bool export_to_global) {
  Metrics* m = export_to_global ? &Metrics::Global() : nullptr;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    drops_[i] = m ? &m->GetCounter("keycast_dataplane_dropped_total",
                                   "Datagrams the data plane dropped, by reason.",
                                   "reason=\"" + std::string(DropReasonName(DropReason(i))) + "\"")
                  : &own_drops_[i];
  }
  for (size_t i = 0; i < kOutcomeCount; ++i) {
    outcomes_[i] = m ? &m->GetCounter("keycast_dataplane_packets_total",
                                      "Datagrams the data plane passed on, by outcome.",
                                      "outcome=\"" + std::string(OutcomeName(Outcome(i))) + "\"")
                     : &own_outcomes_[i];
  }
}

DataPlaneCounters DataPlaneMetrics::Snapshot() const {
  DataPlaneCounters c;
  for (size_t i = 0; i < kOutcomeCount; ++i) c.outcomes[i] = outcomes_[i]->value();
  for (size_t i = 0; i < kDropReasonCount; ++i) c.drops[i] = drops_[i]->value();
  return c;
}

}  // namespace keycast::dataplane
