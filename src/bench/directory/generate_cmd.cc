// keycast bench directory generate
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bench/directory/bench_directory.h"
#include "bench/directory/measure.h"
#include "keycast/clock.h"
#include "keycast/service_keys.h"
#include "keycast/store.h"

namespace keycast::bench {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Prints a progress line per phase start and end, and at most every two
// seconds in between.
class ProgressPrinter {
 public:
  void operator()(std::string_view phase, size_t done, size_t total) {
    int64_t now = NowNanos();
    if (phase != phase_) {
      phase_ = std::string(phase);
      phase_start_ = now;
      last_ = 0;
    }
    bool end = done == total;
    if (done != 0 && !end && now - last_ < 2'000'000'000) return;
    last_ = now;
    double secs = static_cast<double>(now - phase_start_) / 1e9;
    double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    std::printf(
        "  %-12s %9zu / %-9zu %5.1f%%  %6.1f s  %8.0f rows/s\n", phase_.c_str(), done, total,
        total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0, secs, rate);
    std::fflush(stdout);
  }

 private:
  std::string phase_;
  int64_t phase_start_ = 0, last_ = 0;
};

nlohmann::json DistributionJson(const Distribution& d) {
  return {{"min", d.min}, {"p50", d.p50},   {"p90", d.p90},    {"p99", d.p99},
          {"max", d.max}, {"mean", d.mean}, {"count", d.count}};
}

}  // namespace

Status RunGenerate(const GenerateCommandOptions& o) {
  const GeneratorOptions& g = o.generator;
  if (o.data_dir.empty()) return InvalidArgument("--data-dir is required");
  if (g.clients == 0 || g.groups == 0 || g.events == 0)
    return InvalidArgument("--clients, --groups and --events must be at least 1");
  if (g.clients > 50'000'000 || g.groups > 10'000'000 || g.events > 50'000'000)
    return InvalidArgument("at most 50M clients, 10M groups and 50M events");
  if (g.max_depth < 1 || g.max_depth > 64) return InvalidArgument("--depth must be 1-64");
  if (::mkdir(o.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Unavailable("cannot create " + o.data_dir + ": " + std::strerror(errno));
  const std::string db = o.data_dir + "/keycast.db";
  if (Exists(db)) {
    if (!o.force)
      return AlreadyExists(db +
                           " exists; pass --force to replace it, or choose another --data-dir");
    for (const char* f : {"/keycast.db", "/keycast.db-wal", "/keycast.db-shm", "/bench-api-keys",
                          "/bench-directory.json"})
      ::unlink((o.data_dir + f).c_str());
  }
  const std::string kek = o.data_dir + "/kek";
  if (!Exists(kek)) KC_RETURN_IF_ERROR(Sealer::GenerateFile(kek));
  KC_ASSIGN_OR_RETURN(Sealer sealer, Sealer::FromFile(kek));
  KC_ASSIGN_OR_RETURN(auto store, OpenSqliteStore(db));

  std::printf(
      "Generating %zu clients, %zu groups (depth <= %d), %zu events, %zu API keys (seed %llu) into "
      "%s\n",
      g.clients, g.groups, g.max_depth, g.events, std::min(g.api_keys, g.clients),
      static_cast<unsigned long long>(g.seed), o.data_dir.c_str());
  int64_t t0 = NowNanos();
  Shape shape = BuildShape(g);
  int64_t t1 = NowNanos();
  std::printf("  shape: %zu levels, %zu edges, %zu assignments, %zu memberships (%.2f s)\n",
              shape.levels(), shape.edges(), shape.assignments(), shape.memberships(),
              static_cast<double>(t1 - t0) / 1e9);
  std::fflush(stdout);

  ProgressPrinter printer;
  Progress progress = [&](std::string_view phase, size_t done, size_t total) {
    printer(phase, done, total);
  };
  KC_ASSIGN_OR_RETURN(WrittenDirectory written,
                      WriteDirectory(shape, g, store.get(), &sealer, progress));
  // Service keys (ticket signing and sealing), as a first `keycast server` start would create them.
  KC_ASSIGN_OR_RETURN(
      auto keys, ServiceKeys::Open(store.get(), &sealer, &SystemClock::Get(), 8 * 3600 + 30, true));
  keys.reset();
  int64_t t2 = NowNanos();
  size_t rows = shape.groups() + shape.edges() + shape.clients() + 2 * shape.events() +
                shape.assignments() + shape.memberships() + written.api_keys.size();
  double write_secs = static_cast<double>(t2 - t1) / 1e9;
  std::printf("  wrote %zu rows in %.1f s (%.0f rows/s)\n", rows, write_secs,
              static_cast<double>(rows) / write_secs);

  {
    // The keys are credentials: readable by the owner only.
    mode_t old = ::umask(077);
    std::ofstream out(o.data_dir + "/" + kApiKeysFile, std::ios::trunc);
    ::umask(old);
    for (size_t i = 0; i < written.api_keys.size(); ++i)
      out << ClientName(shape.api_key_clients[i]) << ' ' << written.api_keys[i] << '\n';
    if (!out) return Internal("cannot write " + o.data_dir + "/" + kApiKeysFile);
  }

  int64_t t3 = NowNanos();
  ShapeStats st = ComputeStats(shape, o.stats_clients);
  int64_t t4 = NowNanos();
  std::printf("\nThe DAG, level by level (level 0 = roots):\n");
  std::printf("  level   groups   events   events/group\n");
  for (size_t l = 0; l < shape.levels(); ++l)
    std::printf("  %5zu %8zu %8zu   %8.2f\n", l, st.level_groups[l], st.level_events[l],
                static_cast<double>(st.level_events[l]) / static_cast<double>(st.level_groups[l]));
  std::printf(
      "  groups with several parents: %zu of %zu (%.1f%%)\n", st.multi_parent_groups,
      shape.groups(),
      100.0 * static_cast<double>(st.multi_parent_groups) / static_cast<double>(shape.groups()));
  std::printf("  ancestors per group:             %s\n", st.ancestors.ToString().c_str());
  std::printf("  groups reached per client:       %s\n", st.client_groups.ToString().c_str());
  std::printf("  events per ticket (per client):  %s\n", st.events_per_ticket.ToString().c_str());
  std::printf("  (statistics walked in %.1f s)\n", static_cast<double>(t4 - t3) / 1e9);

  nlohmann::json manifest = {
      {"clients", shape.clients()},
      {"groups", shape.groups()},
      {"events", shape.events()},
      {"edges", shape.edges()},
      {"assignments", shape.assignments()},
      {"memberships", shape.memberships()},
      {"api_keys", written.api_keys.size()},
      {"levels", shape.levels()},
      {"seed", g.seed},
      {"write_seconds", write_secs},
      {"ancestors_per_group", DistributionJson(st.ancestors)},
      {"groups_per_client", DistributionJson(st.client_groups)},
      {"events_per_ticket", DistributionJson(st.events_per_ticket)},
  };
  std::ofstream mf(o.data_dir + "/" + kManifestFile, std::ios::trunc);
  mf << manifest.dump(2) << '\n';
  if (!mf) return Internal("cannot write " + o.data_dir + "/" + kManifestFile);

  std::printf(
      "\nresult: generate_seconds=%.1f rows=%zu rows_per_second=%.0f ancestors_p50=%llu "
      "ancestors_max=%llu "
      "events_per_ticket_p50=%llu events_per_ticket_p99=%llu events_per_ticket_max=%llu\n",
      write_secs, rows, static_cast<double>(rows) / write_secs,
      static_cast<unsigned long long>(st.ancestors.p50),
      static_cast<unsigned long long>(st.ancestors.max),
      static_cast<unsigned long long>(st.events_per_ticket.p50),
      static_cast<unsigned long long>(st.events_per_ticket.p99),
      static_cast<unsigned long long>(st.events_per_ticket.max));
  return Status::Ok();
}

}  // namespace keycast::bench
