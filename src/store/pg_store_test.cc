// The PostgreSQL store, on a throwaway cluster of the test's own
// (src/testing/postgres.h): the behaviour every backend shows
// (store_conformance.cc), then what is PostgreSQL's own: placeholders,
// connection strings, SQLSTATE mapping, reconnection, the schema against
// SQLite's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "keycast/store.h"
#include "store/pg_conn.h"
#include "store/sqlite_conn.h"
#include "store/store_conformance.h"
#include "testing/postgres.h"

namespace keycast {
namespace {

using testing::PostgresCluster;
using testing::SharedPostgres;

std::string DatabaseName(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

// Databases are not dropped: the cluster goes whole at exit, and DROP
// DATABASE would cost a checkpoint per test.
StoreBackend PostgresBackend() {
  auto create = []() -> Result<std::string> {
    KC_ASSIGN_OR_RETURN(PostgresCluster * pg, SharedPostgres());
    return pg->CreateDatabase();
  };
  return StoreBackend{"Postgres", create, nullptr};
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Values(PostgresBackend()),
                         BackendName);

// A fresh database on the shared cluster, or a test failure saying why not.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = SharedPostgres();
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = *pg;
    auto uri = pg_->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status().ToString();
    uri_ = *uri;
  }
  std::unique_ptr<sql::Conn> Conn() {
    auto c = sql::OpenPostgres(uri_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  Status TerminateConnections() {
    return pg_->Execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                        DatabaseName(uri_) + "' AND pid <> pg_backend_pid()");
  }

  PostgresCluster* pg_ = nullptr;
  std::string uri_;
};

TEST(PgPlaceholders, AreNumberedOutsideLiteralsQuotedNamesAndComments) {
  struct Case {
    const char* in;
    const char* out;
    int count;
  };
  const Case cases[] = {
      {"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2", 2},
      {"SELECT '?', ? FROM t", "SELECT '?', $1 FROM t", 1},
      {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1},
      {"SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", 1},
      {"SELECT \"odd?name\" FROM t WHERE x = ?", "SELECT \"odd?name\" FROM t WHERE x = $1", 1},
      {"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2", 2},
      {"SELECT /* a /* nested? */ b? */ ?", "SELECT /* a /* nested? */ b? */ $1", 1},
      {"SELECT $$ ? $$, $tag$ ?$$? $tag$, ?", "SELECT $$ ? $$, $tag$ ?$$? $tag$, $1", 1},
      {"SELECT $1, ?", "SELECT $1, $1", 1},  // a numbered parameter is not a quote
      {"SELECT 'unterminated ?", "SELECT 'unterminated ?", 0},
      {"", "", 0},
  };
  for (const Case& c : cases) {
    int n = -1;
    EXPECT_EQ(sql::NumberPlaceholders(c.in, &n), c.out) << c.in;
    EXPECT_EQ(n, c.count) << c.in;
  }
}

TEST(PgConninfo, UrisAndKeyValueStringsArePostgresEverythingElseSqlite) {
  for (const char* db :
       {"postgres://db1/keycast", "postgresql://u:p@db1:5433/keycast?sslmode=require",
        "host=db1 dbname=keycast", "dbname=keycast", "  service = keycast"})
    EXPECT_TRUE(sql::IsPostgresConninfo(db)) << db;
  for (const char* db : {"keycast.db", "/var/lib/keycast/keycast.db", ":memory:", "./x=1.db",
                         "Data=1.db", "", "postgres:/typo"})
    EXPECT_FALSE(sql::IsPostgresConninfo(db)) << db;
}

TEST(PgConninfo, DescriptionsNeverShowThePassword) {
  EXPECT_EQ(sql::DescribeConninfo("postgresql://kc:s3cret-pw@db1:5433/keycast"),
            "host=db1 port=5433 dbname=keycast user=kc");
  EXPECT_EQ(sql::DescribeConninfo("host=db1 dbname=keycast password=s3cret-pw"),
            "host=db1 dbname=keycast");
  EXPECT_EQ(sql::DescribeConninfo("host='unterminated"),
            "an unparsable PostgreSQL connection string");
}

// libpq quotes a string it cannot parse in its message; ours leaves the
// password out all the same.
TEST(PgConninfo, MalformedStringsNeverEchoThePassword) {
  for (const char* bad :
       {"postgresql://u:sek%zzrit@h/db", "postgresql://u:sekrit@[h/db",
        "postgresql://u:sekrit@127.0.0.1:1/db?nosuchoption=1", "host='h password=sekrit",
        "host=h password='sekrit nosuchoption=1", "host=h password = sekrit nosuchoption=1"}) {
    auto c = sql::OpenPostgres(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Code::kUnavailable) << bad;
    EXPECT_EQ(c.status().message().find("sekrit"), std::string::npos) << c.status().message();
  }
}

TEST_F(PgTest, ConnectionFailuresAreUnavailableAndLeaveThePasswordOut) {
  std::string bad_db = uri_ + "-missing";
  auto s = OpenStore(bad_db);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_NE(s.status().message().find("-missing"), std::string::npos) << s.status().message();
  EXPECT_EQ(s.status().message().find(pg_->password()), std::string::npos) << s.status().message();

  const std::string wrong = "wrong-" + pg_->password();
  std::string bad_pw = "postgresql://keycast:" + wrong +
                       "@127.0.0.1:" + std::to_string(pg_->port()) + "/" + DatabaseName(uri_);
  s = OpenStore(bad_pw);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_EQ(s.status().message().find(wrong), std::string::npos) << s.status().message();
}

TEST_F(PgTest, UriSchemesAndKeyValueStringsReachTheSameDatabase) {
  std::string alt = "postgres://" + uri_.substr(std::string("postgresql://").size());
  auto a = OpenStore(alt);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->Describe(), "postgres schema v5");
  auto t = (*a)->Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "shared", "", 1, 1}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  auto b = OpenStore("host=127.0.0.1 port=" + std::to_string(pg_->port()) +
                     " dbname=" + DatabaseName(uri_) + " user=keycast password=" + pg_->password());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(GroupNames(b->get()), std::vector<std::string>{"shared"});
}

TEST_F(PgTest, SqlStatesMapOntoStatusCodes) {
  auto conn = Conn();
  ASSERT_NE(conn, nullptr);
  const std::map<std::string, Code> expected = {
      {"23505", Code::kAlreadyExists}, {"23503", Code::kFailedPrecondition},
      {"40001", Code::kUnavailable},   {"40P01", Code::kUnavailable},
      {"55P03", Code::kUnavailable},   {"57P01", Code::kUnavailable},
      {"08006", Code::kUnavailable},   {"08001", Code::kUnavailable},
      {"22012", Code::kInternal},      {"23502", Code::kInternal},
      {"P0001", Code::kInternal},
  };
  for (const auto& [state, code] : expected) {
    Status st = conn->Exec("DO $$ BEGIN RAISE EXCEPTION 'raised on purpose' USING ERRCODE = '" +
                           state + "'; END $$");
    EXPECT_EQ(st.code(), code) << state << ": " << st.ToString();
    EXPECT_NE(st.message().find("raised on purpose"), std::string::npos) << st.message();
  }
  EXPECT_EQ(conn->Exec("SELEC 1").code(), Code::kInternal);
  EXPECT_TRUE(conn->Exec("SELECT 1").ok());  // the connection is still good
}

// PostgreSQL aborts a transaction at its first failed statement and then
// answers COMMIT with ROLLBACK; the connection reports that first failure.
TEST_F(PgTest, CommitAfterAFailedStatementReportsThatFailure) {
  auto conn = Conn();
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Exec("CREATE TABLE t (x BIGINT PRIMARY KEY, b BYTEA)").ok());
  ASSERT_TRUE(conn->Begin().ok());
  auto ins = conn->Prepare("INSERT INTO t (x, b) VALUES (?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  (*ins)->BindInt(1, 1);
  (*ins)->BindBlob(2, Bytes{0, 0});
  ASSERT_TRUE((*ins)->Step().ok());
  EXPECT_EQ((*ins)->Changes(), 1);
  (*ins)->Reset();
  (*ins)->BindInt(1, 1);
  EXPECT_EQ((*ins)->Step().status().code(), Code::kAlreadyExists);
  EXPECT_EQ(conn->Exec("COMMIT").code(), Code::kAlreadyExists);
  auto count = conn->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->Int(0), 0);   // nothing was committed
  ASSERT_TRUE(conn->Begin().ok());  // and the connection is usable again
  EXPECT_TRUE(conn->Exec("COMMIT").ok());
}

TEST_F(PgTest, ReconnectsAfterTheServerEndsTheConnection) {
  auto s = OpenStore(uri_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Store& store = **s;
  auto t = store.Begin();
  ASSERT_TRUE((*t)->InsertGroup(Group{GroupId(), "before", "", 1, 1}).ok());
  ASSERT_TRUE((*t)->Commit().ok());
  t = Internal("closed");

  // Between transactions: the next call reconnects and goes through.
  ASSERT_TRUE(TerminateConnections().ok());
  EXPECT_EQ(GroupNames(&store), std::vector<std::string>{"before"});

  // Inside a transaction: it fails as Unavailable and is not half-written.
  auto t2 = store.Begin();
  ASSERT_TRUE(t2.ok());
  ASSERT_TRUE((*t2)->InsertGroup(Group{GroupId(), "lost", "", 1, 1}).ok());
  ASSERT_TRUE(TerminateConnections().ok());
  Status st = (*t2)->InsertGroup(Group{GroupId(), "lost2", "", 1, 1}).status();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_EQ((*t2)->Commit().code(), Code::kUnavailable);
  t2 = Internal("closed");

  auto t3 = store.Begin();
  ASSERT_TRUE(t3.ok()) << t3.status().ToString();
  ASSERT_TRUE((*t3)->InsertGroup(Group{GroupId(), "after", "", 1, 1}).ok());
  ASSERT_TRUE((*t3)->Commit().ok());
  EXPECT_EQ(GroupNames(&store), (std::vector<std::string>{"after", "before"}));
}

// The PostgreSQL migrations give the tables, columns (with their NOT NULL),
// indexes and triggers of the SQLite ones.
TEST_F(PgTest, SchemaMatchesSqlite) {
  using Schema = std::map<std::string, std::vector<std::string>>;
  auto read = [](sql::Conn* c, const char* tables_sql, const char* columns_sql,
                 const char* indexes_sql, const char* triggers_sql) {
    Schema out;
    auto list = [&](const char* q, const std::string& arg) {
      std::vector<std::string> v;
      auto s = c->Prepare(q);
      EXPECT_TRUE(s.ok()) << q << ": " << s.status().ToString();
      if (!s.ok()) return v;
      if (!arg.empty()) (*s)->BindText(1, arg);
      while (true) {
        auto row = (*s)->Step();
        EXPECT_TRUE(row.ok()) << row.status().ToString();
        if (!row.ok() || !*row) break;
        v.push_back((*s)->Text(0));
      }
      std::sort(v.begin(), v.end());
      return v;
    };
    for (const std::string& table : list(tables_sql, ""))
      out["table " + table] = list(columns_sql, table);
    out["indexes"] = list(indexes_sql, "");
    out["triggers"] = list(triggers_sql, "");
    return out;
  };
  std::string path = ::testing::TempDir() + "/schema-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  auto lite = sql::OpenSqlite(path);
  ASSERT_TRUE(lite.ok());
  Schema want =
      read(lite->get(),
           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
           "SELECT name || CASE WHEN \"notnull\" OR pk > 0 THEN ' NOT NULL' ELSE '' END "
           "FROM pragma_table_info(?)",
           "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
           "SELECT name FROM sqlite_master WHERE type = 'trigger'");
  ASSERT_TRUE(OpenStore(uri_).ok());
  auto conn = Conn();
  ASSERT_NE(conn, nullptr);
  Schema got = read(
      conn.get(),
      "SELECT table_name FROM information_schema.tables "
      "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
      "SELECT column_name || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END "
      "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
      "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
      "AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
      "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname NOT LIKE '%\\_truncate'");
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 10u);
  EXPECT_EQ(sql::Migrations("postgres").size(), sql::Migrations("sqlite").size());
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

}  // namespace
}  // namespace keycast
