// AgentTiming: the agent's request instants (seed 000 claims 10, 12, 18).
#include <gtest/gtest.h>

#include <set>

#include "keycast/client.h"

namespace keycast {
namespace {

constexpr int64_t kStart = 1'900'000'000;  // a Unix second in 2030
Micros S(int64_t s) { return s * kMicrosPerSecond; }

AgentTiming::Event Ev(uint16_t clear = 0) {
  AgentTiming::Event e;
  e.schedule.start = kStart;
  e.schedule.duration = 3600;
  e.interval_seconds = 60;
  e.initial_keying_seconds = 600;
  e.clear_intervals = clear;
  return e;
}

TEST(AgentTiming, InitialRequestIsRandomInTheInitialKeyingPeriod) {
  std::set<Micros> seen;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    AgentTiming t(Ev(), seed);
    auto at = t.InitialRequestAt(S(kStart - 3600));  // switched on an hour early
    ASSERT_TRUE(at);
    EXPECT_GE(*at, S(kStart - 600));
    EXPECT_LT(*at, S(kStart));
    seen.insert(*at / kMicrosPerSecond / 60);
  }
  EXPECT_GE(seen.size(), 8u);  // spread over the ten minutes
}

TEST(AgentTiming, SwitchedOnLateInThePeriodPicksFromNow) {
  AgentTiming t(Ev(), 7);
  auto at = t.InitialRequestAt(S(kStart - 30));
  ASSERT_TRUE(at);
  EXPECT_GE(*at, S(kStart - 30));
  EXPECT_LT(*at, S(kStart));
}

TEST(AgentTiming, LateJoinAsksAtOnce) {
  AgentTiming t(Ev(), 7);
  EXPECT_EQ(*t.InitialRequestAt(S(kStart + 10)), S(kStart + 10));
}

TEST(AgentTiming, ClearFirstIntervalExtendsThePeriod) {
  // Figure 7: the first interval is unencrypted, so the deadline moves to a
  // quarter interval before the first encrypted one (kStart + 60).
  Micros latest = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    AgentTiming t(Ev(1), seed);
    auto at = t.InitialRequestAt(S(kStart - 30));
    ASSERT_TRUE(at);
    EXPECT_GE(*at, S(kStart - 30));
    EXPECT_LT(*at, S(kStart + 45));
    latest = std::max(latest, *at);
  }
  EXPECT_GT(latest, S(kStart));  // some ask during the clear interval
  AgentTiming t(Ev(1), 3);
  EXPECT_EQ(*t.InitialRequestAt(S(kStart + 50)), S(kStart + 50));  // past the deadline
}

TEST(AgentTiming, EventOverGivesNothing) {
  AgentTiming t(Ev(), 7);
  EXPECT_FALSE(t.InitialRequestAt(S(kStart + 3600)));
}

TEST(AgentTiming, RefreshOffsetIsFixedPerAgent) {
  AgentTiming t(Ev(), 11);
  auto r0 = t.NextRefresh(Epoch{0, 0}, S(kStart), S(60), S(kStart - 100));
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->epoch, (Epoch{0, 1}));
  int64_t off = t.refresh_offset_ms();
  ASSERT_GE(off, 0);
  EXPECT_LT(off, 45'000);
  EXPECT_EQ(r0->due, S(kStart) + off * 1000);
  auto r1 = t.NextRefresh(Epoch{0, 1}, S(kStart + 60), S(60), S(kStart + 1));
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->epoch, (Epoch{0, 2}));
  EXPECT_EQ(r1->due, S(kStart + 60) + off * 1000);
}

TEST(AgentTiming, LateRefreshIsSpreadOverWhatIsLeft) {
  std::set<int64_t> seen;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    AgentTiming t(Ev(), seed);
    Micros now = S(kStart) + S(44) + 999'999;  // past every offset
    auto r = t.NextRefresh(Epoch{0, 0}, S(kStart), S(60), now);
    ASSERT_TRUE(r);
    EXPECT_GE(r->due, now);
    EXPECT_LE(r->due, S(kStart + 45));
    Micros now2 = S(kStart + 20);
    AgentTiming u(Ev(), seed);
    auto r2 = u.NextRefresh(Epoch{0, 0}, S(kStart), S(60), now2);
    EXPECT_GE(r2->due, now2);
    EXPECT_LT(r2->due, S(kStart + 45));
    seen.insert(r2->due / kMicrosPerSecond);
  }
  EXPECT_GE(seen.size(), 10u);
}

TEST(AgentTiming, NoRefreshAcrossOccurrences) {
  AgentTiming t(Ev(), 1);
  EXPECT_FALSE(t.NextRefresh(Epoch{0, 59}, S(kStart + 3540), S(60), S(kStart + 3541)));
}

TEST(AgentTiming, PushFallbackIsInTheMiddleHalfOfTheLead) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    AgentTiming t(Ev(), seed);
    Micros at = t.PushFallbackAt(S(100), S(8));
    EXPECT_GE(at, S(102));
    EXPECT_LT(at, S(106));
    EXPECT_EQ(at, t.PushFallbackAt(S(100), S(8)));  // fixed per agent
  }
}

TEST(AgentTiming, BackoffGrowsAndResets) {
  AgentTiming t(Ev(), 5);
  Micros a = t.RetryAt(0), b = t.RetryAt(0), c = t.RetryAt(0);
  EXPECT_LE(a, 750'000);
  EXPECT_GE(c, 1'000'000);
  EXPECT_LE(b, 1'500'000);
  t.ResetBackoff();
  EXPECT_LE(t.RetryAt(0), 750'000);
}

TEST(AgentTiming, SameSeedSameChoices) {
  AgentTiming a(Ev(), 42), b(Ev(), 42);
  EXPECT_EQ(a.InitialRequestAt(S(kStart - 900)), b.InitialRequestAt(S(kStart - 900)));
}

}  // namespace
}  // namespace keycast

namespace keycast {
namespace {

TEST(AgentTiming, FirstRequestInTheClearIntervalAsksForTheFirstKey) {
  AgentTiming plain(Ev(0), 1), clear(Ev(1), 1);
  EXPECT_FALSE(plain.FirstRequestAt(S(kStart + 10)).refresh);
  EXPECT_FALSE(clear.FirstRequestAt(S(kStart - 10)).refresh);  // before the start: initial
  auto f = clear.FirstRequestAt(S(kStart + 10));
  EXPECT_TRUE(f.refresh);
  EXPECT_EQ(f.epoch, (Epoch{0, 1}));
  EXPECT_EQ(*f.clear_now, (Epoch{0, 0}));
  EXPECT_FALSE(clear.FirstRequestAt(S(kStart + 70)).refresh);  // encrypted by then
}

}  // namespace
}  // namespace keycast
