// Sender sign-in sessions and CSRF tokens of the reservation platform.
//
// A session token ("kcs_" + 64 hex) is handed out once at sign-in; only its
// SHA-256 is kept, in memory, with the sender and an expiry (sliding, bound
// by an absolute lifetime). The API takes it as a bearer token, the web
// pages as an HttpOnly, SameSite=Strict cookie. Sessions do not survive a
// restart of the server (senders sign in again).
//
// CSRF (web forms): every browser gets a random "kc_csrf" cookie; forms carry
// HMAC(key, "csrf" || cookie) in a hidden field, checked on every POST
// (signed double-submit). The key is the platform's secret, so a token cannot
// be computed from the cookie alone.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/reservation.h"

namespace keycast::reservation {

inline constexpr size_t kMaxSessions = 100000;
inline constexpr int64_t kSessionIdleSeconds = 3600;  // sliding expiry

class SessionStore {
 public:
  // mac_key: 32 bytes. lifetime_seconds: absolute lifetime of a session.
  SessionStore(const Clock* clock, SecretBytes mac_key, int64_t lifetime_seconds);

  // Returns the new token (shown once).
  std::string Create(const SenderIdentity& sender);
  // The session's sender, or nullopt when unknown or expired.
  std::optional<SenderIdentity> Find(const std::string& token);
  void Remove(const std::string& token);
  size_t size() const;

  // A fresh random value for the kc_csrf cookie.
  static std::string NewCsrfCookie();
  // The form token for a kc_csrf cookie value.
  std::string CsrfToken(const std::string& cookie_value) const;
  // Constant-time check of a form token; false for empty or short cookies.
  bool CheckCsrf(const std::string& cookie_value, const std::string& token) const;

 private:
  struct Entry {
    SenderIdentity sender;
    int64_t created = 0;
    int64_t last_used = 0;
  };
  void PurgeLocked(int64_t now);

  const Clock* clock_;
  SecretBytes mac_key_;
  int64_t lifetime_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sessions_;  // hex SHA-256(token) -> entry
};

}  // namespace keycast::reservation
