#include "bench/directory/data_dir.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/directory/bench_directory.h"

namespace keycast::bench {

Result<BenchData> OpenBenchData(const std::string& dir) {
  struct stat st;
  std::string db = dir + "/keycast.db";
  if (::stat(db.c_str(), &st) != 0)
    return NotFound(db + " does not exist; run `keycast bench directory generate --data-dir " +
                    dir + "` first");
  BenchData d;
  KC_ASSIGN_OR_RETURN(Sealer sealer, Sealer::FromFile(dir + "/kek"));
  d.sealer = std::make_unique<Sealer>(std::move(sealer));
  KC_ASSIGN_OR_RETURN(d.store, OpenSqliteStore(db));
  return d;
}

Result<std::vector<BenchApiKey>> ReadApiKeys(const std::string& dir) {
  std::string path = dir + "/" + kApiKeysFile;
  std::ifstream in(path);
  if (!in) return NotFound("cannot read " + path);
  std::vector<BenchApiKey> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    BenchApiKey k;
    if (ss >> k.client >> k.token) out.push_back(std::move(k));
  }
  if (out.empty()) return NotFound(path + " holds no API keys (generate with --api-keys > 0)");
  return out;
}

std::string TargetLine(const std::string& what, double value, double target,
                       const std::string& unit, bool lower_is_better) {
  bool ok = lower_is_better ? value <= target : value >= target;
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %-26s %12.2f %-5s target %s %-10.0f %6.2fx of target  %s",
                what.c_str(), value, unit.c_str(), lower_is_better ? "<=" : ">=", target,
                target != 0 ? value / target : 0.0, ok ? "MET" : "MISSED");
  return buf;
}

}  // namespace keycast::bench
