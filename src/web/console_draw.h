// The operator console's pictures, drawn on the server as SVG (no script,
// no external library): the group DAG and the key service's request rates.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "keycast/directory.h"

namespace keycast::web {

// At most this many groups are drawn; the page says when there are more.
inline constexpr size_t kMaxDrawnGroups = 120;
// At most this many events are listed in a group's box.
inline constexpr size_t kMaxEventsPerBox = 4;

// The group DAG, layered: every group sits below all of its parents (its
// layer is the longest path from a root), groups of a layer are ordered by
// the mean position of their parents, and each box lists the events
// assigned to the group, which it grants to its members and the members of
// every group below it. `total_groups` is the directory's count (the
// caption says when fewer are drawn). An <svg role="img"> with a title and
// a description; every value escaped.
std::string DagSvg(const std::vector<GroupView>& groups, size_t total_groups);

// Request counters sampled over time and drawn as rates. Thread-safe.
class RateHistory {
 public:
  // Keeps samples for `window_seconds`.
  explicit RateHistory(int64_t window_seconds) : window_(window_seconds) {}

  // A sample: every series' counter value at `t` (Unix seconds). A counter
  // that went down (a restart of the source) starts a new baseline.
  void Add(int64_t t, const std::map<std::string, double>& counters);

  struct Rates {
    int64_t t = 0;                        // end of the span
    std::map<std::string, double> per_s;  // series -> requests per second
  };
  // The rate of each series between consecutive samples, oldest first.
  std::vector<Rates> Series() const;

  // The rates as a line chart over the window ending at `now`: one line per
  // series that was ever non-zero (and "ok"), a legend, axes in requests
  // per second and minutes ago. title_id names the chart for aria.
  std::string Svg(int64_t now, const std::string& title_id) const;

 private:
  int64_t window_;
  mutable std::mutex mu_;
  std::deque<std::pair<int64_t, std::map<std::string, double>>> samples_;
};

}  // namespace keycast::web
