#include "keycast/password.h"

#include <sodium.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <semaphore>

#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"

namespace keycast {
namespace {

void InitSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

Counter& HashCounter() {
  static Counter& c = Metrics::Global().GetCounter("keycast_password_hashes_total",
                                                   "Argon2id hashes and verifications computed.");
  return c;
}

// Bounds the Argon2id computations running at once (each holds the cost's
// memory for its duration).
class HashSlot {
 public:
  HashSlot() { Slots().acquire(); }
  ~HashSlot() { Slots().release(); }

 private:
  static std::counting_semaphore<>& Slots() {
    static std::counting_semaphore<> s(limits::kMaxConcurrentPasswordHashes);
    return s;
  }
};

void Params(PasswordCost cost, unsigned long long* ops, size_t* mem) {
  switch (cost) {
    case PasswordCost::kInteractive:
      *ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
      *mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
      return;
    case PasswordCost::kModerate:
      *ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
      *mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
      return;
    case PasswordCost::kTestOnly:
      break;
  }
  *ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
  *mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
}

// One Argon2id hash, not counted.
Result<std::string> Hash(std::string_view password, PasswordCost cost) {
  InitSodium();
  unsigned long long ops;
  size_t mem;
  Params(cost, &ops, &mem);
  char out[crypto_pwhash_argon2id_STRBYTES];
  HashSlot slot;
  if (crypto_pwhash_argon2id_str(out, password.data(), password.size(), ops, mem) != 0)
    return ResourceExhausted("Argon2id hashing ran out of memory");
  return std::string(out);
}

}  // namespace

bool ParsePasswordCost(std::string_view s, PasswordCost* out) {
  if (s == "interactive") {
    *out = PasswordCost::kInteractive;
    return true;
  }
  if (s == "moderate") {
    *out = PasswordCost::kModerate;
    return true;
  }
  if (s == "test-only") {
    *out = PasswordCost::kTestOnly;
    return true;
  }
  return false;
}

Result<std::string> HashPassword(std::string_view password, PasswordCost cost) {
  HashCounter().Inc();
  return Hash(password, cost);
}

bool VerifyPassword(std::string_view password, const std::string& encoded) {
  InitSodium();
  if (encoded.rfind("$argon2id$", 0) != 0) return false;
  HashCounter().Inc();
  HashSlot slot;
  return crypto_pwhash_argon2id_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

const std::string& DummyPasswordHash(PasswordCost cost) {
  static std::array<std::once_flag, 3> once;
  static std::array<std::string, 3> hashes;
  size_t i = static_cast<size_t>(cost);
  std::call_once(once[i], [&] {
    // A random password: nobody knows it, so verifying against it fails.
    auto h = Hash(ToHex(crypto::RandomBytes(16)), cost);
    if (!h.ok()) std::abort();
    hashes[i] = std::move(h).value();
  });
  return hashes[i];
}

bool VerifyPasswordOrDummy(std::string_view password, const std::string& encoded,
                           PasswordCost cost) {
  const bool real = encoded.rfind("$argon2id$", 0) == 0;
  const bool ok = VerifyPassword(password, real ? encoded : DummyPasswordHash(cost));
  return real && ok;
}

uint64_t PasswordHashCount() { return HashCounter().value(); }

Token GenerateToken(std::string_view prefix) {
  Token t;
  t.prefix = std::string(prefix);
  t.id = ToHex(crypto::RandomBytes(8));
  SecretBytes s = crypto::RandomSecret(32);
  t.secret = ToHex(s.reveal());
  return t;
}

Result<Token> ParseToken(std::string_view text, std::string_view expected_prefix) {
  // prefix _ 16 hex _ 64 hex
  size_t a = text.find('_');
  size_t b = a == std::string_view::npos ? a : text.find('_', a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos)
    return Unauthenticated("malformed token");
  Token t;
  t.prefix = std::string(text.substr(0, a));
  t.id = std::string(text.substr(a + 1, b - a - 1));
  t.secret = std::string(text.substr(b + 1));
  Bytes tmp;
  if (t.prefix != expected_prefix)
    return Unauthenticated("wrong kind of token (expected " + std::string(expected_prefix) +
                           "_...)");
  if (t.id.size() != 16 || !FromHex(t.id, &tmp) || t.secret.size() != 64 ||
      !FromHex(t.secret, &tmp))
    return Unauthenticated("malformed token");
  SecureWipe(tmp.data(), tmp.size());
  return t;
}

std::string TokenVerifier(const Token& token) {
  auto d = crypto::Sha256(AsBytes(token.secret));
  return ToHex(d);
}

bool TokenMatches(const Token& token, std::string_view stored_verifier) {
  std::string v = TokenVerifier(token);
  return ConstantTimeEquals(AsBytes(v), AsBytes(stored_verifier));
}

}  // namespace keycast
