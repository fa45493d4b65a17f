// Node numbering of the LKH tree (internal).
//
// A tree of degree d and height h is a complete d-ary tree numbered as a heap:
// the root is node 0 and the children of node n are d*n+1 ... d*n+d. Nodes are
// also addressed by (level, position): level 0 holds the leaves, level h the
// root, and position counts from the left within a level. Growing the tree by
// a level puts the old tree under child 0 of a new root, so (level, position)
// of every existing node is unchanged; only heap ids move.
#pragma once

#include <array>
#include <cstdint>

#include "keycast/lkh/format.h"

namespace keycast::lkh::internal {

// True when degree is in range and height is one the tree can reach:
// 1 <= height <= kMaxHeight and degree^(height-1) < kMaxLeaves.
bool ValidShape(unsigned degree, unsigned height);

class Shape {
 public:
  // REQUIRES: ValidShape(degree, height).
  Shape(unsigned degree, unsigned height);

  unsigned degree() const { return degree_; }
  unsigned height() const { return height_; }
  // Leaves of the full tree: degree^height.
  uint64_t leaf_capacity() const { return pow_[height_]; }
  // degree^e. REQUIRES: e <= height + 1.
  uint64_t Pow(unsigned e) const { return pow_[e]; }
  // Nodes in the full tree; every valid heap id is below this.
  uint64_t node_count() const { return first_[height_ + 1]; }

  // Heap id of (level, position). REQUIRES: level <= height, position <
  // degree^(height-level).
  uint32_t NodeId(unsigned level, uint64_t position) const {
    return static_cast<uint32_t>(first_[height_ - level] + position);
  }
  // Level (0 = leaves) of a heap id. REQUIRES: id < node_count().
  unsigned LevelOf(uint64_t id) const;
  // Heap id of the ancestor at `level` of leaf position `leaf`.
  uint32_t PathNode(uint64_t leaf, unsigned level) const {
    return NodeId(level, leaf / pow_[level]);
  }

 private:
  unsigned degree_;
  unsigned height_;
  std::array<uint64_t, kMaxHeight + 3> pow_{};    // degree^e
  std::array<uint64_t, kMaxHeight + 3> first_{};  // first heap id at depth e
};

}  // namespace keycast::lkh::internal
