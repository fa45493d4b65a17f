// The key-request load generator (docs/bench-keys.md): N simulated clients
// send authenticated key requests over loopback UDP, open-loop at a target
// rate or closed-loop with a window per socket, bounded in count and time.
// Every request is fresh (new client nonce and timestamp, so the key
// service's replay cache sees a new tag); replies are matched by client
// nonce, authenticated, decrypted and checked. Optionally a share of the
// datagrams is bad: garbage, a valid request with one bit flipped, or an
// exact copy of a request already sent (a replay); none of them may get an
// answer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/keys/fixture.h"
#include "keycast/status.h"

namespace keycast::bench {

struct LoadOptions {
  std::string endpoint = "127.0.0.1:7400";  // the key service, UDP
  double rate = 0;                          // open loop: valid requests per second; 0 = closed loop
  size_t window = 16;                       // closed loop: valid requests in flight per socket
  size_t sockets = 32;                      // UDP sockets (source ports), spread over the threads
  size_t threads = 1;                       // generator threads
  double seconds = 5;                       // measured phase
  double warmup_seconds = 0.5;              // before it, not counted
  size_t max_requests = 1'000'000;          // valid requests in the measured phase, at most
  int timeout_ms = 1000;                    // a request unanswered this long is lost
  double bad_fraction = 0;  // share of datagrams that are bad (garbage / bit-flipped / replayed)
  double refresh_fraction = 0.5;  // share of valid requests that are refreshes (the rest initial)
  uint64_t seed = 0;              // 0 = random
  // Called (from the coordinating thread) when the measured phase starts and
  // ends, e.g. to sample a server's CPU time.
  std::function<void()> on_phase_start, on_phase_end;
};

enum BadKind { kGarbage = 0, kBitFlip = 1, kReplayed = 2, kBadKinds = 3 };

// Latency of the answered requests of the measured phase, microseconds.
struct LatencySummary {
  size_t n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

struct LoadResult {
  double seconds = 0;            // measured phase, as run
  uint64_t sent = 0;             // valid requests sent in the measured phase
  uint64_t ok = 0;               // answered with a key: authenticated, decrypted, checked
  uint64_t refused = 0;          // authenticated refusals
  uint64_t verify_failures = 0;  // answers that did not authenticate, decode or check out
  uint64_t lost = 0;             // unanswered after timeout_ms
  uint64_t unmatched = 0;  // answers matching no request in flight (late, or to a bad datagram)
  uint64_t send_errors = 0;
  uint64_t no_slot = 0;  // open loop: sends skipped, too many in flight
  std::array<uint64_t, kBadKinds> bad_sent{};
  std::map<std::string, uint64_t> refusals;  // by reply status
  std::string first_failure;
  LatencySummary latency;
  double generator_cpu_seconds = 0;  // this process, measured phase

  double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  uint64_t bad_total() const { return bad_sent[0] + bad_sent[1] + bad_sent[2]; }
};

// REQUIRES: tickets and events non-empty; each ticket's events are in `events`.
Result<LoadResult> RunLoad(const std::vector<SimTicket>& tickets,
                           const std::vector<FixtureEvent>& events, const LoadOptions& o);

std::string BadKindName(int kind);

}  // namespace keycast::bench
