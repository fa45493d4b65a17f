#include "testing/postgres.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "testing/process.h"

namespace keycast::testing {
namespace {

constexpr const char* kSuperuser = "keycast";
constexpr int kStartTimeoutMs = 20000;

// /usr/lib/postgresql/<major>/bin of the newest major that has initdb and postgres.
std::string FindBinDir() {
  std::string best;
  int best_major = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string bin = e.path().string() + "/bin";
    int major = std::atoi(e.path().filename().c_str());
    if (major > best_major && ::access((bin + "/initdb").c_str(), X_OK) == 0 &&
        ::access((bin + "/postgres").c_str(), X_OK) == 0) {
      best = bin;
      best_major = major;
    }
  }
  return best;
}

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xffu;
    s += kHex[v >> 4];
    s += kHex[v & 15u];
  }
  return s;
}

std::string ReadTail(const std::string& path, size_t max = 3000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

}  // namespace

Result<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(bool detached) {
  std::unique_ptr<PostgresCluster> c(new PostgresCluster());
  c->bin_ = FindBinDir();
  if (c->bin_.empty())
    return FailedPrecondition(
        "PostgreSQL is not installed: no initdb and postgres in /usr/lib/postgresql/*/bin; install "
        "the "
        "Debian package `postgresql` (scripts/setup.sh does)");
  c->dir_ = MakeTempDir("pg");
  std::vector<std::string> argv;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw)
      return FailedPrecondition(
          "running as root, and there is no `postgres` user to run PostgreSQL as (initdb refuses "
          "root); "
          "install the Debian package `postgresql`");
    c->uid_ = pw->pw_uid;
    c->gid_ = pw->pw_gid;
    c->as_postgres_ = true;
    if (::chown(c->dir_.c_str(), c->uid_, c->gid_) != 0)
      return Internal("cannot give " + c->dir_ + " to postgres");
    argv = {::access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "/sbin/runuser", "-u",
            "postgres", "--"};
  }
  c->password_ = RandomHex(16);
  const std::string pwfile = c->dir_ + "/pwfile";
  {
    std::ofstream f(pwfile);
    f << c->password_ << "\n";
  }
  ::chmod(pwfile.c_str(), 0600);
  if (c->as_postgres_ && ::chown(pwfile.c_str(), c->uid_, c->gid_) != 0)
    return Internal("cannot give " + pwfile + " to postgres");
  for (const std::string& a :
       {c->bin_ + "/initdb", std::string("-D"), c->dir_ + "/data", std::string("-U"),
        std::string(kSuperuser), "--pwfile=" + pwfile, std::string("--auth=scram-sha-256"),
        std::string("--encoding=UTF8"), std::string("--locale=C"),
        // Sorts like most production databases (not bytewise), so that
        // tests show where the schema must ask for bytewise order.
        std::string("--locale-provider=icu"), std::string("--icu-locale=en-US"),
        std::string("--no-sync")})
    argv.push_back(a);
  std::string out, err;
  int rc = RunCommand(argv, &out, &err);
  std::remove(pwfile.c_str());
  if (rc != 0) return Internal("initdb failed (exit " + std::to_string(rc) + "): " + err + out);
  Status st;
  for (int attempt = 0; attempt < 3; ++attempt) {
    st = c->Launch(detached);
    if (st.ok()) return c;
    if (st.code() != Code::kUnavailable) break;  // only a taken port is worth another try
  }
  return st;
}

Status PostgresCluster::Launch(bool detached) {
  port_ = FreePort();
  const std::string log = dir_ + "/postgres.log";
  std::vector<std::string> args = {
      bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
      // Throwaway data: no fsync, small memory.
      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
      "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=100"};
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Internal("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (as_postgres_ &&
        (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0))
      _exit(126);
    // After setuid, which clears it: the postmaster dies with this process,
    // unless it is detached (a CTest fixture's, stopped by its cleanup).
    if (detached) {
      ::setsid();
      // Inherit nothing of the starter's (CTest waits for its pipes to close).
      for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    } else {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(125);
    }
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(cargs[0], cargs.data());
    _exit(127);
  }
  pid_ = pid;
  const std::string ping = "host=127.0.0.1 port=" + std::to_string(port_) +
                           " dbname=postgres user=" + kSuperuser + " connect_timeout=2";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    int wst = 0;
    if (::waitpid(pid_, &wst, WNOHANG) == pid_) {
      pid_ = -1;
      std::string tail = ReadTail(log);
      if (tail.find("Address already in use") != std::string::npos)
        return Unavailable("port " + std::to_string(port_) + " was taken: " + tail);
      return Internal("postgres exited at start (status " + std::to_string(wst) + "): " + tail);
    }
    if (PQping(ping.c_str()) == PQPING_OK) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Internal("postgres did not accept connections within " +
                  std::to_string(kStartTimeoutMs / 1000) + " s: " + ReadTail(log));
}

PostgresCluster::~PostgresCluster() {
  if (!owned_) return;
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);  // immediate shutdown, as pg_ctl stop -m immediate
    int st = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Status PostgresCluster::Execute(const std::string& sql) {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) +
                               " dbname=postgres user=" + kSuperuser + " password=" + password_ +
                               " connect_timeout=5";
  PGconn* pg = PQconnectdb(conninfo.c_str());
  Status st;
  if (PQstatus(pg) != CONNECTION_OK) {
    st = Unavailable(std::string("cannot connect to the test cluster: ") + PQerrorMessage(pg));
  } else {
    PGresult* r = PQexec(pg, sql.c_str());
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
      st = Internal(sql + ": " + PQresultErrorMessage(r));
    PQclear(r);
  }
  PQfinish(pg);
  return st;
}

Result<std::string> PostgresCluster::CreateDatabase() {
  // Unique across the processes that share a fixture's cluster.
  std::string name = "keycast_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  KC_RETURN_IF_ERROR(Execute("CREATE DATABASE " + name));
  return "postgresql://" + std::string(kSuperuser) + ":" + password_ +
         "@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

// The state file of a detached cluster: "port password pid dir".
Status PostgresCluster::Detach(const std::string& state_file) {
  std::ofstream out(state_file, std::ios::trunc);
  out << port_ << " " << password_ << " " << pid_ << " " << dir_ << "\n";
  out.close();
  if (!out) return Internal("cannot write " + state_file);
  owned_ = false;
  return Status::Ok();
}

Result<std::unique_ptr<PostgresCluster>> PostgresCluster::Attach(const std::string& state_file) {
  std::unique_ptr<PostgresCluster> c(new PostgresCluster());
  std::ifstream in(state_file);
  if (!(in >> c->port_ >> c->password_ >> c->pid_ >> c->dir_))
    return FailedPrecondition("cannot read the shared test cluster's state file " + state_file +
                              " (the CTest fixture postgres_fixture_start writes it)");
  c->owned_ = false;
  const std::string ping = "host=127.0.0.1 port=" + std::to_string(c->port_) +
                           " dbname=postgres user=" + kSuperuser + " connect_timeout=2";
  if (PQping(ping.c_str()) != PQPING_OK)
    return Unavailable("the shared test cluster on port " + std::to_string(c->port_) +
                       " does not answer");
  return c;
}

Status PostgresCluster::StopDetached(const std::string& state_file) {
  KC_ASSIGN_OR_RETURN(auto c, Attach(state_file));
  if (c->pid_ > 0 && ::kill(c->pid_, SIGQUIT) == 0) {
    // Not our child: wait for the PID to go away.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::kill(c->pid_, 0) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (::kill(c->pid_, 0) == 0) ::kill(c->pid_, SIGKILL);
  }
  std::error_code ec;
  std::filesystem::remove_all(c->dir_, ec);
  std::remove(state_file.c_str());
  return Status::Ok();
}

Result<PostgresCluster*> SharedPostgres() {
  static Result<std::unique_ptr<PostgresCluster>> cluster = [] {
    const char* state = std::getenv("KEYCAST_TEST_POSTGRES");
    return state && *state ? PostgresCluster::Attach(state) : PostgresCluster::Start();
  }();
  if (!cluster.ok()) return cluster.status();
  return cluster->get();
}

}  // namespace keycast::testing
