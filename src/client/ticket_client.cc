// TicketClient: the ticket service over HTTP(S), with verification of every
// ticket against the keys the service publishes.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "keycast/client.h"
#include "keycast/crypto.h"

namespace keycast {
namespace {

using json = nlohmann::json;

constexpr int64_t kTicketClockSlackSeconds = 300;  // client clocks may lag this much

std::unique_ptr<httplib::Client> Connect(const std::string& url, const TicketClient::Options& o) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_connection_timeout(o.timeout_seconds, 0);
  c->set_read_timeout(o.timeout_seconds, 0);
  c->set_write_timeout(o.timeout_seconds, 0);
  if (!o.ca_file.empty()) c->set_ca_cert_path(o.ca_file.c_str());
  return c;
}

Status HttpError(const httplib::Result& r, const std::string& what) {
  if (!r) return Unavailable(what + ": " + httplib::to_string(r.error()));
  json j = json::parse(r->body, nullptr, false);
  std::string msg = j.is_object() && j.contains("error") ? j["error"].value("message", "") : r->body;
  Code code = r->status == 401 ? Code::kUnauthenticated
              : r->status == 404 ? Code::kNotFound
              : r->status == 409 ? Code::kFailedPrecondition
              : r->status >= 500 ? Code::kUnavailable
                                 : Code::kInvalidArgument;
  return Status(code, what + ": " + msg);
}

std::pair<httplib::Headers, json> AuthParts(const ClientCredentials& c) {
  httplib::Headers h;
  json body = json::object();
  if (!c.api_key.empty()) {
    h.emplace("Authorization", "Bearer " + c.api_key);
  } else {
    body["client"] = c.client;
    body["password"] = c.password;
  }
  return {h, body};
}

}  // namespace

TicketClient::TicketClient(std::string base_url, Options options)
    : base_url_(std::move(base_url)), options_(std::move(options)) {}

Result<Ticket> TicketClient::Verify(ByteView ticket) const {
  auto cli = Connect(base_url_, options_);
  auto r = cli->Get("/v1/ticket-keys");
  if (!r || r->status != 200) return HttpError(r, "fetching the ticket verification keys");
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["keys"].is_array()) return Unavailable("malformed verification key list");
  std::map<uint32_t, crypto::VerifyKey> keys;
  for (const auto& k : j["keys"]) {
    if (k.value("kind", "") != "ticket-signing") continue;
    Bytes pk;
    if (!Base64Decode(k.value("public_key", ""), &pk)) continue;
    auto vk = crypto::VerifyKey::FromBytes(pk);
    if (vk.ok()) keys.emplace(k.value("version", 0u), std::move(vk).value());
  }
  return VerifyTicket(
      ticket,
      [&](KeyVersion v) -> const crypto::VerifyKey* {
        auto it = keys.find(v.value);
        return it == keys.end() ? nullptr : &it->second;
      },
      SystemClock::Get().NowSeconds(), kTicketClockSlackSeconds);
}

Result<ClientSession> TicketClient::FromReply(const std::string& body) const {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return Unavailable("malformed ticket reply");
  ClientSession s;
  Bytes key;
  if (!Base64Decode(j.value("ticket", ""), &s.ticket_bytes) || !Base64Decode(j.value("session_key", ""), &key) ||
      key.size() != 32)
    return Unavailable("malformed ticket reply");
  s.session_key = SecretBytes(key);
  SecureWipe(key.data(), key.size());
  s.grant_digest = j.value("grant_digest", "");
  KC_ASSIGN_OR_RETURN(s.ticket, Verify(s.ticket_bytes));
  return s;
}

Result<ClientSession> TicketClient::Login(const ClientCredentials& creds) const {
  auto cli = Connect(base_url_, options_);
  auto [headers, body] = AuthParts(creds);
  auto r = cli->Post("/v1/tickets", headers, body.dump(), "application/json");
  if (!r || r->status != 200) return HttpError(r, "login");
  return FromReply(r->body);
}

Result<std::optional<ClientSession>> TicketClient::Watch(const ClientCredentials& creds, const std::string& digest,
                                                         int timeout_seconds) const {
  Options o = options_;
  o.timeout_seconds = timeout_seconds + o.timeout_seconds;
  auto cli = Connect(base_url_, o);
  auto [headers, body] = AuthParts(creds);
  body["digest"] = digest;
  body["timeout_seconds"] = timeout_seconds;
  auto r = cli->Post("/v1/tickets/watch", headers, body.dump(), "application/json");
  if (r && r->status == 204) return std::optional<ClientSession>();
  if (!r || r->status != 200) return HttpError(r, "watching for a new ticket");
  KC_ASSIGN_OR_RETURN(ClientSession s, FromReply(r->body));
  return std::optional<ClientSession>(std::move(s));
}

}  // namespace keycast
