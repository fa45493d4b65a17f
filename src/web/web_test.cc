// The web pages over real HTTP: templates, escaping, cookies, CSRF and the
// security headers. The click-through flows run in headless Chromium
// (tests/web/).
#include "web/web.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <set>

#include "reservation/test_fixture.h"
#include "web/template.h"

namespace keycast::web {
namespace {

using keycast::testing::Platform;

TEST(TemplateTest, EscapesAndRefusesUnknownNames) {
  EXPECT_EQ(Escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(*Render("<p>{{a}}</p>{{{b}}}", Vars{{"a", "<i>"}, {"b", "<i>"}}),
            "<p>&lt;i&gt;</p><i>");
  EXPECT_FALSE(Render("{{missing}}", Vars{}).ok());
  EXPECT_FALSE(Render("{{open", Vars{}).ok());
  EXPECT_FALSE(Render("{{Bad}}", Vars{{"Bad", ""}}).ok());
  EXPECT_FALSE(Render("{{}}", Vars{}).ok());
}

TEST(TemplateTest, EveryTemplateRendersWithItsPlaceholders) {
  std::regex placeholder(R"(\{\{\{?([a-z0-9_]+)\}?\}\})");
  size_t templates = 0;
  for (const auto& [path, text] : AllAssets()) {
    if (path.rfind("templates/", 0) != 0) continue;
    ++templates;
    std::string s(text);
    Vars vars;
    for (std::sregex_iterator it(s.begin(), s.end(), placeholder), end; it != end; ++it)
      vars[(*it)[1]] = "x";
    auto r = Render(text, vars);
    EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  }
  EXPECT_GE(templates, 10u);
  EXPECT_TRUE(Asset("static/style.css").has_value());
  EXPECT_TRUE(Asset("static/app.js").has_value());
}

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = std::make_unique<Platform>();
    p_->StartHttp([this](ApiServer& api) { AddPages(api, p_->service()); });
    url_ = p_->api->url();
  }
  httplib::Result Get(const std::string& path, const httplib::Headers& h = {}) {
    httplib::Client c(url_);
    return c.Get(path, h);
  }
  httplib::Result PostForm(const std::string& path, const std::string& body,
                           const httplib::Headers& h = {}) {
    httplib::Client c(url_);
    return c.Post(path, h, body, "application/x-www-form-urlencoded");
  }
  // The kc_csrf cookie a page set, and the form token in its HTML.
  std::pair<std::string, std::string> Csrf(const std::string& path) {
    auto r = Get(path);
    EXPECT_TRUE(r);
    std::string cookie;
    for (const auto& [k, v] : r->headers)
      if (k == "Set-Cookie" && v.rfind("kc_csrf=", 0) == 0) cookie = v.substr(8, v.find(';') - 8);
    std::smatch m;
    std::regex re("name=\"csrf\" value=\"([0-9a-f]+)\"");
    EXPECT_TRUE(std::regex_search(r->body, m, re)) << r->body;
    return {cookie, m.size() > 1 ? m[1].str() : ""};
  }
  std::unique_ptr<Platform> p_;
  std::string url_;
};

TEST_F(WebTest, PagesCarrySecurityHeadersAndLandmarks) {
  auto r = Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(r->body.find("<main id=\"main\""), std::string::npos);
  EXPECT_NE(r->body.find("<nav aria-label=\"Main\">"), std::string::npos);
  EXPECT_NE(r->body.find("lang=\"en\""), std::string::npos);
  EXPECT_EQ(r->body.find("http://"), std::string::npos);  // no external resources
  auto css = Get("/static/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_NE(css->get_header_value("Content-Type").find("text/css"), std::string::npos);
  EXPECT_EQ(Get("/static/nope.js")->status, 404);
}

TEST_F(WebTest, SenderPagesNeedASessionAndFormsNeedCsrf) {
  auto r = Get("/sender");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/sender/login");
  // No token, a wrong token, a token for another cookie: refused.
  EXPECT_EQ(PostForm("/sender/login", "client=anna&password=anna-password")->status, 403);
  auto [cookie, token] = Csrf("/sender/login");
  ASSERT_FALSE(cookie.empty());
  httplib::Headers with_cookie = {{"Cookie", "kc_csrf=" + cookie}};
  EXPECT_EQ(
      PostForm("/sender/login",
               "csrf=" + std::string(64, '0') + "&client=anna&password=anna-password", with_cookie)
          ->status,
      403);
  httplib::Headers other_cookie = {{"Cookie", "kc_csrf=" + std::string(48, 'a')}};
  EXPECT_EQ(PostForm("/sender/login", "csrf=" + token + "&client=anna&password=anna-password",
                     other_cookie)
                ->status,
            403);
  // A cross-site Origin: refused.
  httplib::Headers evil = {{"Cookie", "kc_csrf=" + cookie}, {"Origin", "https://evil.example"}};
  EXPECT_EQ(PostForm("/sender/login", "csrf=" + token + "&client=anna&password=anna-password", evil)
                ->status,
            403);
  // Wrong password: the form again, with a message, no session.
  auto bad =
      PostForm("/sender/login", "csrf=" + token + "&client=anna&password=wrong-one", with_cookie);
  EXPECT_EQ(bad->status, 401);
  EXPECT_NE(bad->body.find("role=\"alert\""), std::string::npos);
  // Right: a session cookie, HttpOnly and SameSite=Strict.
  auto ok = PostForm("/sender/login", "csrf=" + token + "&client=anna&password=anna-password",
                     with_cookie);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 303);
  std::string session;
  for (const auto& [k, v] : ok->headers)
    if (k == "Set-Cookie" && v.rfind("kc_session=", 0) == 0) {
      EXPECT_NE(v.find("HttpOnly"), std::string::npos);
      EXPECT_NE(v.find("SameSite=Strict"), std::string::npos);
      session = v.substr(11, v.find(';') - 11);
    }
  ASSERT_FALSE(session.empty());
  auto list = Get("/sender", {{"Cookie", "kc_session=" + session}});
  EXPECT_EQ(list->status, 200);
  EXPECT_NE(list->body.find("Signed in as <strong>anna</strong>"), std::string::npos);
  // The JSON statistics accept the cookie for GET only.
  auto s = p_->Spec("quiz");
  s.price_cents = 100;
  ASSERT_TRUE(p_->platform->CreateReservation(p_->sender, s).ok());
  EXPECT_EQ(Get("/v1/reservations/quiz/stats", {{"Cookie", "kc_session=" + session}})->status, 200);
  httplib::Client c(url_);
  auto cancel = c.Post("/v1/reservations/quiz/cancel", {{"Cookie", "kc_session=" + session}}, "{}",
                       "application/json");
  EXPECT_EQ(cancel->status, 401);
}

TEST_F(WebTest, UserTextIsEscaped) {
  auto s = p_->Spec("xss");
  s.title = "<script>alert(1)</script>";
  s.price_cents = 100;
  ASSERT_TRUE(p_->platform->CreateReservation(p_->sender, s).ok());
  auto r = Get("/watch?q=%3Cscript%3E");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find("<script>alert"), std::string::npos);
  EXPECT_NE(r->body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  auto t = Get("/watch/xss");
  EXPECT_EQ(t->body.find("<script>alert"), std::string::npos);
  EXPECT_NE(t->body.find("card_number"), std::string::npos);
  EXPECT_EQ(Get("/watch/nope")->status, 404);
}

}  // namespace
}  // namespace keycast::web
