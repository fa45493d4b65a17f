// The daemon: sessions, events, sockets and threads around one DataPlane.
// The packet paths themselves are in loops.cc; the status pages in status.cc.
#include "keycast/agent/daemon.h"

#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "agent/loops.h"
#include "keycast/agent/key_sink.h"
#include "keycast/agent/tun.h"
#include "keycast/metrics.h"
#include "keycast/schedule.h"

namespace keycast::agent {

namespace {

using dataplane::DataPlane;
using dataplane::Direction;
using dataplane::Policy;

constexpr auto kTick = std::chrono::milliseconds(200);
constexpr Micros kReloadEvery = 30 * kMicrosPerSecond;  // session-file re-reads near expiry

std::string HostPort(const IpAddress& a, uint16_t port) {
  return a.family == IpAddress::Family::kV6 ? "[" + a.ToString() + "]:" + std::to_string(port)
                                            : a.ToString() + ":" + std::to_string(port);
}

// When to renew a ticket: at 2/3 of its lifetime.
Micros RenewAt(const Ticket& t) {
  int64_t life = std::max<int64_t>(t.expires_at - t.issued_at, 3);
  return (t.issued_at + life * 2 / 3) * kMicrosPerSecond;
}

// The ticket long-poll runs on its own thread; Stop cancels the poll in
// flight (its connection is shut down) and joins it; after Stop it delivers
// nothing.
struct WatchState {
  TicketClient::WatchCanceller canceller;
  std::mutex mu;
  std::condition_variable cv;                  // signalled on stop
  bool stopped = false;                        // GUARDED_BY(mu)
  std::string digest;                          // GUARDED_BY(mu)
  std::function<void(ClientSession)> deliver;  // GUARDED_BY(mu)
};

}  // namespace

std::string_view ModeName(Mode m) { return m == Mode::kTransparent ? "transparent" : "relay"; }

std::string_view BindingKindName(Binding::Kind k) {
  switch (k) {
    case Binding::Kind::kSend:
      return "send";
    case Binding::Kind::kReceive:
      return "receive";
    case Binding::Kind::kTransparent:
      return "transparent";
  }
  return "?";
}

Result<Binding> Binding::Parse(const std::string& text, Kind kind) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    return InvalidArgument("'" + text + "': expected EVENT=ADDRESS:PORT, e.g. live=127.0.0.1:5000");
  Binding b;
  b.event = text.substr(0, eq);
  b.kind = kind;
  auto hp = ParseHostPort(text.substr(eq + 1), false);
  if (!hp.ok()) return InvalidArgument("'" + text + "': " + hp.status().message());
  b.local = hp->first;
  b.local_port = hp->second;
  return b;
}

// One event the daemon serves.
struct EventRuntime {
  Binding binding;
  std::string state = "waiting";  // GUARDED_BY(Impl::mu)
  std::string reason;             // GUARDED_BY(Impl::mu)
  bool started = false;
  TicketEvent event;
  uint16_t wire_port = 0;
  internal::EventAddress address;
  internal::AtomicCounters counters;
  std::unique_ptr<DataPlaneKeySink> sink;
  std::unique_ptr<Agent> agent;  // GUARDED_BY(Impl::mu) (replaced when a revoked grant returns)
  Fd in_fd, wire_send_fd, wire_recv_fd, out_fd;
  SocketAddress local;
  internal::WireTarget wire;
  std::thread send_thread, receive_thread;
};

struct Daemon::Impl {
  DaemonOptions o;
  std::unique_ptr<DataPlane> dp;
  std::atomic<bool> stop{false};
  bool started = false;

  mutable std::mutex mu;
  std::vector<std::unique_ptr<EventRuntime>> events;  // the vector is fixed after Start
  ClientSession session;                              // GUARDED_BY(mu)
  std::optional<ClientSession> pending;               // GUARDED_BY(mu): from the watcher
  Micros renew_at = 0;
  Micros next_reload = 0;

  std::unique_ptr<TunDevice> tun;
  std::unique_ptr<RouteManager> routes;
  Fd bypass_fd;
  internal::WireTargets tun_targets;
  internal::TunCounters tun_counters;
  std::thread tun_thread;

  std::thread maintenance;
  std::shared_ptr<WatchState> watch;
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  std::thread watch_thread;
  std::string status_addr;

  uint16_t WirePort(uint16_t port) const { return uint16_t(port + o.wire_port_offset); }
  void InstallTicketClearSas(EventRuntime& rt, Micros now);
  Status StartEvent(EventRuntime& rt, const ClientSession& s);
  std::unique_ptr<Agent> NewAgent(EventRuntime& rt, const ClientSession& s);
  void ApplySession(ClientSession s);
  void Maintain();
  void StartWatch();
  Status StartStatusServer();
  DaemonStatus Snapshot() const;
};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() { Stop(); }

dataplane::DataPlane& Daemon::data_plane() { return *impl_->dp; }

Result<std::unique_ptr<Daemon>> Daemon::Create(DaemonOptions o) {
  if (o.bindings.empty())
    return InvalidArgument("no events to serve: give --send, --receive or --event");
  for (const Binding& b : o.bindings) {
    bool relay_kind = b.kind != Binding::Kind::kTransparent;
    if (relay_kind != (o.mode == Mode::kRelay))
      return InvalidArgument("event '" + b.event + "': " +
                             (o.mode == Mode::kRelay ? "relay mode takes --send / --receive"
                                                     : "transparent mode takes --event"));
    if (relay_kind && b.local.empty())
      return InvalidArgument("event '" + b.event + "' needs a local address");
  }
  if (!o.session && !o.credentials)
    return InvalidArgument(
        "no identity: give an API key, a client and password, or a session file");
  if (o.wire_port_offset < 0) o.wire_port_offset = o.mode == Mode::kTransparent ? 1 : 0;
  if (o.wire_port_offset > 65534) return InvalidArgument("--wire-port-offset must be 0-65534");
  if (o.mode == Mode::kTransparent) {
    if (o.multicast.interface.empty())
      return InvalidArgument(
          "transparent mode needs --interface: the event groups are routed into the TUN, so the "
          "wire "
          "interface cannot be left to routing");
    if (o.wire_port_offset == 0)
      spdlog::warn(
          "--wire-port-offset 0 in transparent mode: applications on receiving hosts would also "
          "get the "
          "protected datagrams (IP_MULTICAST_ALL); use it only on hosts that only send");
  }
  dataplane::DataPlaneOptions dpo = o.data_plane;
  dpo.export_metrics = false;  // served by StatusPrometheus, per daemon
  KC_ASSIGN_OR_RETURN(auto dp, DataPlane::Create(dpo));
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(o);
  impl->dp = std::move(dp);
  for (const Binding& b : impl->o.bindings) {
    auto rt = std::make_unique<EventRuntime>();
    rt->binding = b;
    impl->events.push_back(std::move(rt));
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

std::unique_ptr<Agent> Daemon::Impl::NewAgent(EventRuntime& rt, const ClientSession& s) {
  Agent::Options ao;
  ao.clock = o.clock;
  ao.sink = rt.sink.get();
  ao.key_client = o.key_client;
  ao.seed = o.seed;
  ao.push_interface = o.multicast.interface;
  ao.log = [](const std::string& m) { spdlog::info("{}", m); };
  return std::make_unique<Agent>(s, rt.binding.event, ao);
}

// Starts an event the ticket lists: policies, sockets, the client agent,
// the loops. Configuration errors fail; "not in the ticket" waits.
Status Daemon::Impl::StartEvent(EventRuntime& rt, const ClientSession& s) {
  const TicketEvent* ev = s.ticket.FindEvent(rt.binding.event);
  const std::string& name = rt.binding.event;
  if (!ev) {
    rt.state = "waiting";
    rt.reason = "not in the ticket of " + s.ticket.client_name;
    spdlog::warn("{}: not in the ticket; waiting for a ticket that grants it", name);
    return Status::Ok();
  }
  const Binding::Kind kind = rt.binding.kind;
  if (kind == Binding::Kind::kSend && ev->role != Role::kSender)
    return PermissionDenied("event '" + name +
                            "': the ticket grants only the receiver role; cannot --send");
  if (!ev->group_address.IsMulticast())
    return InvalidArgument("event '" + name + "': " + ev->group_address.ToString() +
                           " is not a multicast group");
  if (int(ev->port) + o.wire_port_offset > 65535)
    return InvalidArgument("event '" + name + "': port + wire port offset exceeds 65535");
  rt.event = *ev;
  rt.wire_port = WirePort(ev->port);
  rt.address = internal::EventAddress{ev->id, ev->group_address, ev->port, ev->source_address};
  const bool sends = kind == Binding::Kind::kSend ||
                     (kind == Binding::Kind::kTransparent && ev->role == Role::kSender);
  const bool receives = kind != Binding::Kind::kSend;

  // Sockets first: nothing is installed for an event that cannot run.
  MulticastOptions mo = o.multicast;
  if (kind == Binding::Kind::kTransparent)
    mo.loop = false;  // never feed our own packets back to the TUN
  if (kind == Binding::Kind::kSend) {
    KC_ASSIGN_OR_RETURN(rt.in_fd,
                        OpenUdpSocket(rt.binding.local, rt.binding.local_port, mo.buffer_bytes));
  }
  if (sends) {
    KC_ASSIGN_OR_RETURN(rt.wire_send_fd,
                        OpenMulticastSender(ev->group_address, ev->source_address, mo));
    KC_ASSIGN_OR_RETURN(SocketAddress dst, ToSocketAddress(ev->group_address, rt.wire_port));
    rt.wire = internal::WireTarget{ev->id, rt.wire_send_fd.get(), dst, &rt.counters};
  }
  if (receives) {
    KC_ASSIGN_OR_RETURN(rt.wire_recv_fd, OpenMulticastReceiver(ev->group_address, rt.wire_port,
                                                               ev->source_address, mo));
  }
  if (kind == Binding::Kind::kReceive) {
    IpAddress any;
    any.family = rt.binding.local.family;
    KC_ASSIGN_OR_RETURN(rt.out_fd, OpenUdpSocket(any, 0, mo.buffer_bytes));
    KC_ASSIGN_OR_RETURN(rt.local, ToSocketAddress(rt.binding.local, rt.binding.local_port));
  }

  // The event's selectors, before any key: its traffic is protected or
  // dropped (no_sa) from now on, never passed in the clear.
  SecurityAssociation selector;
  selector.event = ev->id;
  selector.group = ev->group_address;
  selector.port = ev->port;
  selector.source = ev->source_address;
  // Outbound, any local source is the event's: the agent's wire socket
  // gives the datagrams the event's source address. (A source selector would
  // let an application's datagrams to the group with another source address
  // pass unprotected.) Inbound, the source must be the event's.
  if (kind != Binding::Kind::kReceive) {
    SecurityAssociation outbound = selector;
    outbound.source = IpAddress();
    KC_RETURN_IF_ERROR(dp->AddPolicy(Policy::ProtectEvent(outbound, Direction::kOutbound)));
  }
  if (receives)
    KC_RETURN_IF_ERROR(dp->AddPolicy(Policy::ProtectEvent(selector, Direction::kInbound)));

  rt.sink = std::make_unique<DataPlaneKeySink>(dp.get(), name);
  rt.agent = NewAgent(rt, s);
  KC_RETURN_IF_ERROR(rt.agent->Start());

  if (kind == Binding::Kind::kSend) {
    rt.send_thread = std::thread([this, &rt] {
      internal::RunRelaySend(stop, rt.in_fd.get(), rt.address, rt.wire, *dp, *o.clock);
    });
  }
  if (kind == Binding::Kind::kTransparent && sends) tun_targets.Add(rt.wire);
  if (receives) {
    internal::ReceiveOutput out;
    if (kind == Binding::Kind::kTransparent) {
      out.tun = tun.get();
    } else {
      out.fd = rt.out_fd.get();
      out.local = rt.local;
    }
    rt.receive_thread = std::thread([this, &rt, out] {
      internal::RunReceive(stop, rt.wire_recv_fd.get(), rt.address, out, &rt.counters, *dp,
                           *o.clock);
    });
  }
  if (kind == Binding::Kind::kTransparent && routes)
    KC_RETURN_IF_ERROR(
        routes->Add(GroupRoute{ev->group_address, sends ? ev->source_address : IpAddress()}));
  InstallTicketClearSas(rt, o.clock->Now());
  rt.started = true;
  rt.state = "running";
  rt.reason.clear();
  spdlog::info("{}: {} as {} on {} (wire port {}{}){}", name, BindingKindName(kind),
               RoleName(ev->role), HostPort(ev->group_address, ev->port), rt.wire_port,
               ev->source_address.empty() ? "" : ", source " + ev->source_address.ToString(),
               kind == Binding::Kind::kTransparent
                   ? ""
                   : ", local " + HostPort(rt.binding.local, rt.binding.local_port));
  return Status::Ok();
}

Status Daemon::Start() {
  Impl& x = *impl_;
  if (x.started) return FailedPrecondition("already started");
  x.stop = false;
  ClientSession s;
  if (x.o.session) {
    s = *x.o.session;
  } else {
    TicketClient tc(x.o.ticket_url, x.o.ticket_client);
    KC_ASSIGN_OR_RETURN(s, tc.Login(*x.o.credentials));
  }
  spdlog::info("ticket for {} with {} event(s), valid until {}", s.ticket.client_name,
               s.ticket.events.size(), FormatRfc3339(s.ticket.expires_at));
  if (x.o.mode == Mode::kTransparent) {
    KC_ASSIGN_OR_RETURN(x.tun, TunDevice::Open(x.o.tun_name));
    KC_ASSIGN_OR_RETURN(unsigned ifindex, InterfaceIndex(x.o.multicast.interface));
    x.bypass_fd = Fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (x.bypass_fd.valid()) {
      ip_mreqn m{};
      m.imr_ifindex = int(ifindex);
      ::setsockopt(x.bypass_fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    }
    if (x.o.manage_routes) {
      x.routes = std::make_unique<RouteManager>(x.tun->name());
    } else {
      std::vector<GroupRoute> groups;
      for (const Binding& b : x.o.bindings)
        if (const TicketEvent* e = s.ticket.FindEvent(b.event))
          groups.push_back(
              {e->group_address, e->role == Role::kSender ? e->source_address : IpAddress()});
      spdlog::info(
          "transparent mode on {}; route the event groups through it (or run with "
          "--manage-routes):",
          x.tun->name());
      for (const auto& c : RouteManager::Commands(x.tun->name(), groups)) spdlog::info("  {}", c);
    }
  }
  Status failed;
  {
    std::lock_guard<std::mutex> l(x.mu);
    x.session = s;
    x.renew_at = RenewAt(s.ticket);
    x.next_reload = 0;
    for (auto& rt : x.events) {
      failed = x.StartEvent(*rt, s);
      if (!failed.ok()) break;
    }
  }
  x.started = true;  // from here Stop cleans up whatever did start
  if (!failed.ok()) {
    Stop();
    return failed;
  }
  if (x.tun)
    x.tun_thread = std::thread([&x] {
      internal::RunTunSend(x.stop, *x.tun, x.tun_targets, x.bypass_fd.get(), &x.tun_counters, *x.dp,
                           *x.o.clock);
    });
  x.maintenance = std::thread([&x] { x.Maintain(); });
  if (x.o.credentials && x.o.watch_seconds > 0) x.StartWatch();
  if (!x.o.status_addr.empty()) {
    Status st = x.StartStatusServer();
    if (!st.ok()) {
      Stop();
      return st;
    }
  }
  return Status::Ok();
}

void Daemon::Stop() {
  Impl& x = *impl_;
  if (!x.started) return;
  x.stop = true;
  if (x.watch) {
    std::lock_guard<std::mutex> l(x.watch->mu);
    x.watch->stopped = true;
    x.watch->deliver = nullptr;
    x.watch->cv.notify_all();
  }
  if (x.watch) x.watch->canceller.Cancel();
  if (x.watch_thread.joinable()) x.watch_thread.join();
  if (x.http) x.http->stop();
  if (x.http_thread.joinable()) x.http_thread.join();
  if (x.maintenance.joinable()) x.maintenance.join();
  if (x.tun_thread.joinable()) x.tun_thread.join();
  for (auto& rt : x.events) {
    if (rt->send_thread.joinable()) rt->send_thread.join();
    if (rt->receive_thread.joinable()) rt->receive_thread.join();
    if (rt->agent) rt->agent->Stop();
  }
  if (x.routes) x.routes->Remove();
  x.started = false;
}

// Late joiners (seed 000 claim 18): the ticket says which first intervals
// of each occurrence go unencrypted, so a receiver accepts their clear
// datagrams at once and a sender passes them in the clear from the first
// second, neither waiting for its key request. These clear SAs carry no key
// (and a sender's no sender id: clear datagrams carry none); they come from
// the signed ticket, InstallSaIfAbsent never lets them replace an SA from the
// key service, and they expire like any other.
void Daemon::Impl::InstallTicketClearSas(EventRuntime& rt, Micros now) {
  const TicketEvent& ev = rt.event;
  if (ev.clear_intervals == 0 || ev.interval_seconds == 0) return;
  auto occ = NextOccurrence(ev.schedule, now / kMicrosPerSecond);
  if (!occ) return;
  uint32_t n =
      std::min<uint32_t>(ev.clear_intervals, EpochsInOccurrence(ev.schedule, ev.interval_seconds));
  for (uint32_t i = 0; i < n; ++i) {
    auto w = EpochWindow(ev.schedule, ev.interval_seconds, Epoch{occ->index, i});
    if (!w.ok() || w->second * kMicrosPerSecond <= now) continue;
    SecurityAssociation sa;
    sa.event = ev.id;
    sa.epoch = Epoch{occ->index, i};
    sa.clear = true;
    sa.initiation = w->first * kMicrosPerSecond;
    sa.lifetime = (w->second - w->first) * kMicrosPerSecond;
    sa.grace = o.data_plane.clear_grace;
    sa.role = rt.binding.kind == Binding::Kind::kReceive ? Role::kReceiver : ev.role;
    sa.group = ev.group_address;
    sa.port = ev.port;
    sa.source = ev.source_address;
    auto r = dp->InstallSaIfAbsent(std::move(sa));
    if (!r.ok())
      spdlog::warn("{}: clear interval {}: {}", rt.binding.event, i, r.status().message());
    else if (*r)
      spdlog::info("{}: interval {}.{} is clear (from the ticket)", rt.binding.event, occ->index,
                   i);
  }
}

// A fresh session (renewal or a changed grant): running events get the new
// ticket, waiting ones start if it lists them, revoked ones whose grant
// came back get a new client agent.
void Daemon::Impl::ApplySession(ClientSession s) {
  std::lock_guard<std::mutex> l(mu);
  session = s;
  renew_at = RenewAt(s.ticket);
  spdlog::info("new ticket for {} with {} event(s), valid until {}", s.ticket.client_name,
               s.ticket.events.size(), FormatRfc3339(s.ticket.expires_at));
  for (auto& rt : events) {
    const TicketEvent* ev = s.ticket.FindEvent(rt->binding.event);
    if (!rt->started) {
      if (!ev) continue;
      Status st = StartEvent(*rt, s);
      if (!st.ok()) {
        rt->state = "failed";
        rt->reason = st.message();
        spdlog::error("{}: {}", rt->binding.event, st.message());
      }
      continue;
    }
    if (!ev) {
      // The grant is gone: the key service refuses the next request anyway.
      rt->state = "revoked";
      rt->reason = "no longer in the ticket";
      continue;
    }
    if (rt->agent->revoked()) {
      spdlog::info("{}: granted again; restarting its client agent", rt->binding.event);
      rt->agent->Stop();
      rt->sink = std::make_unique<DataPlaneKeySink>(dp.get(), rt->binding.event);
      rt->agent = NewAgent(*rt, s);
      Status st = rt->agent->Start();
      if (!st.ok()) spdlog::error("{}: {}", rt->binding.event, st.message());
      rt->state = "running";
      rt->reason.clear();
      continue;
    }
    rt->agent->UpdateSession(s);
  }
}

void Daemon::Impl::Maintain() {
  Micros next_expire = 0;
  while (!stop) {
    std::this_thread::sleep_for(kTick);
    Micros now = o.clock->Now();
    if (now >= next_expire) {
      dp->ExpireSas(now);
      next_expire = now + kMicrosPerSecond;
      std::lock_guard<std::mutex> l(mu);
      for (auto& rt : events)
        if (rt->started) InstallTicketClearSas(*rt, now);
    }
    std::optional<ClientSession> fresh;
    {
      std::lock_guard<std::mutex> l(mu);
      fresh.swap(pending);
      for (auto& rt : events)
        if (rt->started && rt->sink->revoked() && rt->state == "running") {
          rt->state = "revoked";
          rt->reason = rt->sink->revoked_reason();
        }
    }
    if (fresh) ApplySession(std::move(*fresh));
    Micros renew_at_now;
    int64_t expires;
    {
      std::lock_guard<std::mutex> l(mu);
      renew_at_now = renew_at;
      expires = session.ticket.expires_at;
    }
    if (now < renew_at_now) continue;
    if (o.credentials) {
      TicketClient tc(o.ticket_url, o.ticket_client);
      auto s = tc.Login(*o.credentials);
      if (s.ok()) {
        ApplySession(std::move(s).value());
      } else {
        spdlog::warn("ticket renewal failed ({}); retrying in 30 s; the ticket expires {}",
                     s.status().message(), FormatRfc3339(expires));
        std::lock_guard<std::mutex> l(mu);
        renew_at = now + kReloadEvery;
      }
    } else if (o.reload_session && now >= next_reload) {
      next_reload = now + kReloadEvery;
      auto s = o.reload_session();
      if (s.ok() && s->ticket.expires_at > expires) {
        ApplySession(std::move(s).value());
      } else {
        spdlog::warn(
            "the ticket expires {}; renew it with `keycast client login` (the agent re-reads the "
            "session "
            "file) or run the agent with credentials",
            FormatRfc3339(expires));
      }
    }
  }
}

void Daemon::Impl::StartWatch() {
  watch = std::make_shared<WatchState>();
  {
    std::lock_guard<std::mutex> l(mu);
    watch->digest = session.grant_digest;
  }
  watch->deliver = [this](ClientSession s) {
    std::lock_guard<std::mutex> l(mu);
    pending = std::move(s);
  };
  TicketClient::Options to = o.ticket_client;
  to.timeout_seconds = std::max(to.timeout_seconds, o.watch_seconds + 10);
  watch_thread = std::thread([state = watch, tc = TicketClient(o.ticket_url, to),
                              creds = *o.credentials, seconds = o.watch_seconds]() {
    std::unique_lock<std::mutex> l(state->mu);
    while (!state->stopped) {
      std::string digest = state->digest;
      l.unlock();
      auto r = tc.Watch(creds, digest, seconds, &state->canceller);
      if (!r.ok()) {
        spdlog::debug("ticket watch: {}", r.status().message());
        l.lock();
        state->cv.wait_for(l, std::chrono::seconds(2), [&] { return state->stopped; });
        continue;
      }
      l.lock();
      if (state->stopped || !r.ok() || !r->has_value()) continue;
      state->digest = (*r)->grant_digest;
      spdlog::info("the ticket service re-issued the ticket: the grant changed");
      if (state->deliver) state->deliver(std::move(**r));
    }
  });
}

Status Daemon::Impl::StartStatusServer() {
  KC_ASSIGN_OR_RETURN(auto hp,
                      ParseHostPort(status_addr.empty() ? o.status_addr : status_addr, true));
  http = std::make_unique<httplib::Server>();
  http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusPrometheus(Snapshot()) + Metrics::Global().Render(),
                    "text/plain; version=0.0.4");
  });
  http->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusJson(Snapshot()), "application/json");
  });
  http->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  std::string host = hp.first.ToString();
  int port = hp.second;
  if (port == 0) {
    port = http->bind_to_any_port(host);
    if (port <= 0) return Unavailable("cannot listen on " + host + " for the status server");
  } else if (!http->bind_to_port(host, port)) {
    return Unavailable("cannot listen on " + o.status_addr +
                       " for /metrics and /status (in use? pick another with "
                       "--status-addr)");
  }
  status_addr = HostPort(hp.first, uint16_t(port));
  http_thread = std::thread([this] { http->listen_after_bind(); });
  spdlog::info("status at http://{}/status, metrics at http://{}/metrics", status_addr,
               status_addr);
  return Status::Ok();
}

DaemonStatus Daemon::Snapshot() const { return impl_->Snapshot(); }

DaemonStatus Daemon::Impl::Snapshot() const {
  DaemonStatus s;
  s.mode = o.mode;
  s.status_addr = status_addr;
  s.data_plane = dp->counters();
  s.tun_ignored = tun_counters.ignored.load();
  s.tun_bypassed = tun_counters.bypassed.load();
  Micros now = o.clock->Now();
  std::lock_guard<std::mutex> l(mu);
  s.client = session.ticket.client_name;
  s.ticket_expires_at = session.ticket.expires_at;
  for (const auto& rt : events) {
    EventStatus e;
    e.name = rt->binding.event;
    e.kind = rt->binding.kind;
    e.state = rt->state;
    e.reason = rt->reason;
    if (rt->binding.kind != Binding::Kind::kTransparent)
      e.local = HostPort(rt->binding.local, rt->binding.local_port);
    if (rt->started) {
      e.role = rt->event.role;
      e.group = rt->event.group_address;
      e.source = rt->event.source_address;
      e.port = rt->event.port;
      e.wire_port = rt->wire_port;
      e.slots = dp->Slots(rt->event.id, now);
      e.keys = rt->agent->stats();
      e.counters = rt->counters.Snapshot();
    }
    s.events.push_back(std::move(e));
  }
  return s;
}

}  // namespace keycast::agent
