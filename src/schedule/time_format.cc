// Time text: RFC 3339 date-times and ISO 8601 durations, UTC only.
#include <cstdio>
#include <limits>
#include <string>

#include "keycast/schedule.h"
#include "schedule/civil.h"
#include "schedule/schedule_internal.h"

namespace keycast {

namespace si = schedule_internal;

namespace {

// Longest accepted RFC 3339 text is "YYYY-MM-DDTHH:MM:SS+HH:MM"; anything much
// longer is refused without being echoed in full.
constexpr size_t kMaxTimeText = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Fixed-width decimal field at text[from, from + n). REQUIRES: in range.
std::optional<unsigned> Field(std::string_view text, size_t from, size_t n) {
  unsigned v = 0;
  for (size_t i = from; i < from + n; ++i) {
    if (!IsDigit(text[i])) return std::nullopt;
    v = v * 10 + unsigned(text[i] - '0');
  }
  return v;
}

std::string Shown(std::string_view text) {
  if (text.size() > kMaxTimeText) return "a " + std::to_string(text.size()) + "-byte text";
  return "'" + si::Printable(text) + "'";
}

}  // namespace

namespace schedule_internal {

Status CheckDateTimeFields(int64_t year, unsigned month, unsigned day, unsigned hour,
                           unsigned minute, unsigned second) {
  char ym[32];
  if (month < 1 || month > 12) {
    return InvalidArgument("month " + std::to_string(month) + " is out of range 1..12");
  }
  const unsigned last = civil::DaysInMonth(year, month);
  if (day < 1 || day > last) {
    std::snprintf(ym, sizeof ym, "%04lld-%02u", static_cast<long long>(year), month);
    return InvalidArgument("day " + std::to_string(day) + " is out of range for " + ym + " (1.." +
                           std::to_string(last) + ")");
  }
  if (hour > 23) return InvalidArgument("hour " + std::to_string(hour) + " is out of range 0..23");
  if (minute > 59) {
    return InvalidArgument("minute " + std::to_string(minute) + " is out of range 0..59");
  }
  if (second > 59) {
    return InvalidArgument("second " + std::to_string(second) +
                           " is out of range 0..59 (no leap seconds)");
  }
  return Status::Ok();
}

int64_t UnixFromDateTime(int64_t year, unsigned month, unsigned day, unsigned hour, unsigned minute,
                         unsigned second) {
  return civil::DaysFromCivil(year, month, day) * civil::kSecondsPerDay + int64_t(hour) * 3600 +
         int64_t(minute) * 60 + int64_t(second);
}

}  // namespace schedule_internal

Result<int64_t> ParseRfc3339(std::string_view text) {
  // 0123456789012345678901234
  // YYYY-MM-DDTHH:MM:SSZ
  // YYYY-MM-DDTHH:MM:SS+HH:MM
  auto not_rfc3339 = [&] {
    return InvalidArgument(Shown(text) +
                           " is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or +HH:MM)");
  };
  if (text.size() < 20 || text.size() > kMaxTimeText) return not_rfc3339();
  auto year = Field(text, 0, 4), month = Field(text, 5, 2), day = Field(text, 8, 2);
  auto hour = Field(text, 11, 2), minute = Field(text, 14, 2), second = Field(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return not_rfc3339();
  }
  if (text[19] == '.') {
    return InvalidArgument(Shown(text) + ": fractional seconds are not supported");
  }
  int64_t offset = 0;
  const std::string_view zone = text.substr(19);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    auto oh = Field(zone, 1, 2), om = Field(zone, 4, 2);
    if (!oh || !om) return not_rfc3339();
    if (*oh > 23 || *om > 59) {
      return InvalidArgument(Shown(text) + ": offset " + std::string(zone) + " is out of range");
    }
    offset = (int64_t(*oh) * 3600 + int64_t(*om) * 60) * (zone[0] == '-' ? -1 : 1);
  } else {
    return not_rfc3339();
  }
  Status s = si::CheckDateTimeFields(*year, *month, *day, *hour, *minute, *second);
  if (!s.ok()) return InvalidArgument(Shown(text) + ": " + s.message());
  // Local time = UTC + offset.
  return si::UnixFromDateTime(*year, *month, *day, *hour, *minute, *second) - offset;
}

std::string FormatRfc3339(int64_t t) {
  const int64_t days = civil::FloorDiv(t, civil::kSecondsPerDay);
  const int64_t sec = civil::FloorMod(t, civil::kSecondsPerDay);
  const civil::CivilDate d = civil::CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(d.year),
                d.month, d.day, int(sec / 3600), int(sec / 60 % 60), int(sec % 60));
  return buf;
}

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(Shown(text) + " is not a duration: " + std::string(why));
  };
  if (text.empty()) return InvalidArgument("empty duration");
  if (text.size() > kMaxTimeText) return bad("too long");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

  // Accumulates digits into *v; false on overflow.
  auto accumulate = [](int64_t* v, char c) {
    const int64_t digit = c - '0';
    if (*v > (kMax - digit) / 10) return false;
    *v = *v * 10 + digit;
    return true;
  };

  if (IsDigit(text[0])) {  // plain seconds
    int64_t v = 0;
    for (char c : text) {
      if (!IsDigit(c)) return bad("expected whole seconds or ISO 8601 PnDTnHnMnS");
      if (!accumulate(&v, c)) return bad("too large");
    }
    return v;
  }
  if (text[0] == '-' || text[0] == '+') return bad("signs are not allowed");
  if (text[0] != 'P') return bad("expected whole seconds or ISO 8601 PnDTnHnMnS");

  // Designators allowed, in order: W alone, or D, then T, then H, M, S.
  int64_t total = 0;
  bool in_time = false, any = false, any_in_time = false, weeks = false;
  int last_rank = 0;  // D=1, H=2, M=3, S=4
  size_t i = 1;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return bad("'T' appears twice");
      in_time = true;
      ++i;
      continue;
    }
    if (!IsDigit(text[i])) return bad("expected a number");
    int64_t v = 0;
    while (i < text.size() && IsDigit(text[i])) {
      if (!accumulate(&v, text[i])) return bad("too large");
      ++i;
    }
    if (i == text.size()) return bad("a number has no designator");
    const char unit = text[i++];
    int64_t scale = 0;
    int rank = 0;
    if (unit == '.' || unit == ',') return bad("fractions are not supported");
    if (!in_time) {
      if (unit == 'Y' || unit == 'M') return bad("years and months are not supported");
      if (unit == 'W') {
        if (any) return bad("weeks cannot be combined with other designators");
        weeks = true;
        scale = 7 * civil::kSecondsPerDay;
        rank = 1;
      } else if (unit == 'D') {
        scale = civil::kSecondsPerDay;
        rank = 1;
      }
    } else if (unit == 'H') {
      scale = 3600, rank = 2;
    } else if (unit == 'M') {
      scale = 60, rank = 3;
    } else if (unit == 'S') {
      scale = 1, rank = 4;
    }
    if (scale == 0) return bad("unknown designator");
    if (rank <= last_rank) return bad("designators out of order or repeated");
    last_rank = rank;
    if (v > (kMax - total) / scale) return bad("too large");
    total += v * scale;
    any = true;
    any_in_time = any_in_time || in_time;
  }
  if (weeks && in_time) return bad("weeks cannot be combined with other designators");
  if (!any) return bad("no value");
  if (in_time && !any_in_time) return bad("'T' without a time value");
  return total;
}

std::string FormatDuration(int64_t seconds) {
  // Magnitude as unsigned, so INT64_MIN is safe.
  uint64_t v = seconds < 0 ? 0 - uint64_t(seconds) : uint64_t(seconds);
  std::string s = seconds < 0 ? "-P" : "P";
  if (v == 0) return s + "T0S";
  const uint64_t days = v / 86400, h = v / 3600 % 24, m = v / 60 % 60, sec = v % 60;
  if (days) s += std::to_string(days) + "D";
  if (h || m || sec) {
    s += "T";
    if (h) s += std::to_string(h) + "H";
    if (m) s += std::to_string(m) + "M";
    if (sec) s += std::to_string(sec) + "S";
  }
  return s;
}

}  // namespace keycast
