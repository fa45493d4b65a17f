#include "keycast/metrics.h"

#include <cstdio>
#include <sstream>

namespace keycast {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size()]) {
  for (size_t i = 0; i < bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) counts_[i].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const { return static_cast<double>(sum_micro_.load()) / 1e6; }

Metrics& Metrics::Global() {
  static Metrics* m = new Metrics();  // never destroyed: threads may outlive main
  return *m;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "counter";
  auto it = f.counters.find(labels);
  if (it != f.counters.end()) return *it->second;
  Counter* c = &counter_store_.emplace_back();
  f.counters[labels] = c;
  return *c;
}

Gauge& Metrics::GetGauge(const std::string& name, const std::string& help,
                         const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "gauge";
  auto it = f.gauges.find(labels);
  if (it != f.gauges.end()) return *it->second;
  Gauge* g = &gauge_store_.emplace_back();
  f.gauges[labels] = g;
  return *g;
}

Histogram& Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 std::vector<double> bounds, const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "histogram";
  auto it = f.histograms.find(labels);
  if (it != f.histograms.end()) return *it->second;
  Histogram* h = &histogram_store_.emplace_back(std::move(bounds));
  f.histograms[labels] = h;
  return *h;
}

static std::string Series(const std::string& name, const std::string& labels,
                          const std::string& extra = "") {
  std::string l = labels;
  if (!extra.empty()) l = l.empty() ? extra : l + "," + extra;
  return l.empty() ? name : name + "{" + l + "}";
}

static std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> l(mu_);
  std::ostringstream o;
  for (const auto& [name, f] : families_) {
    o << "# HELP " << name << ' ' << f.help << '\n' << "# TYPE " << name << ' ' << f.type << '\n';
    for (const auto& [labels, c] : f.counters)
      o << Series(name, labels) << ' ' << c->value() << '\n';
    for (const auto& [labels, g] : f.gauges) o << Series(name, labels) << ' ' << g->value() << '\n';
    for (const auto& [labels, h] : f.histograms) {
      for (size_t i = 0; i < h->bounds().size(); ++i)
        o << Series(name + "_bucket", labels, "le=\"" + Num(h->bounds()[i]) + "\"") << ' '
          << h->bucket(i) << '\n';
      o << Series(name + "_bucket", labels, "le=\"+Inf\"") << ' ' << h->count() << '\n';
      o << Series(name + "_sum", labels) << ' ' << Num(h->sum()) << '\n';
      o << Series(name + "_count", labels) << ' ' << h->count() << '\n';
    }
  }
  return o.str();
}

std::vector<double> LatencyBuckets() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,   2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1.0,    2.5,  5.0};
}

}  // namespace keycast
