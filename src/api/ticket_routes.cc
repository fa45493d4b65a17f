// Routes for clients: get a ticket (seed 000 claim 1, claim 20), wait for a
// fresh one when the event set changes, and the published verification keys.
#include <httplib.h>
#include <spdlog/spdlog.h>

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
// {"client": ..., "password": ...} in the body. Reads the other fields the
// caller allows through `extra`.
Result<AuthenticatedClient> Authenticate(const Directory* dir, const httplib::Request& req, api::ObjectReader& r) {
  auto client = r.Str("client", limits::kMaxNameLength, false);
  auto password = r.Str("password", limits::kMaxPasswordLength, false);
  KC_RETURN_IF_ERROR(r.Finish());
  std::string token = api::BearerToken(req);
  Result<AuthenticatedClient> who = Unauthenticated("no credentials");
  if (!token.empty()) {
    if (client || password) return InvalidArgument("give either an API key or client + password, not both");
    who = dir->AuthenticateApiKey(token);
  } else if (client && password) {
    who = dir->AuthenticatePassword(*client, *password);
  } else {
    return Unauthenticated("credentials are required: Authorization: Bearer kca_..., or client and password");
  }
  if (!who.ok()) {
    AuthFailures().Inc();
    // The reason goes to the log; the network gets no hint of which part was wrong.
    spdlog::warn("ticket request from {} refused: {}", req.remote_addr, who.status().message());
    return Unauthenticated("authentication failed");
  }
  return who;
}

json TicketReply(const IssuedTicket& t) {
  return {{"ticket", Base64Encode(t.ticket)},
          {"session_key", Base64Encode(t.session_key.reveal())},
          {"issued_at", t.issued_at},
          {"expires_at", t.expires_at},
          {"grant_digest", t.grant_digest},
          {"events", t.events}};
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
        auto who = Authenticate(dir, req, r);
        if (!who.ok()) return api::SendError(res, who.status());
        auto t = tickets->Issue(*who);
        if (!t.ok()) return api::SendError(res, t.status());
        res.set_header("Cache-Control", "no-store");
        api::SendJson(res, 200, TicketReply(*t).dump());
      });

  Add("POST", "/v1/tickets/watch",
      "Long-poll: a fresh ticket once the client's events differ from `digest` (204 at timeout)", false,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = api::ParseObject(req.body.empty() ? "{}" : req.body);
        if (!body.ok()) return api::SendError(res, body.status());
        api::ObjectReader r(*body);
        auto digest = r.Str("digest", 64, true);
        auto timeout = r.Int("timeout_seconds", 0, max_watch, false).value_or(max_watch);
        auto who = Authenticate(dir, req, r);
        if (!who.ok()) return api::SendError(res, who.status());
        auto t = tickets->WaitForNewTicket(*who, *digest,
                                           std::chrono::steady_clock::now() + std::chrono::seconds(timeout));
        if (!t.ok()) return api::SendError(res, t.status());
        if (!t->has_value()) {
          res.status = 204;
          return;
        }
        res.set_header("Cache-Control", "no-store");
        api::SendJson(res, 200, TicketReply(**t).dump());
      });

  Add("GET", "/v1/ticket-keys", "Published verification keys (ticket-signing and rekey-signing)", false,
      [=](const httplib::Request&, httplib::Response& res) {
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

  auto rekey = s_.rekey;
  Add("POST", "/v1/events/{name}/rekey", "Server-initiated rekey: wake the event's agents to refetch keys", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto e = dir->GetEvent(req.matches[1]);
        if (!e.ok()) return api::SendError(res, e.status());
        if (!rekey) return api::SendError(res, Unavailable("this node runs no key service"));
        size_t n = rekey(e->event->id);
        api::SendJson(res, 200, json({{"event", e->event->name}, {"wakeups_sent", n}}).dump());
      });

  Add("POST", "/v1/service-keys/{kind}/rotate", "Rotate a service key; older versions stay valid for the retention",
      true, [=](const httplib::Request& req, httplib::Response& res) {
        auto v = keys->Rotate(req.matches[1], CurrentActor());
        if (!v.ok()) return api::SendError(res, v.status());
        api::SendJson(res, 200, json({{"kind", std::string(req.matches[1])}, {"version", v->value}}).dump());
      });
}

}  // namespace keycast
