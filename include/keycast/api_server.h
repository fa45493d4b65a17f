// The HTTP API of `keycast server`: the seeds' gateway API (add / delete /
// modify clients, groups, events, memberships; seed 001 Figures 10-11) as
// JSON over HTTP with admin bearer tokens, the ticket endpoints for clients,
// the published verification keys, health, Prometheus metrics and the
// OpenAPI document. Other roles (reservations, web pages) add their routes
// through Router before Start.
//
// Errors are a stable code plus a message: {"error":{"code":"not_found",
// "message":"group 'g9' does not exist"}} (docs/api.md).
//
// Connections are served by an HTTP front (src/api/http_gate.h) that reads
// each request whole under total deadlines, limits connections per peer,
// and runs handlers on a request pool, or, for long-polls, on a pool of
// their own, so that slow clients and waiting long-polls cannot take the
// threads of short requests (docs/limits.md).
//
// Thread safety: Start/Stop from one thread; handlers run on the pools.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "keycast/directory.h"
#include "keycast/limits.h"
#include "keycast/service_keys.h"
#include "keycast/status.h"
#include "keycast/store.h"
#include "keycast/ticket_service.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace keycast {

namespace api {
class HttpRouter;
class HttpFront;
}  // namespace api

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 8200;            // 0 = pick a free port
  std::string tls_cert_file;  // both set: serve HTTPS (TLS 1.2+)
  std::string tls_key_file;
  bool allow_insecure_http = false;              // plain HTTP on a non-loopback address
  size_t threads = limits::kDefaultHttpThreads;  // request pool (short requests)
  std::vector<Endpoint> default_key_servers;     // for events created without any
  std::vector<std::string> roles;                // reported by /v1/health
  int64_t max_watch_seconds = 55;                // bound of a ticket long-poll
  // Limits of the HTTP front (docs/limits.md).
  size_t max_connections = limits::kDefaultHttpMaxConnections;
  size_t max_connections_per_ip = limits::kDefaultHttpMaxConnectionsPerIp;  // IPv6: per /64
  int64_t header_timeout_ms = limits::kDefaultHttpHeaderTimeoutMs;          // whole request head
  int64_t body_timeout_ms = limits::kDefaultHttpBodyTimeoutMs;    // end of head to end of body
  int64_t idle_timeout_ms = limits::kDefaultHttpIdleTimeoutMs;    // keep-alive wait
  int64_t write_timeout_ms = limits::kDefaultHttpWriteTimeoutMs;  // one answer
  // Long-polls at once, each on a thread of the long-poll pool; one more
  // is answered 503 with Retry-After.
  size_t max_long_polls = limits::kDefaultHttpMaxLongPolls;
};

struct ApiServices {
  Directory* directory = nullptr;
  TicketService* tickets = nullptr;
  ServiceKeys* keys = nullptr;
  Store* store = nullptr;
  // Seed 003: wake the event's agents so they refetch keys; returns how many
  // were sent. Unset when this node runs no key service.
  std::function<size_t(EventId)> rekey;
};

class ApiServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  struct Route {
    std::string method;
    std::string path;  // template, e.g. /v1/clients/{name}
    std::string summary;
    bool admin = false;
  };

  ApiServer(ApiServices services, ApiServerOptions options);
  ~ApiServer();

  // Registers a route. Handlers of admin routes run only with a valid admin
  // token; the actor is available through CurrentActor().
  void Add(const std::string& method, const std::string& path, const std::string& summary,
           bool admin, Handler handler);
  // The actor of the admin request being handled on this thread.
  static const Actor& CurrentActor();
  // Marks a route (exact path) as a long-poll: its requests run on the
  // long-poll pool (at most max_long_polls at once), never on the request
  // pool. REQUIRES: not started.
  void MarkLongPoll(const std::string& method, const std::string& path);

  // Runs the route `method path` (path without query) in this process as an
  // HTTP request with `Authorization: Bearer <bearer>` (when not empty) and
  // the JSON `body` would run: the same authentication, validation and
  // handler. The operator console makes its changes through here, so they
  // are the CLI's. 404 when no route matches. Thread-safe once started.
  struct LocalAnswer {
    int status = 0;
    std::string body;
  };
  LocalAnswer Call(const std::string& method, const std::string& path, const std::string& bearer,
                   const std::string& body = "") const;

  // REQUIRES: not started.
  void set_default_key_servers(std::vector<Endpoint> eps) {
    options_.default_key_servers = std::move(eps);
  }

  // Binds and serves on a background thread. REQUIRES: not started.
  Status Start();
  void Stop();
  int port() const { return bound_port_; }
  std::string url() const;
  // Connections open now.
  size_t open_connections() const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  void AddDirectoryRoutes();
  void AddTicketRoutes();
  void AddSystemRoutes();

  ApiServices s_;
  ApiServerOptions options_;
  std::unique_ptr<api::HttpRouter> http_;  // cpp-httplib's routing and handlers
  std::unique_ptr<api::HttpFront> front_;  // the listening socket and the limits
  std::vector<Route> routes_;
  std::vector<std::pair<std::string, std::string>> long_polls_;  // method, path
  struct LocalRoute;  // a registered handler with its pattern, for Call
  std::vector<std::shared_ptr<const LocalRoute>> local_routes_;
  void AddLocalRoute(const std::string& method, const std::string& pattern,
                     std::function<void(const httplib::Request&, httplib::Response&)> handler);
  int bound_port_ = 0;
};

// Helpers for route handlers (also used by other parts' routes).
namespace api {
int HttpStatusFor(Code code);
void SendJson(httplib::Response& res, int status, const std::string& json_text);
void SendError(httplib::Response& res, const Status& status);
// The same with Retry-After when retry_after_seconds > 0 (a 429 from the
// login limiter, a 503 to retry).
void SendError(httplib::Response& res, const Status& status, int64_t retry_after_seconds);
// The bearer token of a request, or "".
std::string BearerToken(const httplib::Request& req);
}  // namespace api

}  // namespace keycast
