#include "keycast/dataplane/replay_window.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "keycast/dataplane/packet_format.h"

namespace keycast::dataplane {

bool ReplayWindow::IsValidSize(uint64_t size) {
  return size >= kBlockBits && size <= kMaxSize && size % kBlockBits == 0;
}

ReplayWindow::ReplayWindow(uint64_t size) : size_(size) {
  assert(IsValidSize(size));
  // The accepted range [highest - size + 1, highest] touches at most
  // size / 64 + 1 blocks; round up to a power of two so the ring index is a mask.
  uint64_t blocks = std::bit_ceil(size / kBlockBits + 1);
  block_mask_ = blocks - 1;
  ring_.assign(blocks, 0);
}

bool ReplayWindow::Check(uint64_t seq) const {
  if (seq == 0 || seq > kMaxSequence) return false;
  if (seq > highest_) return true;
  if (highest_ - seq >= size_) return false;  // too old
  uint64_t block = ring_[(seq / kBlockBits) & block_mask_];
  return (block & (uint64_t{1} << (seq % kBlockBits))) == 0;
}

bool ReplayWindow::Accept(uint64_t seq) {
  if (!Check(seq)) return false;
  if (seq > highest_) {
    // Clear the blocks the window moves onto; a jump past the whole ring
    // clears it all.
    uint64_t from = highest_ / kBlockBits;
    uint64_t to = seq / kBlockBits;
    uint64_t n = std::min<uint64_t>(to - from, block_mask_ + 1);
    for (uint64_t i = 1; i <= n; ++i) ring_[(from + i) & block_mask_] = 0;
    highest_ = seq;
  }
  ring_[(seq / kBlockBits) & block_mask_] |= uint64_t{1} << (seq % kBlockBits);
  return true;
}

void ReplayWindow::Reset() {
  highest_ = 0;
  std::fill(ring_.begin(), ring_.end(), 0);
}

}  // namespace keycast::dataplane
