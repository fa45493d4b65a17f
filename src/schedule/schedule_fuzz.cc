// libFuzzer target for the schedule part. The input is used three ways:
// as text for ParseRrule, ParseRfc3339 and ParseDuration; as a binary
// schedule for DecodeSchedule; and, when a schedule decodes, the bytes after
// it pick times (and an interval length) to query. Checks round trips, query
// invariants and the work bound; any violation aborts.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "keycast/codec.h"
#include "keycast/limits.h"
#include "keycast/schedule.h"
#include "schedule/schedule_internal.h"

namespace {

using namespace keycast;
namespace si = schedule_internal;

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzText(std::string_view text) {
  if (auto r = ParseRrule(text); r.ok()) {
    const std::string canonical = r->ToString();
    Check(canonical.size() <= text.size());
    auto again = ParseRrule(canonical);
    Check(again.ok() && *again == *r && again->ToString() == canonical);
  }
  if (auto t = ParseRfc3339(text); t.ok()) {
    Check(*t >= -62167219200 - 86400 && *t < kScheduleHorizon + 86400);
    auto back = ParseRfc3339(FormatRfc3339(*t));
    Check(back.ok() && *back == *t);
  }
  if (auto d = ParseDuration(text); d.ok()) {
    Check(*d >= 0);
    auto back = ParseDuration(FormatDuration(*d));
    Check(back.ok() && *back == *d);
  }
}

// Lookups on a valid schedule at time t agree with each other.
void Query(const Schedule& s, int64_t t, uint32_t interval) {
  si::WorkSteps() = 0;
  auto at = OccurrenceAt(s, t);
  Check(si::WorkSteps() <= si::kMaxStepsPerLookup);
  if (at) {
    Check(at->start <= t && t < at->end && at->end - at->start == s.duration);
    Check(OccurrenceByIndex(s, at->index) == at);
  }
  si::WorkSteps() = 0;
  auto next = NextOccurrence(s, t);
  Check(si::WorkSteps() <= si::kMaxStepsPerLookup);
  if (at) Check(next == at);
  if (next) {
    Check(next->end > t);
    if (!at) Check(next->start > t);
    if (next->index > 0) {
      auto prev = OccurrenceByIndex(s, next->index - 1);
      Check(prev && prev->end <= t && prev->end <= next->start);
    }
  } else {
    Check(!at);
  }
  auto epoch = EpochAt(s, interval, t);
  Check(epoch.has_value() == (at.has_value() && interval >= limits::kMinIntervalSeconds &&
                              interval <= limits::kMaxIntervalSeconds));
  if (epoch) {
    Check(epoch->occurrence == at->index);
    auto window = EpochWindow(s, interval, *epoch);
    Check(window.ok() && window->first <= t && t < window->second);
    if (auto following = NextEpoch(s, interval, *epoch)) Check(*epoch < *following);
  }
}

uint64_t Load64(ByteView b, size_t i) {
  uint64_t v = 0;
  for (size_t k = 0; k < 8; ++k) v = (v << 8) | (i + k < b.size() ? b[i + k] : 0);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);
  FuzzText(AsString(in));

  Reader r(in);
  Schedule s;
  if (!DecodeSchedule(r, &s)) {
    Check(!r.error().empty());
    return 0;
  }
  Check(s.Validate().ok());
  // The encoding is canonical: re-encoding gives back the bytes read.
  Bytes again;
  Writer w(&again);
  EncodeSchedule(s, w);
  Check(again.size() == r.offset() && std::equal(again.begin(), again.end(), in.begin()));

  const ByteView rest = r.rest();
  const uint32_t interval = uint32_t(Load64(rest, 0) >> 32);
  for (size_t i = 0; i < 4; ++i) {
    const uint64_t x = Load64(rest, 4 + 8 * i);
    Query(s, int64_t(x), interval);                                                // anywhere
    Query(s, s.start + int64_t(x % (200ull * 366 * 86400)), interval % 7200 + 1);  // near
  }
  return 0;
}
