#include "bench/directory/measure.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string_view>

namespace keycast::bench {

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

void LatencyRecorder::Sort() {
  if (!sorted_) std::sort(samples_.begin(), samples_.end());
  sorted_ = true;
}

int64_t LatencyRecorder::Percentile(double q) {
  if (samples_.empty()) return 0;
  Sort();
  auto i = static_cast<size_t>(q * static_cast<double>(samples_.size()));
  return samples_[std::min(i, samples_.size() - 1)];
}

int64_t LatencyRecorder::Max() {
  if (samples_.empty()) return 0;
  Sort();
  return samples_.back();
}

double LatencyRecorder::Mean() const {
  if (samples_.empty()) return 0;
  double sum = 0;
  for (int64_t s : samples_) sum += static_cast<double>(s);
  return sum / static_cast<double>(samples_.size());
}

std::string LatencyRecorder::Summary() {
  auto f = [](int64_t n) { return FormatNanos(static_cast<double>(n)); };
  return "p50 " + f(Percentile(0.5)) + "  p90 " + f(Percentile(0.9)) + "  p99 " +
         f(Percentile(0.99)) + "  p99.9 " + f(Percentile(0.999)) + "  max " + f(Max()) +
         "  (mean " + FormatNanos(Mean()) + ", n " + std::to_string(count()) + ")";
}

std::string LatencyRecorder::Histogram() {
  Sort();
  std::string out;
  if (samples_.empty()) return out;
  size_t i = 0;
  for (int64_t lo = 0, hi = 1024; i < samples_.size(); lo = hi, hi *= 2) {
    size_t n = 0;
    while (i < samples_.size() && samples_[i] < hi) {
      ++n;
      ++i;
    }
    if (n == 0) continue;
    double share = 100.0 * static_cast<double>(n) / static_cast<double>(samples_.size());
    char line[160];
    std::string range = (lo == 0 ? std::string("0") : FormatNanos(static_cast<double>(lo))) +
                        " - " + FormatNanos(static_cast<double>(hi));
    std::snprintf(line, sizeof line, "    %-22s %9zu %6.2f%%  %s\n", range.c_str(), n, share,
                  std::string(static_cast<size_t>(share / 2 + 0.5), '#').c_str());
    out += line;
  }
  return out;
}

std::string FormatNanos(double n) {
  char buf[32];
  if (n < 1e3)
    std::snprintf(buf, sizeof buf, "%.0f ns", n);
  else if (n < 1e4)
    std::snprintf(buf, sizeof buf, "%.2f us", n / 1e3);
  else if (n < 1e6)
    std::snprintf(buf, sizeof buf, "%.1f us", n / 1e3);
  else if (n < 1e9)
    std::snprintf(buf, sizeof buf, "%.2f ms", n / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", n / 1e9);
  return buf;
}

std::string FormatBytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  return buf;
}

ProcMemory ReadProcMemory() {
  ProcMemory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  auto kib = [](std::string_view l) {
    size_t i = l.find_first_of("0123456789");
    return i == std::string_view::npos ? 0 : std::stoll(std::string(l.substr(i))) * 1024;
  };
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      m.rss_bytes = kib(line);
    else if (line.rfind("VmHWM:", 0) == 0)
      m.hwm_bytes = kib(line);
  }
  return m;
}

namespace {
double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}
double Seconds(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return Seconds(ru.ru_utime) + Seconds(ru.ru_stime);
}

double ThreadCpuSeconds() { return Seconds(CLOCK_THREAD_CPUTIME_ID); }

int64_t NowNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace keycast::bench
