#include "store/store_conformance.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "store/bulk.h"
#include "store/pg_conn.h"
#include "store/sqlite_conn.h"

namespace keycast {

std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}
void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

void StoreConformance::SetUp() {
  auto db = GetParam().create_database();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  database_ = *db;
  store_ = OpenAgain();
  ASSERT_NE(store_, nullptr);
}

void StoreConformance::TearDown() {
  store_.reset();
  if (!database_.empty() && GetParam().drop_database) GetParam().drop_database(database_);
}

std::unique_ptr<Store> StoreConformance::OpenAgain() {
  auto s = OpenStore(database_);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::unique_ptr<sql::Conn> StoreConformance::OpenConn() {
  auto c = sql::IsPostgresConninfo(database_) ? sql::OpenPostgres(database_)
                                              : sql::OpenSqlite(database_);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

Event SampleEvent(const std::string& name) {
  Event e;
  e.name = name;
  e.title = "Title of " + name;
  e.group_address = *IpAddress::Parse("239.1.2.3");
  e.port = 5004;
  e.source_address = *IpAddress::Parse("10.0.0.1");
  e.schedule.start = 1'800'000'000;
  e.schedule.duration = 3600;
  e.schedule.rule = *ParseRrule("FREQ=WEEKLY;BYDAY=MO,WE");
  e.key_servers = {*Endpoint::Parse("127.0.0.1:7000"), *Endpoint::Parse("[::1]:7001")};
  e.algorithm = crypto::AeadAlgorithm::kChaCha20Poly1305;
  e.delivery = KeyDelivery::kBoth;
  e.clear_intervals = 2;
  e.source_auth = true;
  return e;
}

std::vector<std::string> GroupNames(Store* store) {
  DirectoryData d;
  Status st = store->LoadDirectory(&d);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<std::string> names;
  for (const auto& g : d.groups) names.push_back(g.name);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

using Names = std::vector<std::string>;

Reservation SampleReservation(const std::string& name, ClientId sender) {
  Reservation r;
  r.name = name;
  r.title = "Transmission " + name;
  r.sender = sender;
  r.schedule.start = 1'800'000'000;
  r.schedule.duration = 5400;
  r.schedule.rule = *ParseRrule("FREQ=DAILY;COUNT=3");
  r.group_address = *IpAddress::Parse("239.9.9.9");
  r.port = 6000;
  r.sa_mode = SaMode::kProvided;
  r.spi = Spi{0xdeadbeef};
  r.sealed_sa_key = Bytes{0, 1, 0, 2};
  r.price_cents = 250;
  r.created_at = r.updated_at = 10;
  return r;
}

// Every byte value, with zeros at both ends and inside.
Bytes AllByteValues() {
  Bytes b{0, 0};
  for (int i = 0; i < 256; ++i) b.push_back(static_cast<uint8_t>(i));
  b.push_back(0);
  return b;
}

TEST_P(StoreConformance, RoundTripsEveryRecordKind) {
  auto t = store_->Begin();
  ASSERT_TRUE(t.ok());
  // Quotes, question marks and comment markers are data, never SQL.
  const std::string tricky = "it's a '?' -- /* $1 */ $$ ?";
  auto c = (*t)->InsertClient(Client{ClientId(), "alice", tricky, true, "$argon2id$x", 1, 2});
  auto g1 = (*t)->InsertGroup(Group{GroupId(), "g1", "", 1, 1});
  auto g2 = (*t)->InsertGroup(Group{GroupId(), "g2", "", 1, 1});
  Event ev = SampleEvent("e1");
  auto e = (*t)->InsertEvent(ev);
  ASSERT_TRUE(c.ok() && g1.ok() && g2.ok() && e.ok());
  ASSERT_TRUE((*t)->InsertEdge(Edge{*g1, *g2}).ok());
  ASSERT_TRUE((*t)->UpsertMembership(Membership{*c, *g2, Role::kReceiver}).ok());
  ASSERT_TRUE((*t)->UpsertMembership(Membership{*c, *g2, Role::kSender}).ok());  // upsert
  ASSERT_TRUE((*t)->InsertAssignment(Assignment{*e, *g1}).ok());
  ASSERT_TRUE((*t)->InsertApiKey(ApiKey{"00112233aabbccdd", *c, "ver", "robot", 5, 0}).ok());
  ASSERT_TRUE((*t)->PutEventSecret(*e, 1, Bytes{1, 2, 3}, 4).ok());
  ASSERT_TRUE(
      (*t)->InsertServiceKey(ServiceKey{"ticket-signing", KeyVersion{1}, Bytes{9}, Bytes{8}, 3, 0})
          .ok());
  ASSERT_TRUE(
      (*t)->AppendAudit(AuditRecord{0, 7, "bootstrap", "client.create", "client:alice", "{}"})
          .ok());
  ASSERT_TRUE((*t)->Commit().ok());

  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  ASSERT_EQ(d.clients.size(), 1u);
  EXPECT_EQ(d.clients[0].name, "alice");
  EXPECT_EQ(d.clients[0].description, tricky);
  EXPECT_TRUE(d.clients[0].enabled);
  EXPECT_EQ(d.clients[0].password_hash, "$argon2id$x");
  ASSERT_EQ(d.events.size(), 1u);
  const Event& le = d.events[0];
  EXPECT_EQ(le.name, "e1");
  EXPECT_EQ(le.group_address.ToString(), "239.1.2.3");
  EXPECT_EQ(le.source_address.ToString(), "10.0.0.1");
  ASSERT_TRUE(le.schedule.rule.has_value());
  EXPECT_EQ(le.schedule.rule->ToString(), ev.schedule.rule->ToString());
  EXPECT_EQ(le.key_servers, ev.key_servers);
  EXPECT_EQ(le.algorithm, crypto::AeadAlgorithm::kChaCha20Poly1305);
  EXPECT_EQ(le.delivery, KeyDelivery::kBoth);
  EXPECT_EQ(le.clear_intervals, 2);
  EXPECT_TRUE(le.source_auth);
  ASSERT_EQ(d.memberships.size(), 1u);
  EXPECT_EQ(d.memberships[0].role, Role::kSender);
  EXPECT_EQ(d.edges.size(), 1u);
  EXPECT_EQ(d.assignments.size(), 1u);
  EXPECT_EQ(d.api_keys.size(), 1u);
  auto sec = store_->GetEventSecret(*e, 1);
  ASSERT_TRUE(sec.ok());
  EXPECT_EQ(*sec, (Bytes{1, 2, 3}));
  auto keys = store_->LoadServiceKeys("ticket-signing");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 1u);
  auto audit = store_->ReadAudit(0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "client.create");
}

TEST_P(StoreConformance, EventUpdateKeepsSourceAuthentication) {
  auto t = store_->Begin();
  ASSERT_TRUE(t.ok());
  Event ev = SampleEvent("e1");
  ev.source_auth = false;
  auto id = (*t)->InsertEvent(ev);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE((*t)->Commit().ok());
  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_FALSE(d.events[0].source_auth);

  ev.id = *id;
  ev.source_auth = true;
  ev.version = 2;
  t = store_->Begin();
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->UpdateEvent(ev).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  d = DirectoryData();
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].source_auth);
  EXPECT_EQ(d.events[0].version, 2u);
}

TEST_P(StoreConformance, SenderIdsAreAllocatedOnceAndRemembered) {
  auto t = store_->Begin();
  auto c = (*t)->InsertClient(Client{ClientId(), "s", "", true, "", 1, 1});
  auto e = (*t)->InsertEvent(SampleEvent("e"));
  auto e2 = (*t)->InsertEvent(SampleEvent("e2"));
  ASSERT_TRUE((*t)->Commit().ok());
  auto a = store_->AllocateSenderId(*e, *c, 1);
  auto b = store_->AllocateSenderId(*e, *c, 2);
  auto other = store_->AllocateSenderId(*e2, *c, 2);
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  EXPECT_EQ(a->value, 1u);
  EXPECT_EQ(b->value, 2u);
  EXPECT_EQ(other->value, 1u);  // per event
  EXPECT_EQ(*store_->SenderOwner(*e, *b), *c);
  EXPECT_EQ(store_->SenderOwner(*e, SenderId{9}).status().code(), Code::kNotFound);
}

// Key generations (docs/key-protocol.md, "Generations"): the key state
// only grows, a pending state never becomes the previous one, secret
// versions are counted and retired, and a stale writer cannot set the
// numbers back (UpdateEvent leaves them alone).
TEST_P(StoreConformance, EventKeyStateAdvancesAndSecretVersionsRetire) {
  auto t = store_->Begin();
  auto e = (*t)->InsertEvent(SampleEvent("e"));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*t)->PutEventSecret(*e, 1, Bytes{1}, 10).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].keys, EventKeyState{}) << "a new event starts at secret 1, generation 1.1";

  // A rekey at t=100 in force at t=200: generation 2, the first state before it.
  t = store_->Begin();
  StoreTxn::KeyChange rekey{1, 0, 0, 100, 200};
  auto r = (*t)->AdvanceEventKeys(*e, rekey);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, EventKeyState{});
  EXPECT_EQ(r->second.generation, (KeyGeneration{2, 1}));
  EXPECT_EQ(r->second.activates_at, 200);
  EXPECT_EQ(r->second.previous, (KeyGeneration{1, 1}));
  EXPECT_EQ(r->second.previous_secret_version, 1u);
  // A rotation at t=150, while generation 2 is pending: generation 3 with
  // secret 2; the previous stays generation 1 (2 was never in force).
  auto v = (*t)->NextEventSecretVersion(*e);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2u);
  ASSERT_TRUE((*t)->PutEventSecret(*e, 2, Bytes{2}, 150).ok());
  r = (*t)->AdvanceEventKeys(*e, StoreTxn::KeyChange{1, 0, 2, 150, 250});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->second.generation, (KeyGeneration{3, 1}));
  EXPECT_EQ(r->second.secret_version, 2u);
  EXPECT_EQ(r->second.previous, (KeyGeneration{1, 1}));
  EXPECT_EQ(r->second.previous_secret_version, 1u);
  // A schedule edit at t=300, after 3 came into force.
  r = (*t)->AdvanceEventKeys(*e, StoreTxn::KeyChange{0, 1, 0, 300, 400});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->second.generation, (KeyGeneration{3, 2}));
  EXPECT_EQ(r->second.previous, (KeyGeneration{3, 1}));
  EXPECT_EQ(r->second.previous_secret_version, 2u);
  // An ordinary update of the event (a stale copy of it) leaves the keys alone.
  Event stale = SampleEvent("e");
  stale.id = *e;
  stale.title = "renamed";
  ASSERT_TRUE((*t)->UpdateEvent(stale).ok());
  EXPECT_EQ((*t)->AdvanceEventKeys(EventId(e->value + 99), rekey).status().code(), Code::kNotFound);
  ASSERT_TRUE((*t)->Commit().ok());

  auto reader = OpenAgain();
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->LoadDirectory(&d).ok());
  EXPECT_EQ(d.events[0].title, "renamed");
  EXPECT_EQ(d.events[0].keys.generation, (KeyGeneration{3, 2}));
  EXPECT_EQ(d.events[0].keys.secret_version, 2u);
  EXPECT_EQ(d.events[0].keys.activates_at, 400);
  EXPECT_EQ(d.events[0].keys.previous, (KeyGeneration{3, 1}));

  // Retiring every version but 2: version 1 loses its bytes, keeps its row.
  t = store_->Begin();
  auto n = (*t)->RetireEventSecrets(*e, 2, 2, 500);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(*(*t)->RetireEventSecrets(*e, 2, 2, 600), 0) << "retiring twice changes nothing";
  // A retired version number is never filled again.
  EXPECT_EQ((*t)->PutEventSecret(*e, 1, Bytes{9}, 700).code(), Code::kNotFound);
  ASSERT_TRUE((*t)->Commit().ok());
  EXPECT_EQ(reader->GetEventSecret(*e, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(*reader->GetEventSecret(*e, 2), Bytes{2});
  EXPECT_EQ(reader->GetEventSecret(*e, 3).status().code(), Code::kNotFound);
  auto list = reader->ListEventSecrets(*e);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].version, 1u);
  EXPECT_EQ((*list)[0].created_at, 10);
  EXPECT_EQ((*list)[0].retired_at, 500);
  EXPECT_EQ((*list)[1].version, 2u);
  EXPECT_EQ((*list)[1].retired_at, 0);
  t = store_->Begin();
  EXPECT_EQ(*(*t)->NextEventSecretVersion(*e), 3u) << "retired versions still count";
}

TEST_P(StoreConformance, UniqueNameIsAlreadyExists) {
  auto t = store_->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1}).ok());
  auto dup = (*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1});
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  // A transaction that saw an error refuses to commit, with that error.
  EXPECT_EQ((*t)->Commit().code(), Code::kAlreadyExists);
  EXPECT_EQ(GroupNames(store_.get()), Names{});
}

TEST_P(StoreConformance, UniqueViolationAgainstAnotherConnectionsRowIsAlreadyExists) {
  auto t = store_->Begin();
  auto c = (*t)->InsertClient(Client{ClientId(), "sender", "", true, "", 1, 1});
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "taken", "", 1, 1}).ok());
  auto r = (*t)->InsertReservation(SampleReservation("show", *c));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  LedgerEntry charge{0, *r,     "bob", "charge", "pending", 250, "EUR", "idem-1",
                     0, "test", "",    "4242",   "",        "",  1,     1};
  ASSERT_TRUE((*t)->InsertLedgerEntry(charge).ok());
  ASSERT_TRUE((*t)->Commit().ok());

  auto other = OpenAgain();
  ASSERT_NE(other, nullptr);
  {
    auto t2 = other->Begin();
    EXPECT_EQ((*t2)->InsertGroup(Group{GroupId(), "taken", "", 2, 2}).status().code(),
              Code::kAlreadyExists);
  }
  {
    auto t2 = other->Begin();
    EXPECT_EQ((*t2)->InsertReservation(SampleReservation("show", *c)).status().code(),
              Code::kAlreadyExists);
  }
  {
    auto t2 = other->Begin();  // a retried charge: the idempotency key is taken
    EXPECT_EQ((*t2)->InsertLedgerEntry(charge).status().code(), Code::kAlreadyExists);
    EXPECT_EQ((*t2)->Commit().code(), Code::kAlreadyExists);
  }
  // The failed transactions left the connection usable.
  auto t3 = other->Begin();
  ASSERT_TRUE(t3.ok());
  EXPECT_TRUE((*t3)->InsertGroup(Group{GroupId(), "free", "", 2, 2}).ok());
  EXPECT_TRUE((*t3)->Commit().ok());
}

TEST_P(StoreConformance, UncommittedTransactionRollsBack) {
  {
    auto t = store_->Begin();
    ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1}).ok());
  }
  EXPECT_EQ(GroupNames(store_.get()), Names{});
}

TEST_P(StoreConformance, DeleteGroupCascades) {
  auto t = store_->Begin();
  auto c = (*t)->InsertClient(Client{ClientId(), "c", "", true, "", 1, 1});
  auto g = (*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1});
  auto p = (*t)->InsertGroup(Group{GroupId(), "p", "", 1, 1});
  auto e = (*t)->InsertEvent(SampleEvent("e"));
  ASSERT_TRUE((*t)->InsertEdge(Edge{*p, *g}).ok());
  ASSERT_TRUE((*t)->UpsertMembership(Membership{*c, *g, Role::kReceiver}).ok());
  ASSERT_TRUE((*t)->InsertAssignment(Assignment{*e, *g}).ok());
  ASSERT_TRUE((*t)->DeleteGroup(*g).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  EXPECT_TRUE(d.edges.empty());
  EXPECT_TRUE(d.memberships.empty());
  EXPECT_TRUE(d.assignments.empty());
}

TEST_P(StoreConformance, MissingRowsAreNotFound) {
  auto t = store_->Begin();
  EXPECT_EQ((*t)->DeleteClient(ClientId(42)).code(), Code::kNotFound);
  EXPECT_EQ((*t)->DeleteEdge(Edge{GroupId(1), GroupId(2)}).code(), Code::kNotFound);
}

TEST_P(StoreConformance, ForeignKeyViolationIsRefused) {
  auto t = store_->Begin();
  EXPECT_EQ((*t)->InsertEdge(Edge{GroupId(1), GroupId(2)}).code(), Code::kFailedPrecondition);
}

TEST_P(StoreConformance, BlobsWithZeroBytesRoundTrip) {
  const Bytes all = AllByteValues();
  const Bytes zeros(64, 0);
  auto t = store_->Begin();
  auto c = (*t)->InsertClient(Client{ClientId(), "c", "", true, "", 1, 1});
  auto e = (*t)->InsertEvent(SampleEvent("e"));
  auto e2 = (*t)->InsertEvent(SampleEvent("e2"));
  ASSERT_TRUE(c.ok() && e.ok() && e2.ok());
  ASSERT_TRUE((*t)->PutEventSecret(*e, 1, all, 1).ok());
  ASSERT_TRUE((*t)->PutEventSecret(*e2, 1, Bytes{}, 1).ok());
  ASSERT_TRUE((*t)->InsertServiceKey(ServiceKey{"k", KeyVersion{1}, zeros, all, 1, 0}).ok());
  Reservation res = SampleReservation("r", *c);
  res.sealed_sa_key = all;
  auto r = (*t)->InsertReservation(res);
  ASSERT_TRUE(r.ok());
  AccessGrant g{0, *r, "bob", ClientId(), "list", 0, zeros, "", 1, 0};
  ASSERT_TRUE((*t)->InsertAccessGrant(g).ok());
  ASSERT_TRUE((*t)->Commit().ok());

  auto reader = OpenAgain();  // what another process reads back
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(*reader->GetEventSecret(*e, 1), all);
  auto empty = reader->GetEventSecret(*e2, 1);
  ASSERT_TRUE(empty.ok()) << "an empty blob is a value, not a missing row";
  EXPECT_TRUE(empty->empty());
  auto keys = reader->LoadServiceKeys("k");
  ASSERT_TRUE(keys.ok() && keys->size() == 1u);
  EXPECT_EQ((*keys)[0].sealed_secret, zeros);
  EXPECT_EQ((*keys)[0].public_key, all);
  EXPECT_EQ(reader->GetReservation(*r)->sealed_sa_key, all);
  auto grants = reader->LoadAccessGrants(*r);
  ASSERT_TRUE(grants.ok() && grants->size() == 1u);
  EXPECT_EQ((*grants)[0].sealed_credential, zeros);
}

TEST_P(StoreConformance, ReservationRowsRoundTrip) {
  auto t = store_->Begin();
  auto alice = (*t)->InsertClient(Client{ClientId(), "alice", "", true, "", 1, 1});
  auto bob = (*t)->InsertClient(Client{ClientId(), "bob", "", true, "", 1, 1});
  auto g = (*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1});
  ASSERT_TRUE(alice.ok() && bob.ok() && g.ok());
  // Names sort bytewise on every backend: upper case first, '-' before '_'.
  std::vector<ReservationId> ids;
  for (const char* name : {"a_2", "B", "a-1", "a"}) {
    auto r =
        (*t)->InsertReservation(SampleReservation(name, std::string(name) == "B" ? *bob : *alice));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.push_back(*r);
  }
  Reservation cancelled = SampleReservation("a-1", *alice);
  cancelled.id = ids[2];
  cancelled.status = ReservationStatus::kCancelled;
  cancelled.cancelled_at = cancelled.updated_at = 20;
  cancelled.version = 2;
  ASSERT_TRUE((*t)->UpdateReservation(cancelled).ok());
  ASSERT_TRUE((*t)->ReplaceReservationReceivers(ids[0], {{"zed", "h1"}, {"Amy", "h2"}}).ok());
  ASSERT_TRUE(
      (*t)->ReplaceReservationReceivers(ids[0], {{"zed", "h1"}, {"Amy", "h3"}, {"amy", "h4"}})
          .ok());
  ASSERT_TRUE((*t)->ReplaceReservationGroups(ids[0], {*g}).ok());
  ASSERT_TRUE((*t)->Commit().ok());

  auto names = [&](ClientId sender, bool active_only, const std::string& after, size_t limit) {
    std::vector<std::string> out;
    auto list = store_->ListReservations(sender, active_only, after, limit);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& r : *list) out.push_back(r.name);
    return out;
  };
  EXPECT_EQ(names(ClientId(), false, "", 10), (std::vector<std::string>{"B", "a", "a-1", "a_2"}));
  EXPECT_EQ(names(ClientId(), false, "a", 1), (std::vector<std::string>{"a-1"}));  // pages by name
  EXPECT_EQ(names(*alice, true, "", 10), (std::vector<std::string>{"a", "a_2"}));
  EXPECT_EQ(names(*bob, false, "", 10), (std::vector<std::string>{"B"}));

  auto found = store_->FindReservation("a-1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, ids[2]);
  EXPECT_EQ(found->status, ReservationStatus::kCancelled);
  EXPECT_EQ(found->version, 2u);
  EXPECT_EQ(found->spi.value, 0xdeadbeefu);
  EXPECT_EQ(found->schedule.rule->ToString(), "FREQ=DAILY;COUNT=3");
  EXPECT_EQ(store_->FindReservation("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetReservation(ReservationId(999)).status().code(), Code::kNotFound);
  auto receivers = store_->LoadReservationReceivers(ids[0]);
  ASSERT_TRUE(receivers.ok());
  ASSERT_EQ(receivers->size(), 3u);
  EXPECT_EQ((*receivers)[0].name, "Amy");
  EXPECT_EQ((*receivers)[0].password_hash, "h3");
  EXPECT_EQ((*receivers)[1].name, "amy");
  EXPECT_EQ(*store_->LoadReservationGroups(ids[0]), std::vector<GroupId>{*g});

  // One live grant per receiver; a revoked one makes room for the next.
  auto t2 = store_->Begin();
  AccessGrant grant{0, ids[0], "zed", ClientId(), "list", 0, Bytes{7}, "", 30, 0};
  auto first = (*t2)->InsertAccessGrant(grant);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*t2)->RevokeAccessGrant(*first, 31).ok());
  auto second = (*t2)->InsertAccessGrant(grant);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  LedgerEntry charge{0, ids[0], "zed", "charge", "pending", 250, "EUR", "idem",
                     0, "test", "",    "4242",   "fp",      "",  30,    30};
  auto charge_id = (*t2)->InsertLedgerEntry(charge);
  ASSERT_TRUE(charge_id.ok());
  charge.id = *charge_id;
  charge.status = "approved";
  charge.provider_ref = "ref-1";
  charge.updated_at = 32;
  ASSERT_TRUE((*t2)->UpdateLedgerEntry(charge).ok());
  LedgerEntry refund{0,          ids[0], "zed", "refund", "approved", -250, "EUR", "",
                     *charge_id, "test", "",    "",       "",         "",   33,    33};
  ASSERT_TRUE((*t2)->InsertLedgerEntry(refund).ok());
  ASSERT_TRUE((*t2)->Commit().ok());
  {
    auto t3 = store_->Begin();
    EXPECT_EQ((*t3)->InsertAccessGrant(grant).status().code(), Code::kAlreadyExists);
  }
  {
    auto t3 = store_->Begin();  // one refund per charge
    EXPECT_EQ((*t3)->InsertLedgerEntry(refund).status().code(), Code::kAlreadyExists);
  }
  auto grants = store_->LoadAccessGrants(ids[0]);
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 2u);
  EXPECT_EQ((*grants)[0].revoked_at, 31);
  EXPECT_EQ((*grants)[1].revoked_at, 0);
  auto ledger = store_->LoadLedger(ids[0]);
  ASSERT_TRUE(ledger.ok());
  ASSERT_EQ(ledger->size(), 2u);
  EXPECT_EQ((*ledger)[0].status, "approved");
  EXPECT_EQ((*ledger)[0].provider_ref, "ref-1");
  EXPECT_EQ((*ledger)[1].refund_of, *charge_id);
  EXPECT_EQ((*ledger)[1].idempotency_key, "");  // NULL in the table
  auto by_key = store_->FindLedgerEntry("idem");
  ASSERT_TRUE(by_key.ok());
  EXPECT_EQ(by_key->id, *charge_id);
  EXPECT_EQ(store_->FindLedgerEntry("other").status().code(), Code::kNotFound);
}

TEST_P(StoreConformance, AuditAndLedgerAreAppendOnly) {
  auto t = store_->Begin();
  auto c = (*t)->InsertClient(Client{ClientId(), "c", "", true, "", 1, 1});
  auto r = (*t)->InsertReservation(SampleReservation("r", *c));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*t)->InsertLedgerEntry(LedgerEntry{0, *r, "x", "charge", "approved", 1, "EUR", "k",
                                                  0, "test", "", "", "", "", 1, 1})
                  .ok());
  ASSERT_TRUE(
      (*t)->AppendAudit(AuditRecord{0, 7, "bootstrap", "client.create", "client:c", "{}"}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  auto conn = OpenConn();
  ASSERT_NE(conn, nullptr);
  EXPECT_FALSE(conn->Exec("UPDATE audit SET actor = 'mallory'").ok());
  EXPECT_FALSE(conn->Exec("DELETE FROM audit").ok());
  EXPECT_FALSE(conn->Exec("DELETE FROM ledger").ok());
  auto audit = store_->ReadAudit(0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].actor, "bootstrap");
  EXPECT_EQ(store_->LoadLedger(*r)->size(), 1u);
}

TEST_P(StoreConformance, MigrationsAreIdempotentAndDataPersists) {
  EXPECT_EQ(store_->Describe(), OpenConn()->Dialect() + " schema v5");
  auto t = store_->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "kept", "", 1, 1}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  store_.reset();
  store_ = OpenAgain();  // migrates again: nothing to do
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(GroupNames(store_.get()), Names{"kept"});
}

// Processes starting together against a new database: one migrates it,
// the others wait for the write lock and find it done.
TEST_P(StoreConformance, StoresOpenedTogetherOnANewDatabaseMigrateItOnce) {
  auto fresh = GetParam().create_database();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  constexpr int kOpeners = 4;
  std::vector<std::string> outcomes(kOpeners);
  std::vector<std::thread> openers;
  for (int i = 0; i < kOpeners; ++i)
    openers.emplace_back([&, i] {
      auto s = OpenStore(*fresh);
      outcomes[static_cast<size_t>(i)] = s.ok() ? (*s)->Describe() : s.status().ToString();
    });
  for (auto& t : openers) t.join();
  const std::string want = OpenConn()->Dialect() + " schema v5";
  for (const auto& o : outcomes) EXPECT_EQ(o, want);
  if (GetParam().drop_database) GetParam().drop_database(*fresh);
}

// A bulk load changes only how many pages stay in memory (SQLite; other
// backends ignore the scope): what it commits is there after a reopen, and
// ordinary transactions work during and after.
TEST_P(StoreConformance, BulkLoadScopeKeepsCommitsDurable) {
  {
    BulkLoadScope bulk(store_.get(), 64u << 20);
    for (int batch = 0; batch < 3; ++batch) {
      auto t = store_->Begin();
      ASSERT_TRUE(t.ok());
      for (int i = 0; i < 1000; ++i)
        ASSERT_TRUE(
            (*t)->InsertGroup(Group{GroupId(), "g" + std::to_string(batch * 1000 + i), "", 1, 1})
                .ok());
      ASSERT_TRUE((*t)->Commit().ok());
    }
  }
  auto t = store_->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "after", "", 1, 1}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  store_.reset();
  store_ = OpenAgain();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(GroupNames(store_.get()).size(), 3001u);
}

// Directory followers (--refresh-ms) learn of other processes' changes by
// watching LastAuditSeq.
TEST_P(StoreConformance, LastAuditSeqSeesAnotherConnectionsWrites) {
  auto other = OpenAgain();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(*store_->LastAuditSeq(), 0);
  auto t = other->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "from-other", "", 1, 1}).ok());
  auto seq =
      (*t)->AppendAudit(AuditRecord{0, 7, "admin:x", "group.create", "group:from-other", "{}"});
  ASSERT_TRUE(seq.ok());
  ASSERT_TRUE((*t)->Commit().ok());
  EXPECT_EQ(*store_->LastAuditSeq(), *seq);
  EXPECT_EQ(GroupNames(store_.get()), Names{"from-other"});
  auto t2 = store_->Begin();
  auto seq2 =
      (*t2)->AppendAudit(AuditRecord{0, 8, "admin:y", "group.update", "group:from-other", "{}"});
  ASSERT_TRUE(seq2.ok());
  ASSERT_TRUE((*t2)->Commit().ok());
  EXPECT_GT(*seq2, *seq);
  EXPECT_EQ(*other->LastAuditSeq(), *seq2);
  auto audit = other->ReadAudit(*seq, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].actor, "admin:y");
}

// LoadDirectory's read transaction: every statement sees the database as
// of its first, whatever commits meanwhile.
TEST_P(StoreConformance, ReadTransactionSeesOneSnapshot) {
  auto reader = OpenConn();
  ASSERT_NE(reader, nullptr);
  auto count = [&]() -> int64_t {
    auto s = reader->Prepare("SELECT COUNT(*) FROM dir_groups");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return -1;
    auto row = (*s)->Step();
    return row.ok() && *row ? (*s)->Int(0) : -1;
  };
  ASSERT_TRUE(reader->BeginRead().ok());
  EXPECT_EQ(count(), 0);
  auto t = store_->Begin();  // a writer is not held up by the reader
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "meanwhile", "", 1, 1}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  EXPECT_EQ(count(), 0) << "a read transaction saw a commit made after its first read";
  ASSERT_TRUE(reader->Exec("COMMIT").ok());
  EXPECT_EQ(count(), 1);
}

// The write lock is the database's, not the connection's: a second
// connection's Begin waits until the first commits, and then sees its rows.
TEST_P(StoreConformance, BeginWaitsForAnotherConnectionsWriteTransaction) {
  auto other = OpenAgain();
  ASSERT_NE(other, nullptr);
  auto first = store_->Begin();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->InsertGroup(Group{GroupId(), "contended", "", 1, 1}).ok());
  std::atomic<bool> began{false};
  Status second_insert;
  std::thread writer([&] {
    auto t = other->Begin();
    began = true;
    if (!t.ok()) {
      second_insert = t.status();
      return;
    }
    second_insert = (*t)->InsertGroup(Group{GroupId(), "contended", "", 2, 2}).status();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(began.load()) << "a second writer began while the first held the write lock";
  ASSERT_TRUE((*first)->Commit().ok());
  writer.join();
  EXPECT_TRUE(began.load());
  // Its statements ran after the commit: the name is taken.
  EXPECT_EQ(second_insert.code(), Code::kAlreadyExists) << second_insert.ToString();
}

// Two processes writing at once (here two connections on two threads)
// serialise: no write fails, and read-then-write steps such as sender id
// allocation never hand out one id twice.
TEST_P(StoreConformance, ConcurrentWritersOnTwoConnectionsSerialise) {
  auto other = OpenAgain();
  ASSERT_NE(other, nullptr);
  ClientId client;
  EventId event;
  {
    auto t = store_->Begin();
    auto c = (*t)->InsertClient(Client{ClientId(), "c", "", true, "", 1, 1});
    auto e = (*t)->InsertEvent(SampleEvent("e"));
    ASSERT_TRUE(c.ok() && e.ok());
    client = *c;
    event = *e;
    ASSERT_TRUE((*t)->Commit().ok());
  }
  constexpr int kRounds = 40;
  std::vector<uint32_t> ids[2];
  std::vector<std::string> errors[2];
  auto run = [&](Store* s, int w) {
    for (int i = 0; i < kRounds; ++i) {
      auto id = s->AllocateSenderId(event, client, i);
      if (!id.ok())
        errors[w].push_back(id.status().ToString());
      else
        ids[w].push_back(id->value);
      auto t = s->Begin();
      if (!t.ok()) {
        errors[w].push_back(t.status().ToString());
        continue;
      }
      std::string name = "w" + std::to_string(w) + "-" + std::to_string(i);
      Status st = (*t)->InsertGroup(Group{GroupId(), name, "", i, i}).status();
      if (st.ok())
        st = (*t)->AppendAudit(AuditRecord{0, i, "w", "group.create", "group:" + name, "{}"})
                 .status();
      if (st.ok()) st = (*t)->Commit();
      if (!st.ok()) errors[w].push_back(st.ToString());
    }
  };
  std::thread a(run, store_.get(), 0), b(run, other.get(), 1);
  a.join();
  b.join();
  for (const auto& e : errors)
    EXPECT_TRUE(e.empty()) << e.size() << " writes failed; the first: " << e.front();
  std::set<uint32_t> all(ids[0].begin(), ids[0].end());
  all.insert(ids[1].begin(), ids[1].end());
  EXPECT_EQ(all.size(), 2u * kRounds) << "a sender id was handed out twice";
  EXPECT_EQ(*all.rbegin(), 2u * kRounds);
  EXPECT_EQ(GroupNames(store_.get()).size(), 2u * kRounds);
  auto audit = other->ReadAudit(0, 1000);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u * kRounds);
  EXPECT_TRUE(
      std::is_sorted(audit->begin(), audit->end(),
                     [](const AuditRecord& x, const AuditRecord& y) { return x.seq < y.seq; }));
  EXPECT_EQ(*store_->LastAuditSeq(), audit->back().seq);
}

}  // namespace
}  // namespace keycast
