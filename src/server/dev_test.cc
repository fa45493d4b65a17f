// `keycast dev` runs every role, reservations and the web pages included,
// prints the console, sender and receiver URLs, and files a demo
// reservation that a receiver can buy with the test card (issue 9, item 1).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "testing/process.h"

namespace keycast {
namespace {

using testing::ChildProcess;

class DevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = testing::KeycastBinary();
    ASSERT_FALSE(bin_.empty()) << "KEYCAST_BIN must name the built keycast binary";
    dir_ = testing::MakeTempDir("dev");
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::unique_ptr<ChildProcess> StartDev(int n) {
    port_ = testing::FreePort();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    auto p = std::make_unique<ChildProcess>(
        std::vector<std::string>{bin_, "dev", "--data-dir", dir_ + "/data", "--http-addr",
                                 "127.0.0.1:" + std::to_string(port_), "--key-addr", "127.0.0.1:0"},
        dir_, "dev" + std::to_string(n));
    for (int i = 0; i < 300 && p->out().find("Press Ctrl-C") == std::string::npos; ++i) {
      if (!p->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(p->out().find("Press Ctrl-C"), std::string::npos) << p->out() << p->err();
    return p;
  }

  std::string bin_, dir_, url_;
  int port_ = 0;
};

TEST_F(DevTest, RunsEveryRoleAndSellsTheDemoReservation) {
  auto dev = StartDev(0);
  std::string out = dev->out();
  EXPECT_NE(out.find("Console       " + url_ + "/"), std::string::npos) << out;
  EXPECT_NE(out.find("Sender pages  " + url_ + "/sender"), std::string::npos) << out;
  EXPECT_NE(out.find("Receiver pages " + url_ + "/watch"), std::string::npos) << out;
  EXPECT_NE(out.find("demo-concert"), std::string::npos) << out;

  httplib::Client c(url_);
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);  // the console, asking for sign-in
  EXPECT_EQ(r->get_header_value("Location"), "/console/login");
  for (const char* page : {"/console/login", "/sender/login", "/watch", "/reservations"}) {
    r = c.Get(page);
    ASSERT_TRUE(r) << page;
    EXPECT_EQ(r->status, 200) << page;
  }
  r = c.Get("/v1/transmissions/demo-concert");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto t = nlohmann::json::parse(r->body);
  EXPECT_EQ(t["price_cents"], 499);

  // A declined card buys nothing; the test card buys access.
  std::string res, err;
  EXPECT_NE(testing::RunCommand(
                {bin_, "reservation", "request", "demo-concert", "--addr", url_, "--receiver",
                 "tester", "--card", "4000000000000002", "--expiry", "12/34", "--cvc", "123"},
                &res, &err),
            0);
  EXPECT_NE(err.find("declined"), std::string::npos) << err;
  std::string env = dir_ + "/tester.env";
  ASSERT_EQ(testing::RunCommand({bin_, "reservation", "request", "demo-concert", "--addr", url_,
                                 "--receiver", "tester", "--card", "4242424242424242", "--expiry",
                                 "12/34", "--cvc", "123", "--out", env},
                                &res, &err),
            0)
      << res << err;
  EXPECT_NE(res.find("Access granted to demo-concert as tester"), std::string::npos) << res;
  EXPECT_EQ(::access(env.c_str(), R_OK), 0);
  EXPECT_EQ(dev->Stop(), 0);

  // A second start on the same folder keeps the demo and files nothing twice.
  dev = StartDev(1);
  EXPECT_NE(dev->out().find("demo-concert"), std::string::npos) << dev->out();
  EXPECT_EQ(dev->Stop(), 0);
}

// /metrics of a running node passes Prometheus' own linter (`promtool check
// metrics`, Debian package prometheus, installed by scripts/setup.sh).
TEST_F(DevTest, MetricsPassPromtoolCheck) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool is not installed (apt-get install prometheus; scripts/setup.sh "
                    "installs it)";
  auto dev = StartDev(0);
  httplib::Client c(url_);
  ASSERT_TRUE(c.Get("/v1/health"));  // some HTTP series
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("# TYPE keycast_http_request_seconds histogram"), std::string::npos);
  std::string file = dir_ + "/metrics.txt";
  {
    std::ofstream f(file);
    f << r->body;
  }
  std::string out, err;
  int rc =
      testing::RunCommand({"/bin/sh", "-c", "promtool check metrics < '" + file + "'"}, &out, &err);
  EXPECT_EQ(rc, 0) << out << err;
  EXPECT_EQ(dev->Stop(), 0);
}

}  // namespace
}  // namespace keycast
