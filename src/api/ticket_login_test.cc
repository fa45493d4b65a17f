// Brute force against ticket logins over real HTTP on loopback: 1,000
// wrong passwords from one address cost a bounded number of Argon2id
// verifications (counted) and of CPU seconds (getrusage), are answered 429
// with Retry-After and audited, while the right password keeps working for
// another client from that address and for the same client from another.
// And an unknown name costs the Argon2id work of a known one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "keycast/api_server.h"
#include "keycast/crypto.h"
#include "keycast/password.h"
#include "testing/loopback.h"

namespace keycast {
namespace {

using json = nlohmann::json;
const Actor kAdmin{"admin:test"};

struct Answer {
  int status = 0;
  std::string head, body;
  std::string Header(const std::string& name) const {
    size_t at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return head.substr(at, head.find("\r\n", at) - at);
  }
};

// POST /v1/tickets from `source` (a loopback address) on a fresh connection.
Answer PostTicket(const std::string& source, int port, const std::string& body) {
  Answer ans;
  int fd = testing::ConnectFrom(source, port);
  if (fd < 0) return ans;
  std::string req =
      "POST /v1/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[16384];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, size_t(n));
  ::close(fd);
  size_t end = got.find("\r\n\r\n");
  if (got.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return ans;
  ans.status = std::stoi(got.substr(9, 3));
  ans.head = got.substr(0, end + 2);
  ans.body = got.substr(end + 4);
  return ans;
}

std::string Creds(const std::string& client, const std::string& password) {
  return json({{"client", client}, {"password", password}}).dump();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class TicketLoginTest : public ::testing::Test {
 protected:
  // The cost of the directory's password hashes.
  virtual PasswordCost Cost() const { return PasswordCost::kTestOnly; }

  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ = std::move(Directory::Open(store_.get(), sealer_.get(), &SystemClock::Get(), {Cost()}))
               .value();
    keys_ =
        std::move(ServiceKeys::Open(store_.get(), sealer_.get(), &SystemClock::Get(), 3600, true))
            .value();
    tickets_ = std::make_unique<TicketService>(dir_.get(), keys_.get(), &SystemClock::Get(),
                                               TicketServiceOptions{});
    for (const char* c : {"alice", "bob"})
      ASSERT_TRUE(
          dir_->CreateClient(kAdmin, ClientSpec{c, "", std::string(c) + "-password", true}).ok());
    ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{"nopw", "", std::nullopt, true}).ok());
    ApiServerOptions o;
    o.port = 0;
    o.threads = 4;
    server_ = std::make_unique<ApiServer>(
        ApiServices{dir_.get(), tickets_.get(), keys_.get(), store_.get(), nullptr}, o);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  std::unique_ptr<ApiServer> server_;
};

// With the production cost (Argon2id interactive, 64 MiB), so that the CPU
// time of the hashes dominates and the bound below is about them.
class TicketBruteForceTest : public TicketLoginTest {
 protected:
  PasswordCost Cost() const override { return PasswordCost::kInteractive; }
};

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

TEST_F(TicketBruteForceTest, ThousandWrongPasswordsCostBoundedCpuAndOthersStillLogIn) {
  // What the CPU bound is made of, measured in this process first: one
  // Argon2id verification of the directory's cost, and one refused request
  // that does no password work (no password given: 401 before the limiter).
  auto probe = HashPassword("probe", Cost());
  ASSERT_TRUE(probe.ok());
  std::vector<double> per_hash;
  for (int i = 0; i < 3; ++i) {
    double c0 = CpuSeconds();
    EXPECT_FALSE(VerifyPassword("not-the-probe", *probe));
    per_hash.push_back(CpuSeconds() - c0);
  }
  const double hash_cpu = Median(per_hash);
  double c0 = CpuSeconds();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(PostTicket("127.0.0.5", server_->port(), json({{"client", "alice"}}).dump()).status,
              401);
  const double request_cpu = (CpuSeconds() - c0) / 100;

  const uint64_t h0 = PasswordHashCount();
  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  int unauthorized = 0, throttled = 0;
  for (int i = 0; i < 1000; ++i) {
    Answer a =
        PostTicket("127.0.0.2", server_->port(), Creds("alice", "guess-" + std::to_string(i)));
    if (a.status == 429) {
      ++throttled;
      EXPECT_GE(std::stoi(a.Header("Retry-After")), 1) << a.head;
      EXPECT_EQ(json::parse(a.body)["error"]["code"], "resource_exhausted");
    } else {
      EXPECT_EQ(a.status, 401) << a.head;
      ++unauthorized;
    }
    if (i == 500) {
      // Meanwhile: another client from the attacker's address, and alice
      // from elsewhere, sign in.
      EXPECT_EQ(PostTicket("127.0.0.2", server_->port(), Creds("bob", "bob-password")).status, 200);
      EXPECT_EQ(PostTicket("127.0.0.3", server_->port(), Creds("alice", "alice-password")).status,
                200);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t hashes = PasswordHashCount() - h0;
  const double cpu = CpuSeconds() - cpu0;
  // 5 free failures, then one per back-off step (1, 2, 4, ... s) of the
  // run, plus the two right passwords. Without the limiter: 1,002.
  const uint64_t steps = uint64_t(std::log2(std::max(wall, 1.0))) + 2;
  std::printf(
      "1000 wrong passwords in %.2f s: %d refused, %d throttled, %llu Argon2id, %.2f s CPU\n", wall,
      unauthorized, throttled, static_cast<unsigned long long>(hashes), cpu);
  const uint64_t admitted = 5u + steps + 2u;
  EXPECT_LE(hashes, admitted);
  // CPU: the admitted verifications and 1,002 requests' handling, each
  // with a 50 % margin, plus 0.3 s of slack; without the limiter 1,002
  // verifications would cost several times the bound.
  const double bound = 1.5 * (double(admitted) * hash_cpu + 1002 * request_cpu) + 0.3;
  std::printf(
      "CPU: %.3f s measured, bound %.3f s (Argon2id %.1f ms, request %.2f ms); "
      "unlimited: %.1f s\n",
      cpu, bound, hash_cpu * 1e3, request_cpu * 1e3, 1002 * hash_cpu);
  EXPECT_LE(cpu, bound);
  EXPECT_LT(bound, 0.25 * 1002 * hash_cpu) << "the bound would not catch a missing limiter";
  EXPECT_GE(throttled, 1000 - int(5 + steps));
  // The back-off steps are audited, not every refusal.
  size_t audited = 0;
  auto audit = store_->ReadAudit(0, 100000);
  ASSERT_TRUE(audit.ok());
  for (const auto& r : *audit)
    if (r.action == "login.backoff") {
      ++audited;
      EXPECT_EQ(r.target, "client:alice from 127.0.0.2");
    }
  EXPECT_GE(audited, 1u);
  EXPECT_LE(audited, steps + 1);
}

// Ticket login with an unknown name, a client without a password or a
// wrong password each run one Argon2id verification (issue 13: an unknown
// name used to return before it), and get the same answer.
TEST_F(TicketLoginTest, UnknownNamesCostTheArgon2idOfKnownOnes) {
  std::string message;
  for (const char* name : {"alice", "nobody", "nopw"}) {
    const uint64_t h0 = PasswordHashCount();
    Answer a = PostTicket("127.0.0.4", server_->port(), Creds(name, "wrong-password"));
    EXPECT_EQ(a.status, 401) << name;
    EXPECT_EQ(PasswordHashCount() - h0, 1u) << name;
    std::string m = json::parse(a.body)["error"]["message"];
    if (message.empty()) message = m;
    EXPECT_EQ(m, message) << "the answer tells " << name << " apart";
  }
}

}  // namespace
}  // namespace keycast
