// The HTTP front's limits, with real sockets on loopback: slow and idle
// clients, held long-polls, per-peer and total connection caps, head and
// body deadlines, and malformed framing. Each test fails without the limit
// it names (see the comment at each).
//
// Clients bind to other loopback addresses (127.0.0.2, ...) to play other
// peers; the whole of 127.0.0.0/8 is local on Linux.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "keycast/api_server.h"
#include "keycast/crypto.h"
#include "testing/loopback.h"

namespace keycast {
namespace {

using json = nlohmann::json;
using Clock_ = std::chrono::steady_clock;
const Actor kAdmin{"admin:test"};

double SecondsSince(Clock_::time_point t0) {
  return std::chrono::duration<double>(Clock_::now() - t0).count();
}

int Connect(const std::string& source, int port) { return testing::ConnectFrom(source, port); }
using testing::ClosedWithin;
using testing::ReadUntilClosed;
using testing::SendAll;

class HttpLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ = std::move(Directory::Open(store_.get(), sealer_.get(), &SystemClock::Get(),
                                     {PasswordCost::kTestOnly}))
               .value();
    keys_ =
        std::move(ServiceKeys::Open(store_.get(), sealer_.get(), &SystemClock::Get(), 3600, true))
            .value();
    tickets_ = std::make_unique<TicketService>(dir_.get(), keys_.get(), &SystemClock::Get(),
                                               TicketServiceOptions{});
    ASSERT_TRUE(dir_->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(
        dir_->CreateClient(kAdmin, ClientSpec{"alice", "", std::string("alice-password"), true})
            .ok());
    ASSERT_TRUE(dir_->SetMembership(kAdmin, "alice", "viewers", Role::kReceiver, true).ok());
    AddEvent("news");
    options_.port = 0;
    options_.threads = 4;
    options_.max_long_polls = 4;
    options_.default_key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  void AddEvent(const std::string& name) {
    EventSpec e;
    e.name = name;
    e.title = name;
    e.group_address = *IpAddress::Parse("239.1.1." + std::to_string(++events_));
    e.port = 5004;
    e.schedule.start = 1'900'000'000;
    e.schedule.duration = 3600;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    ASSERT_TRUE(dir_->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, name, "viewers").ok());
  }

  void Start() {
    server_ = std::make_unique<ApiServer>(
        ApiServices{dir_.get(), tickets_.get(), keys_.get(), store_.get(), nullptr}, options_);
    ASSERT_TRUE(server_->Start().ok());
  }

  // GET path on a fresh connection from 127.0.0.1; the status (0 on
  // transport failure) and the time it took.
  std::pair<int, double> Get(const std::string& path) {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(5, 0);
    auto t0 = Clock_::now();
    auto r = c.Get(path.c_str());
    return {r ? r->status : 0, SecondsSince(t0)};
  }

  std::pair<int, double> Login() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(5, 0);
    auto t0 = Clock_::now();
    auto r = c.Post("/v1/tickets", R"({"client":"alice","password":"alice-password"})",
                    "application/json");
    if (r && r->status == 200) digest_ = json::parse(r->body)["grant_digest"];
    return {r ? r->status : 0, SecondsSince(t0)};
  }

  // Starts a ticket long-poll that waits for alice's events to change.
  std::thread Watch(std::atomic<int>* status) {
    std::string body = json({{"client", "alice"},
                             {"password", "alice-password"},
                             {"digest", digest_},
                             {"timeout_seconds", 30}})
                           .dump();
    int port = server_->port();
    return std::thread([port, body, status] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(40, 0);
      auto r = c.Post("/v1/tickets/watch", body, "application/json");
      status->store(r ? r->status : -1);
    });
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  ApiServerOptions options_;
  std::unique_ptr<ApiServer> server_;
  std::string digest_;
  int events_ = 0;
};

// The bound every answer below is held to while the server is under the
// slow-client load; unloaded answers take milliseconds.
constexpr double kAnswerBoundSeconds = 2.0;

// 200 connections that send their headers a byte a second, and long-polls
// held to the cap, do not stop /v1/health, the OpenAPI page or a ticket
// request. Without the gate (cpp-httplib's loop gives each connection a
// thread of the 4-thread pool until it closes) and without a long-poll
// pool of its own, the first requests below time out.
TEST_F(HttpLimitsTest, SlowHeadersAndHeldLongPollsDoNotStopOthers) {
  Start();
  ASSERT_EQ(Login().first, 200);
  std::atomic<int> watch_status[4] = {0, 0, 0, 0};
  std::vector<std::thread> watches;
  for (auto& s : watch_status) watches.push_back(Watch(&s));

  // 200 slow clients from four other addresses (50 each: under the cap).
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect("127.0.0." + std::to_string(2 + i % 4), server_->port());
    SendAll(fd, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    while (!stop) {
      for (int fd : slow) (void)::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      for (int i = 0; i < 10 && !stop; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // Every slow client and every long-poll holds a connection now.
  auto t0 = Clock_::now();
  while (server_->open_connections() < 204 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(server_->open_connections(), 204u);

  double worst = 0;
  for (int i = 0; i < 10; ++i) {
    auto [st, s] = Get("/v1/health");
    EXPECT_EQ(st, 200);
    worst = std::max(worst, s);
    auto [st2, s2] = Get("/v1/openapi.json");
    EXPECT_EQ(st2, 200);
    worst = std::max(worst, s2);
  }
  auto [lst, ls] = Login();
  EXPECT_EQ(lst, 200);
  worst = std::max(worst, ls);
  EXPECT_LT(worst, kAnswerBoundSeconds);
  std::printf("slowest answer under 200 slow clients and 4 long-polls: %.1f ms\n", worst * 1000);
  for (auto& s : watch_status) EXPECT_EQ(s.load(), 0) << "a long-poll returned early";

  // A change to alice's events ends the long-polls with a fresh ticket.
  AddEvent("sport");
  for (auto& w : watches) w.join();
  for (auto& s : watch_status) EXPECT_EQ(s.load(), 200);
  stop = true;
  dribble.join();
  for (int fd : slow) ::close(fd);
}

// Long-polls beyond the cap get 503 with Retry-After at once, and held
// long-polls never take the request pool's threads. Without the long-poll
// pool, the held long-polls would take both request threads, and
// /v1/health would wait for them.
TEST_F(HttpLimitsTest, LongPollsBeyondTheCapAreRefusedAndNeverTakeRequestThreads) {
  options_.threads = 2;
  options_.max_long_polls = 3;
  Start();
  ASSERT_EQ(Login().first, 200);
  std::atomic<int> held[3] = {0, 0, 0};
  std::vector<std::thread> watches;
  for (auto& s : held) watches.push_back(Watch(&s));
  auto t0 = Clock_::now();
  while (server_->open_connections() < 3 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all three are waiting

  httplib::Client c("127.0.0.1", server_->port());
  c.set_read_timeout(5, 0);
  auto t1 = Clock_::now();
  auto r = c.Post("/v1/tickets/watch",
                  json({{"client", "alice"},
                        {"password", "alice-password"},
                        {"digest", digest_},
                        {"timeout_seconds", 30}})
                      .dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "unavailable");
  EXPECT_LT(SecondsSince(t1), 1.0);
  for (int i = 0; i < 5; ++i) {
    auto [st, s] = Get("/v1/health");
    EXPECT_EQ(st, 200);
    EXPECT_LT(s, kAnswerBoundSeconds);
  }
  EXPECT_EQ(Login().first, 200);  // on the request pool
  AddEvent("sport");
  for (auto& w : watches) w.join();
  for (auto& s : held) EXPECT_EQ(s.load(), 200);
}

// The head deadline is total: a client that sends a byte every 100 ms
// (never idle long enough for a per-read timeout) is cut off once the head
// is not complete within header_timeout_ms. Without it the connection
// stays open as long as the client keeps dribbling.
TEST_F(HttpLimitsTest, HeaderDeadlineIsTotalNotPerRead) {
  options_.header_timeout_ms = 1000;
  Start();
  int fd = Connect("127.0.0.2", server_->port());
  auto t0 = Clock_::now();
  std::atomic<bool> closed{false};
  std::thread dribble([&] {
    SendAll(fd, "GET /v1/health HTTP/1.1\r\n");
    while (!closed && SecondsSince(t0) < 4) {
      if (::send(fd, "X", 1, MSG_NOSIGNAL) <= 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  bool eof = false;
  std::string got = ReadUntilClosed(fd, 4000, &eof);
  double at = SecondsSince(t0);
  closed = true;
  dribble.join();
  ::close(fd);
  EXPECT_TRUE(eof) << "the dribbling client was never cut off";
  EXPECT_GE(at, 0.9);
  EXPECT_LT(at, 2.0);
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  }
  // Meanwhile, and after, others are served.
  EXPECT_EQ(Get("/v1/health").first, 200);
}

// The body deadline: a complete head, then a body a byte every 100 ms, is
// answered 408 and closed once body_timeout_ms passes.
TEST_F(HttpLimitsTest, BodyDeadline) {
  options_.body_timeout_ms = 1000;
  Start();
  int fd = Connect("127.0.0.2", server_->port());
  SendAll(fd, "POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{");
  auto t0 = Clock_::now();
  std::atomic<bool> closed{false};
  std::thread dribble([&] {
    while (!closed && SecondsSince(t0) < 4) {
      if (::send(fd, " ", 1, MSG_NOSIGNAL) <= 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  bool eof = false;
  std::string got = ReadUntilClosed(fd, 4000, &eof);
  double at = SecondsSince(t0);
  closed = true;
  dribble.join();
  ::close(fd);
  EXPECT_TRUE(eof);
  EXPECT_GE(at, 0.9);
  EXPECT_LT(at, 2.0);
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
    EXPECT_NE(got.find("deadline_exceeded"), std::string::npos) << got;
  }
}

// One peer (an IPv4 address) may hold max_connections_per_ip connections;
// the next is answered 429 and closed, while other peers are served. Without
// the cap the ninth connection would be kept like the others.
TEST_F(HttpLimitsTest, PerIpConnectionLimit) {
  options_.max_connections_per_ip = 8;
  Start();
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) held.push_back(Connect("127.0.0.2", server_->port()));
  auto t0 = Clock_::now();
  while (server_->open_connections() < 8 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int ninth = Connect("127.0.0.2", server_->port());
  bool eof = false;
  std::string got = ReadUntilClosed(ninth, 2000, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(got.rfind("HTTP/1.1 429", 0), 0u) << got;
  EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
  ::close(ninth);
  // Another peer is served; the held connections are still open.
  EXPECT_EQ(Get("/v1/health").first, 200);
  for (int fd : held) EXPECT_FALSE(ClosedWithin(fd, 10));
  // Once one closes, the peer may connect again.
  ::close(held.back());
  held.pop_back();
  t0 = Clock_::now();
  while (server_->open_connections() > 7 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int again = Connect("127.0.0.2", server_->port());
  SendAll(again, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  got = ReadUntilClosed(again, 2000, &eof);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  ::close(again);
  for (int fd : held) ::close(fd);
}

// With max_connections open, a new connection closes the one that has
// waited longest without sending a request, and is served. Without the
// total cap every connection is kept (and the descriptors run out).
TEST_F(HttpLimitsTest, TotalConnectionCapClosesTheLongestWaiting) {
  options_.max_connections = 16;
  Start();
  std::vector<int> idle;
  for (int i = 0; i < 16; ++i) {
    idle.push_back(Connect("127.0.0." + std::to_string(2 + i % 8), server_->port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto t0 = Clock_::now();
  while (server_->open_connections() < 16 && SecondsSince(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Get("/v1/health").first, 200);
  EXPECT_TRUE(ClosedWithin(idle.front(), 2000)) << "the oldest idle connection was kept";
  EXPECT_LE(server_->open_connections(), 16u);
  for (int fd : idle) ::close(fd);
}

// A keep-alive connection that stays idle is closed after idle_timeout_ms;
// until then it serves several requests.
TEST_F(HttpLimitsTest, IdleKeepAliveConnectionsAreClosed) {
  options_.idle_timeout_ms = 500;
  Start();
  int fd = Connect("127.0.0.2", server_->port());
  SendAll(fd,
          "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto t0 = Clock_::now();
  bool eof = false;
  std::string got = ReadUntilClosed(fd, 3000, &eof);
  double at = SecondsSince(t0);
  ::close(fd);
  EXPECT_TRUE(eof);
  EXPECT_LT(at, 1.5);
  size_t first = got.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << got;
  EXPECT_NE(got.find("HTTP/1.1 200", first + 1), std::string::npos) << "pipelined request lost";
}

// Framing the gate refuses before a worker sees the request.
TEST_F(HttpLimitsTest, OversizedHeadsChunkedBodiesAndBadLengthsAreRefused) {
  Start();
  auto exchange = [&](const std::string& request) {
    int fd = Connect("127.0.0.2", server_->port());
    SendAll(fd, request);
    bool eof = false;
    std::string got = ReadUntilClosed(fd, 3000, &eof);
    ::close(fd);
    EXPECT_TRUE(eof);
    return got;
  };
  std::string big =
      "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(limits::kMaxHttpHeadBytes, 'a') +
      "\r\n\r\n";
  EXPECT_EQ(exchange(big).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(exchange("POST /v1/tickets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
                .rfind("HTTP/1.1 411", 0),
            0u);
  EXPECT_EQ(exchange("POST /v1/tickets HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n")
                .rfind("HTTP/1.1 413", 0),
            0u);
  EXPECT_EQ(
      exchange("POST /v1/tickets HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}")
          .rfind("HTTP/1.1 400", 0),
      0u);
  EXPECT_EQ(
      exchange("POST /v1/tickets HTTP/1.1\r\nContent-Length: -1\r\n\r\n").rfind("HTTP/1.1 400", 0),
      0u);
  // A well-formed request on the same server still works.
  EXPECT_EQ(Get("/v1/health").first, 200);
}

}  // namespace
}  // namespace keycast
