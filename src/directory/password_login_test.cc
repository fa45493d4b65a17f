// Password logins must not reveal which client names exist (issue 13):
// an unknown name, a client without a password and a disabled client cost
// the same single Argon2id verification as a known client's wrong
// password, counted and timed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "keycast/directory.h"
#include "keycast/password.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

class PasswordLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ = std::move(Directory::Open(store_.get(), sealer_.get(), &SystemClock::Get(),
                                     {PasswordCost::kTestOnly}))
               .value();
    ASSERT_TRUE(
        dir_->CreateClient(kAdmin, ClientSpec{"alice", "", std::string("alice-password"), true})
            .ok());
    ASSERT_TRUE(
        dir_->CreateClient(kAdmin, ClientSpec{"dora", "", std::string("dora-password"), false})
            .ok());
    ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{"nopw", "", std::nullopt, true}).ok());
  }
  // Seconds one check takes.
  double Time(const std::string& name, const std::string& password) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = dir_->CheckPassword(name, password);
    auto t = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(r.ok());
    return std::chrono::duration<double>(t).count();
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
};

struct Case {
  const char* what;
  const char* name;
  const char* password;
};
const Case kCases[] = {
    {"unknown name", "nobody", "some-password"},
    {"client without a password", "nopw", "some-password"},
    {"disabled client, right password", "dora", "dora-password"},
    {"disabled client, wrong password", "dora", "some-password"},
};

TEST_F(PasswordLoginTest, EveryRefusalRunsExactlyOneArgon2id) {
  uint64_t h0 = PasswordHashCount();
  EXPECT_FALSE(dir_->CheckPassword("alice", "wrong-password").ok());
  EXPECT_EQ(PasswordHashCount() - h0, 1u) << "known client, wrong password";
  for (const Case& c : kCases) {
    h0 = PasswordHashCount();
    auto r = dir_->CheckPassword(c.name, c.password);
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << c.what;
    EXPECT_EQ(PasswordHashCount() - h0, 1u) << c.what;
  }
  // Through the limiter too (as the ticket route and sender sign-in call it).
  for (const Case& c : kCases) {
    LoginOrigin o{"192.0.2.1"};
    h0 = PasswordHashCount();
    EXPECT_EQ(dir_->AuthenticatePassword(c.name, c.password, &o).status().code(),
              Code::kUnauthenticated);
    EXPECT_EQ(PasswordHashCount() - h0, 1u) << c.what;
  }
}

// The time of each refusal against a known client's wrong password, run
// interleaved (alternating which goes first) so that the machine's load
// falls on both alike. The median of the paired differences must be within
// the noise: four standard errors of that median (estimated from the
// differences' own spread), and at least 10 % of a verification, far below
// the ~100 % an unhashed path would save.
TEST_F(PasswordLoginTest, RefusalsTakeTheTimeOfAWrongPassword) {
  constexpr int kPairs = 301;
  for (int i = 0; i < 20; ++i) (void)Time("alice", "warm-up");  // caches, the dummy hash
  for (const Case& c : kCases) {
    std::vector<double> known, other, diff;
    for (int i = 0; i < kPairs; ++i) {
      double tk, tc;
      if (i % 2) {
        tk = Time("alice", "wrong-password");
        tc = Time(c.name, c.password);
      } else {
        tc = Time(c.name, c.password);
        tk = Time("alice", "wrong-password");
      }
      known.push_back(tk);
      other.push_back(tc);
      diff.push_back(tc - tk);
    }
    double med = Median(diff);
    std::vector<double> dev;
    for (double d : diff) dev.push_back(std::fabs(d - med));
    double sigma = 1.4826 * Median(dev);
    double se = 1.2533 * sigma / std::sqrt(double(kPairs));
    double verify = Median(known);
    double tolerance = std::max(4 * se, 0.10 * verify);
    std::printf("%-34s median %.1f us vs %.1f us, paired difference %+.2f us (tolerance %.2f us)\n",
                c.what, Median(other) * 1e6, verify * 1e6, med * 1e6, tolerance * 1e6);
    EXPECT_LT(std::fabs(med), tolerance) << c.what;
    // The test can tell a leak from noise: skipping the hash would save
    // about one verification, well over the tolerance.
    EXPECT_LT(tolerance, 0.5 * verify) << c.what << ": too noisy to decide";
  }
}

}  // namespace
}  // namespace keycast
