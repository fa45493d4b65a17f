#include "keycast/password.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

#include "keycast/bytes.h"
#include "keycast/crypto.h"

namespace keycast {
namespace {

void InitSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
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
  InitSodium();
  unsigned long long ops;
  size_t mem;
  switch (cost) {
    case PasswordCost::kInteractive:
      ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
      mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
      break;
    case PasswordCost::kModerate:
      ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
      mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
      break;
    default:
      ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
      mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
      break;
  }
  char out[crypto_pwhash_argon2id_STRBYTES];
  if (crypto_pwhash_argon2id_str(out, password.data(), password.size(), ops, mem) != 0)
    return ResourceExhausted("Argon2id hashing ran out of memory");
  return std::string(out);
}

bool VerifyPassword(std::string_view password, const std::string& encoded) {
  InitSodium();
  if (encoded.rfind("$argon2id$", 0) != 0) return false;
  return crypto_pwhash_argon2id_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

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
