// Rate limiting of password attempts with exponential back-off (like MIT
// krb5's lockout policy, without its permanent lock), applied before any
// Argon2id work is done.
//
// An attempt names an account ("client:alice", "receiver:<transmission>/bob")
// and, when it comes from the network, the peer's address (PeerKey: an
// IPv4 address or an IPv6 /64). It is counted on three keys, each with its
// own allowance of free failures (keycast/limits.h):
//
//   account from address   kLoginFreeFailuresPerAccountAndAddress (5)
//   address                kLoginFreeFailuresPerAddress (20), any accounts
//   account                kLoginFreeFailuresPerAccount (50), all addresses
//
// The n-th failure from a key's last free one on blocks that key for
// kLoginBackoffBaseSeconds * 2^(n-1) seconds, at most kLoginBackoffMaxSeconds.
// While any key of an attempt is blocked the attempt is refused at once
// with the seconds until it may retry. So one address guessing at one
// account gets 5 tries and then one per growing interval; the account's
// owner elsewhere keeps signing in unless the account itself is under
// attack from many addresses (50 failures), which only then locks the owner
// out for the back-off too. A success clears the account's two keys but not
// the address's: the owner of one account must not be able to clear the
// block earned by guessing at others. Past its free failures a key admits
// one attempt at a time, so parallel requests cannot overrun the count.
//
// Memory is bounded: at most kLoginLimiterMaxEntries keys. A key is forgotten
// kLoginFailureMemorySeconds after its last failure once it is not blocked;
// when the table is full the least valuable keys go first (those not
// blocking, oldest failure first; then blocked ones whose block ends first),
// so spraying names or addresses cannot grow it or lift the blocks that
// matter.
//
// Every back-off step is reported to the hook (the directory writes an
// audit record), at most kLoginAuditRecordsPerMinute in all; reports over
// the rate are counted in the next one delivered.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "keycast/clock.h"
#include "keycast/limits.h"
#include "keycast/peer_key.h"
#include "keycast/status.h"

namespace keycast {

// Where a password attempt comes from, and what the limiter answered.
struct LoginOrigin {
  std::string address;              // the peer's IP address; "" = not from the network
  int64_t retry_after_seconds = 0;  // set when the limiter refused the attempt
};

struct LoginLimits {
  uint32_t free_per_account_and_address = limits::kLoginFreeFailuresPerAccountAndAddress;
  uint32_t free_per_address = limits::kLoginFreeFailuresPerAddress;
  uint32_t free_per_account = limits::kLoginFreeFailuresPerAccount;
  int64_t backoff_base_seconds = limits::kLoginBackoffBaseSeconds;
  int64_t backoff_max_seconds = limits::kLoginBackoffMaxSeconds;
  int64_t memory_seconds = limits::kLoginFailureMemorySeconds;
  size_t max_entries = limits::kLoginLimiterMaxEntries;
  uint32_t reports_per_minute = limits::kLoginAuditRecordsPerMinute;
};

// A key starting (or lengthening) its back-off.
struct LoginBackoff {
  std::string key;          // "client:alice", "address 192.0.2.7", "client:alice from 192.0.2.7"
  uint32_t failures = 0;    // on this key, within the memory
  int64_t seconds = 0;      // blocked for
  uint64_t refused = 0;     // attempts refused on this key since its previous report
  uint64_t suppressed = 0;  // reports dropped by the rate bound since the previous one
};

class LoginLimiter {
 public:
  using BackoffHook = std::function<void(const LoginBackoff&)>;

  explicit LoginLimiter(const Clock* clock, LoginLimits limits = {});
  ~LoginLimiter();

  // An admitted attempt. Call Succeeded or Failed once its password was
  // checked; an attempt dropped without either (a fault that says nothing
  // about the password) is released uncounted.
  class Attempt {
   public:
    Attempt(Attempt&& o) noexcept;
    Attempt& operator=(Attempt&&) = delete;
    ~Attempt();
    void Succeeded();
    void Failed();

   private:
    friend class LoginLimiter;
    Attempt(LoginLimiter* l, std::vector<std::string> keys) : l_(l), keys_(std::move(keys)) {}
    LoginLimiter* l_;
    std::vector<std::string> keys_;
  };

  // Admits an attempt on `account` from `address` (nullptr: in-process, the
  // account key only), or refuses it with ResourceExhausted and sets
  // *retry_after_seconds (>= 1).
  Result<Attempt> Admit(std::string_view account, const PeerKey* address,
                        int64_t* retry_after_seconds);

  // REQUIRES: set before the first Admit.
  void SetBackoffHook(BackoffHook hook) { hook_ = std::move(hook); }

  size_t size() const;  // keys tracked now

 private:
  struct Entry {
    uint32_t failures = 0;
    uint32_t pending = 0;       // attempts admitted, outcome not yet known
    uint32_t free = 0;          // failures allowed before back-off
    int64_t last_failure = 0;   // micros
    int64_t blocked_until = 0;  // micros
    uint64_t refused = 0;
  };
  enum class Outcome { kSucceeded, kFailed, kReleased };
  void Finish(const std::vector<std::string>& keys, Outcome outcome);
  bool Stale(const Entry& e, int64_t now) const;
  void MakeRoomLocked(int64_t now);
  void PurgeLocked(int64_t now);
  static std::string Describe(const std::string& key);

  const Clock* clock_;
  const LoginLimits limits_;
  BackoffHook hook_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> table_;  // GUARDED_BY(mu_)
  int64_t next_purge_ = 0;                        // GUARDED_BY(mu_)
  double report_tokens_;                          // GUARDED_BY(mu_)
  int64_t report_refill_at_ = 0;                  // GUARDED_BY(mu_)
  uint64_t reports_suppressed_ = 0;               // GUARDED_BY(mu_)
};

}  // namespace keycast
