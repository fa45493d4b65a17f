// `keycast simulate` (docs/push.md "Request spreading, measured"):
//  - FlashCrowd: the key service's load over time for N clients of one
//    event, seed 001 Figures 6 and 7, computed with the agents' own timing
//    (AgentTiming) on a simulated clock: no sockets, deterministic per seed.
//  - LiveLoad: a real run on loopback: many lightweight clients, each with
//    its own ticket and session key, joining one event against a key
//    service in a separate process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keycast/model.h"
#include "keycast/status.h"

namespace keycast::sim {

struct FlashCrowdOptions {
  size_t clients = 100'000;
  // Share of clients whose agent runs all along (switched on before the
  // initial keying period); the others are last-minute users.
  double always_on = 0.3;
  uint32_t initial_keying_seconds = 600;
  uint32_t interval_seconds = 300;
  uint16_t clear_intervals = 0;  // Figure 7: 1
  // Last-minute users switch their machine on at start + N(mean, sd) seconds.
  double user_mean_seconds = -60;
  double user_sd_seconds = 60;
  KeyDelivery delivery = KeyDelivery::kPull;
  double push_lead_fraction = 0.25;  // as PushOptions
  int64_t before_seconds = 60;       // simulate from start - initial keying - this
  int64_t after_seconds = 900;       // until start + this
  uint32_t bucket_seconds = 1;
  uint64_t seed = 1;
};

struct FlashCrowdResult {
  int64_t first_second = 0;  // bucket 0 starts this many seconds after the event start (negative)
  uint32_t bucket_seconds = 1;
  std::vector<uint32_t> requests;  // key requests per bucket
  uint64_t initial_requests = 0, refresh_requests = 0;
  double peak_rate = 0;         // requests per second in the busiest bucket
  int64_t peak_at = 0;          // its start, seconds after the event start
  double mean_rate_keying = 0;  // mean over the initial keying period (and clear intervals)
  double mean_rate_steady = 0;  // mean over the last interval simulated
};

FlashCrowdResult SimulateFlashCrowd(const FlashCrowdOptions& options);

struct LiveLoadOptions {
  std::string keycast_binary;        // the `keycast` executable to run the key service with
  size_t clients = 100'000;          // simulated clients (tickets)
  size_t directory_clients = 2'000;  // distinct directory clients; tickets are spread over them
  uint32_t window_seconds = 60;      // initial keying period the joins spread over
  double always_on = 0.7;            // the rest are last-minute users, as in FlashCrowd
  double user_mean_seconds = -8;     // relative to the start
  double user_sd_seconds = 6;
  KeyDelivery delivery = KeyDelivery::kPull;
  size_t threads = 2;  // client threads
  size_t sockets_per_thread = 8;
  size_t server_threads = 2;  // key service UDP workers
  int timeout_ms = 1000;      // first retry after this (doubles)
  int attempts = 5;
  int64_t deadline_seconds = 300;  // the whole run is cut off after this
  std::string work_dir;            // default: a fresh temporary folder, removed after
  uint64_t seed = 1;
  bool verbose = false;
};

struct LiveLoadResult {
  size_t clients = 0, ok = 0, failed = 0;
  std::vector<std::pair<std::string, size_t>> failures;  // reason, count
  uint64_t requests_sent = 0;                            // including retries
  uint64_t retries = 0;
  double peak_rate = 0;  // first requests per second, busiest second
  double mean_rate = 0;  // over the seconds with any request
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  double mint_seconds = 0;           // minting the tickets
  std::vector<uint32_t> per_second;  // first requests per second from the first one
  std::vector<uint32_t> answered_per_second;
};

Result<LiveLoadResult> RunLiveLoad(const LiveLoadOptions& options);

}  // namespace keycast::sim
