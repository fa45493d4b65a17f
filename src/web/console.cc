// The operator console (web/console.h). Pages render from the services the
// admin API uses; every change is an ApiServer::Call of the admin route the
// CLI uses. POST handlers read: session -> CSRF -> form -> Call -> redirect
// (or the page again with the API's message next to its field).
#include "web/console.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <thread>

#include "keycast/crypto.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"
#include "keycast/schedule.h"
#include "keycast/web_session.h"
#include "web/console_draw.h"
#include "web/http.h"
#include "web/template.h"

namespace keycast::web {
namespace {

using json = nlohmann::json;
using Fields = std::map<std::string, std::string>;

constexpr std::string_view kConsoleCookie = "kc_console";
constexpr size_t kPage = 50;

// Who signed in: the admin token's actor, and the token itself, which every
// change is made with (so a revoked token ends the session's power at once).
struct Operator {
  Actor actor;
  SecretBytes token;
};

std::string Tmpl(const char* name) {
  auto a = Asset(std::string("templates/") + name);
  if (!a) throw std::logic_error(std::string("missing template ") + name);
  return std::string(*a);
}

// The API's error message of an answer, or a generic one.
std::string ErrorMessage(const ApiServer::LocalAnswer& a) {
  json j = json::parse(a.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].value("message", "") != "")
    return j["error"]["message"].get<std::string>();
  return "the request failed (HTTP " + std::to_string(a.status) + ")";
}

// Which of a form's fields an API message is about: "field 'port': ..."
// (the API's JSON reader), else the message's first word ("client 'x' does
// not exist", "password must be ...") through the form's aliases.
std::string FieldOf(const std::string& message, const std::map<std::string, std::string>& words) {
  std::string word;
  if (message.rfind("field '", 0) == 0) {
    size_t end = message.find('\'', 7);
    word = message.substr(7, end == std::string::npos ? 0 : end - 7);
    word = word.substr(0, word.find('.'));
  } else {
    word = message.substr(0, message.find_first_of(" '"));
  }
  auto it = words.find(word);
  return it == words.end() ? "" : it->second;
}

// A form that failed: what was typed and the errors by field ("" = the form).
struct FormState {
  std::string form;
  Fields values;
  std::map<std::string, std::string> errors;
  int status = 200;
};

std::string ErrorBox(const std::string& heading, const std::string& message) {
  return "<div class=\"error\" role=\"alert\"><h2>" + Escape(heading) + "</h2><p>" +
         Escape(message) + "</p></div>";
}

std::string Notice(const std::string& message) {
  return "<div class=\"notice\" role=\"status\"><p>" + Escape(message) + "</p></div>";
}

// One labelled input, with its error right after it (aria-describedby).
std::string Input(const FormState* st, const std::string& form, const std::string& name,
                  const std::string& label, const std::string& attrs,
                  const std::string& hint = "") {
  std::string id = form + "-" + name;
  std::string value, error;
  if (st && st->form == form) {
    auto v = st->values.find(name);
    if (v != st->values.end() && attrs.find("type=\"password\"") == std::string::npos)
      value = v->second;
    auto e = st->errors.find(name);
    if (e != st->errors.end()) error = e->second;
  }
  std::string described;
  if (!hint.empty()) described += id + "-hint";
  if (!error.empty()) described += (described.empty() ? "" : " ") + id + "-error";
  std::string s = "<p><label for=\"" + Escape(id) + "\">" + Escape(label) + "</label><input id=\"" +
                  Escape(id) + "\" name=\"" + Escape(name) + "\" " + attrs + " value=\"" +
                  Escape(value) + "\"";
  if (!described.empty()) s += " aria-describedby=\"" + Escape(described) + "\"";
  if (!error.empty()) s += " aria-invalid=\"true\"";
  s += ">";
  if (!hint.empty())
    s += "<span class=\"hint\" id=\"" + Escape(id) + "-hint\">" + Escape(hint) + "</span>";
  if (!error.empty())
    s += "<span class=\"field-error\" id=\"" + Escape(id) + "-error\">" + Escape(error) + "</span>";
  return s + "</p>";
}

std::string FormError(const FormState* st, const std::string& form, const std::string& heading) {
  if (!st || st->form != form) return "";
  auto e = st->errors.find("");
  return e == st->errors.end() ? "" : ErrorBox(heading, e->second);
}

std::string Hidden(const std::string& name, const std::string& value) {
  return "<input type=\"hidden\" name=\"" + Escape(name) + "\" value=\"" + Escape(value) + "\">";
}

// A one-button form (enable, disable, remove, rekey).
std::string Button(const std::string& action, const std::string& csrf, const Fields& hidden,
                   const std::string& text, const std::string& label, bool danger = false) {
  std::string s = "<form method=\"post\" action=\"" + Escape(action) + "\" class=\"button-form\">" +
                  Hidden("csrf", csrf);
  for (const auto& [k, v] : hidden) s += Hidden(k, v);
  return s + "<button type=\"submit\" class=\"small" + (danger ? " danger" : "") +
         "\" aria-label=\"" + Escape(label) + "\">" + Escape(text) + "</button></form>";
}

bool ValidPageName(const std::string& s) { return s.size() <= limits::kMaxNameLength; }

// A directory name that can be a path segment of an API route.
bool PathSafe(const std::string& s) {
  if (s.empty() || s.size() > limits::kMaxNameLength) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

}  // namespace

struct Console::Impl {
  ConsoleOptions o;
  SessionStore<Operator> sessions;
  RateHistory rates;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread sampler;

  explicit Impl(ConsoleOptions opts)
      : o(std::move(opts)),
        sessions(o.clock, crypto::RandomSecret(32), o.session_seconds, o.idle_seconds),
        rates(o.chart_seconds) {
    if (!o.read_counters)
      o.read_counters = [] {
        return Metrics::Global().CounterValues("keycast_key_requests_total", "result");
      };
  }

  std::string Csrf(const httplib::Request& req, httplib::Response& res) {
    return CsrfFormToken(sessions, o.secure_cookies, req, res);
  }

  // The signed-in operator whose admin token is still valid, or nullopt.
  std::optional<Operator> SignedIn(const httplib::Request& req) {
    std::string cookie = Cookie(req, kConsoleCookie);
    if (cookie.empty()) return std::nullopt;
    auto op = sessions.Find(cookie);
    if (!op) return std::nullopt;
    std::string token(reinterpret_cast<const char*>(op->token.reveal().data()), op->token.size());
    bool valid = o.directory->AuthenticateAdmin(token).ok();
    SecureWipe(token.data(), token.size());
    if (!valid) {
      sessions.Remove(cookie);
      return std::nullopt;
    }
    return op;
  }

  // A change, as the operator, through the admin API's own route.
  ApiServer::LocalAnswer Change(const Operator& op, const std::string& method,
                                const std::string& path, const json& body) {
    std::string token(reinterpret_cast<const char*>(op.token.reveal().data()), op.token.size());
    std::string text = body.is_null() ? "" : body.dump();  // may hold a password
    auto a = o.api->Call(method, path, token, text);
    SecureWipe(token.data(), token.size());
    SecureWipe(text.data(), text.size());
    return a;
  }

  std::string Nav(const std::string& current) {
    struct Item {
      const char* href;
      const char* text;
    };
    std::vector<Item> items = {{"/", "Overview"},
                               {"/console/clients", "Clients"},
                               {"/console/events", "Events"},
                               {"/console/audit", "Audit log"}};
    if (o.reservation_pages) {
      items.push_back({"/sender", "Sender pages"});
      items.push_back({"/watch", "Receiver pages"});
    }
    std::string s = "<nav aria-label=\"Console\"><ul>";
    for (const auto& i : items)
      s += std::string("<li><a href=\"") + i.href + "\"" +
           (current == i.href ? " aria-current=\"page\"" : "") + ">" + i.text + "</a></li>";
    return s + "</ul></nav>";
  }

  void Page(const httplib::Request& req, httplib::Response& res, int status,
            const std::string& title, const std::string& current, const std::string& body_tmpl,
            const Vars& vars, const std::optional<Operator>& op, const std::string& flash = "") {
    auto body = Render(body_tmpl, vars);
    std::string account;
    if (op)
      account = "<div class=\"account\"><span>Signed in as <strong>" + Escape(op->actor.name) +
                "</strong></span><form method=\"post\" action=\"/console/logout\">" +
                Hidden("csrf", Csrf(req, res)) +
                "<button type=\"submit\" class=\"link\">Sign out</button></form></div>";
    Result<std::string> page =
        body.ok() ? Render(Tmpl("console_layout.html"), Vars{{"title", title},
                                                             {"nav", op ? Nav(current) : ""},
                                                             {"account", account},
                                                             {"flash", flash},
                                                             {"body", *body}})
                  : body;
    if (!page.ok()) {
      spdlog::error("console page '{}': {}", title, page.status().message());
      res.status = 500;
      res.set_content("internal error", "text/plain");
      return;
    }
    SecurityHeaders(res);
    res.status = status;
    res.set_content(*page, "text/html; charset=utf-8");
  }

  void Message(const httplib::Request& req, httplib::Response& res, int status,
               const std::string& heading, const std::string& text,
               const std::optional<Operator>& op, const std::string& back = "/") {
    Page(req, res, status, heading, "", Tmpl("console_message.html"),
         Vars{{"heading", heading}, {"text", text}, {"back", back}}, op);
  }

  // ---- sign-in

  void Login(const httplib::Request& req, httplib::Response& res, int status,
             const std::string& error) {
    FormState st{"login", {}, {}, status};
    if (!error.empty()) st.errors["token"] = error;
    Page(req, res, status, "Sign in", "", Tmpl("console_login.html"),
         Vars{{"csrf", Csrf(req, res)},
              {"token_field",
               Input(&st, "login", "token", "Admin token",
                     "type=\"password\" autocomplete=\"off\" required maxlength=\"200\"",
                     "Made by `keycast init` or `keycast admin token create`; `keycast dev` "
                     "prints one.")}},
         std::nullopt);
  }

  // ---- overview

  std::string RatesFragment() {
    int64_t now = o.clock->NowSeconds();
    std::string s = rates.Svg(now, "rates-title");
    auto series = rates.Series();
    s += "<table class=\"compact\"><caption>Latest rates (requests per second)</caption><thead><tr>"
         "<th scope=\"col\">Result</th><th scope=\"col\">Per second</th></tr></thead><tbody>";
    if (series.empty()) {
      s += "<tr><td colspan=\"2\">No samples yet.</td></tr>";
    } else {
      for (const auto& [k, v] : series.back().per_s) {
        char b[32];
        std::snprintf(b, sizeof b, "%.1f", v);
        s +=
            "<tr><td>" + Escape(k) + "</td><td data-rate=\"" + Escape(k) + "\">" + b + "</td></tr>";
      }
    }
    s += "</tbody></table>";
    if (!o.keyed_clients)
      s += "<p class=\"hint\">This node runs no key service: its own counters stay at zero.</p>";
    return s;
  }

  void Overview(const httplib::Request& req, httplib::Response& res, const Operator& op,
                const FormState* st, const std::string& flash) {
    auto c = o.directory->counts();
    auto groups = o.directory->ListGroups("", kMaxDrawnGroups);
    std::string csrf = Csrf(req, res);
    std::string form =
        FormError(st, "group", "The group was not created") +
        "<form method=\"post\" action=\"/console/groups\" class=\"stack\">" + Hidden("csrf", csrf) +
        Input(st, "group", "name", "Group name", "required maxlength=\"64\" autocomplete=\"off\"") +
        Input(st, "group", "parent", "Parent group (optional)",
              "maxlength=\"64\" autocomplete=\"off\"") +
        "<p><button type=\"submit\">Create group</button></p></form>";
    Page(req, res, st ? st->status : 200, "Overview", "/", Tmpl("console_overview.html"),
         Vars{{"clients", std::to_string(c.clients)},
              {"groups", std::to_string(c.groups)},
              {"events", std::to_string(c.events)},
              {"edges", std::to_string(c.edges)},
              {"dag", DagSvg(groups, c.groups)},
              {"group_form", form},
              {"rates", RatesFragment()},
              {"sample_seconds", std::to_string(o.sample_seconds)}},
         op, flash);
  }

  // ---- clients

  void Clients(const httplib::Request& req, httplib::Response& res, const Operator& op,
               const FormState* st, const std::string& flash) {
    std::string after = req.get_param_value("after");
    if (st && st->values.count("page")) after = st->values.at("page");
    if (!ValidPageName(after)) after.clear();
    auto list = o.directory->ListClients(after, kPage);
    std::string csrf = Csrf(req, res);
    std::string table;
    if (list.empty()) {
      table = "<p>No clients" + std::string(after.empty() ? "" : " after this page") + ".</p>";
    } else {
      table = "<table><caption>Clients" +
              std::string(after.empty() ? "" : " after " + Escape(after)) +
              "</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">State</th><th "
              "scope=\"col\">Groups</th><th scope=\"col\">Change</th></tr></thead><tbody>";
      for (const auto& v : list) {
        const Client& cl = v.client;
        std::string groups;
        for (const auto& [g, role] : v.groups)
          groups += "<li><span>" + Escape(g) + " <span class=\"hint-inline\">(" +
                    Escape(std::string(RoleName(role))) + ")</span></span>" +
                    Button("/console/memberships/remove", csrf,
                           {{"client", cl.name}, {"group", g}, {"page", after}}, "Remove",
                           "Remove " + cl.name + " from " + g, true) +
                    "</li>";
        groups = groups.empty() ? "<span class=\"hint-inline\">none</span>"
                                : "<ul class=\"memberships\">" + groups + "</ul>";
        std::string toggle = cl.enabled ? Button("/console/clients/" + cl.name + "/disable", csrf,
                                                 {{"page", after}}, "Disable", "Disable " + cl.name)
                                        : Button("/console/clients/" + cl.name + "/enable", csrf,
                                                 {{"page", after}}, "Enable", "Enable " + cl.name);
        table += "<tr data-client=\"" + Escape(cl.name) + "\"><th scope=\"row\">" +
                 Escape(cl.name) +
                 (cl.description.empty()
                      ? ""
                      : "<span class=\"hint\">" + Escape(cl.description) + "</span>") +
                 "</th><td>" + (cl.enabled ? "enabled" : "<strong>disabled</strong>") +
                 "</td><td>" + groups + "</td><td>" + toggle + "</td></tr>";
      }
      table += "</tbody></table>";
    }
    std::string pager;
    if (!after.empty()) pager += "<a href=\"/console/clients\">First page</a>";
    if (list.size() == kPage)
      pager += std::string(pager.empty() ? "" : " · ") +
               "<a href=\"/console/clients?after=" + Escape(list.back().client.name) +
               "\">Next page</a>";
    if (!pager.empty()) pager = "<p class=\"pager\">" + pager + "</p>";
    std::string create =
        FormError(st, "client", "The client was not created") +
        "<form method=\"post\" action=\"/console/clients\" class=\"stack\">" +
        Hidden("csrf", csrf) + Hidden("page", after) +
        Input(st, "client", "name", "Name", "required maxlength=\"64\" autocomplete=\"off\"",
              "Letters, digits, '.', '_' and '-'.") +
        Input(st, "client", "description", "Description (optional)", "maxlength=\"1024\"") +
        Input(st, "client", "password", "Password (optional)",
              "type=\"password\" autocomplete=\"new-password\" maxlength=\"1024\"",
              "At least 8 characters; leave empty for a client that logs in with an API key.") +
        "<p><button type=\"submit\">Add client</button></p></form>";
    std::string role =
        st && st->form == "member" && st->values.count("role") ? st->values.at("role") : "receiver";
    std::string member =
        FormError(st, "member", "The membership was not added") +
        "<form method=\"post\" action=\"/console/memberships\" class=\"stack\">" +
        Hidden("csrf", csrf) + Hidden("page", after) +
        Input(st, "member", "client", "Client", "required maxlength=\"64\" autocomplete=\"off\"") +
        Input(st, "member", "group", "Group", "required maxlength=\"64\" autocomplete=\"off\"") +
        "<p><label for=\"member-role\">Role</label><select id=\"member-role\" name=\"role\">"
        "<option value=\"receiver\"" +
        std::string(role == "receiver" ? " selected" : "") +
        ">receiver</option><option value=\"sender\"" + (role == "sender" ? " selected" : "") +
        ">sender</option></select></p><p><button type=\"submit\">Add to group</button></p></form>";
    Page(req, res, st ? st->status : 200, "Clients", "/console/clients",
         Tmpl("console_clients.html"),
         Vars{{"table", table}, {"pager", pager}, {"create_form", create}, {"member_form", member}},
         op, flash);
  }

  // ---- events

  std::string Interval(const Event& e, int64_t now) {
    auto ep = EpochAt(e.schedule, e.interval_seconds, now);
    if (!ep) return "not running";
    auto w = EpochWindow(e.schedule, e.interval_seconds, *ep);
    std::string s = std::to_string(ep->occurrence) + "." + std::to_string(ep->index);
    if (w.ok())
      s += " (" + FormatRfc3339(w->first).substr(11, 8) + "–" +
           FormatRfc3339(w->second).substr(11, 8) + ")";
    return s;
  }

  void Events(const httplib::Request& req, httplib::Response& res, const Operator& op,
              const std::string& flash, int status = 200) {
    std::string after = req.get_param_value("after");
    if (!ValidPageName(after)) after.clear();
    auto list = o.directory->ListEvents(after, kPage);
    std::string csrf = Csrf(req, res);
    int64_t now = o.clock->NowSeconds();
    std::string table;
    if (list.empty()) {
      table = "<p>No events" + std::string(after.empty() ? "" : " after this page") + ".</p>";
    } else {
      table =
          "<table><caption>Events" + std::string(after.empty() ? "" : " after " + Escape(after)) +
          "</caption><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Schedule</th><th "
          "scope=\"col\">Next occurrence</th><th scope=\"col\">Current interval</th><th "
          "scope=\"col\">Members keyed now</th><th scope=\"col\">Rekey</th></tr></thead><tbody>";
      for (const auto& v : list) {
        const Event& e = *v.event;
        std::string schedule = FormatRfc3339(e.schedule.start) + ", " +
                               FormatDuration(e.schedule.duration) +
                               (e.schedule.rule ? ", " + e.schedule.rule->ToString() : "") +
                               "; interval " + std::to_string(e.interval_seconds) + " s";
        auto cur = OccurrenceAt(e.schedule, now);
        auto next = cur ? cur : NextOccurrence(e.schedule, now);
        std::string next_s = !next ? "over"
                             : cur ? "now, until " + FormatRfc3339(cur->end)
                                   : FormatRfc3339(next->start);
        std::string keyed = "no key service";
        if (o.keyed_clients) {
          Micros since = o.clock->Now() -
                         (int64_t{e.interval_seconds} + o.key_grace_seconds) * kMicrosPerSecond;
          keyed = std::to_string(o.keyed_clients(e.id, since));
        }
        table += "<tr data-event=\"" + Escape(e.name) + "\"><th scope=\"row\">" + Escape(e.name) +
                 "<span class=\"hint\">" + Escape(e.title) + "</span></th><td>" + Escape(schedule) +
                 "</td><td>" + Escape(next_s) + "</td><td>" + Escape(Interval(e, now)) +
                 "</td><td data-keyed=\"" + Escape(e.name) + "\">" + Escape(keyed) + "</td><td>" +
                 Button("/console/events/" + e.name + "/rekey", csrf, {{"page", after}}, "Rekey",
                        "Rekey " + e.name + ": wake its members to fetch keys") +
                 "</td></tr>";
      }
      table += "</tbody></table>";
    }
    std::string pager;
    if (!after.empty()) pager += "<a href=\"/console/events\">First page</a>";
    if (list.size() == kPage)
      pager += std::string(pager.empty() ? "" : " · ") +
               "<a href=\"/console/events?after=" + Escape(list.back().event->name) +
               "\">Next page</a>";
    if (!pager.empty()) pager = "<p class=\"pager\">" + pager + "</p>";
    Page(req, res, status, "Events", "/console/events", Tmpl("console_events.html"),
         Vars{{"table", table}, {"pager", pager}}, op, flash);
  }

  // ---- audit log

  void Audit(const httplib::Request& req, httplib::Response& res, const Operator& op) {
    auto last = o.store->LastAuditSeq();
    if (!last.ok())
      return Message(req, res, 500, "Audit log unavailable", last.status().message(), op);
    int64_t page = static_cast<int64_t>(kPage);
    int64_t after = std::max<int64_t>(0, *last - page);
    if (req.has_param("after")) {
      const std::string a = req.get_param_value("after");
      char* end = nullptr;
      long long v = std::strtoll(a.c_str(), &end, 10);
      if (a.empty() || *end != '\0' || v < 0)
        return Message(req, res, 400, "Bad page", "after must be a record number (0 or more).", op,
                       "/console/audit");
      after = v;
    }
    auto recs = o.store->ReadAudit(after, kPage);
    if (!recs.ok())
      return Message(req, res, 500, "Audit log unavailable", recs.status().message(), op);
    std::string table;
    if (recs->empty()) {
      table = "<p>No records here.</p>";
    } else {
      table = "<table><caption>Records " + std::to_string(recs->front().seq) + "–" +
              std::to_string(recs->back().seq) + " of " + std::to_string(*last) +
              ", newest first</caption><thead><tr><th scope=\"col\">#</th><th "
              "scope=\"col\">Time</th><th scope=\"col\">Actor</th><th scope=\"col\">Action</th><th "
              "scope=\"col\">Target</th><th scope=\"col\">Detail</th></tr></thead><tbody>";
      for (auto it = recs->rbegin(); it != recs->rend(); ++it)
        table += "<tr><td>" + std::to_string(it->seq) + "</td><td>" +
                 Escape(FormatRfc3339(it->time)) + "</td><td>" + Escape(it->actor) +
                 "</td><td><code>" + Escape(it->action) + "</code></td><td>" + Escape(it->target) +
                 "</td><td><code>" + Escape(it->detail) + "</code></td></tr>";
      table += "</tbody></table>";
    }
    std::string pager;
    if (after + page < *last)
      pager += "<a href=\"/console/audit?after=" + std::to_string(after + page) + "\">Newer</a>";
    if (after > 0)
      pager += std::string(pager.empty() ? "" : " · ") + "<a href=\"/console/audit?after=" +
               std::to_string(std::max<int64_t>(0, after - page)) + "\">Older</a>";
    if (!pager.empty()) pager = "<p class=\"pager\">" + pager + "</p>";
    Page(req, res, 200, "Audit log", "/console/audit", Tmpl("console_audit.html"),
         Vars{{"table", table}, {"pager", pager}}, op);
  }
};

namespace {

using ImplPtr = std::shared_ptr<Console::Impl>;
using PageFn = std::function<void(const Operator&, const httplib::Request&, httplib::Response&)>;
using FormFn = std::function<void(const Operator&, const Fields&, const httplib::Request&,
                                  httplib::Response&)>;

// GET pages: signed in, or back to sign-in.
ApiServer::Handler Signed(ImplPtr x, PageFn fn) {
  return [x, fn](const httplib::Request& req, httplib::Response& res) {
    auto op = x->SignedIn(req);
    if (!op) return Redirect(res, "/console/login");
    fn(*op, req, res);
  };
}

// POST forms: the session, then the CSRF token, then the handler. A refusal
// answers before anything runs.
ApiServer::Handler Posted(ImplPtr x, FormFn fn) {
  return [x, fn](const httplib::Request& req, httplib::Response& res) {
    auto op = x->SignedIn(req);
    if (!op) {
      // The session ended: sign in again; nothing was done.
      x->Login(req, res, 401, "Your session has ended; sign in again. Nothing was changed.");
      return;
    }
    PostedForm f = ReadPostedForm(x->sessions, req);
    if (f.refusal != 0)
      return x->Message(req, res, f.refusal, f.refusal == 403 ? "Form refused" : "Unsupported form",
                        f.message + " Nothing was changed.", op, req.path);
    fn(*op, f.fields, req, res);
  };
}

std::string PageQuery(const Fields& f) {
  std::string page = Field(f, "page");
  if (page.empty() || !ValidPageName(page)) return "";
  return "after=" + httplib::detail::encode_query_param(page) + "&";
}

// The flash message of ?done=..., naming what changed.
std::string Flash(const httplib::Request& req) {
  std::string done = req.get_param_value("done");
  std::string what = req.get_param_value("what").substr(0, 200);
  if (done == "created") return Notice(what + " created.");
  if (done == "enabled") return Notice("Client " + what + " is enabled.");
  if (done == "disabled")
    return Notice("Client " + what + " is disabled: it gets no ticket and no key from now on.");
  if (done == "added") return Notice(what + ".");
  if (done == "removed")
    return Notice(what + ": its keys stop from the next interval on (live revocation).");
  if (done == "rekeyed") return Notice(what);
  return "";
}

std::string Done(const std::string& done, const std::string& what) {
  return "done=" + done + "&what=" + httplib::detail::encode_query_param(what);
}

}  // namespace

Console::Console(ConsoleOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  ImplPtr x = impl_;
  ApiServer& api = *x->o.api;
  AddStaticRoute(api);

  api.Add("GET", "/", "Console: overview", false,
          Signed(x, [x](const Operator& op, const httplib::Request& req, httplib::Response& res) {
            x->Overview(req, res, op, nullptr, Flash(req));
          }));
  api.Add("GET", "/console/login", "Console: sign-in form", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            if (x->SignedIn(req)) return Redirect(res, "/");
            x->Login(req, res, 200, "");
          });
  api.Add("POST", "/console/login", "Console: sign in with an admin token", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            PostedForm f = ReadPostedForm(x->sessions, req);
            if (f.refusal != 0)
              return x->Message(req, res, f.refusal, "Form refused", f.message, std::nullopt,
                                "/console/login");
            std::string token = Trim(Field(f.fields, "token"));
            auto actor = x->o.directory->AuthenticateAdmin(token);
            if (!actor.ok()) {
              spdlog::warn("console sign-in from {} refused: {}", req.remote_addr,
                           actor.status().message());
              SecureWipe(token.data(), token.size());
              return x->Login(req, res, 401,
                              "This is not a valid admin token (or it was revoked).");
            }
            std::string session = x->sessions.Create(Operator{*actor, SecretBytes(AsBytes(token))});
            SecureWipe(token.data(), token.size());
            for (auto& [k, v] : f.fields) SecureWipe(v.data(), v.size());
            SetCookie(res, kConsoleCookie, session, x->o.secure_cookies);
            // A fresh CSRF cookie for the signed-in browser.
            SetCookie(res, kCsrfCookie, SessionKeys::NewCsrfCookie(), x->o.secure_cookies);
            Redirect(res, "/");
          });
  api.Add("POST", "/console/logout", "Console: sign out", false,
          [x](const httplib::Request& req, httplib::Response& res) {
            PostedForm f = ReadPostedForm(x->sessions, req);
            if (f.refusal != 0)
              return x->Message(req, res, f.refusal, "Form refused", f.message, std::nullopt);
            std::string session = Cookie(req, kConsoleCookie);
            if (!session.empty()) x->sessions.Remove(session);
            SetCookie(res, kConsoleCookie, "", x->o.secure_cookies, 0);
            Redirect(res, "/console/login");
          });
  api.Add("GET", "/console/rates", "Console: the request-rate chart (a fragment)", false,
          Signed(x, [x](const Operator&, const httplib::Request&, httplib::Response& res) {
            SecurityHeaders(res);
            res.set_content(x->RatesFragment(), "text/html; charset=utf-8");
          }));

  // ---- groups
  api.Add(
      "POST", "/console/groups", "Console: create a group (POST /v1/groups)", false,
      Posted(x, [x](const Operator& op, const Fields& f, const httplib::Request& req,
                    httplib::Response& res) {
        std::string name = Trim(Field(f, "name")), parent = Trim(Field(f, "parent"));
        json body = {{"name", name}};
        if (!parent.empty()) body["parents"] = {parent};
        auto a = x->Change(op, "POST", "/v1/groups", body);
        if (a.status != 201) {
          FormState st{"group", {{"name", name}, {"parent", parent}}, {}, a.status};
          std::string m = ErrorMessage(a);
          st.errors[FieldOf(
              m,
              {{"name", "name"}, {"group", "name"}, {"parent", "parent"}, {"parents", "parent"}})] =
              m;
          return x->Overview(req, res, op, &st, "");
        }
        Redirect(res, "/?" + Done("created", "Group " + name));
      }));

  // ---- clients
  api.Add("GET", "/console/clients", "Console: clients", false,
          Signed(x, [x](const Operator& op, const httplib::Request& req, httplib::Response& res) {
            x->Clients(req, res, op, nullptr, Flash(req));
          }));
  api.Add("POST", "/console/clients", "Console: add a client (POST /v1/clients)", false,
          Posted(x, [x](const Operator& op, const Fields& f, const httplib::Request& req,
                        httplib::Response& res) {
            std::string name = Trim(Field(f, "name")), desc = Trim(Field(f, "description"));
            std::string password = Field(f, "password");
            json body = {{"name", name}};
            if (!desc.empty()) body["description"] = desc;
            if (!password.empty()) body["password"] = password;
            auto a = x->Change(op, "POST", "/v1/clients", body);
            SecureWipe(password.data(), password.size());
            if (body.contains("password")) {
              auto& p = body["password"].get_ref<std::string&>();
              SecureWipe(p.data(), p.size());
            }
            if (a.status != 201) {
              FormState st{"client",
                           {{"name", name}, {"description", desc}, {"page", Field(f, "page")}},
                           {},
                           a.status};
              std::string m = ErrorMessage(a);
              st.errors[FieldOf(m, {{"name", "name"},
                                    {"client", "name"},
                                    {"description", "description"},
                                    {"password", "password"}})] = m;
              return x->Clients(req, res, op, &st, "");
            }
            Redirect(res, "/console/clients?" + PageQuery(f) + Done("created", "Client " + name));
          }));
  for (bool enable : {true, false}) {
    api.Add("POST", std::string("/console/clients/{name}/") + (enable ? "enable" : "disable"),
            std::string("Console: ") + (enable ? "enable" : "disable") +
                " a client (PATCH /v1/clients/{name})",
            false,
            Posted(x, [x, enable](const Operator& op, const Fields& f, const httplib::Request& req,
                                  httplib::Response& res) {
              std::string name = req.matches[1];
              auto a = x->Change(op, "PATCH", "/v1/clients/" + name, json{{"enabled", enable}});
              if (a.status != 200)
                return x->Message(req, res, a.status, "Not changed", ErrorMessage(a), op,
                                  "/console/clients");
              Redirect(res, "/console/clients?" + PageQuery(f) +
                                Done(enable ? "enabled" : "disabled", name));
            }));
  }
  api.Add(
      "POST", "/console/memberships", "Console: add a client to a group (POST /v1/memberships)",
      false,
      Posted(x, [x](const Operator& op, const Fields& f, const httplib::Request& req,
                    httplib::Response& res) {
        std::string client = Trim(Field(f, "client")), group = Trim(Field(f, "group"));
        std::string role = Field(f, "role");
        auto a = x->Change(op, "POST", "/v1/memberships",
                           json{{"client", client}, {"group", group}, {"role", role}});
        if (a.status != 201) {
          FormState st{
              "member",
              {{"client", client}, {"group", group}, {"role", role}, {"page", Field(f, "page")}},
              {},
              a.status};
          std::string m = ErrorMessage(a);
          st.errors[FieldOf(m, {{"client", "client"}, {"group", "group"}, {"role", "role"}})] = m;
          return x->Clients(req, res, op, &st, "");
        }
        Redirect(res, "/console/clients?" + PageQuery(f) +
                          Done("added", client + " is a " + role + " in " + group));
      }));
  api.Add("POST", "/console/memberships/remove",
          "Console: remove a client from a group (DELETE /v1/memberships/{client}/{group})", false,
          Posted(x, [x](const Operator& op, const Fields& f, const httplib::Request& req,
                        httplib::Response& res) {
            std::string client = Field(f, "client"), group = Field(f, "group");
            // The names become a path: refuse what could not be one.
            if (PathSafe(client) && PathSafe(group)) {
              auto a = x->Change(op, "DELETE", "/v1/memberships/" + client + "/" + group, json());
              if (a.status != 204)
                return x->Message(req, res, a.status, "Not removed", ErrorMessage(a), op,
                                  "/console/clients");
            } else {
              return x->Message(req, res, 400, "Not removed", "No such client or group.", op,
                                "/console/clients");
            }
            Redirect(res, "/console/clients?" + PageQuery(f) +
                              Done("removed", client + " is no longer in " + group));
          }));

  // ---- events
  api.Add("GET", "/console/events", "Console: events", false,
          Signed(x, [x](const Operator& op, const httplib::Request& req, httplib::Response& res) {
            x->Events(req, res, op, Flash(req));
          }));
  api.Add("POST", "/console/events/{name}/rekey",
          "Console: rekey an event (POST /v1/events/{name}/rekey)", false,
          Posted(x, [x](const Operator& op, const Fields& f, const httplib::Request& req,
                        httplib::Response& res) {
            std::string name = req.matches[1];
            auto a = x->Change(op, "POST", "/v1/events/" + name + "/rekey", json());
            if (a.status != 200)
              return x->Message(req, res, a.status, "Not rekeyed", ErrorMessage(a), op,
                                "/console/events");
            json j = json::parse(a.body, nullptr, false);
            size_t n = j.is_object() ? j.value("wakeups_sent", size_t{0}) : 0;
            uint64_t generation = j.is_object() ? j.value("generation", uint64_t{0}) : 0;
            std::string note = j.is_object() ? j.value("note", std::string()) : std::string();
            Redirect(res,
                     "/console/events?" + PageQuery(f) +
                         Done("rekeyed", "Rekey of " + name + ": generation " +
                                             std::to_string(generation) + ", " + std::to_string(n) +
                                             " wake-up(s) sent (seed 003)" +
                                             (note.empty() ? "." : "; " + note + ".")));
          }));

  // ---- audit
  api.Add("GET", "/console/audit", "Console: the audit log, paged", false,
          Signed(x, [x](const Operator& op, const httplib::Request& req, httplib::Response& res) {
            x->Audit(req, res, op);
          }));
}

Console::~Console() { Stop(); }

void Console::Sample() { impl_->rates.Add(impl_->o.clock->NowSeconds(), impl_->o.read_counters()); }

void Console::Start() {
  Stop();
  Impl* x = impl_.get();
  {
    std::lock_guard<std::mutex> l(x->mu);
    x->stop = false;
  }
  Sample();
  x->sampler = std::thread([this, x] {
    std::unique_lock<std::mutex> l(x->mu);
    while (!x->stop) {
      x->cv.wait_for(l, std::chrono::seconds(x->o.sample_seconds));
      if (x->stop) break;
      l.unlock();
      Sample();
      l.lock();
    }
  });
}

void Console::Stop() {
  Impl* x = impl_.get();
  {
    std::lock_guard<std::mutex> l(x->mu);
    x->stop = true;
  }
  x->cv.notify_all();
  if (x->sampler.joinable()) x->sampler.join();
}

}  // namespace keycast::web
