// The reservation platform (keycast/reservation.h). Handlers read
// gather -> check -> issue; every refusal carries a reason and writes nothing
// (a failed multi-step change undoes the directory steps it made).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "api/json_reader.h"
#include "directory/validate.h"
#include "keycast/crypto.h"
#include "keycast/limits.h"
#include "keycast/reservation.h"

namespace keycast {
namespace {

using api::json;
using reservation::ValidateReceiverName;
using reservation::ValidateReceiverPassword;
using reservation::ValidateReservationName;

constexpr std::string_view kSealSaKey = "reservation-sa-key";
constexpr std::string_view kSealGrant = "reservation-grant";
constexpr int64_t kStalePendingSeconds = 30;

std::string EventNameOf(const Reservation& r) { return "resv." + r.name; }
std::string GroupNameOf(const Reservation& r) { return "resv." + r.name; }
std::string ReceiverClientName(const Reservation& r, const std::string& receiver) {
  return "rx." + std::to_string(r.id.value) + "." + receiver;
}
std::string SaRecord(const Reservation& r) { return "reservation:" + std::to_string(r.id.value); }
std::string GrantRecord(const Reservation& r, const std::string& receiver) {
  return "reservation:" + std::to_string(r.id.value) + ":receiver:" + receiver;
}

size_t Stripe(const std::string& s, size_t n) { return std::hash<std::string>()(s) % n; }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether two schedules have an occurrence on at the same time, looking at
// most 500 occurrences of `a` ahead of now.
bool SchedulesOverlap(const Schedule& a, const Schedule& b, int64_t now) {
  auto occ = NextOccurrence(a, now);
  for (int i = 0; occ && i < 500; ++i) {
    auto other = NextOccurrence(b, occ->start);
    if (!other) return false;
    if (other->start < occ->end) return true;
    occ = NextOccurrence(a, std::max(occ->end, other->start));
  }
  return false;
}

Status CheckAddresses(const IpAddress& group, uint16_t port, const IpAddress& source) {
  if (group.empty()) return InvalidArgument("group address is required");
  if (!group.IsMulticast())
    return InvalidArgument("group address " + group.ToString() +
                           " is not a multicast address (224.0.0.0/4 or ff00::/8)");
  if (port == 0) return InvalidArgument("port must be 1-65535");
  if (!source.empty()) {
    if (source.family != group.family)
      return InvalidArgument("source and group address must be of the same IP family");
    if (source.IsMulticast() || source.IsUnspecified())
      return InvalidArgument("source address " + source.ToString() + " must be a unicast address");
  }
  return Status::Ok();
}

}  // namespace

ReservationNodeOptions& ReservationNodeDefaults() {
  static ReservationNodeOptions o;
  return o;
}

ReservationPlatform::ReservationPlatform(Directory* directory, Store* store, const Sealer* sealer,
                                         const Clock* clock, PaymentProvider* payments,
                                         SecretBytes card_key, ReservationOptions options)
    : dir_(directory),
      store_(store),
      sealer_(sealer),
      clock_(clock),
      payments_(payments),
      card_key_(std::move(card_key)),
      options_(std::move(options)) {}

ReservationPlatform::~ReservationPlatform() = default;

Result<std::unique_ptr<ReservationPlatform>> ReservationPlatform::Create(
    Directory* directory, Store* store, const Sealer* sealer, const Clock* clock,
    PaymentProvider* payments, SecretBytes card_key, ReservationOptions options) {
  if (!directory || !store || !sealer || !clock || !payments)
    return InvalidArgument(
        "the reservation platform needs a directory, store, sealer, clock and payment provider");
  if (card_key.size() != 32) return InvalidArgument("card fingerprint key must be 32 bytes");
  KC_RETURN_IF_ERROR(ValidateName("senders group", options.senders_group));
  if (options.currency.size() != 3 || !std::all_of(options.currency.begin(), options.currency.end(),
                                                   [](char c) { return c >= 'A' && c <= 'Z'; }))
    return InvalidArgument("currency must be an ISO 4217 code such as EUR");
  if (options.interval_seconds < limits::kMinIntervalSeconds ||
      options.interval_seconds > limits::kMaxIntervalSeconds)
    return InvalidArgument("key interval of generated events is out of range");
  if (options.max_failures == 0) return InvalidArgument("max_failures must be at least 1");
  // Made now, so the first unknown receiver name costs what later ones do.
  (void)DummyPasswordHash(options.password_cost);
  std::unique_ptr<ReservationPlatform> p(new ReservationPlatform(
      directory, store, sealer, clock, payments, std::move(card_key), std::move(options)));
  return p;
}

void ReservationPlatform::set_key_servers(std::vector<Endpoint> eps) {
  std::lock_guard<std::mutex> l(key_servers_mu_);
  options_.key_servers = std::move(eps);
}

Status ReservationPlatform::Audit(StoreTxn& t, const std::string& actor, const std::string& action,
                                  const std::string& target, const std::string& detail) {
  auto seq = t.AppendAudit(AuditRecord{0, clock_->NowSeconds(), actor, action, target, detail});
  return seq.status();
}

// ---------------------------------------------------------------- senders

bool ReservationPlatform::IsSender(ClientId client) const {
  auto name = dir_->ClientName(client);
  if (!name) return false;
  auto cv = dir_->GetClient(*name);
  if (!cv.ok() || !cv->client.enabled) return false;
  std::vector<std::string> stack;
  for (const auto& [g, role] : cv->groups) stack.push_back(g);
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string g = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(g).second) continue;
    if (g == options_.senders_group) return true;
    auto gv = dir_->GetGroup(g);
    if (!gv.ok()) continue;
    for (const auto& p : gv->parents) stack.push_back(p);
  }
  return false;
}

Result<SenderIdentity> ReservationPlatform::AuthenticateSender(const std::string& client,
                                                               const std::string& password,
                                                               LoginOrigin* origin) const {
  LoginOrigin in_process;
  auto a = dir_->AuthenticatePassword(client, password, origin ? origin : &in_process);
  if (!a.ok() && a.status().code() == Code::kResourceExhausted) {
    spdlog::info("sender sign-in for '{}' throttled: {}", client, a.status().message());
    return a.status();
  }
  if (!a.ok()) {
    spdlog::info("sender sign-in refused: {}", a.status().message());
    return Unauthenticated("client name or password is wrong");
  }
  if (!IsSender(a->id))
    return PermissionDenied("client '" + a->name +
                            "' may not file reservations: it is not a member of group '" +
                            options_.senders_group + "'");
  return SenderIdentity{a->id, a->name};
}

Result<SenderIdentity> ReservationPlatform::AuthenticateSenderApiKey(
    const std::string& api_key) const {
  auto a = dir_->AuthenticateApiKey(api_key);
  if (!a.ok()) {
    spdlog::info("sender API key refused: {}", a.status().message());
    return Unauthenticated("invalid API key");
  }
  if (!IsSender(a->id))
    return PermissionDenied("client '" + a->name +
                            "' may not file reservations: it is not a member of group '" +
                            options_.senders_group + "'");
  return SenderIdentity{a->id, a->name};
}

Result<Reservation> ReservationPlatform::OwnedReservation(const SenderIdentity& sender,
                                                          const std::string& name) const {
  KC_RETURN_IF_ERROR(ValidateReservationName(name));
  auto r = store_->FindReservation(name);
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound)
      return NotFound("you have no reservation named '" + name + "'");
    return r.status();
  }
  if (r->sender != sender.id) return NotFound("you have no reservation named '" + name + "'");
  return r;
}

Result<ReservationView> ReservationPlatform::View(const Reservation& r) const {
  ReservationView v;
  v.reservation = r;
  v.sender_name = dir_->ClientName(r.sender).value_or("");
  if (r.sa_mode == SaMode::kGenerated) v.event_name = EventNameOf(r);
  KC_ASSIGN_OR_RETURN(auto list, store_->LoadReservationReceivers(r.id));
  for (const auto& e : list) v.receivers.push_back(e.name);
  KC_ASSIGN_OR_RETURN(auto groups, store_->LoadReservationGroups(r.id));
  if (!groups.empty()) {
    std::set<int64_t> want;
    for (GroupId g : groups) want.insert(g.value);
    std::string after;
    while (!want.empty()) {
      auto page = dir_->ListGroups(after, 1000);
      for (const auto& gv : page)
        if (want.erase(gv.group.id.value)) v.groups.push_back(gv.group.name);
      if (page.size() < 1000) break;
      after = page.back().group.name;
    }
  }
  int64_t now = clock_->NowSeconds();
  v.next = NextOccurrence(r.schedule, now);
  v.editable = r.status == ReservationStatus::kActive && now < r.schedule.start;
  return v;
}

Status ReservationPlatform::CheckGroupFree(const Reservation& candidate) const {
  int64_t now = clock_->NowSeconds();
  std::string after;
  for (;;) {
    KC_ASSIGN_OR_RETURN(auto page, store_->ListReservations(ClientId(), true, after, 500));
    for (const auto& o : page) {
      if (o.id == candidate.id || !(o.group_address == candidate.group_address) ||
          o.port != candidate.port)
        continue;
      if (SchedulesOverlap(candidate.schedule, o.schedule, now))
        return FailedPrecondition("group " + candidate.group_address.ToString() + " port " +
                                  std::to_string(candidate.port) +
                                  " is reserved by transmission '" + o.name +
                                  "' at an overlapping time");
    }
    if (page.size() < 500) break;
    after = page.back().name;
  }
  return Status::Ok();
}

namespace {

// Resolves group names to ids, checking each exists; at most the limit.
Result<std::vector<GroupId>> ResolveGroups(const Directory& dir,
                                           const std::vector<std::string>& names) {
  if (names.size() > reservation::kMaxGroupsPerReservation)
    return InvalidArgument("at most " + std::to_string(reservation::kMaxGroupsPerReservation) +
                           " admitted groups per reservation");
  std::vector<GroupId> out;
  std::set<std::string> seen;
  for (const auto& n : names) {
    if (!seen.insert(n).second) return InvalidArgument("group '" + n + "' is listed twice");
    auto g = dir.GetGroup(n);
    if (!g.ok()) return NotFound("directory group '" + n + "' does not exist");
    if (n.rfind("resv.", 0) == 0)
      return InvalidArgument("group '" + n + "' belongs to a reservation; admit a directory group");
    out.push_back(g->group.id);
  }
  return out;
}

}  // namespace

Result<ReservationView> ReservationPlatform::CreateReservation(const SenderIdentity& sender,
                                                               const ReservationSpec& spec) {
  // ---- check
  if (!IsSender(sender.id))
    return PermissionDenied("client '" + sender.name +
                            "' may not file reservations: it is not a member of group '" +
                            options_.senders_group + "'");
  KC_RETURN_IF_ERROR(ValidateReservationName(spec.name));
  KC_RETURN_IF_ERROR(ValidateTitle(spec.title));
  Status st = spec.schedule.Validate();
  if (!st.ok()) return InvalidArgument("schedule: " + st.message());
  int64_t now = clock_->NowSeconds();
  if (spec.schedule.start <= now)
    return InvalidArgument("the transmission must start in the future (start " +
                           FormatRfc3339(spec.schedule.start) + " is past)");
  KC_RETURN_IF_ERROR(CheckAddresses(spec.group_address, spec.port, spec.source_address));
  if (spec.sa) {
    if (spec.sa->spi.value == 0)
      return InvalidArgument("SPI 0 is reserved; give an SPI of 1-4294967295");
    if (spec.sa->key.size() != 32)
      return InvalidArgument("the SA key must be 32 bytes (64 hex characters)");
  }
  if (spec.price_cents < 0 || spec.price_cents > reservation::kMaxPriceCents)
    return InvalidArgument("price must be 0-" +
                           reservation::FormatMoney(reservation::kMaxPriceCents, ""));
  if (spec.receivers.size() > reservation::kMaxReceiversPerReservation)
    return InvalidArgument("at most " + std::to_string(reservation::kMaxReceiversPerReservation) +
                           " receivers per list");
  std::set<std::string> names;
  for (const auto& e : spec.receivers) {
    KC_RETURN_IF_ERROR(ValidateReceiverName(e.name));
    if (!names.insert(e.name).second)
      return InvalidArgument("receiver '" + e.name + "' is listed twice");
    if (!e.password) return InvalidArgument("receiver '" + e.name + "' needs a password");
    st = ValidateReceiverPassword(*e.password);
    if (!st.ok()) return InvalidArgument("receiver '" + e.name + "': " + st.message());
  }
  KC_ASSIGN_OR_RETURN(auto group_ids, ResolveGroups(*dir_, spec.groups));
  if (spec.receivers.empty() && group_ids.empty() && spec.price_cents == 0)
    return InvalidArgument(
        "the admission policy is empty: give a receiver list, directory groups, a price, or a "
        "combination");
  std::vector<Endpoint> key_servers;
  {
    std::lock_guard<std::mutex> l(key_servers_mu_);
    key_servers = options_.key_servers;
  }
  if (!spec.sa && key_servers.empty())
    return FailedPrecondition(
        "no key server is configured for generated SAs; provide the SA or run the key role");

  Reservation r;
  r.name = spec.name;
  r.title = spec.title;
  r.sender = sender.id;
  r.schedule = spec.schedule;
  r.group_address = spec.group_address;
  r.port = spec.port;
  r.source_address = spec.source_address;
  r.sa_mode = spec.sa ? SaMode::kProvided : SaMode::kGenerated;
  r.price_cents = spec.price_cents;
  r.currency = options_.currency;
  r.created_at = r.updated_at = now;

  std::lock_guard<std::mutex> create_lock(create_mu_);
  if (store_->FindReservation(spec.name).ok())
    return AlreadyExists("a transmission named '" + spec.name + "' already exists");
  KC_RETURN_IF_ERROR(CheckGroupFree(r));
  // Hash before changing anything: Argon2id is slow on purpose.
  std::vector<ReservationReceiver> list;
  for (const auto& e : spec.receivers) {
    KC_ASSIGN_OR_RETURN(std::string h, HashPassword(*e.password, options_.password_cost));
    list.push_back(ReservationReceiver{e.name, std::move(h)});
  }
  std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.name < b.name; });

  // ---- issue: directory objects first (each durable), then our rows.
  Actor actor{"sender:" + sender.name};
  bool made_group = false, made_event = false;
  auto undo = [&] {
    if (made_event) (void)dir_->DeleteEvent(actor, EventNameOf(r));
    if (made_group) (void)dir_->DeleteGroup(actor, GroupNameOf(r));
  };
  if (r.sa_mode == SaMode::kGenerated) {
    auto g = dir_->CreateGroup(
        actor,
        GroupSpec{GroupNameOf(r), "sender and approved receivers of transmission " + r.name});
    if (!g.ok()) return g.status();
    made_group = true;
    r.group = g->group.id;
    st = dir_->SetMembership(actor, sender.name, GroupNameOf(r), Role::kSender, true);
    if (!st.ok()) return undo(), st;
    EventSpec es;
    es.name = EventNameOf(r);
    es.title = r.title;
    es.sender = sender.name;
    es.group_address = r.group_address;
    es.port = r.port;
    es.source_address = r.source_address;
    es.schedule = r.schedule;
    es.interval_seconds = options_.interval_seconds;
    es.initial_keying_seconds = options_.initial_keying_seconds;
    es.key_servers = key_servers;
    auto ev = dir_->CreateEvent(actor, es);
    if (!ev.ok()) return undo(), ev.status();
    made_event = true;
    r.event = ev->event->id;
    st = dir_->AddAssignment(actor, es.name, GroupNameOf(r));
    for (const auto& gname : spec.groups)
      if (st.ok()) st = dir_->AddAssignment(actor, es.name, gname);
    if (!st.ok()) return undo(), st;
  } else {
    r.spi = spec.sa->spi;
    r.algorithm = spec.sa->algorithm;
  }

  auto t = store_->Begin();
  if (!t.ok()) return undo(), t.status();
  auto id = (*t)->InsertReservation(r);
  if (!id.ok()) return undo(), id.status();
  r.id = *id;
  if (r.sa_mode == SaMode::kProvided) {
    r.sealed_sa_key = sealer_->Seal(kSealSaKey, SaRecord(r), spec.sa->key);
    st = (*t)->UpdateReservation(r);
  }
  if (st.ok()) st = (*t)->ReplaceReservationReceivers(r.id, list);
  if (st.ok()) st = (*t)->ReplaceReservationGroups(r.id, group_ids);
  json detail = {{"title", r.title},
                 {"start", FormatRfc3339(r.schedule.start)},
                 {"group", r.group_address.ToString()},
                 {"port", r.port},
                 {"sa", SaModeName(r.sa_mode)},
                 {"receivers", list.size()},
                 {"groups", spec.groups},
                 {"price_cents", r.price_cents}};
  if (st.ok())
    st = Audit(**t, actor.name, "reservation.create", "reservation:" + r.name, detail.dump());
  if (st.ok()) st = (*t)->Commit();
  if (!st.ok()) {
    undo();
    if (st.code() == Code::kAlreadyExists)
      return AlreadyExists("a transmission named '" + r.name + "' already exists");
    return st;
  }
  spdlog::info("reservation '{}' filed by {}", r.name, sender.name);
  return View(r);
}

Result<ReservationView> ReservationPlatform::UpdateReservation(const SenderIdentity& sender,
                                                               const std::string& name,
                                                               const ReservationPatch& p) {
  KC_ASSIGN_OR_RETURN(Reservation found, OwnedReservation(sender, name));
  std::unique_lock<std::shared_mutex> lock(
      reservation_locks_[found.id.value % reservation_locks_.size()]);
  // ---- gather (again, under the lock)
  KC_ASSIGN_OR_RETURN(Reservation r, store_->GetReservation(found.id));
  int64_t now = clock_->NowSeconds();
  // ---- check
  if (r.status != ReservationStatus::kActive)
    return FailedPrecondition("reservation '" + name + "' is cancelled");
  if (now >= r.schedule.start)
    return FailedPrecondition("transmission '" + name + "' started at " +
                              FormatRfc3339(r.schedule.start) +
                              "; it can no longer be edited (cancel it instead)");
  Reservation n = r;
  if (p.title) {
    KC_RETURN_IF_ERROR(ValidateTitle(*p.title));
    n.title = *p.title;
  }
  if (p.schedule) {
    Status st = p.schedule->Validate();
    if (!st.ok()) return InvalidArgument("schedule: " + st.message());
    if (p.schedule->start <= now)
      return InvalidArgument("the transmission must start in the future (start " +
                             FormatRfc3339(p.schedule->start) + " is past)");
    n.schedule = *p.schedule;
  }
  if (p.group_address) n.group_address = *p.group_address;
  if (p.port) n.port = *p.port;
  if (p.source_address) n.source_address = *p.source_address;
  KC_RETURN_IF_ERROR(CheckAddresses(n.group_address, n.port, n.source_address));
  if (p.price_cents) {
    if (*p.price_cents < 0 || *p.price_cents > reservation::kMaxPriceCents)
      return InvalidArgument("price must be 0-" +
                             reservation::FormatMoney(reservation::kMaxPriceCents, ""));
    n.price_cents = *p.price_cents;
  }
  KC_ASSIGN_OR_RETURN(auto old_list, store_->LoadReservationReceivers(r.id));
  KC_ASSIGN_OR_RETURN(auto old_groups, store_->LoadReservationGroups(r.id));
  std::vector<ReservationReceiver> new_list = old_list;
  std::vector<std::string> removed;
  if (p.receivers) {
    if (p.receivers->size() > reservation::kMaxReceiversPerReservation)
      return InvalidArgument("at most " + std::to_string(reservation::kMaxReceiversPerReservation) +
                             " receivers per list");
    new_list.clear();
    std::set<std::string> names;
    for (const auto& e : *p.receivers) {
      KC_RETURN_IF_ERROR(ValidateReceiverName(e.name));
      if (!names.insert(e.name).second)
        return InvalidArgument("receiver '" + e.name + "' is listed twice");
      if (e.password) {
        Status st = ValidateReceiverPassword(*e.password);
        if (!st.ok()) return InvalidArgument("receiver '" + e.name + "': " + st.message());
        new_list.push_back(ReservationReceiver{e.name, ""});
      } else {
        auto it = std::find_if(old_list.begin(), old_list.end(),
                               [&](auto& o) { return o.name == e.name; });
        if (it == old_list.end())
          return InvalidArgument("receiver '" + e.name + "' is new: give a password");
        new_list.push_back(*it);
      }
    }
    for (const auto& o : old_list)
      if (!names.count(o.name)) removed.push_back(o.name);
  }
  std::vector<GroupId> new_groups = old_groups;
  std::vector<std::string> add_groups, drop_groups;
  if (p.groups) {
    KC_ASSIGN_OR_RETURN(new_groups, ResolveGroups(*dir_, *p.groups));
    KC_ASSIGN_OR_RETURN(ReservationView before, View(r));
    for (const auto& g : *p.groups)
      if (std::find(before.groups.begin(), before.groups.end(), g) == before.groups.end())
        add_groups.push_back(g);
    for (const auto& g : before.groups)
      if (std::find(p.groups->begin(), p.groups->end(), g) == p.groups->end())
        drop_groups.push_back(g);
  }
  if (new_list.empty() && new_groups.empty() && n.price_cents == 0)
    return InvalidArgument(
        "the admission policy would be empty: keep a receiver list, directory groups or a price");
  bool moved = p.schedule || p.group_address || p.port;
  // Holds group:port checks and creations apart (a filing cannot slip in).
  std::unique_lock<std::mutex> create_lock(create_mu_, std::defer_lock);
  if (moved) {
    create_lock.lock();
    KC_RETURN_IF_ERROR(CheckGroupFree(n));
  }
  if (p.receivers) {
    // Hash new passwords before changing anything.
    for (size_t i = 0; i < new_list.size(); ++i) {
      const auto& e = (*p.receivers)[i];
      if (e.password) {
        KC_ASSIGN_OR_RETURN(new_list[i].password_hash,
                            HashPassword(*e.password, options_.password_cost));
      }
    }
    std::sort(new_list.begin(), new_list.end(), [](auto& a, auto& b) { return a.name < b.name; });
  }

  // ---- issue
  Actor actor{"sender:" + sender.name};
  if (r.sa_mode == SaMode::kGenerated) {
    EventPatch ep;
    if (p.title) ep.title = n.title;
    if (p.schedule) ep.schedule = n.schedule;
    if (p.group_address) ep.group_address = n.group_address;
    if (p.port) ep.port = n.port;
    if (p.source_address) ep.source_address = n.source_address;
    if (ep.title || ep.schedule || ep.group_address || ep.port || ep.source_address) {
      auto e = dir_->UpdateEvent(actor, EventNameOf(r), ep);
      if (!e.ok()) return e.status();
    }
    for (const auto& g : add_groups)
      KC_RETURN_IF_ERROR(dir_->AddAssignment(actor, EventNameOf(r), g));
    for (const auto& g : drop_groups) {
      Status st = dir_->RemoveAssignment(actor, EventNameOf(r), g);
      if (!st.ok() && st.code() != Code::kNotFound) return st;
    }
  }
  // Receivers taken off the list lose access now.
  if (!removed.empty()) {
    KC_ASSIGN_OR_RETURN(auto grants, store_->LoadAccessGrants(r.id));
    for (const auto& g : grants)
      if (g.revoked_at == 0 &&
          std::find(removed.begin(), removed.end(), g.receiver) != removed.end())
        KC_RETURN_IF_ERROR(RevokeGrant(r, g, actor.name));
  }
  n.version = r.version + 1;
  n.updated_at = now;
  KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
  Status st = t->UpdateReservation(n);
  if (st.ok() && p.receivers) st = t->ReplaceReservationReceivers(r.id, new_list);
  if (st.ok() && p.groups) st = t->ReplaceReservationGroups(r.id, new_groups);
  json detail = json::object();
  if (p.title) detail["title"] = n.title;
  if (p.schedule) detail["start"] = FormatRfc3339(n.schedule.start);
  if (p.group_address || p.port)
    detail["group"] = n.group_address.ToString() + ":" + std::to_string(n.port);
  if (p.price_cents) detail["price_cents"] = n.price_cents;
  if (p.receivers) detail["receivers"] = new_list.size();
  if (p.groups) detail["groups"] = *p.groups;
  if (st.ok())
    st = Audit(*t, actor.name, "reservation.update", "reservation:" + r.name, detail.dump());
  if (st.ok()) st = t->Commit();
  if (!st.ok()) {
    // Put the event back as it was, so directory and reservation agree.
    if (r.sa_mode == SaMode::kGenerated && moved) {
      EventPatch back;
      back.schedule = r.schedule;
      back.group_address = r.group_address;
      back.port = r.port;
      (void)dir_->UpdateEvent(actor, EventNameOf(r), back);
    }
    return st;
  }
  return View(n);
}

Status ReservationPlatform::RevokeGrant(const Reservation& r, const AccessGrant& g,
                                        const std::string& actor) {
  if (g.client.valid()) {
    if (auto name = dir_->ClientName(g.client)) {
      Status st = dir_->DeleteClient(Actor{actor}, *name);
      if (!st.ok() && st.code() != Code::kNotFound) return st;
    }
  }
  KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
  Status st = t->RevokeAccessGrant(g.id, clock_->NowSeconds());
  json detail = {{"receiver", g.receiver}, {"grant", g.id}};
  if (st.ok()) st = Audit(*t, actor, "access.revoke", "reservation:" + r.name, detail.dump());
  if (st.ok()) st = t->Commit();
  return st;
}

Result<CancelResult> ReservationPlatform::CancelReservation(const SenderIdentity& sender,
                                                            const std::string& name) {
  KC_ASSIGN_OR_RETURN(Reservation found, OwnedReservation(sender, name));
  std::unique_lock<std::shared_mutex> lock(
      reservation_locks_[found.id.value % reservation_locks_.size()]);
  KC_ASSIGN_OR_RETURN(Reservation r, store_->GetReservation(found.id));
  int64_t now = clock_->NowSeconds();
  CancelResult out;
  std::string actor = "sender:" + sender.name;
  if (r.status == ReservationStatus::kActive) {
    if (!NextOccurrence(r.schedule, now))
      return FailedPrecondition("transmission '" + name + "' is over");
    out.was_active = true;
    r.status = ReservationStatus::kCancelled;
    r.cancelled_at = now;
    r.updated_at = now;
    r.version++;
    KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
    Status st = t->UpdateReservation(r);
    if (st.ok()) st = Audit(*t, actor, "reservation.cancel", "reservation:" + r.name, "{}");
    if (st.ok()) st = t->Commit();
    KC_RETURN_IF_ERROR(st);
  }
  // Revoke every live grant and, for a generated SA, the event itself: key
  // delivery stops from the next request on.
  KC_ASSIGN_OR_RETURN(auto grants, store_->LoadAccessGrants(r.id));
  for (const auto& g : grants) {
    if (g.revoked_at != 0) continue;
    KC_RETURN_IF_ERROR(RevokeGrant(r, g, actor));
    out.grants_revoked++;
  }
  if (r.sa_mode == SaMode::kGenerated) {
    Status st = dir_->DeleteEvent(Actor{actor}, EventNameOf(r));
    if (!st.ok() && st.code() != Code::kNotFound) return st;
    st = dir_->DeleteGroup(Actor{actor}, GroupNameOf(r));
    if (!st.ok() && st.code() != Code::kNotFound) return st;
  }
  // Refund every approved charge that has no approved refund yet.
  KC_ASSIGN_OR_RETURN(auto ledger, store_->LoadLedger(r.id));
  std::map<int64_t, LedgerEntry> refunds;
  for (const auto& e : ledger)
    if (e.kind == "refund") refunds[e.refund_of] = e;
  for (const auto& c : ledger) {
    if (c.kind != "charge" || c.status != "approved") continue;
    LedgerEntry refund;
    auto it = refunds.find(c.id);
    if (it != refunds.end()) {
      if (it->second.status == "approved") continue;
      refund = it->second;
    } else {
      refund.reservation = r.id;
      refund.receiver = c.receiver;
      refund.kind = "refund";
      refund.status = "pending";
      refund.amount_cents = -c.amount_cents;
      refund.currency = c.currency;
      refund.refund_of = c.id;
      refund.provider = c.provider;
      refund.card_last4 = c.card_last4;
      refund.card_fingerprint = c.card_fingerprint;
      refund.created_at = refund.updated_at = now;
      KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
      auto id = t->InsertLedgerEntry(refund);
      Status st = id.status();
      json detail = {
          {"charge", c.id}, {"receiver", c.receiver}, {"amount_cents", refund.amount_cents}};
      if (st.ok()) st = Audit(*t, actor, "ledger.refund", "reservation:" + r.name, detail.dump());
      if (st.ok()) st = t->Commit();
      if (!st.ok()) {
        out.refunds_failed++;
        continue;
      }
      refund.id = *id;
    }
    auto ref = payments_->Refund(c.provider_ref, c.amount_cents, "refund-" + std::to_string(c.id));
    refund.updated_at = clock_->NowSeconds();
    if (ref.ok()) {
      refund.status = "approved";
      refund.provider_ref = *ref;
      refund.reason = "";
    } else {
      refund.status = "error";
      refund.reason = ref.status().message();
      spdlog::warn("refund of charge {} for '{}' failed: {}", c.id, r.name, ref.status().message());
    }
    KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
    Status st = t->UpdateLedgerEntry(refund);
    if (st.ok()) st = t->Commit();
    if (!ref.ok() || !st.ok()) {
      out.refunds_failed++;
      continue;
    }
    out.refunds++;
    out.refunded_cents += c.amount_cents;
  }
  spdlog::info("reservation '{}' cancelled by {}: {} grants revoked, {} refunds", r.name,
               sender.name, out.grants_revoked, out.refunds);
  return out;
}

Result<ReservationView> ReservationPlatform::GetReservation(const SenderIdentity& sender,
                                                            const std::string& name) const {
  KC_ASSIGN_OR_RETURN(Reservation r, OwnedReservation(sender, name));
  return View(r);
}

Result<std::vector<ReservationView>> ReservationPlatform::ListReservations(
    const SenderIdentity& sender) const {
  std::vector<ReservationView> out;
  std::string after;
  for (;;) {
    KC_ASSIGN_OR_RETURN(auto page, store_->ListReservations(sender.id, false, after, 500));
    for (const auto& r : page) {
      KC_ASSIGN_OR_RETURN(auto v, View(r));
      out.push_back(std::move(v));
    }
    if (page.size() < 500) break;
    after = page.back().name;
  }
  return out;
}

Result<ReservationStats> ReservationPlatform::Stats(const SenderIdentity& sender,
                                                    const std::string& name) const {
  KC_ASSIGN_OR_RETURN(Reservation r, OwnedReservation(sender, name));
  ReservationStats s;
  s.currency = r.currency;
  int64_t now = clock_->NowSeconds();
  s.as_of = now;
  KC_ASSIGN_OR_RETURN(auto list, store_->LoadReservationReceivers(r.id));
  s.listed_receivers = list.size();
  KC_ASSIGN_OR_RETURN(auto grants, store_->LoadAccessGrants(r.id));
  std::set<int64_t> grant_clients;
  for (const auto& g : grants) {
    if (g.revoked_at != 0) continue;
    s.approved_receivers++;
    if (g.client.valid()) grant_clients.insert(g.client.value);
  }
  KC_ASSIGN_OR_RETURN(auto ledger, store_->LoadLedger(r.id));
  for (const auto& e : ledger) {
    if (e.status == "approved") s.collected_cents += e.amount_cents;
    if (e.kind == "refund" && e.status == "approved") s.refunded_cents -= e.amount_cents;
    if (e.kind == "charge" && e.status == "approved") s.charges_approved++;
    if (e.kind == "charge" && e.status == "declined") s.charges_declined++;
  }
  {
    std::lock_guard<std::mutex> l(refused_mu_);
    auto it = refused_.find(r.id.value);
    if (it != refused_.end()) s.requests_refused = it->second;
  }
  bool active = r.status == ReservationStatus::kActive;
  auto occ = OccurrenceAt(r.schedule, now);
  s.live = active && occ.has_value();
  // The key service hands keys out during an occurrence and in the initial
  // keying period before it.
  auto next = NextOccurrence(r.schedule, now);
  bool keying =
      active && next && now + static_cast<int64_t>(options_.initial_keying_seconds) >= next->start;
  if (r.sa_mode == SaMode::kGenerated && r.event.valid() && dir_->FindEvent(r.event)) {
    for (ClientId c : dir_->AuthorizedClients(r.event)) {
      if (c == r.sender) continue;
      if (!grant_clients.count(c.value)) s.subscribers++;
      if (keying) s.entitled_now++;
    }
    if (options_.keyed_clients && keying)
      s.keyed_now = options_.keyed_clients(
          r.event, clock_->Now() - int64_t{options_.interval_seconds} * kMicrosPerSecond);
    else if (options_.keyed_clients)
      s.keyed_now = 0;
  } else if (keying) {
    s.entitled_now = s.approved_receivers;
  }
  return s;
}

Result<std::vector<LedgerEntry>> ReservationPlatform::Ledger(const SenderIdentity& sender,
                                                             const std::string& name) const {
  KC_ASSIGN_OR_RETURN(Reservation r, OwnedReservation(sender, name));
  return store_->LoadLedger(r.id);
}

Result<std::vector<AccessGrant>> ReservationPlatform::Grants(const SenderIdentity& sender,
                                                             const std::string& name) const {
  KC_ASSIGN_OR_RETURN(Reservation r, OwnedReservation(sender, name));
  KC_ASSIGN_OR_RETURN(auto grants, store_->LoadAccessGrants(r.id));
  for (auto& g : grants) g.sealed_credential.clear();
  return grants;
}

// ---------------------------------------------------------------- receivers

namespace {

PublicTransmission Describe(const Reservation& r, const std::string& sender, bool has_list,
                            bool has_groups, int64_t now) {
  PublicTransmission t;
  t.name = r.name;
  t.title = r.title;
  t.sender_name = sender;
  t.schedule = r.schedule;
  t.next = NextOccurrence(r.schedule, now);
  t.group_address = r.group_address;
  t.port = r.port;
  t.price_cents = r.price_cents;
  t.currency = r.currency;
  t.needs_password = has_list;
  t.needs_payment = r.price_cents > 0;
  t.subscribers = has_groups;
  t.accepts_requests =
      has_list || r.price_cents > 0 || (r.sa_mode == SaMode::kProvided && has_groups);
  return t;
}

}  // namespace

Result<std::vector<PublicTransmission>> ReservationPlatform::FindTransmissions(
    const std::string& query, size_t limit) const {
  if (query.size() > 200) return InvalidArgument("search text is longer than 200 characters");
  std::string q = Lower(query);
  int64_t now = clock_->NowSeconds();
  std::vector<PublicTransmission> out;
  std::string after;
  for (;;) {
    KC_ASSIGN_OR_RETURN(auto page, store_->ListReservations(ClientId(), true, after, 500));
    for (const auto& r : page) {
      if (!NextOccurrence(r.schedule, now)) continue;
      if (!q.empty() && Lower(r.name).find(q) == std::string::npos &&
          Lower(r.title).find(q) == std::string::npos)
        continue;
      KC_ASSIGN_OR_RETURN(auto list, store_->LoadReservationReceivers(r.id));
      KC_ASSIGN_OR_RETURN(auto groups, store_->LoadReservationGroups(r.id));
      out.push_back(Describe(r, dir_->ClientName(r.sender).value_or(""), !list.empty(),
                             !groups.empty(), now));
      if (out.size() >= limit) return out;
    }
    if (page.size() < 500) break;
    after = page.back().name;
  }
  return out;
}

Result<PublicTransmission> ReservationPlatform::DescribeTransmission(
    const std::string& name) const {
  KC_RETURN_IF_ERROR(ValidateReservationName(name));
  auto r = store_->FindReservation(name);
  if (!r.ok() || r->status != ReservationStatus::kActive)
    return NotFound("no transmission named '" + name + "'");
  KC_ASSIGN_OR_RETURN(auto list, store_->LoadReservationReceivers(r->id));
  KC_ASSIGN_OR_RETURN(auto groups, store_->LoadReservationGroups(r->id));
  return Describe(*r, dir_->ClientName(r->sender).value_or(""), !list.empty(), !groups.empty(),
                  clock_->NowSeconds());
}

std::string ReservationPlatform::CardFingerprint(const Card& card) const {
  Bytes msg = ToBytes("keycast v1 card fingerprint ");
  msg.insert(msg.end(), card.number.begin(), card.number.end());
  auto mac = crypto::HmacSha256(card_key_.reveal(), msg);
  SecureWipe(msg.data(), msg.size());
  return ToHex(ByteView(mac.data(), 16));
}

bool ReservationPlatform::TooManyFailures(const std::string& subject) {
  std::lock_guard<std::mutex> l(failures_mu_);
  auto it = failures_.find(subject);
  if (it == failures_.end()) return false;
  int64_t cutoff = clock_->NowSeconds() - options_.failure_window_seconds;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(), [&](int64_t t) { return t < cutoff; }), v.end());
  if (v.empty()) {
    failures_.erase(it);
    return false;
  }
  return v.size() >= options_.max_failures;
}

bool ReservationPlatform::NoteFailure(const std::string& subject) {
  std::lock_guard<std::mutex> l(failures_mu_);
  if (failures_.size() > 100000) {
    int64_t cutoff = clock_->NowSeconds() - options_.failure_window_seconds;
    for (auto it = failures_.begin(); it != failures_.end();)
      if (it->second.empty() || it->second.back() < cutoff)
        it = failures_.erase(it);
      else
        ++it;
    if (failures_.size() > 100000) failures_.clear();
  }
  auto& v = failures_[subject];
  v.push_back(clock_->NowSeconds());
  return v.size() >= options_.max_failures;
}

Result<LedgerEntry> ReservationPlatform::Charge(const Reservation& r, const std::string& receiver,
                                                const AccessParameter& param, const Card& card,
                                                const std::string& fingerprint) {
  std::string actor = "receiver:" + r.name + "/" + receiver;
  int64_t now = clock_->NowSeconds();
  LedgerEntry entry;
  auto existing = store_->FindLedgerEntry(param.idempotency_key);
  if (existing.ok()) {
    if (existing->reservation != r.id || existing->receiver != receiver ||
        existing->card_fingerprint != fingerprint)
      return InvalidArgument("this idempotency key belongs to another request; use a fresh one");
    if (existing->status == "approved" || existing->status == "declined") return existing;
    if (existing->status == "pending" && now - existing->updated_at < kStalePendingSeconds)
      return Unavailable(
          "the payment for this request is still being processed; retry in a moment");
    entry = *existing;  // failed or stale: ask the provider again, with the same key
  } else if (existing.status().code() == Code::kNotFound) {
    entry.reservation = r.id;
    entry.receiver = receiver;
    entry.kind = "charge";
    entry.status = "pending";
    entry.amount_cents = r.price_cents;
    entry.currency = r.currency;
    entry.idempotency_key = param.idempotency_key;
    entry.provider = payments_->name();
    entry.card_last4 = card.last4();
    entry.card_fingerprint = fingerprint;
    entry.created_at = entry.updated_at = now;
    KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
    auto id = t->InsertLedgerEntry(entry);
    Status st = id.status();
    json detail = {{"receiver", receiver},
                   {"amount_cents", entry.amount_cents},
                   {"card_last4", entry.card_last4}};
    if (st.ok()) st = Audit(*t, actor, "ledger.charge", "reservation:" + r.name, detail.dump());
    if (st.ok()) st = t->Commit();
    if (!st.ok()) {
      if (st.code() == Code::kAlreadyExists)
        return Unavailable(
            "the payment for this request is still being processed; retry in a moment");
      return st;
    }
    entry.id = *id;
  } else {
    return existing.status();
  }
  ChargeRequest req{entry.idempotency_key, entry.amount_cents, entry.currency, card,
                    "Keycast: " + r.title};
  auto outcome = payments_->Charge(req);
  entry.updated_at = clock_->NowSeconds();
  if (!outcome.ok()) {
    entry.status = "error";
    entry.reason = outcome.status().message();
  } else {
    entry.status = outcome->approved ? "approved" : "declined";
    entry.provider_ref = outcome->reference;
    entry.reason = outcome->reason;
  }
  KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
  Status st = t->UpdateLedgerEntry(entry);
  if (st.ok()) st = t->Commit();
  KC_RETURN_IF_ERROR(st);
  if (!outcome.ok())
    return Unavailable("the payment provider failed (" + outcome.status().message() +
                       "); nothing was charged — retry the same request");
  return entry;
}

Result<AgentConfig> ReservationPlatform::OpenGrant(const Reservation& r,
                                                   const AccessGrant& g) const {
  KC_ASSIGN_OR_RETURN(SecretBytes plain,
                      sealer_->Open(kSealGrant, GrantRecord(r, g.receiver), g.sealed_credential));
  return reservation::ParseAgentConfig(AsString(plain.reveal()));
}

Result<AgentConfig> ReservationPlatform::IssueGrant(const Reservation& r,
                                                    const std::string& receiver,
                                                    const std::string& via,
                                                    const LedgerEntry* charge,
                                                    const std::string& fingerprint) {
  Actor actor{"receiver:" + r.name + "/" + receiver};
  AgentConfig c;
  c.transmission = r.name;
  c.title = r.title;
  c.receiver = receiver;
  c.group = r.group_address;
  c.port = r.port;
  c.source = r.source_address;
  c.start = r.schedule.start;
  c.duration = r.schedule.duration;
  c.rrule = r.schedule.rule ? r.schedule.rule->ToString() : "";
  c.charged_cents = charge ? charge->amount_cents : 0;
  c.currency = r.currency;
  ClientId client;
  std::string client_name;
  if (r.sa_mode == SaMode::kGenerated) {
    client_name = ReceiverClientName(r, receiver);
    // A leftover of an earlier grant that did not finish: start afresh.
    if (dir_->FindClient(client_name)) (void)dir_->DeleteClient(actor, client_name);
    auto cv = dir_->CreateClient(
        actor, ClientSpec{client_name, "receiver " + receiver + " of transmission " + r.name,
                          std::nullopt, true});
    if (!cv.ok()) return cv.status();
    client = cv->client.id;
    Status st = dir_->SetMembership(actor, client_name, GroupNameOf(r), Role::kReceiver, true);
    auto tok = st.ok() ? dir_->CreateApiKey(actor, client_name, "transmission " + r.name)
                       : Result<Token>(st);
    if (!tok.ok()) {
      (void)dir_->DeleteClient(actor, client_name);
      return tok.status();
    }
    c.mode = "keycast";
    c.addr = !options_.public_url.empty() ? options_.public_url
             : options_.public_url_source ? options_.public_url_source()
                                          : std::string("http://127.0.0.1:8200");
    c.client = client_name;
    c.api_key = tok->Encode();
    c.event = EventNameOf(r);
  } else {
    KC_ASSIGN_OR_RETURN(SecretBytes key, sealer_->Open(kSealSaKey, SaRecord(r), r.sealed_sa_key));
    c.mode = "static";
    c.spi = r.spi.value;
    c.algorithm = r.algorithm;
    c.sa_key.assign(key.reveal().begin(), key.reveal().end());
  }
  std::string text = reservation::AgentConfigToJson(c);
  AccessGrant g;
  g.reservation = r.id;
  g.receiver = receiver;
  g.client = client;
  g.via = via;
  g.ledger_id = charge ? charge->id : 0;
  g.sealed_credential =
      sealer_->Seal(kSealGrant, GrantRecord(r, receiver), SecretBytes(AsBytes(text)));
  SecureWipe(text.data(), text.size());
  g.card_fingerprint = fingerprint;
  g.created_at = clock_->NowSeconds();
  auto undo = [&] {
    if (!client_name.empty()) (void)dir_->DeleteClient(actor, client_name);
  };
  auto t = store_->Begin();
  if (!t.ok()) return undo(), t.status();
  auto id = (*t)->InsertAccessGrant(g);
  Status st = id.status();
  json detail = {
      {"receiver", receiver}, {"via", via}, {"ledger", g.ledger_id}, {"client", client_name}};
  if (st.ok()) st = Audit(**t, actor.name, "access.grant", "reservation:" + r.name, detail.dump());
  if (st.ok()) st = (*t)->Commit();
  if (!st.ok()) return undo(), st;
  spdlog::info("transmission '{}': access granted to {} ({})", r.name, receiver, via);
  return c;
}

Result<AccessResult> ReservationPlatform::RequestAccess(const std::string& transmission,
                                                        const std::string& receiver,
                                                        const AccessParameter& param,
                                                        LoginOrigin* origin) {
  // ---- gather
  KC_RETURN_IF_ERROR(ValidateReservationName(transmission));
  KC_RETURN_IF_ERROR(ValidateReceiverName(receiver));
  const std::string subject = transmission + "/" + receiver;
  if (TooManyFailures(subject))
    return ResourceExhausted("too many failed requests for receiver '" + receiver +
                             "'; try again later");
  auto found = store_->FindReservation(transmission);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound)
      return NotFound("no transmission named '" + transmission + "'");
    return found.status();
  }
  std::shared_lock<std::shared_mutex> rlock(
      reservation_locks_[found->id.value % reservation_locks_.size()]);
  std::lock_guard<std::mutex> slock(subject_locks_[Stripe(subject, subject_locks_.size())]);
  KC_ASSIGN_OR_RETURN(Reservation r, store_->GetReservation(found->id));
  int64_t now = clock_->NowSeconds();
  auto refuse = [&](Status st) {
    NoteFailure(subject);
    {
      std::lock_guard<std::mutex> l(refused_mu_);
      refused_[r.id.value]++;
    }
    spdlog::info("request for transmission '{}' by receiver '{}' refused: {}", transmission,
                 receiver, st.message());
    return st;
  };
  // ---- check
  if (r.status != ReservationStatus::kActive)
    return FailedPrecondition("transmission '" + transmission + "' was cancelled");
  if (!NextOccurrence(r.schedule, now))
    return FailedPrecondition("transmission '" + transmission + "' is over");
  KC_ASSIGN_OR_RETURN(auto list, store_->LoadReservationReceivers(r.id));
  KC_ASSIGN_OR_RETURN(auto groups, store_->LoadReservationGroups(r.id));
  const bool has_list = !list.empty();
  const bool priced = r.price_cents > 0;
  std::string password(AsString(param.password.reveal()));
  struct Wipe {
    std::string& s;
    ~Wipe() { SecureWipe(s.data(), s.size()); }
  } wipe{password};

  // Who is asking: a directory subscriber (provided SA only; with a
  // generated SA subscribers get keys with their own credentials), a
  // receiver on the list, or anyone willing to pay.
  //
  // Each password check runs behind an admitted attempt of the login
  // limiter, and costs one Argon2id verification whether or not the name
  // exists (directory clients and list entries alike).
  const bool check_directory =
      r.sa_mode == SaMode::kProvided && !groups.empty() && !password.empty();
  std::optional<LoginLimiter::Attempt> directory_attempt, list_attempt;
  {
    LoginOrigin in_process;
    LoginOrigin* o = origin ? origin : &in_process;
    PeerKey from = PeerKey::Of(o->address);
    const PeerKey* address = o->address.empty() ? nullptr : &from;
    if (check_directory) {
      auto a = dir_->login_limiter().Admit("client:" + receiver, address, &o->retry_after_seconds);
      if (!a.ok()) return a.status();
      directory_attempt.emplace(std::move(a).value());
      address = nullptr;  // counted once per request
    }
    if (has_list) {
      auto a = dir_->login_limiter().Admit("receiver:" + transmission + "/" + receiver, address,
                                           &o->retry_after_seconds);
      if (!a.ok()) return a.status();
      list_attempt.emplace(std::move(a).value());
    }
  }
  std::string via;
  if (check_directory) {
    auto a = dir_->CheckPassword(receiver, password);
    // A failure waits for the list's verdict when there is a list: a
    // listed receiver's password is not a wrong directory password.
    if (a.ok())
      directory_attempt->Succeeded();
    else if (!has_list)
      directory_attempt->Failed();
    if (a.ok()) {
      std::set<int64_t> admitted;
      for (GroupId g : groups) admitted.insert(g.value);
      auto cv = dir_->GetClient(receiver);
      std::vector<std::string> stack;
      if (cv.ok())
        for (const auto& [g, role] : cv->groups) stack.push_back(g);
      std::set<std::string> seen;
      while (!stack.empty() && via.empty()) {
        std::string g = std::move(stack.back());
        stack.pop_back();
        if (!seen.insert(g).second) continue;
        auto gv = dir_->GetGroup(g);
        if (!gv.ok()) continue;
        if (admitted.count(gv->group.id.value)) via = "group";
        for (const auto& p : gv->parents) stack.push_back(p);
      }
    }
  }
  if (!via.empty()) list_attempt.reset();  // admitted as a subscriber: the list is not checked
  if (via.empty() && has_list) {
    auto it = std::find_if(list.begin(), list.end(), [&](auto& e) { return e.name == receiver; });
    // Verify even for unknown names, so timing does not tell who is listed.
    bool ok = VerifyPasswordOrDummy(password, it == list.end() ? "" : it->password_hash,
                                    options_.password_cost);
    if (ok) {
      list_attempt->Succeeded();
      directory_attempt.reset();  // released uncounted
    } else {
      list_attempt->Failed();
      if (directory_attempt) directory_attempt->Failed();
    }
    if (!ok)
      return refuse(Unauthenticated("receiver name or password is wrong for transmission '" +
                                    transmission + "'"));
    via = "list";
  }
  if (via.empty() && !priced) {
    if (!groups.empty())
      return refuse(FailedPrecondition(
          "transmission '" + transmission +
          "' admits only members of its directory groups; they receive keys with their "
          "own Keycast credentials and need no request"));
    return refuse(FailedPrecondition("transmission '" + transmission + "' accepts no requests"));
  }
  const bool must_pay = priced && via != "group";
  std::optional<Card> card;
  std::string fingerprint;
  if (param.has_card()) {
    auto c = ParseCard(AsString(param.card_number.reveal()), param.card_expiry,
                       AsString(param.card_cvc.reveal()), now);
    if (!c.ok()) return c.status();
    card = std::move(c).value();
    fingerprint = CardFingerprint(*card);
  }

  // A receiver that already holds access gets it again, without paying twice.
  KC_ASSIGN_OR_RETURN(auto grants, store_->LoadAccessGrants(r.id));
  for (const auto& g : grants) {
    if (g.revoked_at != 0 || g.receiver != receiver) continue;
    if (via.empty()) {  // payment only: the card it paid with proves it is the same receiver
      if (!card || fingerprint != g.card_fingerprint)
        return refuse(AlreadyExists("receiver name '" + receiver + "' is taken for transmission '" +
                                    transmission +
                                    "'; choose another name (or give the card it paid with)"));
    }
    KC_ASSIGN_OR_RETURN(AgentConfig c, OpenGrant(r, g));
    return AccessResult{std::move(c), false, false, g.ledger_id};
  }

  // ---- issue
  LedgerEntry charge;
  bool charged = false;
  if (must_pay) {
    if (!card)
      return InvalidArgument("transmission '" + transmission + "' costs " +
                             reservation::FormatMoney(r.price_cents, r.currency) +
                             ": give a payment card");
    if (param.idempotency_key.empty())
      return InvalidArgument("a paid request needs an idempotency key");
    KC_ASSIGN_OR_RETURN(charge, Charge(r, receiver, param, *card, fingerprint));
    if (charge.status != "approved")
      return refuse(
          PermissionDenied("payment declined: " + charge.reason + "; nothing was charged"));
    charged = true;
    via = via.empty() ? "payment" : via + "+payment";
  }
  KC_ASSIGN_OR_RETURN(AgentConfig c,
                      IssueGrant(r, receiver, via, charged ? &charge : nullptr, fingerprint));
  return AccessResult{std::move(c), true, charged, charged ? charge.id : 0};
}

Result<SecretBytes> ReservationPlatform::Authorize(ByteView shared_param, std::string_view subject,
                                                   LoginOrigin* origin) {
  size_t slash = subject.find('/');
  if (slash == std::string_view::npos)
    return InvalidArgument("the channel subject must be '<transmission>/<receiver>'");
  std::string transmission(subject.substr(0, slash)), receiver(subject.substr(slash + 1));
  KC_ASSIGN_OR_RETURN(AccessParameter p, reservation::DecodeAccessParameter(shared_param));
  KC_ASSIGN_OR_RETURN(AccessResult res, RequestAccess(transmission, receiver, p, origin));
  std::string text = reservation::AgentConfigToJson(res.config);
  SecretBytes out(AsBytes(text));
  SecureWipe(text.data(), text.size());
  if (out.size() > channel::kMaxPayloadBytes)
    return Internal("agent configuration does not fit the channel");
  return out;
}

}  // namespace keycast
