// The key service's TCP side under slow, idle and greedy clients, with real
// sockets on loopback: a frame deadline, an idle timeout, a per-peer cap
// and a total cap. Each test fails without the limit it names. Clients bind
// to 127.0.0.2, 127.0.0.3, ... to play other peers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "keycast/codec.h"
#include "keycast/key_service.h"
#include "keycast/ticket_service.h"
#include "testing/loopback.h"

namespace keycast {
namespace {

using SteadyClock = std::chrono::steady_clock;
const Actor kAdmin{"admin:test"};
constexpr int64_t kStart = 1'900'000'000;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

int Connect(const std::string& source, int port) { return testing::ConnectFrom(source, port); }
using testing::ClosedWithin;
using testing::ReadUntilClosed;

class KeyTcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ =
        std::move(Directory::Open(store_.get(), sealer_.get(), &clock_, {PasswordCost::kTestOnly}))
            .value();
    keys_ = std::move(ServiceKeys::Open(store_.get(), sealer_.get(), &clock_, 3600, true)).value();
    tickets_ = std::make_unique<TicketService>(dir_.get(), keys_.get(), &clock_,
                                               TicketServiceOptions{3600});
    ASSERT_TRUE(dir_->CreateGroup(kAdmin, {"viewers", ""}).ok());
    EventSpec e;
    e.name = "show";
    e.title = "The show";
    e.group_address = *IpAddress::Parse("239.5.5.5");
    e.port = 5000;
    e.schedule.start = kStart;
    e.schedule.duration = 600;
    e.interval_seconds = 10;
    e.initial_keying_seconds = 120;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    ASSERT_TRUE(dir_->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, "show", "viewers").ok());
    ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{"alice", "", std::nullopt, true}).ok());
    ASSERT_TRUE(dir_->SetMembership(kAdmin, "alice", "viewers", Role::kReceiver, true).ok());
    clock_.Set((kStart - 60) * kMicrosPerSecond);  // inside the initial keying period
    o_.addr = "127.0.0.1:0";
    o_.threads = 1;
  }
  void TearDown() override {
    if (svc_) svc_->Stop();
  }
  void Start() {
    svc_ = std::make_unique<KeyService>(dir_.get(), keys_.get(), store_.get(), sealer_.get(),
                                        &clock_, o_);
    ASSERT_TRUE(svc_->Start().ok());
    port_ = Endpoint::Parse(svc_->endpoint())->port;
  }
  // A framed, valid initial key request of alice's.
  std::string Frame() {
    auto id = *dir_->FindClient("alice");
    auto t = tickets_->Issue(AuthenticatedClient{id, "alice", "test"});
    EXPECT_TRUE(t.ok());
    Ticket ticket = *DecodeTicket(t->ticket);
    auto keys = keyproto::SessionKeys::Derive(t->session_key, ticket.id);
    keyproto::Request q;
    q.credential = ticket.credential;
    crypto::RandomFill(q.client_nonce);
    q.timestamp = clock_.Now();
    q.event = ticket.events.at(0).id;
    q.kind = keyproto::RequestKind::kInitial;
    Bytes wire = keyproto::EncodeRequest(q, keys);
    uint8_t len[4];
    StoreBe32(len, static_cast<uint32_t>(wire.size()));
    return std::string(reinterpret_cast<char*>(len), 4) +
           std::string(reinterpret_cast<char*>(wire.data()), wire.size());
  }
  // Sends a valid request from `source`; true if a framed answer came back.
  bool Answered(int fd) {
    std::string f = Frame();
    if (::send(fd, f.data(), f.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(f.size()))
      return false;
    std::string got;
    auto t0 = SteadyClock::now();
    while (SecondsSince(t0) < 3) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
      if (got.size() >= 4 &&
          got.size() >= 4 + LoadBe32(reinterpret_cast<const uint8_t*>(got.data())))
        return true;
    }
    return false;
  }

  FakeClock clock_{0};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  KeyServiceOptions o_;
  std::unique_ptr<KeyService> svc_;
  int port_ = 0;
};

// 200 connections that send their frames a byte a second (8 from each of
// 25 peers: each at the per-peer cap) do not stop a valid request from
// another peer. The old TCP side gave each connection a thread of its own,
// at most 64, and refused every connection beyond: this request was closed
// unanswered.
TEST_F(KeyTcpTest, SlowFramesDoNotStopOthers) {
  Start();
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect("127.0.0." + std::to_string(2 + i / 8), port_);
    uint8_t len[4];
    StoreBe32(len, 100);
    (void)::send(fd, len, 4, MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    while (!stop) {
      for (int fd : slow) (void)::send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      for (int i = 0; i < 10 && !stop; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto t0 = SteadyClock::now();
  while (svc_->tcp_connections() < 200 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(svc_->tcp_connections(), 200u);
  double worst = 0;
  for (int i = 0; i < 10; ++i) {
    int fd = Connect("127.0.0.40", port_);
    auto t1 = SteadyClock::now();
    EXPECT_TRUE(Answered(fd)) << i;
    worst = std::max(worst, SecondsSince(t1));
    ::close(fd);
  }
  EXPECT_LT(worst, 2.0);
  std::printf("slowest key answer over TCP under 200 slow clients: %.1f ms\n", worst * 1000);
  stop = true;
  dribble.join();
  for (int fd : slow) ::close(fd);
}

// A frame must arrive whole within tcp_frame_timeout_ms however steadily its
// bytes trickle in. Without the deadline the connection stays open.
TEST_F(KeyTcpTest, FrameDeadlineIsTotal) {
  o_.tcp_frame_timeout_ms = 1000;
  Start();
  int fd = Connect("127.0.0.2", port_);
  auto t0 = SteadyClock::now();
  std::atomic<bool> done{false};
  std::thread dribble([&] {
    uint8_t len[4];
    StoreBe32(len, 100);
    (void)::send(fd, len, 4, MSG_NOSIGNAL);
    while (!done && SecondsSince(t0) < 4) {
      if (::send(fd, "x", 1, MSG_NOSIGNAL) <= 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  bool closed = ClosedWithin(fd, 4000);
  double at = SecondsSince(t0);
  done = true;
  dribble.join();
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_GE(at, 0.9);
  EXPECT_LT(at, 2.0);
}

// A connection that sends nothing is closed after the frame deadline; one
// that was answered is closed after the idle timeout. Without them both
// stay open.
TEST_F(KeyTcpTest, SilentAndIdleConnectionsAreClosed) {
  o_.tcp_frame_timeout_ms = 800;
  o_.tcp_idle_timeout_ms = 400;
  Start();
  int silent = Connect("127.0.0.2", port_);
  auto t0 = SteadyClock::now();
  EXPECT_TRUE(ClosedWithin(silent, 3000));
  EXPECT_GE(SecondsSince(t0), 0.7);
  ::close(silent);
  int fd = Connect("127.0.0.2", port_);
  ASSERT_TRUE(Answered(fd));
  ASSERT_TRUE(Answered(fd));  // several frames per connection
  auto t1 = SteadyClock::now();
  EXPECT_TRUE(ClosedWithin(fd, 3000));
  EXPECT_LT(SecondsSince(t1), 1.2);
  ::close(fd);
}

// One peer may hold tcp_max_connections_per_ip connections; the next is
// closed at once while another peer is answered.
TEST_F(KeyTcpTest, PerIpConnectionCap) {
  o_.tcp_max_connections_per_ip = 4;
  Start();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(Connect("127.0.0.2", port_));
  auto t0 = SteadyClock::now();
  while (svc_->tcp_connections() < 4 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int fifth = Connect("127.0.0.2", port_);
  EXPECT_TRUE(ClosedWithin(fifth, 1000)) << "the fifth connection of one peer was kept";
  ::close(fifth);
  int other = Connect("127.0.0.3", port_);
  EXPECT_TRUE(Answered(other));
  ::close(other);
  for (int fd : held) EXPECT_FALSE(ClosedWithin(fd, 10));
  for (int fd : held) ::close(fd);
}

// At tcp_max_connections, a new connection closes the one that has waited
// longest without a frame and is answered; open connections stay bounded.
TEST_F(KeyTcpTest, TotalConnectionCap) {
  o_.tcp_max_connections = 8;
  Start();
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(Connect("127.0.0." + std::to_string(2 + i), port_));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto t0 = SteadyClock::now();
  while (svc_->tcp_connections() < 8 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int fresh = Connect("127.0.0.20", port_);
  EXPECT_TRUE(Answered(fresh));
  EXPECT_TRUE(ClosedWithin(idle.front(), 1000));
  EXPECT_LE(svc_->tcp_connections(), 8u);
  ::close(fresh);
  for (int fd : idle) ::close(fd);
}

// A length of 0 or above the bound closes the connection without a word.
TEST_F(KeyTcpTest, BadLengthsClose) {
  Start();
  for (uint32_t n : {0u, uint32_t(limits::kMaxTcpMessageBytes + 1), 0xffffffffu}) {
    int fd = Connect("127.0.0.2", port_);
    uint8_t len[4];
    StoreBe32(len, n);
    (void)::send(fd, len, 4, MSG_NOSIGNAL);
    bool closed = false;
    EXPECT_EQ(ReadUntilClosed(fd, 1000, &closed), "");
    EXPECT_TRUE(closed) << n;
    ::close(fd);
  }
}

}  // namespace
}  // namespace keycast
