// The key service on a host of its own: two processes that share no files
// (each its own data dir; the KEK is copied, as an operator would) and
// share the directory through PostgreSQL, on a throwaway cluster of the
// test's own (src/testing/postgres.h). A revocation made through the admin
// API of the directory/ticket process is refused by the key service of the
// other.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "server/split_roles_scenario.h"
#include "testing/postgres.h"
#include "testing/process.h"

namespace keycast {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(SplitRolesPostgres, KeyServiceOnAnotherHostFollowsRevocationsThroughPostgres) {
  auto pg = testing::SharedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  auto db = (*pg)->CreateDatabase();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::string dir = testing::MakeTempDir("split-pg");
  std::string front_dir = dir + "/front", key_dir = dir + "/key";
  testing::SplitRolesRun run;
  testing::ExpectKeyServiceFollowsRevocations(
      dir, {"--data-dir", front_dir, "--database", *db},
      {"--data-dir", front_dir, "--database", *db},
      {"--data-dir", key_dir, "--kek-file", front_dir + "/kek", "--database", *db}, &run);
  // The store was PostgreSQL: neither process wrote an SQLite file.
  EXPECT_EQ(run.store, "postgres schema v5");
  EXPECT_FALSE(Exists(front_dir + "/keycast.db"));
  EXPECT_FALSE(Exists(key_dir + "/keycast.db"));
  // The password of the connection string is never logged.
  EXPECT_EQ(run.front.find((*pg)->password()), std::string::npos) << run.front;
  EXPECT_EQ(run.keys.find((*pg)->password()), std::string::npos) << run.keys;
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace keycast
