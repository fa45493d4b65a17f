// Human output of `keycast admin`: aligned tables for lists, "key: value"
// blocks for single objects. (--json prints the server's JSON instead.)
//
// Header-only for the reason given in admin_client.h.
#pragma once

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace keycast::cli {

// A JSON value as a table cell: strings as they are, arrays joined with
// ", ", booleans yes/no, null and "" as "-", objects compact.
inline std::string Cell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string s;
    for (const auto& item : v) s += (s.empty() ? "" : ", ") + Cell(item);
    return s.empty() ? "-" : s;
  }
  return v.dump();
}

// `s` cut to at most `max` bytes, with "..." when cut.
inline std::string Truncate(std::string s, size_t max) {
  if (s.size() <= max || max < 4) return s;
  return s.substr(0, max - 3) + "...";
}

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

  // REQUIRES: cells.size() == number of headers.
  void Row(std::vector<std::string> cells) {
    for (auto& c : cells)
      if (c.empty()) c = "-";
    rows_.push_back(std::move(cells));
  }
  size_t size() const { return rows_.size(); }

  // Columns two spaces apart; the last column is not padded. With no rows,
  // prints `empty` instead ("no clients").
  void Print(const std::string& empty) const {
    if (rows_.empty()) {
      std::printf("%s\n", empty.c_str());
      return;
    }
    std::vector<size_t> width(headers_.size());
    for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
    for (const auto& r : rows_)
      for (size_t i = 0; i < r.size() && i < width.size(); ++i)
        width[i] = std::max(width[i], r[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
      std::string out;
      for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
        out += cells[i];
        if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
      }
      std::printf("%s\n", out.c_str());
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
  }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints "key:   value" lines with the values aligned.
inline void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t w = 0;
  for (const auto& [k, v] : fields) w = std::max(w, k.size());
  for (const auto& [k, v] : fields)
    std::printf("%s:%s%s\n", k.c_str(), std::string(w - k.size() + 2, ' ').c_str(),
                v.empty() ? "-" : v.c_str());
}

}  // namespace keycast::cli
