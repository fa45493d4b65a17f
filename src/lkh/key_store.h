// Flat storage of 32-byte node keys (internal).
//
// One contiguous buffer per tree level instead of one SecretBytes per node:
// 32 bytes per key and no per-node allocation. Every buffer the store ever
// releases — on growth or destruction — is wiped first (WipingAllocator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/lkh/format.h"

namespace keycast::lkh::internal {

// std::allocator that overwrites memory before giving it back.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    SecureWipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// Grows v's capacity by 1/8 (at least `min_step` elements) when n exceeds it,
// so amortised growth stays O(1) while slack stays near 12%.
template <typename Vec>
void GrowTo(Vec& v, size_t n, size_t min_step = 64) {
  if (n > v.capacity()) {
    size_t cap = v.capacity();
    size_t want = cap + cap / 8;
    if (want < cap + min_step) want = cap + min_step;
    if (want < n) want = n;
    v.reserve(want);
  }
  v.resize(n);
}

class KeyStore {
 public:
  size_t size() const { return bytes_.size() / kNodeKeySize; }
  // New keys are zero. Never shrinks.
  void Resize(size_t n) {
    if (n > size()) GrowTo(bytes_, n * kNodeKeySize, 64 * kNodeKeySize);
  }
  uint8_t* at(size_t i) { return bytes_.data() + i * kNodeKeySize; }
  const uint8_t* at(size_t i) const { return bytes_.data() + i * kNodeKeySize; }
  ByteView view(size_t i) const { return {at(i), kNodeKeySize}; }
  MutableByteView all() { return {bytes_.data(), bytes_.size()}; }
  void Set(size_t i, ByteView key) { std::memcpy(at(i), key.data(), kNodeKeySize); }
  void Wipe(size_t i) { SecureWipe(at(i), kNodeKeySize); }
  // Wipes the contents and drops them (keeps capacity).
  void Clear() {
    if (!bytes_.empty()) SecureWipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  size_t capacity_bytes() const { return bytes_.capacity(); }

 private:
  std::vector<uint8_t, WipingAllocator<uint8_t>> bytes_;
};

}  // namespace keycast::lkh::internal
