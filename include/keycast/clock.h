// Time. Keycast reasons in Unix time (UTC). Wall time comes from a Clock so
// tests can drive it; production uses SystemClock. Clocks of the key service
// and of senders are assumed synchronised (NTP/PTP) within the configured skew.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace keycast {

using Micros = int64_t;  // microseconds since the Unix epoch, UTC

inline constexpr Micros kMicrosPerSecond = 1'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros Now() const = 0;
  int64_t NowSeconds() const { return Now() / kMicrosPerSecond; }
};

class SystemClock final : public Clock {
 public:
  Micros Now() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static const SystemClock& Get() {
    static const SystemClock c;
    return c;
  }
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Micros start) : now_(start) {}
  Micros Now() const override { return now_.load(); }
  void Set(Micros t) { now_.store(t); }
  void Advance(Micros d) { now_.fetch_add(d); }

 private:
  std::atomic<Micros> now_;
};

}  // namespace keycast
