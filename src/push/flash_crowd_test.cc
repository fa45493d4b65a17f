// The flash-crowd model (seed 001 Figures 6 and 7) on small populations.
#include <gtest/gtest.h>

#include <numeric>

#include "keycast/push/simulate.h"

namespace keycast::sim {
namespace {

FlashCrowdOptions Small() {
  FlashCrowdOptions o;
  o.clients = 20'000;
  o.after_seconds = 900;
  return o;
}

TEST(FlashCrowd, EveryClientAsksOnceThenRefreshesEachInterval) {
  FlashCrowdOptions o = Small();
  FlashCrowdResult r = SimulateFlashCrowd(o);
  EXPECT_EQ(r.initial_requests, o.clients);
  uint64_t total = std::accumulate(r.requests.begin(), r.requests.end(), uint64_t{0});
  EXPECT_EQ(total, r.initial_requests + r.refresh_requests);
  // Steady state: one refresh per client per interval, spread over 3/4 of it.
  EXPECT_NEAR(r.mean_rate_steady, double(o.clients) / o.interval_seconds,
              0.15 * o.clients / o.interval_seconds);
  // Figure 6: last-minute users make a peak at the start, far above the
  // always-on agents' rate in the initial keying period.
  EXPECT_GT(r.peak_rate, 5 * 0.3 * o.clients / o.initial_keying_seconds);
  EXPECT_GE(r.peak_at, -120);
  EXPECT_LE(r.peak_at, 120);
}

TEST(FlashCrowd, ClearFirstIntervalFlattensThePeak) {
  FlashCrowdOptions a = Small();
  FlashCrowdOptions b = Small();
  b.clear_intervals = 1;
  FlashCrowdResult fig6 = SimulateFlashCrowd(a), fig7 = SimulateFlashCrowd(b);
  EXPECT_LT(fig7.peak_rate, 0.6 * fig6.peak_rate);
  EXPECT_EQ(fig7.initial_requests, a.clients);
}

TEST(FlashCrowd, PushLeavesOnlyTheJoins) {
  FlashCrowdOptions o = Small();
  o.delivery = KeyDelivery::kPush;
  FlashCrowdResult r = SimulateFlashCrowd(o);
  // Each member pulls at most twice more (pending, then path keys), then
  // follows the pushes: no steady refresh load.
  EXPECT_LE(r.refresh_requests, 2 * o.clients);
  EXPECT_LT(r.mean_rate_steady, 0.01 * o.clients / o.interval_seconds);
}

TEST(FlashCrowd, DeterministicPerSeed) {
  FlashCrowdOptions o = Small();
  o.clients = 2000;
  EXPECT_EQ(SimulateFlashCrowd(o).requests, SimulateFlashCrowd(o).requests);
}

}  // namespace
}  // namespace keycast::sim
