// Browser sign-in sessions and CSRF tokens of Keycast's web pages (the
// reservation pages and the operator console).
//
// A session token ("kcs_" + 64 hex) is handed out once at sign-in; only its
// SHA-256 is kept, in memory, with the session's subject (who signed in)
// and an expiry: sliding (idle_seconds), bound by an absolute lifetime.
// Pages take it as an HttpOnly, SameSite=Strict cookie. Sessions do not
// survive a restart of the server (users sign in again).
//
// CSRF (web forms): every browser gets a random "kc_csrf" cookie; forms carry
// HMAC(key, "csrf" || cookie) in a hidden field, checked on every POST
// (signed double-submit). The key is the server's secret, so a token cannot
// be computed from the cookie alone; two stores with different keys accept
// different tokens for the same cookie.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "keycast/bytes.h"
#include "keycast/clock.h"

namespace keycast::web {

inline constexpr size_t kMaxSessions = 100000;
inline constexpr int64_t kSessionIdleSeconds = 3600;  // default sliding expiry

// What every session store shares: tokens, their digests, and CSRF.
class SessionKeys {
 public:
  // mac_key: 32 bytes.
  explicit SessionKeys(SecretBytes mac_key) : mac_key_(std::move(mac_key)) {}

  // A fresh random value for the kc_csrf cookie.
  static std::string NewCsrfCookie();
  // The form token for a kc_csrf cookie value.
  std::string CsrfToken(const std::string& cookie_value) const;
  // Constant-time check of a form token; false for empty or short cookies.
  bool CheckCsrf(const std::string& cookie_value, const std::string& token) const;

 protected:
  static std::string NewToken();
  static bool WellFormed(const std::string& token);
  static std::string Digest(const std::string& token);

 private:
  SecretBytes mac_key_;
};

// Sessions whose subject is a Subject (copyable): a sender's identity, an
// operator's admin credential.
template <typename Subject>
class SessionStore : public SessionKeys {
 public:
  // lifetime_seconds: absolute lifetime of a session; idle_seconds: how
  // long an unused session lives.
  SessionStore(const Clock* clock, SecretBytes mac_key, int64_t lifetime_seconds,
               int64_t idle_seconds = kSessionIdleSeconds)
      : SessionKeys(std::move(mac_key)),
        clock_(clock),
        lifetime_(lifetime_seconds),
        idle_(idle_seconds) {}

  // Returns the new token (shown once).
  std::string Create(const Subject& subject) {
    std::string token = NewToken();
    int64_t now = clock_->NowSeconds();
    std::lock_guard<std::mutex> l(mu_);
    if (sessions_.size() >= kMaxSessions) PurgeLocked(now);
    if (sessions_.size() >= kMaxSessions) sessions_.erase(sessions_.begin());
    sessions_[Digest(token)] = Entry{subject, now, now};
    return token;
  }
  // The session's subject, or nullopt when unknown or expired.
  std::optional<Subject> Find(const std::string& token) {
    if (!WellFormed(token)) return std::nullopt;
    int64_t now = clock_->NowSeconds();
    std::lock_guard<std::mutex> l(mu_);
    auto it = sessions_.find(Digest(token));
    if (it == sessions_.end()) return std::nullopt;
    if (Expired(it->second, now)) {
      sessions_.erase(it);
      return std::nullopt;
    }
    it->second.last_used = now;
    return it->second.subject;
  }
  void Remove(const std::string& token) {
    std::lock_guard<std::mutex> l(mu_);
    sessions_.erase(Digest(token));
  }
  size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return sessions_.size();
  }

 private:
  struct Entry {
    Subject subject;
    int64_t created = 0;
    int64_t last_used = 0;
  };
  bool Expired(const Entry& e, int64_t now) const {
    return now - e.created >= lifetime_ || now - e.last_used >= idle_;
  }
  void PurgeLocked(int64_t now) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (Expired(it->second, now))
        it = sessions_.erase(it);
      else
        ++it;
    }
  }

  const Clock* clock_;
  int64_t lifetime_, idle_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sessions_;  // hex SHA-256(token) -> entry
};

}  // namespace keycast::web
