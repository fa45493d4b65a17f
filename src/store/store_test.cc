// The SQLite store: the behaviour every backend shows (store_conformance.cc)
// on a database file, and the fault-injecting wrapper.
#include "keycast/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "keycast/fault_store.h"
#include "store/bulk.h"
#include "store/store_conformance.h"

namespace keycast {
namespace {

StoreBackend SqliteBackend() {
  return StoreBackend{"Sqlite",
                      []() -> Result<std::string> {
                        static std::atomic<int> n{0};
                        std::string path = ::testing::TempDir() + "/store-" +
                                           std::to_string(::getpid()) + "-" + std::to_string(++n) +
                                           ".db";
                        std::remove(path.c_str());
                        return path;
                      },
                      [](const std::string& path) {
                        for (const char* suffix : {"", "-wal", "-shm"})
                          std::remove((path + suffix).c_str());
                      }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(SqliteBackend()), BackendName);

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

TEST(FaultStore, BulkLoadScopeIgnoresOtherStores) {
  FaultInjectingStore fs(std::move(OpenSqliteStore(":memory:")).value());
  BulkLoadScope ignored(&fs, 1u << 20);
  EXPECT_TRUE(fs.Begin().ok());
}

// OpenStore takes an SQLite path for anything that is not a PostgreSQL URI
// or key=value string.
TEST(OpenStore, PathsOpenSqlite) {
  std::string path = ::testing::TempDir() + "/open-store-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  auto s = OpenStore(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Describe(), "sqlite schema v5");
  s = OpenStore(":memory:");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Describe(), "sqlite schema v5");
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

}  // namespace
}  // namespace keycast
