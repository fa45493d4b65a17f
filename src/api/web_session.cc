#include "keycast/web_session.h"

#include "keycast/crypto.h"

namespace keycast::web {

std::string SessionKeys::NewToken() { return "kcs_" + ToHex(crypto::RandomBytes(32)); }

bool SessionKeys::WellFormed(const std::string& token) {
  return token.size() == 68 && token.rfind("kcs_", 0) == 0;
}

std::string SessionKeys::Digest(const std::string& token) {
  auto d = crypto::Sha256(AsBytes(token));
  return ToHex(ByteView(d.data(), d.size()));
}

std::string SessionKeys::NewCsrfCookie() { return ToHex(crypto::RandomBytes(24)); }

std::string SessionKeys::CsrfToken(const std::string& cookie_value) const {
  Bytes msg = ToBytes("keycast v1 web csrf ");
  msg.insert(msg.end(), cookie_value.begin(), cookie_value.end());
  auto mac = crypto::HmacSha256(mac_key_.reveal(), msg);
  return ToHex(ByteView(mac.data(), mac.size()));
}

bool SessionKeys::CheckCsrf(const std::string& cookie_value, const std::string& token) const {
  if (cookie_value.size() < 32 || token.size() != 64) return false;
  std::string want = CsrfToken(cookie_value);
  return ConstantTimeEquals(AsBytes(want), AsBytes(token));
}

}  // namespace keycast::web
