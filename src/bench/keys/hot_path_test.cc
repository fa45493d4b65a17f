// The key service's hot-path primitives (keycast/key_protocol.h) compute
// exactly what the reference wrappers of keycast/crypto.h compute, so the
// optimisation changed no byte on the wire (docs/bench-keys.md).
#include <gtest/gtest.h>

#include "keycast/crypto.h"
#include "keycast/key_protocol.h"
#include "keycast/labels.h"

namespace keycast::keyproto {
namespace {

Bytes Seq(size_t n, uint8_t start) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + i);
  return b;
}

TEST(HotPath, HmacMatchesReferenceForEveryKeyLengthAndOnReuse) {
  HmacSha256 h;
  for (size_t klen : {0, 1, 16, 32, 63, 64, 65, 100}) {
    Bytes key = Seq(klen, 3);
    for (size_t mlen : {0, 1, 55, 64, 200, 1000}) {
      Bytes msg = Seq(mlen, 9);
      h.SetKey(key);
      // The empty key is the all-zero one (HMAC pads keys with zeros; the
      // reference wrapper refuses an empty key).
      auto want = crypto::HmacSha256(klen == 0 ? Bytes(32, 0) : key, msg);
      EXPECT_EQ(h.Mac(msg), want) << klen << " " << mlen;
      EXPECT_EQ(h.Mac(msg), want) << "reused context, " << klen << " " << mlen;
      // The same message in three parts.
      size_t a = mlen / 3, b = mlen / 2;
      EXPECT_EQ(
          h.Mac(ByteView(msg).first(a), ByteView(msg).subspan(a, b - a), ByteView(msg).subspan(b)),
          want);
    }
  }
}

TEST(HotPath, HkdfMatchesReference) {
  HmacSha256 h;
  SecretBytes ikm = crypto::RandomSecret(32);
  for (Bytes salt : {Bytes{}, Seq(16, 1), Seq(80, 2)}) {
    HkdfSha256 kdf(&h, ikm.reveal(), salt);
    Bytes ctx = Seq(16, 5);
    for (size_t len : {1, 4, 16, 32}) {
      auto want = crypto::Hkdf(ikm.reveal(), salt, labels::kIntervalKey, ctx, len);
      EXPECT_TRUE(kdf.Expand(labels::kIntervalKey, ctx, len) == want) << len;
    }
    EXPECT_TRUE(kdf.Expand(labels::kKeyReply, {}, 32) ==
                crypto::Hkdf(ikm.reveal(), salt, labels::kKeyReply, {}, 32));
  }
}

TEST(HotPath, SessionKeysAreTheDocumentedHkdfs) {
  SecretBytes s = crypto::RandomSecret(32);
  TicketId id{};
  id[5] = 0x42;
  auto k = SessionKeys::Derive(s, id);
  ByteView salt(id.data(), id.size());
  EXPECT_TRUE(k.auth == crypto::Hkdf(s.reveal(), salt, labels::kKeyRequestAuth, {}, 32));
  EXPECT_TRUE(k.reply == crypto::Hkdf(s.reveal(), salt, labels::kKeyReply, {}, 32));
  EXPECT_TRUE(k.wakeup == crypto::Hkdf(s.reveal(), salt, labels::kWakeup, {}, 32));
}

TEST(HotPath, AesGcmMatchesReferenceAndRejectsTampering) {
  SecretBytes key = crypto::RandomSecret(32);
  auto ref = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key);
  ASSERT_TRUE(ref.ok());
  AesGcm g;
  g.SetKey(key.reveal());
  Bytes nonce = Seq(12, 7), aad = Seq(22, 1);
  for (size_t n : {0, 1, 15, 16, 17, 300}) {
    Bytes pt = Seq(n, 11);
    Bytes want(n + 16), got(n + 16);
    ASSERT_TRUE(ref->Seal(nonce, aad, pt, want.data()));
    ASSERT_TRUE(g.Seal(nonce, aad, pt, got.data()));
    EXPECT_EQ(got, want) << n;
    Bytes back(n + 16);
    EXPECT_TRUE(g.Open(nonce, aad, got, back.data()));
    EXPECT_EQ(Bytes(back.begin(), back.begin() + static_cast<long>(n)), pt);
    got[got.size() - 1] ^= 1;
    EXPECT_FALSE(g.Open(nonce, aad, got, back.data()));
  }
  // Re-keying the same context.
  SecretBytes other = crypto::RandomSecret(32);
  g.SetKey(other.reveal());
  auto ref2 = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, other);
  Bytes pt = Seq(40, 1), want(56), got(56);
  ASSERT_TRUE(ref2->Seal(nonce, aad, pt, want.data()));
  ASSERT_TRUE(g.Seal(nonce, aad, pt, got.data()));
  EXPECT_EQ(got, want);
}

TEST(HotPath, SessionContextSpeaksTheSameProtocol) {
  TicketId id{};
  id[0] = 1;
  auto keys = SessionKeys::Derive(crypto::RandomSecret(32), id);
  SessionContext ctx(keys);
  Request q;
  q.credential = Seq(120, 4);
  crypto::RandomFill(q.client_nonce);
  q.timestamp = 1'900'000'000'000'000;
  q.event = EventId(3);
  q.kind = RequestKind::kRefresh;
  q.epoch = Epoch{0, 9};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ctx.EncodeRequest(q), EncodeRequest(q, keys)) << i;
  Bytes request = ctx.EncodeRequest(q);
  auto parsed = ParseRequest(request);  // views into `request`
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyRequestTag(*parsed, keys));

  Reply r;
  r.client_nonce = q.client_nonce;
  r.event = q.event;
  SecurityAssociation sa;
  sa.event = q.event;
  sa.epoch = q.epoch;
  sa.spi = Spi{4711};
  sa.key = crypto::RandomSecret(32);
  sa.lifetime = 60'000'000;
  r.sas.push_back(sa);
  Bytes wire = EncodeReply(r, keys);
  auto a = ctx.OpenReply(wire, q.client_nonce);
  auto b = OpenReply(wire, keys, q.client_nonce);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(a->sas.at(0).key == sa.key);
  EXPECT_EQ(a->sas.at(0).spi.value, 4711u);
  for (size_t i = 0; i < wire.size(); i += 7) {
    Bytes bad = wire;
    bad[i] ^= 0x10;
    EXPECT_FALSE(ctx.OpenReply(bad, q.client_nonce).ok()) << i;
  }
}

}  // namespace
}  // namespace keycast::keyproto
