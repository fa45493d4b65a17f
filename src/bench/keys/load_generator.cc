#include "bench/keys/load_generator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>

#include "bench/rng.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"

namespace keycast::bench {
namespace {

constexpr size_t kBatch = 64;  // datagrams per sendmmsg / recvmmsg
constexpr size_t kMaxDatagram = 2048;
constexpr size_t kReplayRing = 256;  // recent valid datagrams a replay copies

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Micros WallMicros() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<Micros>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Session {
  keyproto::SessionContext ctx;
  keyproto::Request base;        // the credential, filled once
  std::vector<uint32_t> events;  // indexes into the event list
  size_t next_event = 0;
};

struct Slot {
  uint32_t seq = 0;
  bool busy = false;
  bool measured = false;
  bool refresh = false;
  uint32_t session = 0;
  uint32_t socket = 0;
  int64_t sent_ns = 0;
  uint32_t event = 0;  // index into the event list
  Epoch epoch;
  keyproto::Nonce nonce{};
};

Result<std::pair<sockaddr_storage, socklen_t>> Resolve(const std::string& endpoint) {
  auto ep = Endpoint::Parse(endpoint, true);
  if (!ep) return InvalidArgument("'" + endpoint + "' is not host:port");
  auto ip = IpAddress::Parse(ep->host == "localhost" ? "127.0.0.1" : ep->host);
  if (!ip) return InvalidArgument("the key service address must be an IP literal: " + endpoint);
  std::pair<sockaddr_storage, socklen_t> out{};
  if (ip->family == IpAddress::Family::kV4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&out.first);
    a->sin_family = AF_INET;
    a->sin_port = htons(ep->port);
    std::memcpy(&a->sin_addr, ip->bytes, 4);
    out.second = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.first);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(ep->port);
    std::memcpy(&a->sin6_addr, ip->bytes, 16);
    out.second = sizeof(sockaddr_in6);
  }
  return out;
}

class Worker {
 public:
  Worker(const LoadOptions& o, const std::vector<FixtureEvent>& events, size_t threads,
         size_t index, uint64_t seed)
      : o_(o), events_(events), rng_(seed), epochs_(events.size()) {
    rate_ = o.rate / static_cast<double>(threads);
    max_measured_ = (o.max_requests + threads - 1) / threads;
    bad_per_valid_ = o.bad_fraction > 0 ? o.bad_fraction / (1 - o.bad_fraction) : 0;
    (void)index;
  }
  ~Worker() {
    for (int fd : fds_) ::close(fd);
    if (epoll_ >= 0) ::close(epoll_);
  }

  Status Init(const std::vector<const SimTicket*>& tickets, size_t sockets,
              const sockaddr_storage& to, socklen_t to_len) {
    std::unordered_map<int64_t, uint32_t> event_index;
    for (size_t i = 0; i < events_.size(); ++i)
      event_index[events_[i].id.value] = static_cast<uint32_t>(i);
    sessions_.reserve(tickets.size());
    for (const SimTicket* t : tickets) {
      Session s{keyproto::SessionContext(t->keys), {}, {}, 0};
      s.base.credential = t->credential;
      for (EventId e : t->events) {
        auto it = event_index.find(e.value);
        if (it != event_index.end()) s.events.push_back(it->second);
      }
      if (s.events.empty()) return InvalidArgument("a ticket lists none of the benchmark's events");
      sessions_.push_back(std::move(s));
    }
    for (size_t i = 0; i < sockets; ++i) {
      int fd = ::socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
      fds_.push_back(fd);
      int buf = 4 << 20;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), to_len) != 0)
        return Unavailable(std::string("connect: ") + std::strerror(errno));
    }
    // epoll, not poll: a wake-up per answer is the generator's main cost at
    // moderate rates, and poll re-registers every socket on every call.
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return Internal(std::string("epoll_create1: ") + std::strerror(errno));
    for (size_t i = 0; i < fds_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fds_[i], &ev) != 0)
        return Internal(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    inflight_.assign(sockets, 0);
    out_.resize(sockets);
    size_t slots = rate_ > 0 ? static_cast<size_t>(rate_ * (o_.timeout_ms / 1000.0 + 0.25)) + 1024
                             : sockets * o_.window;
    slots_.resize(std::min<size_t>(slots, 1u << 22));
    for (size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
    in_bufs_.resize(kBatch);
    return Status::Ok();
  }

  // Runs from t_start; counts what is sent in [t_measure, t_end); then waits
  // for the answers still due, up to the timeout.
  void Run(int64_t t_start, int64_t t_measure, int64_t t_end, std::atomic<size_t>* done_sending) {
    const int64_t timeout_ns = static_cast<int64_t>(o_.timeout_ms) * 1'000'000;
    int64_t drain_end = t_end + timeout_ns;
    bool was_sending = true;
    while (MonoNs() < t_start) std::this_thread::sleep_for(std::chrono::microseconds(100));
    epoll_event events[64];
    for (;;) {
      int64_t now = MonoNs();
      Expire(now, timeout_ns);
      bool sending = now < t_end && measured_sent_ < max_measured_;
      if (sending) Send(now, t_start, t_measure);
      if (was_sending && !sending) {
        was_sending = false;
        stopped_ns_ = now;
        drain_end = now + timeout_ns;
        done_sending->fetch_add(1);
      }
      if (!sending && in_flight_total_ == 0) break;
      if (now >= drain_end) break;
      int64_t wait_ns = 1'000'000;
      if (sending && rate_ > 0) {
        int64_t next =
            t_start + static_cast<int64_t>(static_cast<double>(issued_ + 1) * 1e9 / rate_);
        wait_ns = std::clamp<int64_t>(next - now, 0, 1'000'000);
      }
      timespec ts{0, static_cast<long>(wait_ns)};
      int n = ::epoll_pwait2(epoll_, events, 64, &ts, nullptr);
      for (int i = 0; i < n; ++i) Receive(static_cast<size_t>(events[i].data.u64));
    }
    // Whatever is still out has had its timeout (or the run was cut short).
    for (auto& s : slots_)
      if (s.busy && s.measured) ++r_.lost;
  }

  LoadResult& result() { return r_; }
  int64_t stopped_ns() const { return stopped_ns_; }
  std::vector<int64_t>& latencies() { return latencies_; }

 private:
  void Send(int64_t now, int64_t t_start, int64_t t_measure) {
    Micros wall = WallMicros();
    int64_t second = wall / kMicrosPerSecond;
    if (second != epoch_second_) {
      epoch_second_ = second;
      for (size_t i = 0; i < events_.size(); ++i) {
        auto e = EpochAt(events_[i].schedule, events_[i].interval_seconds, second);
        epochs_[i] = e.value_or(Epoch{});
      }
    }
    bool measured = now >= t_measure;
    if (rate_ > 0) {
      auto due = static_cast<uint64_t>(static_cast<double>(now - t_start) * rate_ / 1e9);
      size_t budget = due > issued_ ? std::min<uint64_t>(due - issued_, 512) : 0;
      for (size_t k = 0; k < budget; ++k) {
        ++issued_;
        if (measured && measured_sent_ >= max_measured_) break;
        size_t s = next_socket_++ % fds_.size();
        if (!AddValid(s, now, wall, measured)) ++r_.no_slot;
      }
    } else {
      for (size_t s = 0; s < fds_.size(); ++s) {
        while (inflight_[s] < o_.window && !(measured && measured_sent_ >= max_measured_))
          if (!AddValid(s, now, wall, measured)) break;
      }
    }
    Flush();
  }

  bool AddValid(size_t socket, int64_t now, Micros wall, bool measured) {
    if (free_.empty()) return false;
    uint32_t si = free_.back();
    free_.pop_back();
    Slot& slot = slots_[si];
    uint32_t sess = static_cast<uint32_t>(next_session_++ % sessions_.size());
    Session& ss = sessions_[sess];
    keyproto::Request& q = ss.base;
    slot.seq++;
    slot.busy = true;
    slot.measured = measured;
    slot.session = sess;
    slot.socket = static_cast<uint32_t>(socket);
    slot.sent_ns = now;
    slot.event = ss.events[ss.next_event++ % ss.events.size()];
    slot.refresh = rng_.Unit() < o_.refresh_fraction;
    // Unique per request (slot, sequence), the rest random.
    StoreBe32(slot.nonce.data(), si);
    StoreBe32(slot.nonce.data() + 4, slot.seq);
    StoreBe64(slot.nonce.data() + 8, rng_.Next());
    q.client_nonce = slot.nonce;
    q.timestamp = wall;
    q.event = events_[slot.event].id;
    q.kind = slot.refresh ? keyproto::RequestKind::kRefresh : keyproto::RequestKind::kInitial;
    q.epoch = slot.refresh ? epochs_[slot.event] : Epoch{};
    slot.epoch = q.epoch;
    Bytes dgram = ss.ctx.EncodeRequest(q);
    if (bad_per_valid_ > 0) {
      replay_ring_[replay_next_ % kReplayRing] = {dgram, socket};
      ++replay_next_;
    }
    out_[socket].push_back(std::move(dgram));
    inflight_[socket]++;
    in_flight_total_++;
    fifo_.emplace_back(si, slot.seq);
    if (measured) ++measured_sent_;
    if (bad_per_valid_ > 0) {
      bad_credit_ += bad_per_valid_;
      while (bad_credit_ >= 1) {
        bad_credit_ -= 1;
        AddBad();
      }
    }
    return true;
  }

  void AddBad() {
    int kind = static_cast<int>(rng_.Below(kBadKinds));
    size_t socket = rng_.Below(fds_.size());
    Bytes d;
    if (kind == kReplayed && replay_next_ > 0) {
      auto& [bytes, s] = replay_ring_[rng_.Below(std::min(replay_next_, kReplayRing))];
      d = bytes;  // an exact copy, on the socket the original went out on
      socket = s;
    } else if (kind == kBitFlip) {
      Session& ss = sessions_[rng_.Below(sessions_.size())];
      keyproto::Request& q = ss.base;
      crypto::RandomFill(q.client_nonce);
      q.timestamp = WallMicros();
      q.event = events_[ss.events[0]].id;
      q.kind = keyproto::RequestKind::kInitial;
      q.epoch = Epoch{};
      d = ss.ctx.EncodeRequest(q);
      size_t bit = rng_.Below(d.size() * 8);
      d[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    } else {
      kind = kGarbage;
      d.resize(1 + rng_.Below(400));
      for (auto& b : d) b = static_cast<uint8_t>(rng_.Next());
      if (d.size() >= keyproto::kHeaderSize && rng_.Below(2) == 0) {
        // Half of it gets past the header check, into the request parser.
        const uint8_t hdr[] = {'K', 'C', 'K', keyproto::kVersion, 1, 0};
        std::memcpy(d.data(), hdr, sizeof hdr);
      }
    }
    r_.bad_sent[kind]++;
    out_[socket].push_back(std::move(d));
  }

  // Sends everything queued, per socket in sendmmsg batches. A datagram the
  // kernel refuses is counted; its request then times out as lost.
  void Flush() {
    for (size_t s = 0; s < fds_.size(); ++s) {
      auto& q = out_[s];
      for (size_t off = 0; off < q.size();) {
        size_t n = std::min(kBatch, q.size() - off);
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        for (size_t i = 0; i < n; ++i) {
          iov[i] = {q[off + i].data(), q[off + i].size()};
          msgs[i] = {};
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int sent = ::sendmmsg(fds_[s], msgs, static_cast<unsigned>(n), 0);
        if (sent < 0) sent = 0;
        if (static_cast<size_t>(sent) < n) {
          r_.send_errors += n - static_cast<size_t>(sent);
          if (r_.first_failure.empty())
            r_.first_failure = std::string("send: ") + std::strerror(errno);
        }
        off += n;
      }
      q.clear();
    }
  }

  void Receive(size_t socket) {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    for (;;) {
      for (size_t i = 0; i < kBatch; ++i) {
        iov[i] = {in_bufs_[i].data(), in_bufs_[i].size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int n = ::recvmmsg(fds_[socket], msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      int64_t now = MonoNs();
      for (int i = 0; i < n; ++i) OnReply(ByteView(in_bufs_[i].data(), msgs[i].msg_len), now);
      if (static_cast<size_t>(n) < kBatch) return;
    }
  }

  void OnReply(ByteView msg, int64_t now) {
    constexpr size_t kNonceAt = keyproto::kHeaderSize;
    if (msg.size() < kNonceAt + keyproto::kNonceSize ||
        keyproto::PeekType(msg) != keyproto::MessageType::kReply) {
      ++r_.unmatched;
      return;
    }
    uint32_t si = LoadBe32(msg.data() + kNonceAt);
    if (si >= slots_.size()) {
      ++r_.unmatched;
      return;
    }
    Slot& slot = slots_[si];
    if (!slot.busy ||
        std::memcmp(slot.nonce.data(), msg.data() + kNonceAt, keyproto::kNonceSize) != 0) {
      ++r_.unmatched;
      return;
    }
    slot.busy = false;
    free_.push_back(si);
    inflight_[slot.socket]--;
    in_flight_total_--;
    auto rep = sessions_[slot.session].ctx.OpenReply(msg, slot.nonce);
    if (!slot.measured) return;
    if (!rep.ok()) {
      Fail("reply does not open: " + rep.status().message());
      return;
    }
    if (rep->status != keyproto::ReplyStatus::kOk) {
      ++r_.refused;
      r_.refusals[std::string(keyproto::ReplyStatusName(rep->status))]++;
      if (r_.first_failure.empty()) r_.first_failure = "refused: " + rep->reason;
      return;
    }
    const FixtureEvent& ev = events_[slot.event];
    if (rep->event != ev.id || rep->sas.size() != 1) {
      Fail("reply names another event or carries " + std::to_string(rep->sas.size()) + " SAs");
      return;
    }
    const SecurityAssociation& sa = rep->sas[0];
    if (sa.clear || sa.key.size() != 32 || sa.spi.value < 256 || sa.event != ev.id ||
        sa.role != Role::kReceiver || (slot.refresh && sa.epoch != slot.epoch) ||
        sa.lifetime <= 0) {
      Fail("reply's SA does not check out");
      return;
    }
    ++r_.ok;
    latencies_.push_back(now - slot.sent_ns);
  }

  void Fail(const std::string& why) {
    ++r_.verify_failures;
    if (r_.first_failure.empty()) r_.first_failure = why;
  }

  void Expire(int64_t now, int64_t timeout_ns) {
    while (!fifo_.empty()) {
      auto [si, seq] = fifo_.front();
      Slot& s = slots_[si];
      if (s.busy && s.seq == seq) {
        if (now - s.sent_ns < timeout_ns) return;
        s.busy = false;
        free_.push_back(si);
        inflight_[s.socket]--;
        in_flight_total_--;
        if (s.measured) ++r_.lost;
      }
      fifo_.pop_front();
    }
  }

  const LoadOptions& o_;
  const std::vector<FixtureEvent>& events_;
  Rng rng_;
  double rate_ = 0;
  size_t max_measured_ = 0;
  double bad_per_valid_ = 0, bad_credit_ = 0;
  std::vector<Session> sessions_;
  std::vector<int> fds_;
  int epoll_ = -1;
  std::vector<size_t> inflight_;
  size_t in_flight_total_ = 0;
  std::vector<std::vector<Bytes>> out_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::deque<std::pair<uint32_t, uint32_t>> fifo_;
  std::vector<std::array<uint8_t, kMaxDatagram>> in_bufs_;
  std::array<std::pair<Bytes, size_t>, kReplayRing> replay_ring_;
  size_t replay_next_ = 0;
  std::vector<Epoch> epochs_;
  int64_t epoch_second_ = -1;
  uint64_t issued_ = 0;
  int64_t stopped_ns_ = 0;
  size_t measured_sent_ = 0;
  size_t next_socket_ = 0, next_session_ = 0;
  LoadResult r_;
  std::vector<int64_t> latencies_;
};

LatencySummary Summarize(std::vector<int64_t>& ns) {
  LatencySummary s;
  s.n = ns.size();
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(ns.size())));
    i = std::min(ns.size() - 1, i == 0 ? 0 : i - 1);
    return static_cast<double>(ns[i]) / 1000.0;
  };
  double sum = 0;
  for (int64_t v : ns) sum += static_cast<double>(v);
  s.mean = sum / static_cast<double>(ns.size()) / 1000.0;
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = static_cast<double>(ns.back()) / 1000.0;
  return s;
}

}  // namespace

std::string BadKindName(int kind) {
  switch (kind) {
    case kGarbage:
      return "garbage";
    case kBitFlip:
      return "bit-flipped";
    case kReplayed:
      return "replayed";
    default:
      return "?";
  }
}

Result<LoadResult> RunLoad(const std::vector<SimTicket>& tickets,
                           const std::vector<FixtureEvent>& events, const LoadOptions& o) {
  if (tickets.empty() || events.empty())
    return InvalidArgument("no tickets or no events to load with");
  if (o.threads < 1 || o.threads > 64) return InvalidArgument("threads must be 1-64");
  if (o.sockets < o.threads || o.sockets > 4096)
    return InvalidArgument("sockets must be threads-4096");
  if (o.rate < 0 || o.rate > 10'000'000)
    return InvalidArgument("rate must be 0 (closed loop) to 10^7 per second");
  if (o.rate == 0 && (o.window < 1 || o.window > 4096))
    return InvalidArgument("window must be 1-4096");
  if (o.seconds <= 0 || o.seconds > 600 || o.warmup_seconds < 0 || o.warmup_seconds > 60)
    return InvalidArgument("seconds must be in (0, 600], warmup in [0, 60]");
  if (o.bad_fraction < 0 || o.bad_fraction > 0.9)
    return InvalidArgument("bad fraction must be in [0, 0.9]");
  if (o.timeout_ms < 1 || o.timeout_ms > 60'000)
    return InvalidArgument("timeout must be 1-60000 ms");
  KC_ASSIGN_OR_RETURN(auto to, Resolve(o.endpoint));
  uint64_t seed = o.seed != 0 ? o.seed : crypto::RandomU64();

  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t w = 0; w < o.threads; ++w) {
    std::vector<const SimTicket*> mine;
    for (size_t i = w; i < tickets.size(); i += o.threads) mine.push_back(&tickets[i]);
    if (mine.empty()) mine.push_back(&tickets[w % tickets.size()]);
    size_t sockets = o.sockets / o.threads + (w < o.sockets % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(o, events, o.threads, w, seed + 7919 * w));
    KC_RETURN_IF_ERROR(workers.back()->Init(mine, sockets, to.first, to.second));
  }
  int64_t t_start = MonoNs() + 1'000'000;
  int64_t t_measure = t_start + static_cast<int64_t>(o.warmup_seconds * 1e9);
  int64_t t_end = t_measure + static_cast<int64_t>(o.seconds * 1e9);
  double cpu0 = 0;
  std::vector<std::thread> threads;
  std::atomic<size_t> done_sending{0};
  for (auto& w : workers)
    threads.emplace_back([&, wp = w.get()] { wp->Run(t_start, t_measure, t_end, &done_sending); });
  // The CPU of the measured phase: sample at its start and at its end, which
  // comes early when every worker has sent its share of max_requests.
  std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, t_measure - MonoNs())));
  cpu0 = ProcessCpuSeconds();
  if (o.on_phase_start) o.on_phase_start();
  while (MonoNs() < t_end && done_sending.load() < workers.size())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double cpu1 = ProcessCpuSeconds();
  if (o.on_phase_end) o.on_phase_end();
  for (auto& t : threads) t.join();
  int64_t measured_end = t_measure;
  for (auto& w : workers) measured_end = std::max(measured_end, std::min(w->stopped_ns(), t_end));

  LoadResult r;
  std::vector<int64_t> all;
  for (auto& w : workers) {
    const LoadResult& p = w->result();
    r.ok += p.ok;
    r.refused += p.refused;
    r.verify_failures += p.verify_failures;
    r.lost += p.lost;
    r.unmatched += p.unmatched;
    r.send_errors += p.send_errors;
    r.no_slot += p.no_slot;
    for (int k = 0; k < kBadKinds; ++k) r.bad_sent[k] += p.bad_sent[k];
    for (auto& [k, v] : p.refusals) r.refusals[k] += v;
    if (r.first_failure.empty()) r.first_failure = p.first_failure;
    all.insert(all.end(), w->latencies().begin(), w->latencies().end());
  }
  r.sent = r.ok + r.refused + r.verify_failures + r.lost;
  r.seconds = static_cast<double>(measured_end - t_measure) / 1e9;
  r.generator_cpu_seconds = cpu1 - cpu0;
  r.latency = Summarize(all);
  return r;
}

}  // namespace keycast::bench
