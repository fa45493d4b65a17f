// keycast_test_postgres start|stop STATE_FILE — the CTest fixture `postgres`
// (cmake/Keycast.cmake): one throwaway cluster for every test labelled
// `postgres` in a ctest run, instead of an initdb per test case. `start`
// leaves the postmaster running detached and writes STATE_FILE; `stop`
// stops it by PID and deletes its folder. Each test creates databases of
// its own (PostgresCluster::CreateDatabase), so tests stay independent.
#include <cstdio>
#include <cstring>

#include "testing/postgres.h"

int main(int argc, char** argv) {
  using keycast::testing::PostgresCluster;
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0 && std::strcmp(argv[1], "stop") != 0)) {
    std::fprintf(stderr, "usage: %s start|stop STATE_FILE\n", argv[0]);
    return 2;
  }
  const std::string state = argv[2];
  if (std::strcmp(argv[1], "stop") == 0) {
    keycast::Status st = PostgresCluster::StopDetached(state);
    if (!st.ok()) std::fprintf(stderr, "keycast_test_postgres: %s\n", st.message().c_str());
    return st.ok() ? 0 : 1;
  }
  (void)PostgresCluster::StopDetached(state);  // one left by an interrupted run
  auto c = PostgresCluster::Start(/*detached=*/true);
  if (!c.ok()) {
    std::fprintf(stderr, "keycast_test_postgres: %s\n", c.status().message().c_str());
    return 1;
  }
  keycast::Status st = (*c)->Detach(state);
  if (!st.ok()) {
    std::fprintf(stderr, "keycast_test_postgres: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("shared test cluster on 127.0.0.1:%d\n", (*c)->port());
  return 0;
}
