// Password hashing with Argon2id (libsodium's crypto_pwhash_str), and
// high-entropy API tokens.
#pragma once

#include <string>
#include <string_view>

#include "keycast/status.h"

namespace keycast {

// Argon2id cost. kInteractive is libsodium's interactive profile (64 MiB,
// 2 passes); kModerate is for offline-heavy deployments; kTestOnly is the
// library minimum and exists so unit tests do not spend seconds hashing.
enum class PasswordCost { kInteractive, kModerate, kTestOnly };
bool ParsePasswordCost(std::string_view s, PasswordCost* out);

// Returns the encoded "$argon2id$v=19$m=...,t=...,p=...$salt$hash" string.
Result<std::string> HashPassword(std::string_view password, PasswordCost cost);
// Constant-time verification against an encoded hash; false on any mismatch
// or malformed hash.
bool VerifyPassword(std::string_view password, const std::string& encoded);

// Verifies against `encoded`, or, when it is not an Argon2id hash ("" for
// an unknown name or an account without a password), against a fixed hash of `cost` for a
// password nobody knows, and returns false. Either way it runs exactly one
// Argon2id verification of the same cost, so the time an answer takes does
// not tell which names exist or have a password.
bool VerifyPasswordOrDummy(std::string_view password, const std::string& encoded,
                           PasswordCost cost);
// The fixed hash VerifyPasswordOrDummy verifies against (made once per cost
// and process; making it is not counted below).
const std::string& DummyPasswordHash(PasswordCost cost);

// Argon2id computations (HashPassword and every verification) this process
// has run, also exported as keycast_password_hashes_total. At most
// limits::kMaxConcurrentPasswordHashes run at once; more wait for a turn,
// so password work cannot take more than that many times the cost's memory.
uint64_t PasswordHashCount();

// API keys and admin tokens: "<prefix>_<id>_<secret>" where id is 16 hex
// chars naming the stored record and secret is 32 random bytes in hex. Only
// SHA-256(secret) is stored: the secret has 256 bits of entropy, so a slow
// hash adds nothing and a fast one lets every request be checked cheaply.
struct Token {
  std::string prefix;  // "kca" (client API key) or "kct" (admin token)
  std::string id;      // 16 hex chars
  std::string secret;  // 64 hex chars
  std::string Encode() const { return prefix + "_" + id + "_" + secret; }
};
Token GenerateToken(std::string_view prefix);
// Parses "<prefix>_<id>_<secret>"; rejects anything else.
Result<Token> ParseToken(std::string_view text, std::string_view expected_prefix);
// Hex SHA-256 of the secret part, as stored.
std::string TokenVerifier(const Token& token);
// Constant-time comparison of a presented token with a stored verifier.
bool TokenMatches(const Token& token, std::string_view stored_verifier);

}  // namespace keycast
