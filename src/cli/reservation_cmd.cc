// keycast reservation login | logout | list | create | show | edit | cancel |
//                     stats | ledger | find | request
// and the reservation role's options of `keycast server`.
//
// Sender commands authenticate with an API key (--api-key, KEYCAST_API_KEY)
// or the session saved by `keycast reservation login` in
// $KEYCAST_RESERVATION_SESSION or ~/.keycast/reservation-session.json (0600).
// `request` runs the seed-004 channel over HTTP from this machine, pinning
// the platform's identity key (docs/reservations.md).
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "keycast/crypto.h"
#include "keycast/reservation.h"
#include "keycast/schedule.h"

namespace keycast::cli {
namespace {

using json = nlohmann::json;

std::string DefaultSessionPath() {
  if (const char* s = std::getenv("KEYCAST_RESERVATION_SESSION"); s && *s) return s;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.keycast/reservation-session.json";
}

struct Conn {
  std::string addr = "http://127.0.0.1:8200";
  std::string ca_file;
  std::string api_key;
  std::string session_file;
  bool json_out = false;

  void Add(CLI::App* cmd, bool sender) {
    cmd->add_option("--addr", addr, "Reservation platform URL")
        ->envname("KEYCAST_ADDR")
        ->capture_default_str();
    cmd->add_option("--ca-file", ca_file, "CA certificate for an https:// address")
        ->envname("KEYCAST_CA_FILE");
    if (!sender) return;
    cmd->add_option("--api-key", api_key, "Sender's API key (kca_...); else the saved session")
        ->envname("KEYCAST_API_KEY");
    cmd->add_option("--session", session_file,
                    "Session file (default: ~/.keycast/reservation-session.json)");
  }
  std::string session_path() const {
    return session_file.empty() ? DefaultSessionPath() : session_file;
  }

  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>(addr);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(30, 0);
    c->set_write_timeout(10, 0);
    if (!ca_file.empty()) c->set_ca_cert_path(ca_file.c_str());
    return c;
  }

  // The bearer token: the API key, or the saved session (for the same address).
  Result<std::string> Token() const {
    if (!api_key.empty()) return api_key;
    std::ifstream in(session_path());
    if (!in)
      return Unauthenticated("not signed in: run `keycast reservation login` or give --api-key");
    json j = json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("token"))
      return InvalidArgument(session_path() + " is damaged; sign in again");
    if (j.value("addr", "") != addr)
      return Unauthenticated("the saved session is for " + j.value("addr", "") + "; sign in to " +
                             addr);
    return j["token"].get<std::string>();
  }
};

Status ErrorOf(const httplib::Result& r, const std::string& what) {
  if (!r) return Unavailable(what + ": " + httplib::to_string(r.error()));
  json j = json::parse(r->body, nullptr, false);
  std::string code, msg = r->body;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    code = j["error"].value("code", "");
    msg = j["error"].value("message", "");
  }
  Code c = code == "unauthenticated"       ? Code::kUnauthenticated
           : code == "permission_denied"   ? Code::kPermissionDenied
           : code == "not_found"           ? Code::kNotFound
           : code == "already_exists"      ? Code::kAlreadyExists
           : code == "failed_precondition" ? Code::kFailedPrecondition
           : code == "invalid_argument"    ? Code::kInvalidArgument
           : code == "resource_exhausted"  ? Code::kResourceExhausted
                                           : Code::kUnavailable;
  return Status(c, msg);
}

// One JSON call; returns the parsed body of a 2xx answer.
Result<json> Call(const Conn& c, const std::string& method, const std::string& path,
                  const json* body, bool auth) {
  httplib::Headers h;
  if (auth) {
    KC_ASSIGN_OR_RETURN(std::string tok, c.Token());
    h.emplace("Authorization", "Bearer " + tok);
  }
  auto http = c.Client();
  std::string b = body ? body->dump() : "";
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "GET")
    r = http->Get(path, h);
  else if (method == "POST")
    r = http->Post(path, h, b, "application/json");
  else if (method == "PATCH")
    r = http->Patch(path, h, b, "application/json");
  else if (method == "DELETE")
    r = http->Delete(path, h);
  if (!r || r->status / 100 != 2) return ErrorOf(r, method + " " + path);
  if (r->body.empty()) return json(nullptr);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return Internal(method + " " + path + ": the answer is not JSON");
  return j;
}

json Must(Result<json> r) {
  if (!r.ok()) throw Exit{Fail(r.status())};
  return std::move(r).value();
}

std::string ReadSecret(const std::string& prompt) {
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "%s", prompt.c_str());
  std::string s;
  std::getline(std::cin, s);
  return s;
}

std::string Money(const json& cents, const json& currency) {
  return reservation::FormatMoney(cents.get<int64_t>(), currency.get<std::string>());
}

void PrintReservation(const json& r) {
  std::printf("%s (%s)\n", r["title"].get<std::string>().c_str(),
              r["name"].get<std::string>().c_str());
  std::printf("  status      %s%s\n", r["status"].get<std::string>().c_str(),
              r["editable"].get<bool>() ? " (editable until it starts)" : "");
  std::printf("  schedule    %s for %s%s\n", r["schedule"]["start"].get<std::string>().c_str(),
              r["schedule"]["duration"].get<std::string>().c_str(),
              r["schedule"]["rrule"].get<std::string>().empty()
                  ? ""
                  : (", " + r["schedule"]["rrule"].get<std::string>()).c_str());
  if (r["next"].is_object())
    std::printf("  next        %s .. %s\n", r["next"]["start"].get<std::string>().c_str(),
                r["next"]["end"].get<std::string>().c_str());
  std::printf("  group       %s port %d\n", r["group_address"].get<std::string>().c_str(),
              r["port"].get<int>());
  std::string sa = r["sa"]["mode"].get<std::string>();
  if (sa == "generated")
    sa += ", event " + r["event"].get<std::string>();
  else
    sa += ", SPI " + std::to_string(r["sa"]["spi"].get<uint32_t>());
  std::printf("  SA          %s\n", sa.c_str());
  std::printf("  price       %s\n", r["price_cents"].get<int64_t>()
                                        ? Money(r["price_cents"], r["currency"]).c_str()
                                        : "free");
  std::string rx, gr;
  for (auto& n : r["receivers"]) rx += (rx.empty() ? "" : ", ") + n.get<std::string>();
  for (auto& n : r["groups"]) gr += (gr.empty() ? "" : ", ") + n.get<std::string>();
  std::printf("  receivers   %s\n", rx.empty() ? "(no list)" : rx.c_str());
  std::printf("  groups      %s\n", gr.empty() ? "(none)" : gr.c_str());
}

// Options shared by create and edit.
struct SpecFlags {
  std::string name, title, start, duration, rrule, group, source, price, sa_key,
      sa_algorithm = "aes-256-gcm";
  uint32_t port = 0, sa_spi = 0;
  std::vector<std::string> receivers, admit;
  std::string receivers_file;
  bool clear_rrule = false;

  void Add(CLI::App* cmd, bool create) {
    if (create)
      cmd->add_option("--name", name, "Transmission name (how receivers find it)")->required();
    cmd->add_option("--title", title, "Title")->required(create);
    cmd->add_option("--start", start, "First start, RFC 3339 (2030-05-01T20:00:00Z)")
        ->required(create);
    cmd->add_option("--duration", duration, "Duration, ISO 8601 (PT2H) or seconds")
        ->required(create);
    cmd->add_option("--rrule", rrule, "Recurrence, RRULE subset (FREQ=WEEKLY;BYDAY=MO;COUNT=4)");
    cmd->add_option("--group", group, "Multicast group address")->required(create);
    cmd->add_option("--port", port, "UDP port")->required(create);
    cmd->add_option("--source", source, "Source address (SSM), optional");
    cmd->add_option("--price", price, "Price per receiver, e.g. 4.99 (0 = free)");
    cmd->add_option("--receiver", receivers, "Authorised receiver, name:password (repeatable)");
    cmd->add_option("--receivers-file", receivers_file,
                    "File with one receiver per line: name password (on edit: a name alone keeps "
                    "its password)");
    cmd->add_option("--admit-group", admit,
                    "Directory group whose members are pre-approved (repeatable)");
    if (create) {
      cmd->add_option("--sa-spi", sa_spi,
                      "Provide the SA yourself: its SPI (else Keycast generates it)");
      cmd->add_option("--sa-key", sa_key, "Provided SA: 64 hex characters")
          ->envname("KEYCAST_SA_KEY");
      cmd->add_option("--sa-algorithm", sa_algorithm,
                      "Provided SA: aes-256-gcm or chacha20-poly1305")
          ->capture_default_str();
    } else {
      cmd->add_flag("--no-rrule", clear_rrule, "Make it a single transmission");
    }
  }

  Result<json> Receivers(bool* given) const {
    json arr = json::array();
    *given = !receivers.empty() || !receivers_file.empty();
    for (const auto& r : receivers) {
      size_t colon = r.find(':');
      if (colon == std::string::npos)
        arr.push_back({{"name", r}});
      else
        arr.push_back({{"name", r.substr(0, colon)}, {"password", r.substr(colon + 1)}});
    }
    if (!receivers_file.empty()) {
      std::ifstream in(receivers_file);
      if (!in) return NotFound("cannot read " + receivers_file);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      KC_ASSIGN_OR_RETURN(auto lines, reservation::ParseReceiverList(text));
      for (auto& l : lines) {
        json e = {{"name", l.name}};
        if (l.password) e["password"] = *l.password;
        arr.push_back(e);
      }
    }
    return arr;
  }

  Result<json> Body(bool create) const {
    json b = json::object();
    if (create) b["name"] = name;
    if (!title.empty()) b["title"] = title;
    if (!start.empty() || !duration.empty() || !rrule.empty() || clear_rrule) {
      if (start.empty() || duration.empty())
        return InvalidArgument(
            "--start and --duration go together (the schedule is replaced whole)");
      b["schedule"] = {{"start", start}, {"duration", duration}, {"rrule", rrule}};
    }
    if (!group.empty()) b["group_address"] = group;
    if (port) b["port"] = port;
    if (!source.empty()) b["source_address"] = source;
    if (!price.empty()) {
      KC_ASSIGN_OR_RETURN(int64_t cents, reservation::ParseMoney(price));
      b["price_cents"] = cents;
    }
    bool given = false;
    KC_ASSIGN_OR_RETURN(json rx, Receivers(&given));
    if (given) b["receivers"] = rx;
    if (!admit.empty()) b["groups"] = admit;
    if (create && sa_spi) b["sa"] = {{"spi", sa_spi}, {"key", sa_key}, {"algorithm", sa_algorithm}};
    return b;
  }
};

std::string Fingerprint(const Bytes& key) {
  auto d = crypto::Sha256(key);
  std::string hex = ToHex(ByteView(d.data(), 8));
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 4) out += (out.empty() ? "" : ":") + hex.substr(i, 4);
  return out;
}

bool IsLoopbackUrl(const std::string& url) {
  return url.rfind("http://127.", 0) == 0 || url.rfind("http://localhost", 0) == 0 ||
         url.rfind("http://[::1]", 0) == 0;
}

}  // namespace

static void RegisterReservationCommands(CLI::App& app) {
  // ---- the reservation role's options on `keycast server`
  CLI::App* server = Subcommand(app, "server", "Run a Keycast node with the chosen roles");
  ReservationNodeOptions& rn = ReservationNodeDefaults();
  server
      ->add_option("--reservation-senders-group", rn.platform.senders_group,
                   "Role reservation: directory group whose members may file reservations")
      ->envname("KEYCAST_RESERVATION_SENDERS_GROUP")
      ->capture_default_str();
  server
      ->add_option("--reservation-currency", rn.platform.currency,
                   "Role reservation: currency of prices (ISO 4217)")
      ->envname("KEYCAST_RESERVATION_CURRENCY")
      ->capture_default_str();
  server
      ->add_option("--reservation-public-url", rn.platform.public_url,
                   "Role reservation: ticket-service URL written into receivers' configurations "
                   "(default: this node)")
      ->envname("KEYCAST_RESERVATION_PUBLIC_URL");
  server
      ->add_flag(
          "--reservation-secure-cookies", rn.secure_cookies,
          "Role reservation: mark cookies Secure even without --tls-cert (behind a TLS proxy)")
      ->envname("KEYCAST_RESERVATION_SECURE_COOKIES");
  server
      ->add_option("--channel-key-lifetime", rn.channel_key_lifetime_seconds,
                   "Role reservation: seed-004 session key lifetime, seconds (1-89)")
      ->envname("KEYCAST_CHANNEL_KEY_LIFETIME")
      ->capture_default_str();
  server
      ->add_option("--channel-retention", rn.channel_retention_lifetimes,
                   "Role reservation: purge session keys after this many lifetimes (1-10)")
      ->envname("KEYCAST_CHANNEL_RETENTION")
      ->capture_default_str();

  auto* cmd = app.add_subcommand("reservation",
                                 "Senders file reservations; receivers request access (seed 002)");
  cmd->require_subcommand(1);

  // ---- login / logout
  static Conn login_conn;
  static std::string login_client, login_password;
  static bool login_stdin = false;
  auto* login = cmd->add_subcommand("login", "Sign in as a sender and keep the session");
  login_conn.Add(login, true);
  login->add_option("--client", login_client, "Client name")->envname("KEYCAST_CLIENT")->required();
  login->add_option("--password", login_password, "Password (prefer --password-stdin)")
      ->envname("KEYCAST_PASSWORD");
  login->add_flag("--password-stdin", login_stdin, "Read the password from standard input");
  login->callback([] {
    if (login_stdin || login_password.empty()) login_password = ReadSecret("password: ");
    json body = {{"client", login_client}, {"password", login_password}};
    json r = Must(Call(login_conn, "POST", "/v1/reservation/sessions", &body, false));
    std::string path = login_conn.session_path();
    auto slash = path.rfind('/');
    if (slash != std::string::npos) ::mkdir(path.substr(0, slash).c_str(), 0700);
    mode_t old = ::umask(077);
    std::ofstream out(path, std::ios::trunc);
    ::umask(old);
    out << json({{"addr", login_conn.addr}, {"token", r["token"]}}).dump() << "\n";
    if (!out) throw Exit{Fail(Unavailable("cannot write " + path))};
    std::printf("Signed in as %s (session saved in %s)\n", r["sender"].get<std::string>().c_str(),
                path.c_str());
  });
  static Conn logout_conn;
  auto* logout = cmd->add_subcommand("logout", "End the saved session");
  logout_conn.Add(logout, true);
  logout->callback([] {
    (void)Call(logout_conn, "DELETE", "/v1/reservation/sessions", nullptr, true);
    std::remove(logout_conn.session_path().c_str());
    std::printf("Signed out\n");
  });

  // ---- list / show
  static Conn list_conn;
  auto* list = cmd->add_subcommand("list", "Your reservations");
  list_conn.Add(list, true);
  list->add_flag("--json", list_conn.json_out, "Machine-readable output");
  list->callback([] {
    json r = Must(Call(list_conn, "GET", "/v1/reservations", nullptr, true));
    if (list_conn.json_out) return (void)std::printf("%s\n", r.dump(2).c_str());
    std::printf("%-24s %-10s %-22s %-22s %s\n", "NAME", "STATUS", "NEXT", "GROUP", "PRICE");
    for (auto& v : r["reservations"]) {
      std::string group =
          v["group_address"].get<std::string>() + ":" + std::to_string(v["port"].get<int>());
      std::string next = v["next"].is_object() ? v["next"]["start"].get<std::string>() : "over";
      std::string price =
          v["price_cents"].get<int64_t>() ? Money(v["price_cents"], v["currency"]) : "free";
      std::printf("%-24s %-10s %-22s %-22s %s\n", v["name"].get<std::string>().c_str(),
                  v["status"].get<std::string>().c_str(), next.c_str(), group.c_str(),
                  price.c_str());
    }
  });
  static Conn show_conn;
  static std::string show_name;
  auto* show = cmd->add_subcommand("show", "One of your reservations");
  show_conn.Add(show, true);
  show->add_option("name", show_name, "Transmission name")->required();
  show->add_flag("--json", show_conn.json_out, "Machine-readable output");
  show->callback([] {
    json r = Must(Call(show_conn, "GET", "/v1/reservations/" + show_name, nullptr, true));
    if (show_conn.json_out) return (void)std::printf("%s\n", r.dump(2).c_str());
    PrintReservation(r);
  });

  // ---- create / edit / cancel
  static Conn create_conn;
  static SpecFlags create_flags;
  auto* create = cmd->add_subcommand("create", "File a reservation");
  create_conn.Add(create, true);
  create_flags.Add(create, true);
  create->add_flag("--json", create_conn.json_out, "Machine-readable output");
  create->callback([] {
    auto body = create_flags.Body(true);
    if (!body.ok()) throw Exit{Fail(body.status())};
    json r = Must(Call(create_conn, "POST", "/v1/reservations", &*body, true));
    if (create_conn.json_out) return (void)std::printf("%s\n", r.dump(2).c_str());
    std::printf("Filed.\n");
    PrintReservation(r);
  });
  static Conn edit_conn;
  static SpecFlags edit_flags;
  static std::string edit_name;
  auto* edit = cmd->add_subcommand("edit", "Change a reservation (until it starts)");
  edit_conn.Add(edit, true);
  edit->add_option("name", edit_name, "Transmission name")->required();
  edit_flags.Add(edit, false);
  edit->callback([] {
    auto body = edit_flags.Body(false);
    if (!body.ok()) throw Exit{Fail(body.status())};
    if (body->empty())
      throw Exit{Fail(InvalidArgument("nothing to change: give at least one option"))};
    json r = Must(Call(edit_conn, "PATCH", "/v1/reservations/" + edit_name, &*body, true));
    std::printf("Saved.\n");
    PrintReservation(r);
  });
  static Conn cancel_conn;
  static std::string cancel_name;
  auto* cancel = cmd->add_subcommand(
      "cancel", "Cancel a reservation: revoke access and refund every receiver");
  cancel_conn.Add(cancel, true);
  cancel->add_option("name", cancel_name, "Transmission name")->required();
  cancel->callback([] {
    json body = json::object();
    json r =
        Must(Call(cancel_conn, "POST", "/v1/reservations/" + cancel_name + "/cancel", &body, true));
    std::printf("Cancelled %s: %zu receiver(s) revoked, %zu refund(s), %s refunded%s\n",
                cancel_name.c_str(), r["grants_revoked"].get<size_t>(), r["refunds"].get<size_t>(),
                reservation::FormatMoney(r["refunded_cents"].get<int64_t>(), "").c_str(),
                r["refunds_failed"].get<size_t>()
                    ? "; some refunds failed, run cancel again to retry"
                    : "");
    if (r["refunds_failed"].get<size_t>()) throw Exit{1};
  });

  // ---- stats / ledger
  static Conn stats_conn;
  static std::string stats_name;
  static int stats_watch = 0;
  auto* stats = cmd->add_subcommand("stats", "Approved and keyed receivers, amount collected");
  stats_conn.Add(stats, true);
  stats->add_option("name", stats_name, "Transmission name")->required();
  stats->add_flag("--json", stats_conn.json_out, "Machine-readable output");
  stats->add_option("--watch", stats_watch, "Print again every N seconds (Ctrl-C to stop)");
  stats->callback([] {
    for (;;) {
      json s =
          Must(Call(stats_conn, "GET", "/v1/reservations/" + stats_name + "/stats", nullptr, true));
      if (stats_conn.json_out) {
        std::printf("%s\n", s.dump(stats_watch ? -1 : 2).c_str());
      } else {
        std::printf(
            "%s  approved %zu  subscribers %zu  entitled now %zu  keyed %s  collected %s  declined "
            "%zu  refused %zu\n",
            s["as_of"].get<std::string>().c_str(), s["approved_receivers"].get<size_t>(),
            s["subscribers"].get<size_t>(), s["entitled_now"].get<size_t>(),
            s["keyed_now"].is_null() ? "unknown"
                                     : std::to_string(s["keyed_now"].get<size_t>()).c_str(),
            s["collected"].get<std::string>().c_str(), s["charges_declined"].get<size_t>(),
            s["requests_refused"].get<size_t>());
      }
      std::fflush(stdout);
      if (stats_watch <= 0) break;
      std::this_thread::sleep_for(std::chrono::seconds(stats_watch));
    }
  });
  static Conn ledger_conn;
  static std::string ledger_name;
  auto* ledger = cmd->add_subcommand("ledger", "Charges and refunds of a reservation");
  ledger_conn.Add(ledger, true);
  ledger->add_option("name", ledger_name, "Transmission name")->required();
  ledger->add_flag("--json", ledger_conn.json_out, "Machine-readable output");
  ledger->callback([] {
    json r = Must(
        Call(ledger_conn, "GET", "/v1/reservations/" + ledger_name + "/ledger", nullptr, true));
    if (ledger_conn.json_out) return (void)std::printf("%s\n", r.dump(2).c_str());
    std::printf("%-6s %-16s %-7s %-9s %14s %-6s %s\n", "ID", "RECEIVER", "KIND", "STATUS", "AMOUNT",
                "CARD", "NOTE");
    for (auto& e : r["ledger"])
      std::printf(
          "%-6lld %-16s %-7s %-9s %14s %-6s %s\n", static_cast<long long>(e["id"].get<int64_t>()),
          e["receiver"].get<std::string>().c_str(), e["kind"].get<std::string>().c_str(),
          e["status"].get<std::string>().c_str(), Money(e["amount_cents"], e["currency"]).c_str(),
          e["card_last4"].get<std::string>().c_str(), e["reason"].get<std::string>().c_str());
  });

  // ---- receivers: find / request
  static Conn find_conn;
  static std::string find_query;
  auto* find = cmd->add_subcommand("find", "Find transmissions by name or title");
  find_conn.Add(find, false);
  find->add_option("query", find_query, "Text to look for (empty: all)");
  find->add_flag("--json", find_conn.json_out, "Machine-readable output");
  find->callback([] {
    json r = Must(Call(find_conn, "GET",
                       "/v1/transmissions?q=" + httplib::detail::encode_query_param(find_query),
                       nullptr, false));
    if (find_conn.json_out) return (void)std::printf("%s\n", r.dump(2).c_str());
    std::printf("%-24s %-22s %-12s %-24s %s\n", "NAME", "NEXT", "PRICE", "NEEDS", "TITLE");
    for (auto& t : r["transmissions"]) {
      std::string needs;
      if (t["needs_password"].get<bool>()) needs += "password ";
      if (t["needs_payment"].get<bool>()) needs += "payment ";
      if (!t["accepts_requests"].get<bool>()) needs = "subscribers only";
      std::printf("%-24s %-22s %-12s %-24s %s\n", t["name"].get<std::string>().c_str(),
                  t["next"].is_object() ? t["next"]["start"].get<std::string>().c_str() : "over",
                  t["price_cents"].get<int64_t>() ? t["price"].get<std::string>().c_str() : "free",
                  needs.c_str(), t["title"].get<std::string>().c_str());
    }
  });

  static Conn req_conn;
  static std::string req_name, req_receiver, req_password, req_card, req_expiry, req_cvc, req_pin,
      req_out, req_key;
  static bool req_stdin = false;
  auto* request = cmd->add_subcommand(
      "request", "Ask for a transmission's security information over the seed-004 channel");
  req_conn.Add(request, false);
  request->add_option("name", req_name, "Transmission name")->required();
  request->add_option("--receiver", req_receiver, "Your receiver name")->required();
  request->add_option("--password", req_password, "Your password (prefer --password-stdin)")
      ->envname("KEYCAST_RECEIVER_PASSWORD");
  request->add_flag("--password-stdin", req_stdin, "Read the password from standard input");
  request->add_option("--card", req_card, "Payment card number (paid transmissions)")
      ->envname("KEYCAST_CARD");
  request->add_option("--expiry", req_expiry, "Card expiry MM/YY");
  request->add_option("--cvc", req_cvc, "Card security code")->envname("KEYCAST_CARD_CVC");
  request->add_option("--pin", req_pin,
                      "The platform's channel identity key (hex) to pin; else fetched and shown");
  request->add_option("--idempotency-key", req_key,
                      "Reuse to retry a paid request without paying twice");
  request->add_option("--out", req_out, "Write the agent configuration (environment file) here");
  request->add_flag("--json", req_conn.json_out, "Print the configuration as JSON");
  request->callback([] {
    std::string pin = req_pin;
    if (pin.empty()) {
      json id = Must(Call(req_conn, "GET", "/v1/channel/identity", nullptr, false));
      pin = id["public_key"].get<std::string>();
      if (req_conn.addr.rfind("https://", 0) != 0 && !IsLoopbackUrl(req_conn.addr))
        std::fprintf(
            stderr,
            "warning: identity key fetched over plain HTTP; pin it with --pin for real use\n");
    }
    Bytes key;
    if (!FromHex(pin, &key)) throw Exit{Fail(InvalidArgument("--pin must be hex"))};
    auto identity = crypto::VerifyKey::FromBytes(key);
    if (!identity.ok()) throw Exit{Fail(identity.status())};
    std::fprintf(stderr, "channel identity %s\n", Fingerprint(key).c_str());
    if (req_stdin) req_password = ReadSecret("password: ");
    AccessParameter p;
    p.password = SecretBytes(AsBytes(req_password));
    p.card_number = SecretBytes(AsBytes(req_card));
    p.card_expiry = req_expiry;
    p.card_cvc = SecretBytes(AsBytes(req_cvc));
    p.idempotency_key = req_key.empty() ? ToHex(crypto::RandomBytes(16)) : req_key;
    SecureWipe(req_password.data(), req_password.size());
    SecureWipe(req_card.data(), req_card.size());
    auto cfg = RequestAccessOverHttp(req_conn.addr, *identity, req_name, req_receiver, p,
                                     req_conn.ca_file);
    if (!cfg.ok()) {
      if (!req_card.empty() || p.has_card())
        std::fprintf(stderr, "to retry without paying twice: --idempotency-key %s\n",
                     p.idempotency_key.c_str());
      throw Exit{Fail(cfg.status())};
    }
    std::string text = req_conn.json_out ? reservation::AgentConfigToJson(*cfg) + "\n"
                                         : reservation::AgentConfigToEnvFile(*cfg);
    if (!req_out.empty()) {
      mode_t old = ::umask(077);
      std::ofstream out(req_out, std::ios::trunc);
      ::umask(old);
      out << text;
      if (!out) throw Exit{Fail(Unavailable("cannot write " + req_out))};
      std::printf(
          "Access granted to %s as %s%s; configuration written to %s\n", cfg->transmission.c_str(),
          cfg->receiver.c_str(),
          cfg->charged_cents
              ? (" (" + reservation::FormatMoney(cfg->charged_cents, cfg->currency) + ")").c_str()
              : "",
          req_out.c_str());
    } else {
      std::printf("%s", text.c_str());
    }
    SecureWipe(text.data(), text.size());
  });
}

static CommandRegistrar registrar(50, &RegisterReservationCommands);

}  // namespace keycast::cli
