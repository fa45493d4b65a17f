// keycast bench keys (docs/bench-keys.md). The code is in src/bench/keys;
// the command exists when that part is built.
#include "cli/commands.h"

#ifdef KEYCAST_HAVE_BENCH_KEYS

#include "bench/keys/bench_keys.h"

namespace keycast::cli {

static void RegisterBenchKeysCommand(CLI::App& app) {
  auto* bench = Subcommand(app, "bench", "Benchmarks and load generators");
  static bench::BenchKeysOptions o;
  o.load.seconds = 5;
  o.load.warmup_seconds = 1;
  auto* k = bench->add_subcommand(
      "keys",
      "Key requests per second over loopback UDP against `keycast server` in its own process: "
      "throughput, p50/p99 latency, server CPU, and bad input mixed in (docs/bench-keys.md)");
  k->add_option("--scenario", o.scenario,
                "all, max (closed loop), rate (open loop) or bad (rate + bad datagrams)")
      ->capture_default_str();
  k->add_option("--clients", o.clients,
                "Simulated clients (each a directory client with an API key)")
      ->capture_default_str();
  k->add_option("--tickets-per-client", o.tickets_per_client, "Tickets (session keys) per client")
      ->capture_default_str();
  k->add_option("--events", o.events, "Live events every client receives")->capture_default_str();
  k->add_option("--http-logins", o.http_logins, "Tickets also fetched over HTTP with API keys")
      ->capture_default_str();
  k->add_option("--rate", o.rate, "Valid requests per second in the rate and bad scenarios")
      ->capture_default_str();
  k->add_option("--bad-fraction", o.bad_fraction, "Share of bad datagrams in the bad scenario")
      ->capture_default_str();
  k->add_option("--window", o.load.window, "Closed loop: requests in flight per socket")
      ->capture_default_str();
  k->add_option("--sockets", o.load.sockets, "Generator UDP sockets")->capture_default_str();
  k->add_option("--threads", o.load.threads, "Generator threads")->capture_default_str();
  k->add_option("--seconds", o.load.seconds, "Measured phase of each scenario, seconds")
      ->capture_default_str();
  k->add_option("--warmup", o.load.warmup_seconds, "Warm-up before each measured phase, seconds")
      ->capture_default_str();
  k->add_option("--requests", o.load.max_requests,
                "At most this many valid requests per measured phase")
      ->capture_default_str();
  k->add_option("--timeout-ms", o.load.timeout_ms, "A request unanswered this long is lost")
      ->capture_default_str();
  k->add_option("--refresh-fraction", o.load.refresh_fraction,
                "Share of refresh requests (the rest initial)")
      ->capture_default_str();
  k->add_option("--key-threads", o.key_threads, "The server's UDP workers")->capture_default_str();
  k->add_option("--server-bin", o.server_binary,
                "keycast binary to run as the server (default: this one)");
  k->add_option("--work-dir", o.work_dir,
                "Folder for the data and the server log (default: a temporary one)");
  k->add_flag("--keep", o.keep, "Keep the work folder");
  k->callback([] {
    Status st = bench::RunBenchKeys(o);
    if (!st.ok()) throw Exit{Fail(st)};
  });
}

static CommandRegistrar registrar(60, &RegisterBenchKeysCommand);

}  // namespace keycast::cli

#endif  // KEYCAST_HAVE_BENCH_KEYS
