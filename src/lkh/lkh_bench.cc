// LKH key-service cost: rekey message size and commit time for one removal
// and for a batch of 1% removals, and memory per member, at 1,000 / 100,000
// / 1,000,000 members (degree 4 unless --degree=N).
//
// Prints a summary table first, then runs the Google Benchmark cases:
//   lkh_bench                      summary + benchmarks
//   lkh_bench --summary_only       summary only
//   lkh_bench --benchmark_filter=RemoveOne   (the usual benchmark flags)

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "keycast/crypto.h"
#include "keycast/lkh.h"

namespace keycast::lkh {
namespace {

unsigned g_degree = kDefaultDegree;

// Resident memory after returning free heap pages to the OS, so buffers the
// tree released while growing (still cached by malloc) do not count.
size_t RssBytes() {
  malloc_trim(0);
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

uint32_t WrappedKeys(const Bytes& msg) {
  // entry_count is the last header field (docs/lkh.md).
  const uint8_t* p = msg.data() + kRekeyHeaderSize - 4;
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// A tree of n members with its signing key and a source of new client ids.
struct Group {
  explicit Group(size_t n)
      : tree(KeyTree::Create(EventId(1), g_degree).value()),
        signer(crypto::SigningKey::Generate()),
        rng(n) {
    clients.reserve(n);
    size_t rss0 = RssBytes();
    for (size_t i = 0; i < n; ++i) clients.push_back(Add());
    Commit();
    rss_delta = RssBytes() - rss0;
  }

  int64_t Add() {
    int64_t c = next_client++;
    if (!tree.Join(ClientId(c)).ok()) std::abort();
    return c;
  }
  [[gnu::noinline]] Bytes Commit() {
    epoch.index++;
    auto msg = tree.Commit(epoch, crypto::RandomSecret(kIntervalKeySize), signer, ++seq);
    if (!msg.ok()) {
      std::fprintf(stderr, "commit failed: %s\n", msg.status().ToString().c_str());
      std::abort();
    }
    Bytes out;
    out.swap(*msg);
    return out;
  }
  // Removes k distinct random members (returns their slots in `clients`).
  std::vector<size_t> RemoveRandom(size_t k) {
    std::vector<size_t> slots;
    std::unordered_set<size_t> taken;
    while (slots.size() < k) {
      size_t i = rng() % clients.size();
      if (!taken.insert(i).second) continue;
      slots.push_back(i);
      if (!tree.Leave(ClientId(clients[i])).ok()) std::abort();
    }
    return slots;
  }
  // Puts new members in the freed slots and admits them (untimed upkeep,
  // so every measurement starts from n members).
  void Refill(const std::vector<size_t>& slots) {
    for (size_t i : slots) clients[i] = Add();
    Commit();
  }

  KeyTree tree;
  crypto::SigningKey signer;
  std::mt19937_64 rng;
  std::vector<int64_t> clients;
  int64_t next_client = 1;
  uint64_t seq = 0;
  Epoch epoch{1, 0};
  size_t rss_delta = 0;
};

Group& GetGroup(size_t n) {
  static std::map<size_t, std::unique_ptr<Group>> groups;
  auto& g = groups[n];
  if (!g) g = std::make_unique<Group>(n);
  return *g;
}

void BM_RemoveOne(benchmark::State& state) {
  Group& g = GetGroup(static_cast<size_t>(state.range(0)));
  size_t bytes = 0, keys = 0;
  Bytes msg;  // outside the loop: GCC 12 -Wuse-after-free misfires on a loop-local vector
  for (auto _ : state) {
    auto slots = g.RemoveRandom(1);
    msg = g.Commit();
    state.PauseTiming();
    bytes = msg.size();
    keys = WrappedKeys(msg);
    g.Refill(slots);
    state.ResumeTiming();
  }
  state.counters["msg_bytes"] = static_cast<double>(bytes);
  state.counters["wrapped_keys"] = static_cast<double>(keys);
}
BENCHMARK(BM_RemoveOne)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_RemoveOnePercent(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  Group& g = GetGroup(n);
  size_t bytes = 0, keys = 0;
  Bytes msg;  // outside the loop: GCC 12 -Wuse-after-free misfires on a loop-local vector
  for (auto _ : state) {
    auto slots = g.RemoveRandom(n / 100);
    msg = g.Commit();
    state.PauseTiming();
    bytes = msg.size();
    keys = WrappedKeys(msg);
    g.Refill(slots);
    state.ResumeTiming();
  }
  state.counters["msg_bytes"] = static_cast<double>(bytes);
  state.counters["wrapped_keys"] = static_cast<double>(keys);
}
BENCHMARK(BM_RemoveOnePercent)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// Member side: verify + unwrap one removal's message.
void BM_MemberProcess(benchmark::State& state) {
  Group& g = GetGroup(static_cast<size_t>(state.range(0)));
  MemberKeysInit init = g.tree.PathKeysFor(ClientId(g.clients[0])).value();
  auto vk = crypto::VerifyKey::FromBytes(g.signer.public_key()).value();
  auto slots = g.RemoveRandom(1);
  Bytes msg = g.Commit();
  MemberKeys base = MemberKeys::FromInit(init).value();
  for (auto _ : state) {
    MemberKeys m = base;
    auto got = m.Process(msg, vk);
    if (!got.ok()) state.SkipWithError(got.status().ToString().c_str());
    benchmark::DoNotOptimize(got);
  }
  g.Refill(slots);
}
BENCHMARK(BM_MemberProcess)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

// CPU time of this thread, in ms: the machine may be shared, and wall time
// would count other processes' slices.
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void PrintSummary() {
  std::printf("LKH key service, degree %u (Release build)\n", g_degree);
  std::printf("%10s | %6s | %9s %8s %9s | %9s %10s %9s | %9s %9s\n", "members", "height",
              "1 rm keys", "bytes", "ms", "1% keys", "bytes", "ms", "B/member", "RSS B/mb");
  for (size_t n : {size_t{1000}, size_t{100000}, size_t{1000000}}) {
    Group& g = GetGroup(n);
    std::vector<double> one_ms, batch_ms;
    size_t one_bytes = 0, one_keys = 0, batch_bytes = 0, batch_keys = 0;
    Bytes msg;
    for (int i = 0; i < 51; ++i) {
      double t0 = CpuMs();
      auto slots = g.RemoveRandom(1);
      msg = g.Commit();
      one_ms.push_back(CpuMs() - t0);
      one_bytes = std::max(one_bytes, msg.size());
      one_keys = std::max<size_t>(one_keys, WrappedKeys(msg));
      g.Refill(slots);
    }
    for (int i = 0; i < 5; ++i) {
      double t0 = CpuMs();
      auto slots = g.RemoveRandom(n / 100);
      msg = g.Commit();
      batch_ms.push_back(CpuMs() - t0);
      batch_bytes = msg.size();
      batch_keys = WrappedKeys(msg);
      g.Refill(slots);
    }
    std::printf("%10zu | %6u | %9zu %8zu %9.3f | %9zu %10zu %9.2f | %9.1f %9.1f\n", n,
                g.tree.height(), one_keys, one_bytes, Median(one_ms), batch_keys, batch_bytes,
                Median(batch_ms), double(g.tree.MemoryBytes()) / double(n),
                double(g.rss_delta) / double(n));
  }
  std::printf(
      "(ms = thread CPU time. 1 rm: max keys/bytes and median ms over 51 removals, Leave + Commit "
      "incl. "
      "Ed25519 signing; 1%%: median of 5 batches; B/member = KeyTree::MemoryBytes / n; "
      "RSS = resident growth while building, after malloc_trim)\n\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace keycast::lkh

int main(int argc, char** argv) {
  bool summary_only = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--summary_only") == 0) {
      summary_only = true;
    } else if (std::strncmp(argv[i], "--degree=", 9) == 0) {
      keycast::lkh::g_degree = static_cast<unsigned>(std::atoi(argv[i] + 9));
    } else {
      args.push_back(argv[i]);
    }
  }
  keycast::lkh::PrintSummary();
  if (summary_only) return 0;
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
