// The reservation role's JSON API and the channel's HTTP transport
// (docs/reservations.md lists every route). Bodies go through the strict
// JSON reader; every refusal is a stable error code with a message.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/json_reader.h"
#include "keycast/limits.h"
#include "reservation/service.h"

namespace keycast::reservation {
namespace {

using api::json;
using api::ObjectReader;

std::optional<json> Body(const httplib::Request& req, httplib::Response& res) {
  auto j = api::ParseObject(req.body.empty() ? "{}" : req.body);
  if (!j.ok()) {
    api::SendError(res, j.status());
    return std::nullopt;
  }
  return std::move(j).value();
}

Result<std::vector<ReceiverEntry>> ParseReceiversJson(const json& j, bool create) {
  if (!j.is_array())
    return InvalidArgument("field 'receivers': expected an array of {name, password}");
  if (j.size() > kMaxReceiversPerReservation)
    return InvalidArgument("field 'receivers': at most " +
                           std::to_string(kMaxReceiversPerReservation) + " entries");
  std::vector<ReceiverEntry> out;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_object())
      return InvalidArgument("field 'receivers[" + std::to_string(i) + "]': expected an object");
    ObjectReader r(j[i], "receivers[" + std::to_string(i) + "].");
    ReceiverEntry e;
    e.name = r.Str("name", kMaxReceiverName, true).value_or("");
    e.password = r.Str("password", kMaxReceiverPassword, create);
    KC_RETURN_IF_ERROR(r.Finish());
    out.push_back(std::move(e));
  }
  return out;
}

Result<ProvidedSa> ParseSaJson(const json& j) {
  if (!j.is_object())
    return InvalidArgument("field 'sa': expected an object with spi, algorithm, key");
  ObjectReader r(j, "sa.");
  ProvidedSa sa;
  sa.spi = Spi{static_cast<uint32_t>(r.Int("spi", 1, 0xffffffffLL, true).value_or(0))};
  if (auto a = r.Str("algorithm", 32, false))
    if (!crypto::ParseAeadName(*a, &sa.algorithm))
      r.Fail("algorithm", "use aes-256-gcm or chacha20-poly1305");
  if (auto k = r.Str("key", 64, true)) {
    Bytes key;
    if (!FromHex(*k, &key) || key.size() != 32)
      r.Fail("key", "expected 64 hex characters (32 bytes)");
    sa.key = SecretBytes(key);
    SecureWipe(key.data(), key.size());
  }
  KC_RETURN_IF_ERROR(r.Finish());
  return sa;
}

std::optional<IpAddress> ParseAddr(ObjectReader& r, const char* field, bool required,
                                   bool allow_empty) {
  auto s = r.Str(field, 64, required);
  if (!s) return std::nullopt;
  if (s->empty() && allow_empty) return IpAddress();
  auto a = IpAddress::Parse(*s);
  if (!a) {
    r.Fail(field, "'" + *s + "' is not an IPv4 or IPv6 address");
    return std::nullopt;
  }
  return a;
}

Result<ReservationSpec> ParseSpec(const json& body) {
  ObjectReader r(body);
  ReservationSpec s;
  s.name = r.Str("name", kMaxReservationName, true).value_or("");
  s.title = r.Str("title", limits::kMaxTitleLength, true).value_or("");
  if (const json* sch = r.Raw("schedule", true)) {
    auto sc = api::ParseSchedule(*sch);
    if (!sc.ok())
      r.Fail(sc.status());
    else
      s.schedule = *sc;
  }
  if (auto a = ParseAddr(r, "group_address", true, false)) s.group_address = *a;
  s.port = static_cast<uint16_t>(r.Int("port", 1, 65535, true).value_or(0));
  if (auto a = ParseAddr(r, "source_address", false, true)) s.source_address = *a;
  if (const json* sa = r.Raw("sa", false)) {
    auto p = ParseSaJson(*sa);
    if (!p.ok())
      r.Fail(p.status());
    else
      s.sa = std::move(p).value();
  }
  if (const json* rc = r.Raw("receivers", false)) {
    auto l = ParseReceiversJson(*rc, true);
    if (!l.ok())
      r.Fail(l.status());
    else
      s.receivers = std::move(l).value();
  }
  if (auto g = r.StrList("groups", kMaxGroupsPerReservation, limits::kMaxNameLength, false))
    s.groups = *g;
  s.price_cents = r.Int("price_cents", 0, kMaxPriceCents, false).value_or(0);
  KC_RETURN_IF_ERROR(r.Finish());
  return s;
}

Result<ReservationPatch> ParsePatch(const json& body) {
  ObjectReader r(body);
  ReservationPatch p;
  p.title = r.Str("title", limits::kMaxTitleLength, false);
  if (const json* sch = r.Raw("schedule", false)) {
    auto sc = api::ParseSchedule(*sch);
    if (!sc.ok())
      r.Fail(sc.status());
    else
      p.schedule = *sc;
  }
  p.group_address = ParseAddr(r, "group_address", false, false);
  if (auto port = r.Int("port", 1, 65535, false)) p.port = static_cast<uint16_t>(*port);
  p.source_address = ParseAddr(r, "source_address", false, true);
  if (const json* rc = r.Raw("receivers", false)) {
    auto l = ParseReceiversJson(*rc, false);
    if (!l.ok())
      r.Fail(l.status());
    else
      p.receivers = std::move(l).value();
  }
  p.groups = r.StrList("groups", kMaxGroupsPerReservation, limits::kMaxNameLength, false);
  p.price_cents = r.Int("price_cents", 0, kMaxPriceCents, false);
  KC_RETURN_IF_ERROR(r.Finish());
  return p;
}

json OccurrenceJson(const std::optional<Occurrence>& o) {
  if (!o) return nullptr;
  return {{"start", FormatRfc3339(o->start)}, {"end", FormatRfc3339(o->end)}};
}

json ScheduleJsonOf(const Schedule& s) {
  return {{"start", FormatRfc3339(s.start)},
          {"duration", FormatDuration(s.duration)},
          {"rrule", s.rule ? s.rule->ToString() : ""}};
}

}  // namespace

json ReservationJson(const ReservationView& v) {
  const Reservation& r = v.reservation;
  json sa = {{"mode", SaModeName(r.sa_mode)}};
  if (r.sa_mode == SaMode::kProvided) {
    sa["spi"] = r.spi.value;
    sa["algorithm"] = std::string(crypto::AeadName(r.algorithm));
  }
  return {{"name", r.name},
          {"title", r.title},
          {"sender", v.sender_name},
          {"schedule", ScheduleJsonOf(r.schedule)},
          {"group_address", r.group_address.ToString()},
          {"port", r.port},
          {"source_address", r.source_address.empty() ? "" : r.source_address.ToString()},
          {"sa", sa},
          {"event", v.event_name},
          {"price_cents", r.price_cents},
          {"currency", r.currency},
          {"receivers", v.receivers},
          {"groups", v.groups},
          {"status", ReservationStatusName(r.status)},
          {"editable", v.editable},
          {"next", OccurrenceJson(v.next)},
          {"version", r.version},
          {"created_at", FormatRfc3339(r.created_at)},
          {"updated_at", FormatRfc3339(r.updated_at)},
          {"cancelled_at", r.cancelled_at ? json(FormatRfc3339(r.cancelled_at)) : json(nullptr)}};
}

json StatsJson(const ReservationStats& s) {
  return {{"listed_receivers", s.listed_receivers},
          {"approved_receivers", s.approved_receivers},
          {"subscribers", s.subscribers},
          {"entitled_now", s.entitled_now},
          {"keyed_now", s.keyed_now ? json(*s.keyed_now) : json(nullptr)},
          {"collected_cents", s.collected_cents},
          {"refunded_cents", s.refunded_cents},
          {"collected", FormatMoney(s.collected_cents, s.currency)},
          {"currency", s.currency},
          {"charges_approved", s.charges_approved},
          {"charges_declined", s.charges_declined},
          {"requests_refused", s.requests_refused},
          {"live", s.live},
          {"as_of", FormatRfc3339(s.as_of)}};
}

json LedgerJson(const LedgerEntry& e) {
  return {{"id", e.id},
          {"receiver", e.receiver},
          {"kind", e.kind},
          {"status", e.status},
          {"amount_cents", e.amount_cents},
          {"currency", e.currency},
          {"refund_of", e.refund_of ? json(e.refund_of) : json(nullptr)},
          {"provider", e.provider},
          {"provider_ref", e.provider_ref},
          {"card_last4", e.card_last4},
          {"reason", e.reason},
          {"created_at", FormatRfc3339(e.created_at)},
          {"updated_at", FormatRfc3339(e.updated_at)}};
}

json GrantJson(const AccessGrant& g) {
  return {{"id", g.id},
          {"receiver", g.receiver},
          {"via", g.via},
          {"ledger_id", g.ledger_id ? json(g.ledger_id) : json(nullptr)},
          {"created_at", FormatRfc3339(g.created_at)},
          {"revoked", g.revoked_at != 0}};
}

json TransmissionJson(const PublicTransmission& t) {
  return {{"name", t.name},
          {"title", t.title},
          {"sender", t.sender_name},
          {"schedule", ScheduleJsonOf(t.schedule)},
          {"next", OccurrenceJson(t.next)},
          {"group_address", t.group_address.ToString()},
          {"port", t.port},
          {"price_cents", t.price_cents},
          {"price", FormatMoney(t.price_cents, t.currency)},
          {"currency", t.currency},
          {"needs_password", t.needs_password},
          {"needs_payment", t.needs_payment},
          {"subscribers", t.subscribers},
          {"accepts_requests", t.accepts_requests}};
}

Result<SenderIdentity> SenderOf(const Service& s, const httplib::Request& req, bool allow_cookie) {
  std::string token = api::BearerToken(req);
  if (token.empty() && allow_cookie) {
    auto cookies = ParseCookies(req.get_header_value("Cookie"));
    auto it = cookies.find("kc_session");
    if (it != cookies.end()) token = it->second;
  }
  if (token.empty())
    return Unauthenticated(
        "sign in first: Authorization: Bearer <API key kca_... or session kcs_...>");
  if (token.rfind("kcs_", 0) == 0) {
    auto who = s.sessions->Find(token);
    if (!who) return Unauthenticated("the session has expired; sign in again");
    return *who;
  }
  return s.platform->AuthenticateSenderApiKey(token);
}

void AddApiRoutes(ApiServer& api, const Service& s) {
  ReservationPlatform* p = s.platform;
  Service svc = s;
  auto sender_route = [svc](auto fn) {
    return [svc, fn](const httplib::Request& req, httplib::Response& res) {
      auto who = SenderOf(svc, req, req.method == "GET");
      if (!who.ok()) return api::SendError(res, who.status());
      fn(*who, req, res);
    };
  };

  // ---- sender sessions
  api.Add("POST", "/v1/reservation/sessions", "Sign in as a sender (returns a session token)",
          false, [svc](const httplib::Request& req, httplib::Response& res) {
            auto body = Body(req, res);
            if (!body) return;
            ObjectReader r(*body);
            auto client = r.Str("client", limits::kMaxNameLength, true);
            auto password = r.Str("password", limits::kMaxPasswordLength, true);
            Status st = r.Finish();
            if (!st.ok()) return api::SendError(res, st);
            LoginOrigin origin{req.remote_addr};
            auto who = svc.platform->AuthenticateSender(*client, *password, &origin);
            if (!who.ok()) return api::SendError(res, who.status(), origin.retry_after_seconds);
            std::string token = svc.sessions->Create(*who);
            api::SendJson(res, 201, json({{"token", token}, {"sender", who->name}}).dump());
          });
  api.Add("DELETE", "/v1/reservation/sessions", "Sign out (ends the bearer session)", false,
          [svc](const httplib::Request& req, httplib::Response& res) {
            std::string token = api::BearerToken(req);
            if (token.rfind("kcs_", 0) != 0)
              return api::SendError(
                  res, InvalidArgument("give the session as Authorization: Bearer kcs_..."));
            svc.sessions->Remove(token);
            res.status = 204;
          });

  // ---- reservations (the sender's own)
  api.Add(
      "GET", "/v1/reservations", "List your reservations", false,
      sender_route([p](const SenderIdentity& who, const httplib::Request&, httplib::Response& res) {
        auto list = p->ListReservations(who);
        if (!list.ok()) return api::SendError(res, list.status());
        json arr = json::array();
        for (const auto& v : *list) arr.push_back(ReservationJson(v));
        api::SendJson(res, 200, json({{"reservations", arr}}).dump());
      }));
  api.Add("POST", "/v1/reservations", "File a reservation", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto body = Body(req, res);
                if (!body) return;
                auto spec = ParseSpec(*body);
                if (!spec.ok()) return api::SendError(res, spec.status());
                auto v = p->CreateReservation(who, *spec);
                if (!v.ok()) return api::SendError(res, v.status());
                api::SendJson(res, 201, ReservationJson(*v).dump());
              }));
  api.Add("GET", "/v1/reservations/{name}", "Read one of your reservations", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto v = p->GetReservation(who, req.matches[1]);
                if (!v.ok()) return api::SendError(res, v.status());
                api::SendJson(res, 200, ReservationJson(*v).dump());
              }));
  api.Add("PATCH", "/v1/reservations/{name}", "Edit a reservation (until it starts)", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto body = Body(req, res);
                if (!body) return;
                auto patch = ParsePatch(*body);
                if (!patch.ok()) return api::SendError(res, patch.status());
                auto v = p->UpdateReservation(who, req.matches[1], *patch);
                if (!v.ok()) return api::SendError(res, v.status());
                api::SendJson(res, 200, ReservationJson(*v).dump());
              }));
  api.Add("POST", "/v1/reservations/{name}/cancel",
          "Cancel a reservation: revoke access, refund charges", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto body = Body(req, res);
                if (!body) return;
                Status st = ObjectReader(*body).Finish();
                if (!st.ok()) return api::SendError(res, st);
                auto c = p->CancelReservation(who, req.matches[1]);
                if (!c.ok()) return api::SendError(res, c.status());
                api::SendJson(res, 200,
                              json({{"cancelled", true},
                                    {"was_active", c->was_active},
                                    {"grants_revoked", c->grants_revoked},
                                    {"refunds", c->refunds},
                                    {"refunded_cents", c->refunded_cents},
                                    {"refunds_failed", c->refunds_failed}})
                                  .dump());
              }));
  api.Add("GET", "/v1/reservations/{name}/stats",
          "Statistics: approved and keyed receivers, amount collected", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto st = p->Stats(who, req.matches[1]);
                if (!st.ok()) return api::SendError(res, st.status());
                res.set_header("Cache-Control", "no-store");
                api::SendJson(res, 200, StatsJson(*st).dump());
              }));
  api.Add("GET", "/v1/reservations/{name}/ledger", "The billing ledger of a reservation", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto l = p->Ledger(who, req.matches[1]);
                if (!l.ok()) return api::SendError(res, l.status());
                json arr = json::array();
                for (const auto& e : *l) arr.push_back(LedgerJson(e));
                api::SendJson(res, 200, json({{"ledger", arr}}).dump());
              }));
  api.Add("GET", "/v1/reservations/{name}/grants", "Receivers granted access", false,
          sender_route(
              [p](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto l = p->Grants(who, req.matches[1]);
                if (!l.ok()) return api::SendError(res, l.status());
                json arr = json::array();
                for (const auto& g : *l) arr.push_back(GrantJson(g));
                api::SendJson(res, 200, json({{"grants", arr}}).dump());
              }));

  // ---- receivers: find a transmission (public)
  api.Add("GET", "/v1/transmissions", "Find transmissions (?q=text&limit=n)", false,
          [p](const httplib::Request& req, httplib::Response& res) {
            size_t limit = 50;
            if (req.has_param("limit")) {
              std::string l = req.get_param_value("limit");
              char* end = nullptr;
              long v = std::strtol(l.c_str(), &end, 10);
              if (l.empty() || *end != '\0' || v < 1 || v > 500)
                return api::SendError(res, InvalidArgument("limit must be an integer 1-500"));
              limit = static_cast<size_t>(v);
            }
            auto list = p->FindTransmissions(req.get_param_value("q"), limit);
            if (!list.ok()) return api::SendError(res, list.status());
            json arr = json::array();
            for (const auto& t : *list) arr.push_back(TransmissionJson(t));
            api::SendJson(res, 200, json({{"transmissions", arr}}).dump());
          });
  api.Add("GET", "/v1/transmissions/{name}", "Describe a transmission and what a request needs",
          false, [p](const httplib::Request& req, httplib::Response& res) {
            auto t = p->DescribeTransmission(req.matches[1]);
            if (!t.ok()) return api::SendError(res, t.status());
            api::SendJson(res, 200, TransmissionJson(*t).dump());
          });

  // ---- the seed-004 channel over HTTP
  ChannelServer* ch = s.channel;
  api.Add("GET", "/v1/channel/identity", "The channel server's Ed25519 identity key (pin it)",
          false, [ch](const httplib::Request&, httplib::Response& res) {
            const auto& o = ch->options();
            api::SendJson(
                res, 200,
                json({{"public_key", ToHex(ch->identity_public_key())},
                      {"algorithm", "ed25519"},
                      {"session_key_lifetime_seconds", o.session_key_lifetime / kMicrosPerSecond},
                      {"retention_lifetimes", o.retention_lifetimes}})
                    .dump());
          });
  api.Add("POST", "/v1/channel/hello", "Channel: Hello -> SessionKeyMessage (binary bodies)", false,
          [ch](const httplib::Request& req, httplib::Response& res) {
            auto out = ch->HandleHello(AsBytes(req.body));
            if (!out.ok()) return api::SendError(res, out.status());
            res.set_header("Cache-Control", "no-store");
            res.set_content(std::string(AsString(*out)), "application/octet-stream");
          });
  api.Add("POST", "/v1/channel/confirm", "Channel: Confirm -> DataKeyMessage (binary bodies)",
          false, [ch, p](const httplib::Request& req, httplib::Response& res) {
            LoginOrigin origin{req.remote_addr};
            auto out = ch->HandleConfirm(AsBytes(req.body), p->Authorizer(&origin));
            if (!out.ok()) return api::SendError(res, out.status(), origin.retry_after_seconds);
            res.set_header("Cache-Control", "no-store");
            res.set_content(std::string(AsString(*out)), "application/octet-stream");
          });
}

}  // namespace keycast::reservation
