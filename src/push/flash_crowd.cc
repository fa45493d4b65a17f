// SimulateFlashCrowd: what N agents ask the key service, and when, with the
// agents' own timing (AgentTiming) and the key service's own epoch choice.
#include <algorithm>
#include <cmath>
#include <random>

#include "keycast/client.h"
#include "keycast/push/simulate.h"
#include "keycast/schedule.h"

namespace keycast::sim {
namespace {

constexpr int64_t kStart = 1'900'000'000;  // a Monday in 2030; any start would do
Micros S(double s) { return static_cast<Micros>(s * kMicrosPerSecond); }

}  // namespace

FlashCrowdResult SimulateFlashCrowd(const FlashCrowdOptions& o) {
  AgentTiming::Event ev;
  ev.schedule.start = kStart;
  ev.schedule.duration = o.after_seconds + 2 * int64_t{o.interval_seconds};
  ev.interval_seconds = o.interval_seconds;
  ev.initial_keying_seconds = o.initial_keying_seconds;
  ev.clear_intervals = o.clear_intervals;

  FlashCrowdResult r;
  r.bucket_seconds = std::max<uint32_t>(o.bucket_seconds, 1);
  r.first_second = -int64_t{o.initial_keying_seconds} - o.before_seconds;
  Micros t0 = S(double(kStart + r.first_second)), t_end = S(double(kStart + o.after_seconds));
  r.requests.assign(static_cast<size_t>((t_end - t0) / S(r.bucket_seconds)) + 1, 0);
  auto count = [&](Micros t) {
    if (t < t0 || t >= t_end) return false;
    ++r.requests[static_cast<size_t>((t - t0) / S(r.bucket_seconds))];
    return true;
  };
  double lead_s = std::clamp(o.interval_seconds * o.push_lead_fraction, 0.2, 60.0);
  lead_s = std::min(lead_s, double(o.interval_seconds));
  auto window = [&](Epoch e) { return EpochWindow(ev.schedule, ev.interval_seconds, e).value(); };

  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> user(o.user_mean_seconds, o.user_sd_seconds);
  size_t always = static_cast<size_t>(std::llround(double(o.clients) * o.always_on));
  for (size_t i = 0; i < o.clients; ++i) {
    // When the client's machine (and so its agent) is on.
    Micros on = i < always ? S(double(kStart) - o.initial_keying_seconds - 3600)
                           : S(double(kStart) + user(rng));
    AgentTiming timing(ev, rng());
    auto first = timing.InitialRequestAt(on);
    if (!first) continue;
    Micros t = *first;
    if (count(t)) ++r.initial_requests;
    // The key service's answer (KeyEngine): epoch 0 before the start, else
    // the current epoch (a late join).
    int64_t ts = t / kMicrosPerSecond;
    Epoch have = ts < kStart ? Epoch{0, 0}
                             : EpochAt(ev.schedule, ev.interval_seconds, ts).value_or(Epoch{0, 0});
    if (auto fr = timing.FirstRequestAt(t); fr.refresh)
      have = fr.epoch;  // straight to the first encrypted key
    // Push: the first commit after the first request admits the member;
    // the first pull after that brings its path keys, then pushes carry on.
    Micros admitted = 0;
    if (o.delivery != KeyDelivery::kPull) {
      for (Epoch e{0, 0};; e.index++) {
        auto w = EpochWindow(ev.schedule, ev.interval_seconds, e);
        if (!w.ok()) break;
        Micros commit = S(double(w->first) - lead_s);
        if (commit > t) {
          admitted = commit;
          break;
        }
      }
    }
    while (true) {
      if (admitted && t >= admitted && o.delivery == KeyDelivery::kPush)
        break;  // follows pushes from here
      auto w = window(have);
      auto next = timing.NextRefresh(have, S(double(w.first)), S(double(w.second - w.first)), t);
      if (!next || next->due >= t_end) break;
      t = next->due;
      if (count(t)) ++r.refresh_requests;
      have = next->epoch;
    }
  }
  // Summaries.
  for (size_t b = 0; b < r.requests.size(); ++b) {
    double rate = double(r.requests[b]) / r.bucket_seconds;
    if (rate > r.peak_rate) {
      r.peak_rate = rate;
      r.peak_at = r.first_second + int64_t(b) * r.bucket_seconds;
    }
  }
  auto mean = [&](int64_t from, int64_t to) {
    uint64_t n = 0;
    int64_t secs = 0;
    for (size_t b = 0; b < r.requests.size(); ++b) {
      int64_t at = r.first_second + int64_t(b) * r.bucket_seconds;
      if (at >= from && at < to) {
        n += r.requests[b];
        secs += r.bucket_seconds;
      }
    }
    return secs ? double(n) / double(secs) : 0.0;
  };
  r.mean_rate_keying =
      mean(-int64_t{o.initial_keying_seconds}, int64_t{o.clear_intervals} * o.interval_seconds);
  r.mean_rate_steady = mean(o.after_seconds - o.interval_seconds, o.after_seconds);
  return r;
}

}  // namespace keycast::sim
