// keycast bench directory summary
#include <algorithm>
#include <cstdio>

#include "bench/directory/bench_directory.h"
#include "bench/directory/data_dir.h"
#include "bench/directory/measure.h"
#include "keycast/clock.h"
#include "keycast/directory.h"
#include "keycast/service_keys.h"
#include "keycast/ticket_service.h"

namespace keycast::bench {
namespace {

// Targets of issue 2 on the reference machine (2 cores).
constexpr double kSummaryP50TargetUs = 50;
constexpr double kSummaryP99TargetUs = 500;
constexpr double kRssTargetGiB = 2;

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Status RunSummary(const SummaryCommandOptions& o) {
  if (o.data_dir.empty()) return InvalidArgument("--data-dir is required");
  KC_ASSIGN_OR_RETURN(BenchData data, OpenBenchData(o.data_dir));
  ProcMemory before = ReadProcMemory();
  int64_t t0 = NowNanos();
  KC_ASSIGN_OR_RETURN(auto dir, Directory::Open(data.store.get(), data.sealer.get(),
                                                &SystemClock::Get(), DirectoryOptions{}));
  int64_t t1 = NowNanos();
  ProcMemory loaded = ReadProcMemory();
  auto counts = dir->counts();
  std::printf(
      "Loaded %s: %zu clients, %zu groups, %zu edges, %zu events, %zu memberships, %zu "
      "assignments\n",
      o.data_dir.c_str(), counts.clients, counts.groups, counts.edges, counts.events,
      counts.memberships, counts.assignments);
  std::printf("  Directory::Open   %.2f s\n", static_cast<double>(t1 - t0) / 1e9);
  std::printf("  memory after load VmRSS %s  VmHWM %s  (before load: VmRSS %s)\n",
              FormatBytes(static_cast<double>(loaded.rss_bytes)).c_str(),
              FormatBytes(static_cast<double>(loaded.hwm_bytes)).c_str(),
              FormatBytes(static_cast<double>(before.rss_bytes)).c_str());
  if (counts.clients == 0) return FailedPrecondition("the directory has no clients");

  // A random sample of clients, by name (ids are not assumed dense).
  auto pick = [&](size_t n, uint64_t salt) {
    std::vector<std::pair<ClientId, std::string>> out;
    out.reserve(n);
    for (size_t i = 0; out.size() < n && i < n * 4; ++i) {
      std::string name = ClientName(Mix(o.seed * 1000003 + salt + i) % counts.clients);
      if (auto id = dir->FindClient(name)) out.emplace_back(*id, std::move(name));
    }
    return out;
  };

  // ---- Directory::Summarize
  auto sample = pick(o.samples, 0);
  for (size_t i = 0; i < std::min<size_t>(1000, sample.size()); ++i)
    (void)dir->Summarize(sample[i].first);
  // Wall-clock latency is what a caller sees; on-CPU time leaves out the
  // time the thread was preempted, which on a shared machine is most of
  // the tail.
  LatencyRecorder summarize, summarize_cpu;
  summarize.Reserve(sample.size());
  summarize_cpu.Reserve(sample.size());
  std::vector<uint32_t> sizes;
  sizes.reserve(sample.size());
  size_t failures = 0;
  int64_t s0 = NowNanos();
  for (const auto& [id, name] : sample) {
    int64_t c = ThreadCpuNanos();
    int64_t a = NowNanos();
    auto s = dir->Summarize(id);
    int64_t b = NowNanos();
    summarize_cpu.Add(ThreadCpuNanos() - c);
    summarize.Add(b - a);
    if (s.ok())
      sizes.push_back(static_cast<uint32_t>(s->events.size()));
    else
      ++failures;
  }
  int64_t s1 = NowNanos();
  Distribution events = Distribution::Of(sizes);
  std::printf("\nDirectory::Summarize, %zu random clients, one thread (%.2f s, %zu failed):\n",
              sample.size(), static_cast<double>(s1 - s0) / 1e9, failures);
  std::printf("  latency  %s\n", summarize.Summary().c_str());
  std::printf("  on-CPU   %s\n", summarize_cpu.Summary().c_str());
  std::printf("  events per summary  %s\n", events.ToString().c_str());
  if (o.histogram) std::printf("%s", summarize.Histogram().c_str());

  // ---- Directory::AuthenticateApiKey
  LatencyRecorder auth;
  auto keys_file = ReadApiKeys(o.data_dir);
  if (keys_file.ok()) {
    const auto& ks = *keys_file;
    auth.Reserve(o.auth_samples);
    for (size_t i = 0; i < o.auth_samples; ++i) {
      const std::string& tok = ks[Mix(o.seed + 17 + i) % ks.size()].token;
      int64_t a = NowNanos();
      auto who = dir->AuthenticateApiKey(tok);
      int64_t b = NowNanos();
      if (!who.ok()) return Internal("API key of the sample refused: " + who.status().message());
      auth.Add(b - a);
    }
    std::printf("\nDirectory::AuthenticateApiKey, %zu calls over %zu keys:\n", auth.count(),
                ks.size());
    std::printf("  latency  %s\n", auth.Summary().c_str());
  }

  // ---- TicketService::Issue (summary, ticket encoding, sealing, Ed25519)
  KC_ASSIGN_OR_RETURN(auto keys, ServiceKeys::Open(data.store.get(), data.sealer.get(),
                                                   &SystemClock::Get(), 8 * 3600 + 30, true));
  TicketService tickets(dir.get(), keys.get(), &SystemClock::Get(), TicketServiceOptions{});
  auto issue_sample = pick(o.issue_samples, 99);
  LatencyRecorder issue, issue_cpu;
  issue.Reserve(issue_sample.size());
  issue_cpu.Reserve(issue_sample.size());
  size_t bytes = 0;
  failures = 0;
  for (size_t i = 0; i < std::min<size_t>(100, issue_sample.size()); ++i) {
    const auto& [id, name] = issue_sample[i];
    (void)tickets.Issue(AuthenticatedClient{id, name, "bench"});
  }
  for (const auto& [id, name] : issue_sample) {
    AuthenticatedClient who{id, name, "bench"};
    int64_t c = ThreadCpuNanos();
    int64_t a = NowNanos();
    auto t = tickets.Issue(who);
    int64_t b = NowNanos();
    issue_cpu.Add(ThreadCpuNanos() - c);
    issue.Add(b - a);
    if (t.ok())
      bytes += t->ticket.size();
    else
      ++failures;
  }
  std::printf(
      "\nTicketService::Issue, %zu random clients, one thread (%zu failed, mean ticket %zu "
      "bytes):\n",
      issue.count(), failures,
      issue.count() ? bytes / std::max<size_t>(1, issue.count() - failures) : 0);
  std::printf("  latency  %s\n", issue.Summary().c_str());
  std::printf("  on-CPU   %s\n", issue_cpu.Summary().c_str());
  if (o.histogram) std::printf("%s", issue.Histogram().c_str());

  ProcMemory after = ReadProcMemory();
  std::printf("\nmemory at the end  VmRSS %s  VmHWM %s\n",
              FormatBytes(static_cast<double>(after.rss_bytes)).c_str(),
              FormatBytes(static_cast<double>(after.hwm_bytes)).c_str());

  double p50 = static_cast<double>(summarize.Percentile(0.5)) / 1e3;
  double p99 = static_cast<double>(summarize.Percentile(0.99)) / 1e3;
  double cpu_p50 = static_cast<double>(summarize_cpu.Percentile(0.5)) / 1e3;
  double cpu_p99 = static_cast<double>(summarize_cpu.Percentile(0.99)) / 1e3;
  double rss = static_cast<double>(loaded.rss_bytes) / (1024.0 * 1024 * 1024);
  double hwm = static_cast<double>(after.hwm_bytes) / (1024.0 * 1024 * 1024);
  std::printf("\nTargets:\n");
  std::printf("%s\n", TargetLine("summary p50", p50, kSummaryP50TargetUs, "us", true).c_str());
  std::printf("%s\n", TargetLine("summary p99", p99, kSummaryP99TargetUs, "us", true).c_str());
  std::printf("%s\n",
              TargetLine("summary p50 on-CPU", cpu_p50, kSummaryP50TargetUs, "us", true).c_str());
  std::printf("%s\n",
              TargetLine("summary p99 on-CPU", cpu_p99, kSummaryP99TargetUs, "us", true).c_str());
  std::printf("%s\n", TargetLine("VmRSS after load", rss, kRssTargetGiB, "GiB", true).c_str());
  std::printf("%s\n", TargetLine("VmHWM (peak)", hwm, kRssTargetGiB, "GiB", true).c_str());
  std::printf(
      "\nresult: load_seconds=%.2f rss_gib=%.3f hwm_gib=%.3f summary_p50_us=%.2f "
      "summary_p99_us=%.2f "
      "summary_max_us=%.1f summary_cpu_p50_us=%.2f summary_cpu_p99_us=%.2f summary_events_p50=%llu "
      "issue_p50_us=%.1f issue_p99_us=%.1f issue_cpu_p50_us=%.1f auth_p50_us=%.2f\n",
      static_cast<double>(t1 - t0) / 1e9, rss, hwm, p50, p99,
      static_cast<double>(summarize.Max()) / 1e3, cpu_p50, cpu_p99,
      static_cast<unsigned long long>(events.p50), static_cast<double>(issue.Percentile(0.5)) / 1e3,
      static_cast<double>(issue.Percentile(0.99)) / 1e3,
      static_cast<double>(issue_cpu.Percentile(0.5)) / 1e3,
      static_cast<double>(auth.Percentile(0.5)) / 1e3);
  return Status::Ok();
}

}  // namespace keycast::bench
