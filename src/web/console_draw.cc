#include "web/console_draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "web/template.h"

namespace keycast::web {
namespace {

constexpr int kBoxWidth = 170;
constexpr int kGapX = 28;
constexpr int kGapY = 56;
constexpr int kLine = 16;
constexpr int kMargin = 12;

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string Clip(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 1) + "…";
}

}  // namespace

std::string DagSvg(const std::vector<GroupView>& in, size_t total_groups) {
  std::vector<const GroupView*> groups;
  for (const auto& g : in)
    if (groups.size() < kMaxDrawnGroups) groups.push_back(&g);
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < groups.size(); ++i) index[groups[i]->group.name] = i;
  size_t n = groups.size();

  // Layers: longest path from a root, in topological order (Kahn). The
  // directory refuses cycles; a drawn subset is still acyclic.
  std::vector<std::vector<size_t>> children(n), parents(n);
  std::vector<size_t> indegree(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (const auto& p : groups[i]->parents) {
      auto it = index.find(p);
      if (it == index.end()) continue;
      parents[i].push_back(it->second);
      children[it->second].push_back(i);
      ++indegree[i];
    }
  std::vector<size_t> layer(n, 0), order;
  for (size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k)
    for (size_t c : children[order[k]]) {
      layer[c] = std::max(layer[c], layer[order[k]] + 1);
      if (--indegree[c] == 0) order.push_back(c);
    }
  size_t layers = 0;
  for (size_t i = 0; i < n; ++i) layers = std::max(layers, layer[i] + 1);
  std::vector<std::vector<size_t>> rows(layers);
  for (size_t i = 0; i < n; ++i) rows[layer[i]].push_back(i);  // by name: ListGroups order

  // Order each layer by the mean position of its parents (one sweep down).
  std::vector<double> pos(n, 0);
  for (size_t l = 0; l < layers; ++l) {
    if (l > 0) {
      std::vector<std::pair<double, size_t>> keyed;
      for (size_t i : rows[l]) {
        double sum = 0;
        for (size_t p : parents[i]) sum += pos[p];
        keyed.push_back(
            {parents[i].empty() ? 1e9 : sum / static_cast<double>(parents[i].size()), i});
      }
      std::stable_sort(keyed.begin(), keyed.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      rows[l].clear();
      for (auto& [k, i] : keyed) rows[l].push_back(i);
    }
    for (size_t k = 0; k < rows[l].size(); ++k) pos[rows[l][k]] = static_cast<double>(k);
  }

  // Geometry.
  auto lines_of = [&](size_t i) {
    size_t e = groups[i]->events.size();
    return 1 + std::min(e, kMaxEventsPerBox) + (e > kMaxEventsPerBox ? 1 : 0) + (e == 0 ? 1 : 0);
  };
  size_t widest = 1;
  for (const auto& r : rows) widest = std::max(widest, r.size());
  int width = kMargin * 2 + static_cast<int>(widest) * (kBoxWidth + kGapX) - kGapX;
  std::vector<int> x(n), y(n), h(n);
  int top = kMargin;
  for (size_t l = 0; l < layers; ++l) {
    int row_h = 0;
    int row_w = static_cast<int>(rows[l].size()) * (kBoxWidth + kGapX) - kGapX;
    int left = (width - row_w) / 2;
    for (size_t k = 0; k < rows[l].size(); ++k) {
      size_t i = rows[l][k];
      h[i] = 12 + kLine * static_cast<int>(lines_of(i));
      x[i] = left + static_cast<int>(k) * (kBoxWidth + kGapX);
      y[i] = top;
      row_h = std::max(row_h, h[i]);
    }
    top += row_h + kGapY;
  }
  int height = n == 0 ? 60 : top - kGapY + kMargin;

  std::string caption =
      n == 0
          ? "The directory has no groups yet."
          : std::to_string(n) + " group(s)" +
                (total_groups > n ? " of " + std::to_string(total_groups) + " (the first by name)"
                                  : "") +
                "; each box lists the events the group grants.";
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"dag\" role=\"img\" "
      "aria-labelledby=\"dag-title dag-desc\" viewBox=\"0 0 " +
      std::to_string(width) + " " + std::to_string(height) + "\" width=\"" + std::to_string(width) +
      "\" height=\"" + std::to_string(height) +
      "\"><title id=\"dag-title\">Group DAG</title><desc id=\"dag-desc\">" + Escape(caption) +
      " Arrows point from a parent group to its child groups; members of a child "
      "receive the events of its ancestors too.</desc>"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
      "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path "
      "d=\"M 0 0 L 10 5 L 0 10 z\" class=\"dag-arrow\"/></marker></defs>";
  for (size_t i = 0; i < n; ++i)
    for (size_t c : children[i]) {
      int x1 = x[i] + kBoxWidth / 2, y1 = y[i] + h[i];
      int x2 = x[c] + kBoxWidth / 2, y2 = y[c];
      int ym = (y1 + y2) / 2;
      svg += "<path class=\"dag-edge\" marker-end=\"url(#arrow)\" d=\"M " + std::to_string(x1) +
             " " + std::to_string(y1) + " C " + std::to_string(x1) + " " + std::to_string(ym) +
             ", " + std::to_string(x2) + " " + std::to_string(ym) + ", " + std::to_string(x2) +
             " " + std::to_string(y2) + "\"/>";
    }
  for (size_t i = 0; i < n; ++i) {
    const GroupView& g = *groups[i];
    std::string events;
    for (const auto& e : g.events) events += (events.empty() ? "" : ", ") + e;
    svg += "<g class=\"dag-group\" data-group=\"" + Escape(g.group.name) + "\"><title>" +
           Escape("Group " + g.group.name + ": " + std::to_string(g.members) + " member(s); " +
                  (events.empty() ? "grants no event" : "grants " + events)) +
           "</title><rect x=\"" + std::to_string(x[i]) + "\" y=\"" + std::to_string(y[i]) +
           "\" width=\"" + std::to_string(kBoxWidth) + "\" height=\"" + std::to_string(h[i]) +
           "\" rx=\"6\"/>";
    int ty = y[i] + 6 + kLine;
    int tx = x[i] + 10;
    svg += "<text class=\"dag-name\" x=\"" + std::to_string(tx) + "\" y=\"" + std::to_string(ty) +
           "\">" + Escape(Clip(g.group.name, 20)) + " (" + std::to_string(g.members) + ")</text>";
    size_t shown = 0;
    for (const auto& e : g.events) {
      if (shown == kMaxEventsPerBox) break;
      ty += kLine;
      svg += "<text class=\"dag-event\" x=\"" + std::to_string(tx) + "\" y=\"" +
             std::to_string(ty) + "\">▸ " + Escape(Clip(e, 22)) + "</text>";
      ++shown;
    }
    if (g.events.size() > shown) {
      ty += kLine;
      svg += "<text class=\"dag-event\" x=\"" + std::to_string(tx) + "\" y=\"" +
             std::to_string(ty) + "\">+" + std::to_string(g.events.size() - shown) + " more</text>";
    } else if (g.events.empty()) {
      ty += kLine;
      svg += "<text class=\"dag-none\" x=\"" + std::to_string(tx) + "\" y=\"" + std::to_string(ty) +
             "\">no event of its own</text>";
    }
    svg += "</g>";
  }
  return svg + "</svg>";
}

void RateHistory::Add(int64_t t, const std::map<std::string, double>& counters) {
  std::lock_guard<std::mutex> l(mu_);
  samples_.emplace_back(t, counters);
  while (!samples_.empty() && samples_.front().first < t - window_) samples_.pop_front();
}

std::vector<RateHistory::Rates> RateHistory::Series() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Rates> out;
  for (size_t i = 1; i < samples_.size(); ++i) {
    const auto& [t0, a] = samples_[i - 1];
    const auto& [t1, b] = samples_[i];
    if (t1 <= t0) continue;
    Rates r;
    r.t = t1;
    for (const auto& [k, v] : b) {
      auto it = a.find(k);
      double before = it == a.end() ? 0 : it->second;
      double d = v >= before ? v - before : v;  // a counter that went down restarted
      r.per_s[k] = d / static_cast<double>(t1 - t0);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string RateHistory::Svg(int64_t now, const std::string& title_id) const {
  constexpr int kW = 720, kH = 290, kLeft = 56, kRight = 16, kTop = 16, kBottom = 74;
  auto series = Series();
  std::set<std::string> names = {"ok"};
  double max = 0;
  for (const auto& r : series)
    for (const auto& [k, v] : r.per_s) {
      if (v > 0) names.insert(k);
      max = std::max(max, v);
    }
  // A round top for the axis: 1, 2 or 5 times a power of ten.
  double top = 1;
  while (top < max) {
    if (top * 2 >= max) {
      top *= 2;
      break;
    }
    if (top * 5 >= max) {
      top *= 5;
      break;
    }
    top *= 10;
  }
  static const char* kColours[] = {"#1d5f2f", "#0b57a4", "#a3271b", "#8a4b00",
                                   "#5b2a86", "#00677a", "#4a5360", "#9c1f6e"};
  double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](int64_t t) {
    double f = 1.0 - static_cast<double>(now - t) / static_cast<double>(window_);
    return kLeft + std::clamp(f, 0.0, 1.0) * pw;
  };
  auto py = [&](double v) { return kTop + ph - (v / top) * ph; };
  std::string latest;
  if (!series.empty())
    for (const auto& name : names) {
      auto it = series.back().per_s.find(name);
      latest += (latest.empty() ? "" : ", ") + name + " " +
                Num(it == series.back().per_s.end() ? 0 : it->second) + "/s";
    }
  std::string desc = series.empty()
                         ? "No samples yet; the chart fills in over the next minutes."
                         : "Key requests per second by result over the last " +
                               std::to_string(window_ / 60) + " minutes. Latest: " + latest + ".";
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" "
      "aria-labelledby=\"" +
      title_id + " " + title_id + "-desc\" viewBox=\"0 0 " + std::to_string(kW) + " " +
      std::to_string(kH) + "\" width=\"" + std::to_string(kW) + "\" height=\"" +
      std::to_string(kH) + "\"><title id=\"" + title_id +
      "\">Key service requests per second, by result</title><desc id=\"" + title_id + "-desc\">" +
      Escape(desc) + "</desc>";
  for (int i = 0; i <= 4; ++i) {
    double v = top * i / 4;
    double yy = py(v);
    svg += "<line class=\"grid\" x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kW - kRight) + "\" y1=\"" +
           Num(yy) + "\" y2=\"" + Num(yy) + "\"/><text class=\"axis\" x=\"" + Num(kLeft - 6) +
           "\" y=\"" + Num(yy + 4) + "\" text-anchor=\"end\">" +
           (top >= 10 ? std::to_string(static_cast<int64_t>(v)) : Num(v)) + "</text>";
  }
  for (int m = 0; m <= window_ / 60; m += std::max<int64_t>(1, window_ / 60 / 5)) {
    double xx = px(now - m * 60);
    svg += "<text class=\"axis\" x=\"" + Num(xx) + "\" y=\"" + Num(kTop + ph + 18) +
           "\" text-anchor=\"middle\">" + (m == 0 ? "now" : "−" + std::to_string(m) + " min") +
           "</text>";
  }
  size_t c = 0;
  for (const auto& name : names) {
    std::string pts;
    for (const auto& r : series) {
      auto it = r.per_s.find(name);
      double v = it == r.per_s.end() ? 0 : it->second;
      pts += (pts.empty() ? "" : " ") + Num(px(r.t)) + "," + Num(py(v));
    }
    const char* colour = kColours[c % (sizeof kColours / sizeof kColours[0])];
    if (!pts.empty())
      svg += "<polyline class=\"series\" data-series=\"" + Escape(name) + "\" stroke=\"" + colour +
             "\" points=\"" + pts + "\"/>";
    double lx = kLeft + 8 + static_cast<double>(c % 4) * 160;
    double ly = kTop + ph + 44 + static_cast<double>(c / 4) * 16;
    svg += "<rect x=\"" + Num(lx) + "\" y=\"" + Num(ly - 9) +
           "\" width=\"12\" height=\"4\" fill=\"" + colour + "\"/><text class=\"legend\" x=\"" +
           Num(lx + 16) + "\" y=\"" + Num(ly) + "\">" + Escape(name) + "</text>";
    ++c;
  }
  return svg + "</svg>";
}

}  // namespace keycast::web
