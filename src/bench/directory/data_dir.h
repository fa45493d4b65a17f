// Reading a benchmark data folder written by `keycast bench directory generate`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keycast/seal.h"
#include "keycast/status.h"
#include "keycast/store.h"

namespace keycast::bench {

struct BenchData {
  std::unique_ptr<Store> store;
  std::unique_ptr<Sealer> sealer;
};
// Opens <dir>/keycast.db and <dir>/kek; NotFound when the folder holds no
// generated directory.
Result<BenchData> OpenBenchData(const std::string& dir);

struct BenchApiKey {
  std::string client;  // client name
  std::string token;   // kca_...
};
// Reads <dir>/bench-api-keys.
Result<std::vector<BenchApiKey>> ReadApiKeys(const std::string& dir);

// "  summary p50         4.10 us   target <= 50 us     0.08 of target  ok"
// lower_is_better: value <= target passes; otherwise value >= target.
std::string TargetLine(const std::string& what, double value, double target,
                       const std::string& unit, bool lower_is_better);

}  // namespace keycast::bench
