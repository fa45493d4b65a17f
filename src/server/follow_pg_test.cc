// Change propagation over PostgreSQL without polling (docs/cluster.md): two
// nodes in this process share a database on the shared test cluster; the
// follower's --refresh-ms is an hour, so only LISTEN/NOTIFY and the audit-log
// catch-up can bring it another node's changes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <thread>

#include "keycast/server.h"
#include "store/pg_conn.h"
#include "testing/node.h"
#include "testing/postgres.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};

// Polls cond every 10 ms for at most ms milliseconds.
bool WaitFor(const std::function<bool()>& cond, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class FollowPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = testing::SharedPostgres();
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = *pg;
    auto db = pg_->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = *db;
    db_name_ = db_.substr(db_.rfind('/') + 1);
    dir_ = testing::UniqueDir(::testing::TempDir(), "follow-pg");
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    NodeConfig a = testing::LoopbackNodeConfig(dir_ + "/a");
    a.roles = {"directory", "ticket"};
    a.database = db_;
    a.refresh_ms = 3'600'000;
    auto na = Node::Create(a);
    ASSERT_TRUE(na.ok()) << na.status().ToString();
    a_ = std::move(na).value();
    ASSERT_TRUE(a_->Start().ok());
    NodeConfig b = testing::LoopbackNodeConfig(dir_ + "/b");
    b.roles = {"key"};
    b.database = db_;
    b.kek_file = dir_ + "/a/kek";
    b.create_kek = false;
    b.refresh_ms = 3'600'000;  // no polling in this test
    auto nb = Node::Create(b);
    ASSERT_TRUE(nb.ok()) << nb.status().ToString();
    b_ = std::move(nb).value();
    ASSERT_TRUE(b_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return b_->follow_stats().listening.load(); }, 10000));

    Directory* d = a_->directory();
    ASSERT_TRUE(d->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(d->CreateClient(kAdmin, ClientSpec{"v1", "", std::nullopt, true}).ok());
    ASSERT_TRUE(d->SetMembership(kAdmin, "v1", "viewers", Role::kReceiver, true).ok());
    EventSpec e;
    e.name = "live";
    e.title = "Live";
    e.group_address = *IpAddress::Parse("239.0.0.1");
    e.port = 5000;
    e.schedule.start = SystemClock::Get().NowSeconds() - 5;
    e.schedule.duration = 3600;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7000")};
    ASSERT_TRUE(d->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(d->AddAssignment(kAdmin, "live", "viewers").ok());
    // Additions carry no row in their record: the follower reloads for them.
    ASSERT_TRUE(WaitFor([&] { return Authorized(); }, 5000));
    EXPECT_GE(b_->follow_stats().reloads.load(), 1u);
  }
  void TearDown() override {
    b_.reset();
    a_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  bool Authorized() {
    Directory* d = b_->directory();
    auto c = d->FindClient("v1");
    auto e = d->GetEvent("live");
    return c && e.ok() && d->IsAuthorized(*c, e->event->id, Role::kReceiver);
  }
  // Runs SQL in the test's database on a connection of its own.
  void Sql(const std::string& sql) {
    auto conn = sql::OpenPostgres(db_);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    Status st = (*conn)->Exec(sql);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  testing::PostgresCluster* pg_ = nullptr;
  std::string db_, db_name_, dir_;
  std::unique_ptr<Node> a_, b_;
};

TEST_F(FollowPgTest, FollowerSeesARevocationWithoutPolling) {
  uint64_t reloads = b_->follow_stats().reloads.load();
  uint64_t notes = b_->follow_stats().notifications.load();
  ASSERT_TRUE(a_->directory()->RemoveMembership(kAdmin, "v1", "viewers").ok());
  EXPECT_TRUE(WaitFor([&] { return !Authorized(); }, 2000));
  EXPECT_GT(b_->follow_stats().notifications.load(), notes);
  // Applied in place from the audit record: no reload.
  EXPECT_EQ(b_->follow_stats().reloads.load(), reloads);
  EXPECT_EQ(b_->directory()->audit_seq(), a_->directory()->audit_seq());
  EXPECT_EQ(b_->follow_stats().malformed.load(), 0u);
}

TEST_F(FollowPgTest, LostListenConnectionReconnectsAndCatchesUp) {
  // Nobody can connect to the database meanwhile (superusers neither), so
  // the follower stays disconnected while the change commits: its NOTIFY
  // reaches no one, and only the catch-up after reconnecting can bring it.
  ASSERT_TRUE(pg_->Execute("ALTER DATABASE " + db_name_ + " ALLOW_CONNECTIONS false").ok());
  struct Allow {
    testing::PostgresCluster* pg;
    std::string name;
    ~Allow() { (void)pg->Execute("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true"); }
  } allow{pg_, db_name_};
  ASSERT_TRUE(pg_->Execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                           "WHERE application_name = 'keycast-listen' AND datname = '" +
                           db_name_ + "'")
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return !b_->follow_stats().listening.load(); }, 5000));
  // A's store connection is still up: the change commits.
  ASSERT_TRUE(a_->directory()->RemoveMembership(kAdmin, "v1", "viewers").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(Authorized());  // not heard of yet
  EXPECT_FALSE(b_->follow_stats().listening.load());
  ASSERT_TRUE(pg_->Execute("ALTER DATABASE " + db_name_ + " ALLOW_CONNECTIONS true").ok());
  EXPECT_TRUE(WaitFor([&] { return !Authorized(); }, 10000));
  EXPECT_GE(b_->follow_stats().reconnects.load(), 1u);
  EXPECT_TRUE(b_->follow_stats().listening.load());
}

TEST_F(FollowPgTest, MalformedNotificationIsCountedAndTriggersACatchUp) {
  // A change committed behind the nodes' backs, without a NOTIFY.
  Sql("BEGIN; DELETE FROM memberships; INSERT INTO audit (time, actor, action, target, detail) "
      "VALUES (1, 'test', 'membership.delete', 'membership:v1@viewers', "
      "'{\"client\":\"v1\",\"group\":\"viewers\"}'); COMMIT");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(Authorized());  // nothing told the follower
  uint64_t malformed = b_->follow_stats().malformed.load();
  Sql(std::string("NOTIFY ") + sql::kChangeChannel + ", 'not a number'");
  EXPECT_TRUE(WaitFor([&] { return !Authorized(); }, 2000));
  EXPECT_EQ(b_->follow_stats().malformed.load(), malformed + 1);
  // More bad payloads: empty, negative, trailing junk, oversized. Counted, never a crash.
  Sql(std::string("NOTIFY ") + sql::kChangeChannel);
  Sql(std::string("NOTIFY ") + sql::kChangeChannel + ", '-5'");
  Sql(std::string("NOTIFY ") + sql::kChangeChannel + ", '12x'");
  Sql(std::string("NOTIFY ") + sql::kChangeChannel + ", '" + std::string(7000, '9') + "'");
  EXPECT_TRUE(WaitFor([&] { return b_->follow_stats().malformed.load() == malformed + 5; }, 2000))
      << b_->follow_stats().malformed.load();
  EXPECT_TRUE(b_->follow_stats().listening.load());
  // It still follows real changes.
  ASSERT_TRUE(a_->directory()->DeleteClient(kAdmin, "v1").ok());
  EXPECT_TRUE(WaitFor([&] { return !b_->directory()->FindClient("v1"); }, 2000));
}

}  // namespace
}  // namespace keycast
