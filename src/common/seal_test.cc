#include "keycast/seal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "keycast/crypto.h"

namespace keycast {
namespace {

TEST(Sealer, SealOpenBindsPurposeAndRecord) {
  auto s = Sealer::FromKey(crypto::RandomSecret(32));
  ASSERT_TRUE(s.ok());
  SecretBytes secret = crypto::RandomSecret(32);
  Bytes sealed = s->Seal("event-secret", "event:7", secret);
  auto back = s->Open("event-secret", "event:7", sealed);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == secret);
  // The secret never appears in the sealed form.
  std::string hay(sealed.begin(), sealed.end());
  std::string needle(secret.reveal().begin(), secret.reveal().end());
  EXPECT_EQ(hay.find(needle), std::string::npos);
  EXPECT_EQ(s->Open("event-secret", "event:8", sealed).status().code(), Code::kDataLoss);
  EXPECT_EQ(s->Open("signing-key", "event:7", sealed).status().code(), Code::kDataLoss);
  Bytes flipped = sealed;
  flipped.back() ^= 1;
  EXPECT_EQ(s->Open("event-secret", "event:7", flipped).status().code(), Code::kDataLoss);
  EXPECT_EQ(s->Open("event-secret", "event:7", ByteView(sealed.data(), 10)).status().code(),
            Code::kDataLoss);
}

TEST(Sealer, WrongKekGivesClearError) {
  auto a = Sealer::FromKey(crypto::RandomSecret(32));
  auto b = Sealer::FromKey(crypto::RandomSecret(32));
  Bytes sealed = a->Seal("p", "r", crypto::RandomSecret(8));
  auto r = b->Open("p", "r", sealed);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("another KEK"), std::string::npos);
}

TEST(Sealer, KekFileGenerateLoadAndPermissions) {
  std::string path = ::testing::TempDir() + "/kek-" + std::to_string(::getpid());
  std::remove(path.c_str());
  ASSERT_TRUE(Sealer::GenerateFile(path).ok());
  EXPECT_FALSE(Sealer::GenerateFile(path).ok());  // never overwrites
  auto s = Sealer::FromFile(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ::chmod(path.c_str(), 0644);
  auto bad = Sealer::FromFile(path);
  EXPECT_EQ(bad.status().code(), Code::kFailedPrecondition);
  std::remove(path.c_str());
  EXPECT_EQ(Sealer::FromFile(path).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace keycast
