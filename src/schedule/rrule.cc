// RRULE text: parsing the supported RFC 5545 subset, and the canonical form.
#include <algorithm>
#include <cstdio>
#include <string>

#include "keycast/limits.h"
#include "keycast/schedule.h"
#include "schedule/civil.h"
#include "schedule/schedule_internal.h"

namespace keycast {

namespace si = schedule_internal;

namespace {

constexpr std::string_view kWeekdayNames[7] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
constexpr uint32_t kMaxInterval = 1000;
constexpr uint32_t kMaxCount = 100000;
constexpr size_t kMaxByDayItems = 7 * 11;    // each weekday plain, 1..5, -1..-5
constexpr size_t kMaxByMonthDayItems = 62;   // 1..31, -1..-31
constexpr int64_t kMinUntil = -62167219200;  // 0000-01-01T00:00:00Z
constexpr int64_t kMaxUntil = 253402300799;  // 9999-12-31T23:59:59Z

// Canonical list orders (see Rrule::ToString).
int ByDayKey(const WeekdayNum& w) {
  int ord = w.ordinal == 0 ? 0 : w.ordinal > 0 ? w.ordinal : 10 - w.ordinal;
  return int(w.day) * 100 + ord;
}
int ByMonthDayKey(int8_t v) { return v > 0 ? v : 100 - v; }

std::string ByDayText(const WeekdayNum& w) {
  std::string s = w.ordinal == 0 ? std::string() : std::to_string(int(w.ordinal));
  if (uint8_t(w.day) < 7) s += kWeekdayNames[uint8_t(w.day)];
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Unsigned decimal, digits only. Values above 10^9 come back as 10^9 + 1 so
// callers can report "out of range" without overflow.
std::optional<uint64_t> ParseDigits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    v = std::min<uint64_t>(v * 10 + uint64_t(c - '0'), 1000000001);
  }
  return v;
}

std::optional<Weekday> ParseWeekday(std::string_view s) {
  for (int i = 0; i < 7; ++i) {
    if (s == kWeekdayNames[i]) return Weekday(i);
  }
  return std::nullopt;
}

// One BYDAY item: [+|-][1-2 digits]weekday. `item` is upper case.
Result<WeekdayNum> ParseByDayItem(std::string_view item) {
  auto not_weekday = [&] {
    return InvalidArgument("BYDAY=" + si::Printable(item) + " is not a weekday");
  };
  size_t i = 0;
  int sign = 0;
  if (i < item.size() && (item[i] == '+' || item[i] == '-')) sign = item[i++] == '-' ? -1 : 1;
  size_t digits_begin = i;
  while (i < item.size() && IsDigit(item[i]) && i - digits_begin < 2) ++i;
  std::string_view digits = item.substr(digits_begin, i - digits_begin);
  if (sign != 0 && digits.empty()) return not_weekday();
  auto day = ParseWeekday(item.substr(i));
  if (!day) return not_weekday();
  WeekdayNum w;
  w.day = *day;
  if (!digits.empty()) {
    int v = int(*ParseDigits(digits));
    if (v < 1 || v > 5) {
      return InvalidArgument("BYDAY=" + si::Printable(item) +
                             ": the ordinal must be 1..5 or -5..-1");
    }
    w.ordinal = int8_t(sign < 0 ? -v : v);
  }
  return w;
}

Result<int8_t> ParseByMonthDayItem(std::string_view item) {
  auto bad = [&] {
    return InvalidArgument("BYMONTHDAY=" + si::Printable(item) +
                           " is not a day of the month (1..31 or -31..-1)");
  };
  std::string_view digits = item;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  auto v = ParseDigits(digits);
  if (!v || *v < 1 || *v > 31) return bad();
  return int8_t(negative ? -int(*v) : int(*v));
}

// YYYYMMDDTHHMMSSZ; `value` is upper case.
Result<int64_t> ParseUntil(std::string_view value) {
  const std::string shown = "UNTIL=" + si::Printable(value);
  auto all_digits = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      if (!IsDigit(value[i])) return false;
    }
    return true;
  };
  if (value.size() == 8 && all_digits(0, 8)) {
    return InvalidArgument(shown + " is a date; UNTIL must be a UTC date-time YYYYMMDDTHHMMSSZ");
  }
  if (value.size() == 15 && all_digits(0, 8) && value[8] == 'T' && all_digits(9, 6)) {
    return InvalidArgument(shown + " is a floating time; UNTIL must be UTC, ending in Z");
  }
  if (value.size() != 16 || !all_digits(0, 8) || value[8] != 'T' || !all_digits(9, 6) ||
      value[15] != 'Z') {
    return InvalidArgument(shown + " is not a UTC date-time YYYYMMDDTHHMMSSZ");
  }
  auto field = [&](size_t from, size_t n) { return unsigned(*ParseDigits(value.substr(from, n))); };
  const int64_t year = field(0, 4);
  const unsigned month = field(4, 2), day = field(6, 2);
  const unsigned hour = field(9, 2), minute = field(11, 2), second = field(13, 2);
  Status s = si::CheckDateTimeFields(year, month, day, hour, minute, second);
  if (!s.ok()) return InvalidArgument(shown + ": " + s.message());
  return si::UnixFromDateTime(year, month, day, hour, minute, second);
}

template <typename T, typename Key>
void SortBy(std::vector<T>& v, Key key) {
  std::sort(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
}

}  // namespace

namespace schedule_internal {

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string_view WeekdayName(Weekday d) { return kWeekdayNames[uint8_t(d) % 7]; }

std::string FormatUntil(int64_t t) {
  const int64_t days = civil::FloorDiv(t, civil::kSecondsPerDay);
  const int64_t sec = civil::FloorMod(t, civil::kSecondsPerDay);
  const civil::CivilDate d = civil::CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02uT%02d%02d%02dZ", static_cast<long long>(d.year),
                d.month, d.day, int(sec / 3600), int(sec / 60 % 60), int(sec % 60));
  return buf;
}

Status CheckRule(const Rrule& rule) {
  if (rule.freq != Frequency::kDaily && rule.freq != Frequency::kWeekly &&
      rule.freq != Frequency::kMonthly) {
    return InvalidArgument("unknown frequency " + std::to_string(int(rule.freq)));
  }
  if (rule.interval < 1 || rule.interval > kMaxInterval) {
    return InvalidArgument("INTERVAL=" + std::to_string(rule.interval) +
                           " is out of range 1..1000");
  }
  if (rule.count > kMaxCount) {
    return InvalidArgument("COUNT=" + std::to_string(rule.count) + " is out of range 1..100000");
  }
  if (rule.count != 0 && rule.until) {
    return InvalidArgument("COUNT and UNTIL are mutually exclusive");
  }
  if (rule.until && (*rule.until < kMinUntil || *rule.until > kMaxUntil)) {
    return InvalidArgument("UNTIL is outside the years 0000..9999");
  }
  if (rule.by_day.size() > kMaxByDayItems) {
    return InvalidArgument("BYDAY has more than " + std::to_string(kMaxByDayItems) + " items");
  }
  if (rule.by_month_day.size() > kMaxByMonthDayItems) {
    return InvalidArgument("BYMONTHDAY has more than " + std::to_string(kMaxByMonthDayItems) +
                           " items");
  }
  if (!rule.by_day.empty() && rule.freq == Frequency::kDaily) {
    return InvalidArgument("BYDAY is not supported with FREQ=DAILY");
  }
  if (!rule.by_month_day.empty() && rule.freq != Frequency::kMonthly) {
    return InvalidArgument("BYMONTHDAY is only supported with FREQ=MONTHLY");
  }
  if (!rule.by_day.empty() && !rule.by_month_day.empty()) {
    return InvalidArgument("BYDAY and BYMONTHDAY together are not supported");
  }
  for (size_t i = 0; i < rule.by_day.size(); ++i) {
    const WeekdayNum& w = rule.by_day[i];
    if (uint8_t(w.day) > 6) return InvalidArgument("BYDAY has an invalid weekday");
    if (w.ordinal < -5 || w.ordinal > 5) {
      return InvalidArgument("BYDAY=" + ByDayText(w) + ": the ordinal must be 1..5 or -5..-1");
    }
    if (w.ordinal != 0 && rule.freq != Frequency::kMonthly) {
      return InvalidArgument("BYDAY=" + ByDayText(w) + ": an ordinal needs FREQ=MONTHLY");
    }
    for (size_t j = 0; j < i; ++j) {
      if (rule.by_day[j] == w) return InvalidArgument("BYDAY lists " + ByDayText(w) + " twice");
    }
  }
  for (size_t i = 0; i < rule.by_month_day.size(); ++i) {
    const int v = rule.by_month_day[i];
    if (v == 0 || v < -31 || v > 31) {
      return InvalidArgument("BYMONTHDAY=" + std::to_string(v) +
                             " is not a day of the month (1..31 or -31..-1)");
    }
    for (size_t j = 0; j < i; ++j) {
      if (rule.by_month_day[j] == v) {
        return InvalidArgument("BYMONTHDAY lists " + std::to_string(v) + " twice");
      }
    }
  }
  return Status::Ok();
}

}  // namespace schedule_internal

std::string Rrule::ToString() const {
  static constexpr std::string_view kFreqNames[] = {"", "DAILY", "WEEKLY", "MONTHLY"};
  std::string s = "FREQ=";
  s += uint8_t(freq) <= 3 ? kFreqNames[uint8_t(freq)] : "?";
  if (interval != 1) s += ";INTERVAL=" + std::to_string(interval);
  if (!by_day.empty()) {
    std::vector<WeekdayNum> days = by_day;
    SortBy(days, ByDayKey);
    s += ";BYDAY=";
    for (size_t i = 0; i < days.size(); ++i) s += (i ? "," : "") + ByDayText(days[i]);
  }
  if (!by_month_day.empty()) {
    std::vector<int8_t> mdays = by_month_day;
    SortBy(mdays, ByMonthDayKey);
    s += ";BYMONTHDAY=";
    for (size_t i = 0; i < mdays.size(); ++i) s += (i ? "," : "") + std::to_string(int(mdays[i]));
  }
  if (count != 0) s += ";COUNT=" + std::to_string(count);
  if (until) s += ";UNTIL=" + si::FormatUntil(*until);
  return s;
}

Result<Rrule> ParseRrule(std::string_view text) {
  if (text.size() > limits::kMaxRruleLength) {
    return InvalidArgument("RRULE is " + std::to_string(text.size()) + " bytes, longer than " +
                           std::to_string(limits::kMaxRruleLength));
  }
  if (text.empty()) return InvalidArgument("empty RRULE");

  Rrule rule;
  bool have_freq = false, have_interval = false, have_by_day = false, have_by_month_day = false,
       have_count = false, have_until = false, have_wkst = false;
  auto once = [](bool* seen, const std::string& name) -> Status {
    if (*seen) return InvalidArgument("RRULE part " + name + " appears more than once");
    *seen = true;
    return Status::Ok();
  };

  size_t pos = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string_view::npos) semi = text.size();
    const std::string_view part = text.substr(pos, semi - pos);
    pos = semi + 1;

    if (part.empty()) return InvalidArgument("RRULE has an empty part");
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("RRULE part " + si::Printable(part) + " has no '='");
    }
    const std::string name = Upper(part.substr(0, eq));
    const std::string value = Upper(part.substr(eq + 1));
    if (value.empty()) return InvalidArgument("RRULE part " + si::Printable(name) + " is empty");

    if (name == "FREQ") {
      KC_RETURN_IF_ERROR(once(&have_freq, name));
      if (value == "DAILY") {
        rule.freq = Frequency::kDaily;
      } else if (value == "WEEKLY") {
        rule.freq = Frequency::kWeekly;
      } else if (value == "MONTHLY") {
        rule.freq = Frequency::kMonthly;
      } else {
        return InvalidArgument("FREQ=" + si::Printable(value) +
                               " is not supported (DAILY, WEEKLY or MONTHLY)");
      }
    } else if (name == "INTERVAL") {
      KC_RETURN_IF_ERROR(once(&have_interval, name));
      auto v = ParseDigits(value);
      if (!v) return InvalidArgument("INTERVAL=" + si::Printable(value) + " is not a number");
      if (*v < 1 || *v > kMaxInterval) {
        return InvalidArgument("INTERVAL=" + si::Printable(value) + " is out of range 1..1000");
      }
      rule.interval = uint32_t(*v);
    } else if (name == "COUNT") {
      KC_RETURN_IF_ERROR(once(&have_count, name));
      auto v = ParseDigits(value);
      if (!v) return InvalidArgument("COUNT=" + si::Printable(value) + " is not a number");
      if (*v < 1 || *v > kMaxCount) {
        return InvalidArgument("COUNT=" + si::Printable(value) + " is out of range 1..100000");
      }
      rule.count = uint32_t(*v);
    } else if (name == "UNTIL") {
      KC_RETURN_IF_ERROR(once(&have_until, name));
      KC_ASSIGN_OR_RETURN(rule.until, ParseUntil(value));
    } else if (name == "BYDAY" || name == "BYMONTHDAY") {
      const bool by_day = name == "BYDAY";
      KC_RETURN_IF_ERROR(once(by_day ? &have_by_day : &have_by_month_day, name));
      size_t ipos = 0;
      while (ipos <= value.size()) {
        size_t comma = value.find(',', ipos);
        if (comma == std::string::npos) comma = value.size();
        const std::string_view item = std::string_view(value).substr(ipos, comma - ipos);
        ipos = comma + 1;
        if (item.empty()) return InvalidArgument(name + " has an empty item");
        if (by_day) {
          KC_ASSIGN_OR_RETURN(WeekdayNum w, ParseByDayItem(item));
          rule.by_day.push_back(w);
        } else {
          KC_ASSIGN_OR_RETURN(int8_t v, ParseByMonthDayItem(item));
          rule.by_month_day.push_back(v);
        }
      }
    } else if (name == "WKST") {
      KC_RETURN_IF_ERROR(once(&have_wkst, name));
      if (value != "MO") {
        return InvalidArgument("WKST=" + si::Printable(value) + " is not supported (only MO)");
      }
    } else {
      return InvalidArgument("unsupported RRULE part " + si::Printable(name));
    }
  }
  if (!have_freq) return InvalidArgument("RRULE has no FREQ");
  SortBy(rule.by_day, ByDayKey);
  SortBy(rule.by_month_day, ByMonthDayKey);
  KC_RETURN_IF_ERROR(si::CheckRule(rule));
  return rule;
}

}  // namespace keycast
