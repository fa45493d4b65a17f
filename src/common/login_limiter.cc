#include "keycast/login_limiter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "keycast/metrics.h"

namespace keycast {
namespace {

// Keys: kind, separator, parts. The separator cannot occur in names or
// addresses.
constexpr char kSep = '\x1f';
constexpr char kPair = 'p', kAddress = 'a', kAccount = 'n';
constexpr int64_t kPurgeEveryMicros = 60 * kMicrosPerSecond;

struct LimiterMetrics {
  Counter& admitted = Metrics::Global().GetCounter("keycast_login_attempts_total",
                                                   "Password attempts by the limiter's answer.",
                                                   "result=\"admitted\"");
  Counter& throttled = Metrics::Global().GetCounter("keycast_login_attempts_total",
                                                    "Password attempts by the limiter's answer.",
                                                    "result=\"throttled\"");
  Counter& backoffs = Metrics::Global().GetCounter(
      "keycast_login_backoffs_total", "Back-off steps started by failed password attempts.");
  Counter& evicted = Metrics::Global().GetCounter(
      "keycast_login_limiter_evictions_total", "Keys dropped from the full login limiter table.");
  static LimiterMetrics& Get() {
    static LimiterMetrics m;
    return m;
  }
};

int64_t BackoffSeconds(uint32_t step, int64_t base, int64_t max) {
  int64_t s = std::max<int64_t>(base, 1);
  for (uint32_t i = 0; i < step && s < max; ++i) s *= 2;
  return std::min(s, max);
}

}  // namespace

LoginLimiter::LoginLimiter(const Clock* clock, LoginLimits limits)
    : clock_(clock), limits_(limits), report_tokens_(limits.reports_per_minute) {}

LoginLimiter::~LoginLimiter() = default;

LoginLimiter::Attempt::Attempt(Attempt&& o) noexcept : l_(o.l_), keys_(std::move(o.keys_)) {
  o.l_ = nullptr;
}

LoginLimiter::Attempt::~Attempt() {
  if (l_) l_->Finish(keys_, Outcome::kReleased);
}

void LoginLimiter::Attempt::Succeeded() {
  if (l_) l_->Finish(keys_, Outcome::kSucceeded);
  l_ = nullptr;
}

void LoginLimiter::Attempt::Failed() {
  if (l_) l_->Finish(keys_, Outcome::kFailed);
  l_ = nullptr;
}

bool LoginLimiter::Stale(const Entry& e, int64_t now) const {
  return e.pending == 0 && now >= e.blocked_until &&
         now - e.last_failure >= limits_.memory_seconds * kMicrosPerSecond;
}

void LoginLimiter::PurgeLocked(int64_t now) {
  for (auto it = table_.begin(); it != table_.end();)
    it = Stale(it->second, now) ? table_.erase(it) : std::next(it);
}

void LoginLimiter::MakeRoomLocked(int64_t now) {
  PurgeLocked(now);
  if (table_.size() < limits_.max_entries) return;
  // Drop an eighth at once, so a full table costs one scan per many inserts.
  size_t target = limits_.max_entries - limits_.max_entries / 8;
  struct Candidate {
    bool blocking;
    int64_t when;
    std::unordered_map<std::string, Entry>::iterator it;
  };
  std::vector<Candidate> c;
  c.reserve(table_.size());
  for (auto it = table_.begin(); it != table_.end(); ++it) {
    if (it->second.pending) continue;
    bool blocking = now < it->second.blocked_until;
    c.push_back({blocking, blocking ? it->second.blocked_until : it->second.last_failure, it});
  }
  size_t drop = std::min(c.size(), table_.size() - target);
  auto less = [](const Candidate& a, const Candidate& b) {
    return a.blocking != b.blocking ? !a.blocking : a.when < b.when;
  };
  if (drop < c.size()) std::nth_element(c.begin(), c.begin() + drop, c.end(), less);
  for (size_t i = 0; i < drop; ++i) table_.erase(c[i].it);
  LimiterMetrics::Get().evicted.Inc(drop);
}

Result<LoginLimiter::Attempt> LoginLimiter::Admit(std::string_view account, const PeerKey* address,
                                                  int64_t* retry_after_seconds) {
  std::vector<std::string> keys;
  std::vector<uint32_t> frees;
  std::string acc(account);
  if (address) {
    std::string a = address->ToString();
    keys.push_back(std::string(1, kPair) + kSep + acc + kSep + a);
    frees.push_back(limits_.free_per_account_and_address);
    keys.push_back(std::string(1, kAddress) + kSep + a);
    frees.push_back(limits_.free_per_address);
  }
  keys.push_back(std::string(1, kAccount) + kSep + acc);
  frees.push_back(limits_.free_per_account);

  std::lock_guard<std::mutex> l(mu_);
  const int64_t now = clock_->Now();
  if (now >= next_purge_) {
    PurgeLocked(now);
    next_purge_ = now + kPurgeEveryMicros;
  }
  if (table_.size() + keys.size() > limits_.max_entries) MakeRoomLocked(now);
  int64_t wait = 0;
  for (const auto& k : keys) {
    auto it = table_.find(k);
    if (it == table_.end()) continue;
    Entry& e = it->second;
    if (Stale(e, now)) e.failures = 0;
    int64_t w = 0;
    if (now < e.blocked_until)
      w = e.blocked_until - now;
    else if (e.pending > 0 && e.failures + e.pending >= e.free)
      w = kMicrosPerSecond;  // its last free tries, or a blocked key's one try, are in flight
    if (w > 0) {
      e.refused++;
      wait = std::max(wait, w);
    }
  }
  if (wait > 0) {
    LimiterMetrics::Get().throttled.Inc();
    int64_t s = std::max<int64_t>(1, (wait + kMicrosPerSecond - 1) / kMicrosPerSecond);
    if (retry_after_seconds) *retry_after_seconds = s;
    return ResourceExhausted("too many failed sign-in attempts; retry in " + std::to_string(s) +
                             " s");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto [it, inserted] = table_.try_emplace(keys[i]);
    if (inserted) it->second.free = frees[i];
    it->second.pending++;
  }
  LimiterMetrics::Get().admitted.Inc();
  return Attempt(this, std::move(keys));
}

void LoginLimiter::Finish(const std::vector<std::string>& keys, Outcome outcome) {
  std::vector<LoginBackoff> reports;
  {
    std::lock_guard<std::mutex> l(mu_);
    const int64_t now = clock_->Now();
    for (const auto& k : keys) {
      auto it = table_.find(k);
      if (it == table_.end()) continue;
      Entry& e = it->second;
      if (e.pending) e.pending--;
      if (outcome == Outcome::kSucceeded && k[0] != kAddress) {
        e.failures = 0;
        e.blocked_until = 0;
      } else if (outcome == Outcome::kFailed) {
        e.failures++;
        e.last_failure = now;
        if (e.failures >= e.free) {
          int64_t secs = BackoffSeconds(e.failures - e.free, limits_.backoff_base_seconds,
                                        limits_.backoff_max_seconds);
          e.blocked_until = now + secs * kMicrosPerSecond;
          LimiterMetrics::Get().backoffs.Inc();
          double per_minute = limits_.reports_per_minute;
          report_tokens_ =
              std::min(per_minute,
                       report_tokens_ + per_minute * static_cast<double>(now - report_refill_at_) /
                                            (60.0 * kMicrosPerSecond));
          report_refill_at_ = now;
          if (report_tokens_ >= 1) {
            report_tokens_ -= 1;
            reports.push_back(
                LoginBackoff{Describe(k), e.failures, secs, e.refused, reports_suppressed_});
            reports_suppressed_ = 0;
            e.refused = 0;
          } else {
            reports_suppressed_++;
          }
        }
      }
      if (e.pending == 0 && e.failures == 0 && now >= e.blocked_until) table_.erase(it);
    }
  }
  for (const auto& r : reports) {
    spdlog::warn("password attempts on {}: {} failures, backing off {} s", r.key, r.failures,
                 r.seconds);
    if (hook_) hook_(r);
  }
}

std::string LoginLimiter::Describe(const std::string& key) {
  std::string_view k(key);
  k.remove_prefix(2);
  switch (key[0]) {
    case kPair: {
      size_t s = k.find(kSep);
      return std::string(k.substr(0, s)) + " from " + std::string(k.substr(s + 1));
    }
    case kAddress:
      return "address " + std::string(k);
    default:
      return std::string(k);
  }
}

size_t LoginLimiter::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return table_.size();
}

}  // namespace keycast
