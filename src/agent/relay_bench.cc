// Relay throughput over loopback, per core: the packet loops `keycast agent`
// runs, sender side (plaintext socket -> Protect -> multicast on lo) and
// receiver side (multicast -> Open -> plaintext socket), each on its own
// thread, fed by a generator and drained by a sink.
//
//   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target
//   relay_bench build-rel/src/agent/relay_bench
//
// Reported per payload size: items_per_second (end to end, wall clock, on
// whatever cores the machine lends), and send_pps_per_core /
// recv_pps_per_core: datagrams divided by the CPU time of that loop's
// thread alone (system calls included), i.e. what one core running that
// loop sustains. The generator keeps at most kInFlight datagrams in flight,
// so nothing is lost to full socket buffers; `lost` counts any that were.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "agent/loops.h"
#include "keycast/crypto.h"

namespace keycast::agent {
namespace {

using dataplane::DataPlane;
using dataplane::Direction;
using dataplane::Policy;

constexpr EventId kEvent{1};
constexpr size_t kInFlight = 256;
constexpr size_t kPerIteration = 4096;

IpAddress Ip(const char* t) { return IpAddress::Parse(t).value(); }

double ThreadCpuSeconds(std::thread& t) {
  clockid_t cid;
  if (pthread_getcpuclockid(t.native_handle(), &cid) != 0) return 0;
  timespec ts{};
  clock_gettime(cid, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct Rig {
  Rig() {
    const uint16_t base = uint16_t(30000 + crypto::RandomU64() % 20000);
    group = Ip("239.255.99.1");
    port = base;
    SecurityAssociation sa;
    sa.event = kEvent;
    sa.epoch = Epoch{0, 0};
    sa.spi = Spi{0x4b430001};
    sa.key = crypto::RandomSecret(32);
    sa.initiation = SystemClock::Get().Now() - kMicrosPerSecond;
    sa.lifetime = 3600 * kMicrosPerSecond;
    sa.grace = 2 * kMicrosPerSecond;
    sa.group = group;
    sa.port = port;
    dataplane::DataPlaneOptions o;
    o.export_metrics = false;
    tx = std::move(DataPlane::Create(o)).value();
    rx = std::move(DataPlane::Create(o)).value();
    SecurityAssociation s = sa;
    s.role = Role::kSender;
    s.sender = SenderId{1};
    if (!tx->AddPolicy(Policy::ProtectEvent(s, Direction::kOutbound)).ok() ||
        !tx->InstallSa(s).ok() ||
        !rx->AddPolicy(Policy::ProtectEvent(sa, Direction::kInbound)).ok() ||
        !rx->InstallSa(sa).ok())
      std::abort();
    MulticastOptions mo;
    mo.interface = "lo";
    in_fd = std::move(OpenUdpSocket(Ip("127.0.0.1"), uint16_t(base + 1), mo.buffer_bytes)).value();
    wire_tx = std::move(OpenMulticastSender(group, {}, mo)).value();
    wire_rx = std::move(OpenMulticastReceiver(group, port, {}, mo)).value();
    out_fd = std::move(OpenUdpSocket(Ip("127.0.0.1"), 0, mo.buffer_bytes)).value();
    sink = std::move(OpenUdpSocket(Ip("127.0.0.1"), uint16_t(base + 2), mo.buffer_bytes)).value();
    gen = std::move(OpenUdpSocket(Ip("127.0.0.1"), 0, mo.buffer_bytes)).value();
    to_sender = std::move(ToSocketAddress(Ip("127.0.0.1"), uint16_t(base + 1))).value();
    address = internal::EventAddress{kEvent, group, port, {}};
    wire = internal::WireTarget{kEvent, wire_tx.get(),
                                std::move(ToSocketAddress(group, port)).value(), &counters};
    internal::ReceiveOutput out;
    out.fd = out_fd.get();
    out.local = std::move(ToSocketAddress(Ip("127.0.0.1"), uint16_t(base + 2))).value();
    send_loop = std::thread([this] {
      internal::RunRelaySend(stop, in_fd.get(), address, wire, *tx, SystemClock::Get());
    });
    receive_loop = std::thread([this, out] {
      internal::RunReceive(stop, wire_rx.get(), address, out, &rx_counters, *rx,
                           SystemClock::Get());
    });
    sink_thread = std::thread([this] {
      std::vector<uint8_t> buf(64 * 2048);
      std::array<mmsghdr, 64> m{};
      std::array<iovec, 64> iov{};
      while (!stop) {
        for (size_t i = 0; i < m.size(); ++i) {
          iov[i] = iovec{buf.data() + i * 2048, 2048};
          m[i].msg_hdr = msghdr{};
          m[i].msg_hdr.msg_iov = &iov[i];
          m[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::recvmmsg(sink.get(), m.data(), unsigned(m.size()), MSG_WAITFORONE, nullptr);
        if (n > 0) delivered.fetch_add(uint64_t(n));
      }
    });
  }
  ~Rig() {
    stop = true;
    send_loop.join();
    receive_loop.join();
    sink_thread.join();
  }

  // Sends `count` datagrams of `size` bytes, at most kInFlight in flight;
  // waits for them (up to 2 s after the last). Returns how many were lost.
  uint64_t Run(size_t count, size_t size) {
    std::vector<uint8_t> payload(size, 0x5a);
    std::array<mmsghdr, 32> m{};
    std::array<iovec, 32> iov{};
    for (size_t i = 0; i < m.size(); ++i) {
      iov[i] = iovec{payload.data(), size};
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = const_cast<sockaddr*>(to_sender.get());
      m[i].msg_hdr.msg_namelen = to_sender.length;
    }
    const uint64_t start = delivered.load();
    uint64_t sent = 0;
    while (sent < count) {
      while (sent - (delivered.load() - start) > kInFlight - m.size()) std::this_thread::yield();
      size_t batch = std::min(m.size(), count - sent);
      int n = ::sendmmsg(gen.get(), m.data(), unsigned(batch), 0);
      if (n > 0) sent += uint64_t(n);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (delivered.load() - start < sent && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    return sent - (delivered.load() - start);
  }

  IpAddress group;
  uint16_t port = 0;
  std::unique_ptr<DataPlane> tx, rx;
  Fd in_fd, wire_tx, wire_rx, out_fd, sink, gen;
  SocketAddress to_sender;
  internal::EventAddress address;
  internal::WireTarget wire;
  internal::AtomicCounters counters, rx_counters;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> delivered{0};
  std::thread send_loop, receive_loop, sink_thread;
};

void BM_RelayLoopback(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  Rig rig;
  rig.Run(kInFlight, size);  // warm up: keys, caches, socket buffers
  double send_cpu0 = ThreadCpuSeconds(rig.send_loop),
         recv_cpu0 = ThreadCpuSeconds(rig.receive_loop);
  uint64_t lost = 0, packets = 0;
  for (auto _ : state) {
    lost += rig.Run(kPerIteration, size);
    packets += kPerIteration;
  }
  double send_cpu = ThreadCpuSeconds(rig.send_loop) - send_cpu0;
  double recv_cpu = ThreadCpuSeconds(rig.receive_loop) - recv_cpu0;
  state.SetItemsProcessed(int64_t(packets));
  state.SetBytesProcessed(int64_t(packets * size));
  state.counters["send_pps_per_core"] = send_cpu > 0 ? double(packets) / send_cpu : 0;
  state.counters["recv_pps_per_core"] = recv_cpu > 0 ? double(packets) / recv_cpu : 0;
  state.counters["lost"] = double(lost);
  if (rig.rx->counters().total_dropped() != 0)
    state.SkipWithError("the receiver dropped datagrams");
}
BENCHMARK(BM_RelayLoopback)
    ->Arg(64)
    ->Arg(512)
    ->Arg(1316)
    ->Arg(1400)
    ->Iterations(25)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace keycast::agent

BENCHMARK_MAIN();
