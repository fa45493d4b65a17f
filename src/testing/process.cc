#include "testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace keycast::testing {
namespace {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& dir,
                           const std::string& tag)
    : out_path_(dir + "/" + tag + ".out"), err_path_(dir + "/" + tag + ".err") {
  auto args = Argv(argv);
  pid_ = fork();
  if (pid_ == 0) {
    int o = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    execv(args[0], args.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && running()) Stop(SIGKILL, 5000);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Stop(int sig, int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  return -1;
}

std::string ChildProcess::out() const { return ReadFile(out_path_); }
std::string ChildProcess::err() const { return ReadFile(err_path_); }

int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err,
               const std::string& stdin_text) {
  std::string dir = MakeTempDir("run");
  std::string in_path = dir + "/stdin";
  {
    std::ofstream in(in_path);
    in << stdin_text;
  }
  auto args = Argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    int i = ::open(in_path.c_str(), O_RDONLY);
    int o = ::open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open((dir + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (out) *out = ReadFile(dir + "/out");
  if (err) *err = ReadFile(dir + "/err");
  std::system(("rm -rf '" + dir + "'").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string KeycastBinary() {
  const char* b = std::getenv("KEYCAST_BIN");
  if (!b || access(b, X_OK) != 0) return "";
  return b;
}

bool WaitForHttp(const std::string& host, int port, const std::string& path, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    httplib::Client c(host, port);
    c.set_connection_timeout(0, 200000);
    auto r = c.Get(path.c_str());
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string MakeTempDir(const std::string& tag) {
  static std::mt19937_64 rng(std::random_device{}());
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/keycast-" + tag + "-" +
                    std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000);
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

}  // namespace keycast::testing
