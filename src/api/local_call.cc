// ApiServer::Call: a route run in process, through the very handler an HTTP
// request reaches (authentication included).
#include <httplib.h>

#include <regex>

#include "keycast/api_server.h"

namespace keycast {

struct ApiServer::LocalRoute {
  std::string method;
  std::regex pattern;
  std::function<void(const httplib::Request&, httplib::Response&)> handler;
};

void ApiServer::AddLocalRoute(
    const std::string& method, const std::string& pattern,
    std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  local_routes_.push_back(std::make_shared<const LocalRoute>(
      LocalRoute{method, std::regex(pattern), std::move(handler)}));
}

ApiServer::LocalAnswer ApiServer::Call(const std::string& method, const std::string& path,
                                       const std::string& bearer, const std::string& body) const {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  req.remote_addr = "in-process";
  if (!bearer.empty()) req.headers.emplace("Authorization", "Bearer " + bearer);
  if (!body.empty()) req.headers.emplace("Content-Type", "application/json");
  for (const auto& r : local_routes_) {
    if (r->method != method || !std::regex_match(req.path, req.matches, r->pattern)) continue;
    httplib::Response res;
    res.status = 200;
    r->handler(req, res);
    return LocalAnswer{res.status, res.body};
  }
  return LocalAnswer{404, R"({"error":{"code":"not_found","message":"no such endpoint"}})"};
}

}  // namespace keycast
