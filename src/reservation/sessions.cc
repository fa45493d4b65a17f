#include "reservation/sessions.h"

#include "keycast/crypto.h"

namespace keycast::reservation {
namespace {

std::string Digest(const std::string& token) {
  auto d = crypto::Sha256(AsBytes(token));
  return ToHex(ByteView(d.data(), d.size()));
}

}  // namespace

SessionStore::SessionStore(const Clock* clock, SecretBytes mac_key, int64_t lifetime_seconds)
    : clock_(clock), mac_key_(std::move(mac_key)), lifetime_(lifetime_seconds) {}

void SessionStore::PurgeLocked(int64_t now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.created >= lifetime_ || now - it->second.last_used >= kSessionIdleSeconds)
      it = sessions_.erase(it);
    else
      ++it;
  }
}

std::string SessionStore::Create(const SenderIdentity& sender) {
  std::string token = "kcs_" + ToHex(crypto::RandomBytes(32));
  int64_t now = clock_->NowSeconds();
  std::lock_guard<std::mutex> l(mu_);
  if (sessions_.size() >= kMaxSessions) PurgeLocked(now);
  if (sessions_.size() >= kMaxSessions) sessions_.erase(sessions_.begin());
  sessions_[Digest(token)] = Entry{sender, now, now};
  return token;
}

std::optional<SenderIdentity> SessionStore::Find(const std::string& token) {
  if (token.size() != 68 || token.rfind("kcs_", 0) != 0) return std::nullopt;
  int64_t now = clock_->NowSeconds();
  std::lock_guard<std::mutex> l(mu_);
  auto it = sessions_.find(Digest(token));
  if (it == sessions_.end()) return std::nullopt;
  if (now - it->second.created >= lifetime_ || now - it->second.last_used >= kSessionIdleSeconds) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_used = now;
  return it->second.sender;
}

void SessionStore::Remove(const std::string& token) {
  std::lock_guard<std::mutex> l(mu_);
  sessions_.erase(Digest(token));
}

size_t SessionStore::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.size();
}

std::string SessionStore::NewCsrfCookie() { return ToHex(crypto::RandomBytes(24)); }

std::string SessionStore::CsrfToken(const std::string& cookie_value) const {
  Bytes msg = ToBytes("keycast v1 web csrf ");
  msg.insert(msg.end(), cookie_value.begin(), cookie_value.end());
  auto mac = crypto::HmacSha256(mac_key_.reveal(), msg);
  return ToHex(ByteView(mac.data(), mac.size()));
}

bool SessionStore::CheckCsrf(const std::string& cookie_value, const std::string& token) const {
  if (cookie_value.size() < 32 || token.size() != 64) return false;
  std::string want = CsrfToken(cookie_value);
  return ConstantTimeEquals(AsBytes(want), AsBytes(token));
}

}  // namespace keycast::reservation
