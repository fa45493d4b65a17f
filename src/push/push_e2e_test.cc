// Multicast push end to end over real sockets: a node (HTTP API, key service
// over UDP, push part), agents following pushes, and test-driven members, in
// a network namespace of the test's own whose loopback carries multicast.
//
// Issue 5 deliverables 2 and 3: a member removed from its group cannot
// recover the next interval key from the push while every remaining member
// can; a member that joins (also late) learns no earlier key.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "keycast/client.h"
#include "keycast/key_service.h"
#include "keycast/push.h"
#include "keycast/server.h"
#include "push/test_util.h"
#include "testing/node.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};
bool g_multicast = false;
std::string g_why_not;

// Moves the test process into a network namespace of its own, brings its
// loopback up with multicast on, and routes 224.0.0.0/4 to it. Threads
// started later (node, agents) inherit the namespace; nothing outside it
// sees the test's traffic.
class NetnsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::unshare(CLONE_NEWNET) != 0) {
      g_why_not = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
                  " (needs root or CAP_SYS_ADMIN)";
      return;
    }
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ::ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP | IFF_MULTICAST;
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
      g_why_not = std::string("bringing lo up: ") + std::strerror(errno);
      ::close(fd);
      return;
    }
    rtentry rt{};
    auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
    dst->sin_family = AF_INET;
    dst->sin_addr.s_addr = htonl(0xe0000000);  // 224.0.0.0
    auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
    mask->sin_family = AF_INET;
    mask->sin_addr.s_addr = htonl(0xf0000000);  // /4
    reinterpret_cast<sockaddr_in*>(&rt.rt_gateway)->sin_family = AF_INET;
    rt.rt_flags = RTF_UP;
    char dev[] = "lo";
    rt.rt_dev = dev;
    if (::ioctl(fd, SIOCADDRT, &rt) != 0) {
      g_why_not = std::string("route 224.0.0.0/4 dev lo: ") + std::strerror(errno);
      ::close(fd);
      return;
    }
    ::close(fd);
    g_multicast = true;
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new NetnsEnvironment);

class RecordingSink : public KeySink {
 public:
  void Install(const SecurityAssociation& sa) override {
    std::lock_guard<std::mutex> l(mu_);
    installed_[sa.epoch.packed()] = {SystemClock::Get().Now(), sa.initiation, sa.spi.value};
  }
  void Revoked(EventId, const std::string&) override {}
  struct Got {
    Micros at, initiation;
    uint32_t spi;
  };
  std::map<uint64_t, Got> installed() const {
    std::lock_guard<std::mutex> l(mu_);
    return installed_;
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, Got> installed_;
};

// Every push message seen on the control group, reassembled, by seq.
class Collector {
 public:
  explicit Collector(const IpAddress& group, uint16_t port) {
    auto r = PushReceiver::Open(group, port, "");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) rx_ = std::move(r).value();
  }
  void Poll() {
    if (!rx_) return;
    rx_->Drain([&](ByteView d) {
      auto f = push::ParseFragment(d);
      if (!f.ok()) return;
      auto& parts = partial_[f->seq];
      if (parts.empty()) parts.resize(f->count);
      parts[f->index] = Bytes(f->payload.begin(), f->payload.end());
      bool done = true;
      for (auto& p : parts) done &= !p.empty();
      if (!done || messages_.count(f->seq)) return;
      Bytes m;
      for (auto& p : parts) m.insert(m.end(), p.begin(), p.end());
      messages_[f->seq] = std::move(m);
    });
  }
  std::map<uint64_t, Bytes> messages() {
    Poll();
    return messages_;
  }
  PushReceiver* receiver() { return rx_.get(); }

 private:
  std::unique_ptr<PushReceiver> rx_;
  std::map<uint64_t, std::vector<Bytes>> partial_;
  std::map<uint64_t, Bytes> messages_;
};

class PushE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_multicast) GTEST_SKIP() << "no multicast namespace: " << g_why_not;
    dir_ = keycast::testing::UniqueDir(::testing::TempDir(), "push-e2e");
    NodeConfig c = keycast::testing::LoopbackNodeConfig(dir_);
    auto n = Node::Create(c);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(n).value();
    ASSERT_TRUE(node_->Start().ok());
    ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
  }
  void TearDown() override {
    node_.reset();
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  Directory* d() { return node_->directory(); }
  void Client(const std::string& name, const std::string& group, Role role) {
    ASSERT_TRUE(d()->CreateClient(kAdmin, ClientSpec{name, "", std::nullopt, true}).ok());
    ASSERT_TRUE(d()->SetMembership(kAdmin, name, group, role, true).ok());
    api_keys_[name] = d()->CreateApiKey(kAdmin, name, "")->Encode();
  }
  std::shared_ptr<const Event> MakeEvent(int64_t start, uint32_t interval, uint16_t clear = 0) {
    EventSpec e;
    e.name = "live";
    e.title = "Live";
    e.group_address = *IpAddress::Parse("239.9.9.9");
    e.port = 5000;
    e.schedule.start = start;
    e.schedule.duration = 3600;
    e.interval_seconds = interval;
    e.initial_keying_seconds = 2;
    e.clear_intervals = clear;
    e.delivery = KeyDelivery::kPush;
    e.key_servers = {*Endpoint::Parse(node_->key_endpoint())};
    auto r = d()->CreateEvent(kAdmin, e);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(d()->AddAssignment(kAdmin, "live", "viewers").ok());
    EXPECT_TRUE(d()->AddAssignment(kAdmin, "live", "studio").ok());
    return r->event;
  }
  ClientSession Login(const std::string& name) {
    TicketClient tc(node_->http_url());
    auto s = tc.Login(ClientCredentials{api_keys_[name], "", ""});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  static void WaitUntil(Micros t, Collector* c = nullptr) {
    while (SystemClock::Get().Now() < t) {
      if (c) c->Poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  static Micros S(int64_t s) { return s * kMicrosPerSecond; }

  std::string dir_;
  std::unique_ptr<Node> node_;
  std::map<std::string, std::string> api_keys_;
};

// Agents of a push event: after their first pulls they take each next key
// from the push; a revoked member drops out at the next push; the others
// never miss an interval.
TEST_F(PushE2eTest, AgentsFollowPushesAndARevokedMemberDropsOut) {
  for (auto r : {"r1", "r2", "r3"}) Client(r, "viewers", Role::kReceiver);
  Client("s1", "studio", Role::kSender);
  int64_t start = SystemClock::Get().NowSeconds() + 2;
  MakeEvent(start, 2);
  std::map<std::string, RecordingSink> sinks;
  std::map<std::string, std::unique_ptr<Agent>> agents;
  std::mutex log_mu;
  std::string log;
  for (auto name : {"r1", "r2", "r3", "s1"}) {
    Agent::Options o;
    o.sink = &sinks[name];
    o.log = [&, name](const std::string& m) {
      std::lock_guard<std::mutex> l(log_mu);
      log += std::to_string(SystemClock::Get().Now() % 100'000'000 / 1000) + " " + name + " " + m +
             "\n";
    };
    agents[name] = std::make_unique<Agent>(Login(name), "live", o);
    ASSERT_TRUE(agents[name]->Start().ok());
  }
  // Into interval 4, then revoke r3 during interval k.
  WaitUntil(S(start + 9));
  int64_t revoked_at = SystemClock::Get().NowSeconds();
  uint32_t k = static_cast<uint32_t>((revoked_at - start) / 2);
  ASSERT_TRUE(d()->RemoveMembership(kAdmin, "r3", "viewers").ok());
  WaitUntil(S(start + 2 * (k + 4)));
  for (auto& [n, a] : agents) a->Stop();
  std::lock_guard<std::mutex> l(log_mu);

  // r3: no key from k+2 on; it saw the push it could not open, pulled, was refused.
  for (auto& [packed, g] : sinks["r3"].installed())
    EXPECT_LT(Epoch::FromPacked(packed).index, k + 2) << log;
  EXPECT_TRUE(agents["r3"]->revoked()) << log;
  EXPECT_GE(agents["r3"]->stats().push_rejected, 1u) << log;
  // The others: every interval 0..k+3, each in hand before it began, the
  // same SA whether pushed or pulled; most keys came by push.
  for (auto name : {"r1", "r2", "s1"}) {
    auto got = sinks[name].installed();
    auto ref = sinks["r1"].installed();
    for (uint32_t i = 0; i <= k + 3; ++i) {
      auto it = got.find(Epoch{0, i}.packed());
      ASSERT_NE(it, got.end()) << name << " missing interval " << i << "\n" << log;
      EXPECT_LE(it->second.at, it->second.initiation + 100'000)
          << name << " late for interval " << i;
      EXPECT_EQ(it->second.spi, (ref[Epoch{0, i}.packed()].spi));
    }
    Agent::Stats st = agents[name]->stats();
    EXPECT_FALSE(agents[name]->revoked());
    EXPECT_GE(st.pushed, k) << name << "\n" << log;
    // Pull would make k + 4 requests here: initial, one or two refreshes, then pushes.
    EXPECT_LT(st.requests, k + 2) << name << "\n" << log;
    EXPECT_EQ(st.push_rejected, 0u) << name << "\n" << log;
  }
  EXPECT_NE(agents["s1"]->sender().value, 0u);
}

// Test-driven members over the real key service and control group:
// forward secrecy on removal, backward secrecy on (late) join.
TEST_F(PushE2eTest, RemovedMemberCannotRecoverAndJoinerLearnsNoEarlierKey) {
  for (auto r : {"gone", "stay", "late"}) Client(r, "viewers", Role::kReceiver);
  int64_t start = SystemClock::Get().NowSeconds() + 2;
  auto ev = MakeEvent(start, 2, 1);  // first interval clear (claim 18)
  Collector collector(ev->group_address, 5001);
  auto vk_bytes = Login("stay").rekey_keys;
  ASSERT_FALSE(vk_bytes.empty());
  auto vk = crypto::VerifyKey::FromBytes(vk_bytes.back().second).value();

  struct Member {
    ClientSession session;
    std::unique_ptr<KeyClient> kc;
    std::unique_ptr<push::PushMember> pm;
    std::vector<SecretBytes> held;  // every path key it was given
  };
  std::map<std::string, Member> m;
  auto pull = [&](const std::string& name, keyproto::RequestKind kind,
                  Epoch epoch) -> keyproto::Reply {
    Member& x = m[name];
    const TicketEvent* te = x.session.ticket.FindEvent("live");
    auto rep = x.kc->Request(*te, kind, epoch, SenderId{});
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    if (!rep.ok()) return {};
    if (rep->status == keyproto::ReplyStatus::kOk && !rep->extra.empty()) {
      auto g = push::PushGrant::Decode(rep->extra);
      EXPECT_TRUE(g.ok());
      if (g.ok() && g->state == push::GrantState::kAdmitted) {
        EXPECT_TRUE(x.pm->Install(*g).ok());
        auto init = lkh::MemberKeysInit::Decode(g->member_init.reveal());
        EXPECT_TRUE(init.ok());
        if (init.ok())
          for (auto& k : init->path_keys) x.held.push_back(k);
      }
    }
    return std::move(rep).value();
  };
  for (auto name : {"gone", "stay", "late"}) {
    m[name].session = Login(name);
    m[name].kc = std::make_unique<KeyClient>(m[name].session, KeyClient::Options{});
    m[name].pm = std::make_unique<push::PushMember>(ev->id, [&](KeyVersion) { return &vk; });
  }
  // gone and stay join in the initial keying period; admitted by the push
  // of epoch 0 (start - 0.5 s); their refresh of epoch 1 brings path keys.
  EXPECT_EQ(pull("gone", keyproto::RequestKind::kInitial, {}).status, keyproto::ReplyStatus::kOk);
  EXPECT_EQ(pull("stay", keyproto::RequestKind::kInitial, {}).status, keyproto::ReplyStatus::kOk);
  EXPECT_FALSE(m["stay"].pm->has_keys());  // pending: no keys before the commit
  WaitUntil(S(start) + 100'000, &collector);
  for (auto name : {"gone", "stay"}) {
    auto rep = pull(name, keyproto::RequestKind::kRefresh, Epoch{0, 1});
    ASSERT_EQ(rep.status, keyproto::ReplyStatus::kOk) << rep.reason;
    ASSERT_TRUE(m[name].pm->has_keys()) << name;
  }
  // Both follow the push of epoch 2 (sent at start + 3.5 s).
  auto follow = [&](Member& x, uint64_t seq) -> std::optional<push::PushedKey> {
    auto msgs = collector.messages();
    auto it = msgs.find(seq);
    if (it == msgs.end()) return std::nullopt;
    auto pm = push::ParseMessage(it->second).value();
    std::optional<push::PushedKey> out;
    for (auto& dgram : push::Fragmentize(it->second, ev->id, pm.tree_id, seq))
      if (auto k = x.pm->OnDatagram(dgram)) out = std::move(k);
    return out;
  };
  // Both follow every push since (epoch 1 at start + 1.5 s, epoch 2 at
  // start + 3.5 s); the last one carries the same key as a pull of epoch 2.
  WaitUntil(S(start + 4), &collector);
  std::map<std::string, push::PushedKey> got2;
  uint64_t seq2 = 0;
  for (auto name : {"gone", "stay"}) {
    std::optional<push::PushedKey> k;
    auto msgs = collector.messages();
    for (uint64_t s = m[name].pm->last_seq() + 1; msgs.count(s); ++s) {
      k = follow(m[name], s);
      ASSERT_TRUE(k) << name << " seq " << s << " "
                     << push::PushRejectName(m[name].pm->last_reject());
    }
    ASSERT_TRUE(k) << name;
    EXPECT_EQ(k->sa.epoch, (Epoch{0, 2}));
    seq2 = k->seq;
    got2[name] = std::move(*k);
  }
  auto pulled2 =
      pull("stay", keyproto::RequestKind::kRefresh, Epoch{0, 2});  // (keys unchanged: not newer)
  ASSERT_EQ(pulled2.sas.size(), 1u);
  for (auto& [name, k] : got2) {
    EXPECT_TRUE(k.sa.key == pulled2.sas[0].key) << name;
    EXPECT_EQ(k.sa.spi, pulled2.sas[0].spi) << name;
  }
  // Revoke gone during interval 2: the push of epoch 3 (start + 5.5 s)
  // leaves it out; stay opens it.
  ASSERT_TRUE(d()->RemoveMembership(kAdmin, "gone", "viewers").ok());
  // late joins now (interval 2, after the event started): pending.
  auto late1 = pull("late", keyproto::RequestKind::kInitial, {});
  ASSERT_EQ(late1.status, keyproto::ReplyStatus::kOk);
  ASSERT_EQ(late1.sas.size(), 1u);
  EXPECT_EQ(late1.sas[0].epoch, (Epoch{0, 2}));  // the current interval, by unicast
  EXPECT_FALSE(m["late"].pm->has_keys());
  WaitUntil(S(start + 6), &collector);
  uint64_t seq3 = seq2 + 1;
  auto msgs = collector.messages();
  ASSERT_TRUE(msgs.count(seq3));
  auto k_stay = follow(m["stay"], seq3);
  ASSERT_TRUE(k_stay);
  EXPECT_EQ(k_stay->sa.epoch, (Epoch{0, 3}));
  EXPECT_FALSE(follow(m["gone"], seq3));
  EXPECT_EQ(m["gone"].pm->last_reject(), push::PushReject::kNotRecoverable);
  EXPECT_FALSE(push::testing::AnyKeyUnwrapsAnything(msgs[seq3], m["gone"].held));
  // gone's pull is refused; stay's pull gives the same key as the push.
  EXPECT_EQ(pull("gone", keyproto::RequestKind::kRefresh, Epoch{0, 3}).status,
            keyproto::ReplyStatus::kNotAuthorized);
  auto pulled3 = pull("stay", keyproto::RequestKind::kRefresh, Epoch{0, 3});
  ASSERT_EQ(pulled3.sas.size(), 1u);
  EXPECT_TRUE(k_stay->sa.key == pulled3.sas[0].key);

  // late was admitted by the push of epoch 3; its next reply brings path
  // keys, which open no push before the one that admitted it.
  auto late2 = pull("late", keyproto::RequestKind::kRefresh, Epoch{0, 3});
  ASSERT_EQ(late2.status, keyproto::ReplyStatus::kOk);
  ASSERT_TRUE(m["late"].pm->has_keys());
  EXPECT_EQ(m["late"].pm->last_seq(), seq3);
  for (auto& [seq, msg] : msgs)
    if (seq < seq3) {
      EXPECT_FALSE(push::testing::AnyKeyUnwrapsAnything(msg, m["late"].held)) << "push " << seq;
    }
  WaitUntil(S(start + 8), &collector);
  auto k_late = follow(m["late"], seq3 + 1);
  ASSERT_TRUE(k_late) << push::PushRejectName(m["late"].pm->last_reject());
  EXPECT_EQ(k_late->sa.epoch, (Epoch{0, 4}));
  auto k_stay4 = follow(m["stay"], seq3 + 1);
  ASSERT_TRUE(k_stay4);
  EXPECT_TRUE(k_late->sa.key == k_stay4->sa.key);
}

// Bad input on the control group reaches the agent's counters and makes it
// pull; it never breaks the agent.
TEST_F(PushE2eTest, AgentCountsForgedPushesAndFallsBackToPull) {
  Client("r1", "viewers", Role::kReceiver);
  int64_t start = SystemClock::Get().NowSeconds() + 2;
  auto ev = MakeEvent(start, 2);
  RecordingSink sink;
  Agent::Options o;
  o.sink = &sink;
  Agent a(Login("r1"), "live", o);
  ASSERT_TRUE(a.Start().ok());
  // Once the agent follows pushes, flood the group with forged, truncated
  // and replayed datagrams.
  Collector collector(ev->group_address, 5001);
  WaitUntil(S(start + 3), &collector);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(5001);
  ::inet_pton(AF_INET, "239.9.9.9", &to.sin_addr);
  auto send = [&](const Bytes& b) {
    ::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  };
  auto msgs = collector.messages();
  ASSERT_FALSE(msgs.empty());
  auto last = msgs.rbegin();
  auto pm = push::ParseMessage(last->second).value();
  crypto::SigningKey evil = crypto::SigningKey::Generate();
  push::PushMessage next = pm;
  next.seq = pm.seq + 1;  // looks like the next push, but forged
  for (auto& dg : push::Fragmentize(push::EncodeMessage(next, evil), ev->id, pm.tree_id, next.seq))
    send(dg);
  Bytes truncated(20, 'K');
  send(truncated);
  if (msgs.size() >= 2) {  // replay an older push
    auto old = std::next(msgs.rbegin());
    auto opm = push::ParseMessage(old->second).value();
    for (auto& dg : push::Fragmentize(old->second, ev->id, opm.tree_id, opm.seq)) send(dg);
  }
  ::close(fd);
  WaitUntil(S(start + 10), &collector);
  a.Stop();
  Agent::Stats st = a.stats();
  EXPECT_GE(st.push_rejected, 2u);
  EXPECT_GE(st.pushed, 2u);
  auto got = sink.installed();
  for (uint32_t i = 0; i <= 4; ++i)
    EXPECT_TRUE(got.count(Epoch{0, i}.packed())) << "interval " << i;
  EXPECT_FALSE(a.revoked());
}

// A long-running push member renews its ticket (the IPTV case: 8 h
// tickets, pushes every interval). Each renewal replaces the agent's session
// while its thread plans refreshes from the event's schedule and takes pushes;
// the agent must keep every key coming and read nothing of the old session
// (under AddressSanitizer a dangling read fails the test).
TEST_F(PushE2eTest, AgentRenewsItsTicketWhilePushesArrive) {
  Client("r1", "viewers", Role::kReceiver);
  int64_t start = SystemClock::Get().NowSeconds() + 2;
  MakeEvent(start, 2);
  RecordingSink sink;
  std::mutex log_mu;
  std::string log;
  Agent::Options o;
  o.sink = &sink;
  o.log = [&](const std::string& m) {
    std::lock_guard<std::mutex> l(log_mu);
    log += std::to_string(SystemClock::Get().Now() % 100'000'000 / 1000) + " " + m + "\n";
  };
  Agent a(Login("r1"), "live", o);
  ASSERT_TRUE(a.Start().ok());
  // Renew every 1.5 s, out of step with the 2 s intervals, so renewals land
  // before, between and after the refreshes and pushes of the intervals.
  constexpr int kRenewals = 6;
  WaitUntil(S(start + 1));
  for (int i = 0; i < kRenewals; ++i) {
    a.UpdateSession(Login("r1"));
    WaitUntil(SystemClock::Get().Now() + 1'500'000);
  }
  WaitUntil(S(start + 12));
  a.Stop();
  std::lock_guard<std::mutex> l(log_mu);
  size_t switched = 0;
  for (size_t at = log.find("switched to a fresh ticket"); at != std::string::npos;
       at = log.find("switched to a fresh ticket", at + 1))
    ++switched;
  EXPECT_EQ(switched, static_cast<size_t>(kRenewals)) << log;
  // Every interval 0..5 in hand before it began, most of them pushed.
  auto got = sink.installed();
  for (uint32_t i = 0; i <= 5; ++i) {
    auto it = got.find(Epoch{0, i}.packed());
    ASSERT_NE(it, got.end()) << "missing interval " << i << "\n" << log;
    EXPECT_LE(it->second.at, it->second.initiation + 100'000) << "late for interval " << i;
  }
  Agent::Stats st = a.stats();
  EXPECT_GE(st.pushed, 3u) << log;
  EXPECT_EQ(st.push_rejected, 0u) << log;
  EXPECT_FALSE(a.revoked()) << log;
}

}  // namespace
}  // namespace keycast
