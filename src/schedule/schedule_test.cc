#include "keycast/schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <string>
#include <vector>

#include "keycast/limits.h"
#include "schedule/schedule_internal.h"

namespace keycast {
namespace {

namespace si = schedule_internal;
using Strings = std::vector<std::string>;

constexpr int64_t kDay = 86400;
constexpr int64_t kHour = 3600;

int64_t T(std::string_view text) {
  auto t = ParseRfc3339(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  return t.ok() ? *t : 0;
}

Rrule R(std::string_view text) {
  auto r = ParseRrule(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Rrule{};
}

Schedule Make(std::string_view start, int64_t duration, std::string_view rule = "") {
  Schedule s{T(start), duration, std::nullopt};
  if (!rule.empty()) s.rule = R(rule);
  return s;
}

// Start times of the first n occurrences, as text; stops early at the end.
Strings Starts(const Schedule& s, uint32_t n) {
  Strings out;
  for (uint32_t i = 0; i < n; ++i) {
    auto occ = OccurrenceByIndex(s, i);
    if (!occ) break;
    out.push_back(FormatRfc3339(occ->start));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reference model: decides, day by day with std::chrono's calendar (not the
// code under test), whether a day is an occurrence, straight from the RFC
// 5545 definitions.

namespace chr = std::chrono;

bool RefMatches(const Rrule& r, int64_t d0, int64_t d) {
  const chr::sys_days day{chr::days{d}}, first{chr::days{d0}};
  const chr::year_month_day ymd{day}, ymd0{first};
  const chr::weekday wd{day}, wd0{first};
  auto mon_index = [](chr::weekday w) { return (w.c_encoding() + 6) % 7; };  // Monday = 0
  switch (r.freq) {
    case Frequency::kDaily:
      return (d - d0) % r.interval == 0;
    case Frequency::kWeekly: {
      const auto monday = day - chr::days{mon_index(wd)};
      const auto monday0 = first - chr::days{mon_index(wd0)};
      if ((monday - monday0).count() / 7 % r.interval != 0) return false;
      if (r.by_day.empty()) return wd == wd0;
      for (const auto& w : r.by_day) {
        if (int(w.day) == int(mon_index(wd))) return true;
      }
      return false;
    }
    case Frequency::kMonthly: {
      const int months = (int(ymd.year()) - int(ymd0.year())) * 12 +
                         (int(unsigned(ymd.month())) - int(unsigned(ymd0.month())));
      if (months % int(r.interval) != 0) return false;
      const int dom = int(unsigned(ymd.day()));
      const int last = int(
          unsigned(chr::year_month_day_last(ymd.year(), chr::month_day_last(ymd.month())).day()));
      if (!r.by_month_day.empty()) {
        for (int v : r.by_month_day) {
          if ((v > 0 && dom == v) || (v < 0 && dom == last + 1 + v)) return true;
        }
        return false;
      }
      if (!r.by_day.empty()) {
        for (const auto& w : r.by_day) {
          if (int(w.day) != int(mon_index(wd))) continue;
          if (w.ordinal == 0) return true;
          if (w.ordinal > 0 && (dom - 1) / 7 + 1 == w.ordinal) return true;
          if (w.ordinal < 0 && (last - dom) / 7 + 1 == -w.ordinal) return true;
        }
        return false;
      }
      return dom == int(unsigned(ymd0.day()));
    }
  }
  return false;
}

// The first `max` occurrence starts, by brute force.
std::vector<int64_t> RefStarts(const Schedule& s, size_t max) {
  std::vector<int64_t> out;
  const int64_t d0 = s.start >= 0 ? s.start / kDay : -1;
  const int64_t tod = s.start - d0 * kDay;
  if (!s.rule) return {s.start};
  for (int64_t d = d0; out.size() < max; ++d) {
    const int64_t start = d * kDay + tod;
    if (start >= kScheduleHorizon) break;
    if (s.rule->until && start > *s.rule->until) break;
    if (s.rule->count && out.size() >= s.rule->count) break;
    if (RefMatches(*s.rule, d0, d)) out.push_back(start);
  }
  return out;
}

// ---------------------------------------------------------------------------
// RRULE parsing

TEST(ParseRrule, AcceptsSubsetAndCanonicalizes) {
  struct Case {
    const char* in;
    const char* canonical;
  } cases[] = {
      {"FREQ=DAILY", "FREQ=DAILY"},
      {"FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"},
      {"FREQ=DAILY;INTERVAL=007", "FREQ=DAILY;INTERVAL=7"},
      {"FREQ=DAILY;INTERVAL=1000;COUNT=100000", "FREQ=DAILY;INTERVAL=1000;COUNT=100000"},
      {"freq=weekly;byday=fr,mo,we", "FREQ=WEEKLY;BYDAY=MO,WE,FR"},
      {"FREQ=WEEKLY;WKST=MO;BYDAY=SU", "FREQ=WEEKLY;BYDAY=SU"},
      {"COUNT=3;FREQ=WEEKLY", "FREQ=WEEKLY;COUNT=3"},
      {"BYMONTHDAY=-1,15,1;FREQ=MONTHLY", "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"},
      {"FREQ=MONTHLY;BYMONTHDAY=-31,+31,-2", "FREQ=MONTHLY;BYMONTHDAY=31,-2,-31"},
      {"FREQ=MONTHLY;BYDAY=-1FR,+1MO", "FREQ=MONTHLY;BYDAY=1MO,-1FR"},
      {"FREQ=MONTHLY;BYDAY=-2MO,5SU,1MO,MO", "FREQ=MONTHLY;BYDAY=MO,1MO,-2MO,5SU"},
      {"FREQ=MONTHLY;INTERVAL=2;BYDAY=TU", "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"},
      {"FREQ=DAILY;UNTIL=20261231T235959Z", "FREQ=DAILY;UNTIL=20261231T235959Z"},
      {"FREQ=DAILY;until=20261231t000000z", "FREQ=DAILY;UNTIL=20261231T000000Z"},
  };
  for (const auto& c : cases) {
    auto r = ParseRrule(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().ToString();
    EXPECT_EQ(r->ToString(), c.canonical) << c.in;
    auto again = ParseRrule(r->ToString());
    ASSERT_TRUE(again.ok()) << c.canonical;
    EXPECT_EQ(*again, *r) << c.canonical;
    EXPECT_EQ(again->ToString(), c.canonical);
  }
}

TEST(ParseRrule, FieldsOfAParsedRule) {
  Rrule r = R("FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR,1MO;UNTIL=20300101T120000Z");
  EXPECT_EQ(r.freq, Frequency::kMonthly);
  EXPECT_EQ(r.interval, 3u);
  ASSERT_EQ(r.by_day.size(), 2u);
  EXPECT_EQ(r.by_day[0], (WeekdayNum{1, Weekday::kMonday}));
  EXPECT_EQ(r.by_day[1], (WeekdayNum{-1, Weekday::kFriday}));
  EXPECT_TRUE(r.by_month_day.empty());
  EXPECT_EQ(r.count, 0u);
  ASSERT_TRUE(r.until.has_value());
  EXPECT_EQ(*r.until, 1893499200);  // 2030-01-01T12:00:00Z
}

TEST(ParseRrule, RejectsWithTheOffendingPart) {
  struct Case {
    std::string in;
    const char* error;
  } cases[] = {
      {"", "empty RRULE"},
      {"FREQ=DAILY;BYHOUR=9", "unsupported RRULE part BYHOUR"},
      {"FREQ=MONTHLY;BYSETPOS=1;BYDAY=MO", "unsupported RRULE part BYSETPOS"},
      {"FREQ=DAILY;byminute=5", "unsupported RRULE part BYMINUTE"},
      {"FREQ=DAILY;BYMONTH=1", "unsupported RRULE part BYMONTH"},
      {"FREQ=DAILY;X-FOO=1", "unsupported RRULE part X-FOO"},
      {std::string("FREQ=DAILY;BY\x01=1", 17), "unsupported RRULE part BY\\x01"},
      {"FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX is not a weekday"},
      {"FREQ=WEEKLY;BYDAY=MO,MON", "BYDAY=MON is not a weekday"},
      {"FREQ=MONTHLY;BYDAY=+MO", "BYDAY=+MO is not a weekday"},
      {"FREQ=MONTHLY;BYDAY=100MO", "BYDAY=100MO is not a weekday"},
      {"FREQ=DAILY;COUNT=5;UNTIL=20261231T000000Z", "COUNT and UNTIL are mutually exclusive"},
      {"FREQ=YEARLY", "FREQ=YEARLY is not supported (DAILY, WEEKLY or MONTHLY)"},
      {"FREQ=HOURLY", "FREQ=HOURLY is not supported (DAILY, WEEKLY or MONTHLY)"},
      {"INTERVAL=2", "RRULE has no FREQ"},
      {"FREQ=DAILY;INTERVAL=0", "INTERVAL=0 is out of range 1..1000"},
      {"FREQ=DAILY;INTERVAL=1001", "INTERVAL=1001 is out of range 1..1000"},
      {"FREQ=DAILY;INTERVAL=-1", "INTERVAL=-1 is not a number"},
      {"FREQ=DAILY;INTERVAL=1x", "INTERVAL=1X is not a number"},
      {"FREQ=DAILY;COUNT=0", "COUNT=0 is out of range 1..100000"},
      {"FREQ=DAILY;COUNT=100001", "COUNT=100001 is out of range 1..100000"},
      {"FREQ=DAILY;COUNT=99999999999999999999999",
       "COUNT=99999999999999999999999 is out of range 1..100000"},
      {"FREQ=DAILY;FREQ=DAILY", "RRULE part FREQ appears more than once"},
      {"FREQ=DAILY;COUNT=1;count=2", "RRULE part COUNT appears more than once"},
      {"FREQ=DAILY;", "RRULE has an empty part"},
      {";FREQ=DAILY", "RRULE has an empty part"},
      {"FREQ=DAILY;COUNT", "RRULE part COUNT has no '='"},
      {"FREQ=DAILY;COUNT=", "RRULE part COUNT is empty"},
      {"FREQ=DAILY;BYDAY=MO", "BYDAY is not supported with FREQ=DAILY"},
      {"FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO: an ordinal needs FREQ=MONTHLY"},
      {"FREQ=MONTHLY;BYDAY=6MO", "BYDAY=6MO: the ordinal must be 1..5 or -5..-1"},
      {"FREQ=MONTHLY;BYDAY=-6MO", "BYDAY=-6MO: the ordinal must be 1..5 or -5..-1"},
      {"FREQ=MONTHLY;BYDAY=0MO", "BYDAY=0MO: the ordinal must be 1..5 or -5..-1"},
      {"FREQ=MONTHLY;BYDAY=MO,,TU", "BYDAY has an empty item"},
      {"FREQ=MONTHLY;BYDAY=MO,", "BYDAY has an empty item"},
      {"FREQ=MONTHLY;BYDAY=MO,mo", "BYDAY lists MO twice"},
      {"FREQ=MONTHLY;BYDAY=-1FR,-1FR", "BYDAY lists -1FR twice"},
      {"FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 is not a day of the month (1..31 or -31..-1)"},
      {"FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32 is not a day of the month (1..31 or -31..-1)"},
      {"FREQ=MONTHLY;BYMONTHDAY=-32",
       "BYMONTHDAY=-32 is not a day of the month (1..31 or -31..-1)"},
      {"FREQ=MONTHLY;BYMONTHDAY=1X", "BYMONTHDAY=1X is not a day of the month (1..31 or -31..-1)"},
      {"FREQ=MONTHLY;BYMONTHDAY=15,15", "BYMONTHDAY lists 15 twice"},
      {"FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY is only supported with FREQ=MONTHLY"},
      {"FREQ=DAILY;BYMONTHDAY=1", "BYMONTHDAY is only supported with FREQ=MONTHLY"},
      {"FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "BYDAY and BYMONTHDAY together are not supported"},
      {"FREQ=WEEKLY;WKST=SU", "WKST=SU is not supported (only MO)"},
      {"FREQ=DAILY;UNTIL=20261231",
       "UNTIL=20261231 is a date; UNTIL must be a UTC date-time YYYYMMDDTHHMMSSZ"},
      {"FREQ=DAILY;UNTIL=20261231T000000",
       "UNTIL=20261231T000000 is a floating time; UNTIL must be UTC, ending in Z"},
      {"FREQ=DAILY;UNTIL=2026-12-31", "UNTIL=2026-12-31 is not a UTC date-time YYYYMMDDTHHMMSSZ"},
      {"FREQ=DAILY;UNTIL=20260230T000000Z",
       "UNTIL=20260230T000000Z: day 30 is out of range for 2026-02 (1..28)"},
      {"FREQ=DAILY;UNTIL=20261231T240000Z",
       "UNTIL=20261231T240000Z: hour 24 is out of range 0..23"},
      {std::string(256, 'A'), "RRULE is 256 bytes, longer than 255"},
  };
  for (const auto& c : cases) {
    auto r = ParseRrule(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.in;
    EXPECT_EQ(r.status().message(), c.error) << c.in;
  }
}

TEST(ParseRrule, LengthBoundIsExactlyTheLimit) {
  // A valid rule padded with leading zeros to exactly the limit still parses.
  std::string prefix = "FREQ=DAILY;COUNT=";
  std::string text = prefix + std::string(limits::kMaxRruleLength - prefix.size() - 1, '0') + "5";
  ASSERT_EQ(text.size(), limits::kMaxRruleLength);
  auto r = ParseRrule(text);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ToString(), "FREQ=DAILY;COUNT=5");
  EXPECT_FALSE(ParseRrule(text + "0").ok());
}

// ---------------------------------------------------------------------------
// Validate

TEST(Schedule, ValidateAcceptsAndRefuses) {
  EXPECT_TRUE(Make("2026-11-22T20:00:00Z", 2 * kHour).Validate().ok());
  EXPECT_TRUE(Make("2000-01-01T00:00:00Z", 1).Validate().ok());
  EXPECT_TRUE(Make("2200-12-31T23:59:59Z", limits::kMaxEventDurationSeconds).Validate().ok());

  struct Case {
    Schedule s;
    const char* error;
  } cases[] = {
      {Make("2026-11-22T20:00:00Z", 0), "duration 0 s is out of range 1..316224000 s"},
      {Make("2026-11-22T20:00:00Z", limits::kMaxEventDurationSeconds + 1),
       "duration 316224001 s is out of range 1..316224000 s"},
      {Make("1999-12-31T23:59:59Z", 60),
       "start 946684799 (1999-12-31T23:59:59Z) is outside the years 2000..2200"},
      {Make("2201-01-01T00:00:00Z", 60),
       "start 7289654400 (2201-01-01T00:00:00Z) is outside the years 2000..2200"},
      {Make("2026-11-24T18:00:00Z", kHour, "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
       "start 2026-11-24T18:00:00Z (a Tuesday) does not match FREQ=WEEKLY;BYDAY=MO,WE,FR; the "
       "start must be the rule's first occurrence"},
      {Make("2024-01-10T09:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"),
       "start 2024-01-10T09:00:00Z (a Wednesday) does not match FREQ=MONTHLY;BYMONTHDAY=1,15,-1; "
       "the start must be the rule's first occurrence"},
      {Make("2024-01-08T09:00:00Z", kHour, "FREQ=MONTHLY;BYDAY=1MO"),
       "start 2024-01-08T09:00:00Z (a Monday) does not match FREQ=MONTHLY;BYDAY=1MO; the start "
       "must be the rule's first occurrence"},
      {Make("2026-11-22T20:00:00Z", kHour, "FREQ=DAILY;UNTIL=20261122T195959Z"),
       "UNTIL 2026-11-22T19:59:59Z is before start 2026-11-22T20:00:00Z"},
      {Make("2026-11-22T20:00:00Z", kDay + 1, "FREQ=DAILY"),
       "duration 86401 s is longer than the shortest gap between occurrences of FREQ=DAILY "
       "(86400 s); occurrences would overlap"},
      {Make("2026-11-23T20:00:00Z", 2 * kDay + 1, "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
       "duration 172801 s is longer than the shortest gap between occurrences of "
       "FREQ=WEEKLY;BYDAY=MO,WE,FR (172800 s); occurrences would overlap"},
  };
  for (const auto& c : cases) {
    Status st = c.s.Validate();
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << c.error;
    EXPECT_EQ(st.message(), c.error);
  }
}

TEST(Schedule, ValidateChecksHandBuiltRules) {
  Schedule s = Make("2026-11-23T20:00:00Z", kHour, "FREQ=WEEKLY");
  s.rule->interval = 0;
  EXPECT_EQ(s.Validate().message(), "INTERVAL=0 is out of range 1..1000");
  s.rule->interval = 1;
  s.rule->by_day = {{0, Weekday(9)}};
  EXPECT_EQ(s.Validate().message(), "BYDAY has an invalid weekday");
  s.rule->by_day = {{2, Weekday::kMonday}};
  EXPECT_EQ(s.Validate().message(), "BYDAY=2MO: an ordinal needs FREQ=MONTHLY");

  // Every BYDAY item there is: valid alone, but its text is too long.
  Schedule m = Make("2024-01-01T00:00:00Z", kHour, "FREQ=MONTHLY");
  for (int d = 0; d < 7; ++d) {
    for (int o = -5; o <= 5; ++o) m.rule->by_day.push_back({int8_t(o), Weekday(d)});
  }
  EXPECT_EQ(m.Validate().message(), "RRULE text is 354 bytes, longer than 255");
}

TEST(Schedule, ValidateAllowsBackToBackButNotOverlap) {
  EXPECT_TRUE(Make("2026-11-22T20:00:00Z", kDay, "FREQ=DAILY").Validate().ok());
  EXPECT_TRUE(Make("2026-11-22T20:00:00Z", 3 * kDay, "FREQ=DAILY;INTERVAL=3").Validate().ok());
  EXPECT_TRUE(Make("2026-11-23T20:00:00Z", 2 * kDay, "FREQ=WEEKLY;BYDAY=MO,WE,FR").Validate().ok());
  // Every other week on Sunday and Monday: Monday -> Sunday is the short gap.
  EXPECT_TRUE(
      Make("2026-11-23T00:00:00Z", 6 * kDay, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU").Validate().ok());
  EXPECT_FALSE(Make("2026-11-23T00:00:00Z", 6 * kDay + 1, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU")
                   .Validate()
                   .ok());
  // The last day of a month and the first of the next are one day apart.
  EXPECT_TRUE(
      Make("2024-01-01T00:00:00Z", kDay, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1").Validate().ok());
  EXPECT_FALSE(
      Make("2024-01-01T00:00:00Z", kDay + 1, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1").Validate().ok());
  // Monthly on the 31st: July 31 -> August 31 is the shortest gap.
  EXPECT_TRUE(Make("2024-01-31T00:00:00Z", 31 * kDay, "FREQ=MONTHLY").Validate().ok());
  EXPECT_FALSE(Make("2024-01-31T00:00:00Z", 31 * kDay + 1, "FREQ=MONTHLY").Validate().ok());
}

// The gap Validate() uses never exceeds the true one (that would allow
// overlaps), and is exact for the common rules.
TEST(Schedule, MinGapIsALowerBoundAndExactForInterval1) {
  struct Case {
    const char* start;
    const char* rule;
    int64_t exact_days;  // 0 = only check the bound
  } cases[] = {
      {"2024-01-01T00:00:00Z", "FREQ=DAILY;INTERVAL=5", 5},
      {"2026-11-23T00:00:00Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR", 2},
      {"2026-11-26T00:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", 2},
      {"2026-11-26T00:00:00Z", "FREQ=WEEKLY;INTERVAL=3", 21},
      {"2024-01-01T00:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=1,15,-1", 1},
      {"2024-01-01T00:00:00Z", "FREQ=MONTHLY;BYDAY=1MO,-1FR", 3},
      {"2024-01-15T00:00:00Z", "FREQ=MONTHLY", 28},
      {"2024-01-31T00:00:00Z", "FREQ=MONTHLY", 31},
      {"2024-01-31T00:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=-1", 28},
      {"2024-01-01T00:00:00Z", "FREQ=MONTHLY;BYDAY=MO", 7},
      {"2024-03-29T00:00:00Z", "FREQ=MONTHLY;BYDAY=5FR", 0},
      {"2024-01-01T00:00:00Z", "FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO", 0},
      {"2024-01-31T00:00:00Z", "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=31,1", 0},
      {"2000-02-29T00:00:00Z", "FREQ=MONTHLY;INTERVAL=12", 0},
  };
  for (const auto& c : cases) {
    Schedule s = Make(c.start, 1, c.rule);
    ASSERT_TRUE(s.Validate().ok()) << c.rule << ": " << s.Validate().ToString();
    auto starts = RefStarts(s, 600);
    ASSERT_GE(starts.size(), 2u);
    int64_t gap = INT64_MAX;
    for (size_t i = 1; i < starts.size(); ++i) gap = std::min(gap, starts[i] - starts[i - 1]);
    auto bound = si::MinGapSeconds(s);
    ASSERT_TRUE(bound.has_value()) << c.rule;
    EXPECT_LE(*bound, gap) << c.rule;
    if (c.exact_days) {
      EXPECT_EQ(*bound, c.exact_days * kDay) << c.rule;
      EXPECT_EQ(gap, c.exact_days * kDay) << c.rule;
    }
  }
}

// ---------------------------------------------------------------------------
// Occurrence sequences against hand-computed dates

TEST(Occurrences, DailyAcrossLeapDayWithCount) {
  Schedule s = Make("2024-02-26T20:00:00Z", 2 * kHour, "FREQ=DAILY;INTERVAL=3;COUNT=5");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 10),
            (Strings{"2024-02-26T20:00:00Z", "2024-02-29T20:00:00Z", "2024-03-03T20:00:00Z",
                     "2024-03-06T20:00:00Z", "2024-03-09T20:00:00Z"}));
  EXPECT_FALSE(OccurrenceByIndex(s, 5));
  EXPECT_FALSE(NextOccurrence(s, T("2024-03-09T22:00:00Z")));
  EXPECT_EQ(NextOccurrence(s, T("2024-03-09T21:59:59Z"))->index, 4u);
}

TEST(Occurrences, WeeklyMonWedFri) {
  Schedule s = Make("2026-11-23T18:00:00Z", kHour, "FREQ=WEEKLY;BYDAY=MO,WE,FR");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 8),
            (Strings{"2026-11-23T18:00:00Z", "2026-11-25T18:00:00Z", "2026-11-27T18:00:00Z",
                     "2026-11-30T18:00:00Z", "2026-12-02T18:00:00Z", "2026-12-04T18:00:00Z",
                     "2026-12-07T18:00:00Z", "2026-12-09T18:00:00Z"}));
}

TEST(Occurrences, WeeklyEveryOtherWeekStartingMidWeek) {
  // Starts on a Thursday: the Tuesday of the first week is before the start.
  Schedule s = Make("2026-11-26T07:30:00Z", kHour, "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 6),
            (Strings{"2026-11-26T07:30:00Z", "2026-12-08T07:30:00Z", "2026-12-10T07:30:00Z",
                     "2026-12-22T07:30:00Z", "2026-12-24T07:30:00Z", "2027-01-05T07:30:00Z"}));
}

TEST(Occurrences, MonthlyFirstFifteenthAndLastDay) {
  Schedule s = Make("2024-01-15T09:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 12),
            (Strings{"2024-01-15T09:00:00Z", "2024-01-31T09:00:00Z", "2024-02-01T09:00:00Z",
                     "2024-02-15T09:00:00Z", "2024-02-29T09:00:00Z", "2024-03-01T09:00:00Z",
                     "2024-03-15T09:00:00Z", "2024-03-31T09:00:00Z", "2024-04-01T09:00:00Z",
                     "2024-04-15T09:00:00Z", "2024-04-30T09:00:00Z", "2024-05-01T09:00:00Z"}));
  // In a common year February ends on the 28th.
  Schedule c = Make("2025-02-15T09:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1");
  EXPECT_EQ(Starts(c, 3),
            (Strings{"2025-02-15T09:00:00Z", "2025-02-28T09:00:00Z", "2025-03-01T09:00:00Z"}));
}

TEST(Occurrences, MonthlyFirstMondayAndLastFriday) {
  Schedule s = Make("2024-01-01T12:00:00Z", kHour, "FREQ=MONTHLY;BYDAY=1MO,-1FR");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 12),
            (Strings{"2024-01-01T12:00:00Z", "2024-01-26T12:00:00Z", "2024-02-05T12:00:00Z",
                     "2024-02-23T12:00:00Z", "2024-03-04T12:00:00Z", "2024-03-29T12:00:00Z",
                     "2024-04-01T12:00:00Z", "2024-04-26T12:00:00Z", "2024-05-06T12:00:00Z",
                     "2024-05-31T12:00:00Z", "2024-06-03T12:00:00Z", "2024-06-28T12:00:00Z"}));
}

TEST(Occurrences, MonthlySkipsMonthsWithoutTheDay) {
  // RFC 5545: dates that do not exist (April 31) are ignored, not moved.
  Schedule s = Make("2024-01-31T10:00:00Z", kHour, "FREQ=MONTHLY");
  EXPECT_EQ(Starts(s, 8),
            (Strings{"2024-01-31T10:00:00Z", "2024-03-31T10:00:00Z", "2024-05-31T10:00:00Z",
                     "2024-07-31T10:00:00Z", "2024-08-31T10:00:00Z", "2024-10-31T10:00:00Z",
                     "2024-12-31T10:00:00Z", "2025-01-31T10:00:00Z"}));
  // The 29th: February only in leap years.
  Schedule f = Make("2023-12-29T10:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=29");
  EXPECT_EQ(Starts(f, 4), (Strings{"2023-12-29T10:00:00Z", "2024-01-29T10:00:00Z",
                                   "2024-02-29T10:00:00Z", "2024-03-29T10:00:00Z"}));
  Schedule g = Make("2025-01-29T10:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=29");
  EXPECT_EQ(Starts(g, 2), (Strings{"2025-01-29T10:00:00Z", "2025-03-29T10:00:00Z"}));
  // Fifth Friday: only months that have one.
  Schedule h = Make("2024-03-29T10:00:00Z", kHour, "FREQ=MONTHLY;BYDAY=5FR");
  EXPECT_EQ(Starts(h, 8),
            (Strings{"2024-03-29T10:00:00Z", "2024-05-31T10:00:00Z", "2024-08-30T10:00:00Z",
                     "2024-11-29T10:00:00Z", "2025-01-31T10:00:00Z", "2025-05-30T10:00:00Z",
                     "2025-08-29T10:00:00Z", "2025-10-31T10:00:00Z"}));
}

TEST(Occurrences, UntilIsInclusive) {
  Schedule s = Make("2024-03-01T09:00:00Z", kHour, "FREQ=DAILY;UNTIL=20240305T090000Z");
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(Starts(s, 10).size(), 5u);
  EXPECT_EQ(Starts(s, 10).back(), "2024-03-05T09:00:00Z");
  s.rule->until = T("2024-03-05T08:59:59Z");
  EXPECT_EQ(Starts(s, 10).size(), 4u);
  EXPECT_FALSE(OccurrenceAt(s, T("2024-03-05T09:30:00Z")));
  EXPECT_FALSE(NextOccurrence(s, T("2024-03-04T10:00:00Z")));
  EXPECT_EQ(OccurrenceAt(s, T("2024-03-04T09:59:59Z"))->index, 3u);
}

TEST(Occurrences, CountEnds) {
  Schedule s = Make("2024-01-31T10:00:00Z", kHour, "FREQ=MONTHLY;COUNT=3");
  EXPECT_EQ(Starts(s, 10),
            (Strings{"2024-01-31T10:00:00Z", "2024-03-31T10:00:00Z", "2024-05-31T10:00:00Z"}));
  EXPECT_EQ(OccurrenceAt(s, T("2024-05-31T10:30:00Z"))->index, 2u);
  EXPECT_FALSE(OccurrenceAt(s, T("2024-07-31T10:30:00Z")));
  EXPECT_FALSE(NextOccurrence(s, T("2024-05-31T11:00:00Z")));
  EXPECT_FALSE(OccurrenceByIndex(s, UINT32_MAX));
}

TEST(Occurrences, OneOff) {
  Schedule s = Make("2026-11-22T20:00:00Z", 2 * kHour);
  EXPECT_EQ(OccurrenceByIndex(s, 0), (Occurrence{0, s.start, s.start + 2 * kHour}));
  EXPECT_FALSE(OccurrenceByIndex(s, 1));
  EXPECT_EQ(OccurrenceAt(s, s.start)->index, 0u);
  EXPECT_FALSE(OccurrenceAt(s, s.start + 2 * kHour));
  EXPECT_EQ(NextOccurrence(s, INT64_MIN)->start, s.start);
  EXPECT_FALSE(NextOccurrence(s, s.start + 2 * kHour));
}

TEST(Occurrences, AtBoundariesStartInclusiveEndExclusive) {
  Schedule s = Make("2026-11-23T18:00:00Z", kHour, "FREQ=WEEKLY;BYDAY=MO,WE,FR");
  const int64_t t0 = s.start, t1 = T("2026-11-25T18:00:00Z");
  EXPECT_FALSE(OccurrenceAt(s, t0 - 1));
  EXPECT_EQ(OccurrenceAt(s, t0), (Occurrence{0, t0, t0 + kHour}));
  EXPECT_EQ(OccurrenceAt(s, t0 + kHour - 1)->index, 0u);
  EXPECT_FALSE(OccurrenceAt(s, t0 + kHour));  // the gap
  EXPECT_FALSE(OccurrenceAt(s, t1 - 1));
  EXPECT_EQ(OccurrenceAt(s, t1), (Occurrence{1, t1, t1 + kHour}));

  EXPECT_EQ(NextOccurrence(s, t0 - 1)->index, 0u);
  EXPECT_EQ(NextOccurrence(s, t0 + kHour - 1)->index, 0u);  // current
  EXPECT_EQ(NextOccurrence(s, t0 + kHour)->index, 1u);      // upcoming
  EXPECT_EQ(NextOccurrence(s, t1)->index, 1u);

  EXPECT_FALSE(OccurrenceAt(s, INT64_MIN));
  EXPECT_FALSE(OccurrenceAt(s, INT64_MAX));
  EXPECT_FALSE(NextOccurrence(s, INT64_MAX));
  EXPECT_EQ(NextOccurrence(s, INT64_MIN)->index, 0u);

  // Back to back: the end of one occurrence is the start of the next.
  Schedule b = Make("2026-11-22T20:00:00Z", kDay, "FREQ=DAILY");
  EXPECT_EQ(OccurrenceAt(b, b.start + kDay - 1)->index, 0u);
  EXPECT_EQ(OccurrenceAt(b, b.start + kDay)->index, 1u);
  EXPECT_EQ(NextOccurrence(b, b.start + kDay)->index, 1u);
}

TEST(Occurrences, InvalidSchedulesGiveNothing) {
  Schedule s = Make("2026-11-24T18:00:00Z", kHour, "FREQ=WEEKLY;BYDAY=MO");  // start not a Monday
  EXPECT_FALSE(OccurrenceByIndex(s, 0));
  EXPECT_FALSE(OccurrenceAt(s, s.start));
  EXPECT_FALSE(NextOccurrence(s, s.start));
  Schedule z = Make("2026-11-24T18:00:00Z", 0);
  EXPECT_FALSE(OccurrenceAt(z, z.start));
  EXPECT_FALSE(EpochAt(z, 60, z.start));
}

// The first 500 occurrences of many rules agree with the brute-force model, and
// every query agrees with them at and around each occurrence.
TEST(Occurrences, AgreeWithBruteForce) {
  struct Case {
    const char* start;
    const char* rule;
  } cases[] = {
      {"2024-02-27T23:00:00Z", "FREQ=DAILY"},
      {"2024-02-27T23:00:00Z", "FREQ=DAILY;INTERVAL=3"},
      {"2026-11-23T18:00:00Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR"},
      {"2026-11-26T00:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH,SU"},
      {"2026-11-29T05:00:00Z", "FREQ=WEEKLY;INTERVAL=3"},
      {"2024-01-15T09:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"},
      {"2024-01-31T09:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=31"},
      {"2024-01-29T09:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=29,-3"},
      {"2024-01-30T09:00:00Z", "FREQ=MONTHLY;INTERVAL=7;BYMONTHDAY=30,-30"},
      {"2024-01-01T12:00:00Z", "FREQ=MONTHLY;BYDAY=1MO,-1FR"},
      {"2024-01-01T12:00:00Z", "FREQ=MONTHLY;BYDAY=MO"},
      {"2024-03-29T12:00:00Z", "FREQ=MONTHLY;BYDAY=5FR"},
      {"2024-04-02T12:00:00Z", "FREQ=MONTHLY;INTERVAL=5;BYDAY=-5TU"},
      {"2024-01-01T00:00:00Z", "FREQ=MONTHLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR,SA,SU"},
      {"2024-02-29T00:00:00Z", "FREQ=MONTHLY;INTERVAL=3;BYDAY=1TH,5TH,-1TH,2SA"},
      {"2000-01-31T06:00:00Z", "FREQ=MONTHLY"},
      // INTERVAL not dividing 12, and 500 occurrences span more than one
      // 400-year cycle of visited months.
      {"2024-01-31T09:00:00Z", "FREQ=MONTHLY;INTERVAL=8;BYMONTHDAY=31"},
      {"2024-03-29T12:00:00Z", "FREQ=MONTHLY;INTERVAL=40;BYDAY=5FR"},
      {"2000-02-29T06:00:00Z", "FREQ=MONTHLY;INTERVAL=12"},
      {"2024-01-31T09:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=37"},
      {"2026-11-24T09:00:00Z", "FREQ=WEEKLY;BYDAY=TU,SA;UNTIL=20300101T000000Z"},
      {"2024-02-29T09:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20400229T090000Z"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.rule);
    Schedule s = Make(c.start, 90 * 60, c.rule);
    ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
    const auto ref = RefStarts(s, 500);
    ASSERT_GE(ref.size(), 2u);
    for (uint32_t i = 0; i < ref.size(); ++i) {
      const int64_t st = ref[i], end = st + s.duration;
      const Occurrence want{i, st, end};
      ASSERT_EQ(OccurrenceByIndex(s, i), want) << i << " " << FormatRfc3339(st);
      ASSERT_EQ(OccurrenceAt(s, st), want);
      ASSERT_EQ(OccurrenceAt(s, end - 1), want);
      ASSERT_FALSE(OccurrenceAt(s, st - 1)) << i;
      ASSERT_FALSE(OccurrenceAt(s, end)) << i;
      ASSERT_EQ(NextOccurrence(s, st - 1), want);
      ASSERT_EQ(NextOccurrence(s, end - 1), want);
      auto after = NextOccurrence(s, end);
      if (i + 1 < ref.size()) {
        ASSERT_TRUE(after.has_value());
        ASSERT_EQ(after->start, ref[i + 1]);
      }
    }
    if (ref.size() < 500) {  // the rule ended (COUNT or UNTIL)
      EXPECT_FALSE(OccurrenceByIndex(s, uint32_t(ref.size())));
      EXPECT_FALSE(NextOccurrence(s, ref.back() + s.duration));
    }
  }
}

// ---------------------------------------------------------------------------
// Bounded work

TEST(Occurrences, FarFutureLookupsDoBoundedWork) {
  struct Case {
    const char* start;
    const char* rule;
  } cases[] = {
      {"2026-11-22T20:00:00Z", "FREQ=DAILY"},
      {"2026-11-23T20:00:00Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR"},
      {"2026-11-02T20:00:00Z", "FREQ=MONTHLY;BYDAY=1MO,-1FR"},
      {"2026-01-31T20:00:00Z", "FREQ=MONTHLY;BYMONTHDAY=31"},  // count varies by month
      {"2026-01-05T20:00:00Z", "FREQ=MONTHLY;BYDAY=MO"},       // 4 or 5 a month
      {"2026-01-30T20:00:00Z", "FREQ=MONTHLY;INTERVAL=7;BYDAY=5FR"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.rule);
    Schedule s = Make(c.start, kHour, c.rule);
    ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
    for (int64_t years : {1, 100, 1000, 7000}) {
      const int64_t t = s.start + years * 31556952;  // mean Gregorian years
      si::WorkSteps() = 0;
      auto next = NextOccurrence(s, t);
      EXPECT_LE(si::WorkSteps(), si::kMaxStepsPerLookup) << years;
      si::WorkSteps() = 0;
      (void)OccurrenceAt(s, t);
      EXPECT_LE(si::WorkSteps(), si::kMaxStepsPerLookup) << years;
      ASSERT_TRUE(next.has_value()) << years;
      si::WorkSteps() = 0;
      EXPECT_EQ(OccurrenceByIndex(s, next->index), next);
      EXPECT_LE(si::WorkSteps(), si::kMaxStepsPerLookup) << years;
    }
    // A daily rule has 36525 occurrences in 100 years: far more steps than
    // the bound, so a lookup that walks occurrences would fail above.
    static_assert(si::kMaxStepsPerLookup < 36525);
  }
}

TEST(Occurrences, FarFutureAgreesWithCounting) {
  // 100 years ahead, the index equals the number of matching days before t.
  Schedule s = Make("2026-01-31T20:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=31");
  const int64_t t = s.start + 36524 * kDay;  // 100 years
  auto ref = RefStarts(s, 100000);
  uint32_t before = 0;
  while (before < ref.size() && ref[before] + s.duration <= t) ++before;
  auto next = NextOccurrence(s, t);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->index, before);
  EXPECT_EQ(next->start, ref[before]);
}

TEST(Occurrences, HorizonEndsOpenRules) {
  Schedule s = Make("2200-12-31T00:00:00Z", kHour, "FREQ=MONTHLY;INTERVAL=1000;BYMONTHDAY=-1");
  ASSERT_TRUE(s.Validate().ok());
  // 2200-12, then every 1000 months (83 years 4 months) until year 9999.
  auto starts = Starts(s, 200);
  ASSERT_FALSE(starts.empty());
  EXPECT_LT(starts.back(), "9999-12-31T23:59:59Z");
  EXPECT_EQ(starts.size(), size_t((9999 - 2200) * 12 / 1000 + 1));
  EXPECT_FALSE(NextOccurrence(s, kScheduleHorizon));

  // The last day before the horizon, on a rule whose count varies by month.
  Schedule m = Make("2200-01-31T20:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=31");
  auto last = OccurrenceAt(m, T("9999-12-31T20:30:00Z"));
  ASSERT_TRUE(last);
  EXPECT_EQ(FormatRfc3339(last->start), "9999-12-31T20:00:00Z");
  EXPECT_EQ(OccurrenceByIndex(m, last->index), last);
  EXPECT_FALSE(OccurrenceByIndex(m, last->index + 1));
  EXPECT_FALSE(NextOccurrence(m, last->end));
  EXPECT_EQ(NextOccurrence(m, last->end - 1), last);
}

// ---------------------------------------------------------------------------
// Epochs

TEST(Epochs, AcrossOccurrencesWithAShortLastInterval) {
  // 100-minute occurrences on Mondays and Wednesdays, 30-minute intervals:
  // 30 + 30 + 30 + 10.
  Schedule s = Make("2026-11-23T18:00:00Z", 100 * 60, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3");
  ASSERT_TRUE(s.Validate().ok());
  const uint32_t L = 1800;
  const int64_t t0 = s.start, t1 = T("2026-11-25T18:00:00Z"), t2 = T("2026-11-30T18:00:00Z");
  EXPECT_EQ(EpochsInOccurrence(s, L), 4u);

  EXPECT_FALSE(EpochAt(s, L, t0 - 1));
  EXPECT_EQ(EpochAt(s, L, t0), (Epoch{0, 0}));
  EXPECT_EQ(EpochAt(s, L, t0 + 1799), (Epoch{0, 0}));
  EXPECT_EQ(EpochAt(s, L, t0 + 1800), (Epoch{0, 1}));
  EXPECT_EQ(EpochAt(s, L, t0 + 5400), (Epoch{0, 3}));
  EXPECT_EQ(EpochAt(s, L, t0 + 5999), (Epoch{0, 3}));
  EXPECT_FALSE(EpochAt(s, L, t0 + 6000));
  EXPECT_EQ(EpochAt(s, L, t1), (Epoch{1, 0}));

  using W = std::pair<int64_t, int64_t>;
  EXPECT_EQ(*EpochWindow(s, L, {0, 0}), W(t0, t0 + 1800));
  EXPECT_EQ(*EpochWindow(s, L, {0, 3}), W(t0 + 5400, t0 + 6000));  // cut at the end
  EXPECT_EQ(*EpochWindow(s, L, {2, 1}), W(t2 + 1800, t2 + 3600));
  auto missing = EpochWindow(s, L, {0, 4});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "epoch 0.4 does not exist: an occurrence has 4 intervals");
  EXPECT_EQ(EpochWindow(s, L, {3, 0}).status().message(), "occurrence 3 is not in the schedule");

  EXPECT_EQ(NextEpoch(s, L, {0, 2}), (Epoch{0, 3}));
  EXPECT_EQ(NextEpoch(s, L, {0, 3}), (Epoch{1, 0}));  // crosses to the next occurrence
  EXPECT_EQ(NextEpoch(s, L, {1, 3}), (Epoch{2, 0}));
  EXPECT_FALSE(NextEpoch(s, L, {2, 3}));  // the last one
  EXPECT_FALSE(NextEpoch(s, L, {0, 4}));  // does not exist
  EXPECT_FALSE(NextEpoch(s, L, {3, 0}));

  // Walking NextEpoch visits contiguous windows inside each occurrence, and
  // EpochAt maps every second of a window back to its epoch.
  std::optional<Epoch> e = Epoch{0, 0};
  int visited = 0;
  int64_t prev_end = t0;
  while (e) {
    auto w = EpochWindow(s, L, *e);
    ASSERT_TRUE(w.ok());
    if (e->index > 0) {
      EXPECT_EQ(w->first, prev_end);
    }
    EXPECT_LT(w->first, w->second);
    for (int64_t t : {w->first, (w->first + w->second) / 2, w->second - 1}) {
      EXPECT_EQ(EpochAt(s, L, t), e);
    }
    prev_end = w->second;
    ++visited;
    e = NextEpoch(s, L, *e);
  }
  EXPECT_EQ(visited, 12);
}

TEST(Epochs, IntervalLongerThanOccurrenceAndBadIntervals) {
  Schedule s = Make("2026-11-22T20:00:00Z", 600, "FREQ=DAILY");
  EXPECT_EQ(EpochsInOccurrence(s, 3600), 1u);
  EXPECT_EQ(*EpochWindow(s, 3600, {1, 0}), std::make_pair(s.start + kDay, s.start + kDay + 600));
  EXPECT_EQ(NextEpoch(s, 3600, {0, 0}), (Epoch{1, 0}));

  for (uint32_t bad : {0u, limits::kMaxIntervalSeconds + 1}) {
    EXPECT_EQ(EpochsInOccurrence(s, bad), 0u);
    EXPECT_FALSE(EpochAt(s, bad, s.start));
    EXPECT_FALSE(NextEpoch(s, bad, {0, 0}));
    EXPECT_EQ(EpochWindow(s, bad, {0, 0}).status().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(EpochWindow(s, 0, {0, 0}).status().message(),
            "interval 0 s is out of range 1..604800 s");
  EXPECT_EQ(EpochsInOccurrence(s, 1), 600u);
  EXPECT_EQ(EpochAt(s, 1, s.start + 599), (Epoch{0, 599}));
}

// ---------------------------------------------------------------------------
// Time text

TEST(Rfc3339, ParsesGoodTimes) {
  struct Case {
    const char* in;
    int64_t want;
  } cases[] = {
      {"2026-11-22T20:00:00Z", 1795377600},
      {"2026-11-22T21:00:00+01:00", 1795377600},
      {"2026-11-22T15:30:00-04:30", 1795377600},
      {"2026-11-22t20:00:00z", 1795377600},
      {"2026-11-23T01:59:00+05:59", 1795377600},
      {"2024-02-29T00:00:00Z", 1709164800},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2000-01-01T00:00:00-00:00", 946684800},
      {"9999-12-31T23:59:59Z", 253402300799},
      {"0000-01-01T00:00:00Z", -62167219200},
  };
  for (const auto& c : cases) {
    auto t = ParseRfc3339(c.in);
    ASSERT_TRUE(t.ok()) << c.in << ": " << t.status().ToString();
    EXPECT_EQ(*t, c.want) << c.in;
  }
}

TEST(Rfc3339, RejectsBadTimes) {
  struct Case {
    std::string in;
    const char* error;
  } cases[] = {
      {"", "'' is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or +HH:MM)"},
      {"garbage", "'garbage' is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or +HH:MM)"},
      {"2026-02-30T00:00:00Z",
       "'2026-02-30T00:00:00Z': day 30 is out of range for 2026-02 (1..28)"},
      {"2023-02-29T00:00:00Z",
       "'2023-02-29T00:00:00Z': day 29 is out of range for 2023-02 (1..28)"},
      {"2026-04-31T00:00:00Z",
       "'2026-04-31T00:00:00Z': day 31 is out of range for 2026-04 (1..30)"},
      {"2026-00-10T00:00:00Z", "'2026-00-10T00:00:00Z': month 0 is out of range 1..12"},
      {"2026-13-01T00:00:00Z", "'2026-13-01T00:00:00Z': month 13 is out of range 1..12"},
      {"2026-11-00T00:00:00Z", "'2026-11-00T00:00:00Z': day 0 is out of range for 2026-11 (1..30)"},
      {"2026-11-22T24:00:00Z", "'2026-11-22T24:00:00Z': hour 24 is out of range 0..23"},
      {"2026-11-22T20:60:00Z", "'2026-11-22T20:60:00Z': minute 60 is out of range 0..59"},
      {"2016-12-31T23:59:60Z",
       "'2016-12-31T23:59:60Z': second 60 is out of range 0..59 (no leap seconds)"},
      {"2026-11-22T20:00:00.5Z", "'2026-11-22T20:00:00.5Z': fractional seconds are not supported"},
      {"2026-11-22T20:00:00+24:00", "'2026-11-22T20:00:00+24:00': offset +24:00 is out of range"},
      {"2026-11-22T20:00:00+01:60", "'2026-11-22T20:00:00+01:60': offset +01:60 is out of range"},
  };
  for (const auto& c : cases) {
    auto t = ParseRfc3339(c.in);
    ASSERT_FALSE(t.ok()) << c.in;
    EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(t.status().message(), c.error);
  }
  for (std::string bad : {"2026-11-22T20:00:00", "2026-11-22T20:00:00+0100", "26-11-22T20:00:00Z",
                          "2026-11-22T20:00:00Z ", " 2026-11-22T20:00:00Z", "2026-11-22 20:00:00Z",
                          "+2026-11-22T20:00:0Z", "2026-1-22T20:00:00Z", "2026-11-22T20:00:00+01",
                          "2026-11-22T20:00:00+1:00", "2026/11/22T20:00:00Z",
                          "2026-11-22T20:0a:00Z", "2026-11-22T20:00:00UTC", "20261122T200000Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
  auto long_text = ParseRfc3339(std::string(100, '9'));
  EXPECT_EQ(long_text.status().message(),
            "a 100-byte text is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or +HH:MM)");
}

TEST(Rfc3339, FormatsAndRoundTrips) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(1795377600), "2026-11-22T20:00:00Z");
  EXPECT_EQ(FormatRfc3339(1709251199), "2024-02-29T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(253402300799), "9999-12-31T23:59:59Z");
  EXPECT_FALSE(FormatRfc3339(INT64_MIN).empty());  // out of contract, but no crash
  EXPECT_FALSE(FormatRfc3339(INT64_MAX).empty());
  // Against std::chrono's calendar over years 0000..9999.
  uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t t = -62167219200 + int64_t((x >> 11) % uint64_t(253402300800 + 62167219200));
    const std::string text = FormatRfc3339(t);
    const auto days = chr::floor<chr::days>(chr::sys_seconds{chr::seconds{t}});
    const chr::year_month_day ymd{days};
    char want[32];
    const int64_t sod = t - days.time_since_epoch().count() * kDay;
    std::snprintf(want, sizeof want, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(sod / 3600), int(sod / 60 % 60),
                  int(sod % 60));
    ASSERT_EQ(text, want) << t;
    auto back = ParseRfc3339(text);
    ASSERT_TRUE(back.ok()) << text;
    ASSERT_EQ(*back, t) << text;
  }
}

TEST(Duration, ParsesGoodDurations) {
  struct Case {
    const char* in;
    int64_t want;
  } cases[] = {
      {"PT2H30M", 9000},
      {"P1D", 86400},
      {"PT45S", 45},
      {"90", 90},
      {"0", 0},
      {"PT0S", 0},
      {"P2W", 1209600},
      {"P1DT1H1M1S", 90061},
      {"PT36H", 129600},
      {"P10000D", 864000000},
      {"PT1M", 60},
      {"P0D", 0},
      {"9223372036854775807", INT64_MAX},
  };
  for (const auto& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_TRUE(d.ok()) << c.in << ": " << d.status().ToString();
    EXPECT_EQ(*d, c.want) << c.in;
  }
}

TEST(Duration, RejectsBadDurations) {
  struct Case {
    const char* in;
    const char* error;
  } cases[] = {
      {"", "empty duration"},
      {"P", "'P' is not a duration: no value"},
      {"PT", "'PT' is not a duration: no value"},
      {"P1DT", "'P1DT' is not a duration: 'T' without a time value"},
      {"PT1H2H", "'PT1H2H' is not a duration: designators out of order or repeated"},
      {"PT1M1H", "'PT1M1H' is not a duration: designators out of order or repeated"},
      {"P1Y", "'P1Y' is not a duration: years and months are not supported"},
      {"P1M", "'P1M' is not a duration: years and months are not supported"},
      {"PT1.5S", "'PT1.5S' is not a duration: fractions are not supported"},
      {"-PT1S", "'-PT1S' is not a duration: signs are not allowed"},
      {"+90", "'+90' is not a duration: signs are not allowed"},
      {"90s", "'90s' is not a duration: expected whole seconds or ISO 8601 PnDTnHnMnS"},
      {"1 0", "'1 0' is not a duration: expected whole seconds or ISO 8601 PnDTnHnMnS"},
      {"pt1h", "'pt1h' is not a duration: expected whole seconds or ISO 8601 PnDTnHnMnS"},
      {"P1W1D", "'P1W1D' is not a duration: designators out of order or repeated"},
      {"P1DT1H1W", "'P1DT1H1W' is not a duration: unknown designator"},
      {"P1WT1H", "'P1WT1H' is not a duration: weeks cannot be combined with other designators"},
      {"P1D1W", "'P1D1W' is not a duration: weeks cannot be combined with other designators"},
      {"PT1D", "'PT1D' is not a duration: unknown designator"},
      {"P1H", "'P1H' is not a duration: unknown designator"},
      {"PT1", "'PT1' is not a duration: a number has no designator"},
      {"PTT1H", "'PTT1H' is not a duration: 'T' appears twice"},
      {"PH", "'PH' is not a duration: expected a number"},
      {"9223372036854775808", "'9223372036854775808' is not a duration: too large"},
      {"P106751991167301D", "'P106751991167301D' is not a duration: too large"},
      {"P106751991167300DT86400S", "'P106751991167300DT86400S' is not a duration: too large"},
  };
  for (const auto& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_FALSE(d.ok()) << c.in;
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(d.status().message(), c.error);
  }
}

TEST(Duration, FormatsCanonically) {
  EXPECT_EQ(FormatDuration(0), "PT0S");
  EXPECT_EQ(FormatDuration(45), "PT45S");
  EXPECT_EQ(FormatDuration(9000), "PT2H30M");
  EXPECT_EQ(FormatDuration(86400), "P1D");
  EXPECT_EQ(FormatDuration(86401), "P1DT1S");
  EXPECT_EQ(FormatDuration(90061), "P1DT1H1M1S");
  EXPECT_EQ(FormatDuration(-5), "-PT5S");
  EXPECT_EQ(FormatDuration(INT64_MIN).substr(0, 2), "-P");
  for (int64_t d : {int64_t(1), int64_t(59), int64_t(3600), int64_t(86399), int64_t(1209600),
                    limits::kMaxEventDurationSeconds, INT64_MAX}) {
    auto back = ParseDuration(FormatDuration(d));
    ASSERT_TRUE(back.ok()) << FormatDuration(d);
    EXPECT_EQ(*back, d);
  }
}

// ---------------------------------------------------------------------------
// Binary encoding

Bytes Encode(const Schedule& s) {
  Bytes out;
  Writer w(&out);
  EncodeSchedule(s, w);
  return out;
}

Bytes Raw(int64_t start, int64_t duration, std::string_view rrule) {
  Bytes out;
  Writer w(&out);
  w.I64(start);
  w.I64(duration);
  w.Opaque8(rrule);
  return out;
}

TEST(Encoding, MatchesTheGrammar) {
  Schedule s = Make("2026-11-23T18:00:00Z", kHour, "FREQ=WEEKLY;BYDAY=MO,WE,FR");
  const std::string text = "FREQ=WEEKLY;BYDAY=MO,WE,FR";
  Bytes want = {0,
                0,
                0,
                0,
                0x6b,
                0x04,
                0x7f,
                0x20,  // start 1795456800
                0,
                0,
                0,
                0,
                0,
                0,
                0x0e,
                0x10,  // duration 3600
                uint8_t(text.size())};
  want.insert(want.end(), text.begin(), text.end());
  EXPECT_EQ(s.start, 1795456800);
  EXPECT_EQ(Encode(s), want);
  EXPECT_EQ(Encode(Make("2026-11-22T20:00:00Z", 60)).size(), 17u);  // one-off: empty rrule
}

TEST(Encoding, RoundTrips) {
  const Schedule cases[] = {
      Make("2026-11-22T20:00:00Z", 2 * kHour),
      Make("2026-11-23T18:00:00Z", kHour, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;COUNT=30"),
      Make("2024-01-01T12:00:00Z", kHour, "FREQ=MONTHLY;BYDAY=1MO,-1FR;UNTIL=20300101T000000Z"),
      Make("2024-01-15T09:00:00Z", kHour, "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"),
  };
  Bytes all;
  for (const auto& s : cases) {
    Bytes b = Encode(s);
    Reader r(b);
    Schedule got;
    ASSERT_TRUE(DecodeSchedule(r, &got)) << r.error();
    EXPECT_TRUE(r.Finish());
    EXPECT_EQ(got, s);
    all.insert(all.end(), b.begin(), b.end());
  }
  // Back to back in one buffer, as in a ticket.
  Reader r(all);
  for (const auto& s : cases) {
    Schedule got;
    ASSERT_TRUE(DecodeSchedule(r, &got)) << r.error();
    EXPECT_EQ(got, s);
  }
  EXPECT_TRUE(r.Finish());
}

TEST(Encoding, EveryTruncationIsRejected) {
  const Schedule s = Make("2024-01-01T12:00:00Z", kHour, "FREQ=MONTHLY;BYDAY=1MO,-1FR;COUNT=9");
  const Bytes b = Encode(s);
  for (size_t n = 0; n < b.size(); ++n) {
    Reader r(ByteView(b.data(), n));
    Schedule got = Make("2026-11-22T20:00:00Z", 60);
    const Schedule before = got;
    EXPECT_FALSE(DecodeSchedule(r, &got)) << n;
    EXPECT_EQ(r.error().rfind("truncated: schedule ", 0), 0u) << n << ": " << r.error();
    EXPECT_EQ(got, before) << n;  // untouched on failure
  }
}

TEST(Encoding, RejectsEachFailureClass) {
  const int64_t start = T("2026-11-23T18:00:00Z");
  struct Case {
    Bytes in;
    const char* error;
  } cases[] = {
      {Raw(start, kHour, "FREQ=HOURLY"),
       "schedule rrule: FREQ=HOURLY is not supported (DAILY, WEEKLY or MONTHLY) at offset 28"},
      {Raw(start, kHour, "FREQ=WEEKLY;BYDAY=FR,MO"),
       "schedule rrule is not in canonical form (expected FREQ=WEEKLY;BYDAY=MO,FR) at offset 40"},
      {Raw(start, kHour, "freq=daily"),
       "schedule rrule is not in canonical form (expected FREQ=DAILY) at offset 27"},
      {Raw(start, 0, ""), "schedule: duration 0 s is out of range 1..316224000 s at offset 17"},
      {Raw(start, kHour, "FREQ=WEEKLY;BYDAY=TU"),
       "schedule: start 2026-11-23T18:00:00Z (a Monday) does not match FREQ=WEEKLY;BYDAY=TU; the "
       "start must be the rule's first occurrence at offset 37"},
      {Raw(start, 2 * kDay, "FREQ=DAILY"),
       "schedule: duration 172800 s is longer than the shortest gap between occurrences of "
       "FREQ=DAILY (86400 s); occurrences would overlap at offset 27"},
      {Raw(-1, kHour, ""),
       "schedule: start -1 (1969-12-31T23:59:59Z) is outside the years 2000..2200 at offset 17"},
  };
  for (const auto& c : cases) {
    Reader r(c.in);
    Schedule got;
    EXPECT_FALSE(DecodeSchedule(r, &got));
    EXPECT_EQ(r.error(), c.error);
  }
}

}  // namespace
}  // namespace keycast
