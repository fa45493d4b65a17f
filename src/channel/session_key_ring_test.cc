#include "channel/session_key_ring.h"

#include <gtest/gtest.h>

#include <limits>

#include "keycast/channel.h"

namespace keycast::channel {
namespace {

constexpr Micros kL = 30 * kMicrosPerSecond;
constexpr Micros kT0 = 1000 * kL;  // start of interval 1000

TEST(SessionKeyRing, OneKeyPerIntervalSharedByItsRequests) {
  SessionKeyRing ring(kL, 4);
  auto a = ring.Assign(kT0 + 1);
  auto b = ring.Assign(kT0 + kL - 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->interval, 1000u);
  EXPECT_EQ(b->interval, 1000u);
  EXPECT_EQ(a->slot, 1000u % 4);
  EXPECT_TRUE(a->key == b->key);
  EXPECT_EQ(a->key.size(), kSessionKeySize);
  EXPECT_EQ(a->expires_at, kT0 + 4 * kL);
  auto c = ring.Assign(kT0 + kL);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->interval, 1001u);
  EXPECT_NE(c->slot, a->slot);
  EXPECT_FALSE(c->key == a->key);
  EXPECT_EQ(ring.live(), 2u);
}

TEST(SessionKeyRing, FindHonoursExpiry) {
  SessionKeyRing ring(kL, 3);
  auto a = ring.Assign(kT0);
  ASSERT_TRUE(a.ok());
  ASSERT_NE(ring.Find(1000, kT0 + 3 * kL - 1), nullptr);
  EXPECT_TRUE(*ring.Find(1000, kT0) == a->key);
  EXPECT_EQ(ring.Find(1000, kT0 + 3 * kL), nullptr);
  EXPECT_EQ(ring.Find(999, kT0), nullptr);
  EXPECT_EQ(ring.Find(1003, kT0), nullptr);  // same slot, other interval
}

TEST(SessionKeyRing, PurgeWipesAfterMLifetimes) {
  SessionKeyRing ring(kL, 4);
  ASSERT_TRUE(ring.Assign(kT0).ok());
  EXPECT_EQ(ring.Purge(kT0 + 4 * kL - 1), 0u);
  EXPECT_EQ(ring.live(), 1u);
  EXPECT_EQ(ring.Purge(kT0 + 4 * kL), 1u);
  EXPECT_EQ(ring.live(), 0u);
  const auto& slot = ring.slots()[ring.SlotOf(1000)];
  EXPECT_FALSE(slot.live);
  EXPECT_TRUE(slot.key.empty());
}

TEST(SessionKeyRing, WrapsAroundAsCircularBuffer) {
  for (uint32_t m = 1; m <= kMaxRetentionLifetimes; ++m) {
    SessionKeyRing ring(kL, m);
    ASSERT_EQ(ring.capacity(), m);
    auto first = ring.Assign(kT0);
    ASSERT_TRUE(first.ok());
    SecretBytes first_key = first->key;
    for (uint32_t i = 1; i < m; ++i) ASSERT_TRUE(ring.Assign(kT0 + i * kL).ok());
    EXPECT_EQ(ring.live(), m);
    // Interval 1000 + M lands in the slot of interval 1000, with a new key,
    // without a Purge in between.
    auto again = ring.Assign(kT0 + m * kL);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->slot, first->slot) << "M=" << m;
    EXPECT_EQ(again->interval, 1000u + m);
    EXPECT_FALSE(again->key == first_key);
    EXPECT_EQ(ring.Find(1000, kT0 + m * kL), nullptr);
    EXPECT_EQ(ring.live(), m);
  }
}

TEST(SessionKeyRing, ClockGoingBackwardsDoesNotReuseASlot) {
  SessionKeyRing ring(kL, 2);
  ASSERT_TRUE(ring.Assign(kT0 + 2 * kL).ok());  // interval 1002, slot 0
  auto back = ring.Assign(kT0);                 // interval 1000, slot 0
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), Code::kUnavailable);
  EXPECT_FALSE(ring.Assign(-1).ok());
}

TEST(SessionKeyRing, ExpirySaturates) {
  SessionKeyRing ring(kL, 10);
  EXPECT_EQ(ring.ExpiryOf(UINT64_MAX), std::numeric_limits<Micros>::max());
  auto a = ring.Assign(std::numeric_limits<Micros>::max());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->expires_at, std::numeric_limits<Micros>::max());
}

}  // namespace
}  // namespace keycast::channel
