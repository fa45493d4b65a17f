// What every web page of Keycast does with HTTP, shared by the reservation
// pages (pages.cc) and the operator console (console.cc): security headers,
// cookies, redirects, the CSRF cookie and token, and reading a POSTed form
// (content type, same-origin check, CSRF).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "keycast/api_server.h"
#include "keycast/web_session.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace keycast::web {

inline constexpr std::string_view kCsrfCookie = "kc_csrf";

// Content-Security-Policy default-src 'self' (no external resources, no
// inline scripts), nosniff, no framing, no referrer, no caching.
void SecurityHeaders(httplib::Response& res);
// Path=/; HttpOnly; SameSite=Strict, plus Secure when `secure`. max_age 0
// deletes the cookie.
void SetCookie(httplib::Response& res, std::string_view name, const std::string& value, bool secure,
               int64_t max_age = -1);
std::string Cookie(const httplib::Request& req, std::string_view name);
void Redirect(httplib::Response& res, const std::string& to);  // 303 See Other

// The browser's kc_csrf cookie, set on `res` when missing; returns the form
// token for it under `keys`.
std::string CsrfFormToken(const SessionKeys& keys, bool secure, const httplib::Request& req,
                          httplib::Response& res);

// A POSTed form, checked: application/x-www-form-urlencoded, sent from this
// site (Origin), well-formed, with a valid CSRF token in its "csrf" field.
struct PostedForm {
  int refusal = 0;      // 0: ok; else the HTTP status to answer (415, 403, 400)
  std::string message;  // why, for the refusal page
  std::map<std::string, std::string> fields;
};
PostedForm ReadPostedForm(const SessionKeys& keys, const httplib::Request& req);

// GET /static/{file}: the embedded CSS and JavaScript; added once however
// many page sets ask for it.
void AddStaticRoute(ApiServer& api);

// A form field ("" when absent), and with white space trimmed.
std::string Field(const std::map<std::string, std::string>& f, const std::string& name);
std::string Trim(std::string s);

}  // namespace keycast::web
