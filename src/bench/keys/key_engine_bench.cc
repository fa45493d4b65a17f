// Google Benchmark: KeyEngine::Handle alone, without sockets, on a fixture
// directory (docs/bench-keys.md). Each iteration handles one fresh,
// authenticated request (new nonce and timestamp), so the replay cache, the
// credential, the proof and every check run as they do on the wire.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <filesystem>
#include <mutex>

#include "bench/keys/fixture.h"
#include "keycast/directory.h"
#include "keycast/key_service.h"
#include "keycast/seal.h"
#include "keycast/service_keys.h"
#include "keycast/store.h"

namespace keycast::bench {
namespace {

struct World {
  std::string dir;
  Fixture fx;
  std::unique_ptr<Store> store;
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Directory> directory;
  std::unique_ptr<ServiceKeys> keys;
  std::unique_ptr<KeyEngine> engine;
  std::vector<keyproto::SessionContext> sessions;
  std::mutex mu;

  World() {
    std::string tmpl = "/tmp/keycast-key-engine-bench-XXXXXX";
    dir = ::mkdtemp(tmpl.data());
    FixtureOptions fo;
    fo.data_dir = dir + "/data";
    fo.clients = 500;
    fo.tickets_per_client = 2;
    fx = std::move(CreateFixture(fo)).value();
    store = std::move(OpenSqliteStore(fo.data_dir + "/keycast.db")).value();
    sealer = std::make_unique<Sealer>(std::move(Sealer::FromFile(fo.data_dir + "/kek")).value());
    directory =
        std::move(Directory::Open(store.get(), sealer.get(), &SystemClock::Get(), {})).value();
    keys = std::move(ServiceKeys::Open(store.get(), sealer.get(), &SystemClock::Get(), 7200, false))
               .value();
    engine = std::make_unique<KeyEngine>(directory.get(), keys.get(), store.get(), sealer.get(),
                                         &SystemClock::Get(), KeyServiceOptions{});
    for (const auto& t : fx.tickets) sessions.emplace_back(t.keys);
  }
  ~World() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // A pool of fresh requests, half initial and half refresh.
  std::vector<Bytes> Requests(size_t n) {
    std::lock_guard<std::mutex> l(mu);  // the session contexts are not thread-safe
    std::vector<Bytes> out;
    out.reserve(n);
    int64_t now = SystemClock::Get().NowSeconds();
    for (size_t i = 0; i < n; ++i) {
      size_t k = i % fx.tickets.size();
      const SimTicket& t = fx.tickets[k];
      keyproto::Request q;
      q.credential = t.credential;
      crypto::RandomFill(q.client_nonce);
      q.timestamp = SystemClock::Get().Now();
      const FixtureEvent& e = fx.events[i % fx.events.size()];
      q.event = e.id;
      if (i % 2) {
        q.kind = keyproto::RequestKind::kRefresh;
        q.epoch = *EpochAt(e.schedule, e.interval_seconds, now);
      }
      out.push_back(sessions[k].EncodeRequest(q));
    }
    return out;
  }
};

World& TheWorld() {
  static World* w = new World();
  return *w;
}

void BM_Handle(benchmark::State& state) {
  World& w = TheWorld();
  sockaddr_storage from{};
  from.ss_family = AF_INET;
  std::vector<Bytes> pool = w.Requests(50'000);
  size_t i = 0;
  KeyOutcome outcome{};
  for (auto _ : state) {
    if (i == pool.size()) {
      state.PauseTiming();
      pool = w.Requests(50'000);
      i = 0;
      state.ResumeTiming();
    }
    Bytes reply = w.engine->Handle(pool[i++], from, sizeof(sockaddr_in), false, &outcome);
    benchmark::DoNotOptimize(reply);
    if (outcome != KeyOutcome::kOk)
      state.SkipWithError(std::string(KeyOutcomeName(outcome)).c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Handle)->Threads(1)->Threads(2)->UseRealTime();

// Deriving one interval's SA (key and SPI) without the per-thread cache:
// the cost an SA-cache miss adds to Handle (docs/key-protocol.md).
void BM_DeriveSa(benchmark::State& state) {
  World& w = TheWorld();
  const FixtureEvent& fe = w.fx.events[0];
  auto ev = w.directory->FindEvent(fe.id);
  if (!ev) return state.SkipWithError("no event");
  Epoch e = *EpochAt(fe.schedule, fe.interval_seconds, SystemClock::Get().NowSeconds());
  for (auto _ : state) {
    auto sa = w.engine->DeriveSa(*ev, e, Role::kReceiver, SenderId{});
    if (!sa.ok()) return state.SkipWithError(sa.status().ToString().c_str());
    benchmark::DoNotOptimize(sa);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DeriveSa);

// A bad datagram: the cost of dropping a request whose proof fails.
void BM_HandleBadProof(benchmark::State& state) {
  World& w = TheWorld();
  sockaddr_storage from{};
  std::vector<Bytes> pool = w.Requests(1000);
  for (auto& b : pool) b[b.size() - 1] ^= 1;
  size_t i = 0;
  for (auto _ : state) {
    Bytes reply = w.engine->Handle(pool[i++ % pool.size()], from, sizeof(sockaddr_in), false);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HandleBadProof);

// The client side: encode a request and open the reply (the generator's cost).
void BM_ClientEncodeAndOpen(benchmark::State& state) {
  World& w = TheWorld();
  sockaddr_storage from{};
  from.ss_family = AF_INET;
  auto& t = w.fx.tickets[0];
  keyproto::Request q;
  q.credential = t.credential;
  q.event = w.fx.events[0].id;
  crypto::RandomFill(q.client_nonce);
  q.timestamp = SystemClock::Get().Now();
  Bytes reply = w.engine->Handle(w.sessions[0].EncodeRequest(q), from, sizeof(sockaddr_in), false);
  for (auto _ : state) {
    q.client_nonce[0]++;
    Bytes req = w.sessions[0].EncodeRequest(q);
    benchmark::DoNotOptimize(req);
    q.client_nonce[0]--;
    auto r = w.sessions[0].OpenReply(reply, q.client_nonce);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ClientEncodeAndOpen);

}  // namespace
}  // namespace keycast::bench

BENCHMARK_MAIN();
