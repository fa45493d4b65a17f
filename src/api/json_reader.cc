#include "api/json_reader.h"

#include "keycast/limits.h"
#include "keycast/schedule.h"

namespace keycast::api {

Result<json> ParseObject(const std::string& body) {
  // Refuse deep nesting before the parser sees it.
  size_t depth = 0;
  bool in_string = false, escape = false;
  for (char c : body) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > limits::kMaxJsonDepth)
        return InvalidArgument("JSON nested deeper than " + std::to_string(limits::kMaxJsonDepth) +
                               " levels");
    } else if (c == '}' || c == ']') {
      if (depth > 0) --depth;
    }
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // parse_error for bad syntax, out_of_range for a number no double can
    // hold (1e999): both are the client's mistake.
    return InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("the request body must be a JSON object");
  return j;
}

ObjectReader::ObjectReader(const json& obj, std::string where)
    : obj_(obj), where_(std::move(where)) {}

void ObjectReader::Fail(const char* name, const std::string& why) {
  if (error_.ok()) error_ = InvalidArgument("field '" + where_ + name + "': " + why);
}

void ObjectReader::Fail(const Status& st) {
  if (error_.ok() && !st.ok()) error_ = st;
}

const json* ObjectReader::Get(const char* name, bool required) {
  seen_.insert(name);
  auto it = obj_.find(name);
  if (it == obj_.end() || it->is_null()) {
    if (required) Fail(name, "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> ObjectReader::Str(const char* name, size_t max_len, bool required) {
  const json* v = Get(name, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Fail(name, "expected a string");
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    Fail(name, "longer than " + std::to_string(max_len) + " bytes");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> ObjectReader::Int(const char* name, int64_t min, int64_t max,
                                         bool required) {
  const json* v = Get(name, required);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) {
    Fail(name, "expected an integer " + std::to_string(min) + "-" + std::to_string(max));
    return std::nullopt;
  }
  int64_t x;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      Fail(name, "out of range");
      return std::nullopt;
    }
    x = static_cast<int64_t>(u);
  } else {
    x = v->get<int64_t>();
  }
  if (x < min || x > max) {
    Fail(name, "expected an integer " + std::to_string(min) + "-" + std::to_string(max));
    return std::nullopt;
  }
  return x;
}

std::optional<bool> ObjectReader::Bool(const char* name, bool required) {
  const json* v = Get(name, required);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    Fail(name, "expected true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::vector<std::string>> ObjectReader::StrList(const char* name, size_t max_items,
                                                              size_t max_len, bool required) {
  const json* v = Get(name, required);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    Fail(name, "expected a list of strings");
    return std::nullopt;
  }
  if (v->size() > max_items) {
    Fail(name, "more than " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : *v) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > max_len) {
      Fail(name, "expected a list of strings of at most " + std::to_string(max_len) + " bytes");
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

const json* ObjectReader::Raw(const char* name, bool required) { return Get(name, required); }

Status ObjectReader::Finish() {
  if (!error_.ok()) return error_;
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    if (!seen_.count(it.key())) return InvalidArgument("unknown field '" + where_ + it.key() + "'");
  }
  return Status::Ok();
}

Result<Schedule> ParseSchedule(const json& j) {
  if (!j.is_object())
    return InvalidArgument("field 'schedule': expected an object with start, duration, rrule");
  ObjectReader r(j, "schedule.");
  Schedule s;
  const json* start = r.Raw("start", true);
  const json* duration = r.Raw("duration", true);
  auto rrule = r.Str("rrule", limits::kMaxRruleLength, false);
  KC_RETURN_IF_ERROR(r.Finish());
  if (start->is_string()) {
    auto t = ParseRfc3339(start->get<std::string>());
    if (!t.ok()) return InvalidArgument("field 'schedule.start': " + t.status().message());
    s.start = *t;
  } else if (start->is_number_integer()) {
    s.start = start->get<int64_t>();
  } else {
    return InvalidArgument(
        "field 'schedule.start': expected an RFC 3339 date-time or Unix seconds");
  }
  if (duration->is_string()) {
    auto d = ParseDuration(duration->get<std::string>());
    if (!d.ok()) return InvalidArgument("field 'schedule.duration': " + d.status().message());
    s.duration = *d;
  } else if (duration->is_number_integer()) {
    s.duration = duration->get<int64_t>();
  } else {
    return InvalidArgument("field 'schedule.duration': expected an ISO 8601 duration or seconds");
  }
  if (rrule && !rrule->empty()) {
    auto rule = ParseRrule(*rrule);
    if (!rule.ok()) return InvalidArgument("field 'schedule.rrule': " + rule.status().message());
    s.rule = *rule;
  }
  Status v = s.Validate();
  if (!v.ok()) return InvalidArgument("field 'schedule': " + v.message());
  return s;
}

}  // namespace keycast::api
