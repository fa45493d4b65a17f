// Measurement helpers for the directory benchmarks: latency samples with
// exact percentiles and a log-scale histogram, process memory from
// /proc/self/status, and CPU time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace keycast::bench {

// Latency samples in nanoseconds. Keeps every sample (the callers bound the
// count), so percentiles are exact. Not thread-safe: one per thread, then
// Merge.
class LatencyRecorder {
 public:
  void Reserve(size_t n) { samples_.reserve(n); }
  void Add(int64_t nanos) {
    samples_.push_back(nanos);
    sorted_ = false;
  }
  void Merge(const LatencyRecorder& other);
  size_t count() const { return samples_.size(); }

  // q in [0, 1]; 0 when empty. Sorts on first use after an Add.
  int64_t Percentile(double q);
  int64_t Max();
  double Mean() const;

  // "p50 4.1 us  p90 6.0 us  p99 12.3 us  max 310 us  (mean 4.6 us, n 200000)"
  std::string Summary();
  // One line per power-of-two bucket that holds samples:
  //   "    4-8 us   123456  61.7%  ##########"
  std::string Histogram();

 private:
  void Sort();
  std::vector<int64_t> samples_;
  bool sorted_ = true;
};

// "4.1 us", "1.23 ms", "850 ns"
std::string FormatNanos(double nanos);
// "1.23 GiB", "512.0 MiB"
std::string FormatBytes(double bytes);

struct ProcMemory {
  int64_t rss_bytes = 0;  // VmRSS
  int64_t hwm_bytes = 0;  // VmHWM: peak RSS
};
ProcMemory ReadProcMemory();

// CPU time (user + system) of the whole process and of the calling thread,
// in seconds.
double ProcessCpuSeconds();
double ThreadCpuSeconds();

// A monotonic clock in nanoseconds.
int64_t NowNanos();
// CPU time of the calling thread in nanoseconds: time spent preempted by
// other processes does not count (a system call, ~0.1-0.3 us).
int64_t ThreadCpuNanos();

}  // namespace keycast::bench
