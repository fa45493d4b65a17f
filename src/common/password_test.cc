#include "keycast/password.h"

#include <gtest/gtest.h>

namespace keycast {
namespace {

TEST(Password, Argon2idVerify) {
  auto h = HashPassword("correct horse", PasswordCost::kTestOnly);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(h->find("correct horse"), std::string::npos);
  EXPECT_TRUE(VerifyPassword("correct horse", *h));
  EXPECT_FALSE(VerifyPassword("correct horsf", *h));
  EXPECT_FALSE(VerifyPassword("", *h));
  EXPECT_FALSE(VerifyPassword("correct horse", "$argon2i$garbage"));
  EXPECT_FALSE(VerifyPassword("correct horse", "plaintext"));
}

TEST(Password, SaltedHashesDiffer) {
  auto a = HashPassword("pw123456", PasswordCost::kTestOnly);
  auto b = HashPassword("pw123456", PasswordCost::kTestOnly);
  EXPECT_NE(*a, *b);
}

// Unknown names and accounts without a password verify against a dummy
// hash: one Argon2id verification each, like a real one, and never a match.
TEST(Password, DummyVerificationCostsOneHashAndNeverMatches) {
  auto h = HashPassword("correct horse", PasswordCost::kTestOnly);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(DummyPasswordHash(PasswordCost::kTestOnly).rfind("$argon2id$", 0), 0u);
  uint64_t n0 = PasswordHashCount();
  EXPECT_TRUE(VerifyPasswordOrDummy("correct horse", *h, PasswordCost::kTestOnly));
  EXPECT_FALSE(VerifyPasswordOrDummy("correct horse", "", PasswordCost::kTestOnly));
  EXPECT_FALSE(VerifyPasswordOrDummy("", "", PasswordCost::kTestOnly));
  EXPECT_FALSE(VerifyPasswordOrDummy("x", "plaintext", PasswordCost::kTestOnly));
  EXPECT_EQ(PasswordHashCount() - n0, 4u);
  // The dummy's cost is the cost asked for.
  EXPECT_NE(DummyPasswordHash(PasswordCost::kTestOnly).find("m=8,"), std::string::npos);
}

TEST(Token, RoundTripAndVerify) {
  Token t = GenerateToken("kca");
  auto p = ParseToken(t.Encode(), "kca");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->id, t.id);
  std::string v = TokenVerifier(t);
  EXPECT_TRUE(TokenMatches(*p, v));
  Token forged = *p;
  forged.secret[0] = forged.secret[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(TokenMatches(forged, v));
}

TEST(Token, RejectsMalformedAndWrongPrefix) {
  Token t = GenerateToken("kct");
  EXPECT_FALSE(ParseToken(t.Encode(), "kca").ok());
  EXPECT_FALSE(ParseToken("kca_123_456", "kca").ok());
  EXPECT_FALSE(ParseToken("", "kca").ok());
  EXPECT_FALSE(ParseToken("kca_" + t.id + "_" + t.secret + "x", "kca").ok());
}

}  // namespace
}  // namespace keycast
