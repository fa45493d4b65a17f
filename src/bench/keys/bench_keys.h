// `keycast bench keys` (docs/bench-keys.md): authenticated key requests per
// second over loopback UDP from N simulated clients against a `keycast
// server` in its own process, with latency percentiles and the server's CPU.
//
// Scenarios, each on the same server:
//   max   closed loop (a window of requests in flight per socket): the most
//         the machine sustains, generator included;
//   rate  open loop at a fixed rate: latency at a given load;
//   bad   the same rate with a share of garbage, bit-flipped and replayed
//         datagrams mixed in: valid throughput and p99 must hold, and every
//         bad datagram must show up as a drop in /metrics.
//
// Prints a report and ends each scenario with a "result: key=value ..." line
// for scripts.
#pragma once

#include <string>

#include "bench/keys/load_generator.h"
#include "keycast/status.h"

namespace keycast::bench {

inline constexpr double kTargetRequestsPerSecond = 50'000;
inline constexpr double kTargetP99Micros = 2'000;  // at half the target rate

struct BenchKeysOptions {
  std::string scenario = "all";  // all, max, rate or bad
  std::string server_binary;     // default: this executable
  std::string work_dir;  // default: a fresh folder under $TMPDIR or /tmp, removed afterwards
  bool keep = false;     // keep the work folder (data, server log)
  size_t clients = 2000;
  size_t tickets_per_client = 2;
  size_t events = 4;
  size_t http_logins = 8;     // tickets also fetched over HTTP with API keys
  size_t key_threads = 2;     // the server's UDP workers
  double rate = 25'000;       // rate and bad scenarios, valid requests/s
  double bad_fraction = 0.2;  // bad scenario
  LoadOptions load;           // window, sockets, threads, seconds, ... (rate/bad set per scenario)
};

Status RunBenchKeys(const BenchKeysOptions& o);

}  // namespace keycast::bench
