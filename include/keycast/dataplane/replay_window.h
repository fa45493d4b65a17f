// Anti-replay sliding window over 64-bit sequence numbers, kept as a ring of
// 64-bit blocks as in RFC 6479: moving the window forward clears whole blocks
// instead of shifting a bitmap, so every check is O(1) however far it jumps.
//
// A window of size W accepts sequence number s when s was not accepted
// before and s > highest - W (highest = largest accepted so far). 0 and
// anything above kMaxSequence are never accepted.
//
// The data plane keeps one window per (SA, sender) and consults it only after
// a packet has authenticated, so forged packets cannot move it.
//
// Thread safety: not synchronised. Const methods may run concurrently with
// each other; Accept/Reset need exclusive access (the SA's receive lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keycast::dataplane {

class ReplayWindow {
 public:
  static constexpr uint64_t kBlockBits = 64;
  static constexpr uint64_t kDefaultSize = 1024;   // packets (default)
  static constexpr uint64_t kMaxSize = 64 * 1024;  // packets
  // True when size is a multiple of 64 in [64, kMaxSize].
  static bool IsValidSize(uint64_t size);

  // REQUIRES: IsValidSize(size). Allocates the ring here, never afterwards.
  explicit ReplayWindow(uint64_t size = kDefaultSize);

  // True when seq would be accepted now. Changes nothing.
  bool Check(uint64_t seq) const;
  // Accepts seq if Check(seq) and records it; returns whether it was accepted.
  bool Accept(uint64_t seq);
  // Forgets everything (as if new).
  void Reset();

  uint64_t size() const { return size_; }
  uint64_t highest() const { return highest_; }  // 0 before the first Accept

 private:
  uint64_t size_;
  uint64_t block_mask_;  // ring length - 1; the ring is a power of two of blocks
  uint64_t highest_ = 0;
  std::vector<uint64_t> ring_;  // bit (s % 64) of block (s / 64) % ring length
};

}  // namespace keycast::dataplane
