// Internals of keycast_schedule shared by its files and its tests. Not part
// of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "keycast/schedule.h"
#include "keycast/status.h"

namespace keycast::schedule_internal {

// Ok, or InvalidArgument naming the field: the checks ParseRrule and
// Schedule::Validate share (ranges, combinations, duplicates). Allocates only
// on failure. Does not check the length of the canonical text.
Status CheckRule(const Rrule& rule);

// s with bytes outside printable ASCII shown as \xNN, for error messages.
std::string Printable(std::string_view s);

// "MO".."SU". REQUIRES: d is a valid Weekday.
std::string_view WeekdayName(Weekday d);

// UNTIL text: YYYYMMDDTHHMMSSZ.
std::string FormatUntil(int64_t t);

// Ok, or InvalidArgument naming the field out of range ("day 30 is out of
// range for 2026-02", "second 60 is out of range 0..59 (no leap seconds)").
Status CheckDateTimeFields(int64_t year, unsigned month, unsigned day, unsigned hour,
                           unsigned minute, unsigned second);
// Unix seconds of a UTC date-time. REQUIRES: CheckDateTimeFields(...).ok().
int64_t UnixFromDateTime(int64_t year, unsigned month, unsigned day, unsigned hour, unsigned minute,
                         unsigned second);

// Test hook: the number of steps (calendar months walked, plus one per O(1)
// jump) occurrence queries took on this thread since the last reset. Lets
// tests assert that work is bounded without timing anything.
uint64_t& WorkSteps();

// The most steps one occurrence lookup (OccurrenceAt, NextOccurrence,
// OccurrenceByIndex) can take, whatever the schedule and t.
inline constexpr uint64_t kMaxStepsPerLookup = 3 * 4800 + 16;

// The shortest gap, in seconds, between the starts of two consecutive
// occurrences that Validate() compares the duration with (a lower bound of
// the true gap; exact for DAILY, WEEKLY and MONTHLY with INTERVAL=1 when no
// month is skipped). nullopt for one-off or malformed schedules.
std::optional<int64_t> MinGapSeconds(const Schedule& schedule);

}  // namespace keycast::schedule_internal
