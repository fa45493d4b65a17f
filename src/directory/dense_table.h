// A table of records indexed by a dense positive id (the store assigns ids
// as max+1), for O(1) lookups without hashing on the summary hot path.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace keycast {

template <typename IdT, typename Rec>
class DenseTable {
 public:
  Rec* find(IdT id) {
    auto i = static_cast<uint64_t>(id.value);
    return i < slots_.size() && slots_[i] ? &*slots_[i] : nullptr;
  }
  const Rec* find(IdT id) const {
    auto i = static_cast<uint64_t>(id.value);
    return i < slots_.size() && slots_[i] ? &*slots_[i] : nullptr;
  }
  Rec& insert(IdT id, Rec rec) {
    auto i = static_cast<uint64_t>(id.value);
    if (i >= slots_.size()) slots_.resize(i + 1 + i / 8);
    if (!slots_[i]) ++size_;
    slots_[i] = std::move(rec);
    return *slots_[i];
  }
  void erase(IdT id) {
    auto i = static_cast<uint64_t>(id.value);
    if (i < slots_.size() && slots_[i]) {
      slots_[i].reset();
      --size_;
    }
  }
  // Asks the CPU to start loading the slot of id (a hint: no effect when
  // id is out of range, never faults). For walks over tables larger than
  // the caches, so that several misses are in flight at once.
  void Prefetch(IdT id) const {
    auto i = static_cast<uint64_t>(id.value);
    if (i < slots_.size()) __builtin_prefetch(&slots_[i]);
  }
  size_t size() const { return size_; }
  // One past the largest id ever stored.
  size_t capacity() const { return slots_.size(); }

  template <typename F>
  void ForEach(F&& f) {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i]) f(IdT(static_cast<int64_t>(i)), *slots_[i]);
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i]) f(IdT(static_cast<int64_t>(i)), *slots_[i]);
  }

 private:
  std::vector<std::optional<Rec>> slots_;
  size_t size_ = 0;
};

}  // namespace keycast
