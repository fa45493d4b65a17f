#include "keycast/login_limiter.h"

#include <gtest/gtest.h>

#include <optional>

namespace keycast {
namespace {

constexpr Micros kT0 = 1'900'000'000 * kMicrosPerSecond;

class LoginLimiterTest : public ::testing::Test {
 protected:
  PeerKey A = PeerKey::Of("192.0.2.1"), B = PeerKey::Of("192.0.2.2");

  // One attempt; true if admitted (and then failed or succeeded).
  bool Try(LoginLimiter& l, const std::string& account, const PeerKey* from, bool ok = false,
           int64_t* retry = nullptr) {
    int64_t r = 0;
    auto a = l.Admit(account, from, &r);
    if (retry) *retry = r;
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), Code::kResourceExhausted);
      EXPECT_GE(r, 1);
      return false;
    }
    if (ok)
      a->Succeeded();
    else
      a->Failed();
    return true;
  }
  void Advance(int64_t seconds) { clock_.Advance(seconds * kMicrosPerSecond); }

  FakeClock clock_{kT0};
};

TEST_F(LoginLimiterTest, OneAddressOnOneAccountBacksOffExponentially) {
  LoginLimiter l(&clock_);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Try(l, "client:alice", &A)) << i;
  int64_t retry = 0;
  EXPECT_FALSE(Try(l, "client:alice", &A, false, &retry));
  EXPECT_EQ(retry, 1);
  // Each further failure doubles the wait; refusals in between change nothing.
  for (int64_t want : {2, 4, 8, 16}) {
    Advance(want / 2);
    EXPECT_TRUE(Try(l, "client:alice", &A));
    EXPECT_FALSE(Try(l, "client:alice", &A, false, &retry));
    EXPECT_EQ(retry, want);
  }
  // The owner elsewhere, and another account from A, are still admitted.
  EXPECT_TRUE(Try(l, "client:alice", &B, true));
  EXPECT_TRUE(Try(l, "client:bob", &A, true));
}

TEST_F(LoginLimiterTest, BackOffIsCappedAndForgottenAfterTheMemory) {
  LoginLimits lim;
  lim.backoff_max_seconds = 60;
  lim.memory_seconds = 600;
  LoginLimiter l(&clock_, lim);
  int64_t retry = 0;
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(Try(l, "client:alice", &A));
    Try(l, "client:alice", &A, false, &retry);
    Advance(retry);
  }
  EXPECT_EQ(retry, 60);
  Advance(600);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Try(l, "client:alice", &A)) << "not forgotten";
  EXPECT_FALSE(Try(l, "client:alice", &A, false, &retry));
  EXPECT_EQ(retry, 1);
}

TEST_F(LoginLimiterTest, SprayingAccountsFromOneAddressHitsTheAddressKey) {
  LoginLimiter l(&clock_);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(Try(l, "client:u" + std::to_string(i), &A)) << i;
  EXPECT_FALSE(Try(l, "client:fresh", &A));
  EXPECT_TRUE(Try(l, "client:fresh", &B, true));
  // A success does not clear the address: an attacker's own account cannot
  // launder it, and the next failure from A backs off at once, for longer.
  Advance(1);
  EXPECT_TRUE(Try(l, "client:mine", &A, true));
  EXPECT_TRUE(Try(l, "client:other", &A));
  int64_t retry = 0;
  EXPECT_FALSE(Try(l, "client:third", &A, false, &retry));
  EXPECT_EQ(retry, 2);
}

TEST_F(LoginLimiterTest, ManyAddressesOnOneAccountHitTheAccountKey) {
  LoginLimiter l(&clock_);
  for (int i = 0; i < 50; ++i) {
    PeerKey p = PeerKey::Of("198.51.100." + std::to_string(i));
    EXPECT_TRUE(Try(l, "client:alice", &p)) << i;
  }
  EXPECT_FALSE(Try(l, "client:alice", &A));
  EXPECT_TRUE(Try(l, "client:bob", &A, true));
  // In-process attempts (no address) count on the account key.
  EXPECT_FALSE(Try(l, "client:alice", nullptr));
}

TEST_F(LoginLimiterTest, SuccessClearsTheAccountNotTheAddress) {
  LoginLimiter l(&clock_);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Try(l, "client:alice", &A));
  EXPECT_TRUE(Try(l, "client:alice", &A, true));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Try(l, "client:alice", &A)) << "pair not cleared";
  // The address has 8 failures now; 12 more on other accounts exhaust it.
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(Try(l, "client:x" + std::to_string(i), &A));
  EXPECT_FALSE(Try(l, "client:y", &A));
}

TEST_F(LoginLimiterTest, AttemptsInFlightCount) {
  LoginLimiter l(&clock_);
  int64_t retry = 0;
  std::vector<LoginLimiter::Attempt> held;
  for (int i = 0; i < 5; ++i)
    held.push_back(std::move(l.Admit("client:alice", &A, &retry)).value());
  EXPECT_FALSE(l.Admit("client:alice", &A, &retry).ok()) << "a sixth parallel try was admitted";
  // Dropped attempts (no outcome) are not counted as failures.
  held.clear();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Try(l, "client:alice", &A));
  EXPECT_FALSE(Try(l, "client:alice", &A));
  // Past the free failures one try at a time: the second parallel one waits.
  Advance(1);
  auto one = l.Admit("client:alice", &A, &retry);
  ASSERT_TRUE(one.ok());
  EXPECT_FALSE(l.Admit("client:alice", &A, &retry).ok());
}

TEST_F(LoginLimiterTest, TableIsBoundedAndSprayingCannotLiftABlock) {
  LoginLimits lim;
  lim.max_entries = 200;
  LoginLimiter l(&clock_, lim);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Try(l, "client:alice", &A));
  EXPECT_FALSE(Try(l, "client:alice", &A));
  // A spray of names from many addresses, one failure each.
  for (int i = 0; i < 5000; ++i) {
    PeerKey p = PeerKey::Of("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
    Try(l, "client:n" + std::to_string(i), &p);
    ASSERT_LE(l.size(), 200u + 3u);
  }
  EXPECT_FALSE(Try(l, "client:alice", &A)) << "the spray evicted a block";
}

TEST_F(LoginLimiterTest, EveryBackOffStepIsReportedWithinTheRate) {
  LoginLimits lim;
  lim.reports_per_minute = 2;
  LoginLimiter l(&clock_, lim);
  std::vector<LoginBackoff> got;
  l.SetBackoffHook([&](const LoginBackoff& b) { got.push_back(b); });
  for (int i = 0; i < 5; ++i) Try(l, "client:alice", &A);
  // The fifth failure blocks the pair: one report.
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "client:alice from 192.0.2.1");
  EXPECT_EQ(got[0].failures, 5u);
  EXPECT_EQ(got[0].seconds, 1);
  Try(l, "client:alice", &A);  // refused: counted on the report of the next step
  Advance(1);
  Try(l, "client:alice", &A);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].seconds, 2);
  EXPECT_EQ(got[1].refused, 1u);
  // Over the rate: the third step is not reported, the fourth says so.
  Advance(2);
  Try(l, "client:alice", &A);
  EXPECT_EQ(got.size(), 2u);
  Advance(60);
  Try(l, "client:alice", &A);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].suppressed, 1u);
}

TEST(PeerKey, IPv6CountsPerSlash64AndMappedIPv4AsIPv4) {
  EXPECT_EQ(PeerKey::Of("2001:db8:1:2::1"), PeerKey::Of("2001:db8:1:2:ffff::9"));
  EXPECT_FALSE(PeerKey::Of("2001:db8:1:2::1") == PeerKey::Of("2001:db8:1:3::1"));
  EXPECT_EQ(PeerKey::Of("2001:db8:1:2::1").ToString(), "2001:db8:1:2::/64");
  EXPECT_EQ(PeerKey::Of("::ffff:192.0.2.7"), PeerKey::Of("192.0.2.7"));
  EXPECT_EQ(PeerKey::Of("192.0.2.7").ToString(), "192.0.2.7");
  EXPECT_EQ(PeerKey::Of("not an address").ToString(), "unknown");
}

}  // namespace
}  // namespace keycast
