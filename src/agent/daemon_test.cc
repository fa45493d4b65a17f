// The daemon in relay mode, in one process on real sockets: a node (ticket
// and key services), a sender daemon and receiver daemons exchanging
// protected datagrams by IP multicast on the loopback interface. The
// network-namespace tests (tests/e2e/) do the same between hosts, with
// transparent mode, captures and ffmpeg.
#include "keycast/agent/daemon.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "keycast/agent/net.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/server.h"
#include "testing/node.h"

namespace keycast::agent {
namespace {

const Actor kAdmin{"admin:test"};
using dataplane::DropReason;
using dataplane::Outcome;

IpAddress Ip(const char* t) { return IpAddress::Parse(t).value(); }

uint16_t RandomPort() { return uint16_t(20000 + crypto::RandomU64() % 30000); }

// A numbered datagram: "KCTEST <n> " padded with a pattern to `size`.
Bytes Numbered(uint32_t n, size_t size = 200) {
  std::string s = "KCTEST " + std::to_string(n) + " ";
  Bytes b(size);
  for (size_t i = 0; i < size; ++i)
    b[i] = i < s.size() ? uint8_t(s[i]) : uint8_t('a' + (n + i) % 26);
  return b;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = keycast::testing::UniqueDir(::testing::TempDir(), "agent-daemon-test");
    NodeConfig c = keycast::testing::LoopbackNodeConfig(dir_, 8);
    c.key_grace_seconds = 1;
    c.ticket_lifetime_seconds = ticket_lifetime_;
    auto n = Node::Create(c);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(n).value();
    ASSERT_TRUE(node_->Start().ok());
    ASSERT_TRUE(d()->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(d()->CreateGroup(kAdmin, {"studio", ""}).ok());
    ASSERT_TRUE(d()->CreateGroup(kAdmin, {"others", ""}).ok());
    group_ = Ip(("239.255." + std::to_string(1 + crypto::RandomU64() % 250) + "." +
                 std::to_string(1 + crypto::RandomU64() % 250))
                    .c_str());
    port_ = RandomPort();
  }
  void TearDown() override {
    for (auto& [n, dm] : daemons_) dm->Stop();
    daemons_.clear();
    node_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  Directory* d() { return node_->directory(); }
  void Client(const std::string& name, const std::string& group, Role role) {
    ASSERT_TRUE(d()->CreateClient(kAdmin, ClientSpec{name, "", std::nullopt, true}).ok());
    ASSERT_TRUE(d()->SetMembership(kAdmin, name, group, role, true).ok());
    api_keys_[name] = d()->CreateApiKey(kAdmin, name, "")->Encode();
  }
  void Event(const std::string& name, int64_t start, uint32_t interval,
             uint16_t clear_intervals = 0, bool source_auth = false) {
    EventSpec e;
    e.name = name;
    e.title = name;
    e.group_address = group_;
    e.port = port_;
    e.schedule.start = start;
    e.schedule.duration = 3600;
    e.interval_seconds = interval;
    e.initial_keying_seconds = 2;
    e.clear_intervals = clear_intervals;
    e.source_auth = source_auth;
    e.key_servers = {*Endpoint::Parse(node_->key_endpoint())};
    auto r = d()->CreateEvent(kAdmin, e);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(d()->AddAssignment(kAdmin, name, "viewers").ok());
    ASSERT_TRUE(d()->AddAssignment(kAdmin, name, "studio").ok());
  }
  Daemon* Start(const std::string& client, Binding b) {
    DaemonOptions o;
    o.mode = Mode::kRelay;
    o.bindings = {b};
    o.ticket_url = node_->http_url();
    o.credentials = ClientCredentials{api_keys_[client], "", ""};
    o.multicast.interface = "lo";
    o.data_plane.clear_grace = 250'000;
    o.status_addr = "127.0.0.1:0";
    o.watch_seconds = 2;
    auto dm = Daemon::Create(o);
    EXPECT_TRUE(dm.ok()) << dm.status().ToString();
    if (!dm.ok()) return nullptr;
    Status st = (*dm)->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return nullptr;
    Daemon* p = dm->get();
    daemons_[client] = std::move(dm).value();
    return p;
  }
  static Binding Send(const std::string& ev, uint16_t port) {
    return Binding{ev, Binding::Kind::kSend, Ip("127.0.0.1"), port};
  }
  static Binding Receive(const std::string& ev, uint16_t port) {
    return Binding{ev, Binding::Kind::kReceive, Ip("127.0.0.1"), port};
  }
  // Waits until every daemon holds a current key (bounded).
  static bool WaitForKeys(std::initializer_list<Daemon*> ds, int seconds = 10) {
    auto until = SystemClock::Get().Now() + seconds * kMicrosPerSecond;
    while (SystemClock::Get().Now() < until) {
      bool all = true;
      for (Daemon* dm : ds) all = all && dm->Snapshot().events.at(0).slots.current.has_value();
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  int64_t ticket_lifetime_ = 3600;
  std::string dir_;
  std::unique_ptr<Node> node_;
  std::map<std::string, std::string> api_keys_;
  std::map<std::string, std::unique_ptr<Daemon>> daemons_;
  IpAddress group_;
  uint16_t port_ = 0;
};

// Deliverable 2 in miniature: exact plaintext to the receiver, only
// ciphertext on the wire, replayed and modified packets dropped and counted.
TEST_F(DaemonTest, RelayDeliversExactPlaintextAndDropsTampering) {
  Client("s1", "studio", Role::kSender);
  Client("r1", "viewers", Role::kReceiver);
  Event("live", SystemClock::Get().NowSeconds() - 1, 30);
  const uint16_t in_port = RandomPort(), out_port = RandomPort();
  auto app_in = OpenUdpSocket(Ip("127.0.0.1"), out_port, 1 << 20);  // the receiving application
  ASSERT_TRUE(app_in.ok());
  MulticastOptions lo;
  lo.interface = "lo";
  auto wire = OpenMulticastReceiver(group_, port_, {}, lo);  // an eavesdropper on the wire
  ASSERT_TRUE(wire.ok());
  Daemon* s1 = Start("s1", Send("live", in_port));
  Daemon* r1 = Start("r1", Receive("live", out_port));
  ASSERT_TRUE(s1 && r1);
  ASSERT_TRUE(WaitForKeys({s1, r1}));

  auto app_out = OpenUdpSocket(Ip("127.0.0.1"), 0, 1 << 20);  // the sending application
  auto to = ToSocketAddress(Ip("127.0.0.1"), in_port);
  constexpr uint32_t kCount = 200;
  for (uint32_t i = 0; i < kCount; ++i) {
    Bytes m = Numbered(i);
    ASSERT_EQ(::sendto(app_out->get(), m.data(), m.size(), 0, to->get(), to->length),
              ssize_t(m.size()));
    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<Bytes> got;
  uint8_t buf[2048];
  while (got.size() < kCount) {
    ssize_t n = ::recv(app_in->get(), buf, sizeof buf, 0);
    if (n < 0) break;  // 200 ms without a datagram
    got.emplace_back(buf, buf + n);
  }
  ASSERT_EQ(got.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) EXPECT_EQ(got[i], Numbered(i)) << i;

  // The wire carried ciphertext only: no marker, 16-byte header with an SPI.
  std::vector<Bytes> captured;
  while (true) {
    ssize_t n = ::recv(wire->get(), buf, sizeof buf, 0);
    if (n < 0) break;
    captured.emplace_back(buf, buf + n);
  }
  ASSERT_GE(captured.size(), kCount);
  for (const Bytes& c : captured) {
    EXPECT_EQ(std::search(c.begin(), c.end(), std::begin("KCTEST"), std::end("KCTEST") - 1),
              c.end());
    EXPECT_NE(LoadBe32(c.data()), 0u);
    EXPECT_EQ(c.size(), 200u + 16 + 4 + 16);  // header, padding + trailer to a 4-byte block, tag
  }

  // Replays and forgeries, injected onto the wire from another socket.
  auto attacker = OpenMulticastSender(group_, {}, lo);
  auto wire_to = ToSocketAddress(group_, port_);
  auto before = r1->Snapshot().data_plane;
  for (int i = 0; i < 5; ++i)
    ::sendto(attacker->get(), captured[size_t(i)].data(), captured[size_t(i)].size(), 0,
             wire_to->get(), wire_to->length);
  for (int i = 0; i < 5; ++i) {
    Bytes forged = captured[size_t(10 + i)];
    forged[40] ^= 0x01;  // one bit of ciphertext
    ::sendto(attacker->get(), forged.data(), forged.size(), 0, wire_to->get(), wire_to->length);
  }
  Bytes plain = ToBytes("KCTEST plaintext injected");
  ::sendto(attacker->get(), plain.data(), plain.size(), 0, wire_to->get(), wire_to->length);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto after = r1->Snapshot().data_plane;
  EXPECT_EQ(after.dropped(DropReason::kReplay) - before.dropped(DropReason::kReplay), 5u);
  EXPECT_EQ(after.dropped(DropReason::kAuthFailed) - before.dropped(DropReason::kAuthFailed), 5u);
  EXPECT_EQ(after.total_dropped() - before.total_dropped(),
            11u);  // the plaintext too (no SA with its "SPI")
  EXPECT_LT(::recv(app_in->get(), buf, sizeof buf, 0), 0);  // and nothing reached the application

  // The status page says the same.
  DaemonStatus st = r1->Snapshot();
  httplib::Client http("http://" + st.status_addr);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("keycast_dataplane_dropped_total{reason=\"replay\"} 5"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(
      metrics->body.find(
          "keycast_agent_datagrams_total{event=\"live\",kind=\"receive\",stage=\"delivered\"} 200"),
      std::string::npos);
  auto status = http.Get("/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->body.find("\"state\": \"running\""), std::string::npos) << status->body;
  EXPECT_EQ(s1->Snapshot().data_plane.count(Outcome::kProtected), kCount);
}

// Source authentication through the daemons: the sender's batches leave
// after their signed manifest (full, or on the batch timer), and a receiver
// that fetched its key before the sender did (so its SA vouches for nobody)
// asks the key service about the sender it sees, then verifies and delivers.
TEST_F(DaemonTest, SignedRelayLooksUpALateSenderThenDeliversEverything) {
  Client("s1", "studio", Role::kSender);
  Client("r1", "viewers", Role::kReceiver);
  Event("live", SystemClock::Get().NowSeconds() - 1, 30, 0, /*source_auth=*/true);
  const uint16_t in_port = RandomPort(), out_port = RandomPort();
  auto app_in = OpenUdpSocket(Ip("127.0.0.1"), out_port, 1 << 20);
  ASSERT_TRUE(app_in.ok());
  Daemon* r1 = Start("r1", Receive("live", out_port));
  ASSERT_TRUE(r1 && WaitForKeys({r1}));  // before the sender fetched a key
  Daemon* s1 = Start("s1", Send("live", in_port));
  ASSERT_TRUE(s1 && WaitForKeys({s1}));

  auto app_out = OpenUdpSocket(Ip("127.0.0.1"), 0, 1 << 20);
  auto to = ToSocketAddress(Ip("127.0.0.1"), in_port);
  auto send = [&](uint32_t n) {
    Bytes m = Numbered(n);
    ASSERT_EQ(::sendto(app_out->get(), m.data(), m.size(), 0, to->get(), to->length),
              ssize_t(m.size()));
  };
  uint8_t buf[2048];
  // Until r1's SA vouches for s1, its packets are refused (unknown_sender)
  // and looked up; one datagram every 100 ms, each alone in its batch.
  bool delivered = false;
  for (uint32_t i = 0; i < 50 && !delivered; ++i) {
    send(1000 + i);
    ssize_t n = ::recv(app_in->get(), buf, sizeof buf, 0);  // up to 200 ms
    delivered = n > 0 && Bytes(buf, buf + n) == Numbered(1000 + i);
  }
  ASSERT_TRUE(delivered) << "the receiver never verified the late sender";
  EXPECT_GT(r1->Snapshot().data_plane.dropped(DropReason::kUnknownSender), 0u);

  // Now every datagram arrives, in order, byte-exact.
  while (::recv(app_in->get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  constexpr uint32_t kCount = 200;
  for (uint32_t i = 0; i < kCount; ++i) {
    send(i);
    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<Bytes> got;
  while (got.size() < kCount) {
    ssize_t n = ::recv(app_in->get(), buf, sizeof buf, 0);
    if (n < 0) break;
    got.emplace_back(buf, buf + n);
  }
  ASSERT_EQ(got.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) EXPECT_EQ(got[i], Numbered(i)) << i;
  auto rx = r1->Snapshot().data_plane;
  auto tx = s1->Snapshot().data_plane;
  EXPECT_GE(rx.count(Outcome::kManifestVerified), kCount / 32);
  EXPECT_GE(tx.count(Outcome::kManifestSent), 2 * (kCount / 32));
  EXPECT_EQ(rx.dropped(DropReason::kForged) + rx.dropped(DropReason::kBadSignature), 0u);
}

// A client whose ticket does not list the event waits (and its traffic,
// were there any, has no policy); a sender binding on a receiver-only grant
// is refused at start with a reason.
TEST_F(DaemonTest, UngrantedEventsWaitAndWrongRolesAreRefused) {
  Client("r1", "viewers", Role::kReceiver);
  Client("x1", "others", Role::kReceiver);
  Event("live", SystemClock::Get().NowSeconds() - 1, 30);
  Daemon* x1 = Start("x1", Receive("live", RandomPort()));
  ASSERT_NE(x1, nullptr);
  EXPECT_EQ(x1->Snapshot().events.at(0).state, "waiting");
  EXPECT_EQ(x1->data_plane().sa_count(), 0u);

  DaemonOptions o;
  o.bindings = {Send("live", RandomPort())};
  o.ticket_url = node_->http_url();
  o.credentials = ClientCredentials{api_keys_["r1"], "", ""};
  o.status_addr = "";
  auto dm = Daemon::Create(o);
  ASSERT_TRUE(dm.ok());
  Status st = (*dm)->Start();
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();

  // Granted later: the ticket watch notices and the event starts.
  ASSERT_TRUE(d()->SetMembership(kAdmin, "x1", "viewers", Role::kReceiver, true).ok());
  auto until = SystemClock::Get().Now() + 15 * kMicrosPerSecond;
  while (x1->Snapshot().events.at(0).state != "running" && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(x1->Snapshot().events.at(0).state, "running");
  EXPECT_TRUE(WaitForKeys({x1}));
}

// Late join (issue 5): the first interval is clear. A numbered stream sent
// across the boundary arrives whole: clear datagrams before, protected ones
// after, no gap; the wire carries the first in the clear and the rest not.
TEST_F(DaemonTest, ClearIntervalThenProtectedWithoutAGap) {
  Client("s1", "studio", Role::kSender);
  Client("r1", "viewers", Role::kReceiver);
  const int64_t start = SystemClock::Get().NowSeconds() + 1;
  const uint32_t interval = 4;
  Event("live", start, interval, 1);
  const uint16_t in_port = RandomPort(), out_port = RandomPort();
  auto app_in = OpenUdpSocket(Ip("127.0.0.1"), out_port, 4 << 20);
  ASSERT_TRUE(app_in.ok());
  Daemon* s1 = Start("s1", Send("live", in_port));
  Daemon* r1 = Start("r1", Receive("live", out_port));
  ASSERT_TRUE(s1 && r1);
  ASSERT_TRUE(WaitForKeys({s1, r1}, 8));
  ASSERT_TRUE(s1->Snapshot().events[0].slots.current->clear);

  auto app_out = OpenUdpSocket(Ip("127.0.0.1"), 0, 1 << 20);
  auto to = ToSocketAddress(Ip("127.0.0.1"), in_port);
  const Micros boundary = (start + interval) * kMicrosPerSecond;
  const Micros stop_at = boundary + 1500'000;
  uint32_t sent = 0;
  std::thread sender([&] {
    while (SystemClock::Get().Now() < stop_at && sent < 100000) {
      Bytes m = Numbered(sent);
      ::sendto(app_out->get(), m.data(), m.size(), 0, to->get(), to->length);
      ++sent;
      std::this_thread::sleep_for(std::chrono::microseconds(2000));
    }
  });
  std::vector<uint32_t> seen;
  uint8_t buf[2048];
  while (true) {
    ssize_t n = ::recv(app_in->get(), buf, sizeof buf, 0);
    if (n < 0 && SystemClock::Get().Now() > stop_at) break;
    if (n <= 0) continue;
    std::string s(reinterpret_cast<char*>(buf), size_t(n));
    seen.push_back(uint32_t(std::stoul(s.substr(7))));
    EXPECT_EQ(Bytes(buf, buf + n), Numbered(seen.back()));
  }
  sender.join();
  ASSERT_GT(sent, 100u);
  ASSERT_EQ(seen.size(), sent) << "lost datagrams";
  for (uint32_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i) << "gap or reordering at " << i;
  auto tx = s1->Snapshot().data_plane;
  auto rx = r1->Snapshot().data_plane;
  EXPECT_GT(tx.count(Outcome::kClearSent), 0u);
  EXPECT_GT(tx.count(Outcome::kProtected), 0u);
  EXPECT_EQ(tx.count(Outcome::kClearSent) + tx.count(Outcome::kProtected), sent);
  EXPECT_EQ(rx.count(Outcome::kClearReceived), tx.count(Outcome::kClearSent));
  EXPECT_EQ(rx.count(Outcome::kOpened), tx.count(Outcome::kProtected));
  EXPECT_EQ(rx.total_dropped(), 0u);
}

class ShortTicketTest : public DaemonTest {
 protected:
  ShortTicketTest() { ticket_lifetime_ = 6; }
};

// The ticket is renewed before it expires, and keys keep coming.
TEST_F(ShortTicketTest, RenewsTheTicketBeforeExpiry) {
  Client("r1", "viewers", Role::kReceiver);
  Event("live", SystemClock::Get().NowSeconds() - 1, 2);
  Daemon* r1 = Start("r1", Receive("live", RandomPort()));
  ASSERT_NE(r1, nullptr);
  const int64_t first = r1->Snapshot().ticket_expires_at;
  auto until = SystemClock::Get().Now() + 12 * kMicrosPerSecond;
  while (r1->Snapshot().ticket_expires_at == first && SystemClock::Get().Now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(r1->Snapshot().ticket_expires_at, first);
  EXPECT_LT(SystemClock::Get().NowSeconds(), first);  // renewed before it ran out
  EXPECT_TRUE(WaitForKeys({r1}));
  EXPECT_EQ(r1->Snapshot().events[0].keys.refusals, 0u);
}

}  // namespace
}  // namespace keycast::agent
