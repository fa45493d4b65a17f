// End to end on loopback, real sockets: a node (HTTP API + key service over
// UDP), clients logging in over HTTP and agents fetching keys on schedule.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "keycast/client.h"
#include "keycast/key_service.h"
#include "keycast/server.h"
#include "testing/node.h"

namespace keycast {
namespace {

using json = nlohmann::json;

const Actor kAdmin{"admin:test"};

// Records what the agent hands to the data plane, and when.
class RecordingSink : public KeySink {
 public:
  void Install(const SecurityAssociation& sa) override {
    std::lock_guard<std::mutex> l(mu_);
    installed_[sa.epoch.packed()] = {SystemClock::Get().Now(), sa.initiation};
    all_.push_back({SystemClock::Get().Now(), sa});
  }
  void Revoked(EventId, const std::string&) override {
    std::lock_guard<std::mutex> l(mu_);
    revoked_ = true;
  }
  // epoch index -> (installed at, initiation)
  std::map<uint64_t, std::pair<Micros, Micros>> installed() const {
    std::lock_guard<std::mutex> l(mu_);
    return installed_;
  }
  // Every SA installed, with when.
  std::vector<std::pair<Micros, SecurityAssociation>> all() const {
    std::lock_guard<std::mutex> l(mu_);
    return all_;
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, std::pair<Micros, Micros>> installed_;
  std::vector<std::pair<Micros, SecurityAssociation>> all_;
  bool revoked_ = false;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = keycast::testing::UniqueDir(::testing::TempDir(), "agent-test");
    NodeConfig c = keycast::testing::LoopbackNodeConfig(dir_);
    auto n = Node::Create(c);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(n).value();
    ASSERT_TRUE(node_->Start().ok());
  }
  void TearDown() override {
    node_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  Directory* d() { return node_->directory(); }
  void Client(const std::string& name, const std::string& group, Role role) {
    ASSERT_TRUE(d()->CreateClient(kAdmin, ClientSpec{name, "", std::nullopt, true}).ok());
    ASSERT_TRUE(d()->SetMembership(kAdmin, name, group, role, true).ok());
    api_keys_[name] = d()->CreateApiKey(kAdmin, name, "")->Encode();
  }
  void Event(const std::string& name, int64_t start, std::vector<Endpoint> key_servers,
             uint32_t interval = 2) {
    EventSpec e;
    e.name = name;
    e.title = name;
    e.group_address = *IpAddress::Parse("239.9.9.9");
    e.port = 5000;
    e.schedule.start = start;
    e.schedule.duration = 3600;
    e.interval_seconds = interval;
    e.initial_keying_seconds = 2;
    e.key_servers = std::move(key_servers);
    auto r = d()->CreateEvent(kAdmin, e);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(d()->AddAssignment(kAdmin, name, "viewers").ok());
    ASSERT_TRUE(d()->AddAssignment(kAdmin, name, "studio").ok());
  }
  ClientSession Login(const std::string& name) {
    TicketClient tc(node_->http_url());
    auto s = tc.Login(ClientCredentials{api_keys_[name], "", ""});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  static void WaitUntil(Micros t) {
    while (SystemClock::Get().Now() < t) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  std::string dir_;
  std::unique_ptr<Node> node_;
  std::map<std::string, std::string> api_keys_;
};

// Issue 3, deliverable 5: three receivers and a sender join an event with
// 2-second intervals; one receiver is removed from its group; from the next
// interval on it gets no key, while the others keep receiving with no gap.
TEST_F(AgentTest, RevocationEndToEnd) {
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  for (auto r : {"r1", "r2", "r3"}) Client(r, "viewers", Role::kReceiver);
  Client("s1", "studio", Role::kSender);
  int64_t start = SystemClock::Get().NowSeconds() + 2;
  Event("live", start, {*Endpoint::Parse(node_->key_endpoint())});

  std::map<std::string, RecordingSink> sinks;
  std::map<std::string, std::unique_ptr<Agent>> agents;
  std::mutex log_mu;
  std::vector<std::string> log;
  for (auto name : {"r1", "r2", "r3", "s1"}) {
    Agent::Options o;
    o.sink = &sinks[name];
    o.log = [&, name](const std::string& m) {
      std::lock_guard<std::mutex> l(log_mu);
      log.push_back(std::string(name) + " " + m);
    };
    agents[name] = std::make_unique<Agent>(Login(name), "live", o);
    ASSERT_TRUE(agents[name]->Start().ok());
  }
  // Run into interval 2, then revoke r3 during interval k.
  WaitUntil((start + 5) * kMicrosPerSecond);
  int64_t revoked_at = SystemClock::Get().NowSeconds();
  uint32_t k = static_cast<uint32_t>((revoked_at - start) / 2);
  ASSERT_TRUE(d()->RemoveMembership(kAdmin, "r3", "viewers").ok());
  WaitUntil((start + 2 * (k + 4)) * kMicrosPerSecond);
  for (auto& [n, a] : agents) a->Stop();

  std::string all_log;
  for (auto& l : log) all_log += l + "\n";
  // r3: nothing from interval k+2 on (k+1 may have been fetched before the
  // removal), and the agent knows it was refused.
  auto r3 = sinks["r3"].installed();
  for (auto& [packed, t] : r3) EXPECT_LT(Epoch::FromPacked(packed).index, k + 2) << all_log;
  EXPECT_TRUE(agents["r3"]->revoked()) << all_log;
  EXPECT_GE(agents["r3"]->stats().refusals, 1u);
  // The others: every interval from 0 to k+3, each key in hand before its
  // interval began (no gap).
  for (auto name : {"r1", "r2", "s1"}) {
    auto got = sinks[name].installed();
    for (uint32_t i = 0; i <= k + 3; ++i) {
      auto it = got.find(Epoch{0, i}.packed());
      ASSERT_NE(it, got.end()) << name << " missing interval " << i << "\n" << all_log;
      EXPECT_LE(it->second.first, it->second.second + 100'000)
          << name << " late for interval " << i;
    }
    EXPECT_FALSE(agents[name]->revoked());
  }
  // The sender received sender keys with a sender id.
  EXPECT_NE(agents["s1"]->sender().value, 0u);
  // Refresh offsets are random per agent (claim 12) but fixed per agent.
  std::set<int64_t> offsets;
  for (auto& [n, a] : agents) offsets.insert(a->refresh_offset_ms());
  EXPECT_GT(offsets.size(), 1u);
}

TEST_F(AgentTest, WakeupMakesAgentsRefetch) {
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  Client("r1", "viewers", Role::kReceiver);
  int64_t start = SystemClock::Get().NowSeconds() - 1;  // already running: late join
  Event("live", start, {*Endpoint::Parse(node_->key_endpoint())}, 30);
  RecordingSink sink;
  Agent::Options o;
  o.sink = &sink;
  Agent a(Login("r1"), "live", o);
  ASSERT_TRUE(a.Start().ok());
  auto until = SystemClock::Get().Now() + 5 * kMicrosPerSecond;
  while (a.stats().keys == 0 && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(a.stats().keys, 1u);
  // The operator asks for a rekey over the admin API.
  auto tok = d()->CreateAdminToken(kAdmin, "t")->Encode();
  httplib::Client http(node_->http_url());
  auto res = http.Post("/v1/events/live/rekey", {{"Authorization", "Bearer " + tok}}, "",
                       "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"wakeups_sent\":1"), std::string::npos) << res->body;
  until = SystemClock::Get().Now() + 5 * kMicrosPerSecond;
  while (a.stats().keys < 2 && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  a.Stop();
  EXPECT_EQ(a.stats().wakeups, 1u);
  EXPECT_EQ(a.stats().keys, 2u);
  EXPECT_EQ(a.stats().wakeup_timeouts, 0u);
}

// Issue 13: a rekey rotates. r2 is removed mid-interval and the event
// rekeyed: within one round trip of the new generation coming into force,
// the sender and r1 hold a new key and SPI for the same interval, and r2
// holds no key the sender uses from then on (it is refused), long before
// the interval (30 s) ends.
TEST_F(AgentTest, RemovedThenRekeyedMemberGetsNoKeyOfTheNewGeneration) {
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  Client("r1", "viewers", Role::kReceiver);
  Client("r2", "viewers", Role::kReceiver);
  Client("s1", "studio", Role::kSender);
  int64_t start = SystemClock::Get().NowSeconds() - 1;
  Event("live", start, {*Endpoint::Parse(node_->key_endpoint())}, 30);
  std::map<std::string, RecordingSink> sinks;
  std::map<std::string, std::unique_ptr<Agent>> agents;
  for (auto name : {"r1", "r2", "s1"}) {
    Agent::Options o;
    o.sink = &sinks[name];
    agents[name] = std::make_unique<Agent>(Login(name), "live", o);
    ASSERT_TRUE(agents[name]->Start().ok());
  }
  auto until = SystemClock::Get().Now() + 5 * kMicrosPerSecond;
  auto all_have = [&](size_t n) {
    for (auto& [name, a] : agents)
      if (name != "r2" && a->stats().keys < n) return false;
    return true;
  };
  while ((!all_have(1) || agents["r2"]->stats().keys < 1) && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(all_have(1));
  SecurityAssociation old_sa = sinks["s1"].all().back().second;
  std::vector<SecurityAssociation> r2_keys;
  for (auto& [t, sa] : sinks["r2"].all()) r2_keys.push_back(sa);
  ASSERT_FALSE(r2_keys.empty());

  ASSERT_TRUE(d()->RemoveMembership(kAdmin, "r2", "viewers").ok());
  auto tok = d()->CreateAdminToken(kAdmin, "t")->Encode();
  httplib::Client http(node_->http_url());
  http.set_read_timeout(10, 0);
  auto res = http.Post("/v1/events/live/rekey", {{"Authorization", "Bearer " + tok}}, "",
                       "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto body = json::parse(res->body);
  EXPECT_EQ(body["generation"], 2);
  EXPECT_EQ(body["members"], 2) << "r1 and s1";
  Micros cutover = int64_t(body["activates_at_ms"]) * 1000;
  until = SystemClock::Get().Now() + 3 * kMicrosPerSecond;
  while (!all_have(2) && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // r2's refused answer
  for (auto& [n, a] : agents) a->Stop();

  ASSERT_TRUE(all_have(2));
  auto [s1_at, s1_new] = sinks["s1"].all().back();
  auto [r1_at, r1_new] = sinks["r1"].all().back();
  EXPECT_EQ(s1_new.epoch, old_sa.epoch) << "the same interval, cut over mid-way";
  EXPECT_FALSE(s1_new.key == old_sa.key) << "a new key";
  EXPECT_NE(s1_new.spi.value, old_sa.spi.value) << "and a new SPI";
  EXPECT_TRUE(r1_new.key == s1_new.key);
  // One round trip after the cutover (loopback; 1 s is generous), not an interval.
  EXPECT_LT(s1_at - cutover, kMicrosPerSecond);
  EXPECT_LT(r1_at - cutover, kMicrosPerSecond);
  for (auto& [t, sa] : sinks["r2"].all())
    EXPECT_FALSE(sa.key == s1_new.key) << "the removed member never holds the new key";
  EXPECT_GE(agents["r2"]->stats().refusals, 1u) << "r2 answered the wakeup and was refused";
}

// Seed 003 claim 16: the agent gives up on a server-initiated exchange that
// gets no answer. The "key server" here is a socket that never answers.
TEST_F(AgentTest, AgentGivesUpOnAnUnansweredWakeup) {
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  Client("r1", "viewers", Role::kReceiver);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in me{};
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me), 0);
  socklen_t len = sizeof me;
  getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
  Event("live", SystemClock::Get().NowSeconds() - 1,
        {*Endpoint::Parse("127.0.0.1:" + std::to_string(ntohs(me.sin_port)))});
  ClientSession session = Login("r1");
  auto keys = keyproto::SessionKeys::Derive(session.session_key, session.ticket.id);
  TicketId tid = session.ticket.id;
  EventId eid = session.ticket.events.at(0).id;
  Agent::Options o;
  o.key_client.attempts_per_server = 1;
  o.key_client.initial_timeout_ms = 100;
  o.wakeup_answer_timeout_ms = 300;
  Agent a(std::move(session), "live", o);
  ASSERT_TRUE(a.Start().ok());
  // Learn the agent's address from its (unanswered) request.
  uint8_t buf[2048];
  sockaddr_storage agent{};
  socklen_t alen = sizeof agent;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_GT(::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&agent), &alen), 0);
  // A forged wakeup (wrong key) is ignored; a genuine one is answered.
  keyproto::Wakeup w{tid, eid, 12345, SystemClock::Get().Now()};
  auto forged_keys = keyproto::SessionKeys::Derive(crypto::RandomSecret(32), tid);
  Bytes forged = keyproto::EncodeWakeup(w, forged_keys);
  ::sendto(fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&agent), alen);
  Bytes genuine = keyproto::EncodeWakeup(w, keys);
  ::sendto(fd, genuine.data(), genuine.size(), 0, reinterpret_cast<sockaddr*>(&agent), alen);
  // The agent answers with the server nonce, then gives up.
  bool answered = false;
  auto until = SystemClock::Get().Now() + 10 * kMicrosPerSecond;
  while (!answered && SystemClock::Get().Now() < until) {
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, nullptr, nullptr);
    if (n <= 0) continue;
    auto p = keyproto::ParseRequest(ByteView(buf, static_cast<size_t>(n)));
    answered = p.ok() && p->request.server_nonce == 12345 && keyproto::VerifyRequestTag(*p, keys);
  }
  EXPECT_TRUE(answered);
  until = SystemClock::Get().Now() + 5 * kMicrosPerSecond;
  while (a.stats().wakeup_timeouts == 0 && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  a.Stop();
  ::close(fd);
  EXPECT_EQ(a.stats().wakeups, 1u);  // the forged one did not count
  EXPECT_EQ(a.stats().wakeup_timeouts, 1u);
}

TEST_F(AgentTest, FailsOverToTheNextKeyServer) {
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
  ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  Client("r1", "viewers", Role::kReceiver);
  // The first listed server is a closed port; the second is the real one.
  Event("live", SystemClock::Get().NowSeconds() - 1,
        {*Endpoint::Parse("127.0.0.1:9"), *Endpoint::Parse(node_->key_endpoint())});
  Agent::Options o;
  o.key_client.attempts_per_server = 2;
  o.key_client.initial_timeout_ms = 100;
  Agent a(Login("r1"), "live", o);
  ASSERT_TRUE(a.Start().ok());
  auto until = SystemClock::Get().Now() + 10 * kMicrosPerSecond;
  while (a.stats().keys == 0 && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  a.Stop();
  EXPECT_GE(a.stats().keys, 1u);
  EXPECT_EQ(a.stats().failures, 0u);  // the dead server was passed over, not a failure
}

}  // namespace
}  // namespace keycast
