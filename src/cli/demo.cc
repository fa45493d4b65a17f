#include "cli/demo.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "keycast/clock.h"
#include "keycast/schedule.h"

namespace keycast::cli {
namespace {

const Actor kDemo{"bootstrap"};
constexpr const char* kDemoTransmission = "demo-concert";

struct DemoClient {
  const char* name;
  const char* password;
  const char* group;
  Role role;
};
constexpr DemoClient kClients[] = {
    {"studio", "studio-dev-password", "acme", Role::kSender},
    {"alice", "alice-dev-password", "platform", Role::kReceiver},
    {"bob", "bob-dev-password", "sales", Role::kReceiver},
};

}  // namespace

Result<DemoInfo> EnsureDemoDirectory(Directory& dir, const std::string& key_endpoint) {
  DemoInfo info;
  if (!dir.GetGroup("acme").ok()) {
    info.created = true;
    // Groups: acme -> engineering -> platform, acme -> sales.
    for (auto g : {"acme", "engineering", "platform", "sales"})
      KC_RETURN_IF_ERROR(dir.CreateGroup(kDemo, GroupSpec{g, "demo"}).status());
    KC_RETURN_IF_ERROR(dir.AddEdge(kDemo, "acme", "engineering"));
    KC_RETURN_IF_ERROR(dir.AddEdge(kDemo, "engineering", "platform"));
    KC_RETURN_IF_ERROR(dir.AddEdge(kDemo, "acme", "sales"));
    for (const auto& c : kClients) {
      KC_RETURN_IF_ERROR(
          dir.CreateClient(kDemo, ClientSpec{c.name, "demo", std::string(c.password), true})
              .status());
      KC_RETURN_IF_ERROR(dir.SetMembership(kDemo, c.name, c.group, c.role, true));
    }
    KC_RETURN_IF_ERROR(dir.CreateClient(kDemo, ClientSpec{"feed", "demo market-data publisher",
                                                          std::nullopt, true})
                           .status());
    KC_RETURN_IF_ERROR(dir.SetMembership(kDemo, "feed", "sales", Role::kSender, true));
    int64_t now = SystemClock::Get().NowSeconds();
    int64_t soon = (now / 60 + 2) * 60;  // the next whole minute, at least a minute away
    auto ks = Endpoint::Parse(key_endpoint);
    if (!ks) return InvalidArgument("bad key endpoint " + key_endpoint);
    struct DemoEvent {
      const char* name;
      const char* title;
      const char* group_address;
      const char* group;
      int64_t start, duration;
      const char* rrule;
      uint32_t interval, keying;
      uint16_t clear;
    } events[] = {
        {"town-hall", "All-hands town hall", "239.1.0.1", "acme", soon + 240, 3600, "FREQ=DAILY",
         60, 300, 1},
        {"platform-standup", "Platform stand-up", "239.1.0.2", "platform", soon, 900, "FREQ=DAILY",
         30, 60, 0},
        {"market-feed", "Market data feed", "239.1.0.3", "sales", now - 60, 30 * 86400, "", 10, 60,
         0},
    };
    for (const auto& e : events) {
      EventSpec s;
      s.name = e.name;
      s.title = e.title;
      s.sender = std::string(e.name) == "market-feed" ? "feed" : "studio";
      s.group_address = *IpAddress::Parse(e.group_address);
      s.port = 5004;
      s.schedule.start = e.start;
      s.schedule.duration = e.duration;
      if (*e.rrule) {
        KC_ASSIGN_OR_RETURN(Rrule r, ParseRrule(e.rrule));
        s.schedule.rule = r;
      }
      s.interval_seconds = e.interval;
      s.initial_keying_seconds = e.keying;
      s.clear_intervals = e.clear;
      s.key_servers = {*ks};
      KC_RETURN_IF_ERROR(dir.CreateEvent(kDemo, s).status());
      KC_RETURN_IF_ERROR(dir.AddAssignment(kDemo, e.name, e.group));
    }
  }
  info.lines.push_back("groups   acme -> engineering -> platform, acme -> sales");
  for (const auto& c : kClients)
    info.lines.push_back(std::string("client   ") + c.name + " / " + c.password + "  (" +
                         std::string(RoleName(c.role)) + " in " + c.group + ")");
  info.lines.push_back(
      "client   feed  (sender in sales; make it an API key: keycast admin client api-key create "
      "feed)");
  for (const char* n : {"town-hall", "platform-standup", "market-feed"}) {
    auto e = dir.GetEvent(n);
    if (!e.ok()) continue;
    info.lines.push_back(
        std::string("event    ") + n + "  " + e->event->title + ", starts " +
        FormatRfc3339(e->event->schedule.start) +
        (e->event->schedule.rule ? " (" + e->event->schedule.rule->ToString() + ")" : "") + ", " +
        e->event->group_address.ToString() + ":" + std::to_string(e->event->port));
  }
  info.lines.push_back(
      "try      keycast client login --client alice --password alice-dev-password && keycast "
      "client events");
  return info;
}

Status EnsureDemoReservation(Directory& dir, const ApiServer& api, const std::string& senders_group,
                             DemoInfo* info) {
  using json = nlohmann::json;
  const DemoClient& studio = kClients[0];
  if (!dir.GetGroup(senders_group).ok())
    KC_RETURN_IF_ERROR(
        dir.CreateGroup(kDemo, GroupSpec{senders_group, "demo: senders of reservations"}).status());
  auto view = dir.GetClient(studio.name);
  if (!view.ok()) return view.status();
  bool member = false;
  for (const auto& [g, role] : view->groups) member = member || g == senders_group;
  if (!member)
    KC_RETURN_IF_ERROR(dir.SetMembership(kDemo, studio.name, senders_group, Role::kSender, true));
  if (api.Call("GET", std::string("/v1/transmissions/") + kDemoTransmission, "").status != 200) {
    auto login = api.Call("POST", "/v1/reservation/sessions", "",
                          json{{"client", studio.name}, {"password", studio.password}}.dump());
    json lj = json::parse(login.body, nullptr, false);
    if (login.status != 201 || !lj.is_object() || !lj.contains("token"))
      return Internal("demo sender sign-in failed: " + login.body);
    std::string token = lj["token"].get<std::string>();
    // Tomorrow's whole hour, daily: always in the future when filed.
    int64_t start = (SystemClock::Get().NowSeconds() / 3600 + 24) * 3600;
    json body = {{"name", kDemoTransmission},
                 {"title", "Demo concert (buy with the test card)"},
                 {"schedule",
                  {{"start", FormatRfc3339(start)}, {"duration", "PT1H"}, {"rrule", "FREQ=DAILY"}}},
                 {"group_address", "239.20.0.1"},
                 {"port", 5004},
                 {"price_cents", 499}};
    auto filed = api.Call("POST", "/v1/reservations", token, body.dump());
    api.Call("DELETE", "/v1/reservation/sessions", token);
    if (filed.status != 201) return Internal("demo reservation not filed: " + filed.body);
  }
  info->lines.push_back(std::string("sale     ") + kDemoTransmission +
                        "  daily, 4.99 per receiver: any name and the test card 4242 4242 4242 "
                        "4242, expiry 12/34, CVC 123");
  return Status::Ok();
}

}  // namespace keycast::cli
