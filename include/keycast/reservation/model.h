// The records of the reservation platform (seed 002): reservations filed by
// senders, their admission policy (a receiver list with Argon2id password
// hashes, admitted directory groups, a price), the access granted to
// receivers, and the billing ledger. Stored through Store/StoreTxn
// (keycast/store.h); docs/reservations.md describes each field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/schedule.h"
#include "keycast/types.h"

namespace keycast {

using ReservationId = Id<struct ReservationTag>;

// Where the multicast SA comes from.
//  kGenerated: Keycast creates a directory event for the reservation (sender
//    = the sending client); the key service issues its interval keys and
//    refreshes them (forward security windows, live revocation).
//  kProvided: the sender brings one static SA (SPI, algorithm, key); approved
//    receivers get it as is. It cannot be refreshed or revoked.
enum class SaMode : uint8_t { kGenerated = 1, kProvided = 2 };
inline std::string_view SaModeName(SaMode m) {
  return m == SaMode::kProvided ? "provided" : "generated";
}
inline bool ParseSaMode(std::string_view s, SaMode* out) {
  if (s == "generated")
    *out = SaMode::kGenerated;
  else if (s == "provided")
    *out = SaMode::kProvided;
  else
    return false;
  return true;
}

enum class ReservationStatus : uint8_t { kActive = 1, kCancelled = 2 };
inline std::string_view ReservationStatusName(ReservationStatus s) {
  return s == ReservationStatus::kCancelled ? "cancelled" : "active";
}
inline bool ParseReservationStatus(std::string_view s, ReservationStatus* out) {
  if (s == "active")
    *out = ReservationStatus::kActive;
  else if (s == "cancelled")
    *out = ReservationStatus::kCancelled;
  else
    return false;
  return true;
}

struct Reservation {
  ReservationId id;
  std::string name;  // unique; receivers find the transmission by it
  std::string title;
  ClientId sender;          // the sending client (directory)
  Schedule schedule;        // date, time of day, duration, recurrence
  IpAddress group_address;  // multicast destination
  uint16_t port = 0;
  IpAddress source_address;  // optional (SSM source); empty = any
  SaMode sa_mode = SaMode::kGenerated;
  EventId event;  // kGenerated: the directory event; else invalid
  GroupId group;  // kGenerated: the reservation's group; else invalid
  Spi spi;        // kProvided: the SA's SPI
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  Bytes sealed_sa_key;           // kProvided: the SA key sealed under the KEK
  int64_t price_cents = 0;       // per receiver; 0 = free
  std::string currency = "EUR";  // ISO 4217
  ReservationStatus status = ReservationStatus::kActive;
  uint64_t version = 1;  // bumped on every change
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t cancelled_at = 0;  // 0 = not cancelled
};

// One entry of a reservation's list of authorised receivers.
struct ReservationReceiver {
  std::string name;
  std::string password_hash;  // Argon2id encoded hash; never the password
};

// Access granted to one receiver of one reservation.
struct AccessGrant {
  int64_t id = 0;
  ReservationId reservation;
  std::string receiver;          // the name the receiver gave
  ClientId client;               // kGenerated: the directory client created for it
  std::string via;               // "list", "payment", "list+payment", "group"
  int64_t ledger_id = 0;         // the charge that paid for it; 0 = free
  Bytes sealed_credential;       // the agent configuration, sealed under the KEK
  std::string card_fingerprint;  // hex HMAC of the card number; "" when unpaid
  int64_t created_at = 0;
  int64_t revoked_at = 0;  // 0 = live
};

// A row of the billing ledger. A charge is created "pending" before the
// payment provider is asked, then becomes "approved" or "declined" (or
// "error" when the provider failed). A refund is a separate row with a
// negative amount and refund_of naming the charge.
struct LedgerEntry {
  int64_t id = 0;
  ReservationId reservation;
  std::string receiver;
  std::string kind;          // "charge" or "refund"
  std::string status;        // "pending", "approved", "declined", "error"
  int64_t amount_cents = 0;  // charges > 0, refunds < 0
  std::string currency;
  std::string idempotency_key;  // charges: unique per request; refunds: ""
  int64_t refund_of = 0;        // refunds: the charge's id
  std::string provider;         // "test", ...
  std::string provider_ref;     // the provider's id of the payment
  std::string card_last4;
  std::string card_fingerprint;
  std::string reason;  // why declined / failed; "" otherwise
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

}  // namespace keycast
