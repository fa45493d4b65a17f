#include "channel/session_key_ring.h"

#include <cassert>
#include <limits>
#include <string>

#include "keycast/channel.h"
#include "keycast/crypto.h"

namespace keycast::channel {

SessionKeyRing::SessionKeyRing(Micros lifetime, uint32_t retention)
    : lifetime_(lifetime), slots_(retention) {
  assert(lifetime > 0 && retention >= 1 && retention <= kMaxRetentionLifetimes);
}

Micros SessionKeyRing::ExpiryOf(uint64_t interval) const {
  constexpr Micros kMax = std::numeric_limits<Micros>::max();
  const uint64_t limit = static_cast<uint64_t>(kMax / lifetime_);
  const uint64_t end = interval + slots_.size();
  if (end < interval || end > limit) return kMax;
  return static_cast<Micros>(end) * lifetime_;
}

Result<SessionKeyRing::Assignment> SessionKeyRing::Assign(Micros now) {
  if (now < 0) return Internal("clock reads before the Unix epoch");
  const uint64_t interval = IntervalAt(now);
  const size_t index = SlotOf(interval);
  Slot& slot = slots_[index];
  if (slot.live && slot.interval > interval)
    return Unavailable("clock moved backwards: slot " + std::to_string(index) + " holds interval " +
                       std::to_string(slot.interval) + ", now is interval " +
                       std::to_string(interval));
  if (!slot.live || slot.interval != interval) {
    // An older key in this slot is at least M intervals old: expired (claim 5).
    slot.key = crypto::RandomSecret(kSessionKeySize);
    slot.interval = interval;
    slot.expires_at = ExpiryOf(interval);
    slot.live = true;
  }
  return Assignment{interval, index, slot.expires_at, slot.key};
}

const SecretBytes* SessionKeyRing::Find(uint64_t interval, Micros now) const {
  const Slot& slot = slots_[SlotOf(interval)];
  if (!slot.live || slot.interval != interval || now >= slot.expires_at) return nullptr;
  return &slot.key;
}

size_t SessionKeyRing::Purge(Micros now) {
  size_t n = 0;
  for (Slot& slot : slots_) {
    if (slot.live && now >= slot.expires_at) {
      slot.key.Wipe();
      slot.live = false;
      ++n;
    }
  }
  return n;
}

size_t SessionKeyRing::live() const {
  size_t n = 0;
  for (const Slot& slot : slots_) n += slot.live ? 1 : 0;
  return n;
}

}  // namespace keycast::channel
