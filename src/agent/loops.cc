#include "agent/loops.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "keycast/agent/ip_packet.h"

namespace keycast::agent::internal {

namespace {

using dataplane::DataPlane;
using dataplane::Flow;
using dataplane::NextHeader;
using dataplane::Verdict;

// A batch of datagram buffers, each with headroom in front (so IP/UDP
// headers can be prepended, or a security header written, in place).
// Allocated once per loop.
struct Batch {
  static constexpr size_t kSize = 32;
  static constexpr size_t kHeadroom = 64;  // >= the largest IP + UDP headers (48)
  static constexpr size_t kRoom =
      kMaxIpPacketSize + 1;  // one more than any datagram: overlong is visible
  static constexpr size_t kSlot = kHeadroom + dataplane::kHeaderSize + kRoom + 64;
  static constexpr size_t kControl = 64;

  Batch() : storage(kSize * kSlot) {
    std::memset(in.data(), 0, sizeof(in));
    std::memset(out.data(), 0, sizeof(out));
  }
  uint8_t* slot(size_t i) { return storage.data() + i * kSlot; }

  std::vector<uint8_t> storage;
  std::array<mmsghdr, kSize> in;
  std::array<iovec, kSize> in_iov;
  std::array<sockaddr_storage, kSize> from;
  std::array<std::array<uint8_t, kControl>, kSize> control;
  std::array<mmsghdr, kSize> out;
  std::array<iovec, kSize> out_iov;
};

// Sends out[0, n) completely (sendmmsg may stop early); counts failures.
void SendAll(int fd, mmsghdr* out, size_t n, std::atomic<uint64_t>* ok,
             std::atomic<uint64_t>* failed) {
  size_t done = 0;
  while (done < n) {
    int r = ::sendmmsg(fd, out + done, unsigned(n - done), 0);
    if (r > 0) {
      done += size_t(r);
      ok->fetch_add(uint64_t(r), std::memory_order_relaxed);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    // The first datagram failed (no buffer, unreachable, ...): skip it.
    failed->fetch_add(1, std::memory_order_relaxed);
    ++done;
  }
}

// Receives a batch; returns how many (0 on timeout or interruption).
int ReceiveBatch(int fd, Batch& b, size_t offset, bool want_addresses) {
  for (size_t i = 0; i < Batch::kSize; ++i) {
    b.in_iov[i] = iovec{b.slot(i) + offset, Batch::kRoom};
    msghdr& h = b.in[i].msg_hdr;
    h.msg_iov = &b.in_iov[i];
    h.msg_iovlen = 1;
    h.msg_name = want_addresses ? &b.from[i] : nullptr;
    h.msg_namelen = want_addresses ? sizeof(sockaddr_storage) : 0;
    h.msg_control = want_addresses ? b.control[i].data() : nullptr;
    h.msg_controllen = want_addresses ? Batch::kControl : 0;
    h.msg_flags = 0;
  }
  int n = ::recvmmsg(fd, b.in.data(), Batch::kSize, MSG_WAITFORONE, nullptr);
  return n < 0 ? 0 : n;
}

void Queue(Batch& b, size_t* m, ByteView data, const SocketAddress* to) {
  b.out_iov[*m] = iovec{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr& h = b.out[*m].msg_hdr;
  h = msghdr{};
  h.msg_iov = &b.out_iov[*m];
  h.msg_iovlen = 1;
  if (to) {
    h.msg_name = const_cast<sockaddr*>(to->get());
    h.msg_namelen = to->length;
  }
  ++*m;
}

// Sends what DataPlane::Flush hands over (a signed batch: its manifest
// copies, then its packets), in order, Batch::kSize at a time.
class WireSink : public dataplane::PacketSink {
 public:
  WireSink(Batch& b, const WireTarget& wire) : b_(b), wire_(wire) {}
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t at = 0; at < count; at += Batch::kSize) {
      size_t m = 0;
      for (size_t i = at; i < count && m < Batch::kSize; ++i)
        Queue(b_, &m, packets[i], &wire_.destination);
      SendAll(wire_.fd, b_.out.data(), m, &wire_.counters->sent, &wire_.counters->io_errors);
    }
  }

 private:
  Batch& b_;
  const WireTarget& wire_;
};

// TUN mode: sends a signed batch of one event to its wire target.
class TargetSink : public dataplane::PacketSink {
 public:
  explicit TargetSink(const WireTarget& t) : t_(t) {}
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t i = 0; i < count; ++i) {
      if (::sendto(t_.fd, packets[i].data(), packets[i].size(), 0, t_.destination.get(),
                   t_.destination.length) == ssize_t(packets[i].size()))
        t_.counters->sent.fetch_add(1, std::memory_order_relaxed);
      else
        t_.counters->io_errors.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  const WireTarget& t_;
};

// An authentic inner IP packet must be a UDP datagram of the event: to its
// group and port, from its source when it names one. Anything else (a
// member trying to inject into another flow of the receiving host) is
// refused.
bool InnerBelongsToEvent(const UdpPacket& u, const EventAddress& ev) {
  return u.destination == ev.group && (ev.port == 0 || u.destination_port == ev.port) &&
         (ev.source.empty() || u.source == ev.source);
}

}  // namespace

void RunRelaySend(const std::atomic<bool>& stop, int in_fd, const EventAddress& ev,
                  const WireTarget& wire, DataPlane& dp, const Clock& clock) {
  auto b = std::make_unique<Batch>();
  Flow flow;
  flow.source = ev.source;
  flow.destination = ev.group;
  flow.destination_port = ev.port;
  AtomicCounters& c = *wire.counters;
  // Plaintext lands right after the room for the security header, so
  // Protect seals in place.
  const size_t payload_at = Batch::kHeadroom + dataplane::kHeaderSize;
  // Source authentication: batches wait for their signed manifest; a due
  // batch goes out when no datagram came to fill it (docs/packet-format.md).
  WireSink sink(*b, wire);
  while (!stop.load(std::memory_order_relaxed)) {
    if (std::optional<Micros> due = dp.NextFlushAt(wire.event)) {
      Micros wait = *due - clock.Now();
      pollfd pfd{in_fd, POLLIN, 0};
      if (wait <= 0 || ::poll(&pfd, 1, int((wait + 999) / 1000)) <= 0) {
        dp.Flush(wire.event, clock.Now(), sink);
        continue;
      }
    }
    int n = ReceiveBatch(in_fd, *b, payload_at, false);
    if (n == 0) continue;
    c.received.fetch_add(uint64_t(n), std::memory_order_relaxed);
    const Micros now = clock.Now();
    size_t m = 0;
    for (int i = 0; i < n; ++i) {
      uint8_t* p = b->slot(size_t(i)) + Batch::kHeadroom;
      ByteView datagram(p + dataplane::kHeaderSize, b->in[size_t(i)].msg_len);
      auto r = dp.Protect(flow, datagram, MutableByteView(p, DataPlane::kMaxPacketSize), now);
      if (r.verdict == Verdict::kProtected || r.verdict == Verdict::kClear) {
        Queue(*b, &m, r.packet, &wire.destination);
      } else if (r.verdict == Verdict::kQueued && r.flush) {
        // A full signed batch: what is queued first, then the batch.
        SendAll(wire.fd, b->out.data(), m, &c.sent, &c.io_errors);
        m = 0;
        dp.Flush(r.event, now, sink);
      } else if (r.verdict == Verdict::kBypass) {
        // The relay carries only its event's traffic: it never sends plaintext.
        c.inner_rejected.fetch_add(1, std::memory_order_relaxed);
      }
    }
    SendAll(wire.fd, b->out.data(), m, &c.sent, &c.io_errors);
    dp.Flush(wire.event, clock.Now(), sink);  // only batches that are due
  }
  dp.Flush(wire.event, clock.Now(), sink, /*all=*/true);
}

void RunReceive(const std::atomic<bool>& stop, int wire_fd, const EventAddress& ev,
                const ReceiveOutput& out, AtomicCounters* counters, DataPlane& dp,
                const Clock& clock) {
  auto b = std::make_unique<Batch>();
  AtomicCounters& c = *counters;
  uint16_t ip_id = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    int n = ReceiveBatch(wire_fd, *b, Batch::kHeadroom, true);
    if (n == 0) continue;
    c.received.fetch_add(uint64_t(n), std::memory_order_relaxed);
    const Micros now = clock.Now();
    size_t m = 0;
    for (int i = 0; i < n; ++i) {
      const msghdr& h = b->in[size_t(i)].msg_hdr;
      uint8_t* p = b->slot(size_t(i)) + Batch::kHeadroom;
      size_t len = b->in[size_t(i)].msg_len;
      if (h.msg_flags & MSG_TRUNC) len = Batch::kRoom;  // overlong: let Open refuse it
      Flow flow;
      flow.source = FromSocketAddress(b->from[size_t(i)], &flow.source_port);
      flow.destination = PacketDestination(h);
      if (flow.destination.empty()) flow.destination = ev.group;
      flow.destination_port = ev.port;  // the wire port stands for the event's port
      auto r = dp.Open(flow, MutableByteView(p, len), now);
      if (r.verdict == Verdict::kDrop) continue;      // counted by the data plane
      if (r.verdict == Verdict::kConsumed) continue;  // a manifest: nothing to deliver
      if (r.verdict == Verdict::kBypass) {            // no policy for it: not ours to deliver
        c.inner_rejected.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ByteView payload(r.payload.data(), r.payload.size());
      bool whole_packet = false;
      if (r.verdict == Verdict::kOpened &&
          (r.next_header == NextHeader::kIpv4Packet || r.next_header == NextHeader::kIpv6Packet)) {
        UdpPacket u;
        const char* why = nullptr;
        if (ParseUdpPacket(payload, &u, &why) != IpParseResult::kOk ||
            !InnerBelongsToEvent(u, ev) ||
            (r.next_header == NextHeader::kIpv4Packet) !=
                (u.destination.family == IpAddress::Family::kV4)) {
          c.inner_rejected.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (out.tun) {
          whole_packet = true;
          payload = ByteView(payload.data(), u.payload_offset + u.payload.size());
        } else {
          payload = u.payload;
        }
      }
      if (!out.tun) {
        Queue(*b, &m, payload, &out.local);
        continue;
      }
      if (!whole_packet) {
        // A bare payload (relay sender, or a clear interval): rebuild the
        // datagram as the sender's host would have sent it to the group.
        UdpHeaderFields f;
        f.source = flow.source;
        f.destination = ev.group;
        f.source_port = flow.source_port;
        f.destination_port = ev.port;
        f.ip_id = ++ip_id;
        size_t hs = UdpHeadersSize(ev.group.family);
        uint8_t* start = const_cast<uint8_t*>(payload.data()) - hs;
        if (f.source.family != f.destination.family || WriteUdpHeaders(f, payload, start) == 0) {
          c.inner_rejected.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        payload = ByteView(start, hs + payload.size());
      }
      if (out.tun->Write(payload))
        c.delivered.fetch_add(1, std::memory_order_relaxed);
      else
        c.io_errors.fetch_add(1, std::memory_order_relaxed);
    }
    if (!out.tun) SendAll(out.fd, b->out.data(), m, &c.delivered, &c.io_errors);
  }
}

void RunTunSend(const std::atomic<bool>& stop, TunDevice& tun, const WireTargets& targets,
                int bypass_fd, TunCounters* counters, DataPlane& dp, const Clock& clock) {
  std::vector<uint8_t> buffer(Batch::kSlot);
  uint8_t* p = buffer.data() + Batch::kHeadroom;
  uint8_t* packet_at = p + dataplane::kHeaderSize;
  // Source authentication: sends every event's due signed batches, and
  // says how long the next read may wait (ms) for the next one to fall due.
  auto flush_due = [&](bool all) {
    int wait_ms = 200;
    targets.ForEach([&](const WireTarget& t) {
      TargetSink sink(t);
      dp.Flush(t.event, clock.Now(), sink, all);
      if (std::optional<Micros> due = dp.NextFlushAt(t.event))
        wait_ms = std::clamp(int((*due - clock.Now() + 999) / 1000), 1, wait_ms);
    });
    return wait_ms;
  };
  int wait_ms = 200;
  while (!stop.load(std::memory_order_relaxed)) {
    long n = tun.Read(MutableByteView(packet_at, kMaxIpPacketSize), wait_ms);
    wait_ms = flush_due(false);
    if (n <= 0) continue;
    ByteView packet(packet_at, size_t(n));
    UdpPacket u;
    const char* why = nullptr;
    if (ParseUdpPacket(packet, &u, &why) != IpParseResult::kOk) {
      // IGMP / MLD reports for the memberships on the TUN, and the like.
      counters->ignored.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    Flow flow;
    flow.source = u.source;
    flow.destination = u.destination;
    flow.source_port = u.source_port;
    flow.destination_port = u.destination_port;
    const bool v4 = u.destination.family == IpAddress::Family::kV4;
    auto r = dp.ProtectIpPacket(flow, packet, u.payload_offset,
                                MutableByteView(p, DataPlane::kMaxPacketSize), clock.Now(),
                                v4 ? NextHeader::kIpv4Packet : NextHeader::kIpv6Packet);
    if (r.verdict == Verdict::kBypass) {
      // No selector: pass it on unchanged, out of the wire interface.
      auto to = ToSocketAddress(u.destination, 0);
      if (v4 && bypass_fd >= 0 && to.ok() &&
          ::sendto(bypass_fd, packet.data(), packet.size(), 0, to->get(), to->length) ==
              ssize_t(packet.size()))
        counters->bypassed.fetch_add(1, std::memory_order_relaxed);
      else
        counters->ignored.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (r.verdict == Verdict::kQueued) {  // signed: sent by flush_due, after its manifest
      WireTarget t;
      if (targets.Find(r.event, &t)) t.counters->received.fetch_add(1, std::memory_order_relaxed);
      wait_ms = flush_due(false);
      continue;
    }
    if (r.verdict != Verdict::kProtected && r.verdict != Verdict::kClear)
      continue;  // dropped, counted
    WireTarget t;
    if (!targets.Find(r.event, &t)) continue;
    t.counters->received.fetch_add(1, std::memory_order_relaxed);
    if (::sendto(t.fd, r.packet.data(), r.packet.size(), 0, t.destination.get(),
                 t.destination.length) == ssize_t(r.packet.size()))
      t.counters->sent.fetch_add(1, std::memory_order_relaxed);
    else
      t.counters->io_errors.fetch_add(1, std::memory_order_relaxed);
  }
  flush_due(true);
}

}  // namespace keycast::agent::internal
