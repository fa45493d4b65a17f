// keycast server | dev | init | kek generate
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>

#include "cli/commands.h"
#include "cli/demo.h"
#include "keycast/reservation.h"
#include "keycast/schedule.h"
#include "keycast/server.h"

namespace keycast::cli {
namespace {

constexpr const char* kDatabaseHelp =
    "SQLite file, or a PostgreSQL URI (postgresql://user@host/db) or key=value string (host=... "
    "dbname=...) "
    "to share the store between hosts; keep its password in ~/.pgpass or PGPASSWORD "
    "(default: <data-dir>/keycast.db)";

// A resource limit: a positive number, also from KEYCAST_<NAME> and TOML.
template <typename T>
void AddLimit(CLI::App* cmd, const std::string& flag, T& value, const std::string& help) {
  std::string env = "KEYCAST_" + flag.substr(2);
  for (auto& ch : env) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  cmd->add_option(flag, value, help)
      ->envname(env)
      ->check(CLI::Range(T{1}, std::numeric_limits<T>::max()))
      ->capture_default_str();
}

// Options shared by `server` and `dev`, bound to a NodeConfig.
struct NodeFlags {
  NodeConfig c;
  std::string roles = "directory,ticket,key";
  std::string password_cost = "interactive";
  std::string ticket_lifetime = "PT8H";

  void Add(CLI::App* cmd, bool dev) {
    cmd->add_option("--data-dir", c.data_dir, "Folder for the embedded store and the KEK")
        ->envname("KEYCAST_DATA_DIR")
        ->capture_default_str();
    cmd->add_option("--database", c.database, kDatabaseHelp)->envname("KEYCAST_DATABASE");
    cmd->add_option("--kek-file", c.kek_file,
                    "Key-encryption key file, 32 bytes or 64 hex (default: <data-dir>/kek; "
                    "KEYCAST_KEK wins)")
        ->envname("KEYCAST_KEK_FILE");
    if (!dev)
      cmd->add_option("--roles", roles, "Roles to run: directory,ticket,key")
          ->envname("KEYCAST_ROLES")
          ->capture_default_str();
    cmd->add_option("--http-addr", c.http_addr, "HTTP API listen address")
        ->envname("KEYCAST_HTTP_ADDR")
        ->capture_default_str();
    cmd->add_option("--tls-cert", c.tls_cert, "PEM certificate: serve HTTPS")
        ->envname("KEYCAST_TLS_CERT");
    cmd->add_option("--tls-key", c.tls_key, "PEM private key for --tls-cert")
        ->envname("KEYCAST_TLS_KEY");
    cmd->add_flag("--allow-insecure-http", c.allow_insecure_http,
                  "Allow plain HTTP on a non-loopback address (tokens travel in the clear)")
        ->envname("KEYCAST_ALLOW_INSECURE_HTTP");
    cmd->add_option("--http-threads", c.http_threads,
                    "HTTP handler threads for short requests (long-polls have their own)")
        ->envname("KEYCAST_HTTP_THREADS")
        ->capture_default_str();
    AddLimit(cmd, "--http-max-connections", c.http_max_connections,
             "HTTP connections open at once, in all");
    AddLimit(cmd, "--http-max-connections-per-ip", c.http_max_connections_per_ip,
             "HTTP connections open at once from one IPv4 address or IPv6 /64");
    AddLimit(cmd, "--http-header-timeout-ms", c.http_header_timeout_ms,
             "Time to receive a whole request head (request line and headers), ms");
    AddLimit(cmd, "--http-body-timeout-ms", c.http_body_timeout_ms,
             "Time from the end of a request head to the end of its body, ms");
    AddLimit(cmd, "--http-idle-timeout-ms", c.http_idle_timeout_ms,
             "Time a keep-alive connection may wait for its next request, ms");
    AddLimit(cmd, "--http-write-timeout-ms", c.http_write_timeout_ms,
             "Time to write one answer, ms");
    AddLimit(cmd, "--http-max-long-polls", c.http_max_long_polls,
             "Ticket long-polls at once, on threads of their own (one more gets 503)");
    cmd->add_option("--key-addr", c.key_addr, "Key service listen address (UDP and TCP)")
        ->envname("KEYCAST_KEY_ADDR")
        ->capture_default_str();
    cmd->add_option("--key-advertise", c.key_advertise,
                    "Key-server endpoint given to new events (default: --key-addr)")
        ->envname("KEYCAST_KEY_ADVERTISE");
    cmd->add_option("--key-threads", c.key_threads, "Key service UDP worker threads")
        ->envname("KEYCAST_KEY_THREADS")
        ->capture_default_str();
    AddLimit(cmd, "--key-tcp-threads", c.key_tcp_threads, "Key service TCP worker threads");
    AddLimit(cmd, "--key-tcp-max-connections", c.key_tcp_max_connections,
             "Key service TCP connections open at once, in all");
    AddLimit(cmd, "--key-tcp-max-connections-per-ip", c.key_tcp_max_connections_per_ip,
             "Key service TCP connections from one IPv4 address or IPv6 /64");
    AddLimit(cmd, "--key-tcp-frame-timeout-ms", c.key_tcp_frame_timeout_ms,
             "Time to receive one whole key request frame over TCP, ms");
    AddLimit(cmd, "--key-tcp-idle-timeout-ms", c.key_tcp_idle_timeout_ms,
             "Time a key service TCP connection may wait for its next frame, ms");
    cmd->add_option("--ticket-lifetime", ticket_lifetime,
                    "Ticket lifetime (ISO 8601 duration or seconds)")
        ->envname("KEYCAST_TICKET_LIFETIME")
        ->capture_default_str();
    cmd->add_option("--clock-skew", c.clock_skew_seconds, "Accepted client clock skew, seconds")
        ->envname("KEYCAST_CLOCK_SKEW")
        ->capture_default_str();
    cmd->add_option("--key-grace", c.key_grace_seconds,
                    "Seconds an interval key stays valid after its interval")
        ->envname("KEYCAST_KEY_GRACE")
        ->capture_default_str();
    cmd->add_option("--refresh-ms", c.refresh_ms,
                    "How often to pick up changes other processes made to the store (0 = never)")
        ->envname("KEYCAST_REFRESH_MS")
        ->capture_default_str();
    cmd->add_option("--push-interface", c.push_interface,
                    "Interface (name or IPv4 address) the rekey pushes leave on (default: the "
                    "routing table's)")
        ->envname("KEYCAST_PUSH_INTERFACE");
    cmd->add_option("--push-group", c.push_group,
                    "One multicast control group address:port for every event's pushes "
                    "(default: each event's group, port + 1)")
        ->envname("KEYCAST_PUSH_GROUP");
    cmd->add_option("--push-ttl", c.push_ttl, "Multicast TTL of rekey pushes (1-255)")
        ->envname("KEYCAST_PUSH_TTL")
        ->capture_default_str();
    cmd->add_option("--push-rate", c.push_rate_bytes_per_second,
                    "Pacing of large rekey messages, bytes per second (at least 10000)")
        ->envname("KEYCAST_PUSH_RATE")
        ->capture_default_str();
    cmd->add_option("--password-cost", password_cost, "Argon2id cost: interactive or moderate")
        ->envname("KEYCAST_PASSWORD_COST")
        ->capture_default_str();
  }

  Status Finish() {
    c.roles.clear();
    std::stringstream ss(roles);
    for (std::string r; std::getline(ss, r, ',');)
      if (!r.empty()) c.roles.push_back(r);
    if (!ParsePasswordCost(password_cost, &c.password_cost))
      return InvalidArgument("--password-cost must be interactive or moderate");
    auto lt = ParseDuration(ticket_lifetime);
    if (!lt.ok()) return InvalidArgument("--ticket-lifetime: " + lt.status().message());
    if (*lt < 60 || *lt > limits::kMaxTicketLifetimeSeconds)
      return InvalidArgument("--ticket-lifetime must be between 1 minute and 7 days");
    c.ticket_lifetime_seconds = *lt;
    if (c.clock_skew_seconds < 1 || c.clock_skew_seconds > 3600)
      return InvalidArgument("--clock-skew must be 1-3600 seconds");
    if (c.key_grace_seconds < 0 || c.key_grace_seconds > 3600)
      return InvalidArgument("--key-grace must be 0-3600 seconds");
    if (c.push_ttl < 1 || c.push_ttl > 255) return InvalidArgument("--push-ttl must be 1-255");
    for (int64_t ms :
         {c.http_header_timeout_ms, c.http_body_timeout_ms, c.http_idle_timeout_ms,
          c.http_write_timeout_ms, c.key_tcp_frame_timeout_ms, c.key_tcp_idle_timeout_ms})
      if (ms < 100 || ms > 3'600'000)
        return InvalidArgument("HTTP and key-service TCP timeouts must be 100 ms to 1 hour");
    if (c.push_rate_bytes_per_second < 10'000)
      return InvalidArgument("--push-rate must be at least 10000 bytes/s");
    return Status::Ok();
  }
};

// Blocks until SIGINT or SIGTERM.
void WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

void BlockSignals() {
  // Before any thread starts, so every thread inherits the mask and sigwait
  // in the main thread receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Result<std::string> EnsureAdminToken(Node& node, const std::string& file, bool* created) {
  *created = false;
  std::ifstream in(file);
  std::string tok;
  if (in && std::getline(in, tok) && node.directory()->AuthenticateAdmin(tok).ok()) return tok;
  KC_ASSIGN_OR_RETURN(
      Token t, node.directory()->CreateAdminToken(Actor{"bootstrap"}, "created by keycast dev"));
  tok = t.Encode();
  ::umask(077);
  std::ofstream out(file, std::ios::trunc);
  out << tok << "\n";
  if (!out) return Internal("cannot write " + file);
  *created = true;
  return tok;
}

}  // namespace

static void RegisterServerCommands(CLI::App& app) {
  // ---- keycast server
  auto* server = app.add_subcommand("server", "Run a Keycast node with the chosen roles");
  static NodeFlags server_flags;
  auto* sflags = &server_flags;
  sflags->Add(server, false);
  UseConfigFile(app, server, "KEYCAST_CONFIG");
  server->callback([sflags] {
    Status st = sflags->Finish();
    if (!st.ok()) throw Exit{Fail(st)};
    BlockSignals();
    auto node = Node::Create(sflags->c);
    if (!node.ok()) throw Exit{Fail(node.status())};
    st = (*node)->Start();
    if (!st.ok()) throw Exit{Fail(st)};
    if (!(*node)->directory()->HasAdminTokens())
      spdlog::warn(
          "no admin token exists yet: run `keycast init --data-dir {}` to create the first one",
          sflags->c.data_dir);
    if (!(*node)->http_url().empty()) spdlog::info("HTTP API at {}", (*node)->http_url());
    // Type=notify units (dist/systemd/): the listeners are up. A no-op
    // without $NOTIFY_SOCKET.
    sd_notify(0, "READY=1");
    WaitForSignal();
    sd_notify(0, "STOPPING=1");
    (*node)->Stop();
  });

  // ---- keycast dev
  auto* dev = app.add_subcommand(
      "dev", "Run every role on loopback with an embedded store and a demo directory");
  static NodeFlags dev_flags;
  auto* dflags = &dev_flags;
  dflags->c.data_dir = "keycast-dev";
  dflags->roles = "directory,ticket,key,reservation";
  dflags->password_cost = "interactive";
  dflags->Add(dev, true);
  UseConfigFile(app, dev, "KEYCAST_CONFIG");
  static bool no_demo_flag = false;
  auto* no_demo = &no_demo_flag;
  dev->add_flag("--no-demo", *no_demo, "Do not create the demo directory");
  dev->callback([dflags, no_demo] {
    Status st = dflags->Finish();
    if (!st.ok()) throw Exit{Fail(st)};
    dflags->c.create_kek = true;
    BlockSignals();
    auto node = Node::Create(dflags->c);
    if (!node.ok()) throw Exit{Fail(node.status())};
    st = (*node)->Start();
    if (!st.ok()) throw Exit{Fail(st)};
    bool created = false;
    auto tok = EnsureAdminToken(**node, dflags->c.data_dir + "/admin-token", &created);
    if (!tok.ok()) throw Exit{Fail(tok.status())};
    DemoInfo demo;
    if (!*no_demo) {
      auto d = EnsureDemoDirectory(*(*node)->directory(), (*node)->key_endpoint());
      if (!d.ok()) throw Exit{Fail(d.status())};
      demo = *d;
      st = EnsureDemoReservation(*(*node)->directory(), *(*node)->api(),
                                 ReservationNodeDefaults().platform.senders_group, &demo);
      if (!st.ok()) throw Exit{Fail(st)};
    }
    std::string url = (*node)->http_url();
    std::printf(
        "\nKeycast dev node is running. Every role on loopback, store in %s/\n\n"
        "  Console       %s/   (sign in with the admin token below)\n"
        "  Sender pages  %s/sender   (demo sender: studio / studio-dev-password)\n"
        "  Receiver pages %s/watch\n"
        "  HTTP API      %s/v1/   (OpenAPI: %s/v1/openapi.json)\n"
        "  Metrics       %s/metrics\n"
        "  Health        %s/v1/health\n"
        "  Key service   %s (UDP and TCP)\n\n"
        "  Admin token   %s\n"
        "                (also in %s/admin-token)\n\n"
        "  export KEYCAST_ADDR=%s KEYCAST_TOKEN=%s\n"
        "  keycast admin group list\n",
        dflags->c.data_dir.c_str(), url.c_str(), url.c_str(), url.c_str(), url.c_str(), url.c_str(),
        url.c_str(), url.c_str(), (*node)->key_endpoint().c_str(), tok->c_str(),
        dflags->c.data_dir.c_str(), url.c_str(), tok->c_str());
    if (!demo.lines.empty()) {
      std::printf("\nDemo directory%s:\n", demo.created ? " (created now)" : "");
      for (const auto& l : demo.lines) std::printf("  %s\n", l.c_str());
    }
    std::printf("\nPress Ctrl-C to stop.\n");
    std::fflush(stdout);
    WaitForSignal();
    (*node)->Stop();
  });

  // ---- keycast init
  auto* init = app.add_subcommand("init", "Create the store, the KEK and the first admin token");
  static std::string init_data_dir = "keycast-data";
  auto* data_dir = &init_data_dir;
  static std::string init_kek_file;
  auto* kek_file = &init_kek_file;
  static std::string init_database;
  auto* database = &init_database;
  init->add_option("--data-dir", *data_dir, "Folder for the embedded store and the KEK")
      ->envname("KEYCAST_DATA_DIR")
      ->capture_default_str();
  init->add_option("--kek-file", *kek_file, "KEK file (default: <data-dir>/kek)")
      ->envname("KEYCAST_KEK_FILE");
  init->add_option("--database", *database, kDatabaseHelp)->envname("KEYCAST_DATABASE");
  init->callback([data_dir, kek_file, database] {
    NodeConfig c;
    c.data_dir = *data_dir;
    c.kek_file = *kek_file;
    c.database = *database;
    c.create_kek = true;
    c.roles = {"directory"};
    auto node = Node::Create(c);
    if (!node.ok()) throw Exit{Fail(node.status())};
    if ((*node)->directory()->HasAdminTokens())
      throw Exit{
          Fail(FailedPrecondition("this store already has admin tokens; create more with "
                                  "`keycast admin token create`"))};
    auto tok =
        (*node)->directory()->CreateAdminToken(Actor{"bootstrap"}, "created by keycast init");
    if (!tok.ok()) throw Exit{Fail(tok.status())};
    std::printf(
        "Initialised %s.\nAdmin token (shown once; store it safely):\n\n  %s\n\n"
        "Keep the KEK file (%s) apart from backups of the database.\n",
        data_dir->c_str(), tok->Encode().c_str(),
        (kek_file->empty() ? *data_dir + "/kek" : *kek_file).c_str());
  });

  // ---- keycast kek generate
  auto* kek = app.add_subcommand("kek", "Key-encryption key tools");
  kek->require_subcommand(1);
  auto* gen = kek->add_subcommand("generate", "Write a new random KEK file (mode 0600)");
  static std::string kek_path;
  auto* path = &kek_path;
  gen->add_option("path", *path, "File to create")->required();
  gen->callback([path] {
    Status st = Sealer::GenerateFile(*path);
    if (!st.ok()) throw Exit{Fail(st)};
    std::printf("wrote %s\n", path->c_str());
  });
}

static CommandRegistrar registrar(10, &RegisterServerCommands);

}  // namespace keycast::cli
