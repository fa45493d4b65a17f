// RunLiveLoad: many lightweight clients join one event against a key
// service running as a separate process (`keycast server --roles key`).
//
// Setup, in this process: a store with a group, an event and
// directory_clients clients; `clients` tickets minted with TicketService on
// that store (each ticket its own session key and credential), spread over
// the directory clients. Then the key service starts on the store, and the
// clients send their initial requests at the instants AgentTiming picks for
// them (always-on agents over the initial keying period, last-minute users
// around the start), many clients per thread sharing a few sockets, with
// the agent's retry rule (fresh request after a timeout, doubling).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>

#include "keycast/client.h"
#include "keycast/directory.h"
#include "keycast/key_protocol.h"
#include "keycast/push/simulate.h"
#include "keycast/seal.h"
#include "keycast/service_keys.h"
#include "keycast/store.h"
#include "keycast/ticket_service.h"

namespace keycast::sim {
namespace {

const Actor kSim{"system:simulate"};
Micros WallNow() { return SystemClock::Get().Now(); }

struct SimClient {
  Bytes credential;
  keyproto::SessionKeys keys;
  Micros due = 0;  // first request
  Micros first_sent = 0;
  Micros deadline = 0;  // of the current attempt
  keyproto::Nonce nonce{};
  uint8_t attempts = 0;
  uint8_t state = 0;  // 0 waiting, 1 in flight, 2 ok, 3 failed
  uint8_t socket = 0;
};

uint64_t NonceKey(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Result<uint16_t> FreePort() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return Unavailable("no free port");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool TcpReady(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The key service child process; stopped by its pid.
class ServerProcess {
 public:
  ~ServerProcess() { Stop(); }
  Status Start(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return Internal(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
    return Status::Ok();
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

struct Shared {
  std::mutex mu;
  std::map<std::string, size_t> failures;
  std::vector<float> latency_ms;
  std::vector<uint32_t> sent_per_second, answered_per_second;
  uint64_t requests = 0, retries = 0;
  Micros origin = 0;
};

void Bump(std::vector<uint32_t>& v, Micros t, Micros origin) {
  if (t < origin) return;
  size_t s = static_cast<size_t>((t - origin) / kMicrosPerSecond);
  if (s >= v.size()) v.resize(s + 1, 0);
  ++v[s];
}

// One client thread: its clients, its sockets.
void RunThread(std::vector<SimClient>& all, const std::vector<size_t>& mine, EventId event,
               uint16_t port, const LiveLoadOptions& o, Micros stop_at, Shared& shared) {
  size_t nsock = std::max<size_t>(o.sockets_per_thread, 1);
  std::vector<int> fds;
  for (size_t i = 0; i < nsock; ++i) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int buf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    fds.push_back(fd);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  std::vector<size_t> order = mine;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return all[a].due < all[b].due; });
  using Item = std::pair<Micros, size_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> retry;
  std::unordered_map<uint64_t, size_t> inflight;
  inflight.reserve(order.size() / 8 + 16);
  std::vector<float> latency;
  std::vector<uint32_t> sent_ps, answered_ps;
  std::map<std::string, size_t> failures;
  uint64_t requests = 0, retries = 0;
  size_t next = 0, done = 0;

  auto send = [&](size_t idx, Micros now) {
    SimClient& c = all[idx];
    if (c.attempts > 0) inflight.erase(NonceKey(c.nonce.data()));
    keyproto::Request q;
    q.credential = c.credential;
    crypto::RandomFill(c.nonce);
    q.client_nonce = c.nonce;
    q.timestamp = now;
    q.event = event;
    q.kind = keyproto::RequestKind::kInitial;
    Bytes wire = keyproto::EncodeRequest(q, c.keys);
    ::sendto(fds[c.socket], wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof to);
    inflight[NonceKey(c.nonce.data())] = idx;
    ++requests;
    if (c.attempts == 0) {
      c.first_sent = now;
      Bump(sent_ps, now, shared.origin);
    } else {
      ++retries;
    }
    Micros timeout = static_cast<Micros>(o.timeout_ms) * 1000 << std::min<int>(c.attempts, 5);
    c.attempts++;
    c.state = 1;
    c.deadline = now + timeout;
    retry.emplace(c.deadline, idx);
  };
  auto finish = [&](size_t idx, bool ok, const std::string& why, Micros now) {
    SimClient& c = all[idx];
    inflight.erase(NonceKey(c.nonce.data()));
    c.state = ok ? 2 : 3;
    ++done;
    if (ok) {
      latency.push_back(static_cast<float>(now - c.first_sent) / 1000.0f);
      Bump(answered_ps, now, shared.origin);
    } else {
      ++failures[why];
    }
  };

  uint8_t buf[keyproto::kMaxMessageBytes];
  while (done < order.size()) {
    Micros now = WallNow();
    if (now >= stop_at) break;
    while (next < order.size() && all[order[next]].due <= now) send(order[next++], now);
    while (!retry.empty() && retry.top().first <= now) {
      auto [at, idx] = retry.top();
      retry.pop();
      SimClient& c = all[idx];
      if (c.state != 1 || c.deadline != at) continue;  // answered, or a newer attempt
      if (c.attempts >= o.attempts)
        finish(idx, false, "no answer", now);
      else
        send(idx, now);
    }
    Micros wake = stop_at;
    if (next < order.size()) wake = std::min(wake, all[order[next]].due);
    if (!retry.empty()) wake = std::min(wake, retry.top().first);
    int timeout_ms = static_cast<int>(std::clamp<Micros>((wake - now) / 1000, 0, 5));
    std::vector<pollfd> pfds;
    for (int fd : fds) pfds.push_back({fd, POLLIN, 0});
    ::poll(pfds.data(), pfds.size(), timeout_ms);
    for (size_t s = 0; s < fds.size(); ++s) {
      if (!(pfds[s].revents & POLLIN)) continue;
      for (int n = 0; n < 256; ++n) {
        ssize_t len = ::recv(fds[s], buf, sizeof buf, MSG_DONTWAIT);
        if (len <= 0) break;
        ByteView msg(buf, static_cast<size_t>(len));
        if (keyproto::PeekType(msg) != keyproto::MessageType::kReply ||
            msg.size() < keyproto::kHeaderSize + keyproto::kNonceSize)
          continue;
        auto it = inflight.find(NonceKey(buf + keyproto::kHeaderSize));
        if (it == inflight.end()) continue;  // a late answer to an earlier attempt
        size_t idx = it->second;
        auto rep = keyproto::OpenReply(msg, all[idx].keys, all[idx].nonce);
        Micros t = WallNow();
        if (!rep.ok()) {
          finish(idx, false, "bad reply", t);
        } else if (rep->status != keyproto::ReplyStatus::kOk) {
          finish(idx, false, "refused: " + std::string(keyproto::ReplyStatusName(rep->status)), t);
        } else {
          finish(idx, !rep->sas.empty(), "no key in the reply", t);
        }
      }
    }
  }
  for (size_t idx : order)
    if (all[idx].state < 2)
      ++failures[all[idx].state == 0 ? "not sent (deadline)" : "no answer (deadline)"];
  for (int fd : fds) ::close(fd);
  std::lock_guard<std::mutex> l(shared.mu);
  for (auto& [k, v] : failures) shared.failures[k] += v;
  shared.latency_ms.insert(shared.latency_ms.end(), latency.begin(), latency.end());
  auto add = [](std::vector<uint32_t>& into, const std::vector<uint32_t>& from) {
    if (into.size() < from.size()) into.resize(from.size(), 0);
    for (size_t i = 0; i < from.size(); ++i) into[i] += from[i];
  };
  add(shared.sent_per_second, sent_ps);
  add(shared.answered_per_second, answered_ps);
  shared.requests += requests;
  shared.retries += retries;
}

}  // namespace

Result<LiveLoadResult> RunLiveLoad(const LiveLoadOptions& o) {
  if (o.clients == 0 || o.directory_clients == 0 || o.window_seconds < 2)
    return InvalidArgument("need clients, directory clients and a window of at least 2 s");
  if (o.keycast_binary.empty())
    return InvalidArgument("no keycast executable to run the key service with");
  auto log = [&](const std::string& m) {
    if (o.verbose) std::fprintf(stderr, "simulate live: %s\n", m.c_str());
  };
  Micros run_deadline = WallNow() + o.deadline_seconds * kMicrosPerSecond;

  std::string dir = o.work_dir;
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/keycast-live-XXXXXX";
    if (!::mkdtemp(tmpl)) return Unavailable("cannot create a work folder");
    dir = tmpl;
  }
  struct Cleanup {
    std::string dir;
    bool own;
    ~Cleanup() {
      if (own) std::system(("rm -rf '" + dir + "'").c_str());
    }
  } cleanup{dir, own_dir};

  KC_ASSIGN_OR_RETURN(uint16_t port, FreePort());
  std::vector<SimClient> clients(o.clients);
  EventId event_id;
  int64_t start_s = 0;
  LiveLoadResult result;
  result.clients = o.clients;
  {
    // ---- the store: directory, event, service keys; tickets
    KC_RETURN_IF_ERROR(Sealer::GenerateFile(dir + "/kek"));
    KC_ASSIGN_OR_RETURN(Sealer sealer, Sealer::FromFile(dir + "/kek"));
    KC_ASSIGN_OR_RETURN(auto store, OpenSqliteStore(dir + "/keycast.db"));
    KC_ASSIGN_OR_RETURN(auto directory, Directory::Open(store.get(), &sealer, &SystemClock::Get(),
                                                        DirectoryOptions{}));
    KC_ASSIGN_OR_RETURN(auto keys, ServiceKeys::Open(store.get(), &sealer, &SystemClock::Get(),
                                                     8 * 3600 + 30, true));
    KC_RETURN_IF_ERROR(directory->CreateGroup(kSim, {"crowd", "simulated clients"}).status());
    EventSpec e;
    e.name = "flash";
    e.title = "Flash crowd";
    e.group_address = *IpAddress::Parse("239.255.0.1");
    e.port = 6000;
    e.schedule.start = SystemClock::Get().NowSeconds() + 24 * 3600;  // set for real below
    e.schedule.duration = 3600;
    e.interval_seconds = 60;
    e.initial_keying_seconds = o.window_seconds;
    e.key_servers = {Endpoint{"127.0.0.1", port}};
    e.delivery = o.delivery;
    KC_ASSIGN_OR_RETURN(EventView ev, directory->CreateEvent(kSim, e));
    event_id = ev.event->id;
    KC_RETURN_IF_ERROR(directory->AddAssignment(kSim, "flash", "crowd"));
    log("creating " + std::to_string(o.directory_clients) + " directory clients");
    std::vector<AuthenticatedClient> who;
    for (size_t i = 0; i < o.directory_clients; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "sim-%06zu", i);
      KC_ASSIGN_OR_RETURN(ClientView cv,
                          directory->CreateClient(kSim, ClientSpec{name, "", std::nullopt, true}));
      KC_RETURN_IF_ERROR(directory->SetMembership(kSim, name, "crowd", Role::kReceiver, true));
      who.push_back(AuthenticatedClient{cv.client.id, name, "simulate"});
    }
    log("minting " + std::to_string(o.clients) + " tickets");
    TicketService tickets(directory.get(), keys.get(), &SystemClock::Get(), TicketServiceOptions{});
    auto t0 = std::chrono::steady_clock::now();
    std::atomic<size_t> next{0};
    std::atomic<bool> bad{false};
    std::vector<std::thread> minters;
    for (size_t t = 0; t < std::max<size_t>(o.threads, 1); ++t) {
      minters.emplace_back([&] {
        for (size_t i = next++; i < clients.size() && !bad; i = next++) {
          auto issued = tickets.Issue(who[i % who.size()]);
          auto ticket =
              issued.ok() ? DecodeTicket(issued->ticket) : Result<Ticket>(issued.status());
          if (!ticket.ok()) {
            bad = true;
            return;
          }
          clients[i].credential = std::move(ticket->credential);
          clients[i].keys = keyproto::SessionKeys::Derive(issued->session_key, ticket->id);
        }
      });
    }
    for (auto& t : minters) t.join();
    if (bad) return Internal("minting a ticket failed");
    result.mint_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The real schedule: the key service starts within a few seconds; the
    // initial keying period opens then and lasts window_seconds.
    EventPatch p;
    Schedule s = ev.event->schedule;
    s.start = SystemClock::Get().NowSeconds() + 5 + o.window_seconds;
    start_s = s.start;
    p.schedule = s;
    KC_RETURN_IF_ERROR(directory->UpdateEvent(kSim, "flash", p).status());
  }  // store closed before the key service opens it

  // ---- the key service, a separate process
  ServerProcess server;
  std::vector<std::string> argv = {
      o.keycast_binary, "--log-level",
      "warn",           "server",
      "--roles",        "key",
      "--data-dir",     dir,
      "--key-addr",     "127.0.0.1:" + std::to_string(port),
      "--key-threads",  std::to_string(std::max<size_t>(o.server_threads, 1))};
  KC_RETURN_IF_ERROR(server.Start(argv));
  log("key service starting on 127.0.0.1:" + std::to_string(port));
  Micros ready_by = WallNow() + 20 * kMicrosPerSecond;
  while (!TcpReady(port)) {
    if (WallNow() > ready_by || !server.running())
      return Unavailable("the key service did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  log("key service ready");

  // ---- when each client asks: the agents' own timing
  AgentTiming::Event timing_event;
  timing_event.schedule.start = start_s;
  timing_event.schedule.duration = 3600;
  timing_event.interval_seconds = 60;
  timing_event.initial_keying_seconds = o.window_seconds;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> user(o.user_mean_seconds, o.user_sd_seconds);
  Micros now = WallNow();
  size_t always = static_cast<size_t>(std::llround(double(o.clients) * o.always_on));
  for (size_t i = 0; i < clients.size(); ++i) {
    AgentTiming timing(timing_event, rng());
    Micros on =
        i < always ? now
                   : start_s * kMicrosPerSecond + static_cast<Micros>(user(rng) * kMicrosPerSecond);
    clients[i].due = timing.InitialRequestAt(std::max(on, now)).value_or(now);
    clients[i].socket = static_cast<uint8_t>(i % std::max<size_t>(o.sockets_per_thread, 1));
  }
  // ---- run
  Shared shared;
  shared.origin = std::min_element(clients.begin(), clients.end(), [](auto& a, auto& b) {
                    return a.due < b.due;
                  })->due;
  Micros last_due = std::max_element(clients.begin(), clients.end(), [](auto& a, auto& b) {
                      return a.due < b.due;
                    })->due;
  Micros stop_at = std::min(run_deadline, last_due + 30 * kMicrosPerSecond);
  size_t nthreads = std::max<size_t>(o.threads, 1);
  std::vector<std::vector<size_t>> parts(nthreads);
  for (size_t i = 0; i < clients.size(); ++i) parts[i % nthreads].push_back(i);
  log("clients joining from now to " + std::to_string((last_due - now) / kMicrosPerSecond) + " s");
  std::vector<std::thread> threads;
  for (size_t t = 0; t < nthreads; ++t)
    threads.emplace_back(
        [&, t] { RunThread(clients, parts[t], event_id, port, o, stop_at, shared); });
  for (auto& t : threads) t.join();
  server.Stop();

  // ---- figures
  for (auto& [k, v] : shared.failures) result.failures.emplace_back(k, v);
  for (auto& [k, v] : shared.failures) result.failed += v;
  result.ok = shared.latency_ms.size();
  result.requests_sent = shared.requests;
  result.retries = shared.retries;
  result.per_second = shared.sent_per_second;
  result.answered_per_second = shared.answered_per_second;
  uint64_t busy = 0, total = 0;
  for (uint32_t v : result.per_second) {
    result.peak_rate = std::max<double>(result.peak_rate, v);
    if (v) {
      ++busy;
      total += v;
    }
  }
  result.mean_rate = busy ? double(total) / double(busy) : 0;
  auto& lat = shared.latency_ms;
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) {
      return double(lat[std::min(lat.size() - 1, size_t(q * double(lat.size())))]);
    };
    result.latency_p50_ms = pct(0.50);
    result.latency_p99_ms = pct(0.99);
    result.latency_max_ms = lat.back();
  }
  return result;
}

}  // namespace keycast::sim
