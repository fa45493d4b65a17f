// The web pages of the reservation role (web/web.h). Every page is rendered
// from a template in src/web/templates; every value is escaped; every POST
// checks the CSRF token, then reads gather -> check -> issue like the API.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "keycast/crypto.h"
#include "keycast/limits.h"
#include "web/http.h"
#include "web/template.h"
#include "web/web.h"

namespace keycast::web {
namespace {

using reservation::Service;

constexpr std::string_view kSessionCookie = "kc_session";
constexpr int64_t kDownloadSeconds = 600;
constexpr size_t kMaxDownloads = 10000;

// Configurations waiting to be downloaded, by a random token, for a while.
class Downloads {
 public:
  std::string Put(std::string filename, std::string text) {
    std::string token = ToHex(crypto::RandomBytes(24));
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> l(mu_);
    Purge(now);
    if (items_.size() >= kMaxDownloads) items_.erase(items_.begin());
    items_[token] =
        Item{std::move(filename), std::move(text), now + std::chrono::seconds(kDownloadSeconds)};
    return token;
  }
  std::optional<std::pair<std::string, std::string>> Get(const std::string& token) {
    std::lock_guard<std::mutex> l(mu_);
    Purge(std::chrono::steady_clock::now());
    auto it = items_.find(token);
    if (it == items_.end()) return std::nullopt;
    return std::make_pair(it->second.filename, it->second.text);
  }

 private:
  struct Item {
    std::string filename, text;
    std::chrono::steady_clock::time_point expires;
    ~Item() { SecureWipe(text.data(), text.size()); }
  };
  void Purge(std::chrono::steady_clock::time_point now) {
    for (auto it = items_.begin(); it != items_.end();)
      if (it->second.expires <= now)
        it = items_.erase(it);
      else
        ++it;
  }
  std::mutex mu_;
  std::map<std::string, Item> items_;
};

struct Ctx {
  Service s;
  std::shared_ptr<Downloads> downloads;
};

// ---- responses

std::string Tmpl(const char* name) {
  auto a = Asset(std::string("templates/") + name);
  if (!a) throw std::logic_error(std::string("missing template ") + name);
  return std::string(*a);
}

// The browser's CSRF cookie, set when missing; returns the form token.
std::string Csrf(const Ctx& x, const httplib::Request& req, httplib::Response& res) {
  return CsrfFormToken(*x.s.sessions, x.s.secure_cookies, req, res);
}

std::optional<SenderIdentity> Sender(const Ctx& x, const httplib::Request& req) {
  std::string token = Cookie(req, kSessionCookie);
  if (token.empty()) return std::nullopt;
  return x.s.sessions->Find(token);
}

std::string ErrorBox(const std::string& heading, const std::string& message) {
  return "<div class=\"error\" role=\"alert\" id=\"error\"><h2>" + Escape(heading) + "</h2><p>" +
         Escape(message) + "</p></div>";
}

std::string Notice(const std::string& message) {
  return "<div class=\"notice\" role=\"status\"><p>" + Escape(message) + "</p></div>";
}

void Page(const Ctx& x, const httplib::Request& req, httplib::Response& res, int status,
          const std::string& title, const std::string& body_tmpl, Vars vars,
          const std::string& flash = "") {
  auto body = Render(body_tmpl, vars);
  if (!body.ok()) {
    spdlog::error("web page '{}': {}", title, body.status().message());
    res.status = 500;
    res.set_content("internal error", "text/plain");
    return;
  }
  std::string account;
  if (auto who = Sender(x, req)) {
    account = "<div class=\"account\"><span>Signed in as <strong>" + Escape(who->name) +
              "</strong></span><form method=\"post\" action=\"/sender/logout\"><input "
              "type=\"hidden\" name=\"csrf\" "
              "value=\"" +
              Escape(Csrf(x, req, res)) +
              "\"><button type=\"submit\" class=\"link\">Sign out</button></form></div>";
  }
  auto page =
      Render(Tmpl("layout.html"),
             Vars{{"title", title}, {"account", account}, {"flash", flash}, {"body", *body}});
  if (!page.ok()) {
    res.status = 500;
    res.set_content("internal error", "text/plain");
    return;
  }
  SecurityHeaders(res);
  res.status = status;
  res.set_content(*page, "text/html; charset=utf-8");
}

void Message(const Ctx& x, const httplib::Request& req, httplib::Response& res, int status,
             const std::string& heading, const std::string& text, const std::string& link_href = "",
             const std::string& link_text = "") {
  std::string body = "<p>" + Escape(text) + "</p>";
  if (!link_href.empty())
    body += "<p><a href=\"" + Escape(link_href) + "\">" + Escape(link_text) + "</a></p>";
  Page(x, req, res, status, heading, Tmpl("message.html"),
       Vars{{"heading", heading}, {"body", body}});
}

// Parses a POSTed form and checks its CSRF token and origin; answers the
// refusal itself and returns nullopt.
std::optional<std::map<std::string, std::string>> Form(const Ctx& x, const httplib::Request& req,
                                                       httplib::Response& res) {
  PostedForm f = ReadPostedForm(*x.s.sessions, req);
  if (f.refusal == 415) {
    Message(x, req, res, 415, "Unsupported form", f.message);
  } else if (f.refusal == 403 && f.message.find("expired") != std::string::npos) {
    Message(x, req, res, 403, "Form expired", f.message, req.path, "Reload");
  } else if (f.refusal != 0) {
    Message(x, req, res, f.refusal, "Form refused", f.message);
  } else {
    return std::move(f.fields);
  }
  return std::nullopt;
}

std::string When(const std::optional<Occurrence>& o) {
  if (!o) return "over";
  return FormatRfc3339(o->start) + " – " + FormatRfc3339(o->end);
}

std::string Dl(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string s = "<dl class=\"details\">";
  for (const auto& [k, v] : rows) s += "<dt>" + Escape(k) + "</dt><dd>" + Escape(v) + "</dd>";
  return s + "</dl>";
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// ---- the reservation form

struct FormValues {
  std::string name, title, date, time, duration, rrule, group_address, port,
      sa_mode = "generated", spi, algorithm = "aes-256-gcm", sa_key, receivers, groups, price;
};

FormValues ValuesFrom(const std::map<std::string, std::string>& f) {
  FormValues v;
  v.name = Trim(Field(f, "name"));
  v.title = Trim(Field(f, "title"));
  v.date = Trim(Field(f, "date"));
  v.time = Trim(Field(f, "time"));
  v.duration = Trim(Field(f, "duration"));
  v.rrule = Trim(Field(f, "rrule"));
  v.group_address = Trim(Field(f, "group_address"));
  v.port = Trim(Field(f, "port"));
  if (f.count("sa_mode")) v.sa_mode = Field(f, "sa_mode");
  v.spi = Trim(Field(f, "spi"));
  if (f.count("algorithm")) v.algorithm = Field(f, "algorithm");
  v.sa_key = Trim(Field(f, "sa_key"));
  v.receivers = Field(f, "receivers");
  v.groups = Field(f, "groups");
  v.price = Trim(Field(f, "price"));
  return v;
}

FormValues ValuesOf(const ReservationView& rv) {
  const Reservation& r = rv.reservation;
  FormValues v;
  v.name = r.name;
  v.title = r.title;
  std::string start = FormatRfc3339(r.schedule.start);  // YYYY-MM-DDTHH:MM:SSZ
  v.date = start.substr(0, 10);
  v.time = start.substr(11, 5);
  v.duration = std::to_string((r.schedule.duration + 59) / 60);
  v.rrule = r.schedule.rule ? r.schedule.rule->ToString() : "";
  v.group_address = r.group_address.ToString();
  v.port = std::to_string(r.port);
  v.sa_mode = std::string(SaModeName(r.sa_mode));
  v.receivers = Join(rv.receivers, "\n");
  v.groups = Join(rv.groups, ", ");
  v.price = r.price_cents ? reservation::FormatMoney(r.price_cents, "") : "";
  return v;
}

Result<Schedule> ScheduleFrom(const FormValues& v) {
  if (v.date.size() != 10) return InvalidArgument("Date: give a date as YYYY-MM-DD");
  std::string time = v.time.size() == 5 ? v.time + ":00" : v.time;
  if (time.size() != 8) return InvalidArgument("Time of day: give a time as HH:MM (UTC)");
  auto start = ParseRfc3339(v.date + "T" + time + "Z");
  if (!start.ok()) return InvalidArgument("Date and time: " + start.status().message());
  Schedule s;
  s.start = *start;
  char* end = nullptr;
  long long minutes = std::strtoll(v.duration.c_str(), &end, 10);
  if (v.duration.empty() || *end != '\0' || minutes < 1 ||
      minutes > limits::kMaxEventDurationSeconds / 60)
    return InvalidArgument("Duration: give a whole number of minutes, at least 1");
  s.duration = minutes * 60;
  if (!v.rrule.empty()) {
    auto rule = ParseRrule(v.rrule);
    if (!rule.ok()) return InvalidArgument("Repeats: " + rule.status().message());
    s.rule = *rule;
  }
  Status st = s.Validate();
  if (!st.ok()) return InvalidArgument("Schedule: " + st.message());
  return s;
}

Result<std::vector<std::string>> GroupsFrom(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string g = Trim(text.substr(pos, comma - pos));
    if (!g.empty()) {
      Status st = ValidateName("group", g);
      if (!st.ok()) return InvalidArgument("Directory groups: " + st.message());
      out.push_back(g);
    }
    pos = comma + 1;
  }
  return out;
}

Result<uint16_t> PortFrom(const std::string& s) {
  char* end = nullptr;
  long p = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || p < 1 || p > 65535)
    return InvalidArgument("Port: give a number 1-65535");
  return static_cast<uint16_t>(p);
}

Result<IpAddress> GroupFrom(const std::string& s) {
  auto a = IpAddress::Parse(s);
  if (!a) return InvalidArgument("Group address: '" + s + "' is not an IP address");
  return *a;
}

Result<std::vector<ReceiverEntry>> ReceiversFrom(const std::string& text) {
  auto lines = reservation::ParseReceiverList(text);
  if (!lines.ok()) return InvalidArgument("Receiver list: " + lines.status().message());
  std::vector<ReceiverEntry> out;
  for (auto& l : *lines) out.push_back(ReceiverEntry{l.name, l.password});
  return out;
}

Result<ReservationSpec> SpecFrom(const FormValues& v) {
  ReservationSpec s;
  s.name = v.name;
  s.title = v.title;
  if (s.name.empty()) return InvalidArgument("Name: give the transmission a name");
  if (s.title.empty()) return InvalidArgument("Title: give the transmission a title");
  KC_ASSIGN_OR_RETURN(s.schedule, ScheduleFrom(v));
  KC_ASSIGN_OR_RETURN(s.group_address, GroupFrom(v.group_address));
  KC_ASSIGN_OR_RETURN(s.port, PortFrom(v.port));
  if (v.sa_mode == "provided") {
    ProvidedSa sa;
    char* end = nullptr;
    unsigned long long spi = std::strtoull(v.spi.c_str(), &end, 10);
    if (v.spi.empty() || *end != '\0' || spi < 1 || spi > 0xffffffffULL)
      return InvalidArgument("SPI: give a number 1-4294967295");
    sa.spi = Spi{static_cast<uint32_t>(spi)};
    if (!crypto::ParseAeadName(v.algorithm, &sa.algorithm))
      return InvalidArgument("Algorithm: choose AES-256-GCM or ChaCha20-Poly1305");
    Bytes key;
    if (!FromHex(v.sa_key, &key) || key.size() != 32)
      return InvalidArgument("SA key: give 64 hexadecimal characters");
    sa.key = SecretBytes(key);
    SecureWipe(key.data(), key.size());
    s.sa = std::move(sa);
  } else if (v.sa_mode != "generated") {
    return InvalidArgument("Security association: choose generated or provided");
  }
  KC_ASSIGN_OR_RETURN(s.receivers, ReceiversFrom(v.receivers));
  KC_ASSIGN_OR_RETURN(s.groups, GroupsFrom(v.groups));
  auto price = reservation::ParseMoney(v.price);
  if (!price.ok()) return InvalidArgument("Price: " + price.status().message());
  s.price_cents = *price;
  return s;
}

Result<ReservationPatch> PatchFrom(const FormValues& v) {
  ReservationPatch p;
  if (v.title.empty()) return InvalidArgument("Title: give the transmission a title");
  p.title = v.title;
  KC_ASSIGN_OR_RETURN(p.schedule, ScheduleFrom(v));
  KC_ASSIGN_OR_RETURN(p.group_address, GroupFrom(v.group_address));
  KC_ASSIGN_OR_RETURN(p.port, PortFrom(v.port));
  KC_ASSIGN_OR_RETURN(p.receivers, ReceiversFrom(v.receivers));
  KC_ASSIGN_OR_RETURN(p.groups, GroupsFrom(v.groups));
  auto price = reservation::ParseMoney(v.price);
  if (!price.ok()) return InvalidArgument("Price: " + price.status().message());
  p.price_cents = *price;
  return p;
}

std::string SaFieldset(const FormValues& v, bool editing, const ReservationView* rv) {
  if (editing) {
    std::string what = v.sa_mode == "provided"
                           ? "Provided by you (SPI " + std::to_string(rv->reservation.spi.value) +
                                 ", " + std::string(crypto::AeadName(rv->reservation.algorithm)) +
                                 ")"
                           : "Generated by Keycast (event " + rv->event_name +
                                 "); keys are refreshed every interval";
    return "<fieldset><legend>Security association</legend><p>" + Escape(what) +
           "</p><p class=\"hint\">The SA cannot change after filing; cancel and file again to "
           "change it.</p></fieldset>";
  }
  auto checked = [&](const char* m) { return v.sa_mode == m ? " checked" : ""; };
  auto selected = [&](const char* a) { return v.algorithm == a ? " selected" : ""; };
  return std::string(
             "<fieldset><legend>Security association</legend>"
             "<p><label class=\"choice\"><input type=\"radio\" name=\"sa_mode\" "
             "value=\"generated\"") +
         checked("generated") +
         "> Let Keycast generate it (recommended: keys refreshed every interval, access "
         "revocable)</label>"
         "<label class=\"choice\"><input type=\"radio\" name=\"sa_mode\" value=\"provided\"" +
         checked("provided") +
         "> I provide the SA (one static key, handed to approved receivers as is)</label></p>"
         "<p><label for=\"spi\">SPI (provided SA)</label><input id=\"spi\" name=\"spi\" "
         "inputmode=\"numeric\" "
         "maxlength=\"10\" value=\"" +
         Escape(v.spi) +
         "\"></p>"
         "<p><label for=\"algorithm\">Algorithm (provided SA)</label><select id=\"algorithm\" "
         "name=\"algorithm\">"
         "<option value=\"aes-256-gcm\"" +
         selected("aes-256-gcm") + ">AES-256-GCM</option><option value=\"chacha20-poly1305\"" +
         selected("chacha20-poly1305") +
         ">ChaCha20-Poly1305</option></select></p>"
         "<p><label for=\"sa_key\">SA key (provided SA, 64 hex characters)</label><input "
         "id=\"sa_key\" "
         "name=\"sa_key\" maxlength=\"64\" autocomplete=\"off\" value=\"" +
         Escape(v.sa_key) + "\"></p></fieldset>";
}

void ReservationForm(const Ctx& x, const httplib::Request& req, httplib::Response& res, int status,
                     const FormValues& v, const ReservationView* editing,
                     const std::string& error) {
  bool edit = editing != nullptr;
  Vars vars{{"heading", edit ? "Edit " + v.title : "File a reservation"},
            {"error", error.empty() ? "" : ErrorBox("The reservation was not saved", error)},
            {"action", edit ? "/sender/r/" + v.name + "/edit" : "/sender/new"},
            {"csrf", Csrf(x, req, res)},
            {"name", v.name},
            {"name_readonly", edit ? "readonly" : ""},
            {"title", v.title},
            {"date", v.date},
            {"time", v.time},
            {"duration", v.duration},
            {"rrule", v.rrule},
            {"group_address", v.group_address},
            {"port", v.port},
            {"sa_fieldset", SaFieldset(v, edit, editing)},
            {"receivers", v.receivers},
            {"groups", v.groups},
            {"currency", x.s.platform->options().currency},
            {"price", v.price},
            {"submit", edit ? "Save changes" : "File reservation"},
            {"back", edit ? "/sender/r/" + v.name : "/sender"}};
  Page(x, req, res, status, edit ? "Edit reservation" : "File a reservation",
       Tmpl("reservation_form.html"), vars);
}

int StatusFor(const Status& st) { return api::HttpStatusFor(st.code()); }

// ---- sender pages

void SenderList(const Ctx& x, const httplib::Request& req, httplib::Response& res,
                const SenderIdentity& who, const std::string& flash) {
  auto list = x.s.platform->ListReservations(who);
  if (!list.ok())
    return Message(x, req, res, StatusFor(list.status()), "Error", list.status().message());
  std::string table;
  if (list->empty()) {
    table = "<p>You have no reservations yet.</p>";
  } else {
    table = "<table><caption>" + std::to_string(list->size()) +
            " reservation(s)</caption><thead><tr><th scope=\"col\">Title</th><th "
            "scope=\"col\">Name</th><th "
            "scope=\"col\">Next</th><th scope=\"col\">Group</th><th scope=\"col\">Price</th><th "
            "scope=\"col\">Status</th>"
            "</tr></thead><tbody>";
    for (const auto& v : *list) {
      const Reservation& r = v.reservation;
      table +=
          "<tr><td><a href=\"/sender/r/" + Escape(r.name) + "\">" + Escape(r.title) +
          "</a></td><td><code>" + Escape(r.name) + "</code></td><td>" + Escape(When(v.next)) +
          "</td><td>" + Escape(r.group_address.ToString() + ":" + std::to_string(r.port)) +
          "</td><td>" +
          Escape(r.price_cents ? reservation::FormatMoney(r.price_cents, r.currency) : "free") +
          "</td><td>" + Escape(std::string(ReservationStatusName(r.status))) + "</td></tr>";
    }
    table += "</tbody></table>";
  }
  Page(x, req, res, 200, "Your reservations", Tmpl("sender_list.html"), Vars{{"table", table}},
       flash.empty() ? "" : Notice(flash));
}

void SenderDetail(const Ctx& x, const httplib::Request& req, httplib::Response& res,
                  const SenderIdentity& who, const std::string& name, const std::string& flash) {
  ReservationPlatform* p = x.s.platform;
  auto v = p->GetReservation(who, name);
  if (!v.ok())
    return Message(x, req, res, StatusFor(v.status()), "Not found", v.status().message(), "/sender",
                   "Your reservations");
  auto st = p->Stats(who, name);
  auto ledger = p->Ledger(who, name);
  auto grants = p->Grants(who, name);
  if (!st.ok() || !ledger.ok() || !grants.ok())
    return Message(x, req, res, 500, "Error", "cannot read the reservation's statistics");
  const Reservation& r = v->reservation;
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Title", r.title},
      {"Name", r.name},
      {"Status", std::string(ReservationStatusName(r.status))},
      {"Next occurrence", When(v->next)},
      {"First start", FormatRfc3339(r.schedule.start)},
      {"Duration", FormatDuration(r.schedule.duration)},
      {"Repeats", r.schedule.rule ? r.schedule.rule->ToString() : "no"},
      {"Multicast group", r.group_address.ToString() + " port " + std::to_string(r.port)},
      {"Security association", r.sa_mode == SaMode::kGenerated
                                   ? "generated by Keycast; event " + v->event_name
                                   : "provided; SPI " + std::to_string(r.spi.value) + ", " +
                                         std::string(crypto::AeadName(r.algorithm))},
      {"Price per receiver",
       r.price_cents ? reservation::FormatMoney(r.price_cents, r.currency) : "free"},
      {"Receiver list", v->receivers.empty() ? "none" : Join(v->receivers, ", ")},
      {"Directory groups admitted", v->groups.empty() ? "none" : Join(v->groups, ", ")}};
  std::string grants_html = "<p>No receiver has access yet.</p>";
  if (!grants->empty()) {
    grants_html =
        "<table><caption>Access grants</caption><thead><tr><th scope=\"col\">Receiver</th><th "
        "scope=\"col\">Approved by</th><th scope=\"col\">Since</th><th "
        "scope=\"col\">State</th></tr></thead><tbody>";
    for (const auto& g : *grants)
      grants_html += "<tr><td>" + Escape(g.receiver) + "</td><td>" + Escape(g.via) + "</td><td>" +
                     Escape(FormatRfc3339(g.created_at)) + "</td><td>" +
                     (g.revoked_at ? "revoked" : "live") + "</td></tr>";
    grants_html += "</tbody></table>";
  }
  std::string ledger_html = "<p>No payments yet.</p>";
  if (!ledger->empty()) {
    ledger_html =
        "<table><caption>Charges and refunds</caption><thead><tr><th scope=\"col\">#</th><th "
        "scope=\"col\">Receiver</th><th scope=\"col\">Kind</th><th scope=\"col\">Status</th><th "
        "scope=\"col\">Amount</th><th scope=\"col\">Card</th><th "
        "scope=\"col\">Note</th></tr></thead><tbody>";
    for (const auto& e : *ledger)
      ledger_html += "<tr><td>" + std::to_string(e.id) + "</td><td>" + Escape(e.receiver) +
                     "</td><td>" + Escape(e.kind) + "</td><td>" + Escape(e.status) + "</td><td>" +
                     Escape(reservation::FormatMoney(e.amount_cents, e.currency)) + "</td><td>" +
                     Escape(e.card_last4.empty() ? "" : "•••• " + e.card_last4) + "</td><td>" +
                     Escape(e.reason) + "</td></tr>";
    ledger_html += "</tbody></table>";
  }
  std::string csrf = Csrf(x, req, res);
  std::string edit = v->editable
                         ? "<p><a class=\"button\" href=\"/sender/r/" + Escape(r.name) +
                               "/edit\">Edit reservation</a></p>"
                         : "<p class=\"hint\">This reservation can no longer be edited.</p>";
  std::string cancel;
  if (r.status == ReservationStatus::kActive && v->next) {
    cancel =
        "<section class=\"danger-zone\" aria-labelledby=\"h-cancel\"><h2 id=\"h-cancel\">Cancel "
        "the "
        "transmission</h2><p>Receivers lose access and every payment is refunded.</p>"
        "<form method=\"post\" action=\"/sender/r/" +
        Escape(r.name) +
        "/cancel\" data-once>"
        "<input type=\"hidden\" name=\"csrf\" value=\"" +
        Escape(csrf) +
        "\">"
        "<p><label class=\"choice\"><input type=\"checkbox\" name=\"confirm\" value=\"yes\" "
        "required> "
        "Yes, cancel <strong>" +
        Escape(r.title) +
        "</strong> and refund every receiver</label></p>"
        "<p><button type=\"submit\" class=\"danger\" data-busy=\"Cancelling…\">Cancel "
        "transmission</button></p>"
        "</form></section>";
  }
  auto dash = [](size_t n) { return std::to_string(n); };
  Vars vars{{"title", r.title},
            {"name", r.name},
            {"status", std::string(ReservationStatusName(r.status))},
            {"approved_receivers", dash(st->approved_receivers)},
            {"subscribers", dash(st->subscribers)},
            {"entitled_now", dash(st->entitled_now)},
            {"keyed_now", st->keyed_now ? std::to_string(*st->keyed_now) : "unknown"},
            {"collected", reservation::FormatMoney(st->collected_cents, st->currency)},
            {"charges_declined", dash(st->charges_declined)},
            {"requests_refused", dash(st->requests_refused)},
            {"as_of", FormatRfc3339(st->as_of)},
            {"details", Dl(rows)},
            {"edit", edit},
            {"grants", grants_html},
            {"ledger", ledger_html},
            {"cancel", cancel}};
  Page(x, req, res, 200, r.title, Tmpl("sender_detail.html"), vars,
       flash.empty() ? "" : Notice(flash));
}

// ---- receiver pages

std::string TransmissionDetails(const PublicTransmission& t) {
  std::string access;
  if (t.needs_password) access += "receivers on the sender's list (name and password)";
  if (t.needs_payment)
    access += std::string(access.empty() ? "" : ", who also pay ") +
              (access.empty() ? "anyone who pays " : "") +
              reservation::FormatMoney(t.price_cents, t.currency);
  if (t.subscribers)
    access +=
        std::string(access.empty() ? "" : "; ") + "subscribers of the sender's directory groups";
  return Dl(
      {{"Transmission", t.name},
       {"Sender", t.sender_name},
       {"Next", When(t.next)},
       {"Repeats", t.schedule.rule ? t.schedule.rule->ToString() : "no"},
       {"Multicast group", t.group_address.ToString() + " port " + std::to_string(t.port)},
       {"Price", t.price_cents ? reservation::FormatMoney(t.price_cents, t.currency) : "free"},
       {"Who may receive", access}});
}

struct RequestValues {
  std::string receiver, card_expiry;
};

void TransmissionPage(const Ctx& x, const httplib::Request& req, httplib::Response& res, int status,
                      const PublicTransmission& t, const RequestValues& v,
                      const std::string& error) {
  std::string form;
  if (!t.accepts_requests) {
    form =
        "<p>This transmission is for subscribers of the sender's directory groups only. They need "
        "no request: "
        "log in with your own Keycast credentials and run <code>keycast client join resv." +
        Escape(t.name) + "</code>.</p>";
  } else if (!t.next) {
    form = "<p>This transmission is over.</p>";
  } else {
    std::string password_field, card_fields;
    if (t.needs_password || t.subscribers) {
      std::string label = t.needs_password ? "Password" : "Keycast password (subscribers)";
      password_field = "<p><label for=\"password\">" + Escape(label) +
                       "</label><input id=\"password\" name=\"password\" type=\"password\" "
                       "autocomplete=\"current-password\" maxlength=\"256\"" +
                       std::string(t.needs_password ? " required" : "") + "></p>";
    }
    if (t.needs_payment) {
      card_fields = "<fieldset><legend>Payment: " +
                    Escape(reservation::FormatMoney(t.price_cents, t.currency)) +
                    "</legend><p><label for=\"card_number\">Card number</label><input "
                    "id=\"card_number\" name=\"card_number\" "
                    "inputmode=\"numeric\" autocomplete=\"cc-number\" maxlength=\"32\" "
                    "required></p><p><label for=\"card_expiry\">Expiry (MM/YY)</label><input "
                    "id=\"card_expiry\" name=\"card_expiry\" "
                    "autocomplete=\"cc-exp\" maxlength=\"7\" value=\"" +
                    Escape(v.card_expiry) +
                    "\" required></p><p><label for=\"card_cvc\">Security code</label><input "
                    "id=\"card_cvc\" name=\"card_cvc\" "
                    "inputmode=\"numeric\" autocomplete=\"cc-csc\" maxlength=\"4\" required></p>"
                    "<p class=\"hint\">The card is charged once, by Keycast on the sender's "
                    "behalf; a refused card is not "
                    "charged.</p></fieldset>";
    }
    std::string help = t.needs_password
                           ? "The name the sender put on the list."
                           : "Choose a name for your access (letters, digits, '.', '_', '-').";
    auto f =
        Render(Tmpl("request_form.html"),
               Vars{{"name", t.name},
                    {"csrf", Csrf(x, req, res)},
                    {"idempotency_key", ToHex(crypto::RandomBytes(16))},
                    {"receiver", v.receiver},
                    {"receiver_help", help},
                    {"password_field", password_field},
                    {"card_fields", card_fields},
                    {"submit", t.needs_payment ? "Pay and request access" : "Request access"}});
    form = f.ok() ? *f : "";
  }
  Page(x, req, res, status, t.title, Tmpl("transmission.html"),
       Vars{{"title", t.title},
            {"details", TransmissionDetails(t)},
            {"error", error.empty() ? "" : ErrorBox("No access", error)},
            {"form", form}});
}

void AddRoutes(ApiServer& api, std::shared_ptr<Ctx> x, bool home_at_root) {
  AddStaticRoute(api);

  auto home = [x](const httplib::Request& req, httplib::Response& res) {
    Page(*x, req, res, 200, "Home", Tmpl("home.html"), {});
  };
  api.Add("GET", "/reservations", "Web: the reservation platform's home page", false, home);
  // "/" is the operator console's where the directory role runs.
  if (home_at_root) api.Add("GET", "/", "Web: home page", false, home);

  // ---- senders
  api.Add("GET", "/sender/login", "Web: sender sign-in form", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            Page(*x, req, res, 200, "Sign in", Tmpl("sender_login.html"),
                 Vars{{"error", ""},
                      {"csrf", Csrf(*x, req, res)},
                      {"client", ""},
                      {"senders_group", x->s.platform->options().senders_group}});
          });
  api.Add("POST", "/sender/login", "Web: sign in", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            auto f = Form(*x, req, res);
            if (!f) return;
            std::string client = Trim(Field(*f, "client"));
            LoginOrigin origin{req.remote_addr};
            auto who = x->s.platform->AuthenticateSender(client, Field(*f, "password"), &origin);
            if (!who.ok()) {
              if (origin.retry_after_seconds > 0)
                res.set_header("Retry-After", std::to_string(origin.retry_after_seconds));
              return Page(*x, req, res, StatusFor(who.status()), "Sign in",
                          Tmpl("sender_login.html"),
                          Vars{{"error", ErrorBox("Not signed in", who.status().message())},
                               {"csrf", Csrf(*x, req, res)},
                               {"client", client},
                               {"senders_group", x->s.platform->options().senders_group}});
            }
            std::string token = x->s.sessions->Create(*who);
            SetCookie(res, kSessionCookie, token, x->s.secure_cookies);
            // A fresh CSRF cookie for the signed-in browser.
            SetCookie(res, kCsrfCookie, reservation::SessionStore::NewCsrfCookie(),
                      x->s.secure_cookies);
            Redirect(res, "/sender");
          });
  api.Add("POST", "/sender/logout", "Web: sign out", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            auto f = Form(*x, req, res);
            if (!f) return;
            std::string token = Cookie(req, kSessionCookie);
            if (!token.empty()) x->s.sessions->Remove(token);
            SetCookie(res, kSessionCookie, "", x->s.secure_cookies, 0);
            Redirect(res, "/");
          });

  auto signed_in = [x](auto fn) {
    return [x, fn](const httplib::Request& req, httplib::Response& res) {
      auto who = Sender(*x, req);
      if (!who) {
        if (req.method == "GET") return Redirect(res, "/sender/login");
        return Message(*x, req, res, 401, "Signed out", "Your session has ended; sign in again.",
                       "/sender/login", "Sign in");
      }
      fn(*who, req, res);
    };
  };

  api.Add("GET", "/sender", "Web: the sender's reservations", false,
          signed_in([x](const SenderIdentity& who, const httplib::Request& req,
                        httplib::Response& res) { SenderList(*x, req, res, who, ""); }));
  api.Add(
      "GET", "/sender/new", "Web: reservation form", false,
      signed_in([x](const SenderIdentity&, const httplib::Request& req, httplib::Response& res) {
        FormValues v;
        v.duration = "60";
        ReservationForm(*x, req, res, 200, v, nullptr, "");
      }));
  api.Add("POST", "/sender/new", "Web: file a reservation", false,
          signed_in(
              [x](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto f = Form(*x, req, res);
                if (!f) return;
                FormValues v = ValuesFrom(*f);
                auto spec = SpecFrom(v);
                if (!spec.ok())
                  return ReservationForm(*x, req, res, 400, v, nullptr, spec.status().message());
                auto made = x->s.platform->CreateReservation(who, *spec);
                if (!made.ok())
                  return ReservationForm(*x, req, res, StatusFor(made.status()), v, nullptr,
                                         made.status().message());
                Redirect(res, "/sender/r/" + made->reservation.name + "?done=filed");
              }));
  api.Add("GET", "/sender/r/{name}", "Web: a reservation with its statistics", false,
          signed_in(
              [x](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                std::string done = req.get_param_value("done");
                std::string flash = done == "filed"       ? "The reservation is filed."
                                    : done == "saved"     ? "Your changes are saved."
                                    : done == "cancelled" ? "The transmission is cancelled."
                                                          : "";
                if (done == "cancelled" && req.has_param("refunds"))
                  flash += " Refunds: " + req.get_param_value("refunds").substr(0, 8) + ".";
                SenderDetail(*x, req, res, who, req.matches[1], flash);
              }));
  api.Add("GET", "/sender/r/{name}/edit", "Web: edit form", false,
          signed_in(
              [x](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto v = x->s.platform->GetReservation(who, req.matches[1]);
                if (!v.ok())
                  return Message(*x, req, res, StatusFor(v.status()), "Not found",
                                 v.status().message());
                if (!v->editable)
                  return Message(
                      *x, req, res, 409, "Cannot edit",
                      "This reservation has started or is cancelled; it can no longer be edited.",
                      "/sender/r/" + v->reservation.name, "Back");
                ReservationForm(*x, req, res, 200, ValuesOf(*v), &*v, "");
              }));
  api.Add("POST", "/sender/r/{name}/edit", "Web: save an edit", false,
          signed_in(
              [x](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto f = Form(*x, req, res);
                if (!f) return;
                auto current = x->s.platform->GetReservation(who, req.matches[1]);
                if (!current.ok())
                  return Message(*x, req, res, StatusFor(current.status()), "Not found",
                                 current.status().message());
                FormValues v = ValuesFrom(*f);
                v.name = current->reservation.name;
                v.sa_mode = std::string(SaModeName(current->reservation.sa_mode));
                auto patch = PatchFrom(v);
                if (!patch.ok())
                  return ReservationForm(*x, req, res, 400, v, &*current, patch.status().message());
                auto saved = x->s.platform->UpdateReservation(who, v.name, *patch);
                if (!saved.ok())
                  return ReservationForm(*x, req, res, StatusFor(saved.status()), v, &*current,
                                         saved.status().message());
                Redirect(res, "/sender/r/" + v.name + "?done=saved");
              }));
  api.Add("POST", "/sender/r/{name}/cancel", "Web: cancel a reservation", false,
          signed_in(
              [x](const SenderIdentity& who, const httplib::Request& req, httplib::Response& res) {
                auto f = Form(*x, req, res);
                if (!f) return;
                std::string name = req.matches[1];
                if (Field(*f, "confirm") != "yes")
                  return Message(*x, req, res, 400, "Not cancelled",
                                 "Tick the box to confirm the cancellation.", "/sender/r/" + name,
                                 "Back");
                auto c = x->s.platform->CancelReservation(who, name);
                if (!c.ok())
                  return Message(*x, req, res, StatusFor(c.status()), "Not cancelled",
                                 c.status().message(), "/sender/r/" + name, "Back");
                std::string refunds =
                    std::to_string(c->refunds) +
                    (c->refunds_failed ? "+" + std::to_string(c->refunds_failed) + "failed" : "");
                Redirect(res, "/sender/r/" + name + "?done=cancelled&refunds=" + refunds);
              }));

  // ---- receivers
  api.Add("GET", "/watch", "Web: find a transmission", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            std::string q = req.get_param_value("q");
            auto list = x->s.platform->FindTransmissions(q, 100);
            if (!list.ok())
              return Message(*x, req, res, StatusFor(list.status()), "Search failed",
                             list.status().message());
            std::string results;
            if (list->empty()) {
              results = "<p>No transmission matches.</p>";
            } else {
              results = "<table><caption>" + std::to_string(list->size()) +
                        " transmission(s)</caption><thead><tr><th scope=\"col\">Title</th><th "
                        "scope=\"col\">Name</th><th "
                        "scope=\"col\">Next</th><th scope=\"col\">Price</th></tr></thead><tbody>";
              for (const auto& t : *list)
                results +=
                    "<tr><td><a href=\"/watch/" + Escape(t.name) + "\">" + Escape(t.title) +
                    "</a></td><td><code>" + Escape(t.name) + "</code></td><td>" +
                    Escape(When(t.next)) + "</td><td>" +
                    Escape(t.price_cents ? reservation::FormatMoney(t.price_cents, t.currency)
                                         : "free") +
                    "</td></tr>";
              results += "</tbody></table>";
            }
            Page(*x, req, res, 200, "Find a transmission", Tmpl("find.html"),
                 Vars{{"q", q}, {"results", results}});
          });
  api.Add("GET", "/watch/{name}", "Web: a transmission and its request form", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            auto t = x->s.platform->DescribeTransmission(req.matches[1]);
            if (!t.ok())
              return Message(*x, req, res, StatusFor(t.status()), "Not found", t.status().message(),
                             "/watch", "Find a transmission");
            TransmissionPage(*x, req, res, 200, *t, {}, "");
          });
  api.Add(
      "POST", "/watch/{name}/request",
      "Web: request access (runs the seed-004 exchange server-side)", false,
      [x](const httplib::Request& req, httplib::Response& res) {
        auto f = Form(*x, req, res);
        if (!f) return;
        std::string name = req.matches[1];
        auto t = x->s.platform->DescribeTransmission(name);
        if (!t.ok())
          return Message(*x, req, res, StatusFor(t.status()), "Not found", t.status().message(),
                         "/watch", "Find a transmission");
        RequestValues v{Trim(Field(*f, "receiver")), Trim(Field(*f, "card_expiry"))};
        AccessParameter p;
        p.idempotency_key = Field(*f, "idempotency_key");
        p.password = SecretBytes(AsBytes(Field(*f, "password")));
        p.card_number = SecretBytes(AsBytes(Field(*f, "card_number")));
        p.card_expiry = v.card_expiry;
        p.card_cvc = SecretBytes(AsBytes(Trim(Field(*f, "card_cvc"))));
        for (auto& [k, val] : *f) SecureWipe(val.data(), val.size());
        Status check = reservation::ValidateReceiverName(v.receiver);
        if (!check.ok()) return TransmissionPage(*x, req, res, 400, *t, v, check.message());
        LoginOrigin origin{req.remote_addr};
        auto cfg = RequestAccessInProcess(*x->s.channel, name, v.receiver, p,
                                          x->s.platform->Authorizer(&origin));
        if (!cfg.ok() && origin.retry_after_seconds > 0)
          res.set_header("Retry-After", std::to_string(origin.retry_after_seconds));
        if (!cfg.ok())
          return TransmissionPage(*x, req, res, StatusFor(cfg.status()), *t, v,
                                  cfg.status().message());
        std::string text = reservation::AgentConfigToEnvFile(*cfg);
        std::string token = x->downloads->Put("keycast-" + name + "-" + v.receiver + ".env", text);
        std::string summary = "You may receive \"" + cfg->title + "\" as " + cfg->receiver + ".";
        if (cfg->charged_cents)
          summary += " Charged " + reservation::FormatMoney(cfg->charged_cents, cfg->currency) +
                     " (once).";
        std::string howto = cfg->mode == "keycast"
                                ? "Run: set -a; . ./keycast-" + name + "-" + v.receiver +
                                      ".env; set +a; keycast client join \"$KEYCAST_EVENT\""
                                : "Install the SA in your security agent.";
        Page(*x, req, res, 200, "Access granted", Tmpl("granted.html"),
             Vars{{"summary", summary},
                  {"howto", howto},
                  {"config", text},
                  {"csrf", Csrf(*x, req, res)},
                  {"token", token},
                  {"name", name}});
        SecureWipe(text.data(), text.size());
      });
  api.Add("POST", "/watch/download", "Web: download an agent configuration", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            auto f = Form(*x, req, res);
            if (!f) return;
            auto item = x->downloads->Get(Field(*f, "token"));
            if (!item)
              return Message(
                  *x, req, res, 410, "Download expired",
                  "The configuration is kept for 10 minutes; request access again to get it.",
                  "/watch", "Find a transmission");
            SecurityHeaders(res);
            res.set_header("Content-Disposition", "attachment; filename=\"" + item->first + "\"");
            res.set_content(item->second, "text/plain; charset=utf-8");
          });
}

}  // namespace

void AddPages(ApiServer& api, const reservation::Service& s, bool home_at_root) {
  auto x = std::make_shared<Ctx>(Ctx{s, std::make_shared<Downloads>()});
  AddRoutes(api, x, home_at_root);
}

}  // namespace keycast::web
