// `keycast bench directory ...`: generate a synthetic directory into a data
// folder, then measure summaries and tickets on it (docs/bench-directory.md).
//
// A data folder holds what `keycast server --data-dir` expects (keycast.db,
// kek) plus bench-api-keys (the API keys of the sample clients, one per line,
// mode 0600) and bench-directory.json (the options and the shape's figures).
//
// Each command prints a human-readable report to stdout and ends with
// "result: key=value ..." lines for scripts.
#pragma once

#include <string>

#include "bench/directory/generator.h"
#include "keycast/status.h"

namespace keycast::bench {

inline constexpr const char* kApiKeysFile = "bench-api-keys";
inline constexpr const char* kManifestFile = "bench-directory.json";

struct GenerateCommandOptions {
  std::string data_dir;
  GeneratorOptions generator;
  bool force = false;                // replace an existing directory in data_dir
  size_t stats_clients = 1'000'000;  // clients walked for the events-per-ticket figures
};
Status RunGenerate(const GenerateCommandOptions& o);

struct SummaryCommandOptions {
  std::string data_dir;
  size_t samples = 200'000;       // Summarize calls timed
  size_t issue_samples = 20'000;  // TicketService::Issue calls timed
  size_t auth_samples = 20'000;   // AuthenticateApiKey calls timed
  uint64_t seed = 7;              // picks the sample of clients
  bool histogram = true;
};
Status RunSummary(const SummaryCommandOptions& o);

struct TicketsCommandOptions {
  std::string data_dir;
  size_t threads = 8;               // client threads, one keep-alive connection each
  double seconds = 10;              // measured window
  double warmup_seconds = 2;        // before the window, not counted
  size_t max_requests = 2'000'000;  // stop earlier when this many were measured
  size_t http_threads = 0;          // server handler threads; 0 = max(16, threads)
  bool histogram = true;
};
Status RunTickets(const TicketsCommandOptions& o);

}  // namespace keycast::bench
