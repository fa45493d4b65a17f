#include "channel/key_schedule.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>

#include "keycast/codec.h"
#include "keycast/labels.h"

namespace keycast::channel {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

constexpr size_t kX25519Size = 32;

crypto::Digest Hash(std::initializer_list<ByteView> parts) {
  Bytes in;
  for (ByteView p : parts) in.insert(in.end(), p.begin(), p.end());
  return crypto::Sha256(in);
}

// ikm = a || b (both fixed 32 bytes, so the split is unambiguous).
SecretBytes Concat(const SecretBytes& a, const SecretBytes& b) {
  SecretBytes out(a.size() + b.size());
  auto dst = out.reveal_mutable();
  auto ra = a.reveal(), rb = b.reveal();
  std::copy(ra.begin(), ra.end(), dst.begin());
  std::copy(rb.begin(), rb.end(), dst.begin() + static_cast<long>(ra.size()));
  return out;
}

}  // namespace

X25519KeyPair GenerateX25519() {
  X25519KeyPair kp;
  kp.private_key = crypto::RandomSecret(kX25519Size);
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                            kp.private_key.reveal().data(), kX25519Size));
  size_t n = kp.public_key.size();
  if (!pkey || EVP_PKEY_get_raw_public_key(pkey.get(), kp.public_key.data(), &n) != 1 ||
      n != kp.public_key.size())
    std::abort();  // cannot continue without key generation, as crypto::RandomFill
  return kp;
}

Result<SecretBytes> X25519(const SecretBytes& private_key, const PublicKey& peer_public) {
  if (private_key.size() != kX25519Size) return Internal("X25519 private key must be 32 bytes");
  PkeyPtr priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.reveal().data(),
                                            kX25519Size));
  PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                           peer_public.size()));
  if (!priv || !peer) {
    ERR_clear_error();
    return InvalidArgument("unusable X25519 public key");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
  SecretBytes secret(kX25519Size);
  size_t n = secret.size();
  bool ok = ctx && EVP_PKEY_derive_init(ctx.get()) == 1 &&
            EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) == 1 &&
            EVP_PKEY_derive(ctx.get(), secret.reveal_mutable().data(), &n) == 1 && n == kX25519Size;
  if (!ok) {
    ERR_clear_error();
    return InvalidArgument("X25519 public key of low order");
  }
  // OpenSSL already refuses an all-zero result; checked again here because
  // accepting it would hand the exchange secret to anyone.
  static const uint8_t kZero[kX25519Size] = {};
  if (ConstantTimeEquals(secret.reveal(), ByteView(kZero, kX25519Size)))
    return InvalidArgument("X25519 public key of low order");
  return secret;
}

crypto::Digest Th1(ByteView hello, ByteView session_key_prefix) {
  return Hash({AsBytes(kLabelTranscript), hello, session_key_prefix});
}

crypto::Digest Th2(const crypto::Digest& th1, ByteView sealed_session_key, ByteView signature) {
  return Hash({AsBytes(kLabelTranscript), th1, sealed_session_key, signature});
}

crypto::Digest Th3(const crypto::Digest& th2, ByteView confirm) {
  return Hash({AsBytes(kLabelTranscript), th2, confirm});
}

Bytes SignatureInput(const crypto::Digest& th1, ByteView sealed_session_key) {
  Bytes out;
  out.reserve(kLabelServerSignature.size() + th1.size() + sealed_session_key.size());
  Writer w(&out);
  w.Raw(kLabelServerSignature);
  w.Raw(th1);
  w.Raw(sealed_session_key);
  return out;
}

SecretBytes DeriveExchangeSecret(const SecretBytes& dh, const crypto::Digest& th1) {
  return crypto::Hkdf(dh.reveal(), th1, kLabelExchangeSecret, {}, 32);
}

SecretBytes DeriveSessionKeyWrapKey(const SecretBytes& exchange_secret, const crypto::Digest& th1) {
  return crypto::Hkdf(exchange_secret.reveal(), {}, kLabelSessionKeyWrap, th1, 32);
}

SecretBytes DeriveConfirmKey(const SecretBytes& session_key, const SecretBytes& exchange_secret,
                             const crypto::Digest& th2) {
  return crypto::Hkdf(Concat(session_key, exchange_secret).reveal(), th2, labels::kChannelConfirm,
                      {}, 32);
}

SecretBytes DeriveDataKeyWrapKey(const SecretBytes& session_key, const SecretBytes& exchange_secret,
                                 const crypto::Digest& th3) {
  return crypto::Hkdf(Concat(session_key, exchange_secret).reveal(), th3, labels::kChannelDataKey,
                      {}, 32);
}

SecretBytes DerivePayloadKey(const SecretBytes& data_key, const crypto::Digest& th3) {
  return crypto::Hkdf(data_key.reveal(), th3, kLabelPayload, {}, 32);
}

Bytes Seal(const SecretBytes& key, ByteView aad, ByteView plaintext) {
  return crypto::SealOnce(crypto::AeadAlgorithm::kAes256Gcm, key, aad, plaintext);
}

bool Open(const SecretBytes& key, ByteView aad, ByteView sealed, SecretBytes* plaintext) {
  auto r = crypto::OpenOnce(crypto::AeadAlgorithm::kAes256Gcm, key, aad, sealed);
  if (!r.ok()) return false;
  *plaintext = std::move(r).value();
  return true;
}

}  // namespace keycast::channel
