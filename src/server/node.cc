#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "keycast/key_service.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"
#include "keycast/server.h"
#include "store/pg_conn.h"
#ifdef KEYCAST_WITH_WEB
#include "web/console.h"
#endif

namespace keycast {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const std::vector<std::string> kKnownRoles = {"directory", "ticket", "key", "reservation"};

#ifdef KEYCAST_WITH_WEB
// The operator console at / (src/web/console.h), wherever the directory
// role serves the HTTP API; its chart samples the key service's counters.
class ConsolePart final : public NodePart {
 public:
  explicit ConsolePart(web::ConsoleOptions o) : console_(std::move(o)) {}
  Status Start() override {
    console_.Start();
    return Status::Ok();
  }
  void Stop() override { console_.Stop(); }

 private:
  web::Console console_;
};

std::unique_ptr<NodePart> CreateConsolePart(const NodeContext& ctx) {
  web::ConsoleOptions o;
  o.api = ctx.api;
  o.directory = ctx.directory;
  o.store = ctx.store;
  o.secure_cookies = !ctx.config->tls_cert.empty();
  o.reservation_pages = Has(ctx.config->roles, "reservation");
  o.key_grace_seconds = ctx.config->key_grace_seconds;
  if (KeyService* ks = ctx.key_service)
    o.keyed_clients = [ks](EventId event, Micros since) {
      return ks->engine().RecentClients(event, since);
    };
  return std::make_unique<ConsolePart>(std::move(o));
}
#endif

}  // namespace

Result<Sealer> LoadKek(const std::string& path, bool create) {
  if (const char* env = std::getenv("KEYCAST_KEK"); env && *env) {
    Bytes raw;
    std::string hex(env);
    if (hex.size() != 64 || !FromHex(hex, &raw))
      return InvalidArgument("KEYCAST_KEK must be 64 hex characters");
    SecretBytes key(raw);
    SecureWipe(raw.data(), raw.size());
    SecureWipe(hex.data(), hex.size());
    return Sealer::FromKey(key);
  }
  struct stat st;
  if (create && ::stat(path.c_str(), &st) != 0) {
    KC_RETURN_IF_ERROR(Sealer::GenerateFile(path));
    spdlog::info("created a new key-encryption key in {}", path);
  }
  return Sealer::FromFile(path);
}

Result<std::unique_ptr<Node>> Node::Create(const NodeConfig& config) {
  std::unique_ptr<Node> n(new Node());
  n->config_ = config;
  NodeConfig& c = n->config_;
  for (const auto& r : c.roles)
    if (!Has(kKnownRoles, r))
      return InvalidArgument("unknown role '" + r +
                             "' (known: directory, ticket, key, reservation)");
  if (c.roles.empty()) return InvalidArgument("no roles to run");
  if (::mkdir(c.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Unavailable("cannot create data directory " + c.data_dir + ": " + std::strerror(errno));
  if (c.database.empty()) c.database = c.data_dir + "/keycast.db";
  if (c.kek_file.empty()) c.kek_file = c.data_dir + "/kek";
  if (c.key_advertise.empty()) c.key_advertise = c.key_addr;

  KC_ASSIGN_OR_RETURN(n->store_, OpenStore(c.database));
  KC_ASSIGN_OR_RETURN(Sealer sealer, LoadKek(c.kek_file, c.create_kek));
  n->sealer_ = std::make_unique<Sealer>(std::move(sealer));
  KC_ASSIGN_OR_RETURN(n->directory_,
                      Directory::Open(n->store_.get(), n->sealer_.get(), &SystemClock::Get(),
                                      DirectoryOptions{c.password_cost}));
  // Retired keys stay usable for a ticket lifetime plus the skew, so no
  // unexpired ticket is invalidated by a rotation.
  KC_ASSIGN_OR_RETURN(n->keys_,
                      ServiceKeys::Open(n->store_.get(), n->sealer_.get(), &SystemClock::Get(),
                                        c.ticket_lifetime_seconds + c.clock_skew_seconds, true));
  n->tickets_ =
      std::make_unique<TicketService>(n->directory_.get(), n->keys_.get(), &SystemClock::Get(),
                                      TicketServiceOptions{c.ticket_lifetime_seconds});
  if (Has(c.roles, "key")) {
    KeyServiceOptions ko;
    ko.addr = c.key_addr;
    ko.threads = c.key_threads;
    ko.clock_skew_seconds = c.clock_skew_seconds;
    ko.grace_seconds = c.key_grace_seconds;
    ko.tcp_threads = c.key_tcp_threads;
    ko.tcp_max_connections = c.key_tcp_max_connections;
    ko.tcp_max_connections_per_ip = c.key_tcp_max_connections_per_ip;
    ko.tcp_frame_timeout_ms = c.key_tcp_frame_timeout_ms;
    ko.tcp_idle_timeout_ms = c.key_tcp_idle_timeout_ms;
    n->key_service_ =
        std::make_unique<KeyService>(n->directory_.get(), n->keys_.get(), n->store_.get(),
                                     n->sealer_.get(), &SystemClock::Get(), ko);
  }
  if (Has(c.roles, "directory") || Has(c.roles, "ticket")) {
    auto ep = Endpoint::Parse(c.http_addr, true);
    if (!ep) return InvalidArgument("http_addr '" + c.http_addr + "' is not host:port");
    ApiServerOptions ao;
    ao.host = ep->host;
    ao.port = ep->port;
    ao.tls_cert_file = c.tls_cert;
    ao.tls_key_file = c.tls_key;
    ao.allow_insecure_http = c.allow_insecure_http;
    ao.threads = c.http_threads;
    ao.max_connections = c.http_max_connections;
    ao.max_connections_per_ip = c.http_max_connections_per_ip;
    ao.header_timeout_ms = c.http_header_timeout_ms;
    ao.body_timeout_ms = c.http_body_timeout_ms;
    ao.idle_timeout_ms = c.http_idle_timeout_ms;
    ao.write_timeout_ms = c.http_write_timeout_ms;
    ao.max_long_polls = c.http_max_long_polls;
    ao.roles = c.roles;
    if (!Endpoint::Parse(c.key_advertise, true))
      return InvalidArgument("key_advertise '" + c.key_advertise + "' is not host:port");
    ApiServices services{n->directory_.get(), n->tickets_.get(), n->keys_.get(), n->store_.get(),
                         nullptr};
    if (KeyService* svc = n->key_service_.get())
      services.rekey = [svc](EventId e) { return svc->TriggerRekey(e); };
    n->api_ = std::make_unique<ApiServer>(services, ao);
  }
  NodeContext ctx;
  ctx.config = &n->config_;
  ctx.store = n->store_.get();
  ctx.sealer = n->sealer_.get();
  ctx.directory = n->directory_.get();
  ctx.keys = n->keys_.get();
  ctx.tickets = n->tickets_.get();
  ctx.key_service = n->key_service_.get();
  ctx.api = n->api_.get();
  if (ctx.key_service) {
    KC_ASSIGN_OR_RETURN(auto push, CreatePushPart(ctx));
    if (push) n->parts_.push_back(std::move(push));
  }
  if (Has(c.roles, "reservation")) {
    if (!ctx.api)
      return InvalidArgument(
          "the reservation role needs the directory or ticket role (its HTTP API)");
    KC_ASSIGN_OR_RETURN(auto res, CreateReservationPart(ctx));
    if (res) n->parts_.push_back(std::move(res));
  }
#ifdef KEYCAST_WITH_WEB
  if (ctx.api && Has(c.roles, "directory")) n->parts_.push_back(CreateConsolePart(ctx));
#endif
  return n;
}

Node::~Node() { Stop(); }

Status Node::Start() {
  if (key_service_) KC_RETURN_IF_ERROR(key_service_->Start());
  if (api_) {
    // New events get this node's key service unless they name others; with
    // port 0 the advertised endpoint is the one actually bound.
    auto ks = *Endpoint::Parse(config_.key_advertise, true);
    if (ks.port == 0 && key_service_) ks = *Endpoint::Parse(key_service_->endpoint());
    if (ks.port != 0) api_->set_default_key_servers({ks});
  }
  for (auto& p : parts_) KC_RETURN_IF_ERROR(p->Start());
  stopping_ = false;
  if (sql::IsPostgresConninfo(config_.database)) follower_ = std::thread([this] { Follow(); });
  if (config_.refresh_ms > 0) {
    refresher_ = std::thread([this] {
      std::unique_lock<std::mutex> l(refresh_mu_);
      for (int tick = 1; !stopping_; ++tick) {
        refresh_cv_.wait_for(l, std::chrono::milliseconds(config_.refresh_ms));
        if (stopping_) break;
        l.unlock();
        auto r = directory_->Refresh();
        if (!r.ok())
          spdlog::warn("directory refresh failed: {}", r.status().message());
        else if (*r)
          spdlog::info("directory reloaded: changed by another process");
        if (tick % 10 == 0) {
          Status st = keys_->Reload();
          if (!st.ok()) spdlog::warn("service key reload failed: {}", st.message());
          // Event secrets rotated out: erased once no key service derives
          // from them (their successor in force for longer than the grace).
          auto retired = directory_->RetireOldSecrets(config_.key_grace_seconds);
          if (!retired.ok())
            spdlog::warn("retiring old event secrets failed: {}", retired.status().message());
        }
        l.lock();
      }
    });
  }
  if (api_) {
    KC_RETURN_IF_ERROR(api_->Start());
  }
  return Status::Ok();
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> l(refresh_mu_);
    stopping_ = true;
  }
  refresh_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (follower_.joinable()) follower_.join();
  if (api_) api_->Stop();
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) (*it)->Stop();
  if (key_service_) key_service_->Stop();
}

namespace {

struct FollowMetrics {
  Counter& notifications = Metrics::Global().GetCounter("keycast_follow_notifications_total",
                                                        "Change notifications (NOTIFY) received");
  Counter& malformed = Metrics::Global().GetCounter(
      "keycast_follow_malformed_notifications_total",
      "Change notifications whose payload was not an audit sequence number");
  Counter& reconnects = Metrics::Global().GetCounter("keycast_follow_reconnects_total",
                                                     "LISTEN connections made again after a loss");
  Counter& incremental = Metrics::Global().GetCounter("keycast_follow_catchups_total",
                                                      "Audit-log catch-ups that applied records",
                                                      "mode=\"incremental\"");
  Counter& reload =
      Metrics::Global().GetCounter("keycast_follow_catchups_total",
                                   "Audit-log catch-ups that applied records", "mode=\"reload\"");
  static FollowMetrics& Get() {
    static FollowMetrics m;
    return m;
  }
};

// A NOTIFY payload: the audit sequence number of the commit, in decimal.
std::optional<int64_t> ParseNotifyPayload(const std::string& p) {
  if (p.empty() || p.size() > limits::kMaxNotifyPayloadBytes) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

bool Node::SleepUnlessStopping(int64_t ms) {
  std::unique_lock<std::mutex> l(refresh_mu_);
  refresh_cv_.wait_for(l, std::chrono::milliseconds(ms), [this] { return stopping_; });
  return !stopping_;
}

void Node::CatchUp(const char* why, bool* pending) {
  auto r = directory_->CatchUp();
  *pending = !r.ok();
  if (!r.ok()) {
    spdlog::warn("catching up with the audit log ({}) failed: {}; retrying", why,
                 r.status().message());
    return;
  }
  if (r->records == 0) return;
  follow_.catchups.fetch_add(1);
  if (r->reloaded) {
    follow_.reloads.fetch_add(1);
    FollowMetrics::Get().reload.Inc();
    spdlog::info("directory reloaded: changed by another process ({} audit records, {})",
                 r->records, why);
  } else {
    FollowMetrics::Get().incremental.Inc();
    spdlog::info("directory updated in place: changed by another process ({} audit records, {})",
                 r->records, why);
  }
  if (r->service_keys) {
    Status st = keys_->Reload();
    if (!st.ok()) spdlog::warn("service key reload failed: {}", st.message());
  }
}

// Reconnects with exponential backoff; after every (re)connect, catches up
// from the last audit sequence number this node reflects (notifications sent
// while the connection was down are lost with it).
void Node::Follow() {
  auto& m = FollowMetrics::Get();
  int64_t backoff = limits::kListenBackoffMinMs;
  bool connected_before = false, pending = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(refresh_mu_);
      if (stopping_) return;
    }
    auto listener = sql::ListenPostgres(config_.database, sql::kChangeChannel);
    if (!listener.ok()) {
      spdlog::warn("cannot LISTEN for changes: {}; retrying in {} ms", listener.status().message(),
                   backoff);
      if (!SleepUnlessStopping(backoff)) return;
      backoff = std::min(backoff * 2, limits::kListenBackoffMaxMs);
      continue;
    }
    backoff = limits::kListenBackoffMinMs;
    follow_.listening = true;
    if (connected_before) {
      follow_.reconnects.fetch_add(1);
      m.reconnects.Inc();
      spdlog::info("LISTEN connection made again; catching up from audit record {}",
                   directory_->audit_seq());
    }
    connected_before = true;
    CatchUp("connected", &pending);
    for (;;) {
      {
        std::lock_guard<std::mutex> l(refresh_mu_);
        if (stopping_) break;
      }
      std::vector<std::string> payloads;
      Status st = (*listener)->Wait(200, &payloads);
      if (!st.ok()) {
        spdlog::warn("{}; reconnecting", st.message());
        break;
      }
      bool behind = pending;
      for (const std::string& p : payloads) {
        follow_.notifications.fetch_add(1);
        m.notifications.Inc();
        auto seq = ParseNotifyPayload(p);
        if (!seq) {
          follow_.malformed.fetch_add(1);
          m.malformed.Inc();
          spdlog::warn("malformed change notification ({} bytes); catching up", p.size());
          behind = true;
        } else if (*seq > directory_->audit_seq()) {
          behind = true;  // not one of this node's own commits
        }
      }
      if (behind) CatchUp(pending ? "retry" : "notified", &pending);
    }
    follow_.listening = false;
    if (!SleepUnlessStopping(backoff)) return;
  }
}

std::string Node::http_url() const { return api_ ? api_->url() : ""; }
std::string Node::key_endpoint() const { return key_service_ ? key_service_->endpoint() : ""; }
bool Node::has_role(const std::string& role) const { return Has(config_.roles, role); }

}  // namespace keycast
