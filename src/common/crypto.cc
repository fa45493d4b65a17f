#include "keycast/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace keycast::crypto {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "keycast: fatal crypto failure: %s\n", what);
  std::abort();
}

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

const EVP_CIPHER* CipherFor(AeadAlgorithm alg) {
  switch (alg) {
    case AeadAlgorithm::kAes256Gcm:
      return EVP_aes_256_gcm();
    case AeadAlgorithm::kChaCha20Poly1305:
      return EVP_chacha20_poly1305();
  }
  return nullptr;
}

}  // namespace

void RandomFill(MutableByteView out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) Die("RAND_bytes");
}

Bytes RandomBytes(size_t n) {
  Bytes b(n);
  RandomFill(b);
  return b;
}

SecretBytes RandomSecret(size_t n) {
  SecretBytes s(n);
  RandomFill(s.reveal_mutable());
  return s;
}

uint64_t RandomU64() {
  uint64_t v;
  RandomFill(MutableByteView(reinterpret_cast<uint8_t*>(&v), sizeof v));
  return v;
}

uint64_t RandomBelow(uint64_t bound) {
  // Rejection sampling: no modulo bias.
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    uint64_t v = RandomU64();
    if (v < limit) return v % bound;
  }
}

Digest Sha256(ByteView data) {
  Digest d;
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), d.data(), &n, EVP_sha256(), nullptr) != 1)
    Die("EVP_Digest");
  return d;
}

Digest HmacSha256(ByteView key, ByteView data) {
  Digest d;
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
            d.data(), &n))
    Die("HMAC");
  return d;
}

SecretBytes Hkdf(ByteView ikm, ByteView salt, std::string_view label, ByteView context,
                 size_t length) {
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  if (!pctx) Die("EVP_PKEY_CTX_new_id(HKDF)");
  Bytes info;
  info.reserve(label.size() + context.size());
  info.insert(info.end(), label.begin(), label.end());
  info.insert(info.end(), context.begin(), context.end());
  static const uint8_t kZero = 0;
  SecretBytes out(length);
  size_t outlen = length;
  if (EVP_PKEY_derive_init(pctx) <= 0 || EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt.empty() ? &kZero : salt.data(),
                                  static_cast<int>(salt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm.empty() ? &kZero : ikm.data(),
                                 static_cast<int>(ikm.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(pctx, info.data(), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(pctx, out.reveal_mutable().data(), &outlen) <= 0 || outlen != length) {
    EVP_PKEY_CTX_free(pctx);
    Die("HKDF");
  }
  EVP_PKEY_CTX_free(pctx);
  return out;
}

std::string_view AeadName(AeadAlgorithm a) {
  switch (a) {
    case AeadAlgorithm::kAes256Gcm:
      return "aes-256-gcm";
    case AeadAlgorithm::kChaCha20Poly1305:
      return "chacha20-poly1305";
  }
  return "unknown";
}

bool ParseAeadName(std::string_view name, AeadAlgorithm* out) {
  if (name == "aes-256-gcm") {
    *out = AeadAlgorithm::kAes256Gcm;
    return true;
  }
  if (name == "chacha20-poly1305") {
    *out = AeadAlgorithm::kChaCha20Poly1305;
    return true;
  }
  return false;
}

bool IsKnownAead(uint8_t v) { return v == 1 || v == 2; }

struct Aead::Ctx {
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  ~Ctx() {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
  }
};

Aead::Aead(AeadAlgorithm alg, std::unique_ptr<Ctx> ctx) : alg_(alg), ctx_(std::move(ctx)) {}
Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() = default;

Result<Aead> Aead::Create(AeadAlgorithm alg, ByteView key) {
  const EVP_CIPHER* cipher = CipherFor(alg);
  if (!cipher) return InvalidArgument("unknown AEAD algorithm");
  if (key.size() != kAeadKeySize) return InvalidArgument("AEAD key must be 32 bytes");
  auto ctx = std::make_unique<Ctx>();
  ctx->enc = EVP_CIPHER_CTX_new();
  ctx->dec = EVP_CIPHER_CTX_new();
  if (!ctx->enc || !ctx->dec) return Internal("EVP_CIPHER_CTX_new failed");
  // The key schedule runs once here; each message only sets the nonce.
  if (EVP_EncryptInit_ex(ctx->enc, cipher, nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx->dec, cipher, nullptr, key.data(), nullptr) != 1)
    return Internal("AEAD key setup failed");
  return Aead(alg, std::move(ctx));
}

bool Aead::Seal(ByteView nonce, ByteView aad, ByteView plaintext, uint8_t* out) {
  if (nonce.size() != kAeadNonceSize) return false;
  EVP_CIPHER_CTX* c = ctx_->enc;
  int n = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1) return false;
  if (!aad.empty() &&
      EVP_EncryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  int len = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(c, out, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    return false;
  int fin = 0;
  if (EVP_EncryptFinal_ex(c, out + len, &fin) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, out + plaintext.size()) == 1;
}

bool Aead::Open(ByteView nonce, ByteView aad, ByteView ct, uint8_t* out) {
  if (nonce.size() != kAeadNonceSize || ct.size() < kAeadTagSize) return false;
  EVP_CIPHER_CTX* c = ctx_->dec;
  size_t body = ct.size() - kAeadTagSize;
  // Copy the tag first: out may alias ct.
  uint8_t tag[kAeadTagSize];
  std::memcpy(tag, ct.data() + body, kAeadTagSize);
  int n = 0;
  if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1) return false;
  if (!aad.empty() &&
      EVP_DecryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  int len = 0;
  if (body > 0 && EVP_DecryptUpdate(c, out, &len, ct.data(), static_cast<int>(body)) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, tag) != 1) return false;
  int fin = 0;
  return EVP_DecryptFinal_ex(c, out + len, &fin) == 1;
}

Bytes Aead::SealRandomNonce(ByteView aad, ByteView plaintext) {
  Bytes out(kAeadNonceSize + plaintext.size() + kAeadTagSize);
  RandomFill(MutableByteView(out.data(), kAeadNonceSize));
  if (!Seal(ByteView(out.data(), kAeadNonceSize), aad, plaintext, out.data() + kAeadNonceSize))
    Die("AEAD seal");
  return out;
}

Result<SecretBytes> Aead::OpenRandomNonce(ByteView aad, ByteView sealed) {
  if (sealed.size() < kAeadNonceSize + kAeadTagSize) return DataLoss("sealed data too short");
  SecretBytes out(sealed.size() - kAeadNonceSize - kAeadTagSize);
  // Open needs room for the whole ciphertext only when aliasing; here out is
  // separate and sized for the plaintext.
  if (!Open(sealed.first(kAeadNonceSize), aad, sealed.subspan(kAeadNonceSize),
            out.reveal_mutable().data()))
    return DataLoss("authentication failed");
  return out;
}

Bytes SealOnce(AeadAlgorithm alg, const SecretBytes& key, ByteView aad, ByteView plaintext) {
  auto a = Aead::Create(alg, key);
  if (!a.ok()) Die("AEAD create");
  return a->SealRandomNonce(aad, plaintext);
}

Result<SecretBytes> OpenOnce(AeadAlgorithm alg, const SecretBytes& key, ByteView aad,
                             ByteView sealed) {
  KC_ASSIGN_OR_RETURN(Aead a, Aead::Create(alg, key));
  return a.OpenRandomNonce(aad, sealed);
}

// ---- Ed25519 ----

struct SigningKey::Impl {
  EvpPkeyPtr pkey;
};

SigningKey::SigningKey(std::shared_ptr<Impl> impl, SecretBytes seed, Bytes pub)
    : impl_(std::move(impl)), seed_(std::move(seed)), public_key_(std::move(pub)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

Result<SigningKey> SigningKey::FromSeed(const SecretBytes& seed) {
  if (seed.size() != kEd25519SeedSize) return InvalidArgument("Ed25519 seed must be 32 bytes");
  EvpPkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.reveal().data(), seed.size()));
  if (!pkey) return Internal("EVP_PKEY_new_raw_private_key failed");
  Bytes pub(kEd25519PublicKeySize);
  size_t n = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &n) != 1 || n != pub.size())
    return Internal("EVP_PKEY_get_raw_public_key failed");
  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(pkey);
  return SigningKey(std::move(impl), seed, std::move(pub));
}

SigningKey SigningKey::Generate() {
  auto k = FromSeed(RandomSecret(kEd25519SeedSize));
  if (!k.ok()) Die("Ed25519 keygen");
  return std::move(k).value();
}

Bytes SigningKey::Sign(ByteView message) const {
  MdCtxPtr md(EVP_MD_CTX_new());
  Bytes sig(kEd25519SignatureSize);
  size_t n = sig.size();
  if (!md || EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, impl_->pkey.get()) != 1 ||
      EVP_DigestSign(md.get(), sig.data(), &n, message.data(), message.size()) != 1 ||
      n != sig.size())
    Die("Ed25519 sign");
  return sig;
}

struct VerifyKey::Impl {
  EvpPkeyPtr pkey;
};

Result<VerifyKey> VerifyKey::FromBytes(ByteView public_key) {
  if (public_key.size() != kEd25519PublicKeySize)
    return InvalidArgument("Ed25519 public key must be 32 bytes");
  EvpPkeyPtr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  if (!pkey) return InvalidArgument("not a valid Ed25519 public key");
  VerifyKey k;
  k.impl_ = std::make_shared<Impl>();
  k.impl_->pkey = std::move(pkey);
  k.bytes_.assign(public_key.begin(), public_key.end());
  return k;
}

bool VerifyKey::Verify(ByteView message, ByteView signature) const {
  if (!impl_ || signature.size() != kEd25519SignatureSize) return false;
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, impl_->pkey.get()) != 1)
    return false;
  return EVP_DigestVerify(md.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

}  // namespace keycast::crypto
