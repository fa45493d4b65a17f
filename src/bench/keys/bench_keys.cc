#include "bench/keys/bench_keys.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/keys/fixture.h"
#include "bench/keys/server_process.h"
#include "keycast/client.h"

namespace keycast::bench {
namespace {

// Outcomes of keycast_key_requests_total that mean "dropped, no answer".
const char* const kDropResults[] = {
    "malformed", "unknown_key_version", "bad_credential", "bad_proof",
    "replay",    "bad_nonce",           "oversized"};

std::string Thousands(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf, out;
  size_t digits_from = s[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > digits_from && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string Micros(double us) {
  char buf[32];
  if (us >= 1000)
    std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000);
  else
    std::snprintf(buf, sizeof buf, "%.0f us", us);
  return buf;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return buf;
}

struct Scenario {
  std::string name;
  std::string what;
  LoadOptions load;
};

struct Outcome {
  LoadResult r;
  double server_cpu = 0;  // seconds in the measured phase
  std::map<std::string, uint64_t> metrics_delta;
  uint64_t drops_counted = 0;
};

Result<Outcome> RunScenario(ServerProcess& server, const Scenario& sc,
                            const std::vector<SimTicket>& tickets,
                            const std::vector<FixtureEvent>& events) {
  Outcome out;
  KC_ASSIGN_OR_RETURN(auto before, server.KeyRequestCounters());
  LoadOptions lo = sc.load;
  lo.endpoint = server.key_endpoint();
  double cpu0 = 0, cpu1 = 0;
  auto cpu = [&server] {
    auto c = server.CpuSeconds();
    return c.ok() ? *c : 0.0;
  };
  lo.on_phase_start = [&] { cpu0 = cpu(); };
  lo.on_phase_end = [&] { cpu1 = cpu(); };
  KC_ASSIGN_OR_RETURN(out.r, RunLoad(tickets, events, lo));
  out.server_cpu = cpu1 - cpu0;
  // The server counts a request after answering it; give the last ones a moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  KC_ASSIGN_OR_RETURN(auto after, server.KeyRequestCounters());
  for (auto& [k, v] : after) {
    uint64_t d = v - (before.count(k) ? before[k] : 0);
    if (d) out.metrics_delta[k] = d;
  }
  for (const char* k : kDropResults)
    out.drops_counted += out.metrics_delta.count(k) ? out.metrics_delta[k] : 0;
  return out;
}

void Report(const Scenario& sc, const Outcome& oc, size_t key_threads) {
  const LoadResult& r = oc.r;
  std::printf("\n== %s: %s\n", sc.name.c_str(), sc.what.c_str());
  std::printf(
      "  valid requests  %s sent in %.2f s: %s ok (verified, decrypted, checked), %s refused, "
      "%s failed verification, %s lost\n",
      Thousands(static_cast<double>(r.sent)).c_str(), r.seconds,
      Thousands(static_cast<double>(r.ok)).c_str(),
      Thousands(static_cast<double>(r.refused)).c_str(),
      Thousands(static_cast<double>(r.verify_failures)).c_str(),
      Thousands(static_cast<double>(r.lost)).c_str());
  std::printf("  throughput      %s requests/s answered with a key\n", Thousands(r.rate()).c_str());
  std::printf("  latency         p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
              Micros(r.latency.p50).c_str(), Micros(r.latency.p90).c_str(),
              Micros(r.latency.p99).c_str(), Micros(r.latency.p999).c_str(),
              Micros(r.latency.max).c_str(), Micros(r.latency.mean).c_str());
  double server_pct = r.seconds > 0 ? 100 * oc.server_cpu / r.seconds : 0;
  double gen_pct = r.seconds > 0 ? 100 * r.generator_cpu_seconds / r.seconds : 0;
  double per_req = r.ok > 0 ? oc.server_cpu * 1e6 / static_cast<double>(r.ok + r.bad_total()) : 0;
  std::printf("  server CPU      %.0f %% of one core (%zu UDP workers), %.1f us per datagram\n",
              server_pct, key_threads, per_req);
  std::printf("  generator CPU   %.0f %% of one core\n", gen_pct);
  if (r.bad_total() > 0) {
    std::printf(
        "  bad datagrams   %s sent (%s garbage, %s bit-flipped, %s replayed), %s answered\n",
        Thousands(static_cast<double>(r.bad_total())).c_str(),
        Thousands(static_cast<double>(r.bad_sent[kGarbage])).c_str(),
        Thousands(static_cast<double>(r.bad_sent[kBitFlip])).c_str(),
        Thousands(static_cast<double>(r.bad_sent[kReplayed])).c_str(),
        Thousands(static_cast<double>(r.unmatched)).c_str());
    std::printf("  /metrics drops  %s counted for %s bad datagrams sent\n",
                Thousands(static_cast<double>(oc.drops_counted)).c_str(),
                Thousands(static_cast<double>(r.bad_total())).c_str());
  }
  std::string m;
  for (auto& [k, v] : oc.metrics_delta) m += " " + k + "=" + std::to_string(v);
  std::printf("  /metrics delta  keycast_key_requests_total:%s\n",
              m.empty() ? " (none)" : m.c_str());
  if (!r.refusals.empty()) {
    std::string s;
    for (auto& [k, v] : r.refusals) s += " " + k + "=" + std::to_string(v);
    std::printf("  refusals       %s\n", s.c_str());
  }
  if (!r.first_failure.empty()) std::printf("  first problem   %s\n", r.first_failure.c_str());
  if (r.send_errors || r.no_slot || r.unmatched)
    std::printf(
        "  generator       %llu send errors, %llu sends skipped (no free slot), %llu unmatched "
        "answers\n",
        static_cast<unsigned long long>(r.send_errors), static_cast<unsigned long long>(r.no_slot),
        static_cast<unsigned long long>(r.unmatched));
  std::printf(
      "result: scenario=%s rate=%.0f sent=%llu ok=%llu refused=%llu failed=%llu lost=%llu "
      "p50_us=%.1f "
      "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f server_cpu_pct=%.1f generator_cpu_pct=%.1f "
      "bad_sent=%llu drops_counted=%llu bad_answered=%llu\n",
      sc.name.c_str(), r.rate(), static_cast<unsigned long long>(r.sent),
      static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.refused),
      static_cast<unsigned long long>(r.verify_failures), static_cast<unsigned long long>(r.lost),
      r.latency.p50, r.latency.p90, r.latency.p99, r.latency.p999, r.latency.max, server_pct,
      gen_pct, static_cast<unsigned long long>(r.bad_total()),
      static_cast<unsigned long long>(oc.drops_counted),
      static_cast<unsigned long long>(r.unmatched));
  std::fflush(stdout);
}

std::string Verdict(bool ok) { return ok ? "ok" : "MISSED"; }

}  // namespace

Status RunBenchKeys(const BenchKeysOptions& o) {
  if (o.scenario != "all" && o.scenario != "max" && o.scenario != "rate" && o.scenario != "bad")
    return InvalidArgument("--scenario must be all, max, rate or bad");
  if (o.clients < 1 || o.clients > 1'000'000) return InvalidArgument("--clients must be 1-1000000");
  if (o.tickets_per_client < 1 || o.tickets_per_client > 100)
    return InvalidArgument("--tickets-per-client must be 1-100");
  if (o.events < 1 || o.events > 64) return InvalidArgument("--events must be 1-64");
  if (o.rate <= 0) return InvalidArgument("--rate must be positive");
  if (o.bad_fraction <= 0 || o.bad_fraction > 0.9)
    return InvalidArgument("--bad-fraction must be in (0, 0.9]");
  std::string binary = o.server_binary.empty() ? SelfExe() : o.server_binary;

  std::string work = o.work_dir;
  bool made_work = false;
  if (work.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/keycast-bench-keys-XXXXXX";
    if (!::mkdtemp(tmpl.data())) return Unavailable("cannot create a work folder under " + tmpl);
    work = tmpl;
    made_work = true;
  }
  struct Cleanup {
    std::string dir;
    bool remove;
    ~Cleanup() {
      std::error_code ec;
      if (remove) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{work, made_work && !o.keep};

  utsname u{};
  ::uname(&u);
  std::printf("keycast bench keys: %s, %ld CPUs, Linux %s\n", CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), u.release);

  int key_port = FreeLoopbackPort(), http_port = FreeLoopbackPort();
  if (key_port == 0 || http_port == 0 || key_port == http_port)
    return Unavailable("no free loopback ports");
  FixtureOptions fo;
  fo.data_dir = work + "/data";
  fo.clients = o.clients;
  fo.tickets_per_client = o.tickets_per_client;
  fo.events = o.events;
  fo.key_server = "127.0.0.1:" + std::to_string(key_port);
  KC_ASSIGN_OR_RETURN(Fixture fx, CreateFixture(fo));
  std::printf(
      "Directory: %zu clients (receivers, one API key each) in 16 teams under 4 regions under one "
      "root "
      "group, %zu live events on the root; written in %.1f s\n",
      o.clients, o.events, fx.directory_seconds);
  std::printf(
      "Tickets:   %zu issued in-process by TicketService after authenticating the API keys (%.1f "
      "s)\n",
      fx.tickets.size(), fx.ticket_seconds);

  ServerProcessOptions so;
  so.binary = binary;
  so.data_dir = fo.data_dir;
  so.key_port = key_port;
  so.http_port = http_port;
  so.key_threads = o.key_threads;
  so.log_file = work + "/server.log";
  KC_ASSIGN_OR_RETURN(auto server, ServerProcess::Start(so));
  std::printf(
      "Server:    %s server --roles %s (pid %d), key service %s, %zu UDP workers, VmRSS %.0f MiB\n",
      binary.c_str(), so.roles.c_str(), static_cast<int>(server->pid()),
      server->key_endpoint().c_str(), o.key_threads,
      static_cast<double>(server->RssBytes()) / (1 << 20));

  // A few tickets the way a client gets them: POST /v1/tickets with an API
  // key, verified against the published signing key.
  size_t http_ok = 0;
  TicketClient tc(server->http_url());
  for (size_t i = 0; i < std::min(o.http_logins, fx.api_keys.size()); ++i) {
    auto s = tc.Login(ClientCredentials{fx.api_keys[i], "", ""});
    if (!s.ok()) return Internal("HTTP login failed: " + s.status().message());
    fx.tickets.push_back(FromSession(*s));
    ++http_ok;
  }
  if (http_ok)
    std::printf("           + %zu tickets over HTTP (POST /v1/tickets, verified)\n", http_ok);
  std::printf(
      "Generator: %zu thread(s), %zu UDP sockets, %zu simulated clients' tickets, fresh nonce and "
      "timestamp per request, %.0f %% refreshes\n",
      o.load.threads, o.load.sockets, fx.tickets.size(), 100 * o.load.refresh_fraction);

  std::vector<Scenario> scenarios;
  char what[256];
  if (o.scenario == "all" || o.scenario == "max") {
    Scenario s{"max", "", o.load};
    s.load.rate = 0;
    s.load.bad_fraction = 0;
    std::snprintf(what, sizeof what,
                  "closed loop, %zu sockets x %zu in flight, %.1f s (+%.1f s warm-up)",
                  s.load.sockets, s.load.window, s.load.seconds, s.load.warmup_seconds);
    s.what = what;
    scenarios.push_back(s);
  }
  if (o.scenario == "all" || o.scenario == "rate") {
    Scenario s{"rate", "", o.load};
    s.load.rate = o.rate;
    s.load.bad_fraction = 0;
    std::snprintf(what, sizeof what, "open loop at %s requests/s, %.1f s (+%.1f s warm-up)",
                  Thousands(o.rate).c_str(), s.load.seconds, s.load.warmup_seconds);
    s.what = what;
    scenarios.push_back(s);
  }
  if (o.scenario == "all" || o.scenario == "bad") {
    Scenario s{"bad", "", o.load};
    s.load.rate = o.rate;
    s.load.bad_fraction = o.bad_fraction;
    std::snprintf(what, sizeof what,
                  "open loop at %s valid requests/s plus bad datagrams (%.0f %% of all: garbage, "
                  "bit-flipped, "
                  "replayed), %.1f s",
                  Thousands(o.rate).c_str(), 100 * o.bad_fraction, s.load.seconds);
    s.what = what;
    scenarios.push_back(s);
  }

  std::map<std::string, Outcome> results;
  for (const auto& sc : scenarios) {
    KC_ASSIGN_OR_RETURN(Outcome oc, RunScenario(*server, sc, fx.tickets, fx.events));
    Report(sc, oc, o.key_threads);
    results[sc.name] = std::move(oc);
  }
  KC_RETURN_IF_ERROR(server->Stop());

  std::printf("\nTargets (2 cores, load generator included)\n");
  bool all_ok = true;
  uint64_t failures = 0;
  for (auto& [name, oc] : results) failures += oc.r.verify_failures + oc.r.lost + oc.r.refused;
  if (results.count("max")) {
    double v = results["max"].r.rate();
    bool ok = v >= kTargetRequestsPerSecond;
    all_ok &= ok;
    std::printf("  throughput (max)        %10s /s   target >= %s /s   %.2fx   %s\n",
                Thousands(v).c_str(), Thousands(kTargetRequestsPerSecond).c_str(),
                v / kTargetRequestsPerSecond, Verdict(ok).c_str());
  }
  if (results.count("rate")) {
    const LoadResult& r = results["rate"].r;
    bool ok = r.latency.p99 <= kTargetP99Micros && r.rate() >= 0.98 * o.rate;
    all_ok &= ok;
    std::printf("  p99 at %s/s       %10s      target <= %s     %.2fx   %s\n",
                Thousands(o.rate).c_str(), Micros(r.latency.p99).c_str(),
                Micros(kTargetP99Micros).c_str(), r.latency.p99 / kTargetP99Micros,
                Verdict(ok).c_str());
  }
  if (results.count("bad")) {
    const Outcome& b = results["bad"];
    bool ok = b.r.latency.p99 <= kTargetP99Micros && b.r.rate() >= 0.98 * o.rate &&
              b.r.unmatched == 0 && b.drops_counted == b.r.bad_total();
    all_ok &= ok;
    std::printf(
        "  with %.0f %% bad input    valid %s /s, p99 %s, %s of %s bad datagrams counted as drops, "
        "%llu "
        "answered   %s\n",
        100 * o.bad_fraction, Thousands(b.r.rate()).c_str(), Micros(b.r.latency.p99).c_str(),
        Thousands(static_cast<double>(b.drops_counted)).c_str(),
        Thousands(static_cast<double>(b.r.bad_total())).c_str(),
        static_cast<unsigned long long>(b.r.unmatched), Verdict(ok).c_str());
  }
  std::printf("  failures (refused, unverified or lost valid requests): %llu   %s\n",
              static_cast<unsigned long long>(failures), Verdict(failures == 0).c_str());
  all_ok &= failures == 0;
  std::printf("result: targets=%s failures=%llu\n", all_ok ? "met" : "missed",
              static_cast<unsigned long long>(failures));
  if (o.keep)
    std::printf("Work folder kept: %s (server log: %s)\n", work.c_str(), so.log_file.c_str());
  return Status::Ok();
}

}  // namespace keycast::bench
