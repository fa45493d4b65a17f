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
  std::string msg =
      j.is_object() && j.contains("error") ? j["error"].value("message", "") : r->body;
  Code code = r->status == 401   ? Code::kUnauthenticated
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
  return VerifyWithKeys(ticket, nullptr);
}

// One GET /v1/ticket-keys: verifies the ticket with the ticket-signing keys
// and, when asked, returns the rekey-signing keys (for pushes) too.
Result<Ticket> TicketClient::VerifyWithKeys(
    ByteView ticket, std::vector<std::pair<KeyVersion, Bytes>>* rekey_keys) const {
  auto cli = Connect(base_url_, options_);
  auto r = cli->Get("/v1/ticket-keys");
  if (!r || r->status != 200) return HttpError(r, "fetching the ticket verification keys");
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["keys"].is_array())
    return Unavailable("malformed verification key list");
  std::map<uint32_t, crypto::VerifyKey> keys;
  for (const auto& k : j["keys"]) {
    if (!k.is_object()) continue;
    std::string kind = k.value("kind", "");
    Bytes pk;
    if (!Base64Decode(k.value("public_key", ""), &pk)) continue;
    auto vk = crypto::VerifyKey::FromBytes(pk);
    if (!vk.ok()) continue;
    uint32_t version = k.value("version", 0u);
    if (kind == "ticket-signing")
      keys.emplace(version, std::move(vk).value());
    else if (kind == "rekey-signing" && rekey_keys)
      rekey_keys->emplace_back(KeyVersion{version}, pk);
  }
  return VerifyTicket(
      ticket,
      [&](KeyVersion v) -> const crypto::VerifyKey* {
        auto it = keys.find(v.value);
        return it == keys.end() ? nullptr : &it->second;
      },
      SystemClock::Get().NowSeconds(), kTicketClockSlackSeconds);
}

Result<std::vector<std::pair<KeyVersion, Bytes>>> TicketClient::RekeyKeys() const {
  auto cli = Connect(base_url_, options_);
  auto r = cli->Get("/v1/ticket-keys");
  if (!r || r->status != 200) return HttpError(r, "fetching the rekey verification keys");
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j["keys"].is_array())
    return Unavailable("malformed verification key list");
  std::vector<std::pair<KeyVersion, Bytes>> out;
  for (const auto& k : j["keys"]) {
    Bytes pk;
    if (!k.is_object() || k.value("kind", "") != "rekey-signing" ||
        !Base64Decode(k.value("public_key", ""), &pk) || !crypto::VerifyKey::FromBytes(pk).ok())
      continue;
    out.emplace_back(KeyVersion{k.value("version", 0u)}, pk);
  }
  return out;
}

Result<ClientSession> TicketClient::FromReply(const std::string& body) const {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return Unavailable("malformed ticket reply");
  ClientSession s;
  Bytes key;
  if (!Base64Decode(j.value("ticket", ""), &s.ticket_bytes) ||
      !Base64Decode(j.value("session_key", ""), &key) || key.size() != 32)
    return Unavailable("malformed ticket reply");
  s.session_key = SecretBytes(key);
  SecureWipe(key.data(), key.size());
  s.grant_digest = j.value("grant_digest", "");
  KC_ASSIGN_OR_RETURN(s.ticket, VerifyWithKeys(s.ticket_bytes, &s.rekey_keys));
  return s;
}

Result<ClientSession> TicketClient::Login(const ClientCredentials& creds) const {
  auto cli = Connect(base_url_, options_);
  auto [headers, body] = AuthParts(creds);
  auto r = cli->Post("/v1/tickets", headers, body.dump(), "application/json");
  if (!r || r->status != 200) return HttpError(r, "login");
  return FromReply(r->body);
}

void TicketClient::WatchCanceller::Cancel() {
  std::lock_guard<std::mutex> l(mu_);
  cancelled_ = true;
  if (stop_in_flight_) stop_in_flight_();
}

Result<std::optional<ClientSession>> TicketClient::Watch(const ClientCredentials& creds,
                                                         const std::string& digest,
                                                         int timeout_seconds,
                                                         WatchCanceller* canceller) const {
  Options o = options_;
  o.timeout_seconds = timeout_seconds + o.timeout_seconds;
  auto cli = Connect(base_url_, o);
  auto [headers, body] = AuthParts(creds);
  body["digest"] = digest;
  body["timeout_seconds"] = timeout_seconds;
  if (canceller) {
    std::lock_guard<std::mutex> l(canceller->mu_);
    if (canceller->cancelled_) return Unavailable("the ticket watch was stopped");
    httplib::Client* c = cli.get();
    canceller->stop_in_flight_ = [c] { c->stop(); };
  }
  auto r = cli->Post("/v1/tickets/watch", headers, body.dump(), "application/json");
  if (canceller) {
    std::lock_guard<std::mutex> l(canceller->mu_);
    canceller->stop_in_flight_ = nullptr;
    if (canceller->cancelled_) return Unavailable("the ticket watch was stopped");
  }
  if (r && r->status == 204) return std::optional<ClientSession>();
  if (!r || r->status != 200) return HttpError(r, "watching for a new ticket");
  KC_ASSIGN_OR_RETURN(ClientSession s, FromReply(r->body));
  return std::optional<ClientSession>(std::move(s));
}

}  // namespace keycast
