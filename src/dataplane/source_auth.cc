// SHA-256 runs on OpenSSL's block functions (SHA256_Init / Update / Final,
// deprecated in OpenSSL 3 but kept, with the same SHA-NI code): EVP_Digest
// sets up a provider context per call, which costs more than hashing a
// small packet (the same choice as src/key/protocol.cc).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "dataplane/source_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace keycast::dataplane {

void PacketHash(ByteView packet, uint8_t* out) {
  SHA256_CTX c;
  uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256_Init(&c);
  SHA256_Update(&c, packet.data(), packet.size());
  SHA256_Final(d, &c);
  std::memcpy(out, d, kPacketHashSize);
}

struct ManifestSigner::Ctx {
  EVP_PKEY* pkey = nullptr;
  EVP_MD_CTX* md = nullptr;
  ~Ctx() {
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
  }
};

Result<std::unique_ptr<ManifestSigner>> ManifestSigner::Create(const SecretBytes& seed) {
  if (seed.size() != crypto::kEd25519SeedSize)
    return InvalidArgument("a signing key is a 32-byte Ed25519 seed");
  std::unique_ptr<ManifestSigner> s(new ManifestSigner);
  s->ctx_ = std::make_unique<Ctx>();
  s->ctx_->pkey =
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.reveal().data(), seed.size());
  s->ctx_->md = EVP_MD_CTX_new();
  if (!s->ctx_->pkey || !s->ctx_->md) return Internal("cannot set up an Ed25519 signing key");
  return s;
}

ManifestSigner::~ManifestSigner() = default;

bool ManifestSigner::Sign(ByteView msg, uint8_t* out) {
  size_t n = kManifestSignatureSize;
  EVP_MD_CTX_reset(ctx_->md);
  return EVP_DigestSignInit(ctx_->md, nullptr, nullptr, nullptr, ctx_->pkey) == 1 &&
         EVP_DigestSign(ctx_->md, out, &n, msg.data(), msg.size()) == 1 &&
         n == kManifestSignatureSize;
}

struct ManifestVerifier::Ctx {
  EVP_PKEY* pkey = nullptr;
  EVP_MD_CTX* md = nullptr;
  ~Ctx() {
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
  }
};

Result<std::unique_ptr<ManifestVerifier>> ManifestVerifier::Create(ByteView public_key) {
  if (public_key.size() != crypto::kEd25519PublicKeySize)
    return InvalidArgument("an Ed25519 public key is 32 bytes");
  std::unique_ptr<ManifestVerifier> v(new ManifestVerifier);
  v->ctx_ = std::make_unique<Ctx>();
  v->ctx_->pkey =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size());
  v->ctx_->md = EVP_MD_CTX_new();
  if (!v->ctx_->pkey) return InvalidArgument("not a valid Ed25519 public key");
  if (!v->ctx_->md) return Internal("cannot set up an Ed25519 verification context");
  v->public_key_.assign(public_key.begin(), public_key.end());
  return v;
}

ManifestVerifier::~ManifestVerifier() = default;

bool ManifestVerifier::Verify(ByteView msg, const uint8_t* signature) {
  EVP_MD_CTX_reset(ctx_->md);
  return EVP_DigestVerifyInit(ctx_->md, nullptr, nullptr, nullptr, ctx_->pkey) == 1 &&
         EVP_DigestVerify(ctx_->md, signature, kManifestSignatureSize, msg.data(), msg.size()) == 1;
}

VerifyBudget::VerifyBudget(uint32_t rate)
    : rate_(rate), burst_(std::max<uint64_t>(16, rate / 4)), micro_tokens_(burst_ * 1'000'000) {}

bool VerifyBudget::Take(Micros now) {
  if (now > last_) {
    // Refill: rate_ verifications per second = rate_ micro-tokens per microsecond.
    uint64_t elapsed = uint64_t(now - last_);
    uint64_t cap = burst_ * 1'000'000;
    micro_tokens_ = elapsed >= cap / std::max<uint64_t>(rate_, 1)
                        ? cap
                        : std::min(cap, micro_tokens_ + elapsed * rate_);
    last_ = now;
  }
  if (micro_tokens_ < 1'000'000) return false;
  micro_tokens_ -= 1'000'000;
  return true;
}

const uint8_t* ManifestStore::Covering(uint64_t seq, Entry** entry, size_t* index) {
  for (Entry& e : entries_) {
    if (e.seq == 0 || seq >= e.seq || seq < e.seq - e.count) continue;
    size_t i = size_t(seq - (e.seq - e.count));
    *entry = &e;
    *index = i;
    return e.hashes.data() + i * kPacketHashSize;
  }
  return nullptr;
}

bool ManifestStore::Holds(uint64_t manifest_seq) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.seq == manifest_seq; });
}

void ManifestStore::Insert(uint64_t manifest_seq, const ManifestView& m) {
  Entry* slot = &entries_[0];
  for (Entry& e : entries_)
    if (e.seq < slot->seq) slot = &e;  // an empty one (seq 0) or the oldest
  slot->seq = manifest_seq;
  slot->count = uint32_t(m.count);
  slot->consumed = 0;
  std::memcpy(slot->hashes.data(), m.hashes, m.count * kPacketHashSize);
}

}  // namespace keycast::dataplane
