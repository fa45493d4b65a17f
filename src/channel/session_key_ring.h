// The circular buffer of ephemeral session random keys (seed 004 claims 4-7).
//
// Time is cut into initiation intervals of `lifetime`; interval i is
// [i * lifetime, (i + 1) * lifetime) in Unix micros. The key of interval i is
// created on the first Assign inside it, is handed to every exchange that
// starts in it (claim 2), lives in slot i mod M, and expires at
// (i + M) * lifetime (claim 6), which is exactly when interval i + M would
// reuse the slot (claim 5). So M slots always suffice.
//
// Thread safety: none. ChannelServer guards it with its mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/status.h"

namespace keycast::channel {

class SessionKeyRing {
 public:
  // REQUIRES: lifetime > 0; 1 <= retention (M) <= kMaxRetentionLifetimes.
  SessionKeyRing(Micros lifetime, uint32_t retention);

  struct Slot {
    bool live = false;
    uint64_t interval = 0;
    Micros expires_at = 0;
    SecretBytes key;
  };

  struct Assignment {
    uint64_t interval = 0;
    size_t slot = 0;
    Micros expires_at = 0;
    SecretBytes key;  // a copy; wiped by its owner
  };

  // The key of the interval containing now, created (32 random bytes) on
  // the interval's first call. Errors: Internal if now < 0; Unavailable if
  // the slot still holds a later interval's key (the clock moved backwards
  // by more than an interval).
  Result<Assignment> Assign(Micros now);

  // The key of `interval` if the ring holds it and now is before its expiry.
  const SecretBytes* Find(uint64_t interval, Micros now) const;

  // Wipes every key whose expiry is at or before now. Returns how many.
  size_t Purge(Micros now);

  // REQUIRES: now >= 0.
  uint64_t IntervalAt(Micros now) const { return static_cast<uint64_t>(now / lifetime_); }
  size_t SlotOf(uint64_t interval) const { return static_cast<size_t>(interval % slots_.size()); }
  // (interval + M) * lifetime, saturating.
  Micros ExpiryOf(uint64_t interval) const;

  size_t live() const;
  size_t capacity() const { return slots_.size(); }
  const std::vector<Slot>& slots() const { return slots_; }

 private:
  Micros lifetime_;
  std::vector<Slot> slots_;  // size M
};

}  // namespace keycast::channel
