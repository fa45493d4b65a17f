// The load generator against a real key service: a few hundred requests,
// every reply matched, authenticated, decrypted and checked; bad datagrams
// never answered and all counted as drops.
#include "bench/keys/load_generator.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "bench/keys/fixture.h"
#include "bench/keys/server_process.h"
#include "keycast/metrics.h"
#include "keycast/server.h"

namespace keycast::bench {
namespace {

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string t = std::string(base && *base ? base : "/tmp") + "/keycast-bench-keys-test-XXXXXX";
  EXPECT_NE(::mkdtemp(t.data()), nullptr);
  return t;
}

uint64_t EngineCount(const std::string& result) {
  return Metrics::Global()
      .GetCounter("keycast_key_requests_total", "Key requests by result.",
                  "result=\"" + result + "\"")
      .value();
}

uint64_t EngineDrops() {
  uint64_t n = 0;
  for (const char* r :
       {"malformed", "unknown_key_version", "bad_credential", "bad_proof", "replay", "bad_nonce"})
    n += EngineCount(r);
  return n;
}

class LoadGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    FixtureOptions fo;
    fo.data_dir = dir_ + "/data";
    fo.clients = 12;
    fo.tickets_per_client = 2;
    fo.events = 2;
    auto f = CreateFixture(fo);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    fx_ = std::move(f).value();
    ASSERT_EQ(fx_.tickets.size(), 24u);
    ASSERT_EQ(fx_.api_keys.size(), 12u);
  }
  void TearDown() override {
    node_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void StartNode() {
    NodeConfig c;
    c.data_dir = dir_ + "/data";
    c.roles = {"key"};
    c.key_addr = "127.0.0.1:0";
    c.key_threads = 2;
    auto n = Node::Create(c);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(n).value();
    ASSERT_TRUE(node_->Start().ok());
  }

  std::string dir_;
  Fixture fx_;
  std::unique_ptr<Node> node_;
};

TEST_F(LoadGeneratorTest, ClosedLoopEveryReplyVerifies) {
  StartNode();
  uint64_t ok_before = EngineCount("ok");
  LoadOptions o;
  o.endpoint = node_->key_endpoint();
  o.window = 4;
  o.sockets = 4;
  o.threads = 2;
  o.seconds = 20;
  o.warmup_seconds = 0;
  o.max_requests = 400;
  auto r = RunLoad(fx_.tickets, fx_.events, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sent, 400u);
  EXPECT_EQ(r->ok, 400u) << r->first_failure;
  EXPECT_EQ(r->verify_failures, 0u);
  EXPECT_EQ(r->refused, 0u);
  EXPECT_EQ(r->lost, 0u);
  EXPECT_EQ(r->unmatched, 0u);
  EXPECT_EQ(r->latency.n, 400u);
  EXPECT_GT(r->latency.p50, 0);
  EXPECT_LE(r->latency.p50, r->latency.p99);
  EXPECT_EQ(EngineCount("ok") - ok_before, 400u);
}

TEST_F(LoadGeneratorTest, OpenLoopWithBadInputAnswersOnlyValidRequests) {
  StartNode();
  uint64_t drops_before = EngineDrops(), ok_before = EngineCount("ok");
  LoadOptions o;
  o.endpoint = node_->key_endpoint();
  o.rate = 1000;
  o.sockets = 3;
  o.seconds = 0.3;
  o.warmup_seconds = 0;
  o.bad_fraction = 0.3;
  auto r = RunLoad(fx_.tickets, fx_.events, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->sent, 250u);
  EXPECT_EQ(r->ok, r->sent) << r->first_failure;
  EXPECT_EQ(r->unmatched, 0u) << "a bad datagram got an answer";
  EXPECT_GT(r->bad_sent[kGarbage], 0u);
  EXPECT_GT(r->bad_sent[kBitFlip], 0u);
  EXPECT_GT(r->bad_sent[kReplayed], 0u);
  EXPECT_NEAR(static_cast<double>(r->bad_total()) / static_cast<double>(r->bad_total() + r->sent),
              0.3, 0.02);
  // Every bad datagram is dropped and counted (the last ones may still be
  // in the server's queue when the generator returns).
  for (int i = 0; i < 100 && EngineDrops() - drops_before < r->bad_total(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(EngineDrops() - drops_before, r->bad_total());
  EXPECT_EQ(EngineCount("ok") - ok_before, r->ok);
}

TEST_F(LoadGeneratorTest, AgainstKeycastServerProcessWithCpuAndMetrics) {
  const char* bin = std::getenv("KEYCAST_BIN");
  if (!bin || ::access(bin, X_OK) != 0) GTEST_SKIP() << "KEYCAST_BIN is not built";
  ServerProcessOptions so;
  so.binary = bin;
  so.data_dir = dir_ + "/data";
  so.key_port = FreeLoopbackPort();
  so.http_port = FreeLoopbackPort();
  so.log_file = dir_ + "/server.log";
  auto server = ServerProcess::Start(so);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TicketClient tc((*server)->http_url());
  auto s = tc.Login(ClientCredentials{fx_.api_keys[0], "", ""});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<SimTicket> tickets = fx_.tickets;
  tickets.push_back(FromSession(*s));
  LoadOptions o;
  o.endpoint = (*server)->key_endpoint();
  o.window = 8;
  o.sockets = 4;
  o.seconds = 20;
  o.warmup_seconds = 0;
  o.max_requests = 300;
  o.bad_fraction = 0.2;
  auto r = RunLoad(tickets, fx_.events, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ok, 300u) << r->first_failure;
  EXPECT_EQ(r->unmatched, 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto counters = (*server)->KeyRequestCounters();
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_EQ((*counters)["ok"], 300u);
  uint64_t drops = 0;
  for (const char* k :
       {"malformed", "unknown_key_version", "bad_credential", "bad_proof", "replay"})
    drops += (*counters)[k];
  EXPECT_EQ(drops, r->bad_total());
  auto cpu = (*server)->CpuSeconds();
  ASSERT_TRUE(cpu.ok());
  EXPECT_GE(*cpu, 0);
  EXPECT_TRUE((*server)->Stop().ok());
  EXPECT_FALSE((*server)->CpuSeconds().ok());
}

}  // namespace
}  // namespace keycast::bench
