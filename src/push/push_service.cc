// PushService: one KeyTree per push event, a commit per interval, datagrams
// on the control group.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "keycast/metrics.h"
#include "keycast/push.h"
#include "keycast/schedule.h"

namespace keycast {
namespace {

using push::GrantState;
using push::PushGrant;

// Tries to lock `mu` for up to `limit`, polling every 100 µs.
bool TryLockFor(std::mutex& mu, std::chrono::microseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!mu.try_lock()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

Micros Sec(int64_t s) { return s * kMicrosPerSecond; }

struct ServiceMetrics {
  Counter& commits = Metrics::Global().GetCounter("keycast_push_commits_total",
                                                  "Push commits (one per event and interval).");
  Counter& joins = Metrics::Global().GetCounter("keycast_push_joins_total",
                                                "Members admitted to a push key tree.");
  Counter& leaves = Metrics::Global().GetCounter(
      "keycast_push_leaves_total", "Members removed from a push key tree (revoked or expired).");
  Counter& datagrams =
      Metrics::Global().GetCounter("keycast_push_datagrams_total", "Push datagrams sent.");
  Counter& bytes = Metrics::Global().GetCounter("keycast_push_bytes_total",
                                                "Push message bytes sent (each copy).");
  Counter& send_errors =
      Metrics::Global().GetCounter("keycast_push_send_errors_total", "Push datagrams not sent.");
  Histogram& commit_seconds = Metrics::Global().GetHistogram(
      "keycast_push_commit_seconds",
      "Time to batch the joins and leaves of an interval and sign its push.", LatencyBuckets());
  static ServiceMetrics& Get() {
    static ServiceMetrics m;
    return m;
  }
};

}  // namespace

struct PushService::EventState {
  EventId id;
  uint64_t tree_id = 0;
  Schedule schedule;  // as of the tree's creation: a new schedule starts a new tree
  uint32_t interval = 0;

  // Guards the tree and the member table. The commit holds it; grants wait
  // for it only briefly (then answer "pending").
  // A plain mutex tried in a short loop rather than std::timed_mutex:
  // libstdc++ implements try_lock_for with pthread_mutex_clocklock, which
  // ThreadSanitizer does not intercept (it then reports every unlock).
  std::mutex tree_mu;
  lkh::KeyTree tree;
  std::unordered_map<int64_t, Micros> members;  // client -> membership ends (no renewal)
  std::optional<Epoch> last_epoch;
  KeysInForce last_keys;  // of the event when last_epoch was committed

  std::mutex grants_mu;                        // guards grants
  std::unordered_map<int64_t, Micros> grants;  // since the last commit: client -> new end

  // Owned by the Tick thread.
  std::vector<Bytes> datagrams;
  IpAddress group;
  uint16_t port = 0;
  int sends_left = 0;
  Micros next_send = 0;
  Micros gap = 0;

  mutable std::mutex status_mu;
  EventStatus status;

  explicit EventState(lkh::KeyTree t) : tree(std::move(t)) {}
};

PushService::PushService(const Directory* directory, const ServiceKeys* keys, const Clock* clock,
                         DeriveSa derive, PushTransport* transport, PushOptions options)
    : directory_(directory),
      keys_(keys),
      clock_(clock),
      derive_(std::move(derive)),
      transport_(transport),
      options_(std::move(options)) {}

PushService::~PushService() { Stop(); }

std::optional<std::pair<IpAddress, uint16_t>> PushService::ControlGroup(
    const Event& event, const PushOptions& options) {
  if (options.control_port != 0 && options.control_group.IsMulticast())
    return std::make_pair(options.control_group, options.control_port);
  if (!event.group_address.IsMulticast() || event.port == 0) return std::nullopt;
  uint16_t port = event.port == 65535 ? 65534 : static_cast<uint16_t>(event.port + 1);
  return std::make_pair(event.group_address, port);
}

Micros PushService::Lead(const Event& event, const PushOptions& options) {
  double interval_ms = event.interval_seconds * 1000.0;
  auto lead = static_cast<int64_t>(std::llround(interval_ms * options.lead_fraction));
  lead = std::clamp<int64_t>(lead, options.min_lead_ms, options.max_lead_ms);
  lead = std::min<int64_t>(lead, static_cast<int64_t>(interval_ms));
  return std::max<int64_t>(lead, 1) * 1000;
}

std::shared_ptr<PushService::EventState> PushService::StateFor(const Event& event, bool create) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = states_.find(event.id.value);
  if (it != states_.end()) {
    const EventState& s = *it->second;
    if (s.schedule == event.schedule && s.interval == event.interval_seconds) return it->second;
    // New schedule: epochs may go back. A new tree; members see another
    // tree id on the next push and pull (docs/push.md "Restarts").
    states_.erase(it);
  }
  if (!create) return nullptr;
  auto tree = lkh::KeyTree::Create(event.id, options_.degree);
  if (!tree.ok()) {
    spdlog::error("push: cannot create a key tree for event {}: {}", event.name,
                  tree.status().message());
    return nullptr;
  }
  auto st = std::make_shared<EventState>(std::move(tree).value());
  st->id = event.id;
  do st->tree_id = crypto::RandomU64();
  while (st->tree_id == 0);
  st->schedule = event.schedule;
  st->interval = event.interval_seconds;
  {
    std::lock_guard<std::mutex> sl(st->status_mu);
    st->status.tree_id = st->tree_id;
  }
  states_[event.id.value] = st;
  return st;
}

Bytes PushService::OnGrant(const Event& event, ClientId client, Role, Epoch, int64_t valid_until) {
  if (event.delivery == KeyDelivery::kPull) return {};
  auto cg = ControlGroup(event, options_);
  if (!cg) return {};
  auto st = StateFor(event, true);
  if (!st) return {};
  Micros until = clock_->Now() + Sec(options_.member_lifetime_seconds);
  if (valid_until > 0) until = std::min(until, Sec(valid_until));
  {
    std::lock_guard<std::mutex> l(st->grants_mu);
    Micros& u = st->grants[client.value];
    u = std::max(u, until);
  }
  PushGrant g;
  g.control_group = cg->first;
  g.control_port = cg->second;
  g.lead_ms = static_cast<uint32_t>(Lead(event, options_) / 1000);
  g.member_until = until;
  g.tree_id = st->tree_id;
  // Path keys only for a member a commit has admitted: they were fresh at
  // that commit, so they open nothing pushed before it. During a commit the
  // answer is "pending"; the member's next reply brings the keys.
  if (TryLockFor(st->tree_mu, std::chrono::milliseconds(2))) {
    auto init = st->tree.PathKeysFor(client);
    st->tree_mu.unlock();
    if (init.ok()) {
      g.state = GrantState::kAdmitted;
      g.member_init = init->Encode();
    }
  }
  SecretBytes enc = g.Encode();
  return Bytes(enc.reveal().begin(), enc.reveal().end());
}

void PushService::Commit(EventState& st, const Event& event, Epoch epoch, Micros now) {
  auto& m = ServiceMetrics::Get();
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> tl(st.tree_mu);
  size_t joins = 0, leaves = 0;
  // Joins and renewals since the last commit.
  std::unordered_map<int64_t, Micros> grants;
  {
    std::lock_guard<std::mutex> l(st.grants_mu);
    grants.swap(st.grants);
  }
  for (auto& [client, until] : grants) {
    auto it = st.members.find(client);
    if (it != st.members.end()) {
      it->second = std::max(it->second, until);
      continue;
    }
    auto ref = st.tree.Join(ClientId(client));
    if (!ref.ok()) {
      spdlog::warn("push: event {}: client {} not admitted: {}", event.name, client,
                   ref.status().message());
      continue;
    }
    st.members.emplace(client, until);
    ++joins;
  }
  // Leaves: no longer authorised (live directory), or expired.
  std::vector<ClientId> authorized = directory_->AuthorizedClients(event.id);
  for (auto it = st.members.begin(); it != st.members.end();) {
    bool keep = it->second >= now &&
                std::binary_search(authorized.begin(), authorized.end(), ClientId(it->first));
    if (keep) {
      ++it;
      continue;
    }
    (void)st.tree.Leave(ClientId(it->first));
    it = st.members.erase(it);
    ++leaves;
  }
  st.last_epoch = epoch;
  st.last_keys = event.keys.InForce(now);
  if (st.members.empty() && !st.tree.has_pending_changes()) return;  // nobody to push to

  auto sa = derive_(event, epoch);
  if (!sa.ok()) {
    spdlog::error("push: event {}: no SA for epoch {}.{}: {}", event.name, epoch.occurrence,
                  epoch.index, sa.status().message());
    return;
  }
  // A clear interval has no key; the wrapped key is random filler that
  // keeps the tree's commits (and admissions) on schedule.
  SecretBytes interval_key = sa->clear ? crypto::RandomSecret(lkh::kIntervalKeySize) : sa->key;
  ServiceKeys::Signer signer = keys_->ActiveSigner(kRekeySigningKey);
  if (!signer.key) {
    spdlog::error("push: no rekey-signing key");
    return;
  }
  uint64_t seq = st.tree.last_seq() + 1;
  auto rekey = st.tree.Commit(epoch, interval_key, *signer.key, seq);
  if (!rekey.ok()) {
    spdlog::error("push: event {}: commit of epoch {}.{} failed: {}", event.name, epoch.occurrence,
                  epoch.index, rekey.status().message());
    return;
  }
  push::PushMessage pm;
  pm.event = event.id;
  pm.tree_id = st.tree_id;
  pm.seq = seq;
  pm.epoch = epoch;
  pm.key_version = signer.version;
  pm.spi = sa->clear ? Spi{} : sa->spi;
  pm.algorithm = sa->algorithm;
  pm.flags = sa->clear ? push::kFlagClear : 0;
  pm.initiation = sa->initiation;
  pm.lifetime = sa->lifetime;
  pm.grace = sa->grace;
  pm.rekey = *rekey;
  Bytes message = push::EncodeMessage(pm, *signer.key);
  size_t members = st.members.size();
  size_t message_bytes = message.size();
  tl.unlock();

  auto cg = ControlGroup(event, options_);
  st.datagrams = push::Fragmentize(message, event.id, st.tree_id, seq);
  st.group = cg->first;
  st.port = cg->second;
  st.sends_left = std::max(options_.repeats, 1);
  st.gap = std::clamp<Micros>(Lead(event, options_) / 8, 20'000, 1'000'000);
  st.next_send = now;
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  m.commits.Inc();
  m.joins.Inc(joins);
  m.leaves.Inc(leaves);
  m.commit_seconds.Observe(ms / 1000.0);
  {
    std::lock_guard<std::mutex> l(st.status_mu);
    EventStatus& s = st.status;
    s.members = members;
    s.seq = seq;
    s.last_epoch = epoch;
    s.last_message_bytes = message.size();
    s.last_datagrams = st.datagrams.size();
    s.last_joins = joins;
    s.last_leaves = leaves;
    s.last_commit_ms = ms;
    s.last_message = std::move(message);
  }
  spdlog::debug(
      "push: event {} epoch {}.{} seq {}: {} members, +{} -{}, {} bytes in {} datagrams, {:.2f} ms",
      event.name, epoch.occurrence, epoch.index, seq, members, joins, leaves, message_bytes,
      st.datagrams.size(), ms);
}

void PushService::SendAll(EventState& st) {
  auto& m = ServiceMetrics::Get();
  // Pacing: at most rate_bytes_per_second, in bursts of ~64 KB.
  auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0, burst = 0;
  double rate = static_cast<double>(std::max<uint64_t>(options_.rate_bytes_per_second, 1));
  for (const Bytes& d : st.datagrams) {
    Status s = transport_->Send(st.group, st.port, d);
    if (s.ok()) {
      m.datagrams.Inc();
    } else {
      m.send_errors.Inc();
      spdlog::warn("push: send to {}:{} failed: {}", st.group.ToString(), st.port, s.message());
    }
    sent += d.size();
    burst += d.size();
    if (burst >= 64 * 1024) {
      burst = 0;
      auto due = start + std::chrono::duration<double>(static_cast<double>(sent) / rate);
      std::this_thread::sleep_until(due);
    }
  }
  m.bytes.Inc(sent);
}

Micros PushService::Tick() {
  Micros now = clock_->Now();
  Micros next = now + 200'000;
  std::vector<std::shared_ptr<EventState>> states;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, st] : states_) states.push_back(st);
  }
  for (auto& st : states) {
    auto ev = directory_->FindEvent(st->id);
    if (!ev || ev->delivery == KeyDelivery::kPull || !ControlGroup(*ev, options_)) {
      // Deleted, or back to pull: its members' pulls are refused or served
      // without push from now on.
      std::lock_guard<std::mutex> l(mu_);
      auto it = states_.find(st->id.value);
      if (it != states_.end() && it->second == st) states_.erase(it);
      continue;
    }
    if (!(ev->schedule == st->schedule && ev->interval_seconds == st->interval)) {
      StateFor(*ev, false);  // drops the stale tree; the next grant starts a new one
      continue;
    }
    Micros lead = Lead(*ev, options_);
    auto due_epoch = EpochAt(ev->schedule, ev->interval_seconds, (now + lead) / kMicrosPerSecond);
    if (st->last_epoch && !(ev->keys.InForce(now) == st->last_keys)) {
      // A rekey, secret rotation or schedule edit came into force
      // (docs/key-protocol.md, "Generations"): push the key of the epoch
      // in force now at once, to the members still authorised; the next
      // epoch's push follows at its lead.
      auto current = EpochAt(ev->schedule, ev->interval_seconds, now / kMicrosPerSecond);
      st->last_keys = ev->keys.InForce(now);
      if (current) {
        Commit(*st, *ev, *current, now);
        // Sent now: the commit of the next epoch may replace it below.
        if (st->sends_left > 0) {
          SendAll(*st);
          --st->sends_left;
          st->next_send = now + st->gap;
        }
      }
    }
    if (due_epoch && (!st->last_epoch || *due_epoch > *st->last_epoch))
      Commit(*st, *ev, *due_epoch, now);
    if (st->sends_left > 0 && now >= st->next_send) {
      SendAll(*st);
      --st->sends_left;
      st->next_send = now + st->gap;
    }
    if (st->sends_left > 0) next = std::min(next, st->next_send);
    // The next commit: the end of the current epoch, or the next occurrence.
    std::optional<int64_t> next_start;
    if (due_epoch) {
      auto w = EpochWindow(ev->schedule, ev->interval_seconds, *due_epoch);
      if (w.ok()) next_start = w->second;
    } else if (auto occ = NextOccurrence(ev->schedule, (now + lead) / kMicrosPerSecond)) {
      next_start = occ->start;
    }
    if (next_start) next = std::min(next, Sec(*next_start) - lead);
  }
  return std::max(next, now + 1000);
}

Status PushService::Start() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(run_mu_);
    while (!stop_) {
      l.unlock();
      Micros next = Tick();
      l.lock();
      Micros wait = std::clamp<Micros>(next - clock_->Now(), 1000, 200'000);
      run_cv_.wait_for(l, std::chrono::microseconds(wait), [this] { return stop_; });
    }
  });
  return Status::Ok();
}

void PushService::Stop() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<PushService::EventStatus> PushService::Inspect(EventId event) const {
  std::shared_ptr<EventState> st;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = states_.find(event.value);
    if (it == states_.end()) return std::nullopt;
    st = it->second;
  }
  std::lock_guard<std::mutex> l(st->status_mu);
  return st->status;
}

}  // namespace keycast
