#include "cli/session.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "keycast/codec.h"

namespace keycast::cli {

using json = nlohmann::json;

std::string DefaultSessionPath() {
  if (const char* s = std::getenv("KEYCAST_SESSION"); s && *s) return s;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.keycast/session.json";
}

Status SaveSession(const std::string& path, const std::string& addr, const ClientSession& s) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos) ::mkdir(path.substr(0, slash).c_str(), 0700);
  json j = {{"addr", addr},
            {"ticket", Base64Encode(s.ticket_bytes)},
            {"session_key", Base64Encode(s.session_key.reveal())},
            {"grant_digest", s.grant_digest},
            {"expires_at", s.ticket.expires_at}};
  std::string tmp = path + ".tmp";
  {
    mode_t old = ::umask(077);
    std::ofstream out(tmp, std::ios::trunc);
    ::umask(old);
    out << j.dump() << "\n";
    if (!out) return Unavailable("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Unavailable("cannot write " + path);
  return Status::Ok();
}

Result<ClientSession> LoadSessionFile(const std::string& path, const std::string& ca_file,
                                      std::string* addr) {
  std::ifstream in(path);
  if (!in)
    return NotFound("no session in " + path +
                    "; run `keycast client login` first or give credentials");
  json j = json::parse(in, nullptr, false);
  if (!j.is_object()) return InvalidArgument(path + " is not a Keycast session file");
  ClientSession s;
  Bytes key;
  if (!Base64Decode(j.value("ticket", ""), &s.ticket_bytes) ||
      !Base64Decode(j.value("session_key", ""), &key) || key.size() != 32)
    return InvalidArgument(path + " is damaged; log in again");
  s.session_key = SecretBytes(key);
  SecureWipe(key.data(), key.size());
  s.grant_digest = j.value("grant_digest", "");
  *addr = j.value("addr", "");
  TicketClient tc(*addr, TicketClient::Options{10, ca_file});
  KC_ASSIGN_OR_RETURN(s.ticket, tc.Verify(s.ticket_bytes));
  auto rekey = tc.RekeyKeys();
  if (rekey.ok()) s.rekey_keys = std::move(rekey).value();
  return s;
}

}  // namespace keycast::cli
