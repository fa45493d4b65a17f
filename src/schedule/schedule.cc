// Occurrences and epochs of a schedule, with bounded work.
//
// Occurrences all start at the UTC time of day of the schedule's start, so the
// engine works on day numbers (days since 1970-01-01). A rule is a set of days
// chosen in periods: every n-th day (DAILY), chosen weekdays of every n-th
// Monday-based week (WEEKLY), chosen days of every n-th month (MONTHLY). Two
// operations answer every query:
//   CountDays(dt) - how many occurrence days lie in [d0, dt];
//   NthDay(k)     - the day of occurrence k.
// DAILY and WEEKLY are O(1) arithmetic. For MONTHLY, the days chosen in a
// month depend only on its shape (length 28..31, weekday of the 1st),
// precomputed as 28 bitmasks; then, by the first that applies:
//   - every shape yields as many days: O(1);
//   - n divides 12: every year visits the same calendar months, so a year's
//     count depends only on its type (leap, weekday of January 1st). Counts
//     over a run of years come from a compile-time table of year types over
//     the 400-year Gregorian cycle: O(1) to count, a binary search to invert;
//   - otherwise: month shapes repeat every 400 years (4800 months, 146097
//     days, a whole number of weeks), so the visited months' shapes repeat
//     every 4800 / gcd(n, 4800) visits; a count walks at most one such cycle,
//     an inversion at most two.
#include "keycast/schedule.h"

#include <algorithm>
#include <bit>
#include <numeric>

#include "keycast/limits.h"
#include "schedule/civil.h"
#include "schedule/schedule_internal.h"

namespace keycast {

namespace si = schedule_internal;
using civil::kSecondsPerDay;

namespace schedule_internal {
uint64_t& WorkSteps() {
  thread_local uint64_t steps = 0;
  return steps;
}
}  // namespace schedule_internal

namespace {

constexpr int64_t kHorizonDay = kScheduleHorizon / kSecondsPerDay;

// A schedule compiled for queries. Built by Compile(), which checks
// everything the queries rely on.
struct Plan {
  int64_t start = 0;
  int64_t duration = 0;
  bool recurring = false;
  int64_t d0 = 0;   // day of start
  int64_t tod = 0;  // seconds into that day
  Frequency freq = Frequency::kDaily;
  int64_t n = 1;  // INTERVAL
  uint32_t count = 0;
  std::optional<int64_t> until;
  int rank0 = 0;  // occurrence days of the first period that precede d0

  // WEEKLY
  uint32_t week_mask = 0;  // bit w = weekday w (0 = Monday)
  int per_week = 0;
  int64_t week0 = 0;  // Monday-based week number of d0

  // MONTHLY: masks[len - 28][weekday of the 1st], bit d - 1 = day d.
  uint32_t masks[4][7] = {};
  int64_t month0 = 0;      // month number of d0
  int per_month = -1;      // days per month when the same for every shape, else -1
  bool by_year = false;    // n divides 12 (and per_month < 0): use year types
  int year_days[14] = {};  // by_year: occurrence days in a year of each type
  int64_t cycle = 1;       // visits after which the visited shapes repeat
};

// ---- Year types: leap * 7 + weekday of January 1st --------------------------

constexpr int kMonthLength[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
constexpr int kDaysBeforeMonth[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

constexpr int YearType(int64_t y) {
  return (civil::IsLeapYear(y) ? 7 : 0) +
         int(civil::WeekdayFromDays(civil::DaysFromCivil(y, 1, 1)));
}

// cum[k][type]: years of that type among years 0..k-1 of the 400-year cycle.
struct YearTypeTable {
  uint16_t cum[401][14] = {};
};
constexpr YearTypeTable BuildYearTypeTable() {
  YearTypeTable t;
  for (int y = 0; y < 400; ++y) {
    for (int k = 0; k < 14; ++k) t.cum[y + 1][k] = t.cum[y][k];
    ++t.cum[y + 1][YearType(y)];
  }
  return t;
}
constexpr YearTypeTable kYearTypes = BuildYearTypeTable();
static_assert([] {
  int leap = 0;
  for (int k = 7; k < 14; ++k) leap += kYearTypes.cum[400][k];
  return leap;
}() == 97);  // leap years per 400

// Years of `type` in [0, y), for any y (negative counts down).
int64_t YearsOfTypeBefore(int type, int64_t y) {
  return civil::FloorDiv(y, 400) * kYearTypes.cum[400][type] +
         kYearTypes.cum[civil::FloorMod(y, 400)][type];
}

int Popcount(uint32_t x) { return std::popcount(x); }

// Day (1-based) of the r-th (0-based) set bit. REQUIRES: r < popcount(mask).
int NthBitDay(uint32_t mask, int r) {
  for (int i = 0; i < r; ++i) mask &= mask - 1;
  return std::countr_zero(mask) + 1;
}

// Monday-based week number; week 0 starts on Monday 1969-12-29 (day -3).
int64_t WeekOf(int64_t day) { return civil::FloorDiv(day + 3, 7); }

uint32_t MonthDayMask(const Rrule& rule, unsigned len, unsigned first_weekday,
                      unsigned default_day) {
  uint32_t mask = 0;
  auto set = [&](int d) {
    if (d >= 1 && d <= int(len)) mask |= 1u << (d - 1);
  };
  if (!rule.by_month_day.empty()) {
    for (int v : rule.by_month_day) set(v > 0 ? v : int(len) + 1 + v);
  } else if (!rule.by_day.empty()) {
    for (const WeekdayNum& w : rule.by_day) {
      const int first = 1 + (int(w.day) - int(first_weekday) + 7) % 7;
      const int last = first + 7 * ((int(len) - first) / 7);
      if (w.ordinal == 0) {
        for (int d = first; d <= int(len); d += 7) set(d);
      } else if (w.ordinal > 0) {
        set(first + 7 * (w.ordinal - 1));
      } else {
        set(last + 7 * (w.ordinal + 1));
      }
    }
  } else {
    set(int(default_day));
  }
  return mask;
}

uint32_t MonthMask(const Plan& p, int64_t month) {
  ++si::WorkSteps();
  const int64_t y = civil::FloorDiv(month, 12);
  const unsigned m = unsigned(month - y * 12) + 1;
  const unsigned len = civil::DaysInMonth(y, m);
  return p.masks[len - 28][civil::WeekdayFromDays(civil::DaysFromCivil(y, m, 1))];
}

uint32_t VisitMask(const Plan& p, int64_t visit) { return MonthMask(p, p.month0 + visit * p.n); }

// by_year: occurrence days in calendar month cm (0-based) of a year of `type`.
int DaysInCalendarMonth(const Plan& p, int type, int cm) {
  const int leap = type >= 7 ? 1 : 0;
  const int len = kMonthLength[cm] + (cm == 1 ? leap : 0);
  const int first = (type % 7 + kDaysBeforeMonth[cm] + (cm >= 2 ? leap : 0)) % 7;
  return Popcount(p.masks[len - 28][first]);
}

// by_year: occurrence days in the visited months of year y before calendar
// month `end` (0-based, 0..12).
int64_t DaysInYearBefore(const Plan& p, int64_t y, int64_t end) {
  ++si::WorkSteps();
  const int type = YearType(y);
  int64_t sum = 0;
  for (int64_t cm = civil::FloorMod(p.month0, p.n); cm < end; cm += p.n) {
    sum += DaysInCalendarMonth(p, type, int(cm));
  }
  return sum;
}

// Occurrence days in the first `visits` visited months (MONTHLY), counting
// the first month whole.
int64_t DaysInVisits(const Plan& p, int64_t visits) {
  if (p.per_month >= 0) return visits * p.per_month;
  if (p.by_year) {
    // Visited months in [month0, end) = those of the years [y0, y_end), plus
    // those of year y_end before end, minus those of year y0 before month0.
    ++si::WorkSteps();
    const int64_t end = p.month0 + visits * p.n;
    const int64_t y0 = civil::FloorDiv(p.month0, 12), y_end = civil::FloorDiv(end, 12);
    int64_t sum = 0;
    for (int type = 0; type < 14; ++type) {
      sum += p.year_days[type] * (YearsOfTypeBefore(type, y_end) - YearsOfTypeBefore(type, y0));
    }
    return sum + DaysInYearBefore(p, y_end, end - y_end * 12) -
           DaysInYearBefore(p, y0, p.month0 - y0 * 12);
  }
  if (visits <= p.cycle) {
    int64_t sum = 0;
    for (int64_t i = 0; i < visits; ++i) sum += Popcount(VisitMask(p, i));
    return sum;
  }
  const int64_t q = visits / p.cycle, r = visits % p.cycle;
  int64_t sum = 0, prefix = 0;
  for (int64_t i = 0; i < p.cycle; ++i) {
    if (i == r) prefix = sum;
    sum += Popcount(VisitMask(p, i));
  }
  return q * sum + prefix;
}

// Number of occurrence days in [d0, dt], ignoring COUNT, UNTIL and the
// horizon. REQUIRES: dt >= d0.
int64_t CountDays(const Plan& p, int64_t dt) {
  ++si::WorkSteps();
  switch (p.freq) {
    case Frequency::kDaily:
      return (dt - p.d0) / p.n + 1;
    case Frequency::kWeekly: {
      const int64_t delta = WeekOf(dt) - p.week0;
      int64_t c = (delta + p.n - 1) / p.n * p.per_week - p.rank0;
      if (delta % p.n == 0) {
        c += Popcount(p.week_mask & ((2u << civil::WeekdayFromDays(dt)) - 1));
      }
      return c;
    }
    case Frequency::kMonthly: {
      const civil::CivilDate d = civil::CivilFromDays(dt);
      const int64_t delta = civil::MonthNumber(d.year, d.month) - p.month0;
      int64_t c = DaysInVisits(p, (delta + p.n - 1) / p.n) - p.rank0;
      if (delta % p.n == 0) {
        c += Popcount(MonthMask(p, p.month0 + delta) & uint32_t((uint64_t(2) << (d.day - 1)) - 1));
      }
      return c;
    }
  }
  return 0;
}

// Day of occurrence k, ignoring COUNT, UNTIL and the horizon.
// REQUIRES: k <= kHorizonDay - d0 (keeps all arithmetic small).
int64_t NthDay(const Plan& p, int64_t k) {
  ++si::WorkSteps();
  k += p.rank0;
  switch (p.freq) {
    case Frequency::kDaily:
      return p.d0 + k * p.n;
    case Frequency::kWeekly: {
      const int64_t monday = 7 * (p.week0 + k / p.per_week * p.n) - 3;
      return monday + NthBitDay(p.week_mask, int(k % p.per_week)) - 1;
    }
    case Frequency::kMonthly: {
      int64_t visit = 0, r = 0;
      if (p.per_month >= 0) {
        visit = k / p.per_month;
        r = k % p.per_month;
      } else if (p.by_year) {
        // Largest visit whose preceding visits hold at most k days. Past the
        // horizon the answer does not matter: StartOf() discards it.
        constexpr int64_t kHorizonMonth = 10000 * 12;
        int64_t lo = 0, hi = (kHorizonMonth - p.month0) / p.n + 2;
        if (DaysInVisits(p, hi) <= k) return kHorizonDay + 1;
        while (hi - lo > 1) {
          const int64_t mid = lo + (hi - lo) / 2;
          (DaysInVisits(p, mid) <= k ? lo : hi) = mid;
        }
        visit = lo;
        r = k - DaysInVisits(p, lo);
      } else {
        // Walk the first cycle; if k lies beyond it, skip whole cycles and
        // walk again. The start month is never empty, so a cycle has days.
        int64_t cycle_days = 0;
        bool found = false;
        for (int pass = 0; pass < 2 && !found; ++pass) {
          int64_t base = 0;
          if (pass == 1) {
            base = k / cycle_days * p.cycle;
            k %= cycle_days;
          }
          int64_t acc = 0;
          for (int64_t i = 0; i < p.cycle; ++i) {
            const int c = Popcount(VisitMask(p, i));
            if (acc + c > k) {
              visit = base + i;
              r = k - acc;
              found = true;
              break;
            }
            acc += c;
          }
          cycle_days = acc;
        }
      }
      const int64_t month = p.month0 + visit * p.n;
      const int64_t y = civil::FloorDiv(month, 12);
      const unsigned m = unsigned(month - y * 12) + 1;
      const int day = NthBitDay(MonthMask(p, month), int(r));
      return civil::DaysFromCivil(y, m, unsigned(day));
    }
  }
  return p.d0;
}

// Checks what queries rely on and builds the plan. Allocates only to report
// a failure, into *why when given.
bool Compile(const Schedule& s, Plan* p, Status* why) {
  auto fail = [&](Status st) {
    if (why) *why = std::move(st);
    return false;
  };
  if (s.duration < 1 || s.duration > limits::kMaxEventDurationSeconds) {
    if (!why) return false;
    return fail(InvalidArgument("duration " + std::to_string(s.duration) +
                                " s is out of range 1.." +
                                std::to_string(limits::kMaxEventDurationSeconds) + " s"));
  }
  if (s.start < kMinScheduleStart || s.start > kMaxScheduleStart) {
    if (!why) return false;
    return fail(InvalidArgument("start " + std::to_string(s.start) + " (" + FormatRfc3339(s.start) +
                                ") is outside the years 2000..2200"));
  }
  p->start = s.start;
  p->duration = s.duration;
  p->d0 = civil::FloorDiv(s.start, kSecondsPerDay);
  p->tod = s.start - p->d0 * kSecondsPerDay;
  p->recurring = s.rule.has_value();
  if (!s.rule) return true;

  const Rrule& rule = *s.rule;
  if (Status st = si::CheckRule(rule); !st.ok()) return fail(std::move(st));
  if (rule.until && *rule.until < s.start) {
    if (!why) return false;
    return fail(InvalidArgument("UNTIL " + FormatRfc3339(*rule.until) + " is before start " +
                                FormatRfc3339(s.start)));
  }
  p->freq = rule.freq;
  p->n = rule.interval;
  p->count = rule.count;
  p->until = rule.until;

  const unsigned wd0 = civil::WeekdayFromDays(p->d0);
  bool matches = true;
  switch (rule.freq) {
    case Frequency::kDaily:
      break;
    case Frequency::kWeekly: {
      p->week_mask = 0;
      for (const WeekdayNum& w : rule.by_day) p->week_mask |= 1u << unsigned(w.day);
      if (rule.by_day.empty()) p->week_mask = 1u << wd0;
      p->per_week = Popcount(p->week_mask);
      p->week0 = WeekOf(p->d0);
      p->rank0 = Popcount(p->week_mask & ((1u << wd0) - 1));
      matches = (p->week_mask >> wd0) & 1;
      break;
    }
    case Frequency::kMonthly: {
      const civil::CivilDate d = civil::CivilFromDays(p->d0);
      int first_count = -1;
      p->per_month = -2;
      for (unsigned len = 28; len <= 31; ++len) {
        for (unsigned w = 0; w < 7; ++w) {
          const uint32_t mask = MonthDayMask(rule, len, w, d.day);
          p->masks[len - 28][w] = mask;
          const int c = Popcount(mask);
          if (first_count < 0) first_count = c;
          if (c != first_count) p->per_month = -1;
        }
      }
      if (p->per_month == -2) p->per_month = first_count;
      p->month0 = civil::MonthNumber(d.year, d.month);
      p->cycle = civil::kMonthsPerCycle / std::gcd(p->n, civil::kMonthsPerCycle);
      p->by_year = p->per_month < 0 && 12 % p->n == 0;
      if (p->by_year) {
        for (int type = 0; type < 14; ++type) {
          p->year_days[type] = 0;
          for (int64_t cm = civil::FloorMod(p->month0, p->n); cm < 12; cm += p->n) {
            p->year_days[type] += DaysInCalendarMonth(*p, type, int(cm));
          }
        }
      }
      const uint32_t mask0 = MonthMask(*p, p->month0);
      p->rank0 = Popcount(mask0 & ((1u << (d.day - 1)) - 1));
      matches = (mask0 >> (d.day - 1)) & 1;
      break;
    }
  }
  if (!matches) {
    if (!why) return false;
    static constexpr const char* kDayNames[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                 "Friday", "Saturday", "Sunday"};
    return fail(InvalidArgument("start " + FormatRfc3339(s.start) + " (a " + kDayNames[wd0] +
                                ") does not match " + rule.ToString() +
                                "; the start must be the rule's first occurrence"));
  }
  return true;
}

// Number of occurrences starting at or before t.
int64_t CountUpTo(const Plan& p, int64_t t) {
  if (t < p.start) return 0;
  if (!p.recurring) return 1;
  t = std::min(t, kScheduleHorizon - 1);
  if (p.until) t = std::min(t, *p.until);
  int64_t c = CountDays(p, civil::FloorDiv(t - p.tod, kSecondsPerDay));
  if (p.count != 0) c = std::min<int64_t>(c, p.count);
  return c;
}

// Start of occurrence k, if the schedule has it.
std::optional<int64_t> StartOf(const Plan& p, int64_t k) {
  if (k < 0) return std::nullopt;
  if (!p.recurring) return k == 0 ? std::optional<int64_t>(p.start) : std::nullopt;
  if (p.count != 0 && k >= p.count) return std::nullopt;
  if (k > kHorizonDay - p.d0) return std::nullopt;  // at most one occurrence a day
  const int64_t start = NthDay(p, k) * kSecondsPerDay + p.tod;
  if (start >= kScheduleHorizon || (p.until && start > *p.until)) return std::nullopt;
  return start;
}

std::optional<Occurrence> MakeOccurrence(const Plan& p, int64_t k) {
  auto start = StartOf(p, k);
  if (!start) return std::nullopt;
  return Occurrence{uint32_t(k), *start, *start + p.duration};
}

bool ValidInterval(uint32_t interval_seconds) {
  return interval_seconds >= limits::kMinIntervalSeconds &&
         interval_seconds <= limits::kMaxIntervalSeconds;
}

// Shortest gap, in days, between consecutive occurrence days of a recurring
// plan (see Schedule::Validate).
int64_t MinGapDays(const Plan& p) {
  switch (p.freq) {
    case Frequency::kDaily:
      return p.n;
    case Frequency::kWeekly: {
      int64_t gap = 7 * p.n, first = -1, prev = -1;
      for (int w = 0; w < 7; ++w) {
        if (!((p.week_mask >> w) & 1)) continue;
        if (prev >= 0) gap = std::min<int64_t>(gap, w - prev);
        if (first < 0) first = w;
        prev = w;
      }
      return std::min<int64_t>(gap, 7 * p.n - prev + first);
    }
    case Frequency::kMonthly:
      break;
  }
  constexpr int64_t kNone = INT64_MAX;
  auto lowest = [](uint32_t m) { return int64_t(std::countr_zero(m)) + 1; };
  auto highest = [](uint32_t m) { return int64_t(32 - std::countl_zero(m)); };
  // Within a month, over every month shape.
  int64_t gap = kNone, first_min = kNone, tail_min = kNone;
  for (unsigned len = 28; len <= 31; ++len) {
    for (unsigned w = 0; w < 7; ++w) {
      uint32_t m = p.masks[len - 28][w];
      if (!m) continue;
      first_min = std::min(first_min, lowest(m));
      tail_min = std::min(tail_min, int64_t(len) - highest(m));
      int64_t prev = -1;
      for (; m; m &= m - 1) {
        const int64_t d = lowest(m);
        if (prev >= 0) gap = std::min(gap, d - prev);
        prev = d;
      }
    }
  }
  // Across months: last day of a visited month to the first of the next.
  if (p.n == 1) {
    // Exact: every calendar month, leap or not, starts on every weekday
    // somewhere in the 400-year cycle.
    for (int month = 0; month < 12; ++month) {
      for (int leap = 0; leap < 2; ++leap) {
        const int len_a = kMonthLength[month] + (month == 1 ? leap : 0);
        const int len_b = kMonthLength[(month + 1) % 12] + (month == 0 ? leap : 0);
        for (int w = 0; w < 7; ++w) {
          const uint32_t a = p.masks[len_a - 28][w];
          if (!a) continue;
          const uint32_t b = p.masks[len_b - 28][(w + len_a) % 7];
          // When the next month has no occurrence, the gap spans it whole.
          const int64_t next = b ? lowest(b) : len_b + first_min;
          gap = std::min(gap, len_a - highest(a) + next);
        }
      }
    }
  } else {
    // Lower bound: the shortest run of n - 1 months in between, with the
    // shortest tail and head of any two month shapes.
    int64_t between = kNone;
    for (int month = 0; month < 12; ++month) {
      int64_t days = (p.n - 1) / 12 * 365;
      for (int i = 0; i < (p.n - 1) % 12; ++i) days += kMonthLength[(month + i) % 12];
      between = std::min(between, days);
    }
    gap = std::min(gap, tail_min + between + first_min);
  }
  return gap;
}

}  // namespace

namespace schedule_internal {
std::optional<int64_t> MinGapSeconds(const Schedule& schedule) {
  Plan p;
  if (!schedule.rule || !Compile(schedule, &p, nullptr)) return std::nullopt;
  return MinGapDays(p) * kSecondsPerDay;
}
}  // namespace schedule_internal

Status Schedule::Validate() const {
  Plan p;
  Status why;
  if (!Compile(*this, &p, &why)) return why;
  if (!rule) return Status::Ok();
  if (const size_t len = rule->ToString().size(); len > limits::kMaxRruleLength) {
    return InvalidArgument("RRULE text is " + std::to_string(len) + " bytes, longer than " +
                           std::to_string(limits::kMaxRruleLength));
  }
  const int64_t gap = MinGapDays(p) * kSecondsPerDay;
  if (duration > gap) {
    return InvalidArgument("duration " + std::to_string(duration) +
                           " s is longer than the shortest gap between occurrences of " +
                           rule->ToString() + " (" + std::to_string(gap) +
                           " s); occurrences would overlap");
  }
  return Status::Ok();
}

std::optional<Occurrence> OccurrenceAt(const Schedule& schedule, int64_t t) {
  Plan p;
  if (!Compile(schedule, &p, nullptr)) return std::nullopt;
  const int64_t c = CountUpTo(p, t);
  if (c == 0) return std::nullopt;
  auto occ = MakeOccurrence(p, c - 1);
  if (!occ || t >= occ->end) return std::nullopt;
  return occ;
}

std::optional<Occurrence> NextOccurrence(const Schedule& schedule, int64_t t) {
  Plan p;
  if (!Compile(schedule, &p, nullptr)) return std::nullopt;
  // Occurrences that ended by t are those starting at or before t - duration.
  const int64_t ended = t < p.start ? 0 : CountUpTo(p, t - p.duration);
  return MakeOccurrence(p, ended);
}

std::optional<Occurrence> OccurrenceByIndex(const Schedule& schedule, uint32_t index) {
  Plan p;
  if (!Compile(schedule, &p, nullptr)) return std::nullopt;
  return MakeOccurrence(p, index);
}

uint32_t EpochsInOccurrence(const Schedule& schedule, uint32_t interval_seconds) {
  if (!ValidInterval(interval_seconds) || schedule.duration < 1 ||
      schedule.duration > limits::kMaxEventDurationSeconds) {
    return 0;
  }
  return uint32_t((schedule.duration + interval_seconds - 1) / interval_seconds);
}

std::optional<Epoch> EpochAt(const Schedule& schedule, uint32_t interval_seconds, int64_t t) {
  if (!ValidInterval(interval_seconds)) return std::nullopt;
  auto occ = OccurrenceAt(schedule, t);
  if (!occ) return std::nullopt;
  return Epoch{occ->index, uint32_t((t - occ->start) / interval_seconds)};
}

Result<std::pair<int64_t, int64_t>> EpochWindow(const Schedule& schedule, uint32_t interval_seconds,
                                                Epoch epoch) {
  if (!ValidInterval(interval_seconds)) {
    return InvalidArgument("interval " + std::to_string(interval_seconds) + " s is out of range " +
                           std::to_string(limits::kMinIntervalSeconds) + ".." +
                           std::to_string(limits::kMaxIntervalSeconds) + " s");
  }
  Plan p;
  Status why;
  if (!Compile(schedule, &p, &why)) return why;
  auto occ = MakeOccurrence(p, epoch.occurrence);
  if (!occ) {
    return NotFound("occurrence " + std::to_string(epoch.occurrence) + " is not in the schedule");
  }
  const uint32_t epochs = EpochsInOccurrence(schedule, interval_seconds);
  if (epoch.index >= epochs) {
    return NotFound("epoch " + std::to_string(epoch.occurrence) + "." +
                    std::to_string(epoch.index) + " does not exist: an occurrence has " +
                    std::to_string(epochs) + " intervals");
  }
  const int64_t start = occ->start + int64_t(epoch.index) * interval_seconds;
  return std::pair<int64_t, int64_t>(start, std::min(start + interval_seconds, occ->end));
}

std::optional<Epoch> NextEpoch(const Schedule& schedule, uint32_t interval_seconds, Epoch epoch) {
  const uint32_t epochs = EpochsInOccurrence(schedule, interval_seconds);
  if (epoch.index >= epochs) return std::nullopt;
  Plan p;
  if (!Compile(schedule, &p, nullptr)) return std::nullopt;
  if (!StartOf(p, epoch.occurrence)) return std::nullopt;
  if (epoch.index + 1 < epochs) return Epoch{epoch.occurrence, epoch.index + 1};
  if (!StartOf(p, int64_t(epoch.occurrence) + 1)) return std::nullopt;
  // Occurrence numbers stay far below 2^32 (kScheduleHorizon).
  return Epoch{epoch.occurrence + 1, 0};
}

void EncodeSchedule(const Schedule& schedule, Writer& w) {
  w.I64(schedule.start);
  w.I64(schedule.duration);
  w.Opaque8(schedule.rule ? schedule.rule->ToString() : std::string());
}

bool DecodeSchedule(Reader& r, Schedule* out) {
  Schedule s;
  std::string text;
  if (!r.I64(&s.start, "schedule start") || !r.I64(&s.duration, "schedule duration") ||
      !r.String8(&text, "schedule rrule", limits::kMaxRruleLength)) {
    return false;
  }
  if (!text.empty()) {
    auto rule = ParseRrule(text);
    if (!rule.ok()) return r.Fail("schedule rrule: " + rule.status().message());
    if (rule->ToString() != text) {
      return r.Fail("schedule rrule is not in canonical form (expected " + rule->ToString() + ")");
    }
    s.rule = std::move(rule).value();
  }
  if (Status st = s.Validate(); !st.ok()) return r.Fail("schedule: " + st.message());
  *out = std::move(s);
  return true;
}

}  // namespace keycast
