#include <gtest/gtest.h>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/lkh.h"

namespace keycast::lkh {
namespace {

MemberKeysInit Sample() {
  MemberKeysInit m;
  m.event = EventId(9);
  m.degree = 4;
  m.height = 3;
  m.leaf = 37;
  m.seq = 12;
  m.epoch = Epoch{2, 5};
  for (int i = 0; i <= 3; ++i) m.path_keys.push_back(crypto::RandomSecret(kNodeKeySize));
  return m;
}

TEST(MemberKeysInit, RoundTrip) {
  MemberKeysInit m = Sample();
  SecretBytes enc = m.Encode();
  EXPECT_EQ(enc.size(), kMemberInitHeaderSize + 4 * kNodeKeySize);
  auto d = MemberKeysInit::Decode(enc.reveal());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->event, m.event);
  EXPECT_EQ(d->degree, 4);
  EXPECT_EQ(d->height, 3);
  EXPECT_EQ(d->leaf, 37u);
  EXPECT_EQ(d->seq, 12u);
  EXPECT_EQ(d->epoch, m.epoch);
  for (int i = 0; i <= 3; ++i) EXPECT_TRUE(d->path_keys[i] == m.path_keys[i]);
}

TEST(MemberKeysInit, TruncatedAtEveryLength) {
  SecretBytes enc = Sample().Encode();
  for (size_t n = 0; n < enc.size(); ++n) {
    auto d = MemberKeysInit::Decode(enc.reveal().first(n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_NE(d.status().message().find("truncated"), std::string::npos)
        << n << ": " << d.status().ToString();
  }
}

TEST(MemberKeysInit, RejectsBadFields) {
  auto reject = [](auto edit, const char* why) {
    SecretBytes enc = Sample().Encode();
    Bytes b(enc.reveal().begin(), enc.reveal().end());
    edit(b);
    auto d = MemberKeysInit::Decode(b);
    EXPECT_FALSE(d.ok()) << why;
    if (!d.ok()) {
      EXPECT_NE(d.status().message().find(why), std::string::npos) << d.status().ToString();
    }
  };
  reject([](Bytes& b) { b[0] = 2; }, "unsupported version");
  reject([](Bytes& b) { StoreBe64(&b[1], 0); }, "event id");
  reject([](Bytes& b) { b[9] = 1; }, "degree");
  reject([](Bytes& b) { b[10] = 0; }, "key_count");  // height 0, 4 keys
  reject([](Bytes& b) { StoreBe32(&b[11], 64); }, "leaf 64 outside");
  reject([](Bytes& b) { StoreBe64(&b[15], 0); }, "seq");
  reject([](Bytes& b) { b[31] = 3; }, "key_count");
  reject([](Bytes& b) { b.push_back(0); }, "trailing");
  reject([](Bytes& b) { b.resize(kMaxMemberInitBytes + 1); }, "exceed");
}

TEST(MemberKeysInit, FromInitValidates) {
  MemberKeysInit m = Sample();
  m.path_keys.pop_back();
  EXPECT_FALSE(MemberKeys::FromInit(m).ok());
  m = Sample();
  m.path_keys[1] = crypto::RandomSecret(16);
  EXPECT_FALSE(MemberKeys::FromInit(m).ok());
  EXPECT_TRUE(MemberKeys::FromInit(Sample()).ok());
}

}  // namespace
}  // namespace keycast::lkh
