#include "bench/keys/fixture.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "keycast/directory.h"
#include "keycast/password.h"
#include "keycast/seal.h"
#include "keycast/service_keys.h"
#include "keycast/store.h"
#include "keycast/ticket_service.h"

namespace keycast::bench {
namespace {

const Actor kBench{"bench:keys"};

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string Name(const char* prefix, size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%06zu", prefix, i);
  return buf;
}

}  // namespace

SimTicket FromSession(const ClientSession& s) {
  SimTicket t;
  t.client = s.ticket.client;
  t.id = s.ticket.id;
  t.credential = s.ticket.credential;
  t.keys = keyproto::SessionKeys::Derive(s.session_key, s.ticket.id);
  for (const auto& e : s.ticket.events) t.events.push_back(e.id);
  return t;
}

Result<Fixture> CreateFixture(const FixtureOptions& o) {
  if (o.data_dir.empty()) return InvalidArgument("fixture: no data folder");
  if (o.clients < 1 || o.events < 1 || o.tickets_per_client < 1)
    return InvalidArgument("fixture: empty world");
  auto ks = Endpoint::Parse(o.key_server, true);
  if (!ks) return InvalidArgument("fixture: key server '" + o.key_server + "' is not host:port");
  if (::mkdir(o.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Unavailable("cannot create " + o.data_dir + ": " + std::strerror(errno));
  std::string kek = o.data_dir + "/kek";
  KC_RETURN_IF_ERROR(Sealer::GenerateFile(kek));
  KC_ASSIGN_OR_RETURN(Sealer sealer, Sealer::FromFile(kek));
  KC_ASSIGN_OR_RETURN(auto store, OpenSqliteStore(o.data_dir + "/keycast.db"));
  const Clock* clock = &SystemClock::Get();
  KC_ASSIGN_OR_RETURN(auto dir,
                      Directory::Open(store.get(), &sealer, clock, {PasswordCost::kInteractive}));
  KC_ASSIGN_OR_RETURN(auto keys, ServiceKeys::Open(store.get(), &sealer, clock,
                                                   2 * o.ticket_lifetime_seconds, true));

  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  constexpr size_t kRegions = 4, kTeams = 16;
  KC_RETURN_IF_ERROR(dir->CreateGroup(kBench, {"bench-all", "every simulated client"}).status());
  for (size_t r = 0; r < kRegions; ++r) {
    KC_RETURN_IF_ERROR(dir->CreateGroup(kBench, {Name("bench-region-", r), ""}).status());
    KC_RETURN_IF_ERROR(dir->AddEdge(kBench, "bench-all", Name("bench-region-", r)));
  }
  for (size_t t = 0; t < kTeams; ++t) {
    KC_RETURN_IF_ERROR(dir->CreateGroup(kBench, {Name("bench-team-", t), ""}).status());
    KC_RETURN_IF_ERROR(
        dir->AddEdge(kBench, Name("bench-region-", t % kRegions), Name("bench-team-", t)));
  }
  int64_t now = clock->NowSeconds();
  for (size_t e = 0; e < o.events; ++e) {
    EventSpec spec;
    spec.name = Name("bench-event-", e);
    spec.title = "Key service benchmark event " + std::to_string(e);
    spec.group_address = *IpAddress::Parse("239.77.0." + std::to_string(1 + e % 250));
    spec.port = static_cast<uint16_t>(5000 + e);
    spec.schedule.start = now - 300;  // live: started five minutes ago
    spec.schedule.duration = 24 * 3600;
    spec.interval_seconds = o.interval_seconds;
    spec.initial_keying_seconds = 300;
    spec.clear_intervals = 0;
    spec.key_servers = {*ks};
    KC_ASSIGN_OR_RETURN(EventView v, dir->CreateEvent(kBench, spec));
    KC_RETURN_IF_ERROR(dir->AddAssignment(kBench, spec.name, "bench-all"));
    f.events.push_back(FixtureEvent{v.event->id, v.event->schedule, v.event->interval_seconds});
  }
  // Clients, their memberships and API keys: rows written straight through
  // the Store in one transaction with one audit record (one commit instead
  // of three per client), then the directory is loaded again from the store.
  std::vector<GroupId> teams;
  for (size_t t = 0; t < kTeams; ++t) {
    KC_ASSIGN_OR_RETURN(GroupView g, dir->GetGroup(Name("bench-team-", t)));
    teams.push_back(g.group.id);
  }
  dir.reset();
  {
    KC_ASSIGN_OR_RETURN(auto txn, store->Begin());
    for (size_t c = 0; c < o.clients; ++c) {
      Client client;
      client.name = Name("bench-c", c);
      client.description = "simulated client";
      client.enabled = true;
      client.created_at = client.updated_at = now;
      KC_ASSIGN_OR_RETURN(ClientId id, txn->InsertClient(client));
      KC_RETURN_IF_ERROR(txn->UpsertMembership(Membership{id, teams[c % kTeams], Role::kReceiver}));
      Token tok = GenerateToken("kca");
      KC_RETURN_IF_ERROR(
          txn->InsertApiKey(ApiKey{tok.id, id, TokenVerifier(tok), "keycast bench keys", now, 0}));
      f.api_keys.push_back(tok.Encode());
    }
    KC_ASSIGN_OR_RETURN(int64_t seq, txn->AppendAudit(AuditRecord{
                                         0, now, kBench.name, "bench.clients", "directory",
                                         "{\"clients\":" + std::to_string(o.clients) + "}"}));
    (void)seq;
    KC_RETURN_IF_ERROR(txn->Commit());
  }
  KC_ASSIGN_OR_RETURN(dir,
                      Directory::Open(store.get(), &sealer, clock, {PasswordCost::kInteractive}));
  f.directory_seconds = SecondsSince(t0);

  t0 = std::chrono::steady_clock::now();
  TicketService tickets(dir.get(), keys.get(), clock,
                        TicketServiceOptions{o.ticket_lifetime_seconds});
  f.tickets.reserve(o.clients * o.tickets_per_client);
  for (size_t c = 0; c < o.clients; ++c) {
    KC_ASSIGN_OR_RETURN(AuthenticatedClient who, dir->AuthenticateApiKey(f.api_keys[c]));
    for (size_t k = 0; k < o.tickets_per_client; ++k) {
      KC_ASSIGN_OR_RETURN(IssuedTicket issued, tickets.Issue(who));
      KC_ASSIGN_OR_RETURN(Ticket t, DecodeTicket(issued.ticket));
      SimTicket s;
      s.client = t.client;
      s.id = t.id;
      s.credential = std::move(t.credential);
      s.keys = keyproto::SessionKeys::Derive(issued.session_key, t.id);
      for (const auto& e : t.events) s.events.push_back(e.id);
      if (s.events.size() != o.events)
        return Internal("fixture: a ticket lists " + std::to_string(s.events.size()) +
                        " events, expected " + std::to_string(o.events));
      f.tickets.push_back(std::move(s));
    }
  }
  f.ticket_seconds = SecondsSince(t0);
  return f;
}

}  // namespace keycast::bench
