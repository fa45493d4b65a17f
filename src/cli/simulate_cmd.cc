// keycast simulate flash-crowd | live  (docs/push.md "Request spreading, measured")
//
//   flash-crowd  the key service's load over time for N clients, seed 001
//                Figures 6 and 7, with the agents' own timing on a simulated
//                clock; pull and push, without and with an unencrypted first
//                interval. Writes <out>.csv and, with gnuplot, <out>.png.
//   live         a real run on loopback: N lightweight clients (each its own
//                ticket) join one event against a key service started as a
//                separate process; peak and mean request rate, failures,
//                join latency. Writes <out>.csv and <out>.png.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "keycast/push/simulate.h"

namespace keycast::cli {
namespace {

// Runs gnuplot on a script; false when gnuplot is missing or fails.
bool Plot(const std::string& script) {
  std::string path = "/tmp/keycast-plot-" + std::to_string(::getpid()) + ".gp";
  {
    std::ofstream f(path);
    f << script;
  }
  int rc = std::system(("gnuplot '" + path + "' 2>/dev/null").c_str());
  std::remove(path.c_str());
  return rc == 0;
}

struct FlashFlags {
  sim::FlashCrowdOptions o;
  std::string out = "flash-crowd";
};

void RunFlashCrowd(const FlashFlags& f) {
  struct Scenario {
    const char* name;
    const char* title;
    KeyDelivery delivery;
    uint16_t clear;
  };
  const Scenario scenarios[] = {
      {"pull", "pull (Figure 6)", KeyDelivery::kPull, 0},
      {"pull_clear", "pull, first interval clear (Figure 7)", KeyDelivery::kPull, 1},
      {"push", "push", KeyDelivery::kPush, 0},
      {"push_clear", "push, first interval clear", KeyDelivery::kPush, 1},
  };
  std::vector<sim::FlashCrowdResult> results;
  std::printf(
      "flash crowd: %zu clients, %.0f %% always-on agents over a %u s initial keying period, "
      "last-minute users at start %+.0f s (sd %.0f s), %u s intervals\n\n",
      f.o.clients, f.o.always_on * 100, f.o.initial_keying_seconds, f.o.user_mean_seconds,
      f.o.user_sd_seconds, f.o.interval_seconds);
  std::printf("%-40s %12s %10s %14s %14s %12s %12s\n", "scenario", "peak req/s", "peak at",
              "mean keying", "mean steady", "initial", "refresh");
  for (const Scenario& s : scenarios) {
    sim::FlashCrowdOptions o = f.o;
    o.delivery = s.delivery;
    o.clear_intervals = s.clear;
    results.push_back(sim::SimulateFlashCrowd(o));
    const auto& r = results.back();
    std::printf("%-40s %12.0f %+9llds %14.1f %14.1f %12llu %12llu\n", s.title, r.peak_rate,
                static_cast<long long>(r.peak_at), r.mean_rate_keying, r.mean_rate_steady,
                static_cast<unsigned long long>(r.initial_requests),
                static_cast<unsigned long long>(r.refresh_requests));
  }
  std::string csv = f.out + ".csv";
  {
    std::ofstream out(csv);
    out << "seconds_from_start";
    for (const Scenario& s : scenarios) out << "," << s.name << "_per_s";
    out << "\n";
    const auto& r0 = results[0];
    for (size_t b = 0; b < r0.requests.size(); ++b) {
      out << r0.first_second + int64_t(b) * r0.bucket_seconds;
      for (const auto& r : results) out << "," << double(r.requests[b]) / r.bucket_seconds;
      out << "\n";
    }
  }
  std::printf("\nload over time: %s\n", csv.c_str());
  std::string png = f.out + ".png";
  std::string script =
      "set terminal pngcairo size 1100,620 font ',10'\n"
      "set output '" +
      png +
      "'\n"
      "set datafile separator ','\n"
      "set title 'Key service load, " +
      std::to_string(f.o.clients) +
      " clients (seed 001 Figures 6 and 7)'\n"
      "set xlabel 'seconds from the event start'\nset ylabel 'key requests per second'\n"
      "set grid\nset key top left\n"
      "set arrow from 0, graph 0 to 0, graph 1 nohead dt 2\n"
      "set arrow from " +
      std::to_string(f.o.interval_seconds) + ", graph 0 to " +
      std::to_string(f.o.interval_seconds) +
      ", graph 1 nohead dt 3\n"
      "plot '" +
      csv +
      "' every ::1 using 1:2 with lines lw 1.5 title 'pull (Figure 6)', "
      "'' every ::1 using 1:3 with lines lw 1.5 title 'pull, first interval clear (Figure 7)', "
      "'' every ::1 using 1:4 with lines lw 1.2 title 'push', "
      "'' every ::1 using 1:5 with lines lw 1.2 title 'push, first interval clear'\n";
  if (Plot(script))
    std::printf("plot: %s\n", png.c_str());
  else
    std::printf("plot: skipped (gnuplot not found; apt-get install gnuplot-nox)\n");
}

struct LiveFlags {
  sim::LiveLoadOptions o;
  std::string delivery = "pull";
  std::string out = "live-load";
};

void RunLive(LiveFlags& f) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw Exit{Fail(Unavailable("cannot find the keycast executable"))};
  self[n] = 0;
  if (f.o.keycast_binary.empty()) f.o.keycast_binary = self;
  if (!ParseKeyDelivery(f.delivery, &f.o.delivery))
    throw Exit{Fail(InvalidArgument("--delivery: pull, push or both"))};
  f.o.verbose = true;
  auto r = sim::RunLiveLoad(f.o);
  if (!r.ok()) throw Exit{Fail(r.status())};
  std::printf(
      "\nlive run: %zu clients (%zu directory clients), joins over a %u s initial keying period, "
      "%zu client threads, key service: separate process, %zu UDP workers\n",
      r->clients, f.o.directory_clients, f.o.window_seconds, f.o.threads, f.o.server_threads);
  std::printf("  tickets minted in %.1f s\n", r->mint_seconds);
  std::printf("  joined: %zu ok, %zu failed", r->ok, r->failed);
  for (auto& [why, count] : r->failures) std::printf(" [%s: %zu]", why.c_str(), count);
  std::printf("\n  requests sent: %llu (%llu retries)\n",
              static_cast<unsigned long long>(r->requests_sent),
              static_cast<unsigned long long>(r->retries));
  std::printf("  request rate: peak %.0f /s, mean %.0f /s (over the seconds with requests)\n",
              r->peak_rate, r->mean_rate);
  std::printf("  join latency: p50 %.2f ms, p99 %.2f ms, max %.1f ms\n", r->latency_p50_ms,
              r->latency_p99_ms, r->latency_max_ms);
  std::string csv = f.out + ".csv";
  {
    std::ofstream out(csv);
    out << "second,first_requests,answered\n";
    size_t len = std::max(r->per_second.size(), r->answered_per_second.size());
    for (size_t i = 0; i < len; ++i)
      out << i << "," << (i < r->per_second.size() ? r->per_second[i] : 0) << ","
          << (i < r->answered_per_second.size() ? r->answered_per_second[i] : 0) << "\n";
  }
  std::string png = f.out + ".png";
  std::string script =
      "set terminal pngcairo size 1000,560 font ',10'\n"
      "set output '" +
      png +
      "'\nset datafile separator ','\n"
      "set title 'Live run: " +
      std::to_string(r->clients) +
      " clients joining one event (loopback)'\n"
      "set xlabel 'seconds'\nset ylabel 'per second'\nset grid\nset key top left\n"
      "plot '" +
      csv +
      "' every ::1 using 1:2 with steps lw 1.5 title 'initial requests', "
      "'' every ::1 using 1:3 with steps lw 1 title 'keys received'\n";
  bool plotted = Plot(script);
  std::printf("  per second: %s%s\n", csv.c_str(), plotted ? (", plot: " + png).c_str() : "");
  if (r->failed > 0) throw Exit{1};
}

}  // namespace

static void RegisterSimulateCommands(CLI::App& app) {
  auto* simulate = Subcommand(app, "simulate",
                              "Measure request spreading: flash crowds (Figures 6, 7), live load");

  static FlashFlags flash;
  auto* fc = simulate->add_subcommand("flash-crowd",
                                      "Key service load over time for N clients (simulated clock)");
  fc->add_option("--clients", flash.o.clients, "Clients")->capture_default_str();
  fc->add_option("--always-on", flash.o.always_on, "Share of always-on agents (0..1)")
      ->capture_default_str();
  fc->add_option("--initial-keying", flash.o.initial_keying_seconds,
                 "Initial keying period, seconds")
      ->capture_default_str();
  fc->add_option("--interval", flash.o.interval_seconds, "Key interval, seconds")
      ->capture_default_str();
  fc->add_option("--user-mean", flash.o.user_mean_seconds,
                 "Last-minute users switch on at start + this, seconds")
      ->capture_default_str();
  fc->add_option("--user-sd", flash.o.user_sd_seconds, "... with this standard deviation, seconds")
      ->capture_default_str();
  fc->add_option("--after", flash.o.after_seconds,
                 "Simulate until this many seconds after the start")
      ->capture_default_str();
  fc->add_option("--bucket", flash.o.bucket_seconds, "Seconds per load sample")
      ->capture_default_str();
  fc->add_option("--seed", flash.o.seed, "Random seed")->capture_default_str();
  fc->add_option("--out", flash.out, "Output prefix: <out>.csv and <out>.png")
      ->capture_default_str();
  fc->callback([] { RunFlashCrowd(flash); });

  static LiveFlags live;
  auto* lv = simulate->add_subcommand(
      "live", "Real joins on loopback against a key service in a separate process");
  lv->add_option("--clients", live.o.clients, "Simulated clients, each with its own ticket")
      ->capture_default_str();
  lv->add_option("--directory-clients", live.o.directory_clients,
                 "Distinct directory clients the tickets belong to")
      ->capture_default_str();
  lv->add_option("--window", live.o.window_seconds, "Initial keying period, seconds")
      ->capture_default_str();
  lv->add_option("--always-on", live.o.always_on, "Share of always-on agents (0..1)")
      ->capture_default_str();
  lv->add_option("--user-mean", live.o.user_mean_seconds,
                 "Last-minute users at start + this, seconds")
      ->capture_default_str();
  lv->add_option("--user-sd", live.o.user_sd_seconds, "... standard deviation, seconds")
      ->capture_default_str();
  lv->add_option("--delivery", live.delivery, "Event delivery: pull, push or both")
      ->capture_default_str();
  lv->add_option("--threads", live.o.threads, "Client threads")->capture_default_str();
  lv->add_option("--sockets", live.o.sockets_per_thread, "UDP sockets per client thread")
      ->capture_default_str();
  lv->add_option("--server-threads", live.o.server_threads, "Key service UDP workers")
      ->capture_default_str();
  lv->add_option("--timeout-ms", live.o.timeout_ms, "First retry after this; doubles")
      ->capture_default_str();
  lv->add_option("--deadline", live.o.deadline_seconds, "Cut the whole run off after this, seconds")
      ->capture_default_str();
  lv->add_option("--keycast", live.o.keycast_binary,
                 "keycast executable for the key service (default: this one)");
  lv->add_option("--seed", live.o.seed, "Random seed")->capture_default_str();
  lv->add_option("--out", live.out, "Output prefix: <out>.csv and <out>.png")
      ->capture_default_str();
  lv->callback([] { RunLive(live); });
}

static CommandRegistrar registrar(70, &RegisterSimulateCommands);

}  // namespace keycast::cli
