// Process metrics in the Prometheus text exposition format (version 0.0.4).
//
// Debian ships no Prometheus client library for C++, so this is a deliberately
// small one: counters, gauges and fixed-bucket histograms, registered once at
// start-up and updated lock-free on hot paths.
//
// Thread safety: registration takes a lock; Inc/Set/Observe are atomic and safe
// from any thread; Render may run concurrently with updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace keycast {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Buckets are upper bounds in seconds (for latency) or in any unit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum * 1e6, to stay lock-free
};

class Metrics {
 public:
  // The process-wide registry served at /metrics.
  static Metrics& Global();

  // Returns the series for (name, labels), creating it on first use. The
  // reference stays valid for the registry's lifetime. labels is a Prometheus
  // label set without braces, e.g. `reason="replay"`.
  Counter& GetCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge& GetGauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const std::string& labels = "");

  std::string Render() const;

 private:
  struct Family {
    std::string help, type;
    std::map<std::string, Counter*> counters;
    std::map<std::string, Gauge*> gauges;
    std::map<std::string, Histogram*> histograms;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counter_store_;
  std::deque<Gauge> gauge_store_;
  std::deque<Histogram> histogram_store_;
};

// Latency buckets from 50 us to 5 s.
std::vector<double> LatencyBuckets();

}  // namespace keycast
