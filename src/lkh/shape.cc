#include "lkh/shape.h"

#include <cassert>

namespace keycast::lkh::internal {

bool ValidShape(unsigned degree, unsigned height) {
  if (degree < kMinDegree || degree > kMaxDegree) return false;
  if (height < 1 || height > kMaxHeight) return false;
  uint64_t p = 1;  // degree^(height-1); stays below 2^24 * 16 before the check fails
  for (unsigned i = 1; i < height; ++i) {
    p *= degree;
    if (p >= kMaxLeaves) return false;
  }
  return true;
}

Shape::Shape(unsigned degree, unsigned height) : degree_(degree), height_(height) {
  assert(ValidShape(degree, height));
  pow_[0] = 1;
  first_[0] = 0;
  for (unsigned e = 1; e < pow_.size(); ++e) {
    // Saturate far above any valid id instead of overflowing.
    pow_[e] = pow_[e - 1] > (uint64_t{1} << 40) ? pow_[e - 1] : pow_[e - 1] * degree;
    first_[e] = first_[e - 1] + pow_[e - 1];
  }
}

unsigned Shape::LevelOf(uint64_t id) const {
  unsigned depth = 0;
  while (depth < height_ && id >= first_[depth + 1]) ++depth;
  return height_ - depth;
}

}  // namespace keycast::lkh::internal
