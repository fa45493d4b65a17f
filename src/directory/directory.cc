#include "keycast/directory.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "directory/dense_table.h"
#include "directory/validate.h"
#include "keycast/crypto.h"
#include "keycast/limits.h"

namespace keycast {
namespace {

using json = nlohmann::json;

struct ClientRec {
  Client c;
  std::vector<std::pair<GroupId, Role>> groups;
};
struct GroupRec {
  Group g;
  std::vector<GroupId> parents, children;
  std::vector<EventId> events;
  std::vector<ClientId> members;
};
struct EventRec {
  std::shared_ptr<const Event> e;
  std::vector<GroupId> groups;
};

template <typename V, typename T>
void EraseValue(V& v, const T& x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

std::string EventDetail(const Event& e, const std::string& sender) {
  json j = {
      {"title", e.title}, {"group_address", e.group_address.ToString()}, {"port", e.port},
      {"sender", sender}, {"interval_seconds", e.interval_seconds},      {"version", e.version}};
  if (e.source_auth) j["source_auth"] = true;
  return j.dump();
}

// The key state for the audit log (numbers and times only, never secrets).
json KeyStateDetail(const EventKeyState& k) {
  return {{"secret_version", k.secret_version},
          {"generation", k.generation.number},
          {"schedule_version", k.generation.schedule},
          {"activates_at_ms", k.activates_at / 1000},
          {"previous_secret_version", k.previous_secret_version},
          {"previous_generation", k.previous.number},
          {"previous_schedule_version", k.previous.schedule}};
}

// Whether a change of the event alters what its keys mean (the time window
// of an epoch, or the AEAD they are used with): then its schedule version
// grows, so no key is ever used in two windows or with two algorithms.
bool ChangesKeyMeaning(const Event& before, const Event& after) {
  return !(before.schedule == after.schedule) ||
         before.interval_seconds != after.interval_seconds || before.algorithm != after.algorithm;
}

}  // namespace

struct Directory::Index {
  DenseTable<ClientId, ClientRec> clients;
  std::map<std::string, ClientId, std::less<>> client_names;
  DenseTable<GroupId, GroupRec> groups;
  std::map<std::string, GroupId, std::less<>> group_names;
  DenseTable<EventId, EventRec> events;
  std::map<std::string, EventId, std::less<>> event_names;
  std::unordered_map<std::string, ApiKey> api_keys;  // by id
  std::unordered_map<std::string, AdminToken> admin_tokens;
  size_t edges = 0, memberships = 0, assignments = 0;

  std::optional<ClientId> ClientByName(std::string_view n) const {
    auto it = client_names.find(n);
    return it == client_names.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<GroupId> GroupByName(std::string_view n) const {
    auto it = group_names.find(n);
    return it == group_names.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<EventId> EventByName(std::string_view n) const {
    auto it = event_names.find(n);
    return it == event_names.end() ? std::nullopt : std::optional(it->second);
  }
  std::string GroupName(GroupId id) const {
    const GroupRec* g = groups.find(id);
    return g ? g->g.name : "?";
  }
  std::string ClientNameOf(ClientId id) const {
    const ClientRec* c = clients.find(id);
    return c ? c->c.name : "";
  }

  ClientView ViewClient(const ClientRec& r) const {
    ClientView v{r.c, {}};
    v.client.password_hash = r.c.password_hash.empty() ? "" : "set";
    for (auto& [g, role] : r.groups) v.groups.emplace_back(GroupName(g), role);
    std::sort(v.groups.begin(), v.groups.end());
    return v;
  }
  GroupView ViewGroup(const GroupRec& r) const {
    GroupView v{r.g, {}, {}, {}, r.members.size()};
    for (GroupId p : r.parents) v.parents.push_back(GroupName(p));
    for (GroupId c : r.children) v.children.push_back(GroupName(c));
    for (EventId e : r.events) {
      const EventRec* er = events.find(e);
      if (er) v.events.push_back(er->e->name);
    }
    std::sort(v.parents.begin(), v.parents.end());
    std::sort(v.children.begin(), v.children.end());
    std::sort(v.events.begin(), v.events.end());
    return v;
  }
  EventView ViewEvent(const EventRec& r) const {
    EventView v{r.e, ClientNameOf(r.e->sender), {}};
    for (GroupId g : r.groups) v.groups.push_back(GroupName(g));
    std::sort(v.groups.begin(), v.groups.end());
    return v;
  }

  // A path child -> ... -> target following child edges, or empty.
  std::vector<GroupId> PathDown(GroupId from, GroupId target) const {
    std::unordered_map<int64_t, int64_t> came_from;
    std::vector<GroupId> stack = {from};
    came_from[from.value] = 0;
    while (!stack.empty()) {
      GroupId g = stack.back();
      stack.pop_back();
      if (g == target) {
        std::vector<GroupId> path;
        for (int64_t cur = g.value; cur != 0; cur = came_from[cur]) path.push_back(GroupId(cur));
        std::reverse(path.begin(), path.end());
        return path;
      }
      const GroupRec* r = groups.find(g);
      if (!r) continue;
      for (GroupId c : r->children) {
        if (came_from.emplace(c.value, g.value).second) stack.push_back(c);
      }
    }
    return {};
  }

  // Applying loaded or committed records.
  void AddEdge(GroupId parent, GroupId child) {
    groups.find(parent)->children.push_back(child);
    groups.find(child)->parents.push_back(parent);
    ++edges;
  }
  void RemoveEdge(GroupId parent, GroupId child) {
    EraseValue(groups.find(parent)->children, child);
    EraseValue(groups.find(child)->parents, parent);
    --edges;
  }
  void SetMembership(ClientId c, GroupId g, Role role) {
    ClientRec* cr = clients.find(c);
    for (auto& [gid, r] : cr->groups) {
      if (gid == g) {
        r = role;
        return;
      }
    }
    cr->groups.emplace_back(g, role);
    groups.find(g)->members.push_back(c);
    ++memberships;
  }
  void RemoveMembership(ClientId c, GroupId g) {
    ClientRec* cr = clients.find(c);
    size_t before = cr->groups.size();
    cr->groups.erase(
        std::remove_if(cr->groups.begin(), cr->groups.end(), [&](auto& p) { return p.first == g; }),
        cr->groups.end());
    if (cr->groups.size() != before) {
      EraseValue(groups.find(g)->members, c);
      --memberships;
    }
  }
  void AddAssignment(EventId e, GroupId g) {
    events.find(e)->groups.push_back(g);
    groups.find(g)->events.push_back(e);
    ++assignments;
  }
  void RemoveAssignment(EventId e, GroupId g) {
    EraseValue(events.find(e)->groups, g);
    EraseValue(groups.find(g)->events, e);
    --assignments;
  }
  void EraseGroup(GroupId id) {
    GroupRec* r = groups.find(id);
    for (GroupId p : std::vector<GroupId>(r->parents)) RemoveEdge(p, id);
    for (GroupId c : std::vector<GroupId>(r->children)) RemoveEdge(id, c);
    for (ClientId c : std::vector<ClientId>(r->members)) RemoveMembership(c, id);
    for (EventId e : std::vector<EventId>(r->events)) RemoveAssignment(e, id);
    group_names.erase(r->g.name);
    groups.erase(id);
  }
  void EraseClient(ClientId id) {
    ClientRec* r = clients.find(id);
    for (auto [g, role] : std::vector<std::pair<GroupId, Role>>(r->groups)) RemoveMembership(id, g);
    for (auto it = api_keys.begin(); it != api_keys.end();) {
      if (it->second.client == id)
        it = api_keys.erase(it);
      else
        ++it;
    }
    // Events it sent keep existing without a sender (ON DELETE SET NULL).
    events.ForEach([&](EventId, EventRec& er) {
      if (er.e->sender == id) {
        auto copy = std::make_shared<Event>(*er.e);
        copy->sender = ClientId();
        er.e = std::move(copy);
      }
    });
    client_names.erase(r->c.name);
    clients.erase(id);
  }
  void EraseEvent(EventId id) {
    EventRec* r = events.find(id);
    for (GroupId g : std::vector<GroupId>(r->groups)) RemoveAssignment(id, g);
    event_names.erase(r->e->name);
    events.erase(id);
  }

  // Applies a removal or disable another process committed (IsRemoval),
  // by the names in its record; a name this index no longer has is a
  // removal already applied.
  void ApplyRemoval(const AuditRecord& r) {
    json d = json::parse(r.detail, nullptr, false);
    auto field = [&](const char* k) {
      return d.is_object() && d.contains(k) && d[k].is_string() ? d[k].get<std::string>() : "";
    };
    std::string name = r.target.substr(r.target.find(':') + 1);
    if (r.action == "client.delete") {
      if (auto c = ClientByName(name)) EraseClient(*c);
    } else if (r.action == "client.update") {
      if (auto c = ClientByName(name)) {
        ClientRec* cr = clients.find(*c);
        if (d.contains("enabled")) cr->c.enabled = d["enabled"].get<bool>();
        if (d.contains("description")) cr->c.description = d["description"].get<std::string>();
        cr->c.updated_at = r.time;
      }
    } else if (r.action == "group.delete") {
      if (auto g = GroupByName(name)) EraseGroup(*g);
    } else if (r.action == "event.delete") {
      if (auto e = EventByName(name)) EraseEvent(*e);
    } else if (r.action == "edge.delete") {
      auto p = GroupByName(field("parent")), c = GroupByName(field("child"));
      if (p && c) {
        auto& kids = groups.find(*p)->children;
        if (std::find(kids.begin(), kids.end(), *c) != kids.end()) RemoveEdge(*p, *c);
      }
    } else if (r.action == "membership.delete") {
      auto c = ClientByName(field("client"));
      auto g = GroupByName(field("group"));
      if (c && g) RemoveMembership(*c, *g);
    } else if (r.action == "assignment.delete") {
      auto e = EventByName(field("event"));
      auto g = GroupByName(field("group"));
      if (e && g) {
        auto& gs = events.find(*e)->groups;
        if (std::find(gs.begin(), gs.end(), *g) != gs.end()) RemoveAssignment(*e, *g);
      }
    } else if (r.action == "api_key.revoke") {
      auto it = api_keys.find(field("key_id"));
      if (it != api_keys.end() && it->second.revoked_at == 0) it->second.revoked_at = r.time;
    } else if (r.action == "admin_token.revoke") {
      auto it = admin_tokens.find(name);
      if (it != admin_tokens.end() && it->second.revoked_at == 0) it->second.revoked_at = r.time;
    }
  }
};

namespace {

enum class RecordKind { kOther, kRemoval, kNotDirectory, kServiceKey };

// How CatchUp treats an audit record.
RecordKind Classify(const AuditRecord& r) {
  const std::string& a = r.action;
  if (a.starts_with("service_key.")) return RecordKind::kServiceKey;
  if (a.starts_with("resv.")) return RecordKind::kNotDirectory;
  if (a == "client.delete" || a == "group.delete" || a == "event.delete" || a == "edge.delete" ||
      a == "membership.delete" || a == "assignment.delete" || a == "api_key.revoke" ||
      a == "admin_token.revoke")
    return RecordKind::kRemoval;
  if (a == "client.update") {
    // A disable or a new description; a rename or a new password needs the row.
    json d = json::parse(r.detail, nullptr, false);
    if (!d.is_object()) return RecordKind::kOther;
    for (auto& [k, v] : d.items()) {
      bool ok = (k == "enabled" && v.is_boolean()) || (k == "description" && v.is_string());
      if (!ok) return RecordKind::kOther;
    }
    return RecordKind::kRemoval;
  }
  return RecordKind::kOther;
}

}  // namespace

Directory::Directory(Store* store, const Sealer* sealer, const Clock* clock,
                     DirectoryOptions options)
    : store_(store),
      sealer_(sealer),
      clock_(clock),
      options_(options),
      index_(new Index),
      limiter_(new LoginLimiter(clock)) {
  limiter_->SetBackoffHook([this](const LoginBackoff& b) {
    nlohmann::json detail = {{"failures", b.failures},
                             {"backoff_seconds", b.seconds},
                             {"refused_since_last", b.refused},
                             {"reports_suppressed", b.suppressed}};
    Status st = AppendAuditOnly("login-limiter", "login.backoff", b.key, detail.dump());
    if (!st.ok()) spdlog::error("cannot audit a login back-off: {}", st.message());
  });
  // Made now, so the first unknown name costs what later ones do.
  (void)DummyPasswordHash(options_.password_cost);
}

Status Directory::AppendAuditOnly(const std::string& actor, const std::string& action,
                                  const std::string& target, const std::string& detail) {
  std::lock_guard<std::mutex> w(write_mu_);
  KC_ASSIGN_OR_RETURN(auto txn, store_->Begin());
  KC_ASSIGN_OR_RETURN(int64_t seq, txn->AppendAudit(AuditRecord{0, clock_->NowSeconds(), actor,
                                                                action, target, detail}));
  KC_RETURN_IF_ERROR(txn->Commit());
  // Nothing to apply; keep our own record from looking like another
  // process's change (which would make Refresh reload).
  if (seq == audit_seq_.load() + 1) audit_seq_ = seq;
  return Status::Ok();
}

Directory::~Directory() = default;

Result<std::unique_ptr<Directory>> Directory::Open(Store* store, const Sealer* sealer,
                                                   const Clock* clock, DirectoryOptions options) {
  std::unique_ptr<Directory> d(new Directory(store, sealer, clock, options));
  KC_ASSIGN_OR_RETURN(int64_t seq, store->LastAuditSeq());
  DirectoryData data;
  KC_RETURN_IF_ERROR(store->LoadDirectory(&data));
  d->index_ = BuildIndex(std::move(data));
  d->audit_seq_ = seq;
  return d;
}

Result<bool> Directory::Refresh() {
  KC_ASSIGN_OR_RETURN(int64_t seq, store_->LastAuditSeq());
  if (seq <= audit_seq_.load()) return false;
  // Read the sequence number first: a change committed while we load is
  // either in the data or makes the next Refresh reload again.
  std::lock_guard<std::mutex> w(write_mu_);
  DirectoryData data;
  KC_RETURN_IF_ERROR(store_->LoadDirectory(&data));
  auto fresh = BuildIndex(std::move(data));
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    index_ = std::move(fresh);
    audit_seq_ = seq;
  }
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  return true;
}

Result<Directory::CatchUpResult> Directory::CatchUp() {
  std::lock_guard<std::mutex> w(write_mu_);
  std::vector<AuditRecord> records;
  for (;;) {
    int64_t after = records.empty() ? audit_seq_.load() : records.back().seq;
    KC_ASSIGN_OR_RETURN(auto batch, store_->ReadAudit(after, limits::kCatchUpBatch));
    size_t n = batch.size();
    records.insert(records.end(), std::make_move_iterator(batch.begin()),
                   std::make_move_iterator(batch.end()));
    if (n < limits::kCatchUpBatch || records.size() >= limits::kCatchUpMaxRecords) break;
  }
  CatchUpResult out;
  out.records = records.size();
  if (records.empty()) return out;
  bool incremental = records.size() < limits::kCatchUpMaxRecords;
  bool touches_index = false;
  for (const AuditRecord& r : records) {
    RecordKind k = Classify(r);
    out.service_keys |= k == RecordKind::kServiceKey;
    incremental &= k != RecordKind::kOther;
    touches_index |= k == RecordKind::kRemoval || k == RecordKind::kOther;
  }
  if (incremental) {
    std::unique_lock<std::shared_mutex> l(mu_);
    for (const AuditRecord& r : records)
      if (Classify(r) == RecordKind::kRemoval) index_->ApplyRemoval(r);
    audit_seq_ = records.back().seq;
  } else {
    // The snapshot is exact when no change committed between the two reads
    // of the sequence number; else a later CatchUp reads those records
    // again, which removals and reloads both tolerate.
    int64_t before = 0, after = 0;
    std::unique_ptr<Index> fresh;
    for (int attempt = 0; attempt < 3 && (attempt == 0 || before != after); ++attempt) {
      KC_ASSIGN_OR_RETURN(before, store_->LastAuditSeq());
      DirectoryData data;
      KC_RETURN_IF_ERROR(store_->LoadDirectory(&data));
      fresh = BuildIndex(std::move(data));
      KC_ASSIGN_OR_RETURN(after, store_->LastAuditSeq());
    }
    std::unique_lock<std::shared_mutex> l(mu_);
    index_ = std::move(fresh);
    audit_seq_ = before;
    out.reloaded = true;
  }
  if (touches_index) {
    {
      std::lock_guard<std::mutex> l(wait_mu_);
      generation_.fetch_add(1);
    }
    cv_.notify_all();
  }
  return out;
}

std::unique_ptr<Directory::Index> Directory::BuildIndex(DirectoryData data) {
  auto index = std::make_unique<Index>();
  Index& x = *index;
  for (auto& c : data.clients) {
    x.client_names.emplace(c.name, c.id);
    ClientId id = c.id;
    x.clients.insert(id, ClientRec{std::move(c), {}});
  }
  for (auto& g : data.groups) {
    x.group_names.emplace(g.name, g.id);
    GroupId id = g.id;
    x.groups.insert(id, GroupRec{std::move(g), {}, {}, {}, {}});
  }
  for (auto& e : data.events) {
    x.event_names.emplace(e.name, e.id);
    EventId id = e.id;
    x.events.insert(id, EventRec{std::make_shared<const Event>(std::move(e)), {}});
  }
  for (const Edge& e : data.edges) x.AddEdge(e.parent, e.child);
  for (const Membership& m : data.memberships) x.SetMembership(m.client, m.group, m.role);
  for (const Assignment& a : data.assignments) x.AddAssignment(a.event, a.group);
  for (auto& k : data.api_keys) x.api_keys.emplace(k.id, std::move(k));
  for (auto& t : data.admin_tokens) x.admin_tokens.emplace(t.id, std::move(t));
  return index;
}

template <typename Fn, typename Apply>
Status Directory::Commit(const Actor& actor, const std::string& action, const std::string& target,
                         const std::string& detail, Fn&& fn, Apply&& apply) {
  KC_ASSIGN_OR_RETURN(auto txn, store_->Begin());
  KC_RETURN_IF_ERROR(fn(*txn));
  KC_ASSIGN_OR_RETURN(int64_t seq, txn->AppendAudit(AuditRecord{0, clock_->NowSeconds(), actor.name,
                                                                action, target, detail}));
  KC_RETURN_IF_ERROR(txn->Commit());
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    apply(*index_);
    // Our own change needs no reload; a gap means another process wrote too,
    // and the next Refresh will reload.
    if (seq == audit_seq_.load() + 1) audit_seq_ = seq;
  }
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  return Status::Ok();
}

// ---------------------------------------------------------------- clients

Result<ClientView> Directory::CreateClient(const Actor& actor, const ClientSpec& spec) {
  KC_RETURN_IF_ERROR(ValidateName("client", spec.name));
  KC_RETURN_IF_ERROR(ValidateDescription(spec.description));
  Client c;
  c.name = spec.name;
  c.description = spec.description;
  c.enabled = spec.enabled;
  c.created_at = c.updated_at = clock_->NowSeconds();
  if (spec.password) {
    KC_RETURN_IF_ERROR(ValidatePassword(*spec.password));
    KC_ASSIGN_OR_RETURN(c.password_hash, HashPassword(*spec.password, options_.password_cost));
  }
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (index_->ClientByName(c.name))
      return AlreadyExists("client '" + c.name + "' already exists");
  }
  json detail = {{"enabled", c.enabled}, {"password", !c.password_hash.empty()}};
  KC_RETURN_IF_ERROR(Commit(
      actor, "client.create", "client:" + c.name, detail.dump(),
      [&](StoreTxn& t) -> Status {
        KC_ASSIGN_OR_RETURN(c.id, t.InsertClient(c));
        return Status::Ok();
      },
      [&](Index& x) {
        x.client_names.emplace(c.name, c.id);
        x.clients.insert(c.id, ClientRec{c, {}});
      }));
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewClient(*index_->clients.find(c.id));
}

Result<ClientView> Directory::UpdateClient(const Actor& actor, const std::string& name,
                                           const ClientPatch& patch) {
  if (patch.name) KC_RETURN_IF_ERROR(ValidateName("client", *patch.name));
  if (patch.description) KC_RETURN_IF_ERROR(ValidateDescription(*patch.description));
  std::string new_hash;
  if (patch.password && !patch.password->empty()) {
    KC_RETURN_IF_ERROR(ValidatePassword(*patch.password));
    KC_ASSIGN_OR_RETURN(new_hash, HashPassword(*patch.password, options_.password_cost));
  }
  std::lock_guard<std::mutex> w(write_mu_);
  Client c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto id = index_->ClientByName(name);
    if (!id) return NotFound("client '" + name + "' does not exist");
    c = index_->clients.find(*id)->c;
    if (patch.name && *patch.name != name && index_->ClientByName(*patch.name))
      return AlreadyExists("client '" + *patch.name + "' already exists");
  }
  json detail = json::object();
  if (patch.name) {
    detail["name"] = *patch.name;
    c.name = *patch.name;
  }
  if (patch.description) {
    detail["description"] = *patch.description;
    c.description = *patch.description;
  }
  if (patch.enabled) {
    detail["enabled"] = *patch.enabled;
    c.enabled = *patch.enabled;
  }
  if (patch.password) {
    detail["password"] = patch.password->empty() ? "removed" : "changed";
    c.password_hash = new_hash;
  }
  c.updated_at = clock_->NowSeconds();
  KC_RETURN_IF_ERROR(Commit(
      actor, "client.update", "client:" + name, detail.dump(),
      [&](StoreTxn& t) { return t.UpdateClient(c); },
      [&](Index& x) {
        ClientRec* r = x.clients.find(c.id);
        if (r->c.name != c.name) {
          x.client_names.erase(r->c.name);
          x.client_names.emplace(c.name, c.id);
        }
        r->c = c;
      }));
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewClient(*index_->clients.find(c.id));
}

Status Directory::DeleteClient(const Actor& actor, const std::string& name) {
  std::lock_guard<std::mutex> w(write_mu_);
  ClientId id;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto found = index_->ClientByName(name);
    if (!found) return NotFound("client '" + name + "' does not exist");
    id = *found;
  }
  return Commit(
      actor, "client.delete", "client:" + name, "{}",
      [&](StoreTxn& t) { return t.DeleteClient(id); }, [&](Index& x) { x.EraseClient(id); });
}

// ---------------------------------------------------------------- groups

Result<GroupView> Directory::CreateGroup(const Actor& actor, const GroupSpec& spec) {
  KC_RETURN_IF_ERROR(ValidateName("group", spec.name));
  KC_RETURN_IF_ERROR(ValidateDescription(spec.description));
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (index_->GroupByName(spec.name))
      return AlreadyExists("group '" + spec.name + "' already exists");
  }
  Group g{GroupId(), spec.name, spec.description, clock_->NowSeconds(), clock_->NowSeconds()};
  KC_RETURN_IF_ERROR(Commit(
      actor, "group.create", "group:" + g.name, "{}",
      [&](StoreTxn& t) -> Status {
        KC_ASSIGN_OR_RETURN(g.id, t.InsertGroup(g));
        return Status::Ok();
      },
      [&](Index& x) {
        x.group_names.emplace(g.name, g.id);
        x.groups.insert(g.id, GroupRec{g, {}, {}, {}, {}});
      }));
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewGroup(*index_->groups.find(g.id));
}

Result<GroupView> Directory::UpdateGroup(const Actor& actor, const std::string& name,
                                         const GroupPatch& patch) {
  if (patch.name) KC_RETURN_IF_ERROR(ValidateName("group", *patch.name));
  if (patch.description) KC_RETURN_IF_ERROR(ValidateDescription(*patch.description));
  std::lock_guard<std::mutex> w(write_mu_);
  Group g;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto id = index_->GroupByName(name);
    if (!id) return NotFound("group '" + name + "' does not exist");
    g = index_->groups.find(*id)->g;
    if (patch.name && *patch.name != name && index_->GroupByName(*patch.name))
      return AlreadyExists("group '" + *patch.name + "' already exists");
  }
  json detail = json::object();
  if (patch.name) {
    detail["name"] = *patch.name;
    g.name = *patch.name;
  }
  if (patch.description) {
    detail["description"] = *patch.description;
    g.description = *patch.description;
  }
  g.updated_at = clock_->NowSeconds();
  KC_RETURN_IF_ERROR(Commit(
      actor, "group.update", "group:" + name, detail.dump(),
      [&](StoreTxn& t) { return t.UpdateGroup(g); },
      [&](Index& x) {
        GroupRec* r = x.groups.find(g.id);
        if (r->g.name != g.name) {
          x.group_names.erase(r->g.name);
          x.group_names.emplace(g.name, g.id);
        }
        r->g = g;
      }));
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewGroup(*index_->groups.find(g.id));
}

Status Directory::DeleteGroup(const Actor& actor, const std::string& name) {
  std::lock_guard<std::mutex> w(write_mu_);
  GroupId id;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto found = index_->GroupByName(name);
    if (!found) return NotFound("group '" + name + "' does not exist");
    id = *found;
  }
  return Commit(
      actor, "group.delete", "group:" + name, "{}", [&](StoreTxn& t) { return t.DeleteGroup(id); },
      [&](Index& x) { x.EraseGroup(id); });
}

Status Directory::AddEdge(const Actor& actor, const std::string& parent, const std::string& child) {
  std::lock_guard<std::mutex> w(write_mu_);
  GroupId p, c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto pp = index_->GroupByName(parent);
    if (!pp) return NotFound("group '" + parent + "' does not exist");
    auto cc = index_->GroupByName(child);
    if (!cc) return NotFound("group '" + child + "' does not exist");
    p = *pp;
    c = *cc;
    if (p == c)
      return FailedPrecondition("edge " + parent + " -> " + child + " would close the cycle " +
                                parent + " -> " + parent);
    const GroupRec* pr = index_->groups.find(p);
    if (std::find(pr->children.begin(), pr->children.end(), c) != pr->children.end())
      return AlreadyExists("edge " + parent + " -> " + child + " already exists");
    // A cycle closes if the parent is already reachable downwards from the child.
    std::vector<GroupId> path = index_->PathDown(c, p);
    if (!path.empty()) {
      std::string cycle = parent;
      for (GroupId g : path) cycle += " -> " + index_->GroupName(g);
      return FailedPrecondition("edge " + parent + " -> " + child + " would close the cycle " +
                                cycle);
    }
  }
  json detail = {{"parent", parent}, {"child", child}};
  return Commit(
      actor, "edge.create", "edge:" + parent + "->" + child, detail.dump(),
      [&](StoreTxn& t) {
        return t.InsertEdge(Edge{p, c});
      },
      [&](Index& x) { x.AddEdge(p, c); });
}

Status Directory::RemoveEdge(const Actor& actor, const std::string& parent,
                             const std::string& child) {
  std::lock_guard<std::mutex> w(write_mu_);
  GroupId p, c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto pp = index_->GroupByName(parent);
    auto cc = index_->GroupByName(child);
    if (!pp || !cc) return NotFound("edge " + parent + " -> " + child + " does not exist");
    p = *pp;
    c = *cc;
    const GroupRec* pr = index_->groups.find(p);
    if (std::find(pr->children.begin(), pr->children.end(), c) == pr->children.end())
      return NotFound("edge " + parent + " -> " + child + " does not exist");
  }
  json detail = {{"parent", parent}, {"child", child}};
  return Commit(
      actor, "edge.delete", "edge:" + parent + "->" + child, detail.dump(),
      [&](StoreTxn& t) {
        return t.DeleteEdge(Edge{p, c});
      },
      [&](Index& x) { x.RemoveEdge(p, c); });
}

// ---------------------------------------------------------------- events

Result<EventView> Directory::CreateEvent(const Actor& actor, const EventSpec& spec) {
  Event e;
  e.name = spec.name;
  e.title = spec.title;
  e.group_address = spec.group_address;
  e.port = spec.port;
  e.source_address = spec.source_address;
  e.schedule = spec.schedule;
  e.interval_seconds = spec.interval_seconds;
  e.initial_keying_seconds = spec.initial_keying_seconds;
  e.clear_intervals = spec.clear_intervals;
  e.key_servers = spec.key_servers;
  e.algorithm = spec.algorithm;
  e.delivery = spec.delivery;
  e.source_auth = spec.source_auth;
  e.version = 1;
  e.created_at = e.updated_at = clock_->NowSeconds();
  KC_RETURN_IF_ERROR(ValidateName("event", e.name));
  KC_RETURN_IF_ERROR(ValidateEvent(e));
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (index_->EventByName(e.name)) return AlreadyExists("event '" + e.name + "' already exists");
    if (!spec.sender.empty()) {
      auto s = index_->ClientByName(spec.sender);
      if (!s) return NotFound("sender client '" + spec.sender + "' does not exist");
      e.sender = *s;
    }
  }
  SecretBytes secret = crypto::RandomSecret(32);
  KC_RETURN_IF_ERROR(Commit(
      actor, "event.create", "event:" + e.name, EventDetail(e, spec.sender),
      [&](StoreTxn& t) -> Status {
        KC_ASSIGN_OR_RETURN(e.id, t.InsertEvent(e));
        return t.PutEventSecret(
            e.id, 1, sealer_->Seal(kEventSecretPurpose, EventSecretRecord(e.id, 1), secret),
            e.created_at);
      },
      [&](Index& x) {
        x.event_names.emplace(e.name, e.id);
        x.events.insert(e.id, EventRec{std::make_shared<const Event>(e), {}});
      }));
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewEvent(*index_->events.find(e.id));
}

Result<EventView> Directory::UpdateEvent(const Actor& actor, const std::string& name,
                                         const EventPatch& p) {
  if (p.name) KC_RETURN_IF_ERROR(ValidateName("event", *p.name));
  std::lock_guard<std::mutex> w(write_mu_);
  Event e;
  std::string sender_name;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto id = index_->EventByName(name);
    if (!id) return NotFound("event '" + name + "' does not exist");
    e = *index_->events.find(*id)->e;
    if (p.name && *p.name != name && index_->EventByName(*p.name))
      return AlreadyExists("event '" + *p.name + "' already exists");
    if (p.sender) {
      if (p.sender->empty()) {
        e.sender = ClientId();
      } else {
        auto s = index_->ClientByName(*p.sender);
        if (!s) return NotFound("sender client '" + *p.sender + "' does not exist");
        e.sender = *s;
      }
    }
    sender_name = index_->ClientNameOf(e.sender);
  }
  if (p.name) e.name = *p.name;
  if (p.title) e.title = *p.title;
  if (p.group_address) e.group_address = *p.group_address;
  if (p.port) e.port = *p.port;
  if (p.source_address) e.source_address = *p.source_address;
  if (p.schedule) e.schedule = *p.schedule;
  if (p.interval_seconds) e.interval_seconds = *p.interval_seconds;
  if (p.initial_keying_seconds) e.initial_keying_seconds = *p.initial_keying_seconds;
  if (p.clear_intervals) e.clear_intervals = *p.clear_intervals;
  if (p.key_servers) e.key_servers = *p.key_servers;
  if (p.algorithm) e.algorithm = *p.algorithm;
  if (p.delivery) e.delivery = *p.delivery;
  if (p.source_auth) e.source_auth = *p.source_auth;
  KC_RETURN_IF_ERROR(ValidateEvent(e));
  bool rekeys = false;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    rekeys = ChangesKeyMeaning(*index_->events.find(e.id)->e, e);
  }
  e.version += 1;
  e.updated_at = clock_->NowSeconds();
  std::string detail = EventDetail(e, sender_name);
  Status committed = Commit(
      actor, "event.update", "event:" + name, detail,
      [&](StoreTxn& t) -> Status {
        KC_RETURN_IF_ERROR(t.UpdateEvent(e));
        if (!rekeys) return Status::Ok();
        // A new schedule version, in force at once: the edited schedule
        // maps epochs onto new time windows from now on, and the keys of
        // the old version must never be handed out for those windows. SAs
        // already issued keep their own windows (and grace).
        StoreTxn::KeyChange kc;
        kc.bump_schedule = 1;
        kc.now = clock_->Now();
        kc.activates_at = kc.now;
        KC_ASSIGN_OR_RETURN(auto states, t.AdvanceEventKeys(e.id, kc));
        e.keys = states.second;
        KC_ASSIGN_OR_RETURN(int64_t retired,
                            t.RetireEventSecrets(e.id, e.keys.secret_version,
                                                 e.keys.previous_secret_version, e.updated_at));
        json d = json::parse(detail);
        d["keys"] = KeyStateDetail(e.keys);
        d["secrets_retired"] = retired;
        detail = d.dump();
        return Status::Ok();
      },
      [&](Index& x) {
        EventRec* r = x.events.find(e.id);
        if (r->e->name != e.name) {
          x.event_names.erase(r->e->name);
          x.event_names.emplace(e.name, e.id);
        }
        r->e = std::make_shared<const Event>(e);
      });
  KC_RETURN_IF_ERROR(committed);
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ViewEvent(*index_->events.find(e.id));
}

Status Directory::DeleteEvent(const Actor& actor, const std::string& name) {
  std::lock_guard<std::mutex> w(write_mu_);
  EventId id;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto found = index_->EventByName(name);
    if (!found) return NotFound("event '" + name + "' does not exist");
    id = *found;
  }
  return Commit(
      actor, "event.delete", "event:" + name, "{}", [&](StoreTxn& t) { return t.DeleteEvent(id); },
      [&](Index& x) { x.EraseEvent(id); });
}

// ------------------------------------------------- key generations

std::string EventSecretRecord(EventId event, uint32_t version) {
  std::string r = "event:" + std::to_string(event.value);
  return version == 1 ? r : r + ":v" + std::to_string(version);
}

Result<RekeyResult> Directory::RekeyEvent(const Actor& actor, const std::string& name) {
  return ChangeKeys(actor, name, false);
}

Result<RekeyResult> Directory::RotateEventSecret(const Actor& actor, const std::string& name) {
  return ChangeKeys(actor, name, true);
}

// gather -> check -> issue: the event, then one transaction that writes the
// new secret version (rotation), advances the key state by a statement
// that increments (so the numbers only grow, whoever else writes), erases
// secrets no state needs, and records it all in the audit log.
Result<RekeyResult> Directory::ChangeKeys(const Actor& actor, const std::string& name,
                                          bool rotate) {
  std::lock_guard<std::mutex> w(write_mu_);
  std::shared_ptr<const Event> before;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto id = index_->EventByName(name);
    if (!id) return NotFound("event '" + name + "' does not exist");
    before = index_->events.find(*id)->e;
  }
  const EventId id = before->id;
  RekeyResult result;
  result.members = AuthorizedClients(id).size();
  result.lead_ms = options_.rekey_lead_ms;
  Event e = *before;
  Micros now = clock_->Now();
  std::string detail;
  Status committed = Commit(
      actor, rotate ? "event.rotate_secret" : "event.rekey", "event:" + name, detail,
      [&](StoreTxn& t) -> Status {
        StoreTxn::KeyChange kc;
        kc.bump_generation = 1;
        kc.now = now;
        kc.activates_at = now + options_.rekey_lead_ms * 1000;
        if (rotate) {
          KC_ASSIGN_OR_RETURN(kc.secret_version, t.NextEventSecretVersion(id));
          SecretBytes secret = crypto::RandomSecret(32);
          KC_RETURN_IF_ERROR(t.PutEventSecret(
              id, kc.secret_version,
              sealer_->Seal(kEventSecretPurpose, EventSecretRecord(id, kc.secret_version), secret),
              now / kMicrosPerSecond));
        }
        KC_ASSIGN_OR_RETURN(auto states, t.AdvanceEventKeys(id, kc));
        e.keys = states.second;
        // A state superseded while still pending never comes into force:
        // its secret, if it had one of its own, is erased now.
        KC_ASSIGN_OR_RETURN(
            result.secrets_retired,
            t.RetireEventSecrets(id, e.keys.secret_version, e.keys.previous_secret_version,
                                 now / kMicrosPerSecond));
        json d = KeyStateDetail(e.keys);
        d["members"] = result.members;
        d["secrets_retired"] = result.secrets_retired;
        if (states.first.activates_at > now) d["superseded_pending"] = true;
        detail = d.dump();
        return Status::Ok();
      },
      [&](Index& x) {
        EventRec* r = x.events.find(id);
        if (r) r->e = std::make_shared<const Event>(e);
      });
  KC_RETURN_IF_ERROR(committed);
  std::shared_lock<std::shared_mutex> l(mu_);
  const EventRec* r = index_->events.find(id);
  result.event = r ? r->e : std::make_shared<const Event>(e);
  return result;
}

Result<size_t> Directory::RetireOldSecrets(int64_t grace_seconds) {
  std::lock_guard<std::mutex> w(write_mu_);
  Micros now = clock_->Now();
  std::vector<std::pair<EventId, EventKeyState>> due;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    index_->events.ForEach([&](EventId id, const EventRec& r) {
      const EventKeyState& k = r.e->keys;
      if (k.previous_secret_version == 0 || k.previous_secret_version == k.secret_version) return;
      if (now < k.activates_at + grace_seconds * kMicrosPerSecond) return;
      if (secrets_retired_.count({id.value, k.secret_version})) return;
      due.emplace_back(id, k);
    });
  }
  size_t total = 0;
  for (const auto& [id, k] : due) {
    // One transaction per event, audited only when it erased something.
    KC_ASSIGN_OR_RETURN(auto txn, store_->Begin());
    KC_ASSIGN_OR_RETURN(int64_t n, txn->RetireEventSecrets(id, k.secret_version, k.secret_version,
                                                           now / kMicrosPerSecond));
    if (n > 0) {
      std::string name;
      {
        std::shared_lock<std::shared_mutex> l(mu_);
        const EventRec* r = index_->events.find(id);
        name = r ? r->e->name : std::to_string(id.value);
      }
      json d = {{"secret_version", k.secret_version}, {"secrets_retired", n}};
      KC_ASSIGN_OR_RETURN(int64_t seq, txn->AppendAudit(AuditRecord{0, now / kMicrosPerSecond,
                                                                    "system", "event.secret_retire",
                                                                    "event:" + name, d.dump()}));
      KC_RETURN_IF_ERROR(txn->Commit());
      if (seq == audit_seq_.load() + 1) audit_seq_ = seq;
      total += static_cast<size_t>(n);
    } else {
      (void)txn->Commit();
    }
    secrets_retired_.insert({id.value, k.secret_version});
  }
  return total;
}

Result<std::vector<EventSecretInfo>> Directory::ListEventSecrets(const std::string& name) const {
  auto id = [&]() -> std::optional<EventId> {
    std::shared_lock<std::shared_mutex> l(mu_);
    return index_->EventByName(name);
  }();
  if (!id) return NotFound("event '" + name + "' does not exist");
  return store_->ListEventSecrets(*id);
}

// ------------------------------------------------- memberships, assignments

Status Directory::SetMembership(const Actor& actor, const std::string& client,
                                const std::string& group, Role role, bool must_be_new) {
  std::lock_guard<std::mutex> w(write_mu_);
  ClientId c;
  GroupId g;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto cc = index_->ClientByName(client);
    if (!cc) return NotFound("client '" + client + "' does not exist");
    auto gg = index_->GroupByName(group);
    if (!gg) return NotFound("group '" + group + "' does not exist");
    c = *cc;
    g = *gg;
    bool exists = false;
    for (auto& [gid, r] : index_->clients.find(c)->groups) exists |= gid == g;
    if (must_be_new && exists)
      return AlreadyExists("client '" + client + "' is already a member of group '" + group + "'");
    if (!must_be_new && !exists)
      return NotFound("client '" + client + "' is not a member of group '" + group + "'");
  }
  json detail = {{"client", client}, {"group", group}, {"role", RoleName(role)}};
  return Commit(
      actor, must_be_new ? "membership.create" : "membership.update",
      "membership:" + client + "@" + group, detail.dump(),
      [&](StoreTxn& t) {
        return t.UpsertMembership(Membership{c, g, role});
      },
      [&](Index& x) { x.SetMembership(c, g, role); });
}

Status Directory::RemoveMembership(const Actor& actor, const std::string& client,
                                   const std::string& group) {
  std::lock_guard<std::mutex> w(write_mu_);
  ClientId c;
  GroupId g;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto cc = index_->ClientByName(client);
    auto gg = index_->GroupByName(group);
    bool exists = false;
    if (cc && gg)
      for (auto& [gid, r] : index_->clients.find(*cc)->groups) exists |= gid == *gg;
    if (!exists)
      return NotFound("client '" + client + "' is not a member of group '" + group + "'");
    c = *cc;
    g = *gg;
  }
  json detail = {{"client", client}, {"group", group}};
  return Commit(
      actor, "membership.delete", "membership:" + client + "@" + group, detail.dump(),
      [&](StoreTxn& t) { return t.DeleteMembership(c, g); },
      [&](Index& x) { x.RemoveMembership(c, g); });
}

Status Directory::AddAssignment(const Actor& actor, const std::string& event,
                                const std::string& group) {
  std::lock_guard<std::mutex> w(write_mu_);
  EventId e;
  GroupId g;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto ee = index_->EventByName(event);
    if (!ee) return NotFound("event '" + event + "' does not exist");
    auto gg = index_->GroupByName(group);
    if (!gg) return NotFound("group '" + group + "' does not exist");
    e = *ee;
    g = *gg;
    const auto& gs = index_->events.find(e)->groups;
    if (std::find(gs.begin(), gs.end(), g) != gs.end())
      return AlreadyExists("event '" + event + "' is already assigned to group '" + group + "'");
  }
  json detail = {{"event", event}, {"group", group}};
  return Commit(
      actor, "assignment.create", "assignment:" + event + "@" + group, detail.dump(),
      [&](StoreTxn& t) {
        return t.InsertAssignment(Assignment{e, g});
      },
      [&](Index& x) { x.AddAssignment(e, g); });
}

Status Directory::RemoveAssignment(const Actor& actor, const std::string& event,
                                   const std::string& group) {
  std::lock_guard<std::mutex> w(write_mu_);
  EventId e;
  GroupId g;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto ee = index_->EventByName(event);
    auto gg = index_->GroupByName(group);
    bool exists = false;
    if (ee && gg) {
      const auto& gs = index_->events.find(*ee)->groups;
      exists = std::find(gs.begin(), gs.end(), *gg) != gs.end();
    }
    if (!exists) return NotFound("event '" + event + "' is not assigned to group '" + group + "'");
    e = *ee;
    g = *gg;
  }
  json detail = {{"event", event}, {"group", group}};
  return Commit(
      actor, "assignment.delete", "assignment:" + event + "@" + group, detail.dump(),
      [&](StoreTxn& t) { return t.DeleteAssignment(e, g); },
      [&](Index& x) { x.RemoveAssignment(e, g); });
}

// ---------------------------------------------------------------- credentials

Result<Token> Directory::CreateApiKey(const Actor& actor, const std::string& client,
                                      const std::string& description) {
  KC_RETURN_IF_ERROR(ValidateDescription(description));
  std::lock_guard<std::mutex> w(write_mu_);
  ClientId c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto cc = index_->ClientByName(client);
    if (!cc) return NotFound("client '" + client + "' does not exist");
    c = *cc;
  }
  Token tok = GenerateToken("kca");
  ApiKey k{tok.id, c, TokenVerifier(tok), description, clock_->NowSeconds(), 0};
  json detail = {{"client", client}, {"key_id", k.id}};
  KC_RETURN_IF_ERROR(Commit(
      actor, "api_key.create", "client:" + client, detail.dump(),
      [&](StoreTxn& t) { return t.InsertApiKey(k); },
      [&](Index& x) { x.api_keys.emplace(k.id, k); }));
  return tok;
}

Status Directory::RevokeApiKey(const Actor& actor, const std::string& client,
                               const std::string& key_id) {
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto cc = index_->ClientByName(client);
    auto it = index_->api_keys.find(key_id);
    if (!cc || it == index_->api_keys.end() || it->second.client != *cc)
      return NotFound("client '" + client + "' has no API key " + key_id);
    if (it->second.revoked_at != 0)
      return FailedPrecondition("API key " + key_id + " is already revoked");
  }
  int64_t now = clock_->NowSeconds();
  json detail = {{"client", client}, {"key_id", key_id}};
  return Commit(
      actor, "api_key.revoke", "client:" + client, detail.dump(),
      [&](StoreTxn& t) { return t.RevokeApiKey(key_id, now); },
      [&](Index& x) { x.api_keys[key_id].revoked_at = now; });
}

Result<Token> Directory::CreateAdminToken(const Actor& actor, const std::string& description) {
  KC_RETURN_IF_ERROR(ValidateDescription(description));
  std::lock_guard<std::mutex> w(write_mu_);
  Token tok = GenerateToken("kct");
  AdminToken a{tok.id, TokenVerifier(tok), description, clock_->NowSeconds(), 0};
  json detail = {{"token_id", a.id}, {"description", description}};
  KC_RETURN_IF_ERROR(Commit(
      actor, "admin_token.create", "admin_token:" + a.id, detail.dump(),
      [&](StoreTxn& t) { return t.InsertAdminToken(a); },
      [&](Index& x) { x.admin_tokens.emplace(a.id, a); }));
  return tok;
}

Status Directory::RevokeAdminToken(const Actor& actor, const std::string& token_id) {
  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = index_->admin_tokens.find(token_id);
    if (it == index_->admin_tokens.end()) return NotFound("no admin token " + token_id);
    if (it->second.revoked_at != 0)
      return FailedPrecondition("admin token " + token_id + " is already revoked");
  }
  int64_t now = clock_->NowSeconds();
  return Commit(
      actor, "admin_token.revoke", "admin_token:" + token_id, "{}",
      [&](StoreTxn& t) { return t.RevokeAdminToken(token_id, now); },
      [&](Index& x) { x.admin_tokens[token_id].revoked_at = now; });
}

// ---------------------------------------------------------------- authentication

Result<AuthenticatedClient> Directory::AuthenticatePassword(const std::string& client,
                                                            const std::string& password,
                                                            LoginOrigin* origin) const {
  PeerKey from = PeerKey::Of(origin->address);
  KC_ASSIGN_OR_RETURN(LoginLimiter::Attempt attempt,
                      limiter_->Admit("client:" + client, origin->address.empty() ? nullptr : &from,
                                      &origin->retry_after_seconds));
  auto who = CheckPassword(client, password);
  if (who.ok())
    attempt.Succeeded();
  else
    attempt.Failed();
  return who;
}

Result<AuthenticatedClient> Directory::CheckPassword(const std::string& client,
                                                     const std::string& password) const {
  std::string hash;
  ClientId id;
  bool known = false, enabled = false;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (auto cc = index_->ClientByName(client)) {
      const ClientRec* r = index_->clients.find(*cc);
      hash = r->c.password_hash;
      id = *cc;
      known = true;
      enabled = r->c.enabled;
    }
  }
  // Verify outside the lock: Argon2id is slow on purpose. Unknown names and
  // clients without a password verify against a dummy hash of the same
  // cost, so every outcome below costs one verification.
  bool ok = password.size() <= limits::kMaxPasswordLength &&
            VerifyPasswordOrDummy(password, hash, options_.password_cost);
  if (!known) return Unauthenticated("unknown client '" + client + "'");
  if (hash.empty()) return Unauthenticated("client '" + client + "' has no password login");
  if (!ok) return Unauthenticated("wrong password for client '" + client + "'");
  if (!enabled) return Unauthenticated("client '" + client + "' is disabled");
  return AuthenticatedClient{id, client, "password"};
}

Result<AuthenticatedClient> Directory::AuthenticateApiKey(const std::string& token) const {
  KC_ASSIGN_OR_RETURN(Token t, ParseToken(token, "kca"));
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = index_->api_keys.find(t.id);
  if (it == index_->api_keys.end()) return Unauthenticated("unknown API key " + t.id);
  if (!TokenMatches(t, it->second.verifier))
    return Unauthenticated("wrong secret for API key " + t.id);
  if (it->second.revoked_at != 0) return Unauthenticated("API key " + t.id + " is revoked");
  const ClientRec* r = index_->clients.find(it->second.client);
  if (!r) return Unauthenticated("API key " + t.id + " belongs to no client");
  if (!r->c.enabled) return Unauthenticated("client '" + r->c.name + "' is disabled");
  return AuthenticatedClient{r->c.id, r->c.name, "api-key:" + t.id};
}

Result<Actor> Directory::AuthenticateAdmin(const std::string& token) const {
  KC_ASSIGN_OR_RETURN(Token t, ParseToken(token, "kct"));
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = index_->admin_tokens.find(t.id);
  if (it == index_->admin_tokens.end()) return Unauthenticated("unknown admin token " + t.id);
  if (!TokenMatches(t, it->second.verifier))
    return Unauthenticated("wrong secret for admin token " + t.id);
  if (it->second.revoked_at != 0) return Unauthenticated("admin token " + t.id + " is revoked");
  return Actor{"admin:" + t.id};
}

bool Directory::HasAdminTokens() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  for (auto& [id, t] : index_->admin_tokens)
    if (t.revoked_at == 0) return true;
  return false;
}

// ---------------------------------------------------------------- queries

namespace {

// Per-thread scratch for DAG walks: generation-stamped dense arrays, so a
// walk touches only what it visits and needs no clearing.
struct WalkScratch {
  uint32_t stamp = 0;
  std::vector<uint32_t> group_seen;
  std::vector<uint8_t> group_role;
  std::vector<std::pair<GroupId, Role>> stack;
  std::vector<GroupId> visited;
  std::vector<GroupId> frontier, next;
  std::vector<EventId> events;
  std::vector<Role> event_roles;
  std::vector<uint64_t> event_keys;

  void Begin(size_t groups) {
    if (++stamp == 0) {  // wrapped: reset
      std::fill(group_seen.begin(), group_seen.end(), 0);
      stamp = 1;
    }
    if (group_seen.size() < groups) {
      group_seen.resize(groups, 0);
      group_role.resize(groups, 0);
    }
    stack.clear();
    visited.clear();
    frontier.clear();
    next.clear();
    events.clear();
    event_roles.clear();
    event_keys.clear();
  }
};

thread_local WalkScratch tls_walk;

// A cache hint for the memory at p; never faults, whatever p is.
inline void PrefetchAddress(const void* p) { __builtin_prefetch(p); }

// The lines of an event that building a summary reads: the shared_ptr
// control block (make_shared puts it just before the object; the copy
// increments its count) and the sender id.
inline void PrefetchEventHead(const Event* e) {
  auto addr = reinterpret_cast<uintptr_t>(e);
  PrefetchAddress(reinterpret_cast<const void*>(addr - 16));
  PrefetchAddress(&e->sender);
}

}  // namespace

Result<Summary> Directory::Summarize(ClientId client) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const Index& x = *index_;
  const ClientRec* cr = x.clients.find(client);
  if (!cr) return NotFound("client " + std::to_string(client.value) + " does not exist");
  if (!cr->c.enabled) return FailedPrecondition("client '" + cr->c.name + "' is disabled");
  WalkScratch& w = tls_walk;
  w.Begin(x.groups.capacity());
  // Walk up the DAG from every direct group, carrying the strongest role
  // seen; a group is revisited only when its role upgrades (at most once).
  // The walk goes level by level: a large directory does not fit in the
  // caches, so each round first prefetches the records of its whole
  // frontier, then their parent lists, and only then reads them, letting
  // the cache misses of a round overlap instead of queuing one behind the
  // other.
  auto reach = [&](GroupId g, uint8_t role) {
    auto gi = static_cast<size_t>(g.value);
    if (w.group_seen[gi] != w.stamp) {
      w.group_seen[gi] = w.stamp;
      w.group_role[gi] = role;
      w.visited.push_back(g);
      w.next.push_back(g);
    } else if (w.group_role[gi] < role) {
      w.group_role[gi] = role;
      w.next.push_back(g);
    }
  };
  for (auto& [g, role] : cr->groups) reach(g, static_cast<uint8_t>(role));
  while (!w.next.empty()) {
    w.frontier.swap(w.next);
    w.next.clear();
    for (GroupId g : w.frontier) x.groups.Prefetch(g);
    for (GroupId g : w.frontier) PrefetchAddress(x.groups.find(g)->parents.data());
    for (GroupId g : w.frontier) {
      uint8_t role = w.group_role[static_cast<size_t>(g.value)];
      for (GroupId p : x.groups.find(g)->parents) reach(p, role);
    }
  }
  // Events of the visited groups as (id << 1 | sender) keys: sorting them
  // orders by id and puts the strongest role last among equal ids. (Cheaper
  // than per-event stamp arrays, whose random accesses miss the cache.)
  for (GroupId g : w.visited) PrefetchAddress(x.groups.find(g)->events.data());
  for (GroupId g : w.visited) {
    uint64_t sender =
        w.group_role[static_cast<size_t>(g.value)] == static_cast<uint8_t>(Role::kSender) ? 1 : 0;
    for (EventId e : x.groups.find(g)->events)
      w.event_keys.push_back(static_cast<uint64_t>(e.value) << 1 | sender);
  }
  std::sort(w.event_keys.begin(), w.event_keys.end());
  for (size_t i = 0; i < w.event_keys.size(); ++i) {
    if (i + 1 < w.event_keys.size() && w.event_keys[i + 1] >> 1 == w.event_keys[i] >> 1) continue;
    w.events.push_back(EventId(static_cast<int64_t>(w.event_keys[i] >> 1)));
    w.event_roles.push_back((w.event_keys[i] & 1) ? Role::kSender : Role::kReceiver);
  }
  Summary s;
  s.client = client;
  s.client_name = cr->c.name;
  s.groups.reserve(cr->groups.size());
  for (auto& [g, role] : cr->groups) s.groups.push_back(g);
  std::sort(s.groups.begin(), s.groups.end());
  // A software pipeline over the events: the record slot kAhead * 2 ahead,
  // the event's head kAhead ahead, its sender's record kAhead / 2 ahead.
  constexpr size_t kAhead = 8;
  const size_t n = w.events.size();
  auto rec = [&](size_t i) { return x.events.find(w.events[i]); };
  for (size_t i = 0; i < std::min(n, 2 * kAhead); ++i) x.events.Prefetch(w.events[i]);
  for (size_t i = 0; i < std::min(n, kAhead); ++i) PrefetchEventHead(rec(i)->e.get());
  s.events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 * kAhead < n) x.events.Prefetch(w.events[i + 2 * kAhead]);
    if (i + kAhead < n) PrefetchEventHead(rec(i + kAhead)->e.get());
    if (i + kAhead / 2 < n) {
      ClientId sender = rec(i + kAhead / 2)->e->sender;
      if (sender.valid()) x.clients.Prefetch(sender);
    }
    const auto& ev = rec(i)->e;
    s.events.push_back(SummaryEvent{
        ev, w.event_roles[i], ev->sender.valid() ? x.ClientNameOf(ev->sender) : std::string()});
  }
  return s;
}

bool Directory::IsAuthorized(ClientId client, EventId event, Role role) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const Index& x = *index_;
  const ClientRec* cr = x.clients.find(client);
  const EventRec* er = x.events.find(event);
  if (!cr || !er || !cr->c.enabled) return false;
  WalkScratch& w = tls_walk;
  w.Begin(x.groups.capacity());
  // Mark the event's groups, then walk up from the client's groups with the
  // role; stop at the first marked group that grants enough.
  for (auto& [g, r] : cr->groups) {
    if (role == Role::kSender && r != Role::kSender) continue;
    w.stack.emplace_back(g, r);
  }
  while (!w.stack.empty()) {
    auto [g, r] = w.stack.back();
    w.stack.pop_back();
    auto gi = static_cast<size_t>(g.value);
    if (w.group_seen[gi] == w.stamp) continue;
    w.group_seen[gi] = w.stamp;
    if (std::find(er->groups.begin(), er->groups.end(), g) != er->groups.end()) return true;
    for (GroupId p : x.groups.find(g)->parents) w.stack.emplace_back(p, r);
  }
  return false;
}

std::vector<ClientId> Directory::AuthorizedClients(EventId event) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const Index& x = *index_;
  std::vector<ClientId> out;
  const EventRec* er = x.events.find(event);
  if (!er) return out;
  WalkScratch& w = tls_walk;
  w.Begin(x.groups.capacity());
  for (GroupId g : er->groups) w.stack.emplace_back(g, Role::kReceiver);
  while (!w.stack.empty()) {
    GroupId g = w.stack.back().first;
    w.stack.pop_back();
    auto gi = static_cast<size_t>(g.value);
    if (w.group_seen[gi] == w.stamp) continue;
    w.group_seen[gi] = w.stamp;
    const GroupRec* gr = x.groups.find(g);
    for (ClientId c : gr->members) {
      const ClientRec* cr = x.clients.find(c);
      if (cr && cr->c.enabled) out.push_back(c);
    }
    for (GroupId ch : gr->children) w.stack.emplace_back(ch, Role::kReceiver);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<ClientView> Directory::GetClient(const std::string& name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto id = index_->ClientByName(name);
  if (!id) return NotFound("client '" + name + "' does not exist");
  return index_->ViewClient(*index_->clients.find(*id));
}

Result<GroupView> Directory::GetGroup(const std::string& name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto id = index_->GroupByName(name);
  if (!id) return NotFound("group '" + name + "' does not exist");
  return index_->ViewGroup(*index_->groups.find(*id));
}

Result<EventView> Directory::GetEvent(const std::string& name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto id = index_->EventByName(name);
  if (!id) return NotFound("event '" + name + "' does not exist");
  return index_->ViewEvent(*index_->events.find(*id));
}

std::shared_ptr<const Event> Directory::FindEvent(EventId id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const EventRec* r = index_->events.find(id);
  return r ? r->e : nullptr;
}

std::optional<std::string> Directory::ClientName(ClientId id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const ClientRec* r = index_->clients.find(id);
  return r ? std::optional(r->c.name) : std::nullopt;
}

std::optional<ClientId> Directory::FindClient(const std::string& name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return index_->ClientByName(name);
}

std::vector<ApiKey> Directory::ListApiKeys(const std::string& client) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<ApiKey> out;
  auto c = index_->ClientByName(client);
  if (!c) return out;
  for (auto& [id, k] : index_->api_keys) {
    if (k.client != *c) continue;
    out.push_back(k);
    out.back().verifier.clear();
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.created_at < b.created_at || (a.created_at == b.created_at && a.id < b.id);
  });
  return out;
}

std::vector<AdminToken> Directory::ListAdminTokens() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<AdminToken> out;
  for (auto& [id, t] : index_->admin_tokens) {
    out.push_back(t);
    out.back().verifier.clear();
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

std::vector<ClientView> Directory::ListClients(const std::string& after, size_t limit) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<ClientView> out;
  for (auto it = index_->client_names.upper_bound(after);
       it != index_->client_names.end() && out.size() < limit; ++it)
    out.push_back(index_->ViewClient(*index_->clients.find(it->second)));
  return out;
}

std::vector<GroupView> Directory::ListGroups(const std::string& after, size_t limit) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<GroupView> out;
  for (auto it = index_->group_names.upper_bound(after);
       it != index_->group_names.end() && out.size() < limit; ++it)
    out.push_back(index_->ViewGroup(*index_->groups.find(it->second)));
  return out;
}

std::vector<EventView> Directory::ListEvents(const std::string& after, size_t limit) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<EventView> out;
  for (auto it = index_->event_names.upper_bound(after);
       it != index_->event_names.end() && out.size() < limit; ++it)
    out.push_back(index_->ViewEvent(*index_->events.find(it->second)));
  return out;
}

std::vector<Edge> Directory::ListEdges() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<Edge> out;
  index_->groups.ForEach([&](GroupId id, const GroupRec& r) {
    for (GroupId c : r.children) out.push_back(Edge{id, c});
  });
  return out;
}

std::vector<std::pair<std::string, std::string>> Directory::ListEdgeNames() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  index_->groups.ForEach([&](GroupId, const GroupRec& r) {
    for (GroupId c : r.children) out.emplace_back(r.g.name, index_->GroupName(c));
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Directory::MembershipRow> Directory::ListMemberships(const std::string& client,
                                                                 const std::string& group) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<MembershipRow> out;
  auto add_client = [&](const ClientRec& r) {
    for (auto& [g, role] : r.groups) {
      std::string gn = index_->GroupName(g);
      if (group.empty() || gn == group) out.push_back(MembershipRow{r.c.name, gn, role});
    }
  };
  if (!client.empty()) {
    auto c = index_->ClientByName(client);
    if (c) add_client(*index_->clients.find(*c));
  } else if (!group.empty()) {
    auto g = index_->GroupByName(group);
    if (g)
      for (ClientId c : index_->groups.find(*g)->members) add_client(*index_->clients.find(c));
  } else {
    index_->clients.ForEach([&](ClientId, const ClientRec& r) { add_client(r); });
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.client, a.group) < std::tie(b.client, b.group);
  });
  return out;
}

std::vector<Directory::AssignmentRow> Directory::ListAssignments(const std::string& event,
                                                                 const std::string& group) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<AssignmentRow> out;
  index_->events.ForEach([&](EventId, const EventRec& r) {
    if (!event.empty() && r.e->name != event) return;
    for (GroupId g : r.groups) {
      std::string gn = index_->GroupName(g);
      if (group.empty() || gn == group) out.push_back(AssignmentRow{r.e->name, gn});
    }
  });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.event, a.group) < std::tie(b.event, b.group);
  });
  return out;
}

Directory::Counts Directory::counts() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  const Index& x = *index_;
  return Counts{x.clients.size(), x.groups.size(), x.edges,
                x.events.size(),  x.memberships,   x.assignments};
}

uint64_t Directory::generation() const { return generation_.load(); }

uint64_t Directory::WaitForChange(uint64_t known,
                                  std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> l(wait_mu_);
  cv_.wait_until(l, deadline, [&] { return generation_.load() != known; });
  return generation_.load();
}

}  // namespace keycast
