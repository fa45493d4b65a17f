// Routes for clients: get a ticket (seed 000 claim 1, claim 20), wait for a
// fresh one when the event set changes, and the published verification keys.
#include <httplib.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "api/json_reader.h"
#include "keycast/api_server.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"

namespace keycast {
namespace {

using api::json;

Counter& AuthFailures() {
  static Counter& c = Metrics::Global().GetCounter("keycast_ticket_auth_failures_total",
                                                   "Ticket requests with bad credentials.");
  return c;
}

// Authenticates by API key (Authorization: Bearer kca_...) or by
// {"client": ..., "password": ...} in the body. Password attempts pass the
// directory's login limiter first: a refusal is ResourceExhausted with
// *retry_after set, before any Argon2id work.
Result<AuthenticatedClient> Authenticate(const Directory* dir, const httplib::Request& req,
                                         api::ObjectReader& r, int64_t* retry_after) {
  auto client = r.Str("client", limits::kMaxNameLength, false);
  auto password = r.Str("password", limits::kMaxPasswordLength, false);
  KC_RETURN_IF_ERROR(r.Finish());
  std::string token = api::BearerToken(req);
  Result<AuthenticatedClient> who = Unauthenticated("no credentials");
  if (!token.empty()) {
    if (client || password)
      return InvalidArgument("give either an API key or client + password, not both");
    who = dir->AuthenticateApiKey(token);
  } else if (client && password) {
    LoginOrigin origin{req.remote_addr};
    who = dir->AuthenticatePassword(*client, *password, &origin);
    if (!who.ok() && who.status().code() == Code::kResourceExhausted) {
      *retry_after = origin.retry_after_seconds;
      spdlog::info("ticket request from {} for '{}' throttled: {}", req.remote_addr, *client,
                   who.status().message());
      return who;
    }
  } else {
    return Unauthenticated(
        "credentials are required: Authorization: Bearer kca_..., or client and password");
  }
  if (!who.ok()) {
    AuthFailures().Inc();
    // The reason goes to the log; the network gets no hint of which part was wrong.
    spdlog::warn("ticket request from {} refused: {}", req.remote_addr, who.status().message());
    return Unauthenticated("authentication failed");
  }
  return who;
}

// Appends base64 of b to out, encoding in place.
void AppendBase64(std::string& out, ByteView b) {
  size_t at = out.size();
  out.resize(at + 4 * ((b.size() + 2) / 3));
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + at), b.data(),
                          static_cast<int>(b.size()));
  out.resize(at + static_cast<size_t>(n));
}

// The answer to a ticket request, written out directly: the same JSON as
// nlohmann's dump of {events, expires_at, grant_digest, issued_at,
// session_key, ticket} (keys in its sorted order), without routing the
// ~10 KB base64 ticket through a JSON string value and its escaping. Every
// string here is base64 or hex, so nothing needs escaping.
std::string TicketReply(const IssuedTicket& t) {
  std::string out;
  out.reserve(4 * (t.ticket.size() + t.session_key.size()) / 3 + t.grant_digest.size() + 200);
  out += "{\"events\":";
  out += std::to_string(t.events);
  out += ",\"expires_at\":";
  out += std::to_string(t.expires_at);
  out += ",\"grant_digest\":\"";
  out += t.grant_digest;
  out += "\",\"issued_at\":";
  out += std::to_string(t.issued_at);
  out += ",\"session_key\":\"";
  AppendBase64(out, t.session_key.reveal());
  out += "\",\"ticket\":\"";
  AppendBase64(out, t.ticket);
  out += "\"}";
  return out;
}

// Sends a ticket; moves the body into the response instead of copying it.
void SendTicket(httplib::Response& res, const IssuedTicket& t) {
  res.status = 200;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Type", "application/json");
  res.body = TicketReply(t);
}

}  // namespace

void ApiServer::AddTicketRoutes() {
  Directory* dir = s_.directory;
  TicketService* tickets = s_.tickets;
  ServiceKeys* keys = s_.keys;
  int64_t max_watch = options_.max_watch_seconds;

  Add("POST", "/v1/tickets", "Authenticate and get a signed ticket", false,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = api::ParseObject(req.body.empty() ? "{}" : req.body);
        if (!body.ok()) return api::SendError(res, body.status());
        api::ObjectReader r(*body);
        int64_t retry = 0;
        auto who = Authenticate(dir, req, r, &retry);
        if (!who.ok()) return api::SendError(res, who.status(), retry);
        auto t = tickets->Issue(*who);
        if (!t.ok()) return api::SendError(res, t.status());
        SendTicket(res, *t);
      });

  MarkLongPoll("POST", "/v1/tickets/watch");
  Add("POST", "/v1/tickets/watch",
      "Long-poll: a fresh ticket once the client's events differ from `digest` (204 at timeout)",
      false, [=](const httplib::Request& req, httplib::Response& res) {
        auto body = api::ParseObject(req.body.empty() ? "{}" : req.body);
        if (!body.ok()) return api::SendError(res, body.status());
        api::ObjectReader r(*body);
        auto digest = r.Str("digest", 64, true);
        auto timeout = r.Int("timeout_seconds", 0, max_watch, false).value_or(max_watch);
        int64_t retry = 0;
        auto who = Authenticate(dir, req, r, &retry);
        if (!who.ok()) return api::SendError(res, who.status(), retry);
        auto t = tickets->WaitForNewTicket(
            *who, *digest, std::chrono::steady_clock::now() + std::chrono::seconds(timeout));
        if (!t.ok()) return api::SendError(res, t.status());
        if (!t->has_value()) {
          res.status = 204;
          return;
        }
        SendTicket(res, **t);
      });

  Add("GET", "/v1/ticket-keys", "Published verification keys (ticket-signing and rekey-signing)",
      false, [=](const httplib::Request&, httplib::Response& res) {
        json items = json::array();
        for (std::string_view kind : {kTicketSigningKey, kRekeySigningKey}) {
          for (auto& k : keys->List(kind)) {
            items.push_back({{"kind", k.kind},
                             {"version", k.version.value},
                             {"public_key", Base64Encode(k.public_key)},
                             {"algorithm", "ed25519"},
                             {"created_at", k.created_at},
                             {"retired_at", k.retired_at},
                             {"usable_until", k.usable_until}});
          }
        }
        api::SendJson(res, 200, json({{"keys", items}}).dump());
      });

  // Key generations (docs/key-protocol.md, "Generations"): a rekey starts
  // a new generation (new keys, new SPIs) that members the directory no
  // longer authorises never get; a secret rotation also replaces the event
  // secret. Senders switch when the new keys come into force (the lead
  // after now); the wakeups go out then, so agents fetch the new keys.
  auto rekey = s_.rekey;
  auto change_keys = [=](bool rotate) {
    return [=](const httplib::Request& req, httplib::Response& res) {
      auto r = rotate ? dir->RotateEventSecret(CurrentActor(), req.matches[1])
                      : dir->RekeyEvent(CurrentActor(), req.matches[1]);
      if (!r.ok()) return api::SendError(res, r.status());
      const EventKeyState& k = r->event->keys;
      size_t sent = 0;
      if (rekey) {
        // DirectoryOptions::rekey_lead_ms, a few seconds.
        std::this_thread::sleep_for(std::chrono::milliseconds(r->lead_ms));
        sent = rekey(r->event->id);
      }
      json out = {{"event", r->event->name},
                  {"generation", k.generation.number},
                  {"schedule_version", k.generation.schedule},
                  {"secret_version", k.secret_version},
                  {"activates_at_ms", k.activates_at / 1000},
                  {"members", r->members},
                  {"wakeups_sent", sent}};
      if (r->members == 0)
        out["note"] = "the event has no members; members joining get the new keys";
      if (!rekey)
        out["note"] =
            "this node runs no key service: agents get the new keys at their next refresh";
      api::SendJson(res, 200, out.dump());
    };
  };
  Add("POST", "/v1/events/{name}/rekey",
      "Rekey: a new key generation (new key and SPI) for the authorised members only; agents are "
      "woken to fetch it when it comes into force",
      true, change_keys(false));
  Add("POST", "/v1/events/{name}/rotate-secret",
      "Replace the event secret (after a compromise) and rekey; the old secret is erased after "
      "the grace",
      true, change_keys(true));

  Add("POST", "/v1/service-keys/{kind}/rotate",
      "Rotate a service key; older versions stay valid for the retention", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto v = keys->Rotate(req.matches[1], CurrentActor());
        if (!v.ok()) return api::SendError(res, v.status());
        api::SendJson(res, 200,
                      json({{"kind", std::string(req.matches[1])}, {"version", v->value}}).dump());
      });
}

}  // namespace keycast
