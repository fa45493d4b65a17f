#include "keycast/api_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>

#include "api/http_gate.h"
#include "api/json_reader.h"
#include "keycast/limits.h"
#include "keycast/log.h"
#include "keycast/metrics.h"

namespace keycast {

extern const char* const kOpenApiJson;  // generated from docs/openapi.json

namespace api {

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kDataLoss:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

void SendJson(httplib::Response& res, int status, const std::string& json_text) {
  res.status = status;
  res.set_content(json_text, "application/json");
}

void SendError(httplib::Response& res, const Status& status) {
  json j = {
      {"error", {{"code", std::string(CodeName(status.code()))}, {"message", status.message()}}}};
  SendJson(res, HttpStatusFor(status.code()), j.dump());
}

void SendError(httplib::Response& res, const Status& status, int64_t retry_after_seconds) {
  if (retry_after_seconds > 0) res.set_header("Retry-After", std::to_string(retry_after_seconds));
  SendError(res, status);
}

std::string BearerToken(const httplib::Request& req) {
  std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() > kPrefix.size() && h.compare(0, kPrefix.size(), kPrefix) == 0)
    return h.substr(kPrefix.size());
  return "";
}

}  // namespace api

namespace {

thread_local Actor tls_actor;

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

// "/v1/clients/{name}" -> "/v1/clients/([^/]+)"
std::string PatternFor(const std::string& tmpl) {
  static const std::regex kParam(R"(\{[a-z_]+\})");
  return std::regex_replace(tmpl, kParam, "([^/]+)");
}

struct HttpMetrics {
  Histogram& latency = Metrics::Global().GetHistogram(
      "keycast_http_request_seconds", "HTTP request handling time.", LatencyBuckets());
  Counter& auth_failures = Metrics::Global().GetCounter(
      "keycast_http_auth_failures_total", "Requests refused for missing or bad credentials.");
  Gauge& in_flight = Metrics::Global().GetGauge(
      "keycast_http_requests_in_flight", "Requests being handled now (SIGTERM drains them).");
  static HttpMetrics& Get() {
    static HttpMetrics m;
    return m;
  }
};

Counter& ResponseCounter(int status) {
  int cls = status / 100;
  static Counter* c[6] = {};
  static std::once_flag once;
  std::call_once(once, [] {
    for (int i = 1; i <= 5; ++i)
      c[i] = &Metrics::Global().GetCounter("keycast_http_responses_total",
                                           "HTTP responses by status class.",
                                           "class=\"" + std::to_string(i) + "xx\"");
  });
  return *c[cls >= 1 && cls <= 5 ? cls : 5];
}

}  // namespace

const Actor& ApiServer::CurrentActor() { return tls_actor; }

ApiServer::ApiServer(ApiServices services, ApiServerOptions options)
    : s_(services), options_(std::move(options)) {
  // The router only parses, routes and answers; the HTTP front owns the
  // sockets, TLS and every timeout (src/api/http_gate.h). The keep-alive
  // settings here only fill the Keep-Alive header of answers.
  http_ = std::make_unique<api::HttpRouter>();
  http_->set_payload_max_length(limits::kMaxRequestBodyBytes);
  http_->set_keep_alive_max_count(limits::kMaxHttpRequestsPerConnection);
  http_->set_keep_alive_timeout(std::max<int64_t>(1, options_.idle_timeout_ms / 1000));
  http_->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        switch (res.status) {
          case 404:
            api::SendError(res, NotFound("no such endpoint"));
            res.status = 404;
            break;
          case 405:
            api::SendError(res, InvalidArgument("method not allowed"));
            res.status = 405;
            break;
          case 413:
            api::SendError(
                res, ResourceExhausted("request body larger than " +
                                       std::to_string(limits::kMaxRequestBodyBytes) + " bytes"));
            res.status = 413;
            break;
          default: {
            int st = res.status;
            api::SendError(res, InvalidArgument("bad request"));
            res.status = st;
          }
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
  http_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("internal error handling {} {}: {}", req.method, req.path, what);
        api::SendError(res, Internal("internal error"));
      });
  http_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    ResponseCounter(res.status).Inc();
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });
  // cpp-httplib tries the patterns of a method in the order they were
  // added (a std::regex match each): the clients' ticket routes, the hot
  // path, go first. No two patterns match the same path.
  AddSystemRoutes();
  AddTicketRoutes();
  AddDirectoryRoutes();
}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Add(const std::string& method, const std::string& path, const std::string& summary,
                    bool admin, Handler handler) {
  routes_.push_back(Route{method, path, summary, admin});
  Directory* dir = s_.directory;
  httplib::Server::Handler h = [handler = std::move(handler), admin, dir](
                                   const httplib::Request& req, httplib::Response& res) {
    auto t0 = std::chrono::steady_clock::now();
    struct InFlight {
      InFlight() { HttpMetrics::Get().in_flight.Add(1); }
      ~InFlight() { HttpMetrics::Get().in_flight.Add(-1); }
    } in_flight;
    if (admin) {
      std::string token = api::BearerToken(req);
      if (token.empty()) {
        HttpMetrics::Get().auth_failures.Inc();
        api::SendError(
            res, Unauthenticated("an admin token is required (Authorization: Bearer kct_...)"));
        return;
      }
      auto actor = dir->AuthenticateAdmin(token);
      if (!actor.ok()) {
        HttpMetrics::Get().auth_failures.Inc();
        spdlog::warn("admin request {} {} refused: {}", req.method, req.path,
                     actor.status().message());
        api::SendError(res, Unauthenticated("invalid admin token"));
        return;
      }
      tls_actor = *actor;
    }
    handler(req, res);
    HttpMetrics::Get().latency.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  std::string pattern = PatternFor(path);
  AddLocalRoute(method, pattern, h);
  if (method == "GET")
    http_->Get(pattern, h);
  else if (method == "POST")
    http_->Post(pattern, h);
  else if (method == "PUT")
    http_->Put(pattern, h);
  else if (method == "PATCH")
    http_->Patch(pattern, h);
  else if (method == "DELETE")
    http_->Delete(pattern, h);
}

Status ApiServer::Start() {
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
    return InvalidArgument("TLS needs both a certificate file and a key file");
  bool tls = !options_.tls_cert_file.empty();
  if (!tls && !IsLoopback(options_.host) && !options_.allow_insecure_http)
    return FailedPrecondition("refusing plain HTTP on non-loopback address " + options_.host +
                              ": configure tls_cert/tls_key, or set allow_insecure_http");
  auto polls = long_polls_;
  KC_ASSIGN_OR_RETURN(front_, api::HttpFront::Create(
                                  http_.get(),
                                  [polls](std::string_view method, std::string_view path) {
                                    for (const auto& [m, p] : polls)
                                      if (m == method && p == path) return true;
                                    return false;
                                  },
                                  options_));
  Status st = front_->Start();
  if (!st.ok()) {
    front_.reset();
    return Unavailable("cannot bind HTTP on " + options_.host + ":" +
                       std::to_string(options_.port) + " (in use?): " + st.message());
  }
  bound_port_ = front_->port();
  return Status::Ok();
}

void ApiServer::Stop() {
  if (front_) front_->Stop();
}

void ApiServer::MarkLongPoll(const std::string& method, const std::string& path) {
  long_polls_.emplace_back(method, path);
}

size_t ApiServer::open_connections() const { return front_ ? front_->open_connections() : 0; }

std::string ApiServer::url() const {
  bool tls = !options_.tls_cert_file.empty();
  std::string host =
      options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(bound_port_);
}

void ApiServer::AddSystemRoutes() {
  Add("GET", "/v1/health", "Liveness and readiness", false,
      [this](const httplib::Request&, httplib::Response& res) {
        auto c = s_.directory->counts();
        api::json j = {{"status", "ok"},
                       {"store", s_.store->Describe()},
                       {"roles", options_.roles},
                       {"directory",
                        {{"clients", c.clients},
                         {"groups", c.groups},
                         {"events", c.events},
                         {"edges", c.edges}}}};
        api::SendJson(res, 200, j.dump());
      });
  Add("GET", "/metrics", "Prometheus metrics", false,
      [](const httplib::Request&, httplib::Response& res) {
        res.set_content(Metrics::Global().Render(), "text/plain; version=0.0.4");
      });
  Add("GET", "/v1/openapi.json", "This API as an OpenAPI 3 document", false,
      [](const httplib::Request&, httplib::Response& res) {
        api::SendJson(res, 200, kOpenApiJson);
      });
}

}  // namespace keycast
