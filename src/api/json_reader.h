// Strict reading of JSON request bodies: every field is typed and bounded,
// unknown fields are refused, and the first problem becomes an
// InvalidArgument naming the field ("field 'port': expected an integer
// 1-65535").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "keycast/schedule.h"
#include "keycast/status.h"

namespace keycast::api {

using json = nlohmann::json;

// Parses a request body: bounded size (checked by the caller), bounded
// nesting depth, must be a JSON object.
Result<json> ParseObject(const std::string& body);

// An event schedule object {start, duration, rrule?}: start as RFC 3339 or
// Unix seconds, duration as ISO 8601 or seconds, rrule in the RFC 5545
// subset of docs/schedules.md. Shared by every route that takes a schedule.
Result<Schedule> ParseSchedule(const json& j);

class ObjectReader {
 public:
  // `where` prefixes messages for nested objects ("schedule.").
  explicit ObjectReader(const json& obj, std::string where = "");

  std::optional<std::string> Str(const char* name, size_t max_len, bool required);
  std::optional<int64_t> Int(const char* name, int64_t min, int64_t max, bool required);
  std::optional<bool> Bool(const char* name, bool required);
  std::optional<std::vector<std::string>> StrList(const char* name, size_t max_items,
                                                  size_t max_len, bool required);
  // A nested object, or a string/integer (for values that accept either).
  const json* Raw(const char* name, bool required);

  // Records an error for a field whose value is well-typed but invalid.
  void Fail(const char* name, const std::string& why);
  void Fail(const Status& st);

  // The first error, or an error for the first field never asked for.
  Status Finish();
  bool ok() const { return error_.ok(); }

 private:
  const json* Get(const char* name, bool required);
  const json& obj_;
  std::string where_;
  std::set<std::string> seen_;
  Status error_;
};

}  // namespace keycast::api
