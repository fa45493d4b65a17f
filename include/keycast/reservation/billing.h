// Payments for the reservation platform (seed 002 [0010], [0022]: the
// platform bills receivers on the sender's behalf, so receivers never give a
// card number to an unfamiliar sender).
//
// PaymentProvider is the seam to a card processor. Keycast ships one
// implementation, the test provider, which approves or declines by card
// number like the sandboxes of real processors:
//
//   4242 4242 4242 4242   approved
//   5555 5555 5555 4444   approved
//   4000 0000 0000 0002   declined ("card declined")
//   4000 0000 0000 9995   declined ("insufficient funds")
//   4000 0000 0000 0119   provider error (Unavailable: try again)
//   any other number      declined ("not a test card")
//
// The ledger (keycast/reservation/model.h, LedgerEntry) records every charge
// in the store before the provider is asked, keyed by the request's
// idempotency key, so a retried or doubled request charges once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "keycast/bytes.h"
#include "keycast/status.h"

namespace keycast {

// A payment card as a receiver typed it, validated.
struct Card {
  std::string number;  // digits only, 12-19, passes the Luhn check
  int exp_month = 0;   // 1-12
  int exp_year = 0;    // four digits
  std::string cvc;     // 3-4 digits

  std::string last4() const {
    return number.size() >= 4 ? number.substr(number.size() - 4) : number;
  }
};

// Parses and checks a card: number (spaces and dashes allowed), expiry
// "MM/YY" or "MM/YYYY", CVC. now_seconds rejects expired cards. The error
// names the field ("card number fails its check digit"), never the number.
Result<Card> ParseCard(std::string_view number, std::string_view expiry, std::string_view cvc,
                       int64_t now_seconds);
// True when the digits pass the Luhn check.
bool LuhnValid(std::string_view digits);

struct ChargeRequest {
  std::string idempotency_key;  // the same key never charges twice
  int64_t amount_cents = 0;     // > 0
  std::string currency;         // ISO 4217
  Card card;
  std::string description;  // shown on the statement
};

struct ChargeOutcome {
  bool approved = false;
  std::string reference;  // the provider's payment id (approved or declined)
  std::string reason;     // why declined; "" when approved
};

// Thread safety: implementations must be safe for concurrent use.
class PaymentProvider {
 public:
  virtual ~PaymentProvider() = default;
  virtual std::string name() const = 0;
  // Approved or declined (both ok); an error status means the outcome is
  // unknown or the provider failed (retry with the same idempotency key).
  virtual Result<ChargeOutcome> Charge(const ChargeRequest& request) = 0;
  // Refunds a whole approved charge. Idempotent per idempotency_key.
  virtual Result<std::string> Refund(const std::string& reference, int64_t amount_cents,
                                     const std::string& idempotency_key) = 0;
};

// The test provider described above. Keeps its own idempotency table, like a
// real processor, so a retried Charge returns the first outcome.
class TestPaymentProvider final : public PaymentProvider {
 public:
  std::string name() const override { return "test"; }
  Result<ChargeOutcome> Charge(const ChargeRequest& request) override;
  Result<std::string> Refund(const std::string& reference, int64_t amount_cents,
                             const std::string& idempotency_key) override;

  // For tests: how many distinct charges / refunds the provider performed.
  size_t charges() const;
  size_t refunds() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, ChargeOutcome> charges_;  // idempotency key -> outcome
  std::map<std::string, std::string> refunds_;    // idempotency key -> refund reference
  std::map<std::string, int64_t> approved_;       // reference -> amount, not yet refunded
  uint64_t next_ = 1;
};

}  // namespace keycast
