#include "lkh/wrap.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "keycast/codec.h"
#include "keycast/labels.h"
#include "keycast/lkh/format.h"

namespace keycast::lkh::internal {
namespace {

constexpr size_t kKekSize = 32;
// OpenSSL's EVP layer assumes room for input + one 8-byte block.
constexpr size_t kScratch = kWrappedKeySize + 8;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "keycast: fatal crypto failure: %s\n", what);
  std::abort();
}

// Scratch key material on the stack, wiped on scope exit.
struct Wiped {
  uint8_t b[kScratch];
  ~Wiped() { SecureWipe(b, sizeof b); }
};

}  // namespace

KeyWrapper::KeyWrapper() {
  cipher_ = EVP_CIPHER_fetch(nullptr, "AES-256-WRAP", nullptr);
  ctx_ = EVP_CIPHER_CTX_new();
  mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  mac_ctx_ = mac_ ? EVP_MAC_CTX_new(mac_) : nullptr;
  if (!cipher_ || !ctx_ || !mac_ctx_) Die("AES-256-WRAP / HMAC unavailable");
  EVP_CIPHER_CTX_set_flags(ctx_, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac_ctx_, params) != 1) Die("HMAC-SHA256 setup");
}

KeyWrapper::~KeyWrapper() {
  EVP_MAC_CTX_free(mac_ctx_);
  EVP_MAC_free(mac_);
  EVP_CIPHER_CTX_free(ctx_);
  EVP_CIPHER_free(cipher_);
}

void KeyWrapper::DeriveKek(ByteView key, ByteView info, uint8_t* kek) {
  size_t n = 0;
  if (EVP_MAC_init(mac_ctx_, key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(mac_ctx_, info.data(), info.size()) != 1 ||
      EVP_MAC_final(mac_ctx_, kek, &n, kKekSize) != 1 || n != kKekSize)
    Die("HMAC-SHA256");
}

void KeyWrapper::Wrap(const uint8_t* kek, ByteView key, uint8_t* out) {
  Wiped tmp;
  int n = 0, fin = 0;
  if (EVP_CipherInit_ex2(ctx_, cipher_, kek, nullptr, 1, nullptr) != 1 ||
      EVP_CipherUpdate(ctx_, tmp.b, &n, key.data(), static_cast<int>(key.size())) != 1 ||
      n != static_cast<int>(key.size() + 8) || EVP_CipherFinal_ex(ctx_, tmp.b + n, &fin) != 1)
    Die("AES-256-WRAP");
  std::memcpy(out, tmp.b, key.size() + 8);
}

bool KeyWrapper::Unwrap(const uint8_t* kek, ByteView wrapped, uint8_t* out) {
  Wiped tmp;
  int n = 0, fin = 0;
  if (EVP_CipherInit_ex2(ctx_, cipher_, kek, nullptr, 0, nullptr) != 1) Die("AES-256-WRAP init");
  bool ok =
      EVP_CipherUpdate(ctx_, tmp.b, &n, wrapped.data(), static_cast<int>(wrapped.size())) == 1 &&
      n == static_cast<int>(wrapped.size() - 8) && EVP_CipherFinal_ex(ctx_, tmp.b + n, &fin) == 1;
  if (!ok) {
    ERR_clear_error();
    SecureWipe(out, wrapped.size() - 8);
    return false;
  }
  std::memcpy(out, tmp.b, wrapped.size() - 8);
  return true;
}

namespace {

// label || context, on the stack.
struct Info {
  uint8_t b[64];
  size_t n = 0;
  void Add(std::string_view s) {
    std::memcpy(b + n, s.data(), s.size());
    n += s.size();
  }
  void U64(uint64_t v) {
    StoreBe64(b + n, v);
    n += 8;
  }
  void U32(uint32_t v) {
    StoreBe32(b + n, v);
    n += 4;
  }
  ByteView view() const { return {b, n}; }
};
static_assert(keycast::labels::kLkhWrap.size() + 24 <= 64);
static_assert(labels::kLkhIntervalWrap.size() + 24 <= 64);

Info NodeInfo(const NodeSlot& s) {
  Info i;
  i.Add(keycast::labels::kLkhWrap);
  i.U64(static_cast<uint64_t>(s.event.value));
  i.U64(s.seq);
  i.U32(s.target);
  i.U32(s.wrapper);
  return i;
}

Info IntervalInfo(EventId event, uint64_t seq, Epoch epoch) {
  Info i;
  i.Add(labels::kLkhIntervalWrap);
  i.U64(static_cast<uint64_t>(event.value));
  i.U64(seq);
  i.U64(epoch.packed());
  return i;
}

}  // namespace

void KeyWrapper::WrapNodeKey(ByteView wrapping_key, const NodeSlot& slot, ByteView key,
                             uint8_t* out) {
  Wiped kek;
  DeriveKek(wrapping_key, NodeInfo(slot).view(), kek.b);
  Wrap(kek.b, key, out);
}

bool KeyWrapper::UnwrapNodeKey(ByteView wrapping_key, const NodeSlot& slot, ByteView wrapped,
                               uint8_t* out) {
  if (wrapped.size() != kWrappedKeySize) return false;
  Wiped kek;
  DeriveKek(wrapping_key, NodeInfo(slot).view(), kek.b);
  return Unwrap(kek.b, wrapped, out);
}

void KeyWrapper::WrapIntervalKey(ByteView root_key, EventId event, uint64_t seq, Epoch epoch,
                                 ByteView key, uint8_t* out) {
  Wiped kek;
  DeriveKek(root_key, IntervalInfo(event, seq, epoch).view(), kek.b);
  Wrap(kek.b, key, out);
}

bool KeyWrapper::UnwrapIntervalKey(ByteView root_key, EventId event, uint64_t seq, Epoch epoch,
                                   ByteView wrapped, uint8_t* out) {
  if (wrapped.size() != kWrappedKeySize) return false;
  Wiped kek;
  DeriveKek(root_key, IntervalInfo(event, seq, epoch).view(), kek.b);
  return Unwrap(kek.b, wrapped, out);
}

}  // namespace keycast::lkh::internal
