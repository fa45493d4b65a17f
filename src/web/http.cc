#include "web/http.h"

#include <httplib.h>

#include "keycast/reservation/formats.h"
#include "web/template.h"

namespace keycast::web {

void SecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                 "connect-src 'self'; "
                 "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
}

void SetCookie(httplib::Response& res, std::string_view name, const std::string& value, bool secure,
               int64_t max_age) {
  std::string c = std::string(name) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
  if (secure) c += "; Secure";
  if (max_age >= 0) c += "; Max-Age=" + std::to_string(max_age);
  res.headers.emplace("Set-Cookie", c);
}

std::string Cookie(const httplib::Request& req, std::string_view name) {
  auto c = reservation::ParseCookies(req.get_header_value("Cookie"));
  auto it = c.find(std::string(name));
  return it == c.end() ? "" : it->second;
}

void Redirect(httplib::Response& res, const std::string& to) {
  SecurityHeaders(res);
  res.status = 303;
  res.set_header("Location", to);
  res.set_content("", "text/plain");
}

std::string CsrfFormToken(const SessionKeys& keys, bool secure, const httplib::Request& req,
                          httplib::Response& res) {
  std::string cookie = Cookie(req, kCsrfCookie);
  // A cookie already set by this response (a second form on the page) wins.
  for (const auto& [k, v] : res.headers)
    if (k == "Set-Cookie" && v.rfind(std::string(kCsrfCookie) + "=", 0) == 0)
      cookie = v.substr(kCsrfCookie.size() + 1, v.find(';') - kCsrfCookie.size() - 1);
  if (cookie.size() < 32 || cookie.size() > 128) {
    cookie = SessionKeys::NewCsrfCookie();
    SetCookie(res, kCsrfCookie, cookie, secure);
  }
  return keys.CsrfToken(cookie);
}

PostedForm ReadPostedForm(const SessionKeys& keys, const httplib::Request& req) {
  PostedForm out;
  std::string ct = req.get_header_value("Content-Type");
  if (ct.rfind("application/x-www-form-urlencoded", 0) != 0) {
    out.refusal = 415;
    out.message = "Send the form as application/x-www-form-urlencoded.";
    return out;
  }
  // A browser sends Origin on POST; it must be this site.
  std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && origin != "null") {
    std::string host = req.get_header_value("Host");
    if (origin != "http://" + host && origin != "https://" + host) {
      out.refusal = 403;
      out.message = "This form was sent from another site.";
      return out;
    }
  }
  auto f = reservation::ParseForm(req.body);
  if (!f.ok()) {
    out.refusal = 400;
    out.message = f.status().message();
    return out;
  }
  auto it = f->find("csrf");
  if (it == f->end() || !keys.CheckCsrf(Cookie(req, kCsrfCookie), it->second)) {
    out.refusal = 403;
    out.message =
        "This form has expired or did not come from this site. Go back, reload the page and try "
        "again.";
    return out;
  }
  out.fields = std::move(f).value();
  return out;
}

void AddStaticRoute(ApiServer& api) {
  for (const auto& r : api.routes())
    if (r.method == "GET" && r.path == "/static/{file}") return;
  api.Add("GET", "/static/{file}", "Web page assets (CSS, JavaScript)", false,
          [](const httplib::Request& req, httplib::Response& res) {
            std::string file = req.matches[1];
            auto a = Asset("static/" + file);
            if (!a) {
              res.status = 404;
              res.set_content("not found", "text/plain");
              return;
            }
            std::string type = file.size() > 4 && file.substr(file.size() - 4) == ".css"
                                   ? "text/css; charset=utf-8"
                                   : "text/javascript; charset=utf-8";
            res.set_header("X-Content-Type-Options", "nosniff");
            res.set_header("Cache-Control", "public, max-age=300");
            res.set_content(std::string(*a), type);
          });
}

std::string Field(const std::map<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace keycast::web
