// Thin, misuse-resistant wrappers over OpenSSL 3 for the primitives Keycast
// uses: a CSPRNG, SHA-256, HMAC-SHA256, HKDF-SHA256, AEAD (AES-256-GCM and
// ChaCha20-Poly1305, 96-bit nonces, 128-bit tags) and Ed25519.
//
// Keys are SecretBytes; every derivation takes a named label (see labels.h) so
// no two uses of one secret share a derivation input.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "keycast/bytes.h"
#include "keycast/status.h"

namespace keycast::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
inline constexpr size_t kSha256Size = 32;

using Digest = std::array<uint8_t, kSha256Size>;

// Fills out from the OS-seeded CSPRNG. Aborts if the CSPRNG fails: there is
// no safe way to continue without randomness.
void RandomFill(MutableByteView out);
Bytes RandomBytes(size_t n);
SecretBytes RandomSecret(size_t n);
uint64_t RandomU64();
// Uniform in [0, bound). REQUIRES: bound > 0.
uint64_t RandomBelow(uint64_t bound);

Digest Sha256(ByteView data);
Digest HmacSha256(ByteView key, ByteView data);

// HKDF-SHA256 (RFC 5869). info = label || context, so the label is domain
// separation and the context binds identifiers (event id, epoch, ...).
SecretBytes Hkdf(ByteView ikm, ByteView salt, std::string_view label, ByteView context,
                 size_t length);

enum class AeadAlgorithm : uint8_t {
  kAes256Gcm = 1,         // default: AES-NI makes it the fastest on x86-64
  kChaCha20Poly1305 = 2,  // for CPUs without AES instructions
};
std::string_view AeadName(AeadAlgorithm a);
bool ParseAeadName(std::string_view name, AeadAlgorithm* out);
bool IsKnownAead(uint8_t v);

// A keyed AEAD context. The key schedule is done once in Create, so Seal and
// Open cost only the per-message work.
// Thread safety: not safe for concurrent use; use one Aead per thread.
class Aead {
 public:
  static Result<Aead> Create(AeadAlgorithm alg, ByteView key);
  static Result<Aead> Create(AeadAlgorithm alg, const SecretBytes& key) {
    return Create(alg, key.reveal());
  }
  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  AeadAlgorithm algorithm() const { return alg_; }

  // Writes plaintext.size() + kAeadTagSize bytes to out (ciphertext then tag).
  // out may alias plaintext exactly (in-place).
  // REQUIRES: nonce.size() == kAeadNonceSize, out.size() >= plaintext.size() + tag.
  bool Seal(ByteView nonce, ByteView aad, ByteView plaintext, uint8_t* out);
  // Authenticates then decrypts; writes ciphertext.size() - tag bytes to out.
  // Returns false, and leaves out unspecified, on any failure. out may alias.
  bool Open(ByteView nonce, ByteView aad, ByteView ciphertext_and_tag, uint8_t* out);

  // Conveniences that allocate: nonce || ciphertext || tag, random nonce.
  Bytes SealRandomNonce(ByteView aad, ByteView plaintext);
  Result<SecretBytes> OpenRandomNonce(ByteView aad, ByteView sealed);

 private:
  struct Ctx;
  Aead(AeadAlgorithm alg, std::unique_ptr<Ctx> ctx);
  AeadAlgorithm alg_;
  std::unique_ptr<Ctx> ctx_;
};

// One-shot helpers for cold paths (nonce || ciphertext || tag).
Bytes SealOnce(AeadAlgorithm alg, const SecretBytes& key, ByteView aad, ByteView plaintext);
Result<SecretBytes> OpenOnce(AeadAlgorithm alg, const SecretBytes& key, ByteView aad,
                             ByteView sealed);

// Ed25519 signing key. Thread safety: Sign is safe to call concurrently.
class SigningKey {
 public:
  static SigningKey Generate();
  static Result<SigningKey> FromSeed(const SecretBytes& seed);
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  Bytes Sign(ByteView message) const;  // 64 bytes
  const Bytes& public_key() const { return public_key_; }
  const SecretBytes& seed() const { return seed_; }

 private:
  struct Impl;
  SigningKey(std::shared_ptr<Impl> impl, SecretBytes seed, Bytes pub);
  std::shared_ptr<Impl> impl_;
  SecretBytes seed_;
  Bytes public_key_;
};

// Ed25519 verification key with the public key parsed once.
// Thread safety: Verify is safe to call concurrently.
class VerifyKey {
 public:
  static Result<VerifyKey> FromBytes(ByteView public_key);
  bool Verify(ByteView message, ByteView signature) const;
  const Bytes& bytes() const { return bytes_; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  Bytes bytes_;
};

}  // namespace keycast::crypto
