// keycast agent [options]   the security agent daemon (docs/agent.md)
// keycast agent status      what a running agent is doing
//
// Every option can also come from the environment (KEYCAST_AGENT_*, shown in
// --help) or a TOML file (--config agent.toml; keys are the option names,
// `send = ["live=127.0.0.1:5000"]`).
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/session.h"
#include "keycast/client.h"

#ifdef KEYCAST_HAVE_AGENT
#include "keycast/agent/daemon.h"
#endif

namespace keycast::cli {
namespace {

using json = nlohmann::json;

#ifdef KEYCAST_HAVE_AGENT

struct AgentFlags {
  std::string addr = "http://127.0.0.1:8200";
  std::string ca_file;
  std::string api_key, client, password;
  bool password_stdin = false;
  std::string session;
  std::string mode = "relay";
  std::vector<std::string> send, receive, events;
  std::string interface;
  int ttl = 1;
  bool loop = true;
  int wire_port_offset = -1;
  std::string tun = "kc0";
  bool manage_routes = false;
  int clear_grace_ms = 250;
  uint64_t replay_window = 1024;
  size_t pad_block = 4;
  std::string status_addr = "127.0.0.1:9464";
  int watch_seconds = 25;

  void Add(CLI::App* cmd) {
    cmd->add_option("--addr", addr, "Ticket service URL")
        ->envname("KEYCAST_ADDR")
        ->capture_default_str();
    cmd->add_option("--ca-file", ca_file, "CA certificate for an https:// address")
        ->envname("KEYCAST_CA_FILE");
    cmd->add_option("--api-key", api_key, "Client API key (kca_...)")->envname("KEYCAST_API_KEY");
    cmd->add_option("--client", client, "Client name, for password login")
        ->envname("KEYCAST_CLIENT");
    cmd->add_option("--password", password, "Password (prefer --password-stdin)")
        ->envname("KEYCAST_PASSWORD");
    cmd->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
    cmd->add_option(
           "--session", session,
           "Session file written by `keycast client login` (used when no credentials are given; "
           "re-read when the ticket nears expiry)")
        ->envname("KEYCAST_SESSION");
    cmd->add_option("--mode", mode, "relay or transparent")
        ->envname("KEYCAST_AGENT_MODE")
        ->capture_default_str();
    cmd->add_option("--send", send,
                    "Relay: EVENT=ADDR:PORT, take plaintext UDP on ADDR:PORT and send it protected "
                    "to the event's group")
        ->envname("KEYCAST_AGENT_SEND")
        ->delimiter(',');
    cmd->add_option("--receive", receive,
                    "Relay: EVENT=ADDR:PORT, receive the event's group and deliver plaintext UDP "
                    "to ADDR:PORT")
        ->envname("KEYCAST_AGENT_RECEIVE")
        ->delimiter(',');
    cmd->add_option("--event", events,
                    "Transparent: an event whose group is routed through the TUN (repeatable)")
        ->envname("KEYCAST_AGENT_EVENT")
        ->delimiter(',');
    cmd->add_option("--interface", interface,
                    "Network interface for protected traffic (sending and joining); required in "
                    "transparent mode")
        ->envname("KEYCAST_AGENT_INTERFACE");
    cmd->add_option("--ttl", ttl, "Multicast TTL / hop limit of protected datagrams")
        ->envname("KEYCAST_AGENT_TTL")
        ->capture_default_str();
    cmd->add_option(
           "--multicast-loop", loop,
           "Relay: also deliver protected datagrams to listeners on this host (true/false)")
        ->envname("KEYCAST_AGENT_MULTICAST_LOOP")
        ->capture_default_str();
    cmd->add_option("--wire-port-offset", wire_port_offset,
                    "Protected traffic goes to group:(port + offset); default 0 in relay mode, 1 "
                    "in transparent mode")
        ->envname("KEYCAST_AGENT_WIRE_PORT_OFFSET");
    cmd->add_option("--tun", tun, "Transparent: TUN interface name")
        ->envname("KEYCAST_AGENT_TUN")
        ->capture_default_str();
    cmd->add_flag("--manage-routes", manage_routes,
                  "Transparent: add the group routes through the TUN (and remove them on exit)")
        ->envname("KEYCAST_AGENT_MANAGE_ROUTES");
    cmd->add_option("--clear-grace-ms", clear_grace_ms,
                    "Accept clear (SPI 0) packets this long after a clear interval ends, for "
                    "packets in flight")
        ->envname("KEYCAST_AGENT_CLEAR_GRACE_MS")
        ->capture_default_str();
    cmd->add_option("--replay-window", replay_window,
                    "Replay window per sender, packets (multiple of 64)")
        ->envname("KEYCAST_AGENT_REPLAY_WINDOW")
        ->capture_default_str();
    cmd->add_option("--pad-block", pad_block,
                    "Pad protected payloads to a multiple of this (4-256, power of two)")
        ->envname("KEYCAST_AGENT_PAD_BLOCK")
        ->capture_default_str();
    cmd->add_option("--status-addr", status_addr,
                    "Serve /metrics (Prometheus) and /status (JSON) here; empty = off, port 0 = "
                    "any free port")
        ->envname("KEYCAST_AGENT_STATUS_ADDR")
        ->capture_default_str();
    cmd->add_option("--watch-seconds", watch_seconds,
                    "Long-poll the ticket service for a changed grant, seconds per poll; 0 = off")
        ->envname("KEYCAST_AGENT_WATCH_SECONDS")
        ->capture_default_str();
  }
};

Result<agent::DaemonOptions> BuildOptions(AgentFlags& f) {
  agent::DaemonOptions o;
  if (f.mode == "relay")
    o.mode = agent::Mode::kRelay;
  else if (f.mode == "transparent")
    o.mode = agent::Mode::kTransparent;
  else
    return InvalidArgument("--mode must be relay or transparent");
  for (const auto& s : f.send) {
    KC_ASSIGN_OR_RETURN(auto b, agent::Binding::Parse(s, agent::Binding::Kind::kSend));
    o.bindings.push_back(b);
  }
  for (const auto& s : f.receive) {
    KC_ASSIGN_OR_RETURN(auto b, agent::Binding::Parse(s, agent::Binding::Kind::kReceive));
    o.bindings.push_back(b);
  }
  for (const auto& e : f.events) {
    agent::Binding b;
    b.event = e;
    b.kind = agent::Binding::Kind::kTransparent;
    o.bindings.push_back(b);
  }
  o.ticket_url = f.addr;
  o.ticket_client.ca_file = f.ca_file;
  if (!f.api_key.empty()) {
    o.credentials = ClientCredentials{f.api_key, "", ""};
  } else if (!f.client.empty()) {
    if (f.password_stdin) std::getline(std::cin, f.password);
    if (f.password.empty()) return InvalidArgument("--client needs --password or --password-stdin");
    o.credentials = ClientCredentials{"", f.client, f.password};
  } else {
    std::string path = f.session.empty() ? DefaultSessionPath() : f.session;
    std::string addr;
    KC_ASSIGN_OR_RETURN(auto s, LoadSessionFile(path, f.ca_file, &addr));
    o.session = std::move(s);
    if (!addr.empty()) o.ticket_url = addr;
    std::string ca = f.ca_file;
    o.reload_session = [path, ca]() {
      std::string ignored;
      return LoadSessionFile(path, ca, &ignored);
    };
  }
  o.multicast.interface = f.interface;
  o.multicast.ttl = f.ttl;
  o.multicast.loop = f.loop;
  o.wire_port_offset = f.wire_port_offset;
  o.tun_name = f.tun;
  o.manage_routes = f.manage_routes;
  if (f.clear_grace_ms < 0 || f.clear_grace_ms > 10000)
    return InvalidArgument("--clear-grace-ms must be 0-10000");
  o.data_plane.clear_grace = Micros(f.clear_grace_ms) * 1000;
  o.data_plane.replay_window = f.replay_window;
  o.data_plane.pad_block = f.pad_block;
  o.status_addr = f.status_addr == "off" ? "" : f.status_addr;
  if (f.watch_seconds < 0 || f.watch_seconds > 300)
    return InvalidArgument("--watch-seconds must be 0-300");
  o.watch_seconds = f.watch_seconds;
  return o;
}

void RunAgent(AgentFlags& f) {
  // Before any thread starts, so sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto o = BuildOptions(f);
  if (!o.ok()) throw Exit{Fail(o.status())};
  auto d = agent::Daemon::Create(std::move(o).value());
  if (!d.ok()) throw Exit{Fail(d.status())};
  Status st = (*d)->Start();
  if (!st.ok()) throw Exit{Fail(st)};
  sd_notify(0, "READY=1");  // Type=notify (dist/systemd/keycast-agent.service)
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  sd_notify(0, "STOPPING=1");
  (*d)->Stop();
}

void PrintStatus(const json& s) {
  std::printf("mode %s, client %s, ticket valid until %s\n\n", s.value("mode", "").c_str(),
              s.value("client", "").c_str(), s.value("ticket_expires", "").c_str());
  std::printf("%-18s %-11s %-8s %-8s %-26s %-10s %-10s %10s %10s %10s\n", "EVENT", "KIND", "STATE",
              "ROLE", "GROUP", "KEY", "NEXT KEY", "RECEIVED", "SENT", "DELIVERED");
  for (const auto& e : s["events"]) {
    std::string group = e.contains("group") ? e["group"].get<std::string>() + ":" +
                                                  std::to_string(e.value("port", 0)) + " (" +
                                                  std::to_string(e.value("wire_port", 0)) + ")"
                                            : "-";
    auto slot = [&](const char* which) -> std::string {
      if (!e.contains("keys") || e["keys"][which].is_null()) return "-";
      const auto& k = e["keys"][which];
      return k.value("clear", false) ? "clear" : k["spi"].get<std::string>();
    };
    auto count = [&](const char* what) -> unsigned long long {
      return e.contains("datagrams") ? e["datagrams"].value(what, 0ull) : 0ull;
    };
    std::printf("%-18s %-11s %-8s %-8s %-26s %-10s %-10s %10llu %10llu %10llu\n",
                e.value("name", "").c_str(), e.value("kind", "").c_str(),
                e.value("state", "").c_str(), e.value("role", "-").c_str(), group.c_str(),
                slot("current").c_str(), slot("next").c_str(), count("received"), count("sent"),
                count("delivered"));
    if (!e.value("reason", "").empty())
      std::printf("%18s   %s\n", "", e.value("reason", "").c_str());
  }
  std::printf("\ndata plane:");
  for (auto& [k, v] : s["data_plane"]["packets"].items())
    std::printf(" %s=%llu", k.c_str(), v.get<unsigned long long>());
  std::printf("\ndropped:   ");
  for (auto& [k, v] : s["data_plane"]["dropped"].items())
    if (v.get<unsigned long long>() > 0)
      std::printf(" %s=%llu", k.c_str(), v.get<unsigned long long>());
  std::printf(" (total %llu)\n", s["data_plane"].value("dropped_total", 0ull));
}

#endif  // KEYCAST_HAVE_AGENT

}  // namespace

static void RegisterAgentCommands(CLI::App& app) {
  auto* cmd = app.add_subcommand("agent",
                                 "The security agent: protect, pass or drop the datagrams of your "
                                 "events (relay or transparent mode)");
#ifdef KEYCAST_HAVE_AGENT
  static AgentFlags flags;
  flags.Add(cmd);
  UseConfigFile(app, cmd, "KEYCAST_AGENT_CONFIG");
  static std::string status_addr = "127.0.0.1:9464";
  static bool status_json = false;
  auto* status =
      cmd->add_subcommand("status", "Show what a running agent is doing (its /status page)");
  status->add_option("--status-addr", status_addr, "The agent's status address")
      ->envname("KEYCAST_AGENT_STATUS_ADDR")
      ->capture_default_str();
  status->add_flag("--json", status_json, "Print the JSON as served");
  status->callback([] {
    httplib::Client c("http://" + status_addr);
    c.set_connection_timeout(3, 0);
    c.set_read_timeout(5, 0);
    auto r = c.Get("/status");
    if (!r || r->status != 200)
      throw Exit{Fail(
          Unavailable("no agent answers at " + status_addr + " (is `keycast agent` running?)"))};
    if (status_json) {
      std::printf("%s", r->body.c_str());
      return;
    }
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) throw Exit{Fail(Unavailable("malformed status from " + status_addr))};
    PrintStatus(j);
  });
  cmd->callback([cmd, status] {
    if (cmd->got_subcommand(status)) return;
    RunAgent(flags);
  });
#else
  cmd->allow_extras();
  cmd->callback(
      [] { throw Exit{Fail(Unavailable("this keycast was built without the agent part"))}; });
#endif
}

static CommandRegistrar registrar(40, &RegisterAgentCommands);

}  // namespace keycast::cli
