// Admin routes over the directory: the seeds' gateway commands (seed 001
// Figure 10: add / delete / modify clients, events, groups, memberships).
// Every handler reads gather -> check -> issue; every refusal is a stable
// error code with a message, and nothing is written.
#include <httplib.h>

#include "api/json_reader.h"
#include "api/views.h"
#include "keycast/api_server.h"
#include "keycast/limits.h"

namespace keycast {
namespace {

using api::json;
using api::ObjectReader;

constexpr size_t kDefaultPage = 100;
constexpr size_t kMaxPage = 1000;

// Parses the body or answers the error; returns nullopt when answered.
std::optional<json> Body(const httplib::Request& req, httplib::Response& res) {
  auto j = api::ParseObject(req.body.empty() ? "{}" : req.body);
  if (!j.ok()) {
    api::SendError(res, j.status());
    return std::nullopt;
  }
  return std::move(j).value();
}

bool Answer(httplib::Response& res, const Status& st, int ok_status = 204) {
  if (!st.ok()) {
    api::SendError(res, st);
    return false;
  }
  res.status = ok_status;
  return true;
}

// Page parameters ?after=name&limit=n.
Status Page(const httplib::Request& req, std::string* after, size_t* limit) {
  *after = req.get_param_value("after");
  *limit = kDefaultPage;
  if (req.has_param("limit")) {
    std::string l = req.get_param_value("limit");
    char* end = nullptr;
    long v = std::strtol(l.c_str(), &end, 10);
    if (l.empty() || *end != '\0' || v < 1 || v > static_cast<long>(kMaxPage))
      return InvalidArgument("limit must be an integer 1-" + std::to_string(kMaxPage));
    *limit = static_cast<size_t>(v);
  }
  if (after->size() > limits::kMaxNameLength) return InvalidArgument("after is too long");
  return Status::Ok();
}

// Reads the event fields of a create (all required ones present) or a patch.
Result<EventPatch> ParseEvent(const json& body, bool create) {
  ObjectReader r(body);
  EventPatch p;
  p.name = r.Str("name", limits::kMaxNameLength, create);
  p.title = r.Str("title", limits::kMaxTitleLength, create);
  p.sender = r.Str("sender", limits::kMaxNameLength, false);
  if (auto ga = r.Str("group_address", 64, create)) {
    auto a = IpAddress::Parse(*ga);
    if (!a)
      r.Fail("group_address", "'" + *ga + "' is not an IPv4 or IPv6 address");
    else
      p.group_address = *a;
  }
  if (auto port = r.Int("port", 1, 65535, create)) p.port = static_cast<uint16_t>(*port);
  if (auto sa = r.Str("source_address", 64, false)) {
    if (sa->empty()) {
      p.source_address = IpAddress();
    } else {
      auto a = IpAddress::Parse(*sa);
      if (!a)
        r.Fail("source_address", "'" + *sa + "' is not an IPv4 or IPv6 address");
      else
        p.source_address = *a;
    }
  }
  if (const json* sch = r.Raw("schedule", create)) {
    auto s = api::ParseSchedule(*sch);
    if (!s.ok())
      r.Fail(s.status());
    else
      p.schedule = *s;
  }
  if (auto v = r.Int("interval_seconds", limits::kMinIntervalSeconds, limits::kMaxIntervalSeconds,
                     false))
    p.interval_seconds = static_cast<uint32_t>(*v);
  if (auto v = r.Int("initial_keying_seconds", 0, limits::kMaxInitialKeyingSeconds, false))
    p.initial_keying_seconds = static_cast<uint32_t>(*v);
  if (auto v = r.Int("clear_intervals", 0, limits::kMaxClearIntervals, false))
    p.clear_intervals = static_cast<uint16_t>(*v);
  if (auto ks = r.StrList("key_servers", limits::kMaxKeyServersPerEvent, limits::kMaxHostLength + 8,
                          false)) {
    std::vector<Endpoint> eps;
    for (const auto& s : *ks) {
      auto ep = Endpoint::Parse(s);
      if (!ep) {
        r.Fail("key_servers", "'" + s + "' is not host:port");
        break;
      }
      eps.push_back(*ep);
    }
    p.key_servers = eps;
  }
  if (auto alg = r.Str("algorithm", 32, false)) {
    crypto::AeadAlgorithm a;
    if (!crypto::ParseAeadName(*alg, &a))
      r.Fail("algorithm", "use aes-256-gcm or chacha20-poly1305");
    else
      p.algorithm = a;
  }
  if (auto d = r.Str("delivery", 16, false)) {
    KeyDelivery kd;
    if (!ParseKeyDelivery(*d, &kd))
      r.Fail("delivery", "use pull, push or both");
    else
      p.delivery = kd;
  }
  if (auto v = r.Bool("source_auth", false)) p.source_auth = *v;
  KC_RETURN_IF_ERROR(r.Finish());
  return p;
}

// Answers a page of a name-ordered listing: {"<key>": [...], "next": name|null}.
template <typename ListFn, typename ToJson, typename NameOf>
void SendPage(const httplib::Request& req, httplib::Response& res, const char* key, ListFn list,
              ToJson to_json, NameOf name_of) {
  std::string after;
  size_t limit;
  Status st = Page(req, &after, &limit);
  if (!st.ok()) return api::SendError(res, st);
  auto items = list(after, limit);
  json arr = json::array();
  for (auto& item : items) arr.push_back(to_json(item));
  json j = {{key, arr},
            {"next", items.size() == limit ? json(name_of(items.back())) : json(nullptr)}};
  api::SendJson(res, 200, j.dump());
}

EventSpec ToSpec(const EventPatch& p, const std::vector<Endpoint>& default_key_servers) {
  EventSpec s;
  s.name = *p.name;
  s.title = *p.title;
  s.sender = p.sender.value_or("");
  s.group_address = *p.group_address;
  s.port = *p.port;
  s.source_address = p.source_address.value_or(IpAddress());
  s.schedule = *p.schedule;
  if (p.interval_seconds) s.interval_seconds = *p.interval_seconds;
  if (p.initial_keying_seconds) s.initial_keying_seconds = *p.initial_keying_seconds;
  if (p.clear_intervals) s.clear_intervals = *p.clear_intervals;
  s.key_servers = p.key_servers && !p.key_servers->empty() ? *p.key_servers : default_key_servers;
  if (p.algorithm) s.algorithm = *p.algorithm;
  if (p.delivery) s.delivery = *p.delivery;
  if (p.source_auth) s.source_auth = *p.source_auth;
  return s;
}

}  // namespace

void ApiServer::AddDirectoryRoutes() {
  Directory* dir = s_.directory;
  auto actor = [] { return CurrentActor(); };

  // ---- clients
  Add("POST", "/v1/clients", "Create a client", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        ClientSpec spec;
        auto name = r.Str("name", limits::kMaxNameLength, true);
        spec.description = r.Str("description", 1024, false).value_or("");
        spec.password = r.Str("password", limits::kMaxPasswordLength, false);
        spec.enabled = r.Bool("enabled", false).value_or(true);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        spec.name = *name;
        auto c = dir->CreateClient(actor(), spec);
        if (!c.ok()) return api::SendError(res, c.status());
        api::SendJson(res, 201, api::ClientJson(*c).dump());
      });
  Add("GET", "/v1/clients", "List clients", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        SendPage(
            req, res, "clients", [&](auto& a, size_t n) { return dir->ListClients(a, n); },
            api::ClientJson, [](const ClientView& v) { return v.client.name; });
      });
  Add("GET", "/v1/clients/{name}", "Read a client", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto c = dir->GetClient(req.matches[1]);
        if (!c.ok()) return api::SendError(res, c.status());
        api::SendJson(res, 200, api::ClientJson(*c).dump());
      });
  Add("PATCH", "/v1/clients/{name}", "Modify a client", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        ClientPatch p;
        p.name = r.Str("name", limits::kMaxNameLength, false);
        p.description = r.Str("description", 1024, false);
        p.password = r.Str("password", limits::kMaxPasswordLength, false);
        p.enabled = r.Bool("enabled", false);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        auto c = dir->UpdateClient(actor(), req.matches[1], p);
        if (!c.ok()) return api::SendError(res, c.status());
        api::SendJson(res, 200, api::ClientJson(*c).dump());
      });
  Add("DELETE", "/v1/clients/{name}", "Delete a client", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->DeleteClient(actor(), req.matches[1]));
      });
  Add("GET", "/v1/clients/{name}/events", "The client's event summary over the group DAG", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto id = dir->FindClient(req.matches[1]);
        if (!id)
          return api::SendError(
              res, NotFound("client '" + std::string(req.matches[1]) + "' does not exist"));
        auto s = dir->Summarize(*id);
        if (!s.ok()) return api::SendError(res, s.status());
        json events = json::array();
        for (auto& e : s->events)
          events.push_back(
              {{"name", e.event->name}, {"title", e.event->title}, {"role", RoleName(e.role)}});
        api::SendJson(res, 200, json({{"client", s->client_name}, {"events", events}}).dump());
      });

  // ---- API keys
  Add("POST", "/v1/clients/{name}/api-keys", "Create an API key for a client (shown once)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto desc = r.Str("description", 1024, false).value_or("");
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        auto tok = dir->CreateApiKey(actor(), req.matches[1], desc);
        if (!tok.ok()) return api::SendError(res, tok.status());
        api::SendJson(res, 201, json({{"id", tok->id}, {"api_key", tok->Encode()}}).dump());
      });
  Add("GET", "/v1/clients/{name}/api-keys", "List a client's API keys", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        if (!dir->FindClient(req.matches[1]))
          return api::SendError(
              res, NotFound("client '" + std::string(req.matches[1]) + "' does not exist"));
        json items = json::array();
        for (auto& k : dir->ListApiKeys(req.matches[1]))
          items.push_back({{"id", k.id},
                           {"description", k.description},
                           {"created_at", FormatRfc3339(k.created_at)},
                           {"revoked", k.revoked_at != 0}});
        api::SendJson(res, 200, json({{"api_keys", items}}).dump());
      });
  Add("DELETE", "/v1/clients/{name}/api-keys/{id}", "Revoke an API key", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->RevokeApiKey(actor(), req.matches[1], req.matches[2]));
      });

  // ---- groups
  Add("POST", "/v1/groups", "Create a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        GroupSpec spec;
        auto name = r.Str("name", limits::kMaxNameLength, true);
        spec.description = r.Str("description", 1024, false).value_or("");
        auto parents = r.StrList("parents", 64, limits::kMaxNameLength, false);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        spec.name = *name;
        // Check the parents before creating anything, so a bad parent writes nothing.
        for (const auto& p : parents.value_or(std::vector<std::string>{}))
          if (!dir->GetGroup(p).ok())
            return api::SendError(res, NotFound("parent group '" + p + "' does not exist"));
        auto g = dir->CreateGroup(actor(), spec);
        if (!g.ok()) return api::SendError(res, g.status());
        for (const auto& p : parents.value_or(std::vector<std::string>{})) {
          Status e = dir->AddEdge(actor(), p, spec.name);
          if (!e.ok()) return api::SendError(res, e);
        }
        api::SendJson(res, 201, api::GroupJson(*dir->GetGroup(spec.name)).dump());
      });
  Add("GET", "/v1/groups", "List groups", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        SendPage(
            req, res, "groups", [&](auto& a, size_t n) { return dir->ListGroups(a, n); },
            api::GroupJson, [](const GroupView& v) { return v.group.name; });
      });
  Add("GET", "/v1/groups/{name}", "Read a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto g = dir->GetGroup(req.matches[1]);
        if (!g.ok()) return api::SendError(res, g.status());
        api::SendJson(res, 200, api::GroupJson(*g).dump());
      });
  Add("PATCH", "/v1/groups/{name}", "Modify a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        GroupPatch p;
        p.name = r.Str("name", limits::kMaxNameLength, false);
        p.description = r.Str("description", 1024, false);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        auto g = dir->UpdateGroup(actor(), req.matches[1], p);
        if (!g.ok()) return api::SendError(res, g.status());
        api::SendJson(res, 200, api::GroupJson(*g).dump());
      });
  Add("DELETE", "/v1/groups/{name}", "Delete a group (and its edges, memberships, assignments)",
      true, [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->DeleteGroup(actor(), req.matches[1]));
      });

  // ---- edges
  Add("POST", "/v1/edges", "Add a parent -> child edge (refused if it closes a cycle)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto parent = r.Str("parent", limits::kMaxNameLength, true);
        auto child = r.Str("child", limits::kMaxNameLength, true);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        if (Answer(res, dir->AddEdge(actor(), *parent, *child), 201))
          api::SendJson(res, 201, json({{"parent", *parent}, {"child", *child}}).dump());
      });
  Add("GET", "/v1/edges", "List edges", true, [=](const httplib::Request&, httplib::Response& res) {
    json items = json::array();
    for (auto& [p, c] : dir->ListEdgeNames()) items.push_back({{"parent", p}, {"child", c}});
    api::SendJson(res, 200, json({{"edges", items}}).dump());
  });
  Add("DELETE", "/v1/edges/{parent}/{child}", "Remove an edge", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->RemoveEdge(actor(), req.matches[1], req.matches[2]));
      });

  // ---- events
  Add("POST", "/v1/events", "Create an event", true,
      [=, this](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        auto p = ParseEvent(*body, true);
        if (!p.ok()) return api::SendError(res, p.status());
        auto e = dir->CreateEvent(actor(), ToSpec(*p, options_.default_key_servers));
        if (!e.ok()) return api::SendError(res, e.status());
        api::SendJson(res, 201, api::EventJson(*e).dump());
      });
  Add("GET", "/v1/events", "List events", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        SendPage(
            req, res, "events", [&](auto& a, size_t n) { return dir->ListEvents(a, n); },
            api::EventJson, [](const EventView& v) { return v.event->name; });
      });
  Add("GET", "/v1/events/{name}", "Read an event", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto e = dir->GetEvent(req.matches[1]);
        if (!e.ok()) return api::SendError(res, e.status());
        api::SendJson(res, 200, api::EventJson(*e).dump());
      });
  Add("PATCH", "/v1/events/{name}", "Modify an event", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        auto p = ParseEvent(*body, false);
        if (!p.ok()) return api::SendError(res, p.status());
        auto e = dir->UpdateEvent(actor(), req.matches[1], *p);
        if (!e.ok()) return api::SendError(res, e.status());
        api::SendJson(res, 200, api::EventJson(*e).dump());
      });
  Add("DELETE", "/v1/events/{name}", "Delete an event (key delivery stops)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->DeleteEvent(actor(), req.matches[1]));
      });

  // ---- memberships
  Add("POST", "/v1/memberships", "Make a client a member of a group, as sender or receiver", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto client = r.Str("client", limits::kMaxNameLength, true);
        auto group = r.Str("group", limits::kMaxNameLength, true);
        auto role_s = r.Str("role", 16, false).value_or("receiver");
        Role role;
        if (!ParseRole(role_s, &role)) r.Fail("role", "use sender or receiver");
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        if (Answer(res, dir->SetMembership(actor(), *client, *group, role, true), 201))
          api::SendJson(
              res, 201,
              json({{"client", *client}, {"group", *group}, {"role", RoleName(role)}}).dump());
      });
  Add("GET", "/v1/memberships", "List memberships (?client=, ?group=)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        json items = json::array();
        for (auto& m :
             dir->ListMemberships(req.get_param_value("client"), req.get_param_value("group")))
          items.push_back({{"client", m.client}, {"group", m.group}, {"role", RoleName(m.role)}});
        api::SendJson(res, 200, json({{"memberships", items}}).dump());
      });
  Add("PATCH", "/v1/memberships/{client}/{group}", "Change the role of a membership", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto role_s = r.Str("role", 16, true);
        Role role = Role::kReceiver;
        if (role_s && !ParseRole(*role_s, &role)) r.Fail("role", "use sender or receiver");
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        if (Answer(res, dir->SetMembership(actor(), req.matches[1], req.matches[2], role, false),
                   200))
          api::SendJson(res, 200,
                        json({{"client", std::string(req.matches[1])},
                              {"group", std::string(req.matches[2])},
                              {"role", RoleName(role)}})
                            .dump());
      });
  Add("DELETE", "/v1/memberships/{client}/{group}", "Remove a client from a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->RemoveMembership(actor(), req.matches[1], req.matches[2]));
      });

  // ---- assignments
  Add("POST", "/v1/assignments", "Assign an event to a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto event = r.Str("event", limits::kMaxNameLength, true);
        auto group = r.Str("group", limits::kMaxNameLength, true);
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        if (Answer(res, dir->AddAssignment(actor(), *event, *group), 201))
          api::SendJson(res, 201, json({{"event", *event}, {"group", *group}}).dump());
      });
  Add("GET", "/v1/assignments", "List assignments (?event=, ?group=)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        json items = json::array();
        for (auto& a :
             dir->ListAssignments(req.get_param_value("event"), req.get_param_value("group")))
          items.push_back({{"event", a.event}, {"group", a.group}});
        api::SendJson(res, 200, json({{"assignments", items}}).dump());
      });
  Add("DELETE", "/v1/assignments/{event}/{group}", "Unassign an event from a group", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->RemoveAssignment(actor(), req.matches[1], req.matches[2]));
      });

  // ---- admin tokens and audit
  Add("POST", "/v1/admin-tokens", "Create an admin token (shown once)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        auto body = Body(req, res);
        if (!body) return;
        ObjectReader r(*body);
        auto desc = r.Str("description", 1024, false).value_or("");
        Status st = r.Finish();
        if (!st.ok()) return api::SendError(res, st);
        auto tok = dir->CreateAdminToken(actor(), desc);
        if (!tok.ok()) return api::SendError(res, tok.status());
        api::SendJson(res, 201, json({{"id", tok->id}, {"token", tok->Encode()}}).dump());
      });
  Add("GET", "/v1/admin-tokens", "List admin tokens", true,
      [=](const httplib::Request&, httplib::Response& res) {
        json items = json::array();
        for (auto& t : dir->ListAdminTokens())
          items.push_back({{"id", t.id},
                           {"description", t.description},
                           {"created_at", FormatRfc3339(t.created_at)},
                           {"revoked", t.revoked_at != 0}});
        api::SendJson(res, 200, json({{"admin_tokens", items}}).dump());
      });
  Add("DELETE", "/v1/admin-tokens/{id}", "Revoke an admin token", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        Answer(res, dir->RevokeAdminToken(actor(), req.matches[1]));
      });
  Store* store = s_.store;
  Add("GET", "/v1/audit", "Read the append-only audit log (?after=seq&limit=n)", true,
      [=](const httplib::Request& req, httplib::Response& res) {
        int64_t after = 0;
        size_t limit = kDefaultPage;
        try {
          if (req.has_param("after")) after = std::stoll(req.get_param_value("after"));
          if (req.has_param("limit")) limit = std::stoul(req.get_param_value("limit"));
        } catch (...) {
          return api::SendError(res, InvalidArgument("after and limit must be integers"));
        }
        if (after < 0 || limit < 1 || limit > kMaxPage)
          return api::SendError(
              res, InvalidArgument("after must be >= 0 and limit 1-" + std::to_string(kMaxPage)));
        auto recs = store->ReadAudit(after, limit);
        if (!recs.ok()) return api::SendError(res, recs.status());
        json items = json::array();
        for (auto& a : *recs) {
          json detail = json::parse(a.detail, nullptr, false);
          items.push_back({{"seq", a.seq},
                           {"time", FormatRfc3339(a.time)},
                           {"actor", a.actor},
                           {"action", a.action},
                           {"target", a.target},
                           {"detail", detail.is_discarded() ? json(a.detail) : detail}});
        }
        api::SendJson(res, 200, json({{"records", items}}).dump());
      });
}

}  // namespace keycast
