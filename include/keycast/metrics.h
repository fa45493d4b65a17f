// Process metrics for Prometheus, on prometheus-cpp's core library (Debian
// `prometheus-cpp-dev`): its registry holds every series, its counters,
// gauges and histograms count, and its text serializer writes /metrics
// (exposition format 0.0.4). This header keeps Keycast's small interface
// over it: series are registered once at start-up by name and a label set,
// and updated without locks on hot paths (histograms take a short mutex).
//
// Thread safety: registration takes a lock; Inc/Set/Observe are safe from
// any thread; Render and Collect may run concurrently with updates.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace keycast {

// A counter: one of the registry's, or a private one (default-constructed,
// not exported) for code that counts without publishing.
class Counter {
 public:
  Counter() : c_(&own_) {}
  explicit Counter(prometheus::Counter* c) : c_(c) {}
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1) { c_->Increment(static_cast<double>(n)); }
  uint64_t value() const { return static_cast<uint64_t>(c_->Value()); }

 private:
  prometheus::Counter own_;
  prometheus::Counter* c_;
};

class Gauge {
 public:
  Gauge() : g_(&own_) {}
  explicit Gauge(prometheus::Gauge* g) : g_(g) {}
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(int64_t v) { g_->Set(static_cast<double>(v)); }
  void Add(int64_t d) { g_->Increment(static_cast<double>(d)); }
  int64_t value() const { return static_cast<int64_t>(g_->Value()); }

 private:
  prometheus::Gauge own_;
  prometheus::Gauge* g_;
};

// Buckets are upper bounds in seconds (for latency) or in any unit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // private, not exported
  Histogram(prometheus::Histogram* h, std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v) { h_->Observe(v); }
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t count() const;
  double sum() const;

 private:
  std::unique_ptr<prometheus::Histogram> own_;
  prometheus::Histogram* h_;
  std::vector<double> bounds_;
};

class Metrics {
 public:
  Metrics();
  // The process-wide registry served at /metrics.
  static Metrics& Global();

  // Returns the series for (name, labels), creating it on first use. The
  // reference stays valid for the registry's lifetime. labels is a
  // Prometheus label set without braces, e.g. `reason="replay"` (written by
  // Keycast's code, never by users; label values must not contain '"').
  Counter& GetCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge& GetGauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const std::string& labels = "");

  // The text exposition of every series (what /metrics serves).
  std::string Render() const;
  // The value of each counter of family `name` by its label `label` (series
  // without that label are left out): the figures /metrics shows, read in
  // process (the operator console's request-rate chart).
  std::map<std::string, double> CounterValues(const std::string& name,
                                              const std::string& label) const;

 private:
  template <typename T>
  prometheus::Family<T>& FamilyLocked(const std::string& name, const std::string& help);

  mutable std::mutex mu_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string, void*> families_;  // name -> prometheus::Family<T>*
  std::map<std::string, std::string> types_;
  std::map<std::string, Counter*> counters_;  // name + '{' + labels -> series
  std::map<std::string, Gauge*> gauges_;
  std::map<std::string, Histogram*> histograms_;
  std::deque<Counter> counter_store_;
  std::deque<Gauge> gauge_store_;
  std::deque<Histogram> histogram_store_;
};

// Latency buckets from 50 us to 5 s.
std::vector<double> LatencyBuckets();

}  // namespace keycast
