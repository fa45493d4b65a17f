// Test helper: a throwaway PostgreSQL cluster of the test's own. initdb into
// a fresh temp dir (password authentication, a random password), a
// postmaster on a free port of 127.0.0.1 with its unix sockets in that dir,
// stopped (immediate shutdown, by PID) and deleted on destruction. The
// postmaster gets SIGKILL if the thread that started it ends first (a
// crashed test leaves no server behind), so start it from the main thread.
//
// initdb refuses to run as root: when the test runs as root, the cluster runs
// as the `postgres` system user (Debian's postgresql package creates it),
// initdb through `runuser -u postgres --`, and the temp dir is theirs.
//
// Tests that use it carry the ctest labels `postgres` and `process`.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "keycast/status.h"

namespace keycast::testing {

class PostgresCluster {
 public:
  // Starts a cluster with the newest /usr/lib/postgresql/<version>/bin.
  // FailedPrecondition naming what is missing when PostgreSQL is not
  // installed (scripts/setup.sh installs it). A detached cluster outlives
  // this process (no death signal): its owner stops it with StopDetached.
  static Result<std::unique_ptr<PostgresCluster>> Start(bool detached = false);

  // The cluster a `keycast_test_postgres start` left running (the CTest
  // fixture `postgres`): described by the file it wrote. Not owned: the
  // destructor leaves it running.
  static Result<std::unique_ptr<PostgresCluster>> Attach(const std::string& state_file);
  // Writes what Attach reads; then this object no longer owns the cluster.
  Status Detach(const std::string& state_file);
  // Stops (immediate shutdown, by PID) and deletes the cluster a state file describes.
  static Status StopDetached(const std::string& state_file);
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // Creates an empty database and returns its postgresql:// URI, which
  // carries the password.
  Result<std::string> CreateDatabase();
  // Runs one SQL command as the superuser, connected to the `postgres` database.
  Status Execute(const std::string& sql);

  int port() const { return port_; }
  const std::string& password() const { return password_; }

 private:
  PostgresCluster() = default;
  Status Launch(bool detached);  // the postmaster on a free port; retried by Start

  std::string bin_, dir_, password_;
  uid_t uid_ = 0;  // the cluster's user when the test runs as root
  gid_t gid_ = 0;
  bool as_postgres_ = false;
  pid_t pid_ = -1;  // the postmaster
  int port_ = 0;
  int databases_ = 0;
  bool owned_ = true;  // stop and delete on destruction
};

// The cluster of this test process: the CTest fixture's shared cluster when
// $KEYCAST_TEST_POSTGRES names its state file (tests labelled `postgres`
// get it, cmake/Keycast.cmake), else one started on first use and stopped
// at exit. Each caller creates databases of its own in it. A failed start is
// reported to every caller.
Result<PostgresCluster*> SharedPostgres();

}  // namespace keycast::testing
