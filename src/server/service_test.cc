// Running Keycast as a service (issue 9, item 4): the systemd units in
// dist/systemd/ pass `systemd-analyze verify`, and `keycast server` loads
// the commented example dist/keycast.toml and speaks the Type=notify
// protocol (READY=1 once its listeners are up, STOPPING=1 on SIGTERM).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "testing/process.h"

namespace keycast {
namespace {

std::string SourceDir() {
  const char* d = std::getenv("KEYCAST_SOURCE_DIR");
  return d ? d : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A keycast binary and a folder with an initialised store.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = testing::KeycastBinary();
    ASSERT_FALSE(bin_.empty()) << "KEYCAST_BIN must name the built keycast binary";
    dir_ = testing::MakeTempDir("service");
    std::string out, err;
    ASSERT_EQ(testing::RunCommand({bin_, "init", "--data-dir", dir_ + "/data"}, &out, &err), 0)
        << err;
    size_t at = out.find("kct_");
    ASSERT_NE(at, std::string::npos) << out;
    token_ = out.substr(at, out.find_first_of(" \n", at) - at);
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string bin_, dir_, token_;
};

TEST_F(ServiceTest, SystemdUnitsPassSystemdAnalyzeVerify) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "systemd-analyze is not installed (apt-get install systemd; scripts/setup.sh "
                    "installs it)";
  ASSERT_FALSE(SourceDir().empty());
  const std::string& bin = bin_;
  const std::string& dir = dir_;
  std::string cmd = "systemd-analyze verify --man=no";
  for (const char* unit : {"keycast-server.service", "keycast-agent.service"}) {
    std::string text = ReadFile(SourceDir() + "/dist/systemd/" + unit);
    ASSERT_FALSE(text.empty()) << unit;
    // The hardening the units promise.
    for (const char* line : {"Type=notify", "ProtectSystem=strict", "NoNewPrivileges=yes",
                             "StateDirectory=", "ExecStart=/usr/bin/keycast "})
      EXPECT_NE(text.find(line), std::string::npos) << unit << " lacks " << line;
    // verify checks that ExecStart's binary exists: point it at the built one.
    size_t at = text.find("/usr/bin/keycast ");
    text.replace(at, std::string("/usr/bin/keycast").size(), bin);
    std::ofstream(dir + "/" + unit) << text;
    cmd += " '" + dir + "/" + unit + "'";
  }
  std::string out, err;
  int rc = testing::RunCommand({"/bin/sh", "-c", cmd}, &out, &err);
  EXPECT_EQ(rc, 0) << out << err;
  // Unknown keys and bad values are only warnings: there must be none.
  EXPECT_EQ(out + err, "");
}

// A datagram socket standing in for systemd's $NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // The next message, "" after 20 s.
  std::string Receive() {
    char b[512];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    return n > 0 ? std::string(b, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(ServiceTest, ServerLoadsTheExampleConfigAndNotifiesReadyAndStopping) {
  const std::string& bin = bin_;
  const std::string& dir = dir_;
  NotifySocket notify(dir + "/notify.sock");
  ASSERT_TRUE(notify.ok());
  int port = testing::FreePort();
  ::setenv("NOTIFY_SOCKET", (dir + "/notify.sock").c_str(), 1);
  // The example file's values, with this test's folder and ports (flags win).
  testing::ChildProcess server(
      {bin, "server", "--config", SourceDir() + "/dist/keycast.toml", "--data-dir", dir + "/data",
       "--http-addr", "127.0.0.1:" + std::to_string(port), "--key-addr", "127.0.0.1:0"},
      dir, "server");
  ::unsetenv("NOTIFY_SOCKET");
  std::string ready = notify.Receive();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready << server.err();
  // READY means serving: the API answers at once.
  httplib::Client c("127.0.0.1", port);
  auto h = c.Get("/v1/health");
  ASSERT_TRUE(h) << server.err();
  EXPECT_EQ(h->status, 200);
  ::kill(server.pid(), SIGTERM);
  std::string stopping = notify.Receive();
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << stopping;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.err();
}

// SIGTERM drains: requests in flight when it arrives get their answers
// before the process exits. Ticket requests with passwords at the
// "moderate" Argon2id cost take about a second each; the test sends
// SIGTERM once keycast_http_requests_in_flight shows them all.
TEST_F(ServiceTest, SigtermDrainsRequestsInFlight) {
  const std::string& bin = bin_;
  const std::string& dir = dir_;
  const std::string& token = token_;
  int port = testing::FreePort();
  testing::ChildProcess server(
      {bin, "server", "--data-dir", dir + "/data", "--roles", "directory,ticket", "--http-addr",
       "127.0.0.1:" + std::to_string(port), "--password-cost", "moderate"},
      dir, "server");
  ASSERT_TRUE(testing::WaitForHttp("127.0.0.1", port, "/v1/health", 15000)) << server.err();
  httplib::Client admin("127.0.0.1", port);
  admin.set_read_timeout(60, 0);
  auto r = admin.Post("/v1/clients", {{"Authorization", "Bearer " + token}},
                      R"({"name":"drainer","password":"drainer-password"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;

  constexpr int kInFlight = 3;
  std::vector<int> status(kInFlight, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInFlight; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(60, 0);
      auto t = c.Post("/v1/tickets", R"({"client":"drainer","password":"drainer-password"})",
                      "application/json");
      status[i] = t ? t->status : 0;
    });
  // Wait until the server handles all of them (the /metrics request that
  // asks is in flight too), then stop it.
  auto in_flight = [&] {
    auto m = admin.Get("/metrics");
    if (!m) return 0;
    std::string key = "\nkeycast_http_requests_in_flight ";
    size_t at = m->body.find(key);
    return at == std::string::npos ? 0 : std::atoi(m->body.c_str() + at + key.size());
  };
  for (int i = 0; i < 600 && in_flight() < kInFlight + 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(server.pid(), SIGTERM);
  for (auto& t : threads) t.join();
  for (int i = 0; i < kInFlight; ++i) EXPECT_EQ(status[i], 200) << "request " << i;
  EXPECT_EQ(server.Stop(SIGTERM, 30000), 0) << server.err();
  // And nothing new is accepted once it is gone.
  httplib::Client late("127.0.0.1", port);
  EXPECT_FALSE(late.Get("/v1/health"));
}

// `keycast backup` copies the store while the server runs; `keycast
// restore` puts it back; with the same KEK the restored node serves the same
// ticket-signing keys (so tickets issued before still verify), clients and
// admin tokens.
TEST_F(ServiceTest, BackupWhileRunningRestoresTheSameKeysAndClients) {
  int port = testing::FreePort();
  auto serve = [&](const std::string& data, const std::string& tag) {
    auto p = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{bin_, "server", "--data-dir", data, "--roles", "directory,ticket",
                                 "--http-addr", "127.0.0.1:" + std::to_string(port)},
        dir_, tag);
    EXPECT_TRUE(testing::WaitForHttp("127.0.0.1", port, "/v1/health", 15000)) << p->err();
    return p;
  };
  httplib::Headers admin = {{"Authorization", "Bearer " + token_}};
  const std::string login = R"({"client":"kept","password":"kept-password"})";
  auto server = serve(dir_ + "/data", "original");
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/clients", admin, R"({"name":"kept","password":"kept-password"})",
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  auto keys = c.Get("/v1/ticket-keys");
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->status, 200);
  std::string out, err;
  ASSERT_EQ(
      testing::RunCommand(
          {bin_, "backup", "--data-dir", dir_ + "/data", "--out", dir_ + "/copy.db"}, &out, &err),
      0)
      << err;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/copy.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);  // owner only
  EXPECT_EQ(server->Stop(), 0);

  std::string restored = dir_ + "/restored";
  ASSERT_EQ(testing::RunCommand(
                {bin_, "restore", "--data-dir", restored, "--from", dir_ + "/copy.db"}, &out, &err),
            0)
      << err;
  // A second restore over it is refused without --force.
  EXPECT_NE(testing::RunCommand(
                {bin_, "restore", "--data-dir", restored, "--from", dir_ + "/copy.db"}, &out, &err),
            0);
  EXPECT_NE(err.find("--force"), std::string::npos) << err;
  // The KEK travels separately.
  ASSERT_EQ(std::system(("cp '" + dir_ + "/data/kek' '" + restored + "/kek'").c_str()), 0);
  server = serve(restored, "restored");
  auto keys2 = c.Get("/v1/ticket-keys");
  ASSERT_TRUE(keys2);
  EXPECT_EQ(keys2->body, keys->body);
  auto t = c.Post("/v1/tickets", login, "application/json");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 200) << t->body;
  auto got = c.Get("/v1/clients/kept", admin);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(server->Stop(), 0);
}

}  // namespace
}  // namespace keycast
