// Proleptic Gregorian calendar arithmetic on day numbers (days since
// 1970-01-01), after Howard Hinnant's "chrono-Compatible Low-Level Date
// Algorithms". Internal to keycast_schedule.
//
// Exact for any year whose day number fits comfortably in int64_t
// (|year| < 10^12); callers clamp their inputs well inside that.
#pragma once

#include <cstdint>

namespace keycast::civil {

inline constexpr int64_t kSecondsPerDay = 86400;
// Days in one 400-year Gregorian cycle (exactly 20871 weeks), and its months.
inline constexpr int64_t kDaysPerCycle = 146097;
inline constexpr int64_t kMonthsPerCycle = 4800;

// Division and remainder rounding towards negative infinity. REQUIRES: b > 0.
constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
constexpr int64_t FloorMod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

constexpr bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

// REQUIRES: 1 <= m <= 12.
constexpr unsigned DaysInMonth(int64_t y, unsigned m) {
  if (m == 2) return IsLeapYear(y) ? 29 : 28;
  return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

// Day number of y-m-d. REQUIRES: a valid date.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Count years from March, so the leap day is the last day of a year.
  const int64_t yy = m <= 2 ? y - 1 : y;
  const int64_t era = FloorDiv(yy, 400);
  const int64_t yoe = yy - era * 400;                         // [0, 399]
  const int64_t mp = m > 2 ? m - 3 : m + 9;                   // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + int64_t(d) - 1;    // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  // [0, 146096]
  return era * kDaysPerCycle + doe - 719468;  // 719468 = days 0000-03-01..1970-01-01
}

struct CivilDate {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
};

constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, kDaysPerCycle);
  const int64_t doe = z - era * kDaysPerCycle;                                // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // March = 0
  const unsigned d = unsigned(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = unsigned(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

// 0 = Monday .. 6 = Sunday. Day 0 (1970-01-01) was a Thursday.
constexpr unsigned WeekdayFromDays(int64_t z) { return unsigned(FloorMod(z + 3, 7)); }

// Absolute month number (year * 12 + month - 1) and back.
constexpr int64_t MonthNumber(int64_t y, unsigned m) { return y * 12 + int64_t(m) - 1; }

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11016).month == 2 && CivilFromDays(11016).day == 29);
static_assert(WeekdayFromDays(0) == 3);
static_assert(DaysFromCivil(2400, 1, 1) - DaysFromCivil(2000, 1, 1) == kDaysPerCycle);

}  // namespace keycast::civil
