// DESIGN property 8: an admin change that got a success answer survives a
// crash of the server. The real keycast binary is killed with SIGKILL right
// after acknowledged writes and restarted on the same data directory.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "testing/process.h"

namespace keycast {
namespace {

using testing::ChildProcess;

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = testing::KeycastBinary();
    ASSERT_FALSE(bin_.empty()) << "KEYCAST_BIN must name the built keycast binary";
    dir_ = testing::MakeTempDir("crash");
    std::string out, err;
    ASSERT_EQ(testing::RunCommand({bin_, "init", "--data-dir", dir_ + "/data"}, &out, &err), 0)
        << err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kct_[0-9a-f]{16}_[0-9a-f]{64}"))) << out;
    token_ = m.str();
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::unique_ptr<ChildProcess> StartServer(int n) {
    port_ = testing::FreePort();
    auto p = std::make_unique<ChildProcess>(
        std::vector<std::string>{bin_, "server", "--data-dir", dir_ + "/data", "--roles",
                                 "directory,ticket", "--http-addr",
                                 "127.0.0.1:" + std::to_string(port_)},
        dir_, "server" + std::to_string(n));
    EXPECT_TRUE(testing::WaitForHttp("127.0.0.1", port_, "/v1/health", 15000)) << p->err();
    return p;
  }
  httplib::Headers Auth() { return {{"Authorization", "Bearer " + token_}}; }

  std::string bin_, dir_, token_;
  int port_ = 0;
};

TEST_F(CrashTest, AcknowledgedWritesSurviveKill9) {
  int acknowledged = 0;
  for (int round = 0; round < 5; ++round) {
    auto server = StartServer(round);
    httplib::Client c("127.0.0.1", port_);
    // Everything acknowledged before the kill must be there after it.
    for (int i = 0; i < 10; ++i, ++acknowledged) {
      std::string body = R"({"name":"g)" + std::to_string(acknowledged) + R"("})";
      auto r = c.Post("/v1/groups", Auth(), body, "application/json");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 201) << r->body;
    }
    auto e = c.Post("/v1/edges", Auth(),
                    R"({"parent":"g0","child":"g)" + std::to_string(acknowledged - 1) + R"("})",
                    "application/json");
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->status == 201 || e->status == 409) << e->body;
    server->Stop(SIGKILL);
  }
  auto server = StartServer(99);
  httplib::Client c("127.0.0.1", port_);
  for (int i = 0; i < acknowledged; ++i) {
    auto r = c.Get(("/v1/groups/g" + std::to_string(i)).c_str(), Auth());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "group g" << i << " was acknowledged but is gone";
  }
  auto g0 = nlohmann::json::parse(c.Get("/v1/groups/g0", Auth())->body);
  EXPECT_EQ(g0["children"].size(), 5u);
  // The audit log kept every acknowledged change too.
  auto audit = nlohmann::json::parse(c.Get("/v1/audit?limit=1000", Auth())->body);
  int creates = 0;
  for (auto& rec : audit["records"]) creates += rec["action"] == "group.create";
  EXPECT_EQ(creates, acknowledged);
  server->Stop();
}

TEST_F(CrashTest, KillDuringAStreamOfWritesLosesNothingAcknowledged) {
  auto server = StartServer(0);
  std::atomic<int> acked{0};
  std::thread writer([&] {
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 2000; ++i) {
      auto r = c.Post("/v1/clients", Auth(), R"({"name":"c)" + std::to_string(i) + R"("})",
                      "application/json");
      if (!r || r->status != 201) return;  // the server died mid-request
      acked = i + 1;
    }
  });
  while (acked.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server->Stop(SIGKILL);
  writer.join();
  int n = acked.load();
  server = StartServer(1);
  httplib::Client c("127.0.0.1", port_);
  for (int i = 0; i < n; ++i) {
    auto r = c.Get(("/v1/clients/c" + std::to_string(i)).c_str(), Auth());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "client c" << i << " of " << n << " acknowledged ones is gone";
  }
  server->Stop();
}

}  // namespace
}  // namespace keycast
