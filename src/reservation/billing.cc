#include "keycast/reservation/billing.h"

#include <cctype>
#include <ctime>

namespace keycast {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return !s.empty();
}

}  // namespace

bool LuhnValid(std::string_view digits) {
  if (!AllDigits(digits)) return false;
  int sum = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

Result<Card> ParseCard(std::string_view number, std::string_view expiry, std::string_view cvc,
                       int64_t now_seconds) {
  Card c;
  for (char ch : number) {
    if (ch == ' ' || ch == '-') continue;
    if (!std::isdigit(static_cast<unsigned char>(ch)))
      return InvalidArgument("card number may contain only digits");
    c.number.push_back(ch);
  }
  if (c.number.size() < 12 || c.number.size() > 19)
    return InvalidArgument("card number must have 12-19 digits");
  if (!LuhnValid(c.number))
    return InvalidArgument("card number fails its check digit; check for a typo");
  // Expiry: MM/YY or MM/YYYY.
  size_t slash = expiry.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 2)
    return InvalidArgument("card expiry must be MM/YY");
  std::string_view mm = expiry.substr(0, slash), yy = expiry.substr(slash + 1);
  if (!AllDigits(mm) || !AllDigits(yy) || (yy.size() != 2 && yy.size() != 4))
    return InvalidArgument("card expiry must be MM/YY");
  c.exp_month = std::stoi(std::string(mm));
  c.exp_year = std::stoi(std::string(yy));
  if (yy.size() == 2) c.exp_year += 2000;
  if (c.exp_month < 1 || c.exp_month > 12)
    return InvalidArgument("card expiry month must be 01-12");
  std::time_t t = static_cast<std::time_t>(now_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int now_year = tm.tm_year + 1900, now_month = tm.tm_mon + 1;
  if (c.exp_year < now_year || (c.exp_year == now_year && c.exp_month < now_month))
    return InvalidArgument("the card has expired");
  if (c.exp_year > now_year + 30) return InvalidArgument("card expiry year is too far ahead");
  if (!AllDigits(cvc) || cvc.size() < 3 || cvc.size() > 4)
    return InvalidArgument("card security code must be 3 or 4 digits");
  c.cvc = std::string(cvc);
  return c;
}

Result<ChargeOutcome> TestPaymentProvider::Charge(const ChargeRequest& request) {
  if (request.amount_cents <= 0) return InvalidArgument("charge amount must be positive");
  if (request.idempotency_key.empty()) return InvalidArgument("charges need an idempotency key");
  std::lock_guard<std::mutex> l(mu_);
  auto it = charges_.find(request.idempotency_key);
  if (it != charges_.end()) return it->second;
  const std::string& n = request.card.number;
  ChargeOutcome out;
  if (n == "4000000000000119") return Unavailable("payment provider: processing error, try again");
  out.reference = "test_ch_" + std::to_string(next_++);
  if (n == "4242424242424242" || n == "5555555555554444") {
    out.approved = true;
    approved_[out.reference] = request.amount_cents;
  } else if (n == "4000000000000002") {
    out.reason = "card declined";
  } else if (n == "4000000000009995") {
    out.reason = "insufficient funds";
  } else {
    out.reason = "not a test card (the test provider approves 4242 4242 4242 4242)";
  }
  charges_.emplace(request.idempotency_key, out);
  return out;
}

Result<std::string> TestPaymentProvider::Refund(const std::string& reference, int64_t amount_cents,
                                                const std::string& idempotency_key) {
  std::lock_guard<std::mutex> l(mu_);
  auto done = refunds_.find(idempotency_key);
  if (done != refunds_.end()) return done->second;
  auto it = approved_.find(reference);
  if (it == approved_.end()) return NotFound("payment provider: no refundable charge " + reference);
  if (it->second != amount_cents)
    return InvalidArgument("payment provider: refund amount differs from the charge");
  approved_.erase(it);
  std::string ref = "test_re_" + std::to_string(next_++);
  refunds_.emplace(idempotency_key, ref);
  return ref;
}

size_t TestPaymentProvider::charges() const {
  std::lock_guard<std::mutex> l(mu_);
  return charges_.size();
}

size_t TestPaymentProvider::refunds() const {
  std::lock_guard<std::mutex> l(mu_);
  return refunds_.size();
}

}  // namespace keycast
