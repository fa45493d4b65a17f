// The reservation platform's own formats, each bounded, strict and fuzzed
// (src/reservation/reservation_fuzz.cc); grammars in docs/reservations.md.
//
//  - AccessParameter: the seed-004 channel's shared parameter, what a
//    receiver proves itself with (password and/or card), binary.
//  - AgentConfig: the channel's payload, what an approved receiver gets
//    (credentials for the key service, or a provided SA), JSON; and its
//    rendering as an environment file for `keycast client join`.
//  - Receiver lists typed in a web form: one "name password" per line.
//  - HTML form bodies (application/x-www-form-urlencoded) and Cookie headers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::reservation {

// ---- limits (bytes unless stated) ----
inline constexpr size_t kMaxReservationName = 40;  // leaves room for "resv." prefixes
inline constexpr size_t kMaxReceiverName = 48;     // leaves room for "rx.<id>."
inline constexpr size_t kMaxReceiverPassword = 256;
inline constexpr size_t kMinReceiverPassword = 8;
inline constexpr size_t kMaxIdempotencyKey = 64;
inline constexpr size_t kMinIdempotencyKey = 16;
inline constexpr size_t kMaxReceiversPerReservation = 1000;
inline constexpr size_t kMaxGroupsPerReservation = 32;
inline constexpr int64_t kMaxPriceCents = 100'000'000;  // 1 000 000.00
inline constexpr size_t kMaxFormBytes = 64 * 1024;
inline constexpr size_t kMaxFormFields = 64;
inline constexpr size_t kMaxCookieHeader = 8192;
inline constexpr uint8_t kAccessParameterVersion = 1;
inline constexpr int kAgentConfigVersion = 1;

// Reservation names: the directory's name rules (ValidateName), at most
// kMaxReservationName bytes. Receiver names: same rules, kMaxReceiverName.
Status ValidateReservationName(std::string_view name);
Status ValidateReceiverName(std::string_view name);
// Receiver passwords: kMinReceiverPassword..kMaxReceiverPassword bytes.
Status ValidateReceiverPassword(std::string_view password);
// 16-64 characters from [A-Za-z0-9_-].
Status ValidateIdempotencyKey(std::string_view key);

// The shared parameter of one receiver request (docs/reservations.md):
//   struct {
//     uint8  version = 1;
//     opaque idempotency_key<0..64>;   /* 8-bit length */
//     opaque password<0..256>;         /* 16-bit length */
//     opaque card_number<0..32>;       /* 8-bit length, as typed */
//     opaque card_expiry<0..7>;        /* "MM/YY" or "MM/YYYY" */
//     opaque card_cvc<0..4>;
//   } AccessParameter;
// Secret fields are wiped on destruction.
struct AccessParameter {
  std::string idempotency_key;
  SecretBytes password;
  SecretBytes card_number;
  std::string card_expiry;
  SecretBytes card_cvc;

  bool has_card() const { return !card_number.empty(); }
};
// REQUIRES: fields within the bounds above (checked; InvalidArgument otherwise).
Result<SecretBytes> EncodeAccessParameter(const AccessParameter& p);
// Refuses anything else than exactly the grammar, with the field and offset.
Result<AccessParameter> DecodeAccessParameter(ByteView in);

// The channel's payload for an approved receiver, JSON (<= 3072 bytes).
struct AgentConfig {
  std::string transmission;  // reservation name
  std::string title;
  std::string receiver;
  std::string mode;  // "keycast": interval keys from the key service; "static": one SA
  // mode "keycast": log in to the ticket service with the API key, then
  // `keycast client join <event>`.
  std::string addr;     // ticket service URL
  std::string client;   // directory client created for the receiver
  std::string api_key;  // kca_... (secret)
  std::string event;    // directory event name
  // mode "static": the sender's SA.
  uint32_t spi = 0;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  Bytes sa_key;  // 32 bytes (secret)
  // both
  IpAddress group;
  uint16_t port = 0;
  IpAddress source;
  int64_t start = 0;          // first occurrence, Unix seconds
  int64_t duration = 0;       // seconds
  std::string rrule;          // "" = one-off
  int64_t charged_cents = 0;  // what this receiver paid (0 = free)
  std::string currency;

  ~AgentConfig() {
    SecureWipe(api_key.data(), api_key.size());
    SecureWipe(sa_key.data(), sa_key.size());
  }
};
std::string AgentConfigToJson(const AgentConfig& c);
// Strict: every field typed and bounded, unknown fields refused.
Result<AgentConfig> ParseAgentConfig(std::string_view json_text);
// An environment file for `set -a; . file; set +a; keycast client join "$KEYCAST_EVENT"`.
std::string AgentConfigToEnvFile(const AgentConfig& c);

// A receiver list typed in a form: one entry per line, "name password"
// (separated by spaces or a tab; the password runs to the end of the line),
// or just "name" to keep a stored password (on edits). Blank lines and lines
// starting with '#' are skipped. Errors name the line.
struct ReceiverLine {
  std::string name;
  std::optional<std::string> password;
};
Result<std::vector<ReceiverLine>> ParseReceiverList(std::string_view text);

// application/x-www-form-urlencoded: bounded, '+' is a space, %XX escapes
// must be well-formed, each field at most once, names from [A-Za-z0-9_.-].
Result<std::map<std::string, std::string>> ParseForm(std::string_view body);
// A Cookie header: "a=b; c=d". Malformed pairs are skipped (browsers send
// what they have); a repeated name keeps the first value.
std::map<std::string, std::string> ParseCookies(std::string_view header);

// Money for people: 1234 -> "12.34 EUR". Parses "12.34", "12", "0.5".
std::string FormatMoney(int64_t cents, std::string_view currency);
Result<int64_t> ParseMoney(std::string_view text);

}  // namespace keycast::reservation
