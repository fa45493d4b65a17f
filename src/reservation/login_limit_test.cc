// Brute force against the reservation platform's password logins: sender
// sign-in and receiver requests are refused by the login limiter before any
// Argon2id work, while the right password keeps working for others. The
// platform's clock is frozen here, so a blocked key stays blocked and the
// Argon2id counts are exact.
#include <gtest/gtest.h>

#include "keycast/limits.h"
#include "keycast/password.h"
#include "keycast/reservation.h"
#include "reservation/test_fixture.h"

namespace keycast {
namespace {

using testing::Platform;

size_t Audited(Platform& p, const std::string& action, const std::string& target) {
  size_t n = 0;
  auto audit = p.store->ReadAudit(0, 100000);
  if (!audit.ok()) return 0;
  for (const auto& r : *audit)
    if (r.action == action && r.target == target) ++n;
  return n;
}

TEST(ReservationLogins, ThousandWrongSenderPasswordsCostFiveArgon2id) {
  Platform p;
  Actor a{"test"};
  ASSERT_TRUE(
      p.dir->CreateClient(a, ClientSpec{"cara", "", std::string("cara-password"), true}).ok());
  ASSERT_TRUE(p.dir->SetMembership(a, "cara", "studio", Role::kSender, true).ok());
  const uint64_t h0 = PasswordHashCount();
  int refused = 0, throttled = 0;
  for (int i = 0; i < 1000; ++i) {
    LoginOrigin o{"192.0.2.66"};
    auto r = p.platform->AuthenticateSender("anna", "guess-" + std::to_string(i), &o);
    ASSERT_FALSE(r.ok());
    if (r.status().code() == Code::kResourceExhausted) {
      ++throttled;
      EXPECT_GE(o.retry_after_seconds, 1);
    } else {
      EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
      ++refused;
    }
  }
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(throttled, 995);
  EXPECT_EQ(PasswordHashCount() - h0, 5u);
  // The owner from elsewhere, and another sender from the attacker's address.
  LoginOrigin home{"198.51.100.7"}, same{"192.0.2.66"};
  EXPECT_TRUE(p.platform->AuthenticateSender("anna", "anna-password", &home).ok());
  EXPECT_TRUE(p.platform->AuthenticateSender("cara", "cara-password", &same).ok());
  EXPECT_EQ(PasswordHashCount() - h0, 7u);
  EXPECT_EQ(Audited(p, "login.backoff", "client:anna from 192.0.2.66"), 1u);
}

TEST(ReservationLogins, ThousandWrongReceiverPasswordsCostFiveArgon2id) {
  Platform p;
  auto s = p.Spec("news");
  s.receivers = {ReceiverEntry{"alice", "alice-secret"}, ReceiverEntry{"bob", "bob-secret"}};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  const uint64_t h0 = PasswordHashCount();
  int refused = 0, throttled = 0;
  for (int i = 0; i < 1000; ++i) {
    LoginOrigin o{"192.0.2.66"};
    auto r = p.platform->RequestAccess("news", "alice",
                                       Platform::Param("guess-" + std::to_string(i)), &o);
    ASSERT_FALSE(r.ok());
    if (r.status().code() == Code::kResourceExhausted && o.retry_after_seconds > 0)
      ++throttled;
    else
      ++refused;
  }
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(throttled, 995);
  EXPECT_EQ(PasswordHashCount() - h0, 5u);
  LoginOrigin home{"198.51.100.7"}, same{"192.0.2.66"};
  EXPECT_TRUE(
      p.platform->RequestAccess("news", "alice", Platform::Param("alice-secret"), &home).ok());
  EXPECT_TRUE(p.platform->RequestAccess("news", "bob", Platform::Param("bob-secret"), &same).ok());
  EXPECT_EQ(Audited(p, "login.backoff", "receiver:news/alice from 192.0.2.66"), 1u);
  // Through the channel's authorizer, as the HTTP route calls it.
  LoginOrigin o{"192.0.2.66"};
  auto shared = reservation::EncodeAccessParameter(Platform::Param("guess"));
  ASSERT_TRUE(shared.ok());
  auto r = p.platform->Authorize(shared->reveal(), "news/alice", &o);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_GE(o.retry_after_seconds, 1);
}

// A request on a transmission that admits directory subscribers and a list
// costs the same Argon2id work whoever the name belongs to: a subscriber, a
// listed receiver, or nobody.
TEST(ReservationLogins, EveryReceiverNameCostsTheSameArgon2idWork) {
  Platform p;
  auto s = p.Spec("static");
  s.sa = ProvidedSa{Spi{4242}, crypto::AeadAlgorithm::kAes256Gcm, SecretBytes(Bytes(32, 0x5a))};
  s.receivers = {ReceiverEntry{"alice", "alice-secret"}};
  s.groups = {"subscribers"};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  for (const char* name : {"sue", "alice", "mallory"}) {
    const uint64_t h0 = PasswordHashCount();
    LoginOrigin o{"192.0.2." + std::to_string(name[0])};
    auto r = p.platform->RequestAccess("static", name, Platform::Param("wrong-password"), &o);
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << name;
    EXPECT_EQ(PasswordHashCount() - h0, 2u) << name;  // the directory's and the list's
  }
}

// On a transmission that admits subscribers and a list, a listed receiver
// (no directory client of that name) fails the directory's password check
// every time; that must not count as a failed login, or 20 sign-ins from
// one address would lock the address out.
TEST(ReservationLogins, ListedReceiversAreNotCountedAsDirectoryFailures) {
  Platform p;
  auto s = p.Spec("static");
  s.sa = ProvidedSa{Spi{4243}, crypto::AeadAlgorithm::kAes256Gcm, SecretBytes(Bytes(32, 0x5b))};
  s.receivers = {ReceiverEntry{"alice", "alice-secret"}};
  s.groups = {"subscribers"};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  for (int i = 0; i < 3 * int(limits::kLoginFreeFailuresPerAddress); ++i) {
    LoginOrigin o{"192.0.2.80"};
    auto r = p.platform->RequestAccess("static", "alice", Platform::Param("alice-secret"), &o);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().message();
  }
  // A wrong password still counts (on the list's key and the address).
  for (uint32_t i = 0; i < limits::kLoginFreeFailuresPerAccountAndAddress; ++i) {
    LoginOrigin o{"192.0.2.81"};
    EXPECT_EQ(
        p.platform->RequestAccess("static", "alice", Platform::Param("guess"), &o).status().code(),
        Code::kUnauthenticated);
  }
  LoginOrigin o{"192.0.2.81"};
  EXPECT_EQ(
      p.platform->RequestAccess("static", "alice", Platform::Param("guess"), &o).status().code(),
      Code::kResourceExhausted);
}

}  // namespace
}  // namespace keycast
