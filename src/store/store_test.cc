#include "keycast/store.h"

#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "keycast/fault_store.h"
#include "store/bulk.h"

namespace keycast {
namespace {

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
  return e;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(":memory:");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, RoundTripsEveryRecordKind) {
  auto t = store_->Begin();
  ASSERT_TRUE(t.ok());
  auto c = (*t)->InsertClient(Client{ClientId(), "alice", "desc", true, "$argon2id$x", 1, 2});
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
  ASSERT_TRUE((*t)->PutEventSecret(*e, Bytes{1, 2, 3}).ok());
  ASSERT_TRUE((*t)->InsertServiceKey(ServiceKey{"ticket-signing", KeyVersion{1}, Bytes{9}, Bytes{8}, 3, 0}).ok());
  ASSERT_TRUE((*t)->AppendAudit(AuditRecord{0, 7, "bootstrap", "client.create", "client:alice", "{}"}).ok());
  ASSERT_TRUE((*t)->Commit().ok());

  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  ASSERT_EQ(d.clients.size(), 1u);
  EXPECT_EQ(d.clients[0].name, "alice");
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
  ASSERT_EQ(d.memberships.size(), 1u);
  EXPECT_EQ(d.memberships[0].role, Role::kSender);
  EXPECT_EQ(d.edges.size(), 1u);
  EXPECT_EQ(d.assignments.size(), 1u);
  EXPECT_EQ(d.api_keys.size(), 1u);
  auto sec = store_->GetEventSecret(*e);
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

TEST_F(StoreTest, SenderIdsAreAllocatedOnceAndRemembered) {
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

TEST_F(StoreTest, UniqueNameIsAlreadyExists) {
  auto t = store_->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1}).ok());
  auto dup = (*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1});
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  // A transaction that saw an error refuses to commit.
  EXPECT_FALSE((*t)->Commit().ok());
}

TEST_F(StoreTest, UncommittedTransactionRollsBack) {
  {
    auto t = store_->Begin();
    ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1}).ok());
  }
  DirectoryData d;
  ASSERT_TRUE(store_->LoadDirectory(&d).ok());
  EXPECT_TRUE(d.groups.empty());
}

TEST_F(StoreTest, DeleteGroupCascades) {
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

TEST_F(StoreTest, MissingRowsAreNotFound) {
  auto t = store_->Begin();
  EXPECT_EQ((*t)->DeleteClient(ClientId(42)).code(), Code::kNotFound);
  EXPECT_EQ((*t)->DeleteEdge(Edge{GroupId(1), GroupId(2)}).code(), Code::kNotFound);
}

TEST_F(StoreTest, ForeignKeyViolationIsRefused) {
  auto t = store_->Begin();
  EXPECT_EQ((*t)->InsertEdge(Edge{GroupId(1), GroupId(2)}).code(), Code::kFailedPrecondition);
}

TEST(StoreFile, MigrationsAreIdempotentAndDataPersists) {
  std::string path = ::testing::TempDir() + "/store-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->Describe(), "sqlite schema v3");
    auto t = (*s)->Begin();
    ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "kept", "", 1, 1}).ok());
    ASSERT_TRUE((*t)->Commit().ok());
  }
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s.ok());
    DirectoryData d;
    ASSERT_TRUE((*s)->LoadDirectory(&d).ok());
    ASSERT_EQ(d.groups.size(), 1u);
    EXPECT_EQ(d.groups[0].name, "kept");
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
}

// A bulk load changes only how many pages stay in memory: what it commits
// is there after a reopen, and ordinary transactions work during and after.
TEST(StoreFile, BulkLoadScopeKeepsCommitsDurable) {
  std::string path = ::testing::TempDir() + "/store-bulk-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    {
      BulkLoadScope bulk(s->get(), 64u << 20);
      for (int batch = 0; batch < 3; ++batch) {
        auto t = (*s)->Begin();
        ASSERT_TRUE(t.ok());
        for (int i = 0; i < 1000; ++i)
          ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g" + std::to_string(batch * 1000 + i), "", 1, 1}).ok());
        ASSERT_TRUE((*t)->Commit().ok());
      }
    }
    auto t = (*s)->Begin();
    ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "after", "", 1, 1}).ok());
    ASSERT_TRUE((*t)->Commit().ok());
  }
  {
    auto s = OpenSqliteStore(path);
    ASSERT_TRUE(s.ok());
    DirectoryData d;
    ASSERT_TRUE((*s)->LoadDirectory(&d).ok());
    EXPECT_EQ(d.groups.size(), 3001u);
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  // Other backends ignore the scope.
  FaultInjectingStore fs(std::move(OpenSqliteStore(":memory:")).value());
  BulkLoadScope ignored(&fs, 1u << 20);
  EXPECT_TRUE(fs.Begin().ok());
}

TEST(FaultStore, InjectedCommitFailureRollsBack) {
  auto inner = OpenSqliteStore(":memory:");
  FaultInjectingStore fs(std::move(inner).value());
  fs.FailNextCommits(1);
  {
    auto t = fs.Begin();
    ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "g", "", 1, 1}).ok());
    EXPECT_EQ((*t)->Commit().code(), Code::kUnavailable);
  }
  DirectoryData d;
  ASSERT_TRUE(fs.LoadDirectory(&d).ok());
  EXPECT_TRUE(d.groups.empty());
  fs.FailNextBegins(1);
  EXPECT_FALSE(fs.Begin().ok());
  EXPECT_TRUE(fs.Begin().ok());
}

}  // namespace
}  // namespace keycast
