#include "keycast/conn_gate.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "keycast/metrics.h"
#include "keycast/peer_key.h"

namespace keycast {
namespace {

// Deadlines are checked by a sweep this often, so each one holds to within
// this much.
constexpr int kSweepMs = 50;
// After its last answer a closing connection is shut down for writing and
// read (and discarded) for this long, so the peer reads the answer instead
// of a reset caused by bytes it sent that nobody read.
constexpr int64_t kLingerMs = 1000;
// Answers of the gate's own refusals get at most this long to go out.
constexpr int64_t kRefusalWriteMs = 1000;
constexpr int64_t kAcceptPauseMs = 100;  // after EMFILE and the like
constexpr size_t kReadChunk = 16 * 1024;
constexpr int kAcceptBurst = 64;  // accepts per loop iteration

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AddressText(const sockaddr_storage& ss, std::string* ip, int* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    *port = ntohs(a->sin6_port);
  }
  *ip = buf;
}

// A fixed set of threads taking jobs from a queue, with a bound on the jobs
// outstanding (queued or running).
class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t max_queued) : n_(std::max<size_t>(threads, 1)) {
    limit_ = max_queued > SIZE_MAX - n_ ? SIZE_MAX : n_ + max_queued;
    for (size_t i = 0; i < n_; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Shutdown(); }

  // False when limit_ jobs are outstanding.
  bool TryPost(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (outstanding_ >= limit_) return false;
      ++outstanding_;
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

  // Runs the jobs still queued, then joins the threads.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      l.unlock();
      fn();
      l.lock();
      --outstanding_;
    }
  }

  const size_t n_;
  size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t outstanding_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

struct Conn {
  enum class State : uint8_t {
    kReading,     // waiting for the bytes of a message
    kProcessing,  // a worker has the message; the loop does not touch `in`
    kWriting,     // writing the answer
    kLinger,      // answered, shut down for writing, draining before close
  };
  enum class Phase : uint8_t { kIdle, kHead, kBody };

  int fd = -1;
  SSL* ssl = nullptr;
  PeerKey key;
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
  std::string peer_ip, local_ip;
  int peer_port = 0, local_port = 0;

  State state = State::kReading;
  Phase phase = Phase::kHead;  // a new connection owes its first head at once
  int64_t deadline = 0;        // of the current state (ms, steady clock)
  int64_t since = 0;           // since when it has owed a message (eviction order)
  std::string in;
  size_t message_len = 0;
  size_t pool = 0;
  std::string out;
  size_t out_off = 0;
  bool close_after_write = false;
  bool eof = false;              // the peer shut down its side
  bool failed = false;           // read error or TLS failure
  bool tls_wants_write = false;  // TLS: the last read needs the socket writable (or the
                                 // last write needs it readable)
  size_t served = 0;
  uint32_t interest = 0;  // epoll events registered; 0 = not in the epoll set
};

struct Done {
  Conn* conn;
  std::string out;
  bool keep;
};

}  // namespace

std::string_view GateRefusalName(GateRefusal r) {
  switch (r) {
    case GateRefusal::kPeerLimit:
      return "peer_limit";
    case GateRefusal::kCapacity:
      return "capacity";
    case GateRefusal::kHeadTimeout:
      return "head_timeout";
    case GateRefusal::kBodyTimeout:
      return "body_timeout";
    case GateRefusal::kPoolFull:
      return "pool_full";
  }
  return "unknown";
}

struct ConnGate::Impl {
  GateOptions o;
  GateProtocol* proto;
  SSL_CTX* tls = nullptr;
  int listen_fd = -1, ep = -1, wake_fd = -1;
  std::string endpoint;
  int port = 0;
  std::thread loop;
  std::vector<std::unique_ptr<WorkerPool>> pools;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> open{0};

  // Loop thread only.
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::vector<std::unique_ptr<Conn>> graveyard;  // closed during this batch of events
  std::unordered_map<PeerKey, size_t, PeerKeyHash> per_peer;
  bool listening = false;
  int64_t accept_paused_until = 0;
  bool stop_seen = false;

  std::mutex done_mu;
  std::vector<Done> done;

  // Tags for epoll_event.data.ptr of the two non-connection descriptors.
  char listen_tag = 0, wake_tag = 0;

  Gauge* connections = nullptr;
  Counter* refusals[5] = {};
  Counter* evictions = nullptr;

  Impl(GateOptions opts, GateProtocol* p) : o(std::move(opts)), proto(p) {
    if (o.tls) {
      SSL_CTX_up_ref(o.tls);
      tls = o.tls;
    }
    auto& m = Metrics::Global();
    connections = &m.GetGauge("keycast_" + o.name + "_connections", "Open connections.");
    for (int i = 0; i < 5; ++i) {
      auto r = static_cast<GateRefusal>(i);
      refusals[i] = &m.GetCounter("keycast_" + o.name + "_gate_refusals_total",
                                  "Connections the gate closed, by reason.",
                                  "reason=\"" + std::string(GateRefusalName(r)) + "\"");
    }
    evictions = &m.GetCounter("keycast_" + o.name + "_gate_refusals_total",
                              "Connections the gate closed, by reason.", "reason=\"evicted\"");
  }
  ~Impl() {
    if (tls) SSL_CTX_free(tls);
  }

  Status Bind();
  void Run();
  void OnAccept(int64_t now);
  bool EvictOne();
  void RefuseFresh(int fd, GateRefusal why);
  void Register(Conn* c, uint32_t events);
  void Unregister(Conn* c);
  void OnEvent(Conn* c, uint32_t events, int64_t now);
  void ReadSome(Conn* c);
  void ReadAndExamine(Conn* c, int64_t now);
  void Examine(Conn* c, int64_t now);
  void Dispatch(Conn* c, size_t length, size_t pool);
  void Work(Conn* c, bool last);
  void DrainDone(int64_t now);
  void StartWrite(Conn* c, int64_t now, int64_t deadline);
  void TryWrite(Conn* c, int64_t now);
  void Refuse(Conn* c, GateRefusal why, int64_t now);
  void BeginLinger(Conn* c, int64_t now);
  void Close(Conn* c);
  void Sweep(int64_t now);
  void OnStop();
};

Status ConnGate::Impl::Bind() {
  std::string host, service;
  const std::string& a = o.addr;
  size_t colon = a.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("'" + a + "' is not host:port");
  host = a.substr(0, colon);
  service = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return InvalidArgument("cannot resolve " + a + ": " + gai_strerror(rc));
  std::string err = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd = fd;
      break;
    }
    err = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd < 0) return Unavailable("cannot listen on " + a + ": " + err);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::string ip;
  AddressText(ss, &ip, &port);
  endpoint = (ss.ss_family == AF_INET6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  return Status::Ok();
}

void ConnGate::Impl::Register(Conn* c, uint32_t events) {
  if (c->interest == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  if (events == 0) {
    Unregister(c);
    return;
  }
  ::epoll_ctl(ep, c->interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
  c->interest = events;
}

void ConnGate::Impl::Unregister(Conn* c) {
  if (c->interest == 0) return;
  ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
  c->interest = 0;
}

void ConnGate::Impl::RefuseFresh(int fd, GateRefusal why) {
  refusals[static_cast<int>(why)]->Inc();
  if (!tls) {
    std::string reply = proto->Refusal(why, 0);
    if (!reply.empty()) (void)::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  }
  ::close(fd);
}

bool ConnGate::Impl::EvictOne() {
  Conn* victim = nullptr;
  for (auto& [fd, c] : conns)
    if (c->state == Conn::State::kReading && (!victim || c->since < victim->since))
      victim = c.get();
  if (!victim) return false;
  evictions->Inc();
  Close(victim);
  return true;
}

void ConnGate::Impl::OnAccept(int64_t now) {
  for (int k = 0; k < kAcceptBurst; ++k) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd =
        ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a moment instead of spinning.
        spdlog::warn("{}: cannot accept ({}); pausing for {} ms", o.name, std::strerror(errno),
                     kAcceptPauseMs);
        accept_paused_until = now + kAcceptPauseMs;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd, nullptr);
        listening = false;
      }
      return;
    }
    PeerKey key = PeerKey::Of(reinterpret_cast<sockaddr*>(&ss));
    auto it = per_peer.find(key);
    size_t have = it == per_peer.end() ? 0 : it->second;
    if (have >= o.max_connections_per_peer) {
      RefuseFresh(fd, GateRefusal::kPeerLimit);
      continue;
    }
    if (conns.size() >= o.max_connections && !EvictOne()) {
      RefuseFresh(fd, GateRefusal::kCapacity);
      continue;
    }
    per_peer[key] = have + 1;
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->key = key;
    c->peer = ss;
    c->peer_len = len;
    AddressText(ss, &c->peer_ip, &c->peer_port);
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    AddressText(local, &c->local_ip, &c->local_port);
    if (o.tcp_nodelay) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (tls) {
      c->ssl = SSL_new(tls);
      SSL_set_fd(c->ssl, fd);
      SSL_set_accept_state(c->ssl);
      SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    c->since = now;
    c->deadline = now + o.head_timeout_ms;
    Conn* raw = c.get();
    conns[fd] = std::move(c);
    open.fetch_add(1);
    connections->Add(1);
    Register(raw, EPOLLIN);
  }
}

void ConnGate::Impl::ReadSome(Conn* c) {
  char buf[kReadChunk];
  while (c->in.size() < o.max_message_bytes) {
    size_t want = std::min(sizeof buf, o.max_message_bytes - c->in.size());
    if (c->ssl) {
      ERR_clear_error();
      int r = SSL_read(c->ssl, buf, static_cast<int>(want));
      if (r > 0) {
        c->in.append(buf, static_cast<size_t>(r));
        continue;
      }
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) {
        c->tls_wants_write = false;
        return;
      }
      if (e == SSL_ERROR_WANT_WRITE) {
        c->tls_wants_write = true;
        return;
      }
      if (e == SSL_ERROR_ZERO_RETURN)
        c->eof = true;
      else
        c->failed = true;
      return;
    }
    ssize_t r = ::recv(c->fd, buf, want, 0);
    if (r > 0) {
      c->in.append(buf, static_cast<size_t>(r));
      if (static_cast<size_t>(r) < want) return;  // drained for now
      continue;
    }
    if (r == 0) {
      c->eof = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) c->failed = true;
    return;
  }
}

void ConnGate::Impl::ReadAndExamine(Conn* c, int64_t now) {
  ReadSome(c);
  if (c->failed) return Close(c);
  Examine(c, now);
  if (c->state != Conn::State::kReading) return;
  if (c->eof) return Close(c);  // the peer left before completing a message
  Register(c, c->tls_wants_write ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN});
}

void ConnGate::Impl::Examine(Conn* c, int64_t now) {
  if (c->in.empty()) return;
  if (c->phase == Conn::Phase::kIdle) {
    c->phase = Conn::Phase::kHead;
    c->deadline = now + o.head_timeout_ms;
  }
  GateProtocol::Frame f = proto->Examine(c->in);
  switch (f.kind) {
    case GateProtocol::Frame::kNeedHead:
      if (c->in.size() >= o.max_message_bytes) {  // the protocol broke its contract
        c->out.clear();
        c->close_after_write = true;
        return BeginLinger(c, now);
      }
      return;
    case GateProtocol::Frame::kNeedBody:
      if (c->phase != Conn::Phase::kBody) {
        c->phase = Conn::Phase::kBody;
        c->deadline = now + o.body_timeout_ms;
      }
      if (c->in.size() >= o.max_message_bytes) {
        c->close_after_write = true;
        return BeginLinger(c, now);
      }
      return;
    case GateProtocol::Frame::kReject:
      c->out = std::move(f.reply);
      c->close_after_write = true;
      return StartWrite(c, now, now + std::min(o.write_timeout_ms, kRefusalWriteMs));
    case GateProtocol::Frame::kComplete:
      return Dispatch(c, std::min(f.length, c->in.size()), f.pool);
  }
}

void ConnGate::Impl::Dispatch(Conn* c, size_t length, size_t pool) {
  if (pool >= pools.size()) pool = 0;
  bool last = stopping.load() || c->eof || c->served + 1 >= o.max_requests_per_connection;
  c->message_len = length;
  c->pool = pool;
  c->state = Conn::State::kProcessing;
  Unregister(c);
  if (!pools[pool]->TryPost([this, c, last] { Work(c, last); })) {
    c->state = Conn::State::kReading;
    Refuse(c, GateRefusal::kPoolFull, NowMs());
  }
}

void ConnGate::Impl::Work(Conn* c, bool last) {
  GateProtocol::Message m;
  m.bytes = std::string_view(c->in.data(), c->message_len);
  m.peer = &c->peer;
  m.peer_len = c->peer_len;
  m.peer_ip = c->peer_ip;
  m.peer_port = c->peer_port;
  m.local_ip = c->local_ip;
  m.local_port = c->local_port;
  m.last = last;
  std::string out;
  bool keep = false;
  try {
    keep = proto->Handle(m, &out);
  } catch (const std::exception& e) {
    spdlog::error("{}: handler failed: {}", o.name, e.what());
    out.clear();
  }
  {
    std::lock_guard<std::mutex> l(done_mu);
    done.push_back(Done{c, std::move(out), keep && !last});
  }
  uint64_t one = 1;
  (void)!::write(wake_fd, &one, sizeof one);
}

void ConnGate::Impl::DrainDone(int64_t now) {
  std::vector<Done> batch;
  {
    std::lock_guard<std::mutex> l(done_mu);
    batch.swap(done);
  }
  for (Done& d : batch) {
    Conn* c = d.conn;
    c->in.erase(0, c->message_len);
    c->message_len = 0;
    c->served++;
    c->state = Conn::State::kReading;
    c->out = std::move(d.out);
    c->out_off = 0;
    c->close_after_write = !d.keep || stopping.load();
    StartWrite(c, now, now + o.write_timeout_ms);
  }
}

void ConnGate::Impl::StartWrite(Conn* c, int64_t now, int64_t deadline) {
  c->state = Conn::State::kWriting;
  c->deadline = deadline;
  c->out_off = 0;
  TryWrite(c, now);
}

void ConnGate::Impl::TryWrite(Conn* c, int64_t now) {
  while (c->out_off < c->out.size()) {
    const char* p = c->out.data() + c->out_off;
    size_t n = c->out.size() - c->out_off;
    if (c->ssl) {
      ERR_clear_error();
      int r = SSL_write(c->ssl, p, static_cast<int>(std::min<size_t>(n, 1 << 30)));
      if (r > 0) {
        c->out_off += static_cast<size_t>(r);
        continue;
      }
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_WRITE) return Register(c, EPOLLOUT);
      if (e == SSL_ERROR_WANT_READ) return Register(c, EPOLLIN);
      return Close(c);
    }
    ssize_t r = ::send(c->fd, p, n, MSG_NOSIGNAL);
    if (r > 0) {
      c->out_off += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Register(c, EPOLLOUT);
    return Close(c);
  }
  c->out.clear();
  if (c->out.capacity() > 64 * 1024) c->out.shrink_to_fit();
  c->out_off = 0;
  if (c->close_after_write) return BeginLinger(c, now);
  // Wait for the next message; bytes of it may be buffered already (a
  // pipelined request, or TLS records the socket no longer signals).
  c->state = Conn::State::kReading;
  c->since = now;
  c->phase = c->in.empty() ? Conn::Phase::kIdle : Conn::Phase::kHead;
  c->deadline = now + (c->in.empty() ? o.idle_timeout_ms : o.head_timeout_ms);
  c->tls_wants_write = false;
  ReadAndExamine(c, now);
}

void ConnGate::Impl::Refuse(Conn* c, GateRefusal why, int64_t now) {
  refusals[static_cast<int>(why)]->Inc();
  std::string reply;
  if (!c->ssl || SSL_is_init_finished(c->ssl)) reply = proto->Refusal(why, c->pool);
  if (reply.empty()) return Close(c);
  c->out = std::move(reply);
  c->close_after_write = true;
  StartWrite(c, now, now + std::min(o.write_timeout_ms, kRefusalWriteMs));
}

void ConnGate::Impl::BeginLinger(Conn* c, int64_t now) {
  if (c->eof || c->failed || stop_seen) return Close(c);
  if (c->ssl && SSL_is_init_finished(c->ssl)) (void)SSL_shutdown(c->ssl);
  ::shutdown(c->fd, SHUT_WR);
  c->state = Conn::State::kLinger;
  c->deadline = now + kLingerMs;
  c->in.clear();
  Register(c, EPOLLIN);
}

void ConnGate::Impl::Close(Conn* c) {
  Unregister(c);
  if (c->ssl) SSL_free(c->ssl);
  c->ssl = nullptr;
  ::close(c->fd);
  auto it = per_peer.find(c->key);
  if (it != per_peer.end() && --it->second == 0) per_peer.erase(it);
  auto node = conns.extract(c->fd);
  c->fd = -1;
  if (!node.empty()) graveyard.push_back(std::move(node.mapped()));
  open.fetch_sub(1);
  connections->Add(-1);
}

void ConnGate::Impl::OnEvent(Conn* c, uint32_t events, int64_t now) {
  if (c->fd < 0) return;  // closed earlier in this batch
  switch (c->state) {
    case Conn::State::kReading:
      return ReadAndExamine(c, now);
    case Conn::State::kWriting:
      return TryWrite(c, now);
    case Conn::State::kLinger: {
      char buf[4096];
      for (;;) {
        ssize_t r = ::recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) continue;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & (EPOLLHUP | EPOLLERR)))
          return;
        return Close(c);
      }
    }
    case Conn::State::kProcessing:
      return;  // not registered; a stale event of this batch
  }
}

void ConnGate::Impl::Sweep(int64_t now) {
  std::vector<Conn*> expired;
  for (auto& [fd, c] : conns)
    if (c->state != Conn::State::kProcessing && now >= c->deadline) expired.push_back(c.get());
  for (Conn* c : expired) {
    if (c->state != Conn::State::kReading || c->phase == Conn::Phase::kIdle) {
      Close(c);  // idle, or an answer that could not be written in time, or lingering
      continue;
    }
    GateRefusal why =
        c->phase == Conn::Phase::kBody ? GateRefusal::kBodyTimeout : GateRefusal::kHeadTimeout;
    if (c->in.empty()) {  // nothing sent at all: close without a word
      refusals[static_cast<int>(why)]->Inc();
      Close(c);
    } else {
      Refuse(c, why, now);
    }
  }
  if (!listening && !stop_seen && now >= accept_paused_until) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_tag;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    listening = true;
  }
}

void ConnGate::Impl::OnStop() {
  stop_seen = true;
  if (listening) ::epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd, nullptr);
  listening = false;
  std::vector<Conn*> idle;
  for (auto& [fd, c] : conns)
    if (c->state == Conn::State::kReading || c->state == Conn::State::kLinger)
      idle.push_back(c.get());
  for (Conn* c : idle) Close(c);
}

void ConnGate::Impl::Run() {
  std::vector<epoll_event> evs(256);
  int64_t next_sweep = NowMs() + kSweepMs;
  for (;;) {
    bool quiet = conns.empty() && listening && !stopping.load();
    int timeout_ms = quiet ? -1 : static_cast<int>(kSweepMs);
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    int64_t now = NowMs();
    for (int i = 0; i < n; ++i) {
      void* tag = evs[i].data.ptr;
      if (tag == &wake_tag) {
        uint64_t v;
        (void)!::read(wake_fd, &v, sizeof v);
        continue;
      }
      if (tag == &listen_tag) {
        if (!stop_seen) OnAccept(now);
        continue;
      }
      OnEvent(static_cast<Conn*>(tag), evs[i].events, now);
    }
    DrainDone(now);
    if (stopping.load() && !stop_seen) OnStop();
    if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + kSweepMs;
    }
    graveyard.clear();
    if (stop_seen && conns.empty()) {
      std::lock_guard<std::mutex> l(done_mu);
      if (done.empty()) return;
    }
  }
}

ConnGate::ConnGate(GateOptions options, GateProtocol* protocol)
    : impl_(new Impl(std::move(options), protocol)) {}

ConnGate::~ConnGate() {
  Stop();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
}

Status ConnGate::Start() {
  Impl& x = *impl_;
  if (x.pools.size()) return FailedPrecondition(x.o.name + " gate already started");
  if (x.o.pools.empty()) x.o.pools.push_back(GatePool{});
  if (x.listen_fd < 0) KC_RETURN_IF_ERROR(x.Bind());
  x.ep = ::epoll_create1(EPOLL_CLOEXEC);
  x.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (x.ep < 0 || x.wake_fd < 0) return Internal(std::string("epoll: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &x.listen_tag;
  ::epoll_ctl(x.ep, EPOLL_CTL_ADD, x.listen_fd, &ev);
  x.listening = true;
  ev.data.ptr = &x.wake_tag;
  ::epoll_ctl(x.ep, EPOLL_CTL_ADD, x.wake_fd, &ev);
  for (const GatePool& p : x.o.pools)
    x.pools.push_back(std::make_unique<WorkerPool>(p.threads, p.max_queued));
  x.loop = std::thread([&x] { x.Run(); });
  return Status::Ok();
}

void ConnGate::Stop() {
  Impl& x = *impl_;
  if (!x.loop.joinable()) return;
  x.stopping = true;
  uint64_t one = 1;
  (void)!::write(x.wake_fd, &one, sizeof one);
  x.loop.join();
  for (auto& p : x.pools) p->Shutdown();
  ::close(x.ep);
  ::close(x.wake_fd);
  ::close(x.listen_fd);
  x.ep = x.wake_fd = x.listen_fd = -1;
}

std::string ConnGate::endpoint() const { return impl_->endpoint; }
int ConnGate::port() const { return impl_->port; }
size_t ConnGate::open_connections() const { return impl_->open.load(); }

}  // namespace keycast
