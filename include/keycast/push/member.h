// The member side of multicast rekey push: reassembles the datagrams of the
// control group, checks the key service's signature, then the event, the key
// tree and the sequence, and runs the LKH rekey message through the member's
// path keys (lkh::MemberKeys) to recover the next interval key.
//
// Bad input is dropped and counted, never answered: every drop increments
// keycast_push_rejected_total{reason="..."} (PushRejectName) and leaves the
// state unchanged. A drop that means "the pushes can no longer be followed"
// (missed, not_recoverable, stale_tree) sets needs_pull(): the caller pulls
// the key over unicast, whose reply brings fresh path keys (Install).
//
// Thread safety: not safe for concurrent use; one per agent thread.
#pragma once

#include <functional>
#include <list>
#include <optional>
#include <string_view>

#include "keycast/lkh.h"
#include "keycast/push/format.h"
#include "keycast/sa.h"

namespace keycast::push {

// Why a datagram or a reassembled message was dropped; the `reason` label of
// keycast_push_rejected_total.
enum class PushReject : uint8_t {
  kNone = 0,
  kTruncated,        // input ends before the fields its header announces
  kMalformed,        // bad magic, version, type, length, field value, order
  kTooLarge,         // announced message longer than this member accepts
  kUnknownKey,       // signed with a rekey-signing key version this member lacks
  kForgedSignature,  // Ed25519 signature does not verify
  kWrongEvent,       // signed for another event
  kStaleTree,        // signed, but for another key tree (the key service restarted)
  kReplay,           // seq < last accepted (repeated or reordered)
  kMissed,           // seq gap: pull over unicast
  kNotRecoverable,   // removed, or out of sync: pull over unicast
  kCount,
};
std::string_view PushRejectName(PushReject r);

// A key recovered from a push, with the SA parameters the message carried.
struct PushedKey {
  uint64_t seq = 0;
  SecurityAssociation sa;  // event, epoch, spi, algorithm, key, times, clear;
                           // role/sender/selector are the caller's to fill
};

class PushMember {
 public:
  struct Options {
    size_t max_message_bytes = 16u << 20;  // default 16 MiB: 1 % batches up to ~3M members
    size_t reassembly_slots = 4;           // messages reassembled at once
  };
  using KeyLookup = std::function<const crypto::VerifyKey*(KeyVersion)>;

  PushMember(EventId event, KeyLookup keys, Options options);
  PushMember(EventId event, KeyLookup keys) : PushMember(event, std::move(keys), Options{}) {}

  // Takes the path keys of an admitted grant when they are newer than the
  // state held (a later seq or another tree), or when needs_pull(). A pending
  // grant changes nothing. Fails on a grant for another event or a bad init.
  Status Install(const PushGrant& grant);

  // Feeds one datagram. Returns the key when it completes a message that
  // verifies and unwraps; nullopt otherwise (incomplete, duplicate, or
  // dropped: last_reject() says why).
  std::optional<PushedKey> OnDatagram(ByteView datagram);

  bool has_keys() const { return keys_.has_value(); }
  bool needs_pull() const { return needs_pull_; }
  uint64_t tree_id() const { return tree_id_; }
  uint64_t last_seq() const { return keys_ ? keys_->last_seq() : 0; }
  PushReject last_reject() const { return last_reject_; }

  struct Counters {
    uint64_t datagrams = 0, messages = 0, keys = 0, duplicates = 0, rejected = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Slot {
    uint64_t tree_id = 0, seq = 0;
    uint32_t len = 0, count = 0, have = 0;
    Bytes buf;
    std::vector<bool> got;
  };
  std::nullopt_t Reject(PushReject r);
  std::optional<PushedKey> Complete(Bytes message);

  EventId event_;
  KeyLookup lookup_;
  Options options_;
  std::optional<lkh::MemberKeys> keys_;
  uint64_t tree_id_ = 0;
  bool needs_pull_ = false;
  std::list<Slot> slots_;  // most recently touched first
  PushReject last_reject_ = PushReject::kNone;
  Counters counters_;
};

}  // namespace keycast::push
