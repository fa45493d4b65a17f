#include "keycast/crypto.h"

#include <gtest/gtest.h>

namespace keycast::crypto {
namespace {

TEST(Crypto, Sha256KnownAnswer) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HkdfRfc5869Case1) {
  Bytes ikm(22, 0x0b), salt, info;
  FromHex("000102030405060708090a0b0c", &salt);
  FromHex("f0f1f2f3f4f5f6f7f8f9", &info);
  // Label empty, context = info: HKDF input info is label || context.
  SecretBytes okm = Hkdf(ikm, salt, "", info, 42);
  EXPECT_EQ(ToHex(okm.reveal()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Crypto, HkdfLabelsSeparate) {
  Bytes ikm(32, 1);
  EXPECT_FALSE(Hkdf(ikm, {}, "a", {}, 32) == Hkdf(ikm, {}, "b", {}, 32));
}

class AeadTest : public ::testing::TestWithParam<AeadAlgorithm> {};

TEST_P(AeadTest, SealOpenAndTamper) {
  SecretBytes key = RandomSecret(32);
  auto a = Aead::Create(GetParam(), key);
  ASSERT_TRUE(a.ok());
  Bytes aad = ToBytes("header");
  Bytes pt = ToBytes("the quick brown fox");
  Bytes sealed = a->SealRandomNonce(aad, pt);
  ASSERT_EQ(sealed.size(), kAeadNonceSize + pt.size() + kAeadTagSize);
  auto back = a->OpenRandomNonce(aad, sealed);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Bytes(back->reveal().begin(), back->reveal().end()), pt);
  // Every single-bit flip anywhere is rejected.
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes t = sealed;
    t[i] ^= 0x01;
    EXPECT_FALSE(a->OpenRandomNonce(aad, t).ok()) << "byte " << i;
  }
  EXPECT_FALSE(a->OpenRandomNonce(ToBytes("other"), sealed).ok());
  auto other = Aead::Create(GetParam(), RandomSecret(32));
  EXPECT_FALSE(other->OpenRandomNonce(aad, sealed).ok());
}

TEST_P(AeadTest, InPlace) {
  auto a = Aead::Create(GetParam(), RandomSecret(32));
  Bytes nonce = RandomBytes(12);
  Bytes buf = ToBytes("in place payload");
  size_t n = buf.size();
  buf.resize(n + kAeadTagSize);
  ASSERT_TRUE(a->Seal(nonce, {}, ByteView(buf.data(), n), buf.data()));
  ASSERT_TRUE(a->Open(nonce, {}, buf, buf.data()));
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + long(n)), "in place payload");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, AeadTest,
                         ::testing::Values(AeadAlgorithm::kAes256Gcm,
                                           AeadAlgorithm::kChaCha20Poly1305));

TEST(Crypto, AeadRejectsWrongKeySize) {
  EXPECT_FALSE(Aead::Create(AeadAlgorithm::kAes256Gcm, Bytes(16)).ok());
}

TEST(Crypto, Ed25519Rfc8032Test1) {
  Bytes seed, pub, sig;
  FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", &seed);
  FromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", &pub);
  FromHex(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
      "b46bd25bf5f0595bbe24655141438e7a100b",
      &sig);
  auto k = SigningKey::FromSeed(SecretBytes(seed));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->public_key(), pub);
  EXPECT_EQ(k->Sign({}), sig);
  auto v = VerifyKey::FromBytes(pub);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->Verify({}, sig));
  Bytes bad = sig;
  bad[10] ^= 4;
  EXPECT_FALSE(v->Verify({}, bad));
  EXPECT_FALSE(v->Verify(ToBytes("x"), sig));
}

TEST(Crypto, RandomBelowInRange) {
  for (int i = 0; i < 1000; ++i) EXPECT_LT(RandomBelow(7), 7u);
}

}  // namespace
}  // namespace keycast::crypto
