#include "lkh/wrap.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/labels.h"
#include "keycast/lkh/format.h"

namespace keycast::lkh::internal {
namespace {

TEST(KeyWrap, RoundTripAndEveryBindingMatters) {
  KeyWrapper w;
  SecretBytes wk = crypto::RandomSecret(kNodeKeySize), k = crypto::RandomSecret(kNodeKeySize);
  NodeSlot slot{EventId(5), 9, 3, 13};
  uint8_t wrapped[kWrappedKeySize], out[kNodeKeySize];
  w.WrapNodeKey(wk.reveal(), slot, k.reveal(), wrapped);
  ASSERT_TRUE(w.UnwrapNodeKey(wk.reveal(), slot, ByteView(wrapped, sizeof wrapped), out));
  EXPECT_TRUE(SecretBytes(ByteView(out, sizeof out)) == k);

  SecretBytes other = crypto::RandomSecret(kNodeKeySize);
  EXPECT_FALSE(w.UnwrapNodeKey(other.reveal(), slot, ByteView(wrapped, sizeof wrapped), out));
  for (NodeSlot s : {NodeSlot{EventId(6), 9, 3, 13}, NodeSlot{EventId(5), 10, 3, 13},
                     NodeSlot{EventId(5), 9, 2, 13}, NodeSlot{EventId(5), 9, 3, 14}})
    EXPECT_FALSE(w.UnwrapNodeKey(wk.reveal(), s, ByteView(wrapped, sizeof wrapped), out));
  // A node wrap is not an interval-key wrap (domain separation).
  EXPECT_FALSE(w.UnwrapIntervalKey(wk.reveal(), EventId(5), 9, Epoch{0, 0},
                                   ByteView(wrapped, sizeof wrapped), out));
  wrapped[20] ^= 1;
  EXPECT_FALSE(w.UnwrapNodeKey(wk.reveal(), slot, ByteView(wrapped, sizeof wrapped), out));
  EXPECT_FALSE(w.UnwrapNodeKey(wk.reveal(), slot, ByteView(wrapped, 39), out));
}

TEST(KeyWrap, IntervalKeyBindsEpoch) {
  KeyWrapper w;
  SecretBytes root = crypto::RandomSecret(kNodeKeySize), k = crypto::RandomSecret(kIntervalKeySize);
  uint8_t wrapped[kWrappedKeySize], out[kIntervalKeySize];
  w.WrapIntervalKey(root.reveal(), EventId(5), 9, Epoch{1, 2}, k.reveal(), wrapped);
  ByteView wv(wrapped, sizeof wrapped);
  ASSERT_TRUE(w.UnwrapIntervalKey(root.reveal(), EventId(5), 9, Epoch{1, 2}, wv, out));
  EXPECT_TRUE(SecretBytes(ByteView(out, sizeof out)) == k);
  EXPECT_FALSE(w.UnwrapIntervalKey(root.reveal(), EventId(5), 9, Epoch{1, 3}, wv, out));
  EXPECT_FALSE(w.UnwrapIntervalKey(root.reveal(), EventId(5), 8, Epoch{1, 2}, wv, out));
}

// Pins the construction documented in docs/lkh.md: RFC 3394 AES-256-KW with
// the default IV under HMAC-SHA256(node key, kLkhWrap || context).
TEST(KeyWrap, MatchesDocumentedConstruction) {
  KeyWrapper w;
  SecretBytes wk = crypto::RandomSecret(kNodeKeySize), k = crypto::RandomSecret(kNodeKeySize);
  NodeSlot slot{EventId(77), 1234, 5, 21};
  uint8_t wrapped[kWrappedKeySize];
  w.WrapNodeKey(wk.reveal(), slot, k.reveal(), wrapped);

  Bytes info = ToBytes(keycast::labels::kLkhWrap);
  Writer iw(&info);
  iw.U64(77);
  iw.U64(1234);
  iw.U32(5);
  iw.U32(21);
  crypto::Digest kek = crypto::HmacSha256(wk.reveal(), info);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  uint8_t out[kWrappedKeySize + 8];
  int n = 0;
  ASSERT_EQ(EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap(), nullptr, kek.data(), nullptr), 1);
  ASSERT_EQ(EVP_DecryptUpdate(ctx, out, &n, wrapped, sizeof wrapped), 1);
  EVP_CIPHER_CTX_free(ctx);
  ASSERT_EQ(n, 32);
  EXPECT_TRUE(SecretBytes(ByteView(out, 32)) == k);
}

}  // namespace
}  // namespace keycast::lkh::internal
