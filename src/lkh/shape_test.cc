#include "lkh/shape.h"

#include <gtest/gtest.h>

namespace keycast::lkh::internal {
namespace {

TEST(Shape, ValidShapeBounds) {
  EXPECT_FALSE(ValidShape(1, 3));
  EXPECT_FALSE(ValidShape(17, 3));
  EXPECT_FALSE(ValidShape(4, 0));
  EXPECT_TRUE(ValidShape(2, 24));  // 2^23 < 2^24
  EXPECT_FALSE(ValidShape(2, 25));
  EXPECT_TRUE(ValidShape(4, 12));  // 4^11 < 2^24
  EXPECT_FALSE(ValidShape(4, 13));
  EXPECT_TRUE(ValidShape(16, 6));  // 16^5 < 2^24
  EXPECT_FALSE(ValidShape(16, 7));
  for (unsigned d = kMinDegree; d <= kMaxDegree; ++d)
    for (unsigned h = 1; h <= kMaxHeight + 1; ++h)
      if (ValidShape(d, h)) {
        EXPECT_LT(Shape(d, h).node_count(), uint64_t{1} << 32);
      }
}

TEST(Shape, HeapNumberingMatchesLevels) {
  for (unsigned d : {2u, 3u, 4u, 16u}) {
    Shape s(d, 3);
    EXPECT_EQ(s.leaf_capacity(), uint64_t{d} * d * d);
    EXPECT_EQ(s.NodeId(3, 0), 0u);
    EXPECT_EQ(s.LevelOf(0), 3u);
    for (unsigned l = 0; l < 3; ++l) {
      for (uint64_t p = 0; p < s.Pow(3 - l); ++p) {
        uint32_t id = s.NodeId(l, p);
        EXPECT_EQ(s.LevelOf(id), l);
        EXPECT_EQ((id - 1) / d, s.NodeId(l + 1, p / d)) << "parent of " << id;
      }
    }
    EXPECT_EQ(s.node_count(), s.NodeId(0, s.leaf_capacity() - 1) + uint64_t{1});
    for (uint64_t leaf = 0; leaf < s.leaf_capacity(); ++leaf)
      for (unsigned l = 0; l < 3; ++l)
        EXPECT_EQ((s.PathNode(leaf, l) - 1) / d, s.PathNode(leaf, l + 1));
  }
}

TEST(Shape, GrowingKeepsLevelPositions) {
  // The old tree sits under child 0 of the new root: (level, pos) unchanged.
  Shape small(4, 2), big(4, 3);
  EXPECT_EQ(big.NodeId(2, 0), 1u);  // old root is the new root's first child
  for (unsigned l = 0; l <= 2; ++l)
    for (uint64_t p = 0; p < small.Pow(2 - l); ++p) EXPECT_EQ(big.LevelOf(big.NodeId(l, p)), l);
}

}  // namespace
}  // namespace keycast::lkh::internal
