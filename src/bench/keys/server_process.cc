#include "bench/keys/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace keycast::bench {
namespace {

bool BindsFree(int type, int port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int FreeLoopbackPort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    int port = ntohs(a.sin_port);
    if (port != 0 && BindsFree(SOCK_DGRAM, port)) return port;
  }
  return 0;
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::Start(const ServerProcessOptions& o) {
  if (o.binary.empty() || ::access(o.binary.c_str(), X_OK) != 0)
    return NotFound("keycast binary '" + o.binary + "' is not executable");
  if (o.key_port <= 0 || o.http_port <= 0) return InvalidArgument("server ports are required");
  std::vector<std::string> args = {o.binary,        "--log-level",
                                   "warn",          "server",
                                   "--data-dir",    o.data_dir,
                                   "--roles",       o.roles,
                                   "--key-addr",    "127.0.0.1:" + std::to_string(o.key_port),
                                   "--http-addr",   "127.0.0.1:" + std::to_string(o.http_port),
                                   "--key-threads", std::to_string(o.key_threads)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::string log = o.log_file.empty() ? "/dev/null" : o.log_file;
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->key_port_ = o.key_port;
  p->http_port_ = o.http_port;
  p->log_file_ = o.log_file;
  // The configuration is on the command line; keep the caller's KEYCAST_*
  // variables out of it.
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "KEYCAST_", 8) != 0) env.push_back(*e);
  env.push_back(nullptr);
  int rc = posix_spawn(&p->pid_, argv[0], &fa, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    p->pid_ = -1;
    return Internal(std::string("cannot start keycast server: ") + std::strerror(rc));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.start_timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(p->pid_, &st, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      std::ifstream in(o.log_file);
      std::stringstream ss;
      ss << in.rdbuf();
      return Unavailable("keycast server exited at start: " + ss.str());
    }
    httplib::Client c("127.0.0.1", o.http_port);
    c.set_connection_timeout(0, 200'000);
    auto r = c.Get("/v1/health");
    if (r && r->status == 200) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (void)p->Stop();
  return DeadlineExceeded("keycast server did not answer /v1/health in time (log: " + o.log_file +
                          ")");
}

ServerProcess::~ServerProcess() { (void)Stop(); }

Status ServerProcess::Stop() {
  if (pid_ <= 0) return Status::Ok();
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int st = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  waitpid(pid_, &st, 0);
  pid_ = -1;
  return DeadlineExceeded("keycast server ignored SIGTERM; killed");
}

Result<double> ServerProcess::CpuSeconds() const {
  if (pid_ <= 0) return FailedPrecondition("server not running");
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return Unavailable("cannot read /proc/PID/stat");
  // Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
  auto close = line.rfind(')');
  if (close == std::string::npos) return Unavailable("unexpected /proc/PID/stat");
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t ServerProcess::RssBytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

Result<std::map<std::string, uint64_t>> ServerProcess::KeyRequestCounters() const {
  httplib::Client c("127.0.0.1", http_port_);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return Unavailable("GET /metrics failed");
  std::map<std::string, uint64_t> out;
  std::istringstream in(r->body);
  const std::string prefix = "keycast_key_requests_total{result=\"";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto q = line.find('"', prefix.size());
    auto sp = line.rfind(' ');
    if (q == std::string::npos || sp == std::string::npos) continue;
    out[line.substr(prefix.size(), q - prefix.size())] = std::stoull(line.substr(sp + 1));
  }
  return out;
}

}  // namespace keycast::bench
