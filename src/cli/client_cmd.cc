// keycast client login | events | join
//
// A session file (like a Kerberos credential cache) keeps the ticket and its
// session key between commands: $KEYCAST_SESSION or ~/.keycast/session.json,
// mode 0600.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/views.h"
#include "cli/commands.h"
#include "cli/session.h"
#include "keycast/client.h"
#include "keycast/schedule.h"

namespace keycast::cli {
namespace {

using json = nlohmann::json;

struct LoginFlags {
  std::string addr = "http://127.0.0.1:8200";
  std::string api_key, client, password;
  bool password_stdin = false;
  std::string ca_file;
  std::string session;

  void Add(CLI::App* cmd, bool credentials) {
    cmd->add_option("--addr", addr, "Ticket service URL")
        ->envname("KEYCAST_ADDR")
        ->capture_default_str();
    cmd->add_option("--ca-file", ca_file, "CA certificate for an https:// address")
        ->envname("KEYCAST_CA_FILE");
    cmd->add_option("--session", session,
                    "Session file (default: $KEYCAST_SESSION or ~/.keycast/session.json)");
    if (!credentials) return;
    cmd->add_option("--api-key", api_key, "Client API key (kca_...)")->envname("KEYCAST_API_KEY");
    cmd->add_option("--client", client, "Client name, for password login")
        ->envname("KEYCAST_CLIENT");
    cmd->add_option("--password", password, "Password (prefer --password-stdin)")
        ->envname("KEYCAST_PASSWORD");
    cmd->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
  }
  std::string path() const { return session.empty() ? DefaultSessionPath() : session; }
  bool has_credentials() const { return !api_key.empty() || !client.empty(); }
  Result<ClientCredentials> Credentials() {
    if (!api_key.empty()) return ClientCredentials{api_key, "", ""};
    if (client.empty())
      return InvalidArgument("give --api-key, or --client with --password or --password-stdin");
    if (password_stdin) std::getline(std::cin, password);
    if (password.empty()) return InvalidArgument("--client needs --password or --password-stdin");
    return ClientCredentials{"", client, password};
  }
  TicketClient Tickets() const { return TicketClient(addr, TicketClient::Options{10, ca_file}); }
};

std::string NextStart(const TicketEvent& e) {
  auto occ = NextOccurrence(e.schedule, SystemClock::Get().NowSeconds());
  if (!occ) return "over";
  if (occ->start <= SystemClock::Get().NowSeconds())
    return "now (until " + FormatRfc3339(occ->end) + ")";
  return FormatRfc3339(occ->start);
}

void PrintEvents(const Ticket& t) {
  std::printf("Ticket for %s, valid until %s (%zu event%s)\n\n", t.client_name.c_str(),
              FormatRfc3339(t.expires_at).c_str(), t.events.size(),
              t.events.size() == 1 ? "" : "s");
  std::printf("%-20s %-8s %-24s %-30s %-22s %s\n", "EVENT", "ROLE", "GROUP", "TITLE", "NEXT",
              "KEY SERVERS");
  for (const auto& e : t.events) {
    std::string ks;
    for (const auto& k : e.key_servers) ks += (ks.empty() ? "" : ",") + k.ToString();
    std::string group = e.group_address.ToString() + ":" + std::to_string(e.port);
    std::string title = e.title.size() > 30 ? e.title.substr(0, 27) + "..." : e.title;
    std::printf("%-20s %-8s %-24s %-30s %-22s %s\n", e.name.c_str(),
                std::string(RoleName(e.role)).c_str(), group.c_str(), title.c_str(),
                NextStart(e).c_str(), ks.c_str());
  }
}

class PrintingSink : public KeySink {
 public:
  void Install(const SecurityAssociation& sa) override {
    std::printf(
        "%s  key for interval %u.%u: %s, valid %s .. %s\n",
        FormatRfc3339(SystemClock::Get().NowSeconds()).c_str(), sa.epoch.occurrence, sa.epoch.index,
        sa.clear ? "clear (unencrypted interval)" : ("SPI " + std::to_string(sa.spi.value)).c_str(),
        FormatRfc3339(sa.initiation / kMicrosPerSecond).c_str(),
        FormatRfc3339(sa.expires() / kMicrosPerSecond).c_str());
    std::fflush(stdout);
  }
  void Revoked(EventId, const std::string& reason) override {
    std::printf("no more keys: %s\n", reason.c_str());
    std::fflush(stdout);
  }
};

}  // namespace

static void RegisterClientCommands(CLI::App& app) {
  auto* client =
      app.add_subcommand("client", "Member commands: log in, list your events, join one");
  client->require_subcommand(1);

  static LoginFlags login_flags;
  auto* login = client->add_subcommand("login", "Get a ticket and keep it in the session file");
  login_flags.Add(login, true);
  login->callback([] {
    auto creds = login_flags.Credentials();
    if (!creds.ok()) throw Exit{Fail(creds.status())};
    auto s = login_flags.Tickets().Login(*creds);
    if (!s.ok()) throw Exit{Fail(s.status())};
    Status st = SaveSession(login_flags.path(), login_flags.addr, *s);
    if (!st.ok()) throw Exit{Fail(st)};
    std::printf("Logged in as %s: %zu event%s, ticket valid until %s (saved in %s)\n",
                s->ticket.client_name.c_str(), s->ticket.events.size(),
                s->ticket.events.size() == 1 ? "" : "s",
                FormatRfc3339(s->ticket.expires_at).c_str(), login_flags.path().c_str());
  });

  static LoginFlags events_flags;
  static bool events_json = false;
  auto* events = client->add_subcommand("events", "List the events your ticket grants (verified)");
  events_flags.Add(events, false);
  events->add_flag("--json", events_json, "Machine-readable output");
  events->callback([] {
    std::string addr;
    auto loaded = LoadSessionFile(events_flags.path(), events_flags.ca_file, &addr);
    if (!loaded.ok()) throw Exit{Fail(loaded.status())};
    if (events_json)
      std::printf("%s\n", api::TicketJson(loaded->ticket).dump(2).c_str());
    else
      PrintEvents(loaded->ticket);
  });

  static LoginFlags join_flags;
  static std::string join_event;
  static int join_seconds = 0;
  auto* join = client->add_subcommand(
      "join", "Fetch keys for an event on schedule and print them as they come");
  join_flags.Add(join, true);
  join->add_option("event", join_event, "Event name")->required();
  join->add_option("--duration", join_seconds,
                   "Stop after this many seconds (default: until Ctrl-C)");
  join->callback([] {
    ClientSession session;
    if (join_flags.has_credentials()) {
      auto creds = join_flags.Credentials();
      if (!creds.ok()) throw Exit{Fail(creds.status())};
      auto s = join_flags.Tickets().Login(*creds);
      if (!s.ok()) throw Exit{Fail(s.status())};
      session = std::move(s).value();
    } else {
      std::string addr;
      auto loaded = LoadSessionFile(join_flags.path(), join_flags.ca_file, &addr);
      if (!loaded.ok()) throw Exit{Fail(loaded.status())};
      session = std::move(loaded).value();
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    PrintingSink sink;
    Agent::Options o;
    o.sink = &sink;
    o.log = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
    Agent agent(std::move(session), join_event, o);
    Status st = agent.Start();
    if (!st.ok()) throw Exit{Fail(st)};
    if (join_seconds > 0) {
      timespec ts{join_seconds, 0};
      sigtimedwait(&set, nullptr, &ts);
    } else {
      int sig;
      sigwait(&set, &sig);
    }
    agent.Stop();
    auto stats = agent.stats();
    std::printf("requests %llu, keys %llu, refusals %llu, failures %llu, wakeups %llu\n",
                (unsigned long long)stats.requests, (unsigned long long)stats.keys,
                (unsigned long long)stats.refusals, (unsigned long long)stats.failures,
                (unsigned long long)stats.wakeups);
    if (agent.revoked()) throw Exit{3};
  });
}

static CommandRegistrar registrar(30, &RegisterClientCommands);

}  // namespace keycast::cli
