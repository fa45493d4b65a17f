// Revocation latency across processes over PostgreSQL (docs/cluster.md):
// one `keycast server --roles directory,ticket` and two `--roles key`
// processes that poll only once an hour, so a revocation reaches them by
// LISTEN/NOTIFY alone. 100 times: a membership is granted and seen by both
// key servers, then removed through the API; from the acknowledged answer
// (204) the test asks both key servers until each refuses. Asserts every
// revocation reached both within 5 s; prints p50/p99/max of the time until
// the later of the two refused (figures in docs/cluster.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "keycast/client.h"
#include "testing/postgres.h"
#include "testing/process.h"

namespace keycast {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kRevocations = 100;

TEST(RevocationLatencyPostgres, KeyServersInOtherProcessesRefuseWithinASecond) {
  auto pg = testing::SharedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  auto db = (*pg)->CreateDatabase();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::string bin = testing::KeycastBinary();
  ASSERT_FALSE(bin.empty()) << "KEYCAST_BIN must name the built keycast binary";
  std::string dir = testing::MakeTempDir("revoke-latency");
  std::string front_dir = dir + "/front";
  std::string out, err;
  ASSERT_EQ(
      testing::RunCommand({bin, "init", "--data-dir", front_dir, "--database", *db}, &out, &err), 0)
      << err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("kct_[0-9a-f]{16}_[0-9a-f]{64}")));
  std::string token = m.str();
  int http = testing::FreePort();
  std::vector<std::string> key_eps = {"127.0.0.1:" + std::to_string(testing::FreePort()),
                                      "127.0.0.1:" + std::to_string(testing::FreePort())};
  testing::ChildProcess front(
      {bin, "server", "--roles", "directory,ticket", "--data-dir", front_dir, "--database", *db,
       "--http-addr", "127.0.0.1:" + std::to_string(http), "--key-advertise", key_eps[0],
       "--refresh-ms", "3600000"},
      dir, "front");
  std::vector<std::unique_ptr<testing::ChildProcess>> keys;
  for (size_t i = 0; i < key_eps.size(); ++i)
    keys.push_back(std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{bin, "server", "--roles", "key", "--data-dir",
                                 dir + "/key" + std::to_string(i), "--kek-file", front_dir + "/kek",
                                 "--database", *db, "--key-addr", key_eps[i], "--refresh-ms",
                                 "3600000"},
        dir, "key" + std::to_string(i)));
  ASSERT_TRUE(testing::WaitForHttp("127.0.0.1", http, "/v1/health", 15000)) << front.err();

  httplib::Client c("127.0.0.1", http);
  httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  auto post = [&](const std::string& path, const std::string& body) {
    auto r = c.Post(path.c_str(), auth, body, "application/json");
    EXPECT_TRUE(r && (r->status == 201 || r->status == 200))
        << path << " " << (r ? r->body : "no answer");
    return r ? json::parse(r->body, nullptr, false) : json();
  };
  post("/v1/groups", R"({"name":"viewers"})");
  post("/v1/clients", R"({"name":"v1"})");
  post("/v1/memberships", R"({"client":"v1","group":"viewers"})");
  int64_t start = SystemClock::Get().NowSeconds() - 5;
  post("/v1/events", R"({"name":"live","title":"Live","group_address":"239.3.3.4","port":5000,
       "key_servers":[")" +
                         key_eps[0] + R"(",")" + key_eps[1] + R"("],
       "schedule":{"start":)" +
                         std::to_string(start) + R"(,"duration":3600},"interval_seconds":2})");
  post("/v1/assignments", R"({"event":"live","group":"viewers"})");
  std::string api_key = post("/v1/clients/v1/api-keys", "{}")["api_key"];
  TicketClient tc("http://127.0.0.1:" + std::to_string(http));
  auto session = tc.Login(ClientCredentials{api_key, "", ""});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const TicketEvent* ev = session->ticket.FindEvent("live");
  ASSERT_NE(ev, nullptr);
  ASSERT_EQ(ev->key_servers.size(), 2u);
  // One event copy per key server, so each is asked on its own.
  std::vector<TicketEvent> per_server;
  for (const Endpoint& ep : ev->key_servers) {
    per_server.push_back(*ev);
    per_server.back().key_servers = {ep};
  }
  KeyClient kc(*session, KeyClient::Options{1, 100, 100});
  auto status = [&](size_t server) {
    auto r = kc.Request(per_server[server], keyproto::RequestKind::kInitial, Epoch{}, SenderId{});
    return r.ok() ? std::optional(r->status) : std::nullopt;
  };
  // Waits until every key server answers `want`; returns false after 5 s.
  auto all_answer = [&](keyproto::ReplyStatus want, Clock::time_point* last) {
    std::vector<bool> done(per_server.size(), false);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    size_t left = per_server.size();
    while (left > 0 && Clock::now() < deadline) {
      for (size_t i = 0; i < per_server.size(); ++i) {
        if (done[i] || status(i) != want) continue;
        done[i] = true;
        --left;
        if (last) *last = Clock::now();
      }
    }
    return left == 0;
  };
  ASSERT_TRUE(all_answer(keyproto::ReplyStatus::kOk, nullptr)) << keys[0]->err() << keys[1]->err();

  std::vector<double> ms;
  for (int i = 0; i < kRevocations; ++i) {
    if (i > 0) {
      auto r = c.Post("/v1/memberships", auth, R"({"client":"v1","group":"viewers"})",
                      "application/json");
      ASSERT_TRUE(r && (r->status == 201 || r->status == 200)) << (r ? r->body : "no answer");
      ASSERT_TRUE(all_answer(keyproto::ReplyStatus::kOk, nullptr)) << "grant " << i;
    }
    auto del = c.Delete("/v1/memberships/v1/viewers", auth);
    ASSERT_TRUE(del && del->status == 204);
    auto acked = Clock::now();
    Clock::time_point refused;
    ASSERT_TRUE(all_answer(keyproto::ReplyStatus::kNotAuthorized, &refused))
        << "revocation " << i << " not followed within 5 s\n"
        << keys[0]->err() << keys[1]->err();
    ms.push_back(std::chrono::duration<double, std::milli>(refused - acked).count());
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, size_t(p * ms.size()))]; };
  std::printf(
      "revocation latency, API answer -> refused by both key servers (%d revocations, loopback, "
      "LISTEN/NOTIFY, polling off): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      kRevocations, pct(0.50), pct(0.99), ms.back());
  RecordProperty("p50_ms", std::to_string(pct(0.50)));
  RecordProperty("p99_ms", std::to_string(pct(0.99)));
  EXPECT_EQ(ms.size(), size_t(kRevocations));
  front.Stop();
  for (auto& k : keys) k->Stop();
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace keycast
