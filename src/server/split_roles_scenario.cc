#include "server/split_roles_scenario.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "keycast/client.h"
#include "testing/process.h"

namespace keycast::testing {

namespace {
std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

void ExpectKeyServiceFollowsRevocations(const std::string& dir,
                                        const std::vector<std::string>& init_flags,
                                        const std::vector<std::string>& front_flags,
                                        const std::vector<std::string>& key_flags,
                                        SplitRolesRun* run) {
  using json = nlohmann::json;
  std::string bin = KeycastBinary();
  ASSERT_FALSE(bin.empty()) << "KEYCAST_BIN must name the built keycast binary";
  std::string out, err;
  ASSERT_EQ(RunCommand(Concat({bin, "init"}, init_flags), &out, &err), 0) << err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("kct_[0-9a-f]{16}_[0-9a-f]{64}")));
  std::string token = m.str();
  int http = FreePort(), key = FreePort();
  std::string key_ep = "127.0.0.1:" + std::to_string(key);
  ChildProcess front(Concat({bin, "server", "--roles", "directory,ticket", "--http-addr",
                             "127.0.0.1:" + std::to_string(http), "--key-advertise", key_ep},
                            front_flags),
                     dir, "front");
  ChildProcess keys(
      Concat({bin, "server", "--roles", "key", "--key-addr", key_ep, "--refresh-ms", "200"},
             key_flags),
      dir, "keys");
  struct SaveLogs {
    ChildProcess &front, &keys;
    SplitRolesRun* run;
    ~SaveLogs() {
      front.Stop();
      keys.Stop();
      run->front = front.err();
      run->keys = keys.err();
    }
  } save{front, keys, run};
  ASSERT_TRUE(WaitForHttp("127.0.0.1", http, "/v1/health", 15000)) << front.err();
  httplib::Client c("127.0.0.1", http);
  if (auto health = c.Get("/v1/health"))
    run->store = json::parse(health->body, nullptr, false).value("store", "");
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
  post("/v1/events", R"({"name":"live","title":"Live","group_address":"239.3.3.3","port":5000,
       "schedule":{"start":)" +
                         std::to_string(start) + R"(,"duration":3600},"interval_seconds":2})");
  post("/v1/assignments", R"({"event":"live","group":"viewers"})");
  std::string api_key = post("/v1/clients/v1/api-keys", "{}")["api_key"];

  TicketClient tc("http://127.0.0.1:" + std::to_string(http));
  auto session = tc.Login(ClientCredentials{api_key, "", ""});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const TicketEvent* ev = session->ticket.FindEvent("live");
  ASSERT_NE(ev, nullptr);
  ASSERT_EQ(ev->key_servers.at(0).ToString(), key_ep);  // the advertised separate key service
  KeyClient kc(*session, KeyClient::Options{4, 200, 1000});
  // The key process loads the directory at start; wait until it serves.
  Result<keyproto::Reply> first = Unavailable("not asked");
  for (int i = 0; i < 50; ++i) {
    first = kc.Request(*ev, keyproto::RequestKind::kInitial, Epoch{}, SenderId{});
    if (first.ok() && first->status == keyproto::ReplyStatus::kOk) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(first.ok()) << first.status().ToString() << "\n" << keys.err();
  ASSERT_EQ(first->status, keyproto::ReplyStatus::kOk) << first->reason;

  // Revoke through the front process; the key process must refuse within
  // a few refresh periods.
  auto del = c.Delete("/v1/memberships/v1/viewers", auth);
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204);
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = kc.Request(*ev, keyproto::RequestKind::kInitial, Epoch{}, SenderId{});
    refused = r.ok() && r->status == keyproto::ReplyStatus::kNotAuthorized;
  }
  EXPECT_TRUE(refused) << keys.err();
  // Polling reloads; a PostgreSQL follower may instead apply the change in place.
  EXPECT_NE(keys.err().find("changed by another process"), std::string::npos);
}

}  // namespace keycast::testing
