// Schedules of events: when an event is on, and how each occurrence is cut
// into key intervals (epochs). See docs/schedules.md for the supported RRULE
// subset, the numbering of occurrences and epochs, and the binary grammar.
//
// All times are Unix seconds, UTC. There are no other time zones: a rule
// repeats at the same UTC time of day as its start, whatever civil time or
// daylight saving does. Dates are proleptic Gregorian.
//
// Everything here is a pure function of its arguments: thread-safe, no I/O.
// Every occurrence and epoch query does bounded work, however far t lies from
// the start and without iterating over occurrences: O(1) for DAILY, WEEKLY and
// most MONTHLY rules; a short binary search for MONTHLY rules whose number of
// occurrences varies from month to month (BYMONTHDAY=31, BYDAY=MO, BYDAY=5FR);
// at most a few thousand calendar-month steps when such a rule also has an
// INTERVAL that does not divide 12.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keycast/codec.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast {

// No occurrence starts at or after 10000-01-01T00:00:00Z; a rule without
// COUNT or UNTIL ends there. This keeps every date four digits long and every
// occurrence index far below 2^32.
inline constexpr int64_t kScheduleHorizon = 253402300800;  // Unix seconds
// Schedules start in the years 2000..2200 (inclusive), UTC.
inline constexpr int64_t kMinScheduleStart = 946684800;   // 2000-01-01T00:00:00Z
inline constexpr int64_t kMaxScheduleStart = 7289654399;  // 2200-12-31T23:59:59Z

enum class Frequency : uint8_t { kDaily = 1, kWeekly = 2, kMonthly = 3 };

// ISO 8601 order: weeks start on Monday (RFC 5545 WKST=MO).
enum class Weekday : uint8_t {
  kMonday = 0,
  kTuesday,
  kWednesday,
  kThursday,
  kFriday,
  kSaturday,
  kSunday
};

// One BYDAY item. ordinal 0 means "every such weekday" ("MO"); 1..5 and
// -5..-1 (FREQ=MONTHLY only) mean the n-th or n-th-to-last such weekday of
// the month ("1MO", "-1FR").
struct WeekdayNum {
  int8_t ordinal = 0;
  Weekday day = Weekday::kMonday;
  bool operator==(const WeekdayNum&) const = default;
};

// A recurrence rule: the RFC 5545 section 3.3.10 subset Keycast supports.
// Defaults give "FREQ=DAILY". A Rrule from ParseRrule is valid and has its
// lists in canonical order; one built by hand is checked by
// Schedule::Validate().
struct Rrule {
  Frequency freq = Frequency::kDaily;
  uint32_t interval = 1;             // INTERVAL, 1..1000
  std::vector<WeekdayNum> by_day;    // BYDAY; WEEKLY or MONTHLY
  std::vector<int8_t> by_month_day;  // BYMONTHDAY, 1..31 or -31..-1; MONTHLY
  uint32_t count = 0;                // COUNT, 1..100000; 0 = not given
  std::optional<int64_t> until;      // UNTIL, Unix seconds, inclusive

  // Canonical text: FREQ, INTERVAL (omitted when 1), BYDAY, BYMONTHDAY,
  // COUNT or UNTIL, upper case, lists sorted (BYDAY by weekday, then plain,
  // 1..5, -1..-5; BYMONTHDAY 1..31 then -1..-31). ParseRrule(ToString())
  // gives back an equal Rrule, and ToString() of that is the same text.
  std::string ToString() const;

  bool operator==(const Rrule&) const = default;
};

// Parses an RRULE value (without the "RRULE:" property name), for example
// "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=30". Part names and values are
// case-insensitive; parts may come in any order but each at most once.
// Supported: FREQ=DAILY|WEEKLY|MONTHLY (required), INTERVAL, BYDAY (WEEKLY,
// MONTHLY), BYMONTHDAY (MONTHLY; not together with BYDAY), COUNT or UNTIL
// (UTC date-time YYYYMMDDTHHMMSSZ), and WKST=MO (accepted, has no effect).
// Anything else is InvalidArgument naming the offending part
// ("unsupported RRULE part BYHOUR", "BYDAY=XX is not a weekday",
// "COUNT and UNTIL are mutually exclusive"). Input longer than
// limits::kMaxRruleLength bytes is refused unread.
Result<Rrule> ParseRrule(std::string_view text);

// When an event is on: a one-off [start, start + duration) when rule is
// empty, otherwise one such occurrence per date the rule produces, each at the
// UTC time of day of start.
struct Schedule {
  int64_t start = 0;          // Unix seconds; the first occurrence (DTSTART)
  int64_t duration = 0;       // seconds, 1..limits::kMaxEventDurationSeconds
  std::optional<Rrule> rule;  // empty = one-off

  // Ok, or InvalidArgument naming the cause. A valid schedule has:
  // - duration within 1..limits::kMaxEventDurationSeconds;
  // - start within the years 2000..2200;
  // - a valid rule whose canonical text fits limits::kMaxRruleLength;
  // - start matching the rule, so that start is occurrence 0 (a start on a
  //   Tuesday with BYDAY=MO,WE is refused, not silently moved);
  // - UNTIL, if given, not before start;
  // - duration no longer than the shortest gap between the starts of two
  //   consecutive occurrences the rule can produce, so occurrences never
  //   overlap (back to back is allowed). For MONTHLY rules with INTERVAL > 1
  //   or months the rule skips, the gap used is a lower bound of the true
  //   one, at most a few days short.
  Status Validate() const;

  bool operator==(const Schedule&) const = default;
};

// One occurrence: [start, end), end = start + duration. index counts from 0
// (the start of the schedule) in time order, as RFC 5545 counts COUNT.
struct Occurrence {
  uint32_t index = 0;
  int64_t start = 0;
  int64_t end = 0;
  bool operator==(const Occurrence&) const = default;
};

// Occurrence queries. REQUIRES: schedule.Validate().ok(). On a schedule that
// is malformed they return nullopt (never crash or loop); on one that is only
// refused for overlapping occurrences the results are unspecified.

// The occurrence with start <= t < end, or nullopt when t is in no occurrence.
std::optional<Occurrence> OccurrenceAt(const Schedule& schedule, int64_t t);
// The first occurrence with end > t: the current one, or else the next one;
// nullopt when the schedule is over.
std::optional<Occurrence> NextOccurrence(const Schedule& schedule, int64_t t);
// Occurrence number `index`, or nullopt when the schedule has fewer.
std::optional<Occurrence> OccurrenceByIndex(const Schedule& schedule, uint32_t index);

// Epochs: each occurrence is cut into key intervals of interval_seconds
// (limits::kMinIntervalSeconds..limits::kMaxIntervalSeconds) from its start;
// the last interval of an occurrence ends with the occurrence and may be
// shorter. Epoch{occurrence, index} names interval `index` (0-based) of
// occurrence `occurrence`. An interval length out of range gives nullopt,
// 0 or InvalidArgument.

// Number of intervals per occurrence: ceil(duration / interval_seconds).
uint32_t EpochsInOccurrence(const Schedule& schedule, uint32_t interval_seconds);
// The epoch containing t, or nullopt when t is in no occurrence.
std::optional<Epoch> EpochAt(const Schedule& schedule, uint32_t interval_seconds, int64_t t);
// [start, end) of an epoch; NotFound when the schedule has no such epoch.
Result<std::pair<int64_t, int64_t>> EpochWindow(const Schedule& schedule, uint32_t interval_seconds,
                                                Epoch epoch);
// The epoch after `epoch` in time: the next interval of the same occurrence,
// or interval 0 of the next occurrence. nullopt when `epoch` does not exist or
// is the last one.
std::optional<Epoch> NextEpoch(const Schedule& schedule, uint32_t interval_seconds, Epoch epoch);

// RFC 3339 date-times: "2026-11-22T20:00:00Z" or with a numeric offset
// "2026-11-22T21:00:00+01:00" ("-00:00" is UTC). 'T' and 'Z' may be lower
// case. Refused: fractional seconds, leap seconds (:60), fields out of range
// (month 13, Feb 30, hour 24), anything else that is not exactly this form.
Result<int64_t> ParseRfc3339(std::string_view text);
// "YYYY-MM-DDTHH:MM:SSZ". REQUIRES: t within years 0000..9999 (others still
// print, with a longer or signed year).
std::string FormatRfc3339(int64_t t);

// Durations in seconds: a plain non-negative integer ("90"), or ISO 8601 /
// RFC 5545 "P[nD][T[nH][nM][nS]]" or "PnW" ("PT2H30M", "P1D", "PT45S", "P2W").
// Refused: years and months (their length varies), signs, fractions, empty
// designators ("P", "PT"), and values that do not fit in int64_t.
Result<int64_t> ParseDuration(std::string_view text);
// Canonical ISO 8601: "PT0S", "PT45S", "PT2H30M", "P1DT1S"; a negative
// duration gets a leading '-'. ParseDuration(FormatDuration(d)) == d for d >= 0.
std::string FormatDuration(int64_t seconds);

// Binary form, for tickets (docs/schedules.md):
//   schedule = start:i64 duration:i64 rrule:opaque8<0..255>
// rrule is the canonical RRULE text, empty for a one-off.
// REQUIRES: schedule.Validate().ok().
void EncodeSchedule(const Schedule& schedule, Writer& w);
// Reads one schedule. Fails through Reader::Fail, with the reason, when the
// input is truncated, the rule does not parse or is not in canonical form, or
// the schedule does not validate. *out is written only on success.
bool DecodeSchedule(Reader& r, Schedule* out);

}  // namespace keycast
