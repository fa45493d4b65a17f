// The operator console (web/console.h) over real HTTP: sign-in with an
// admin token, the session cookie's attributes, CSRF refusals that write
// nothing, field errors from the API's own validation, changes through the
// admin routes (audited as the operator), expired sessions, and the pages'
// pictures.
#include "web/console.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>

#include "reservation/test_fixture.h"

namespace keycast::web {
namespace {

using keycast::testing::Platform;

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = std::make_unique<Platform>();
    p_->StartHttp([this](ApiServer& api) {
      ConsoleOptions o;
      o.api = &api;
      o.directory = p_->dir.get();
      o.store = p_->store.get();
      o.clock = &p_->clock;
      o.keyed_clients = [this](EventId, Micros since) {
        last_since_ = since;
        return keyed_;
      };
      o.read_counters = [this] { return counters_; };
      console_ = std::make_unique<Console>(std::move(o));
    });
    url_ = p_->api->url();
    auto t = p_->dir->CreateAdminToken(Actor{"test"}, "console operator");
    ASSERT_TRUE(t.ok());
    token_ = t->Encode();
  }
  void TearDown() override {
    if (console_) console_->Stop();
    p_->api->Stop();
  }

  // A browser's cookie jar, fed by Set-Cookie (Max-Age=0 deletes).
  void Keep(const httplib::Result& r) {
    for (const auto& [k, v] : r->headers) {
      if (k != "Set-Cookie") continue;
      std::string nv = v.substr(0, v.find(';'));
      std::string name = nv.substr(0, nv.find('='));
      if (v.find("Max-Age=0") != std::string::npos)
        jar_.erase(name);
      else
        jar_[name] = nv.substr(nv.find('=') + 1);
    }
  }
  httplib::Headers Cookies() const {
    std::string c;
    for (const auto& [k, v] : jar_) c += (c.empty() ? "" : "; ") + k + "=" + v;
    return c.empty() ? httplib::Headers{} : httplib::Headers{{"Cookie", c}};
  }
  httplib::Result Get(const std::string& path) {
    httplib::Client c(url_);
    auto r = c.Get(path, Cookies());
    if (r) Keep(r);
    return r;
  }
  httplib::Result Post(const std::string& path, const std::string& body) {
    httplib::Client c(url_);
    auto r = c.Post(path, Cookies(), body, "application/x-www-form-urlencoded");
    if (r) Keep(r);
    return r;
  }
  // The form token on a page.
  std::string Csrf(const std::string& path) {
    auto r = Get(path);
    EXPECT_TRUE(r);
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r->body, m, std::regex("name=\"csrf\" value=\"([0-9a-f]+)\"")))
        << r->body;
    return m.size() > 1 ? m[1].str() : "";
  }
  void SignIn() {
    std::string csrf = Csrf("/console/login");
    auto r = Post("/console/login", "csrf=" + csrf + "&token=" + token_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 303) << r->body;
    ASSERT_EQ(r->get_header_value("Location"), "/");
  }
  int64_t AuditSeq() { return *p_->store->LastAuditSeq(); }

  std::unique_ptr<Platform> p_;
  std::unique_ptr<Console> console_;
  std::string url_, token_;
  std::map<std::string, std::string> jar_;
  size_t keyed_ = 0;
  Micros last_since_ = 0;
  std::map<std::string, double> counters_;
};

TEST_F(ConsoleTest, SignInWithAnAdminTokenGivesAStrictHttpOnlySession) {
  auto r = Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/console/login");

  // A wrong token: the sign-in form again, the error next to the field.
  std::string csrf = Csrf("/console/login");
  r = Post("/console/login",
           "csrf=" + csrf + "&token=kct_0000000000000000_" + std::string(64, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("id=\"login-token-error\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("aria-invalid=\"true\""), std::string::npos);
  EXPECT_EQ(jar_.count("kc_console"), 0u);

  csrf = Csrf("/console/login");
  r = Post("/console/login", "csrf=" + csrf + "&token=" + token_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 303);
  std::string cookie;
  for (const auto& [k, v] : r->headers)
    if (k == "Set-Cookie" && v.rfind("kc_console=", 0) == 0) cookie = v;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << cookie;  // plain HTTP here
  // The admin token never goes into the cookie.
  EXPECT_EQ(cookie.find(token_.substr(0, 20)), std::string::npos);

  r = Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  // The operator is the admin token's actor, admin:<token id>.
  EXPECT_NE(r->body.find("Signed in as <strong>admin:"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("<svg"), std::string::npos);
  EXPECT_NE(r->body.find("data-group=\"broadcasters\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("data-group=\"subscribers\""), std::string::npos);

  // Signing out ends the session.
  csrf = Csrf("/");
  r = Post("/console/logout", "csrf=" + csrf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(Get("/")->status, 303);
}

TEST_F(ConsoleTest, FormsWithoutAValidCsrfTokenAreRefusedAndWriteNothing) {
  SignIn();
  int64_t before = AuditSeq();
  auto r = Post("/console/groups", "name=newgroup");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = Post("/console/groups", "csrf=" + std::string(64, '0') + "&name=newgroup");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("Nothing was changed"), std::string::npos);
  // A token made for another browser's cookie.
  std::string csrf = Csrf("/");
  jar_["kc_csrf"] = std::string(48, 'b');
  EXPECT_EQ(Post("/console/groups", "csrf=" + csrf + "&name=newgroup")->status, 403);
  EXPECT_FALSE(p_->dir->GetGroup("newgroup").ok());
  EXPECT_EQ(AuditSeq(), before);

  // With the page's own token it goes through the API and is audited as
  // the operator.
  csrf = Csrf("/");
  r = Post("/console/groups", "csrf=" + csrf + "&name=newgroup&parent=broadcasters");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303) << r->body;
  auto g = p_->dir->GetGroup("newgroup");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->parents, std::vector<std::string>{"broadcasters"});
  auto recs = p_->store->ReadAudit(before, 10);
  ASSERT_TRUE(recs.ok());
  ASSERT_FALSE(recs->empty());
  EXPECT_EQ(recs->front().actor.rfind("admin:", 0), 0u) << recs->front().actor;
  EXPECT_EQ(recs->front().action, "group.create");
}

TEST_F(ConsoleTest, BadInputIsShownNextToItsFieldAndNothingIsWritten) {
  SignIn();
  int64_t before = AuditSeq();
  size_t groups = p_->dir->counts().groups;
  std::string csrf = Csrf("/");
  auto r = Post("/console/groups", "csrf=" + csrf + "&name=bad%20name%21");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("id=\"group-name-error\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("value=\"bad name!\""), std::string::npos);  // what was typed stays
  // An unknown parent: the error is the parent field's.
  r = Post("/console/groups", "csrf=" + csrf + "&name=okname&parent=nosuch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_NE(r->body.find("id=\"group-parent-error\""), std::string::npos) << r->body;
  // A short password for a new client.
  csrf = Csrf("/console/clients");
  r = Post("/console/clients", "csrf=" + csrf + "&name=carol&password=short");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("id=\"client-password-error\""), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("value=\"short\""), std::string::npos);  // passwords are not echoed
  EXPECT_EQ(p_->dir->counts().groups, groups);
  EXPECT_FALSE(p_->dir->GetClient("carol").ok());
  EXPECT_EQ(AuditSeq(), before);
}

TEST_F(ConsoleTest, ClientsCanBeDisabledEnabledAndRemovedFromAGroup) {
  SignIn();
  std::string csrf = Csrf("/console/clients");
  auto page = Get("/console/clients");
  EXPECT_NE(page->body.find("data-client=\"sue\""), std::string::npos);
  auto r = Post("/console/clients/sue/disable", "csrf=" + csrf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303) << r->body;
  EXPECT_FALSE(p_->dir->GetClient("sue")->client.enabled);
  r = Post("/console/clients/sue/enable", "csrf=" + csrf);
  EXPECT_EQ(r->status, 303) << r->body;
  EXPECT_TRUE(p_->dir->GetClient("sue")->client.enabled);
  r = Post("/console/clients/nosuch/disable", "csrf=" + csrf);
  EXPECT_EQ(r->status, 404) << r->body;

  ASSERT_EQ(p_->dir->GetClient("sue")->groups.size(), 1u);
  r = Post("/console/memberships/remove", "csrf=" + csrf + "&client=sue&group=subscribers");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303) << r->body;
  EXPECT_TRUE(p_->dir->GetClient("sue")->groups.empty());
  // A name that could not be a path segment never reaches a route.
  r = Post("/console/memberships/remove", "csrf=" + csrf + "&client=..%2Fx&group=subscribers");
  EXPECT_EQ(r->status, 400);
}

TEST_F(ConsoleTest, AnExpiredSessionGoesBackToSignInAndChangesNothing) {
  SignIn();
  std::string csrf = Csrf("/");
  p_->clock.Advance((30 * 60 + 1) * kMicrosPerSecond);  // idle_seconds
  auto r = Get("/");
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/console/login");
  int64_t before = AuditSeq();
  r = Post("/console/groups", "csrf=" + csrf + "&name=late");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("sign in again"), std::string::npos) << r->body;
  EXPECT_FALSE(p_->dir->GetGroup("late").ok());
  EXPECT_EQ(AuditSeq(), before);
}

TEST_F(ConsoleTest, ARevokedAdminTokenEndsTheSession) {
  SignIn();
  EXPECT_EQ(Get("/")->status, 200);
  auto tokens = p_->dir->ListAdminTokens();
  ASSERT_FALSE(tokens.empty());
  for (const auto& t : tokens) ASSERT_TRUE(p_->dir->RevokeAdminToken(Actor{"x"}, t.id).ok());
  EXPECT_EQ(Get("/")->status, 303);
}

TEST_F(ConsoleTest, EventsShowKeyedMembersAndTheRateChartDrawsTheCounters) {
  auto spec = p_->Spec("final");
  spec.price_cents = 100;
  ASSERT_TRUE(p_->platform->CreateReservation(p_->sender, spec).ok());
  SignIn();
  keyed_ = 7;
  auto r = Get("/console/events");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("data-keyed=\"resv.final\">7<"), std::string::npos) << r->body;
  // Keyed now: granted within the interval (60 s) plus the grace (2 s).
  EXPECT_EQ(last_since_, p_->clock.Now() - 62 * kMicrosPerSecond);
  EXPECT_NE(r->body.find("Next occurrence"), std::string::npos);
  // No key service on this test's API: the rekey starts a new generation
  // in the directory, and the notice passes on the API's note that agents
  // get the new keys at their next refresh.
  std::string csrf = Csrf("/console/events");
  r = Post("/console/events/resv.final/rekey", "csrf=" + csrf);
  EXPECT_EQ(r->status, 303) << r->body;
  std::string location = r->get_header_value("Location");
  EXPECT_NE(location.find("done=rekeyed"), std::string::npos) << location;
  EXPECT_NE(location.find("generation 2"), std::string::npos) << location;
  EXPECT_NE(location.find("no key service"), std::string::npos) << location;

  counters_ = {{"ok", 100}, {"denied", 10}};
  console_->Sample();
  p_->clock.Advance(10 * kMicrosPerSecond);
  counters_ = {{"ok", 200}, {"denied", 30}};
  console_->Sample();
  r = Get("/console/rates");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<svg"), std::string::npos);
  EXPECT_NE(r->body.find("data-rate=\"ok\">10.0<"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("data-rate=\"denied\">2.0<"), std::string::npos) << r->body;
}

TEST_F(ConsoleTest, TheAuditLogIsPaged) {
  for (int i = 0; i < 60; ++i)
    ASSERT_TRUE(p_->dir->CreateGroup(Actor{"test"}, GroupSpec{"g" + std::to_string(i), ""}).ok());
  SignIn();
  auto r = Get("/console/audit");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("g59"), std::string::npos);
  EXPECT_NE(r->body.find(">Older<"), std::string::npos);
  EXPECT_EQ(Get("/console/audit?after=x")->status, 400);
  r = Get("/console/audit?after=0");
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(">Newer<"), std::string::npos);
}

}  // namespace
}  // namespace keycast::web
