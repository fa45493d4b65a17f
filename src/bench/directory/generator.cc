#include "bench/directory/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "bench/rng.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/directory.h"
#include "keycast/password.h"
#include "keycast/schedule.h"
#include "store/bulk.h"

namespace keycast::bench {
namespace {

std::string Padded(char prefix, size_t ordinal, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%0*zu", prefix, width, ordinal);
  return buf;
}

// Compressed rows from (row, value) pairs.
void ToRows(size_t rows, const std::vector<std::pair<uint32_t, uint32_t>>& pairs,
            std::vector<uint32_t>* begin, std::vector<uint32_t>* values) {
  begin->assign(rows + 1, 0);
  for (auto& [r, v] : pairs) ++(*begin)[r + 1];
  std::partial_sum(begin->begin(), begin->end(), begin->begin());
  values->resize(pairs.size());
  std::vector<uint32_t> fill(begin->begin(), begin->end() - 1);
  for (auto& [r, v] : pairs) (*values)[fill[r]++] = v;
}

}  // namespace

int Shape::Level(uint32_t group) const {
  auto it = std::upper_bound(level_begin.begin(), level_begin.end(), group);
  return static_cast<int>(it - level_begin.begin()) - 1;
}

std::string ClientName(size_t ordinal) { return Padded('c', ordinal, 7); }
std::string GroupName(size_t ordinal) { return Padded('g', ordinal, 6); }
std::string EventName(size_t ordinal) { return Padded('e', ordinal, 7); }

Shape BuildShape(const GeneratorOptions& o) {
  Shape s;
  Rng rng(o.seed);
  const size_t G = o.groups;
  const size_t L = std::min<size_t>(static_cast<size_t>(std::max(1, o.max_depth)), G);

  // Level sizes grow geometrically; every level has at least one group.
  std::vector<double> weight(L);
  for (size_t l = 0; l < L; ++l) weight[l] = std::pow(o.level_growth, static_cast<double>(l));
  double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  std::vector<size_t> size(L);
  size_t assigned = 0;
  for (size_t l = 0; l < L; ++l) {
    size[l] = std::max<size_t>(
        1, static_cast<size_t>(std::floor(weight[l] / total * static_cast<double>(G))));
    assigned += size[l];
  }
  // Hand the rounding difference to (or take it from) the deepest levels.
  for (size_t l = L; assigned != G;) {
    l = l == 0 ? L - 1 : l - 1;
    if (assigned < G) {
      ++size[l];
      ++assigned;
    } else if (size[l] > 1) {
      --size[l];
      --assigned;
    }
  }
  s.level_begin.assign(L + 1, 0);
  for (size_t l = 0; l < L; ++l)
    s.level_begin[l + 1] = s.level_begin[l] + static_cast<uint32_t>(size[l]);

  // Parents: one primary from the level above, extra ones from the three above.
  s.parent_begin.assign(G + 1, 0);
  s.parents.reserve(G * 13 / 10);
  for (size_t l = 0; l < L; ++l) {
    for (uint32_t g = s.level_begin[l]; g < s.level_begin[l + 1]; ++g) {
      size_t first = s.parents.size();
      if (l > 0) {
        s.parents.push_back(s.level_begin[l - 1] + static_cast<uint32_t>(rng.Below(size[l - 1])));
        for (int extra = 0; extra < kMaxExtraParents && rng.Chance(o.extra_parent_probability);
             ++extra) {
          size_t lo = l >= 3 ? l - 3 : 0;
          size_t pl = lo + rng.Below(l - lo);
          uint32_t p = s.level_begin[pl] + static_cast<uint32_t>(rng.Below(size[pl]));
          if (std::find(s.parents.begin() + static_cast<ptrdiff_t>(first), s.parents.end(), p) ==
              s.parents.end())
            s.parents.push_back(p);
        }
      }
      s.parent_begin[g + 1] = static_cast<uint32_t>(s.parents.size());
    }
  }

  // Events: a level by weight (groups of the level x per-group density,
  // which falls by event_decay per level up, with a floor), then a group of
  // the level; some events also go to a second group of the same level.
  std::vector<double> cum(L);
  double acc = 0;
  for (size_t l = 0; l < L; ++l) {
    double density =
        std::max(std::pow(o.event_decay, static_cast<double>(L - 1 - l)), o.top_event_weight);
    acc += static_cast<double>(size[l]) * density;
    cum[l] = acc;
  }
  const size_t E = o.events;
  const size_t C = o.clients;
  const size_t publishers = std::clamp<size_t>(C * o.publishers_per_million / 1'000'000, 1, C);
  const size_t publisher_stride = C / publishers;
  s.event_group_begin.assign(E + 1, 0);
  s.event_groups.reserve(E + E / 8);
  s.event_sender.resize(E);
  for (size_t e = 0; e < E; ++e) {
    double x = rng.Unit() * acc;
    size_t l = static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), x) - cum.begin());
    l = std::min(l, L - 1);
    uint32_t g = s.level_begin[l] + static_cast<uint32_t>(rng.Below(size[l]));
    s.event_groups.push_back(g);
    if (size[l] > 1 && rng.Chance(o.second_group_probability)) {
      uint32_t g2 = s.level_begin[l] + static_cast<uint32_t>(rng.Below(size[l]));
      if (g2 != g) s.event_groups.push_back(g2);
    }
    s.event_group_begin[e + 1] = static_cast<uint32_t>(s.event_groups.size());
    s.event_sender[e] = static_cast<uint32_t>(rng.Below(publishers) * publisher_stride);
  }

  // Memberships: 1 (60%), 2 (30%) or 3 (10%) distinct groups, uniform over
  // all groups (so mostly deep ones); publishers are senders everywhere.
  s.member_begin.assign(C + 1, 0);
  s.member_group.reserve(C * 3 / 2);
  s.member_sender.reserve(C * 3 / 2);
  for (size_t c = 0; c < C; ++c) {
    double r = rng.Unit();
    size_t k = std::min<size_t>(r < 0.6 ? 1 : r < 0.9 ? 2 : 3, G);
    bool publisher = c % publisher_stride == 0 && c / publisher_stride < publishers;
    size_t first = s.member_group.size();
    while (s.member_group.size() - first < k) {
      uint32_t g = static_cast<uint32_t>(rng.Below(G));
      if (std::find(s.member_group.begin() + static_cast<ptrdiff_t>(first), s.member_group.end(),
                    g) != s.member_group.end())
        continue;
      s.member_group.push_back(g);
      s.member_sender.push_back(publisher || rng.Chance(o.sender_probability) ? 1 : 0);
    }
    s.member_begin[c + 1] = static_cast<uint32_t>(s.member_group.size());
  }

  // API keys for a random sample of clients.
  size_t K = std::min(o.api_keys, C);
  std::vector<uint8_t> chosen(C, 0);
  s.api_key_clients.reserve(K);
  if (K == C) {
    for (size_t c = 0; c < C; ++c) s.api_key_clients.push_back(static_cast<uint32_t>(c));
  } else {
    while (s.api_key_clients.size() < K) {
      auto c = static_cast<uint32_t>(rng.Below(C));
      if (chosen[c]) continue;
      chosen[c] = 1;
      s.api_key_clients.push_back(c);
    }
    std::sort(s.api_key_clients.begin(), s.api_key_clients.end());
  }
  return s;
}

// ------------------------------------------------------------------ stats

Distribution Distribution::Of(std::vector<uint32_t> v) {
  Distribution d;
  d.count = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  d.min = v.front();
  d.max = v.back();
  d.p50 = at(0.50);
  d.p90 = at(0.90);
  d.p99 = at(0.99);
  double sum = 0;
  for (uint32_t x : v) sum += x;
  d.mean = sum / static_cast<double>(v.size());
  return d;
}

std::string Distribution::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "min %llu  p50 %llu  p90 %llu  p99 %llu  max %llu  (mean %.1f, n %zu)",
                static_cast<unsigned long long>(min), static_cast<unsigned long long>(p50),
                static_cast<unsigned long long>(p90), static_cast<unsigned long long>(p99),
                static_cast<unsigned long long>(max), mean, count);
  return buf;
}

namespace {

// Walks up the DAG with generation stamps, like Directory::Summarize.
struct Walker {
  const Shape& s;
  std::vector<uint32_t> group_events_begin, group_events;
  std::vector<uint32_t> group_seen, event_seen;
  std::vector<uint32_t> stack, visited;
  uint32_t stamp = 0;

  explicit Walker(const Shape& shape) : s(shape) {
    std::vector<std::pair<uint32_t, uint32_t>> pairs;
    pairs.reserve(s.assignments());
    for (uint32_t e = 0; e < s.events(); ++e)
      for (uint32_t i = s.event_group_begin[e]; i < s.event_group_begin[e + 1]; ++i)
        pairs.emplace_back(s.event_groups[i], e);
    ToRows(s.groups(), pairs, &group_events_begin, &group_events);
    group_seen.assign(s.groups(), 0);
    event_seen.assign(s.events(), 0);
  }

  // Marks every group reachable upwards from `from` (inclusive); returns them.
  const std::vector<uint32_t>& Up(const uint32_t* from, size_t n) {
    ++stamp;
    stack.assign(from, from + n);
    visited.clear();
    while (!stack.empty()) {
      uint32_t g = stack.back();
      stack.pop_back();
      if (group_seen[g] == stamp) continue;
      group_seen[g] = stamp;
      visited.push_back(g);
      for (uint32_t i = s.parent_begin[g]; i < s.parent_begin[g + 1]; ++i)
        stack.push_back(s.parents[i]);
    }
    return visited;
  }

  template <typename F>
  void ForEachEvent(const std::vector<uint32_t>& groups, F&& f) {
    for (uint32_t g : groups)
      for (uint32_t i = group_events_begin[g]; i < group_events_begin[g + 1]; ++i) {
        uint32_t e = group_events[i];
        if (event_seen[e] == stamp) continue;
        event_seen[e] = stamp;
        f(e);
      }
  }
};

}  // namespace

ShapeStats ComputeStats(const Shape& s, size_t max_clients) {
  ShapeStats st;
  st.level_groups.resize(s.levels());
  st.level_events.resize(s.levels());
  for (size_t l = 0; l < s.levels(); ++l)
    st.level_groups[l] = s.level_begin[l + 1] - s.level_begin[l];
  for (uint32_t g : s.event_groups) ++st.level_events[static_cast<size_t>(s.Level(g))];
  Walker w(s);
  std::vector<uint32_t> ancestors(s.groups());
  for (uint32_t g = 0; g < s.groups(); ++g) {
    st.multi_parent_groups += s.parent_begin[g + 1] - s.parent_begin[g] > 1;
    ancestors[g] = static_cast<uint32_t>(w.Up(&g, 1).size() - 1);
  }
  st.ancestors = Distribution::Of(std::move(ancestors));
  size_t n = std::min(max_clients, s.clients());
  std::vector<uint32_t> reached, events;
  reached.reserve(n);
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    size_t c = n == s.clients() ? i : i * s.clients() / n;
    const auto& up =
        w.Up(&s.member_group[s.member_begin[c]], s.member_begin[c + 1] - s.member_begin[c]);
    reached.push_back(static_cast<uint32_t>(up.size()));
    uint32_t count = 0;
    w.ForEachEvent(up, [&](uint32_t) { ++count; });
    events.push_back(count);
  }
  st.client_groups = Distribution::Of(std::move(reached));
  st.events_per_ticket = Distribution::Of(std::move(events));
  return st;
}

std::vector<uint32_t> TicketEvents(const Shape& s, uint32_t client) {
  Walker w(s);
  const auto& up = w.Up(&s.member_group[s.member_begin[client]],
                        s.member_begin[client + 1] - s.member_begin[client]);
  std::vector<uint32_t> out;
  w.ForEachEvent(up, [&](uint32_t e) { out.push_back(e); });
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------ writing

namespace {

constexpr const char* kTitles[] = {"Town hall", "Stand-up", "Market feed", "Training",
                                   "Broadcast", "Match",    "Lecture",     "Earnings call"};

// Rows go into transactions of a bounded size; each transaction carries
// one audit record saying what it loaded.
class Loader {
 public:
  Loader(Store* store, size_t rows_per_txn, const Progress& progress)
      : store_(store), rows_per_txn_(std::max<size_t>(1, rows_per_txn)), progress_(progress) {}

  Status Phase(std::string_view phase, size_t total) {
    KC_RETURN_IF_ERROR(Flush());
    phase_ = phase;
    total_ = total;
    done_ = 0;
    if (progress_) progress_(phase_, 0, total_);
    return Status::Ok();
  }
  Result<StoreTxn*> Txn() {
    if (!txn_) {
      KC_ASSIGN_OR_RETURN(txn_, store_->Begin());
      rows_ = 0;
      first_ = done_;
    }
    return txn_.get();
  }
  // Counts one item of the phase (rows: statements it took).
  Status Done(size_t rows) {
    ++done_;
    rows_ += rows;
    if (rows_ >= rows_per_txn_) KC_RETURN_IF_ERROR(Flush());
    return Status::Ok();
  }
  Status Flush() {
    if (!txn_) return Status::Ok();
    std::string detail = "{\"phase\":\"" + std::string(phase_) +
                         "\",\"from\":" + std::to_string(first_) +
                         ",\"to\":" + std::to_string(done_) + "}";
    KC_ASSIGN_OR_RETURN(int64_t seq,
                        txn_->AppendAudit(AuditRecord{0, SystemClock::Get().NowSeconds(), "bench",
                                                      "bench.generate", "directory", detail}));
    (void)seq;
    Status st = txn_->Commit();
    txn_.reset();
    KC_RETURN_IF_ERROR(st);
    if (progress_) progress_(phase_, done_, total_);
    return Status::Ok();
  }

 private:
  Store* store_;
  size_t rows_per_txn_;
  const Progress& progress_;
  std::unique_ptr<StoreTxn> txn_;
  std::string_view phase_;
  size_t total_ = 0, done_ = 0, rows_ = 0, first_ = 0;
};

Schedule MakeSchedule(Rng& rng, int64_t now) {
  constexpr int64_t kDay = 86400;
  Schedule sc;
  int64_t day = (now / kDay + 1 + static_cast<int64_t>(rng.Below(30))) * kDay;
  int64_t start = day + static_cast<int64_t>(rng.Below(24 * 4)) * 900;  // quarter hours
  double kind = rng.Unit();
  if (kind < 0.5) {
    sc.start = start;
    sc.duration = (2 + static_cast<int64_t>(rng.Below(7))) * 900;  // 30 min .. 2 h
    sc.rule = Rrule{};                                             // FREQ=DAILY
  } else if (kind < 0.75) {
    sc.start = start;
    sc.duration = (2 + static_cast<int64_t>(rng.Below(15))) * 900;  // up to 4 h
    Rrule r;
    r.freq = Frequency::kWeekly;
    int64_t days = start / kDay;  // 1970-01-01 was a Thursday
    r.by_day = {WeekdayNum{0, static_cast<Weekday>((days + 3) % 7)}};
    sc.rule = r;
  } else {
    sc.start = now + 3600 + static_cast<int64_t>(rng.Below(60 * 24 * 60)) * 60;  // within 60 days
    sc.duration = 900 + static_cast<int64_t>(rng.Below(4 * 3600));
  }
  return sc;
}

}  // namespace

Result<WrittenDirectory> WriteDirectory(const Shape& s, const GeneratorOptions& o, Store* store,
                                        const Sealer* sealer, const Progress& progress) {
  WrittenDirectory out;
  Rng rng(o.seed ^ 0x5eedf00dULL);
  const int64_t now = o.now != 0 ? o.now : SystemClock::Get().NowSeconds();
  auto key_server = Endpoint::Parse(o.key_server);
  if (!key_server) return InvalidArgument("key server '" + o.key_server + "' is not host:port");
  BulkLoadScope bulk(store, o.bulk_cache_bytes);
  Loader load(store, o.rows_per_transaction, progress);

  KC_RETURN_IF_ERROR(load.Phase("groups", s.groups()));
  out.group_ids.resize(s.groups());
  for (uint32_t g = 0; g < s.groups(); ++g) {
    KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
    Group grp{GroupId(), GroupName(g), "level " + std::to_string(s.Level(g)), now, now};
    KC_ASSIGN_OR_RETURN(out.group_ids[g], t->InsertGroup(grp));
    KC_RETURN_IF_ERROR(load.Done(1));
  }

  KC_RETURN_IF_ERROR(load.Phase("edges", s.edges()));
  for (uint32_t g = 0; g < s.groups(); ++g) {
    for (uint32_t i = s.parent_begin[g]; i < s.parent_begin[g + 1]; ++i) {
      KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
      KC_RETURN_IF_ERROR(t->InsertEdge(Edge{out.group_ids[s.parents[i]], out.group_ids[g]}));
      KC_RETURN_IF_ERROR(load.Done(1));
    }
  }

  KC_RETURN_IF_ERROR(load.Phase("clients", s.clients()));
  out.client_ids.resize(s.clients());
  for (uint32_t c = 0; c < s.clients(); ++c) {
    KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
    Client cl{ClientId(), ClientName(c), "bench client", true, "", now, now};
    KC_ASSIGN_OR_RETURN(out.client_ids[c], t->InsertClient(cl));
    KC_RETURN_IF_ERROR(load.Done(1));
  }

  KC_RETURN_IF_ERROR(load.Phase("events", s.events()));
  out.event_ids.resize(s.events());
  for (uint32_t e = 0; e < s.events(); ++e) {
    KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
    Event ev;
    ev.name = EventName(e);
    ev.title = std::string(kTitles[rng.Below(std::size(kTitles))]) + " " + std::to_string(e);
    if (s.event_sender[e] != kNone) ev.sender = out.client_ids[s.event_sender[e]];
    uint32_t n = e + 1;
    ev.group_address.family = IpAddress::Family::kV4;
    ev.group_address.bytes[0] = 239;
    ev.group_address.bytes[1] = static_cast<uint8_t>(n >> 16);
    ev.group_address.bytes[2] = static_cast<uint8_t>(n >> 8);
    ev.group_address.bytes[3] = static_cast<uint8_t>(n);
    ev.port = static_cast<uint16_t>(5004 + 2 * (e % 1000));
    if (rng.Chance(0.3)) {  // source-specific multicast: the sender's address
      uint32_t src = s.event_sender[e];
      ev.source_address.family = IpAddress::Family::kV4;
      ev.source_address.bytes[0] = 10;
      ev.source_address.bytes[1] = static_cast<uint8_t>(src >> 16);
      ev.source_address.bytes[2] = static_cast<uint8_t>(src >> 8);
      ev.source_address.bytes[3] = static_cast<uint8_t>(1 + src % 250);
    }
    ev.schedule = MakeSchedule(rng, now);
    static constexpr uint32_t kIntervals[] = {10, 30, 60, 60, 300};
    ev.interval_seconds = kIntervals[rng.Below(std::size(kIntervals))];
    ev.initial_keying_seconds = 300;
    ev.clear_intervals = 0;
    ev.key_servers = {*key_server};
    ev.algorithm = rng.Chance(0.1) ? crypto::AeadAlgorithm::kChaCha20Poly1305
                                   : crypto::AeadAlgorithm::kAes256Gcm;
    ev.delivery = rng.Chance(0.1) ? KeyDelivery::kBoth : KeyDelivery::kPull;
    ev.version = 1;
    ev.created_at = ev.updated_at = now;
    KC_ASSIGN_OR_RETURN(out.event_ids[e], t->InsertEvent(ev));
    SecretBytes secret = crypto::RandomSecret(32);
    KC_RETURN_IF_ERROR(t->PutEventSecret(
        out.event_ids[e], 1,
        sealer->Seal(kEventSecretPurpose, EventSecretRecord(out.event_ids[e], 1), secret), now));
    KC_RETURN_IF_ERROR(load.Done(2));
  }

  KC_RETURN_IF_ERROR(load.Phase("assignments", s.assignments()));
  for (uint32_t e = 0; e < s.events(); ++e) {
    for (uint32_t i = s.event_group_begin[e]; i < s.event_group_begin[e + 1]; ++i) {
      KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
      KC_RETURN_IF_ERROR(
          t->InsertAssignment(Assignment{out.event_ids[e], out.group_ids[s.event_groups[i]]}));
      KC_RETURN_IF_ERROR(load.Done(1));
    }
  }

  KC_RETURN_IF_ERROR(load.Phase("memberships", s.memberships()));
  for (uint32_t c = 0; c < s.clients(); ++c) {
    for (uint32_t i = s.member_begin[c]; i < s.member_begin[c + 1]; ++i) {
      KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
      Role role = s.member_sender[i] ? Role::kSender : Role::kReceiver;
      KC_RETURN_IF_ERROR(t->UpsertMembership(
          Membership{out.client_ids[c], out.group_ids[s.member_group[i]], role}));
      KC_RETURN_IF_ERROR(load.Done(1));
    }
  }

  KC_RETURN_IF_ERROR(load.Phase("api keys", s.api_key_clients.size()));
  out.api_keys.reserve(s.api_key_clients.size());
  for (uint32_t c : s.api_key_clients) {
    KC_ASSIGN_OR_RETURN(StoreTxn * t, load.Txn());
    Token tok = GenerateToken("kca");
    KC_RETURN_IF_ERROR(
        t->InsertApiKey(ApiKey{tok.id, out.client_ids[c], TokenVerifier(tok), "bench", now, 0}));
    out.api_keys.push_back(tok.Encode());
    KC_RETURN_IF_ERROR(load.Done(1));
  }
  KC_RETURN_IF_ERROR(load.Flush());
  return out;
}

}  // namespace keycast::bench
