// Data-plane throughput per core against raw OpenSSL EVP on the same buffers.
//
//   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DKEYCAST_BENCH=ON
//   cmake --build build-rel --target dataplane_bench
//   build-rel/src/dataplane/dataplane_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one command line)
//
// Raw*: a pre-keyed EVP_CIPHER_CTX doing set IV, AAD (16 bytes), encrypt /
// decrypt in place, tag: the floor any AEAD data plane pays. Protect / Open:
// the whole DataPlane path (SPD lookup, SA choice, sequence number, header,
// padding, seal; or header checks, SPI lookup, open, replay window, selector,
// trailer). bytes/s counts payload bytes. Target: Protect >= 85% of RawSeal
// at 1400 bytes (AES-256-GCM). BM_Paired* report that ratio directly.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::dataplane {
namespace {

using crypto::AeadAlgorithm;

constexpr Micros kStart = 1'700'000'000LL * kMicrosPerSecond;
constexpr Micros kNow = kStart + kMicrosPerSecond;
constexpr EventId kEvent{1};
constexpr uint16_t kPort = 5004;
constexpr size_t kPackets = 1024;  // distinct pre-built packets for the open benchmarks

const SecretBytes& Key() {
  static const SecretBytes key = crypto::RandomSecret(32);
  return key;
}

const EVP_CIPHER* Cipher(AeadAlgorithm alg) {
  return alg == AeadAlgorithm::kAes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

Flow EventFlow() {
  Flow f;
  f.source = IpAddress::Parse("10.0.0.1").value();
  f.destination = IpAddress::Parse("239.1.2.3").value();
  f.source_port = 40000;
  f.destination_port = kPort;
  return f;
}

SecurityAssociation Sa(AeadAlgorithm alg, Role role) {
  SecurityAssociation sa;
  sa.event = kEvent;
  sa.epoch = Epoch{1, 0};
  sa.spi = Spi{0x1234};
  sa.algorithm = alg;
  sa.key = Key();
  sa.initiation = kStart;
  sa.lifetime = 3600 * kMicrosPerSecond;
  sa.grace = 2 * kMicrosPerSecond;
  sa.role = role;
  sa.sender = role == Role::kSender ? SenderId{1} : SenderId{};
  sa.group = EventFlow().destination;
  sa.port = kPort;
  return sa;
}

std::unique_ptr<DataPlane> NewDataPlane(AeadAlgorithm alg, Role role) {
  DataPlaneOptions o;
  o.export_metrics = true;  // as in production
  auto dp = DataPlane::Create(o);
  if (!dp.ok()) std::abort();
  std::unique_ptr<DataPlane> p = std::move(dp).value();
  SecurityAssociation sa = Sa(alg, role);
  Direction d = role == Role::kSender ? Direction::kOutbound : Direction::kInbound;
  if (!p->AddPolicy(Policy::ProtectEvent(sa, d)).ok() || !p->InstallSa(std::move(sa)).ok())
    std::abort();
  return p;
}

EVP_CIPHER_CTX* RawContext(AeadAlgorithm alg, bool encrypt) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  const uint8_t* k = Key().reveal().data();
  int ok = encrypt ? EVP_EncryptInit_ex(c, Cipher(alg), nullptr, k, nullptr)
                   : EVP_DecryptInit_ex(c, Cipher(alg), nullptr, k, nullptr);
  if (ok != 1) std::abort();
  return c;
}

// ---- seal ----

void BM_RawSeal(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  EVP_CIPHER_CTX* c = RawContext(alg, true);
  std::vector<uint8_t> buf(kHeaderSize + n + kTagSize, 0x42);
  uint8_t* header = buf.data();
  uint8_t* body = buf.data() + kHeaderSize;
  uint64_t seq = 0;
  for (auto _ : state) {
    StoreBe64(header + kSeqOffset, ++seq);
    int len = 0, fin = 0, aad = 0;
    if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, header + kNonceOffset) != 1 ||
        EVP_EncryptUpdate(c, nullptr, &aad, header, int(kHeaderSize)) != 1 ||
        EVP_EncryptUpdate(c, body, &len, body, int(n)) != 1 ||
        EVP_EncryptFinal_ex(c, body + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, int(kTagSize), body + n) != 1)
      std::abort();
    benchmark::DoNotOptimize(buf.data());
  }
  EVP_CIPHER_CTX_free(c);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

// The payload is received at out + kHeaderSize (the zero-copy layout) and
// sealed in place, like the raw benchmark.
void BM_Protect(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  auto dp = NewDataPlane(alg, Role::kSender);
  std::vector<uint8_t> buf(kHeaderSize + n + kMaxPadBlock + kTrailerSize + kTagSize, 0x42);
  const Flow flow = EventFlow();
  ByteView payload(buf.data() + kHeaderSize, n);
  for (auto _ : state) {
    ProtectResult r = dp->Protect(flow, payload, buf, kNow);
    if (r.verdict != Verdict::kProtected) std::abort();
    benchmark::DoNotOptimize(r.packet.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

// The payload comes from a separate buffer (one extra copy).
void BM_ProtectCopy(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  auto dp = NewDataPlane(alg, Role::kSender);
  std::vector<uint8_t> payload(n, 0x42);
  std::vector<uint8_t> out(DataPlane::kMaxPacketSize);
  const Flow flow = EventFlow();
  for (auto _ : state) {
    ProtectResult r = dp->Protect(flow, payload, out, kNow);
    if (r.verdict != Verdict::kProtected) std::abort();
    benchmark::DoNotOptimize(r.packet.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

// ---- open ----

// kPackets protected packets with consecutive sequence numbers.
std::vector<Bytes> BuildPackets(AeadAlgorithm alg, size_t n) {
  auto tx = NewDataPlane(alg, Role::kSender);
  std::vector<Bytes> packets;
  Bytes payload(n, 0x42);
  Bytes out(DataPlane::kMaxPacketSize);
  for (size_t i = 0; i < kPackets; ++i) {
    ProtectResult r = tx->Protect(EventFlow(), payload, out, kNow);
    if (r.verdict != Verdict::kProtected) std::abort();
    packets.emplace_back(r.packet.begin(), r.packet.end());
  }
  return packets;
}

// Both open benchmarks copy each packet into a work buffer first (opening
// destroys it), so both pay the same copy.
void BM_RawOpen(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  std::vector<Bytes> packets = BuildPackets(alg, n);
  EVP_CIPHER_CTX* c = RawContext(alg, false);
  Bytes work(packets[0].size());
  size_t i = 0;
  for (auto _ : state) {
    const Bytes& p = packets[i++ % kPackets];
    std::memcpy(work.data(), p.data(), p.size());
    uint8_t* body = work.data() + kHeaderSize;
    size_t ct = work.size() - kHeaderSize - kTagSize;
    int len = 0, fin = 0, aad = 0;
    if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, work.data() + kNonceOffset) != 1 ||
        EVP_DecryptUpdate(c, nullptr, &aad, work.data(), int(kHeaderSize)) != 1 ||
        EVP_DecryptUpdate(c, body, &len, body, int(ct)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, int(kTagSize), body + ct) != 1 ||
        EVP_DecryptFinal_ex(c, body + len, &fin) != 1)
      std::abort();
    benchmark::DoNotOptimize(work.data());
  }
  EVP_CIPHER_CTX_free(c);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

void BM_Open(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  std::vector<Bytes> packets = BuildPackets(alg, n);
  auto rx = NewDataPlane(alg, Role::kReceiver);
  const Flow flow = EventFlow();
  Bytes work(packets[0].size());
  size_t i = 0;
  for (auto _ : state) {
    if (i == kPackets) {  // every packet seen once: a fresh replay window
      state.PauseTiming();
      rx = NewDataPlane(alg, Role::kReceiver);
      i = 0;
      state.ResumeTiming();
    }
    const Bytes& p = packets[i++];
    std::memcpy(work.data(), p.data(), p.size());
    OpenResult r = rx->Open(flow, work, kNow);
    if (r.verdict != Verdict::kOpened) std::abort();
    benchmark::DoNotOptimize(r.payload.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

// ---- paired: raw and data plane alternate in batches on the same buffers ----
//
// On a shared machine, separate benchmarks see different noise. These run a
// batch of raw EVP operations, then a batch through the DataPlane, over and
// over, and keep the fastest batch of each (the least disturbed), reporting
// raw_ns, dataplane_ns (per packet) and ratio = raw_ns / dataplane_ns.

constexpr int kBatch = 128;

class RawAead {
 public:
  RawAead(AeadAlgorithm alg, bool encrypt) : c_(RawContext(alg, encrypt)), encrypt_(encrypt) {}
  ~RawAead() { EVP_CIPHER_CTX_free(c_); }
  // In place on header || body || tag; body_size excludes the tag.
  void Run(uint8_t* packet, size_t body_size) {
    uint8_t* body = packet + kHeaderSize;
    int len = 0, fin = 0, aad = 0;
    bool ok;
    if (encrypt_) {
      ok = EVP_EncryptInit_ex(c_, nullptr, nullptr, nullptr, packet + kNonceOffset) == 1 &&
           EVP_EncryptUpdate(c_, nullptr, &aad, packet, int(kHeaderSize)) == 1 &&
           EVP_EncryptUpdate(c_, body, &len, body, int(body_size)) == 1 &&
           EVP_EncryptFinal_ex(c_, body + len, &fin) == 1 &&
           EVP_CIPHER_CTX_ctrl(c_, EVP_CTRL_AEAD_GET_TAG, int(kTagSize), body + body_size) == 1;
    } else {
      ok = EVP_DecryptInit_ex(c_, nullptr, nullptr, nullptr, packet + kNonceOffset) == 1 &&
           EVP_DecryptUpdate(c_, nullptr, &aad, packet, int(kHeaderSize)) == 1 &&
           EVP_DecryptUpdate(c_, body, &len, body, int(body_size)) == 1 &&
           EVP_CIPHER_CTX_ctrl(c_, EVP_CTRL_AEAD_SET_TAG, int(kTagSize), body + body_size) == 1 &&
           EVP_DecryptFinal_ex(c_, body + len, &fin) == 1;
    }
    if (!ok) std::abort();
  }

 private:
  EVP_CIPHER_CTX* c_;
  bool encrypt_;
};

template <typename F>
double BatchNs(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kBatch; ++i) f(i);
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / kBatch;
}

void Report(benchmark::State& state, double raw, double ours, size_t n) {
  state.counters["raw_ns"] = raw;
  state.counters["dataplane_ns"] = ours;
  state.counters["ratio"] = raw / ours;
  state.SetBytesProcessed(int64_t(state.iterations()) * kBatch * 2 * int64_t(n));
}

// Runs the two timed batches in alternating order, so neither always gets
// the cache the other warmed, and keeps the fastest batch of each.
template <typename Raw, typename Ours>
void RunPaired(bool raw_first, Raw&& raw, Ours&& ours, double* best_raw, double* best_ours) {
  if (raw_first) *best_raw = std::min(*best_raw, BatchNs(raw));
  *best_ours = std::min(*best_ours, BatchNs(ours));
  if (!raw_first) *best_raw = std::min(*best_raw, BatchNs(raw));
}

// Raw seals exactly the bytes Protect seals (payload + padding + trailer) in
// the same buffer, so the ratio is the cost of the data-plane logic alone.
void BM_PairedSeal(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  const size_t sealed = n + PaddingFor(n, kMinPadBlock) + kTrailerSize;
  auto dp = NewDataPlane(alg, Role::kSender);
  RawAead raw(alg, true);
  std::vector<uint8_t> buf(kHeaderSize + sealed + kTagSize, 0x42);
  const Flow flow = EventFlow();
  ByteView payload(buf.data() + kHeaderSize, n);
  uint64_t seq = 0;
  double best_raw = 1e18, best_ours = 1e18;
  bool raw_first = true;
  for (auto _ : state) {
    RunPaired(
        raw_first,
        [&](int) {
          StoreBe64(buf.data() + kSeqOffset, ++seq);
          raw.Run(buf.data(), sealed);
        },
        [&](int) {
          ProtectResult r = dp->Protect(flow, payload, buf, kNow);
          if (r.verdict != Verdict::kProtected) std::abort();
        },
        &best_raw, &best_ours);
    raw_first = !raw_first;
  }
  Report(state, best_raw, best_ours, n);
}

void BM_PairedOpen(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  std::vector<Bytes> packets = BuildPackets(alg, n);
  auto rx = NewDataPlane(alg, Role::kReceiver);
  RawAead raw(alg, false);
  const Flow flow = EventFlow();
  Bytes work(packets[0].size());
  const size_t body = work.size() - kHeaderSize - kTagSize;
  size_t next = 0;  // packets opened by rx so far
  double best_raw = 1e18, best_ours = 1e18;
  bool raw_first = true;
  for (auto _ : state) {
    if (next + kBatch > kPackets) {  // a fresh replay window, outside the timed batches
      rx = NewDataPlane(alg, Role::kReceiver);
      next = 0;
    }
    RunPaired(
        raw_first,
        [&](int i) {
          const Bytes& p = packets[next + size_t(i)];
          std::memcpy(work.data(), p.data(), p.size());
          raw.Run(work.data(), body);
        },
        [&](int i) {
          const Bytes& p = packets[next + size_t(i)];
          std::memcpy(work.data(), p.data(), p.size());
          if (rx->Open(flow, work, kNow).verdict != Verdict::kOpened) std::abort();
        },
        &best_raw, &best_ours);
    raw_first = !raw_first;
    next += kBatch;
  }
  Report(state, best_raw, best_ours, n);
}

// ---- source authentication: raw AEAD, unsigned and signed data plane, alternating ----
//
// Signed: each packet is sealed into a batch of sign_batch_packets (32), and
// each full batch is signed (one Ed25519 signature) and handed to a sink;
// on receipt each batch's manifest (2 copies: one verified, one counted) is
// opened, then its packets, each checked against its hash. Per-packet cost
// includes the batch's share of the signature. Reports raw_ns, unsigned_ns,
// signed_ns (per packet) and signed_ratio = raw_ns / signed_ns.

Bytes SigningSeed() {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(0xa0 + i);
  return seed;
}

SecurityAssociation SignedSa(AeadAlgorithm alg, Role role) {
  SecurityAssociation sa = Sa(alg, role);
  sa.source_auth = true;
  const SecretBytes seed{ByteView(SigningSeed())};
  if (role == Role::kSender) sa.signing_key = seed;
  sa.signers.push_back(
      Signer{SenderId{1}, crypto::SigningKey::FromSeed(seed).value().public_key()});
  return sa;
}

std::unique_ptr<DataPlane> NewSignedDataPlane(AeadAlgorithm alg, Role role) {
  DataPlaneOptions o;
  o.export_metrics = true;
  auto dp = DataPlane::Create(o);
  if (!dp.ok()) std::abort();
  std::unique_ptr<DataPlane> p = std::move(dp).value();
  SecurityAssociation sa = SignedSa(alg, role);
  Direction d = role == Role::kSender ? Direction::kOutbound : Direction::kInbound;
  if (!p->AddPolicy(Policy::ProtectEvent(sa, d)).ok() || !p->InstallSa(std::move(sa)).ok())
    std::abort();
  return p;
}

class CountSink : public PacketSink {
 public:
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t i = 0; i < count; ++i) benchmark::DoNotOptimize(packets[i].data());
    sent += count;
  }
  size_t sent = 0;
};

class CopySink : public PacketSink {
 public:
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t i = 0; i < count; ++i) sent.emplace_back(packets[i].begin(), packets[i].end());
  }
  std::vector<Bytes> sent;
};

// Three timed batches in rotating order; the fastest of each is kept.
template <typename A, typename B, typename C>
void RunThree(int turn, A&& a, B&& b, C&& c, double best[3]) {
  for (int k = 0; k < 3; ++k) {
    switch ((turn + k) % 3) {
      case 0:
        best[0] = std::min(best[0], BatchNs(a));
        break;
      case 1:
        best[1] = std::min(best[1], BatchNs(b));
        break;
      default:
        best[2] = std::min(best[2], BatchNs(c));
        break;
    }
  }
}

void ReportSigned(benchmark::State& state, const double best[3], size_t n) {
  state.counters["raw_ns"] = best[0];
  state.counters["unsigned_ns"] = best[1];
  state.counters["signed_ns"] = best[2];
  state.counters["unsigned_ratio"] = best[0] / best[1];
  state.counters["signed_ratio"] = best[0] / best[2];
  state.SetBytesProcessed(int64_t(state.iterations()) * kBatch * 3 * int64_t(n));
}

void BM_SignedSeal(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  const size_t sealed = n + PaddingFor(n, kMinPadBlock) + kTrailerSize;
  auto plain = NewDataPlane(alg, Role::kSender);
  auto signer = NewSignedDataPlane(alg, Role::kSender);
  RawAead raw(alg, true);
  std::vector<uint8_t> buf(kHeaderSize + sealed + kTagSize, 0x42);
  std::vector<uint8_t> out(DataPlane::kMaxPacketSize);
  const Flow flow = EventFlow();
  ByteView payload(buf.data() + kHeaderSize, n);
  CountSink sink;
  uint64_t seq = 0;
  double best[3] = {1e18, 1e18, 1e18};
  int turn = 0;
  for (auto _ : state) {
    RunThree(
        turn++,
        [&](int) {
          StoreBe64(buf.data() + kSeqOffset, ++seq);
          raw.Run(buf.data(), sealed);
        },
        [&](int) {
          if (plain->Protect(flow, payload, buf, kNow).verdict != Verdict::kProtected) std::abort();
        },
        [&](int) {
          ProtectResult r = signer->Protect(flow, payload, out, kNow);
          if (r.verdict != Verdict::kQueued) std::abort();
          if (r.flush) signer->Flush(kEvent, kNow, sink);
        },
        best);
  }
  if (sink.sent == 0) std::abort();
  ReportSigned(state, best, n);
}

void BM_SignedOpen(benchmark::State& state, AeadAlgorithm alg) {
  const size_t n = size_t(state.range(0));
  std::vector<Bytes> packets = BuildPackets(alg, n);
  // The signed stream: per batch of 32, the manifest copies, then the packets.
  std::vector<Bytes> stream;
  std::vector<size_t> data_at;   // stream index of each data packet
  std::vector<size_t> batch_at;  // stream index where the batch of data packet i begins
  {
    auto tx = NewSignedDataPlane(alg, Role::kSender);
    Bytes payload(n, 0x42), out(DataPlane::kMaxPacketSize);
    CopySink sink;
    for (size_t i = 0; i < kPackets; ++i) {
      ProtectResult r = tx->Protect(EventFlow(), payload, out, kNow);
      if (r.verdict != Verdict::kQueued) std::abort();
      if (r.flush) {
        size_t begin = sink.sent.size();
        tx->Flush(kEvent, kNow, sink);
        for (size_t k = begin; k < sink.sent.size(); ++k) {
          if (k < begin + 2) continue;  // the manifest's two copies
          data_at.push_back(k);
          batch_at.push_back(begin);
        }
      }
    }
    stream = std::move(sink.sent);
  }
  if (data_at.size() != kPackets) std::abort();
  auto plain = NewDataPlane(alg, Role::kReceiver);
  auto rx = NewSignedDataPlane(alg, Role::kReceiver);
  RawAead raw(alg, false);
  const Flow flow = EventFlow();
  Bytes work(DataPlane::kMaxPacketSize);
  const size_t body = packets[0].size() - kHeaderSize - kTagSize;
  size_t next = 0;
  double best[3] = {1e18, 1e18, 1e18};
  int turn = 0;
  auto open = [&](DataPlane& dp, const Bytes& p) {
    std::memcpy(work.data(), p.data(), p.size());
    return dp.Open(flow, MutableByteView(work.data(), p.size()), kNow).verdict;
  };
  for (auto _ : state) {
    if (next + kBatch > kPackets) {  // fresh windows, outside the timed batches
      plain = NewDataPlane(alg, Role::kReceiver);
      rx = NewSignedDataPlane(alg, Role::kReceiver);
      next = 0;
    }
    RunThree(
        turn++,
        [&](int i) {
          const Bytes& p = packets[next + size_t(i)];
          std::memcpy(work.data(), p.data(), p.size());
          raw.Run(work.data(), body);
        },
        [&](int i) {
          if (open(*plain, packets[next + size_t(i)]) != Verdict::kOpened) std::abort();
        },
        [&](int i) {
          const size_t j = next + size_t(i), k = data_at[j], begin = batch_at[j];
          if (k == begin + 2)  // the batch's first packet: its manifest copies first
            for (size_t m = begin; m < k; ++m)
              if (open(*rx, stream[m]) != Verdict::kConsumed) std::abort();
          if (open(*rx, stream[k]) != Verdict::kOpened) std::abort();
        },
        best);
    next += kBatch;
  }
  ReportSigned(state, best, n);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int n : {64, 512, 1400, 8192}) b->Arg(n);
}

BENCHMARK_CAPTURE(BM_RawSeal, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Protect, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_ProtectCopy, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_RawOpen, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Open, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_RawSeal, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Protect, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_RawOpen, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Open, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PairedSeal, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PairedOpen, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PairedSeal, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PairedOpen, chacha20poly1305, AeadAlgorithm::kChaCha20Poly1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_SignedSeal, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_SignedOpen, aes256gcm, AeadAlgorithm::kAes256Gcm)->Apply(Sizes);

}  // namespace
}  // namespace keycast::dataplane

BENCHMARK_MAIN();
