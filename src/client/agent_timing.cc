// AgentTiming: when the agent asks the key service for what (seed 000
// claims 10, 12, 18; seed 001 Figures 6, 7, 9). Pure: no clock, no I/O.
#include <algorithm>

#include "keycast/client.h"

namespace keycast {
namespace {

Micros Sec(int64_t s) { return s * kMicrosPerSecond; }

}  // namespace

AgentTiming::Event AgentTiming::Of(const TicketEvent& e) {
  return Event{e.schedule, e.interval_seconds, e.initial_keying_seconds, e.clear_intervals};
}

AgentTiming::AgentTiming(Event event, uint64_t seed) : event_(std::move(event)), rng_(seed) {
  push_fraction_ = Unit();
}

double AgentTiming::Unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

std::optional<Micros> AgentTiming::InitialRequestAt(Micros now) {
  auto occ = NextOccurrence(event_.schedule, now / kMicrosPerSecond);
  if (!occ) return std::nullopt;
  Micros start = Sec(occ->start);
  Micros opens = Sec(occ->start - event_.initial_keying_seconds);
  Micros deadline = start;
  if (event_.clear_intervals > 0 && event_.interval_seconds > 0) {
    // Figure 7: the unencrypted first intervals extend the initial keying
    // period up to the first encrypted interval, less a quarter interval
    // for that interval's refresh.
    Micros first_encrypted = std::min(
        Sec(occ->start + int64_t{event_.clear_intervals} * event_.interval_seconds), Sec(occ->end));
    deadline = std::max(start, first_encrypted - Sec(event_.interval_seconds) / 4);
  }
  if (now >= deadline) return now;  // late: ask at once
  Micros from = std::max(now, opens);
  return from + static_cast<Micros>(Unit() * static_cast<double>(deadline - from));
}

AgentTiming::FirstRequest AgentTiming::FirstRequestAt(Micros at) const {
  FirstRequest r;
  if (event_.clear_intervals == 0) return r;
  auto now = EpochAt(event_.schedule, event_.interval_seconds, at / kMicrosPerSecond);
  if (!now || now->index + 1 != event_.clear_intervals) return r;
  auto next = NextEpoch(event_.schedule, event_.interval_seconds, *now);
  if (!next || next->occurrence != now->occurrence) return r;
  r.refresh = true;
  r.epoch = *next;
  r.clear_now = *now;
  return r;
}

std::optional<AgentTiming::Refresh> AgentTiming::NextRefresh(Epoch have, Micros initiation,
                                                             Micros lifetime, Micros now) {
  auto next = NextEpoch(event_.schedule, event_.interval_seconds, have);
  if (!next) return std::nullopt;
  auto w = EpochWindow(event_.schedule, event_.interval_seconds, *next);
  if (!w.ok() || Sec(w->first) != initiation + lifetime)
    return std::nullopt;  // a gap: next occurrence
  if (refresh_offset_ms_ < 0) {
    // Claim 12: random in the first forward security window, then the same
    // offset in every later one. The last quarter is left for retries.
    refresh_offset_ms_ = static_cast<int64_t>(Unit() * 0.75 * event_.interval_seconds * 1000.0);
  }
  Micros due = initiation + refresh_offset_ms_ * 1000;
  if (due < now) {
    // Joined after this interval's offset: spread over what is left.
    Micros until = initiation + lifetime * 3 / 4;
    due = until > now ? now + static_cast<Micros>(Unit() * static_cast<double>(until - now)) : now;
  }
  return Refresh{*next, due};
}

Micros AgentTiming::PushFallbackAt(Micros push_at, Micros lead) const {
  return push_at + static_cast<Micros>(static_cast<double>(lead) * (0.25 + 0.5 * push_fraction_));
}

Micros AgentTiming::RetryAt(Micros now) {
  int wait = static_cast<int>(backoff_ms_ * (0.5 + Unit()));
  backoff_ms_ = std::min(backoff_ms_ * 2, 5000);
  return now + static_cast<Micros>(wait) * 1000;
}

}  // namespace keycast
