#include "lkh/member_index.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

namespace keycast::lkh::internal {
namespace {

TEST(MemberIndex, MatchesReferenceUnderRandomChurn) {
  std::mt19937_64 rng(42);
  std::vector<int64_t> leaf_client(5000, 0);
  std::vector<uint32_t> free_leaves;
  for (uint32_t i = 0; i < leaf_client.size(); ++i) free_leaves.push_back(i);
  std::unordered_map<int64_t, uint32_t> ref;
  MemberIndex idx;
  auto key_of = [&](uint32_t leaf) { return leaf_client[leaf]; };
  for (int step = 0; step < 200000; ++step) {
    // Small id space: many hits, many collisions in the probe runs.
    int64_t c = static_cast<int64_t>(rng() % 8000) + 1;
    auto it = ref.find(c);
    auto found = idx.Find(c, key_of);
    ASSERT_EQ(found.has_value(), it != ref.end()) << "step " << step;
    if (it != ref.end()) {
      ASSERT_EQ(*found, it->second);
      if (rng() % 2) {
        ASSERT_TRUE(idx.Erase(c, key_of));
        leaf_client[it->second] = 0;
        free_leaves.push_back(it->second);
        ref.erase(it);
      }
    } else if (!free_leaves.empty()) {
      uint32_t leaf = free_leaves.back();
      free_leaves.pop_back();
      leaf_client[leaf] = c;
      idx.Insert(c, leaf, key_of);
      ref[c] = leaf;
    }
    ASSERT_EQ(idx.size(), ref.size());
  }
  for (auto& [c, leaf] : ref) EXPECT_EQ(idx.Find(c, key_of), leaf);
  EXPECT_FALSE(idx.Erase(999999, key_of));
}

}  // namespace
}  // namespace keycast::lkh::internal
