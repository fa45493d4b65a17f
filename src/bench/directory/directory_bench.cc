// Google Benchmark: the pieces of the ticket path on a generated directory.
// Uses the data folder in KEYCAST_BENCH_DATA_DIR when set (written by
// `keycast bench directory generate`), else generates 100,000 clients,
// 10,000 groups and 100,000 events in memory first.
//
//   KEYCAST_BENCH_DATA_DIR=/tmp/kc-bench build/src/bench/directory/directory_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "bench/directory/data_dir.h"
#include "bench/directory/generator.h"
#include "keycast/crypto.h"
#include "keycast/directory.h"
#include "keycast/service_keys.h"
#include "keycast/ticket_service.h"

namespace keycast::bench {
namespace {

struct World {
  std::unique_ptr<Store> store;
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Directory> dir;
  std::unique_ptr<ServiceKeys> keys;
  std::unique_ptr<TicketService> tickets;
  std::vector<AuthenticatedClient> clients;
  std::vector<std::string> api_keys;
};

World* Build() {
  auto* w = new World;
  const char* data_dir = std::getenv("KEYCAST_BENCH_DATA_DIR");
  if (data_dir && *data_dir) {
    auto data = OpenBenchData(data_dir);
    if (!data.ok()) {
      std::fprintf(stderr, "%s\n", data.status().ToString().c_str());
      std::exit(1);
    }
    w->store = std::move(data->store);
    w->sealer = std::move(data->sealer);
    if (auto keys = ReadApiKeys(data_dir); keys.ok())
      for (auto& k : *keys) w->api_keys.push_back(k.token);
  } else {
    GeneratorOptions o;
    o.clients = 100'000;
    o.groups = 10'000;
    o.events = 100'000;
    o.api_keys = 1000;
    w->store = std::move(OpenSqliteStore(":memory:")).value();
    w->sealer = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    auto written = WriteDirectory(BuildShape(o), o, w->store.get(), w->sealer.get(), nullptr);
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", written.status().ToString().c_str());
      std::exit(1);
    }
    w->api_keys = written->api_keys;
  }
  w->dir =
      std::move(Directory::Open(w->store.get(), w->sealer.get(), &SystemClock::Get(), {})).value();
  w->keys =
      std::move(ServiceKeys::Open(w->store.get(), w->sealer.get(), &SystemClock::Get(), 3600, true))
          .value();
  w->tickets = std::make_unique<TicketService>(w->dir.get(), w->keys.get(), &SystemClock::Get(),
                                               TicketServiceOptions{});
  size_t n = w->dir->counts().clients;
  for (size_t i = 0; i < 4096; ++i) {
    std::string name = ClientName((i * 2654435761u) % n);
    if (auto id = w->dir->FindClient(name))
      w->clients.push_back(AuthenticatedClient{*id, name, "bench"});
  }
  return w;
}

World& W() {
  static World* w = Build();
  return *w;
}

void BM_Summarize(benchmark::State& state) {
  World& w = W();
  size_t i = static_cast<size_t>(state.thread_index()) * 977;
  size_t events = 0;
  for (auto _ : state) {
    auto s = w.dir->Summarize(w.clients[i++ % w.clients.size()].id);
    events += s->events.size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["events"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_Summarize)->Threads(1)->Threads(2);

void BM_AuthenticateApiKey(benchmark::State& state) {
  World& w = W();
  if (w.api_keys.empty()) return state.SkipWithError("no API keys");
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(w.dir->AuthenticateApiKey(w.api_keys[i++ % w.api_keys.size()]));
}
BENCHMARK(BM_AuthenticateApiKey);

void BM_Issue(benchmark::State& state) {
  World& w = W();
  size_t i = static_cast<size_t>(state.thread_index()) * 977;
  size_t bytes = 0;
  for (auto _ : state) {
    auto t = w.tickets->Issue(w.clients[i++ % w.clients.size()]);
    bytes += t->ticket.size();
  }
  state.counters["ticket_bytes"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_Issue)->Threads(1)->Threads(2);

void BM_Ed25519Sign4KiB(benchmark::State& state) {
  auto key = crypto::SigningKey::Generate();
  Bytes msg(4096, 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(msg));
}
BENCHMARK(BM_Ed25519Sign4KiB);

}  // namespace
}  // namespace keycast::bench

BENCHMARK_MAIN();
