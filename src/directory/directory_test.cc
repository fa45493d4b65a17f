#include "keycast/directory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "keycast/crypto.h"
#include "keycast/fault_store.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(":memory:");
    ASSERT_TRUE(s.ok());
    fault_ = new FaultInjectingStore(std::move(s).value());
    store_.reset(fault_);
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    Reopen();
  }
  void Reopen() {
    dir_.reset();
    auto d = Directory::Open(store_.get(), sealer_.get(), &clock_,
                             DirectoryOptions{PasswordCost::kTestOnly});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dir_ = std::move(d).value();
  }
  void Group(const std::string& n) { ASSERT_TRUE(dir_->CreateGroup(kAdmin, {n, ""}).ok()) << n; }
  void Edge(const std::string& p, const std::string& c) {
    Status st = dir_->AddEdge(kAdmin, p, c);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void Client(const std::string& n, std::optional<std::string> pw = std::nullopt) {
    ClientSpec s;
    s.name = n;
    s.password = pw;
    auto r = dir_->CreateClient(kAdmin, s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  EventSpec Spec(const std::string& n) {
    EventSpec e;
    e.name = n;
    e.title = "Event " + n;
    e.group_address = *IpAddress::Parse("239.0.0.1");
    e.port = 5000;
    e.schedule.start = 1'900'000'000;
    e.schedule.duration = 3600;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7000")};
    return e;
  }
  void Event(const std::string& n, const std::string& group) {
    auto r = dir_->CreateEvent(kAdmin, Spec(n));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, n, group).ok());
  }
  void Member(const std::string& c, const std::string& g, Role r = Role::kReceiver) {
    ASSERT_TRUE(dir_->SetMembership(kAdmin, c, g, r, true).ok());
  }
  // event name -> role
  std::map<std::string, Role> Events(const std::string& client) {
    auto id = dir_->FindClient(client);
    EXPECT_TRUE(id.has_value());
    auto s = dir_->Summarize(*id);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    std::map<std::string, Role> out;
    if (!s.ok()) return out;
    for (auto& e : s->events) {
      EXPECT_EQ(out.count(e.event->name), 0u) << "event listed twice: " << e.event->name;
      out[e.event->name] = e.role;
    }
    return out;
  }
  EventId EventIdOf(const std::string& n) { return dir_->GetEvent(n)->event->id; }

  FakeClock clock_{1'800'000'000LL * kMicrosPerSecond};
  FaultInjectingStore* fault_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
};

// Seed 001 Figure 3: C7 in G6 gets E7, E8 (G6), E5 (G4) and E1 (G1).
TEST_F(DirectoryTest, Figure3Shape) {
  for (auto g : {"G1", "G2", "G3", "G4", "G5", "G6"}) Group(g);
  Edge("G1", "G2");
  Edge("G1", "G3");
  Edge("G1", "G4");
  Edge("G2", "G5");
  Edge("G4", "G6");
  Event("E1", "G1");
  Event("E2", "G2");
  Event("E3", "G3");
  Event("E4", "G5");
  Event("E5", "G4");
  Event("E6", "G5");
  Event("E7", "G6");
  Event("E8", "G6");
  Client("C1");
  Client("C7");
  Member("C1", "G1", Role::kSender);
  Member("C7", "G6");
  auto ev = Events("C7");
  EXPECT_EQ(ev, (std::map<std::string, Role>{{"E1", Role::kReceiver},
                                             {"E5", Role::kReceiver},
                                             {"E7", Role::kReceiver},
                                             {"E8", Role::kReceiver}}));
  EXPECT_EQ(Events("C1"), (std::map<std::string, Role>{{"E1", Role::kSender}}));
  auto c7 = *dir_->FindClient("C7");
  EXPECT_TRUE(dir_->IsAuthorized(c7, EventIdOf("E1"), Role::kReceiver));
  EXPECT_FALSE(dir_->IsAuthorized(c7, EventIdOf("E1"), Role::kSender));
  EXPECT_FALSE(dir_->IsAuthorized(c7, EventIdOf("E2"), Role::kReceiver));
  // The summary survives a restart from the store.
  Reopen();
  EXPECT_EQ(Events("C7").size(), 4u);
}

TEST_F(DirectoryTest, DiamondListsEachEventOnceAndSenderWinsOnAnyPath) {
  for (auto g : {"A", "B", "C", "D", "S"}) Group(g);
  Edge("A", "B");
  Edge("A", "C");
  Edge("B", "D");
  Edge("C", "D");
  Edge("S", "B");  // a second parent
  Event("ea", "A");
  Event("eb", "B");
  Event("es", "S");
  Client("x");
  Member("x", "D");
  EXPECT_EQ(Events("x"),
            (std::map<std::string, Role>{
                {"ea", Role::kReceiver}, {"eb", Role::kReceiver}, {"es", Role::kReceiver}}));
  // Membership in C as sender: ea is reachable both ways; sender wins for ea
  // only (eb, es are not above C).
  Member("x", "C", Role::kSender);
  EXPECT_EQ(Events("x"),
            (std::map<std::string, Role>{
                {"ea", Role::kSender}, {"eb", Role::kReceiver}, {"es", Role::kReceiver}}));
  auto x = *dir_->FindClient("x");
  EXPECT_TRUE(dir_->IsAuthorized(x, EventIdOf("ea"), Role::kSender));
  EXPECT_FALSE(dir_->IsAuthorized(x, EventIdOf("eb"), Role::kSender));
  EXPECT_TRUE(dir_->IsAuthorized(x, EventIdOf("ea"), Role::kReceiver));  // a sender may receive
}

TEST_F(DirectoryTest, CycleIsRefusedNamingItAndNothingIsStored) {
  for (auto g : {"g1", "g2", "g3"}) Group(g);
  Edge("g1", "g2");
  Edge("g2", "g3");
  auto audit_before = store_->ReadAudit(0, 1000)->size();
  Status st = dir_->AddEdge(kAdmin, "g3", "g1");
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message(), "edge g3 -> g1 would close the cycle g3 -> g1 -> g2 -> g3");
  Status self = dir_->AddEdge(kAdmin, "g2", "g2");
  EXPECT_EQ(self.code(), Code::kFailedPrecondition);
  EXPECT_NE(self.message().find("g2 -> g2"), std::string::npos);
  EXPECT_EQ(dir_->ListEdges().size(), 2u);
  EXPECT_EQ(store_->ReadAudit(0, 1000)->size(), audit_before);
  Reopen();
  EXPECT_EQ(dir_->ListEdges().size(), 2u);
  EXPECT_EQ(dir_->AddEdge(kAdmin, "g1", "g2").code(), Code::kAlreadyExists);
}

TEST_F(DirectoryTest, RevocationPathsRemoveEvents) {
  Group("g");
  Group("p");
  Edge("p", "g");
  Event("e", "p");
  Client("c");
  Member("c", "g");
  auto c = *dir_->FindClient("c");
  EventId e = EventIdOf("e");
  ASSERT_TRUE(dir_->IsAuthorized(c, e, Role::kReceiver));
  // Removing the edge cuts the inherited event.
  ASSERT_TRUE(dir_->RemoveEdge(kAdmin, "p", "g").ok());
  EXPECT_FALSE(dir_->IsAuthorized(c, e, Role::kReceiver));
  EXPECT_TRUE(Events("c").empty());
  Edge("p", "g");
  ASSERT_TRUE(dir_->IsAuthorized(c, e, Role::kReceiver));
  // Removing the membership.
  ASSERT_TRUE(dir_->RemoveMembership(kAdmin, "c", "g").ok());
  EXPECT_FALSE(dir_->IsAuthorized(c, e, Role::kReceiver));
  Member("c", "g");
  // Disabling the client.
  ClientPatch off;
  off.enabled = false;
  ASSERT_TRUE(dir_->UpdateClient(kAdmin, "c", off).ok());
  EXPECT_FALSE(dir_->IsAuthorized(c, e, Role::kReceiver));
  EXPECT_EQ(dir_->Summarize(c).status().code(), Code::kFailedPrecondition);
  ClientPatch on;
  on.enabled = true;
  ASSERT_TRUE(dir_->UpdateClient(kAdmin, "c", on).ok());
  // Deleting the event.
  ASSERT_TRUE(dir_->DeleteEvent(kAdmin, "e").ok());
  EXPECT_FALSE(dir_->IsAuthorized(c, e, Role::kReceiver));
  EXPECT_TRUE(Events("c").empty());
  EXPECT_EQ(store_->GetEventSecret(e, 1).status().code(), Code::kNotFound);
}

TEST_F(DirectoryTest, DeletingAGroupCascades) {
  Group("p");
  Group("g");
  Edge("p", "g");
  Event("e", "p");
  Client("c");
  Member("c", "g");
  ASSERT_TRUE(dir_->DeleteGroup(kAdmin, "p").ok());
  EXPECT_TRUE(Events("c").empty());
  EXPECT_TRUE(dir_->ListEdges().empty());
  EXPECT_TRUE(dir_->GetEvent("e")->groups.empty());
  Reopen();
  EXPECT_TRUE(dir_->ListEdges().empty());
  EXPECT_EQ(dir_->counts().assignments, 0u);
}

TEST_F(DirectoryTest, EventSecretIsSealedAtRest) {
  Group("g");
  Event("e", "g");
  EventId id = EventIdOf("e");
  auto sealed = store_->GetEventSecret(id, 1);
  ASSERT_TRUE(sealed.ok());
  auto open = sealer_->Open("event-secret", "event:" + std::to_string(id.value), *sealed);
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->size(), 32u);
  std::string hay(sealed->begin(), sealed->end());
  std::string needle(open->reveal().begin(), open->reveal().end());
  EXPECT_EQ(hay.find(needle), std::string::npos);
}

TEST_F(DirectoryTest, FailedCommitLeavesMemoryUntouched) {
  fault_->FailNextCommits(1);
  auto r = dir_->CreateGroup(kAdmin, {"g", ""});
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(dir_->GetGroup("g").status().code(), Code::kNotFound);
  Group("g");
  Group("h");
  fault_->FailNextCommits(1);
  EXPECT_FALSE(dir_->AddEdge(kAdmin, "g", "h").ok());
  EXPECT_TRUE(dir_->ListEdges().empty());
  fault_->FailNextBegins(1);
  EXPECT_FALSE(dir_->DeleteGroup(kAdmin, "g").ok());
  EXPECT_TRUE(dir_->GetGroup("g").ok());
}

TEST_F(DirectoryTest, EveryChangeIsAudited) {
  Group("g");
  Client("c");
  Member("c", "g");
  auto audit = store_->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ((*audit)[0].action, "group.create");
  EXPECT_EQ((*audit)[1].action, "client.create");
  EXPECT_EQ((*audit)[2].action, "membership.create");
  EXPECT_EQ((*audit)[2].actor, "admin:test");
  EXPECT_EQ((*audit)[2].target, "membership:c@g");
}

TEST_F(DirectoryTest, PasswordIsHashedAndChecked) {
  Client("alice", "correct horse battery");
  LoginOrigin o;
  auto ok = dir_->AuthenticatePassword("alice", "correct horse battery", &o);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "alice");
  EXPECT_EQ(dir_->AuthenticatePassword("alice", "wrong password", &o).status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(dir_->AuthenticatePassword("nobody", "x", &o).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(dir_->GetClient("alice")->client.password_hash, "set");  // never exposed
  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  EXPECT_EQ(d.clients[0].password_hash.rfind("$argon2id$", 0), 0u);
  ClientPatch off;
  off.enabled = false;
  ASSERT_TRUE(dir_->UpdateClient(kAdmin, "alice", off).ok());
  EXPECT_EQ(dir_->AuthenticatePassword("alice", "correct horse battery", &o).status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(
      dir_->CreateClient(kAdmin, ClientSpec{"bob", "", std::string("short"), true}).status().code(),
      Code::kInvalidArgument);
}

TEST_F(DirectoryTest, ApiKeysAuthenticateUntilRevoked) {
  Client("robot");
  auto tok = dir_->CreateApiKey(kAdmin, "robot", "ingest");
  ASSERT_TRUE(tok.ok());
  auto who = dir_->AuthenticateApiKey(tok->Encode());
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "robot");
  Token forged = *tok;
  forged.secret[5] = forged.secret[5] == '0' ? '1' : '0';
  EXPECT_FALSE(dir_->AuthenticateApiKey(forged.Encode()).ok());
  ASSERT_TRUE(dir_->RevokeApiKey(kAdmin, "robot", tok->id).ok());
  auto revoked = dir_->AuthenticateApiKey(tok->Encode());
  EXPECT_EQ(revoked.status().code(), Code::kUnauthenticated);
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);
  Reopen();
  EXPECT_FALSE(dir_->AuthenticateApiKey(tok->Encode()).ok());
}

TEST_F(DirectoryTest, AdminTokens) {
  EXPECT_FALSE(dir_->HasAdminTokens());
  auto tok = dir_->CreateAdminToken(Actor{"bootstrap"}, "root");
  ASSERT_TRUE(tok.ok());
  EXPECT_TRUE(dir_->HasAdminTokens());
  auto a = dir_->AuthenticateAdmin(tok->Encode());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "admin:" + tok->id);
  EXPECT_FALSE(dir_->AuthenticateAdmin("kct_0000000000000000_" + std::string(64, '0')).ok());
  ASSERT_TRUE(dir_->RevokeAdminToken(kAdmin, tok->id).ok());
  EXPECT_FALSE(dir_->AuthenticateAdmin(tok->Encode()).ok());
}

TEST_F(DirectoryTest, ValidationRefusesBadInputAndWritesNothing) {
  EXPECT_EQ(dir_->CreateGroup(kAdmin, {"", ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(dir_->CreateGroup(kAdmin, {std::string(65, 'a'), ""}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(dir_->CreateGroup(kAdmin, {"has space", ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(dir_->CreateGroup(kAdmin, {"-dash", ""}).status().code(), Code::kInvalidArgument);
  EventSpec bad = Spec("e");
  bad.group_address = *IpAddress::Parse("10.0.0.1");
  auto r = dir_->CreateEvent(kAdmin, bad);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a multicast address"), std::string::npos);
  bad = Spec("e");
  bad.key_servers.clear();
  EXPECT_EQ(dir_->CreateEvent(kAdmin, bad).status().code(), Code::kInvalidArgument);
  bad = Spec("e");
  bad.sender = "ghost";
  EXPECT_EQ(dir_->CreateEvent(kAdmin, bad).status().code(), Code::kNotFound);
  bad = Spec("e");
  bad.interval_seconds = 0;
  EXPECT_EQ(dir_->CreateEvent(kAdmin, bad).status().code(), Code::kInvalidArgument);
  bad = Spec("e");
  bad.source_address = *IpAddress::Parse("::1");
  EXPECT_EQ(dir_->CreateEvent(kAdmin, bad).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(dir_->AddAssignment(kAdmin, "nope", "nope").code(), Code::kNotFound);
  EXPECT_EQ(dir_->SetMembership(kAdmin, "nope", "nope", Role::kReceiver, true).code(),
            Code::kNotFound);
  EXPECT_EQ(store_->ReadAudit(0, 100)->size(), 0u);
  auto c = dir_->counts();
  EXPECT_EQ(c.groups + c.events + c.clients, 0u);
}

TEST_F(DirectoryTest, UpdatesBumpEventVersionAndRename) {
  Group("g");
  Event("e", "g");
  EXPECT_EQ(dir_->GetEvent("e")->event->version, 1u);
  EventPatch p;
  p.title = "New title";
  p.name = "e2";
  auto r = dir_->UpdateEvent(kAdmin, "e", p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->event->version, 2u);
  EXPECT_EQ(dir_->GetEvent("e").status().code(), Code::kNotFound);
  EXPECT_EQ(dir_->GetEvent("e2")->event->title, "New title");
  EXPECT_EQ(dir_->GetEvent("e2")->groups, std::vector<std::string>{"g"});
  Reopen();
  EXPECT_EQ(dir_->GetEvent("e2")->event->version, 2u);
}

TEST_F(DirectoryTest, SourceAuthenticationIsAnEventOptionForPullDelivery) {
  Group("g");
  Event("e", "g");
  EXPECT_FALSE(dir_->GetEvent("e")->event->source_auth);
  EventPatch on;
  on.source_auth = true;
  auto r = dir_->UpdateEvent(kAdmin, "e", on);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->event->source_auth);
  // Pushed keys carry no sender keys: push and both are refused, with the
  // reason, and nothing changes.
  EventPatch push;
  push.delivery = KeyDelivery::kPush;
  auto refused = dir_->UpdateEvent(kAdmin, "e", push);
  ASSERT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("source_auth needs delivery pull"), std::string::npos);
  EXPECT_EQ(dir_->GetEvent("e")->event->delivery, KeyDelivery::kPull);
  Reopen();
  EXPECT_TRUE(dir_->GetEvent("e")->event->source_auth);
  EXPECT_EQ(dir_->GetEvent("e")->event->version, 2u);
}

TEST_F(DirectoryTest, AuthorizedClientsFollowsTheDag) {
  for (auto g : {"root", "a", "b"}) Group(g);
  Edge("root", "a");
  Edge("root", "b");
  Event("e", "root");
  Event("eb", "b");
  for (auto c : {"c1", "c2", "c3"}) Client(c);
  Member("c1", "a");
  Member("c2", "b");
  Member("c3", "root");
  EXPECT_EQ(dir_->AuthorizedClients(EventIdOf("e")).size(), 3u);
  auto only_b = dir_->AuthorizedClients(EventIdOf("eb"));
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0], *dir_->FindClient("c2"));
}

TEST_F(DirectoryTest, WaitForChangeWakesOnAChange) {
  uint64_t g0 = dir_->generation();
  std::thread t([&] { Group("late"); });
  uint64_t g1 =
      dir_->WaitForChange(g0, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  t.join();
  EXPECT_NE(g1, g0);
  // No change: returns at the deadline with the same generation.
  uint64_t g2 = dir_->WaitForChange(
      dir_->generation(), std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
  EXPECT_EQ(g2, dir_->generation());
}

TEST_F(DirectoryTest, DeletingASenderClientKeepsItsEvents) {
  Client("s");
  Group("g");
  EventSpec e = Spec("e");
  e.sender = "s";
  ASSERT_TRUE(dir_->CreateEvent(kAdmin, e).ok());
  EXPECT_EQ(dir_->GetEvent("e")->sender_name, "s");
  ASSERT_TRUE(dir_->DeleteClient(kAdmin, "s").ok());
  EXPECT_EQ(dir_->GetEvent("e")->sender_name, "");
  Reopen();
  EXPECT_FALSE(dir_->GetEvent("e")->event->sender.valid());
}

}  // namespace
}  // namespace keycast

namespace keycast {
namespace {

// Two directories over one store, as two processes sharing a database: a
// change made through one reaches the other on Refresh.
TEST(DirectoryFollower, RefreshPicksUpChangesMadeElsewhere) {
  std::string path = ::testing::TempDir() + "/follow-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  auto s1 = std::move(OpenSqliteStore(path)).value();
  auto s2 = std::move(OpenSqliteStore(path)).value();
  Sealer sealer = *Sealer::FromKey(crypto::RandomSecret(32));
  FakeClock clock(1'800'000'000LL * kMicrosPerSecond);
  auto writer =
      std::move(Directory::Open(s1.get(), &sealer, &clock, {PasswordCost::kTestOnly})).value();
  auto follower =
      std::move(Directory::Open(s2.get(), &sealer, &clock, {PasswordCost::kTestOnly})).value();
  const Actor a{"admin:test"};
  ASSERT_TRUE(writer->CreateGroup(a, {"g", ""}).ok());
  ASSERT_TRUE(writer->CreateClient(a, ClientSpec{"c", "", std::nullopt, true}).ok());
  ASSERT_TRUE(writer->SetMembership(a, "c", "g", Role::kReceiver, true).ok());
  EventSpec e;
  e.name = "e";
  e.title = "E";
  e.group_address = *IpAddress::Parse("239.0.0.9");
  e.port = 1;
  e.schedule.start = 1'900'000'000;
  e.schedule.duration = 60;
  e.key_servers = {*Endpoint::Parse("127.0.0.1:1")};
  ASSERT_TRUE(writer->CreateEvent(a, e).ok());
  ASSERT_TRUE(writer->AddAssignment(a, "e", "g").ok());
  EXPECT_FALSE(follower->FindClient("c").has_value());
  uint64_t gen = follower->generation();
  auto r = follower->Refresh();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_NE(follower->generation(), gen);
  auto c = *follower->FindClient("c");
  EventId ev = follower->GetEvent("e")->event->id;
  EXPECT_TRUE(follower->IsAuthorized(c, ev, Role::kReceiver));
  EXPECT_FALSE(*follower->Refresh());  // nothing new: no reload
  // A revocation made by the writer is live at the follower after Refresh.
  ASSERT_TRUE(writer->RemoveMembership(a, "c", "g").ok());
  ASSERT_TRUE(*follower->Refresh());
  EXPECT_FALSE(follower->IsAuthorized(c, ev, Role::kReceiver));
  // The writer does not reload its own changes.
  EXPECT_FALSE(*writer->Refresh());
  std::remove(path.c_str());
}

// ---- key generations (docs/key-protocol.md, "Generations")

TEST_F(DirectoryTest, RekeyStartsANewGenerationDurablyAndAudited) {
  Group("g");
  Event("e", "g");
  EXPECT_EQ(dir_->GetEvent("e")->event->keys, EventKeyState{});
  // No members yet: rekeyed all the same, and the result says so.
  auto r = dir_->RekeyEvent(kAdmin, "e");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->members, 0u);
  const EventKeyState& k = r->event->keys;
  EXPECT_EQ(k.generation, (KeyGeneration{2, 1}));
  EXPECT_EQ(k.secret_version, 1u);
  EXPECT_EQ(k.activates_at, clock_.Now() + 2000 * 1000) << "the default lead";
  EXPECT_EQ(k.previous, (KeyGeneration{1, 1}));
  EXPECT_EQ(k.previous_secret_version, 1u);
  Client("c");
  Member("c", "g");
  clock_.Advance(5 * kMicrosPerSecond);
  r = dir_->RekeyEvent(kAdmin, "e");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->members, 1u);
  EXPECT_EQ(r->event->keys.generation, (KeyGeneration{3, 1}));
  EXPECT_EQ(r->event->keys.previous, (KeyGeneration{2, 1}));
  EXPECT_EQ(dir_->RekeyEvent(kAdmin, "nope").status().code(), Code::kNotFound);

  auto audit = store_->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  int rekeys = 0;
  for (const auto& a : *audit)
    if (a.action == "event.rekey") {
      ++rekeys;
      EXPECT_EQ(a.target, "event:e");
      EXPECT_NE(a.detail.find("\"generation\""), std::string::npos) << a.detail;
    }
  EXPECT_EQ(rekeys, 2);
  Reopen();
  EXPECT_EQ(dir_->GetEvent("e")->event->keys, r->event->keys) << "durable";
}

TEST_F(DirectoryTest, FailedRekeyChangesNothing) {
  Group("g");
  Event("e", "g");
  fault_->FailNextCommits(1);
  EXPECT_FALSE(dir_->RekeyEvent(kAdmin, "e").ok());
  EXPECT_EQ(dir_->GetEvent("e")->event->keys, EventKeyState{});
  fault_->FailNextCommits(1);
  EXPECT_FALSE(dir_->RotateEventSecret(kAdmin, "e").ok());
  Reopen();
  EXPECT_EQ(dir_->GetEvent("e")->event->keys, EventKeyState{});
  auto secrets = dir_->ListEventSecrets("e");
  ASSERT_TRUE(secrets.ok());
  EXPECT_EQ(secrets->size(), 1u) << "a failed rotation leaves no secret behind";
}

TEST_F(DirectoryTest, RotateSecretCountsVersionsAndRetiresTheOldAfterGrace) {
  Group("g");
  Event("e", "g");
  EventId id = EventIdOf("e");
  auto r = dir_->RotateEventSecret(kAdmin, "e");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->event->keys.secret_version, 2u);
  EXPECT_EQ(r->event->keys.previous_secret_version, 1u);
  EXPECT_EQ(r->event->keys.generation, (KeyGeneration{2, 1}));
  // The new secret is sealed at rest, bound to its event and version.
  auto sealed = store_->GetEventSecret(id, 2);
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(sealer_->Open(kEventSecretPurpose, EventSecretRecord(id, 2), *sealed).ok());
  EXPECT_FALSE(sealer_->Open(kEventSecretPurpose, EventSecretRecord(id, 1), *sealed).ok());
  auto one =
      sealer_->Open(kEventSecretPurpose, EventSecretRecord(id, 1), *store_->GetEventSecret(id, 1));
  auto two = sealer_->Open(kEventSecretPurpose, EventSecretRecord(id, 2), *sealed);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_FALSE(*one == *two) << "a fresh secret";

  // The old secret stays while key services may still derive from it.
  auto n = dir_->RetireOldSecrets(60);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(store_->GetEventSecret(id, 1).ok());
  clock_.Advance(63 * kMicrosPerSecond);  // lead 2 s + grace 60 s, and a second
  n = dir_->RetireOldSecrets(60);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(store_->GetEventSecret(id, 1).status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetEventSecret(id, 2).ok());
  EXPECT_EQ(*dir_->RetireOldSecrets(60), 0u) << "retiring again changes nothing";
  auto list = dir_->ListEventSecrets("e");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_NE((*list)[0].retired_at, 0);
  EXPECT_EQ((*list)[1].retired_at, 0);
  auto audit = store_->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->back().action, "event.secret_retire");
  EXPECT_EQ(audit->back().actor, "system");
}

// Bad input: a rotation while the previous change is still pending (a push
// of it may be under way) supersedes it; the pending secret never came into
// force, so it is erased at once, and the previous state stays the one that
// was in force.
TEST_F(DirectoryTest, RotationDuringAPendingChangeSupersedesIt) {
  Group("g");
  Event("e", "g");
  EventId id = EventIdOf("e");
  ASSERT_TRUE(dir_->RotateEventSecret(kAdmin, "e").ok());
  auto r = dir_->RotateEventSecret(kAdmin, "e");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->secrets_retired, 1);
  EXPECT_EQ(r->event->keys.secret_version, 3u);
  EXPECT_EQ(r->event->keys.generation, (KeyGeneration{3, 1}));
  EXPECT_EQ(r->event->keys.previous_secret_version, 1u);
  EXPECT_EQ(r->event->keys.previous, (KeyGeneration{1, 1}));
  EXPECT_EQ(store_->GetEventSecret(id, 2).status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetEventSecret(id, 1).ok());
  EXPECT_TRUE(store_->GetEventSecret(id, 3).ok());
}

// An edit of the schedule or interval length (even mid-interval) gives the
// event a new schedule version; other edits leave the keys alone.
TEST_F(DirectoryTest, ScheduleEditsBumpTheScheduleVersion) {
  Group("g");
  Event("e", "g");
  EventPatch title;
  title.title = "Renamed";
  auto r = dir_->UpdateEvent(kAdmin, "e", title);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event->keys, EventKeyState{});
  EventPatch interval;
  interval.interval_seconds = 120;
  r = dir_->UpdateEvent(kAdmin, "e", interval);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->event->keys.generation, (KeyGeneration{1, 2}));
  EXPECT_EQ(r->event->keys.previous, (KeyGeneration{1, 1}));
  EXPECT_EQ(r->event->keys.activates_at, clock_.Now()) << "the new schedule is in force at once";
  clock_.Advance(10 * kMicrosPerSecond);
  EventPatch sched;
  Schedule s = r->event->schedule;
  s.duration += 600;
  sched.schedule = s;
  r = dir_->UpdateEvent(kAdmin, "e", sched);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->event->keys.generation, (KeyGeneration{1, 3}));
  Reopen();
  EXPECT_EQ(dir_->GetEvent("e")->event->keys.generation, (KeyGeneration{1, 3}));
}

}  // namespace
}  // namespace keycast
