// The key service in a process of its own, sharing the SQLite store file
// with a directory/ticket process: revocations made through the admin API
// of one process are live at the key service of the other (DESIGN
// property 4). The scenario is in split_roles_scenario.cc.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server/split_roles_scenario.h"
#include "testing/process.h"

namespace keycast {
namespace {

TEST(SplitRoles, KeyServiceInItsOwnProcessFollowsRevocations) {
  std::string dir = testing::MakeTempDir("split");
  std::vector<std::string> data = {"--data-dir", dir + "/data"};
  testing::SplitRolesRun run;
  testing::ExpectKeyServiceFollowsRevocations(dir, data, data, data, &run);
  EXPECT_EQ(run.store, "sqlite schema v5");
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace keycast
