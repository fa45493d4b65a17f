// The admin and ticket API over real HTTP on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "keycast/api_server.h"
#include "keycast/crypto.h"

namespace keycast {
namespace {

using json = nlohmann::json;

class ApiTest : public ::testing::Test {
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
    token_ = dir_->CreateAdminToken(Actor{"bootstrap"}, "test")->Encode();
    ApiServerOptions o;
    o.port = 0;
    o.threads = 4;
    o.default_key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    server_ = std::make_unique<ApiServer>(
        ApiServices{dir_.get(), tickets_.get(), keys_.get(), store_.get(), nullptr}, o);
    ASSERT_TRUE(server_->Start().ok());
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    cli_->set_read_timeout(30, 0);
  }
  void TearDown() override { server_->Stop(); }

  httplib::Headers Auth(const std::string& tok = "") {
    return {{"Authorization", "Bearer " + (tok.empty() ? token_ : tok)}};
  }
  // Returns status and parsed body (null if none).
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const httplib::Headers& h = {}) {
    httplib::Headers hh = h.empty() ? Auth() : h;
    // A client per call: httplib::Client is not safe for concurrent requests.
    httplib::Client cli("127.0.0.1", server_->port());
    cli.set_read_timeout(30, 0);
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET")
      r = cli.Get(path.c_str(), hh);
    else if (method == "POST")
      r = cli.Post(path.c_str(), hh, body, "application/json");
    else if (method == "PATCH")
      r = cli.Patch(path.c_str(), hh, body, "application/json");
    else if (method == "DELETE")
      r = cli.Delete(path.c_str(), hh);
    EXPECT_TRUE(r) << method << " " << path << " transport error";
    if (!r) return {0, nullptr};
    json j = r->body.empty() ? json(nullptr) : json::parse(r->body, nullptr, false);
    return {r->status, j};
  }
  void Ok(const std::string& method, const std::string& path, const std::string& body, int want) {
    auto [st, j] = Call(method, path, body);
    ASSERT_EQ(st, want) << method << " " << path << " -> " << j.dump();
  }
  size_t AuditCount() { return store_->ReadAudit(0, 100000)->size(); }

  void Populate() {
    Ok("POST", "/v1/groups", R"({"name":"root"})", 201);
    Ok("POST", "/v1/groups", R"({"name":"leaf","parents":["root"]})", 201);
    Ok("POST", "/v1/clients", R"({"name":"alice","password":"correct horse battery"})", 201);
    Ok("POST", "/v1/memberships", R"({"client":"alice","group":"leaf"})", 201);
    Ok("POST", "/v1/events",
       R"({"name":"news","title":"News","group_address":"239.1.1.1","port":5004,
        "schedule":{"start":"2030-01-01T10:00:00Z","duration":"PT1H","rrule":"FREQ=DAILY"},
        "interval_seconds":30,"clear_intervals":1})",
       201);
    Ok("POST", "/v1/assignments", R"({"event":"news","group":"root"})", 201);
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> cli_;
  std::string token_;
};

TEST_F(ApiTest, AdminRoutesNeedAValidToken) {
  auto [st, j] = Call("GET", "/v1/clients", "", {{"X-None", "1"}});
  EXPECT_EQ(st, 401);
  EXPECT_EQ(j["error"]["code"], "unauthenticated");
  EXPECT_EQ(
      Call("GET", "/v1/clients", "", Auth("kct_0011223344556677_" + std::string(64, 'a'))).first,
      401);
  EXPECT_EQ(Call("GET", "/v1/clients", "", Auth("garbage")).first, 401);
  // A client API key is not an admin token.
  Ok("POST", "/v1/clients", R"({"name":"robot"})", 201);
  auto [kst, key] = Call("POST", "/v1/clients/robot/api-keys", "{}");
  ASSERT_EQ(kst, 201);
  EXPECT_EQ(Call("GET", "/v1/clients", "", Auth(key["api_key"])).first, 401);
  // A revoked admin token stops working.
  auto [tst, tok] = Call("POST", "/v1/admin-tokens", R"({"description":"temp"})");
  ASSERT_EQ(tst, 201);
  EXPECT_EQ(Call("GET", "/v1/groups", "", Auth(tok["token"])).first, 200);
  Ok("DELETE", "/v1/admin-tokens/" + tok["id"].get<std::string>(), "", 204);
  EXPECT_EQ(Call("GET", "/v1/groups", "", Auth(tok["token"])).first, 401);
  // Public endpoints need no token.
  EXPECT_EQ(Call("GET", "/v1/health", "", {{"X-None", "1"}}).first, 200);
}

TEST_F(ApiTest, CrudOverHttp) {
  Populate();
  auto [st, g] = Call("GET", "/v1/groups/leaf");
  ASSERT_EQ(st, 200);
  EXPECT_EQ(g["parents"], json::array({"root"}));
  EXPECT_EQ(g["members"], 1);
  auto [est, e] = Call("GET", "/v1/events/news");
  ASSERT_EQ(est, 200);
  EXPECT_EQ(e["group_address"], "239.1.1.1");
  EXPECT_EQ(e["schedule"]["rrule"], "FREQ=DAILY");
  EXPECT_EQ(e["schedule"]["duration"], "PT1H");
  EXPECT_EQ(e["key_servers"], json::array({"127.0.0.1:7400"}));  // the server default
  EXPECT_EQ(e["groups"], json::array({"root"}));
  auto [sst, s] = Call("GET", "/v1/clients/alice/events");
  ASSERT_EQ(sst, 200);
  ASSERT_EQ(s["events"].size(), 1u);
  EXPECT_EQ(s["events"][0]["name"], "news");
  Ok("PATCH", "/v1/events/news", R"({"title":"World news","port":5006})", 200);
  EXPECT_EQ(Call("GET", "/v1/events/news").second["version"], 2);
  // Source authentication: off by default, a boolean, pull delivery only.
  EXPECT_EQ(e["source_auth"], false);
  Ok("PATCH", "/v1/events/news", R"({"source_auth":true})", 200);
  EXPECT_EQ(Call("GET", "/v1/events/news").second["source_auth"], true);
  auto [bad, berr] = Call("PATCH", "/v1/events/news", R"({"source_auth":"yes"})");
  EXPECT_EQ(bad, 400) << berr.dump();
  auto [push, perr] = Call("PATCH", "/v1/events/news", R"({"delivery":"push"})");
  EXPECT_EQ(push, 400) << perr.dump();
  EXPECT_NE(perr.dump().find("source_auth needs delivery pull"), std::string::npos);
  EXPECT_EQ(Call("GET", "/v1/events/news").second["version"], 3);
  Ok("PATCH", "/v1/memberships/alice/leaf", R"({"role":"sender"})", 200);
  EXPECT_EQ(Call("GET", "/v1/memberships?client=alice").second["memberships"][0]["role"], "sender");
  Ok("DELETE", "/v1/memberships/alice/leaf", "", 204);
  Ok("DELETE", "/v1/assignments/news/root", "", 204);
  Ok("DELETE", "/v1/edges/root/leaf", "", 204);
  Ok("DELETE", "/v1/events/news", "", 204);
  EXPECT_EQ(Call("GET", "/v1/events/news").first, 404);
  auto [ast, audit] = Call("GET", "/v1/audit?limit=1000");
  ASSERT_EQ(ast, 200);
  EXPECT_GE(audit["records"].size(), 11u);
  std::vector<std::string> actions;
  for (auto& rec : audit["records"]) actions.push_back(rec["action"]);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "edge.delete"), actions.end());
  EXPECT_EQ(actions.back(), "event.delete");
}

TEST_F(ApiTest, PaginationByName) {
  for (int i = 0; i < 5; ++i)
    Ok("POST", "/v1/groups", R"({"name":"g)" + std::to_string(i) + R"("})", 201);
  auto [st, p1] = Call("GET", "/v1/groups?limit=2");
  ASSERT_EQ(st, 200);
  ASSERT_EQ(p1["groups"].size(), 2u);
  EXPECT_EQ(p1["next"], "g1");
  auto [st2, p2] = Call("GET", "/v1/groups?limit=10&after=g1");
  EXPECT_EQ(p2["groups"].size(), 3u);
  EXPECT_TRUE(p2["next"].is_null());
  EXPECT_EQ(Call("GET", "/v1/groups?limit=0").first, 400);
  EXPECT_EQ(Call("GET", "/v1/groups?limit=x").first, 400);
}

TEST_F(ApiTest, CycleIsAConflictNamingTheCycle) {
  Populate();
  auto [st, j] = Call("POST", "/v1/edges", R"({"parent":"leaf","child":"root"})");
  EXPECT_EQ(st, 409);
  EXPECT_EQ(j["error"]["code"], "failed_precondition");
  EXPECT_EQ(j["error"]["message"], "edge leaf -> root would close the cycle leaf -> root -> leaf");
}

TEST_F(ApiTest, BadInputGetsA4xxAndWritesNothing) {
  Populate();
  size_t audit = AuditCount();
  auto counts = dir_->counts();
  struct Case {
    std::string method, path, body;
    int status;
    std::string needle;
  };
  std::vector<Case> cases = {
      {"POST", "/v1/groups", R"({"name":)", 400, "malformed JSON"},
      {"POST", "/v1/groups", R"([1,2])", 400, "JSON object"},
      {"POST", "/v1/groups", R"({"name":"x","n":1e999999})", 400,
       "malformed JSON"},  // found by json_fuzz
      {"POST", "/v1/groups", R"({"name":"x","colour":"red"})", 400, "unknown field 'colour'"},
      {"POST", "/v1/groups", R"({"name":5})", 400, "expected a string"},
      {"POST", "/v1/groups", R"({"name":")" + std::string(65, 'a') + R"("})", 400,
       "longer than 64"},
      {"POST", "/v1/groups", R"({"name":"bad name"})", 400, "letters, digits"},
      {"POST", "/v1/groups", R"({"name":"x","parents":["ghost"]})", 404, "ghost"},
      {"POST", "/v1/groups", R"({"a":)" + std::string(20, '[') + std::string(20, ']') + "}", 400,
       "nested"},
      {"POST", "/v1/clients", R"({"name":"bob","enabled":"yes"})", 400, "true or false"},
      {"POST", "/v1/clients", R"({"name":"bob","password":"short"})", 400, "at least 8"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"10.0.0.1","port":1,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"}})",
       400, "not a multicast address"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.999.0.1","port":1,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"}})",
       400, "not an IPv4 or IPv6"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":70000,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"}})",
       400, "'port'"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":1,
         "schedule":{"start":"2030-02-30T00:00:00Z","duration":"PT1H"}})",
       400, "schedule.start"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":1,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H","rrule":"FREQ=HOURLY"}})",
       400, "schedule.rrule"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":1,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"},"key_servers":["nohost"]})",
       400, "host:port"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":1,
         "schedule":{"start":"2030-01-01T00:00:00Z","duration":"PT1H"},"sender":"ghost"})",
       404, "ghost"},
      {"POST", "/v1/events", R"({"name":"e","title":"t","group_address":"239.1.1.1","port":1})",
       400, "schedule"},
      {"POST", "/v1/memberships", R"({"client":"alice","group":"ghost"})", 404, "ghost"},
      {"POST", "/v1/memberships", R"({"client":"alice","group":"root","role":"king"})", 400,
       "sender or receiver"},
      {"POST", "/v1/assignments", R"({"event":"ghost","group":"root"})", 404, "ghost"},
      {"POST", "/v1/edges", R"({"parent":"root"})", 400, "'child'"},
      {"DELETE", "/v1/edges/root/ghost", "", 404, "does not exist"},
      {"PATCH", "/v1/clients/alice", R"({"enabled":1})", 400, "true or false"},
      {"GET", "/v1/nothing-here", "", 404, "no such endpoint"},
  };
  for (const auto& c : cases) {
    auto [st, j] = Call(c.method, c.path, c.body);
    EXPECT_EQ(st, c.status) << c.method << " " << c.path << " " << c.body << " -> " << j.dump();
    std::string msg = j.is_object() ? j["error"]["message"].get<std::string>() : "";
    EXPECT_NE(msg.find(c.needle), std::string::npos) << c.body << " -> " << msg;
  }
  // Oversized body.
  std::string big = R"({"name":"x","description":")" + std::string(70 * 1024, 'a') + R"("})";
  auto r = cli_->Post("/v1/groups", Auth(), big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("resource_exhausted"), std::string::npos);
  EXPECT_EQ(AuditCount(), audit);
  auto after = dir_->counts();
  EXPECT_EQ(after.groups, counts.groups);
  EXPECT_EQ(after.events, counts.events);
  EXPECT_EQ(after.clients, counts.clients);
  EXPECT_EQ(after.memberships, counts.memberships);
}

TEST_F(ApiTest, TicketByApiKeyAndPassword) {
  Populate();
  auto [kst, key] = Call("POST", "/v1/clients/alice/api-keys", R"({"description":"laptop"})");
  ASSERT_EQ(kst, 201);
  std::string api_key = key["api_key"];
  auto [st, t] = Call("POST", "/v1/tickets", "", Auth(api_key));
  ASSERT_EQ(st, 200) << t.dump();
  Bytes ticket;
  ASSERT_TRUE(Base64Decode(t["ticket"].get<std::string>(), &ticket));
  // Verify with the published key.
  auto [kst2, pub] = Call("GET", "/v1/ticket-keys");
  ASSERT_EQ(kst2, 200);
  Bytes pk;
  ASSERT_TRUE(Base64Decode(pub["keys"][0]["public_key"].get<std::string>(), &pk));
  auto vk = crypto::VerifyKey::FromBytes(pk);
  auto parsed = VerifyTicket(
      ticket, [&](KeyVersion) { return &*vk; }, SystemClock::Get().NowSeconds(), 5);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->events.size(), 1u);
  // Password login.
  auto [pst, pt] =
      Call("POST", "/v1/tickets", R"({"client":"alice","password":"correct horse battery"})",
           {{"X-None", "1"}});
  EXPECT_EQ(pst, 200);
  // Wrong password, unknown client and revoked key all look the same.
  auto [wst, wj] = Call("POST", "/v1/tickets", R"({"client":"alice","password":"wrong password!"})",
                        {{"X-None", "1"}});
  EXPECT_EQ(wst, 401);
  EXPECT_EQ(wj["error"]["message"], "authentication failed");
  auto [ust, uj] = Call("POST", "/v1/tickets", R"({"client":"mallory","password":"whatever123"})",
                        {{"X-None", "1"}});
  EXPECT_EQ(ust, 401);
  EXPECT_EQ(uj["error"]["message"], "authentication failed");
  Ok("DELETE", "/v1/clients/alice/api-keys/" + key["id"].get<std::string>(), "", 204);
  EXPECT_EQ(Call("POST", "/v1/tickets", "", Auth(api_key)).first, 401);
  // Disabled client.
  Ok("PATCH", "/v1/clients/alice", R"({"enabled":false})", 200);
  EXPECT_EQ(Call("POST", "/v1/tickets", R"({"client":"alice","password":"correct horse battery"})",
                 {{"X-None", "1"}})
                .first,
            401);
}

TEST_F(ApiTest, WatchReturnsAFreshTicketWhenEventsChange) {
  Populate();
  auto [kst, key] = Call("POST", "/v1/clients/alice/api-keys", "{}");
  std::string api_key = key["api_key"];
  auto [st, t] = Call("POST", "/v1/tickets", "", Auth(api_key));
  std::string digest = t["grant_digest"];
  auto [st204, none] = Call("POST", "/v1/tickets/watch",
                            R"({"digest":")" + digest + R"(","timeout_seconds":1})", Auth(api_key));
  EXPECT_EQ(st204, 204);
  std::thread changer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Ok("POST", "/v1/events",
       R"({"name":"late","title":"Late","group_address":"239.1.1.2","port":5004,
        "schedule":{"start":"2030-01-01T10:00:00Z","duration":3600}})",
       201);
    Ok("POST", "/v1/assignments", R"({"event":"late","group":"leaf"})", 201);
  });
  auto [st200, fresh] =
      Call("POST", "/v1/tickets/watch", R"({"digest":")" + digest + R"(","timeout_seconds":20})",
           Auth(api_key));
  changer.join();
  ASSERT_EQ(st200, 200);
  EXPECT_NE(fresh["grant_digest"], digest);
}

TEST_F(ApiTest, RotateSigningKeyOverApi) {
  auto [st, j] = Call("POST", "/v1/service-keys/ticket-signing/rotate");
  ASSERT_EQ(st, 200);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(Call("POST", "/v1/service-keys/nonsense/rotate").first, 400);
  auto [kst, keys] = Call("GET", "/v1/ticket-keys");
  int signing = 0;
  for (auto& k : keys["keys"]) signing += k["kind"] == "ticket-signing";
  EXPECT_EQ(signing, 2);
}

TEST_F(ApiTest, HealthMetricsAndOpenApiCoverEveryRoute) {
  auto [hst, h] = Call("GET", "/v1/health");
  EXPECT_EQ(h["status"], "ok");
  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("# TYPE keycast_http_request_seconds histogram"), std::string::npos);
  auto [ost, doc] = Call("GET", "/v1/openapi.json");
  ASSERT_EQ(ost, 200);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::string> documented, served;
  for (auto& [path, item] : doc["paths"].items())
    for (auto& [method, op] : item.items()) documented.insert(method + " " + path);
  for (const auto& r : server_->routes()) {
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    served.insert(method + " " + r.path);
  }
  EXPECT_EQ(documented, served);
  // Served byte for byte as docs/openapi.json, whatever its size (the
  // build cuts it into several string literals).
  const char* src = std::getenv("KEYCAST_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream file(std::string(src) + "/docs/openapi.json", std::ios::binary);
  std::string want((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto raw = cli_->Get("/v1/openapi.json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->body, want);
}

}  // namespace
}  // namespace keycast

namespace keycast {
namespace {

// The API over TLS with a self-signed certificate made by the openssl tool.
TEST(ApiTls, ServesHttpsAndRefusesPlainHttpOffLoopback) {
  std::string dir = ::testing::TempDir() + "/tls-" + std::to_string(::getpid());
  std::system(("mkdir -p " + dir).c_str());
  std::string cmd =
      "openssl req -x509 -newkey ed25519 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      dir + "/key.pem -out " + dir + "/cert.pem 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto store = std::move(OpenSqliteStore(":memory:")).value();
  Sealer sealer = *Sealer::FromKey(crypto::RandomSecret(32));
  auto dir_ = std::move(Directory::Open(store.get(), &sealer, &SystemClock::Get(),
                                        {PasswordCost::kTestOnly}))
                  .value();
  auto keys =
      std::move(ServiceKeys::Open(store.get(), &sealer, &SystemClock::Get(), 3600, true)).value();
  TicketService tickets(dir_.get(), keys.get(), &SystemClock::Get(), {});
  ApiServices s{dir_.get(), &tickets, keys.get(), store.get(), nullptr};
  ApiServerOptions o;
  o.port = 0;
  o.tls_cert_file = dir + "/cert.pem";
  o.tls_key_file = dir + "/key.pem";
  ApiServer server(s, o);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.url().substr(0, 8), "https://");
  httplib::SSLClient tls("127.0.0.1", server.port());
  tls.set_ca_cert_path((dir + "/cert.pem").c_str());
  tls.enable_server_certificate_verification(true);
  auto r = tls.Get("/v1/health");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // A client that does not trust the certificate gets no answer.
  httplib::SSLClient untrusting("127.0.0.1", server.port());
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/nonexistent");
  EXPECT_FALSE(untrusting.Get("/v1/health"));
  // Plain HTTP to the TLS port gets nothing usable.
  httplib::Client plain("127.0.0.1", server.port());
  plain.set_read_timeout(2, 0);
  auto p = plain.Get("/v1/health");
  EXPECT_TRUE(!p || p->status != 200);
  server.Stop();

  // Plain HTTP on a non-loopback address is refused unless allowed.
  ApiServerOptions open;
  open.host = "0.0.0.0";
  open.port = 0;
  ApiServer refused(s, open);
  Status st = refused.Start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("tls"), std::string::npos);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace keycast
