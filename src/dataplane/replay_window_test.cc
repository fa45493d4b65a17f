#include "keycast/dataplane/replay_window.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "keycast/dataplane/packet_format.h"

namespace keycast::dataplane {
namespace {

struct Step {
  int n;  // case number, printed on failure
  uint64_t seq;
  bool accepted;
};

// Runs numbered steps against one window, in order, like wireguard-go's
// replay test: each step depends on the ones before it.
void RunSteps(ReplayWindow& w, std::initializer_list<Step> steps) {
  for (const Step& s : steps)
    EXPECT_EQ(w.Accept(s.seq), s.accepted) << "case " << s.n << ": seq " << s.seq;
}

TEST(ReplayWindow, DefaultTable) {
  constexpr uint64_t W = ReplayWindow::kDefaultSize;  // 1024
  ReplayWindow w;
  ASSERT_EQ(w.size(), W);
  // clang-format off
  RunSteps(w, {
      {1, 0, false},            // 0 is never valid
      {2, 1, true},             // first packet
      {3, 1, false},            // duplicate
      {4, 2, true},             // in order
      {5, 4, true},             // gap
      {6, 3, true},             // out of order, fills the gap
      {7, 3, false},            // duplicate of out-of-order
      {8, 4, false},
      {9, 100, true},           // forward jump inside the window
      {10, 50, true},           // late, inside the window
      {11, 50, false},
      {12, W, true},            // highest = 1024
      {13, 1, false},           // seen, and now at the edge
      {14, 5, true},            // 1024 - 5 = 1019 < 1024: still inside, unseen
      {15, W + 1, true},        // highest = 1025
      {16, 1, false},           // 1025 - 1 = 1024: too old (just outside)
      {17, 2, false},           // 1023 behind, but seen
      {18, 6, true},            // 1019 behind, unseen: inside
      {19, 7, true},
      {20, W + 1, false},       // duplicate of highest
      {21, 2 * W + 1, true},    // jump by exactly the window
      {22, W + 1, false},       // exactly W behind: too old
      {23, W + 2, true},        // W - 1 behind: inside, unseen
      {24, W + 2, false},
      {25, 1'000'000, true},    // large jump clears the whole ring
      {26, 1'000'000 - W + 1, true},   // oldest still inside
      {27, 1'000'000 - W, false},      // just outside
      {28, 1'000'000 - 1, true},
      {29, 1'000'000 - 64, true},      // a whole block back
      {30, 1'000'000 - 64, false},
      {31, 2 * W + 1, false},          // long gone
      {32, kMaxSequence, true},        // the last usable sequence number
      {33, kMaxSequence, false},
      {34, kMaxSequence - 1, true},
      {35, kMaxSequence + 1, false},   // beyond the sequence space
      {36, kMaxSequence - W, false},   // too old at the top end
      {37, kMaxSequence - W + 1, true},
  });
  // clang-format on
}

TEST(ReplayWindow, BlockBoundaries) {
  ReplayWindow w(64);  // smallest window: one block plus one redundant block
  // clang-format off
  RunSteps(w, {
      {1, 63, true},
      {2, 64, true},    // crosses into the next block
      {3, 1, true},     // 63 behind: inside a 64-packet window
      {4, 0, false},
      {5, 127, true},   // highest 127: window is 64..127
      {6, 63, false},   // 64 behind: too old
      {7, 64, false},   // seen (kept across the block move)
      {8, 65, true},
      {9, 128, true},   // the block of 64..127 stays; 0..63 block is reused
      {10, 65, false},  // 63 behind, but seen
      {11, 66, true},
      {12, 191, true},  // highest 191: window 128..191
      {13, 127, false}, // 64 behind
      {14, 128, false}, // seen
      {15, 129, true},
  });
  // clang-format on
}

TEST(ReplayWindow, EveryDistanceAroundTheEdge) {
  for (uint64_t size : {64u, 128u, 1024u, 4096u}) {
    ReplayWindow w(size);
    const uint64_t top = 10 * size + 37;  // not block-aligned
    ASSERT_TRUE(w.Accept(top));
    for (uint64_t back = 1; back <= size + 70; ++back) {
      bool inside = back < size;
      EXPECT_EQ(w.Check(top - back), inside) << "size " << size << " back " << back;
    }
    for (uint64_t back = 1; back < size; ++back) ASSERT_TRUE(w.Accept(top - back));
    for (uint64_t back = 0; back < size; ++back)
      EXPECT_FALSE(w.Check(top - back)) << "size " << size << " back " << back;
  }
}

TEST(ReplayWindow, JumpsOfEverySizeClearStaleBits) {
  // After a forward jump of d, nothing in (old highest, new highest) may look
  // seen, whatever bits the ring held for old sequence numbers there.
  for (uint64_t d = 1; d <= 3 * 1024; d += 13) {
    ReplayWindow w(1024);
    for (uint64_t s = 1; s <= 1024; ++s) ASSERT_TRUE(w.Accept(s));
    const uint64_t top = 1024 + d;
    ASSERT_TRUE(w.Accept(top));
    // Everything unseen inside the window is acceptable, nothing below it.
    for (uint64_t s = std::max<uint64_t>(1025, top - 1023); s < top; ++s)
      ASSERT_TRUE(w.Check(s)) << "jump " << d << " seq " << s;
    EXPECT_FALSE(w.Check(top - 1024)) << "jump " << d;  // just below the window
  }
}

TEST(ReplayWindow, CheckDoesNotRecord) {
  ReplayWindow w;
  EXPECT_TRUE(w.Check(5));
  EXPECT_TRUE(w.Check(5));
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_TRUE(w.Accept(5));
  EXPECT_FALSE(w.Check(5));
}

TEST(ReplayWindow, ResetForgets) {
  ReplayWindow w;
  ASSERT_TRUE(w.Accept(10));
  w.Reset();
  EXPECT_EQ(w.highest(), 0u);
  EXPECT_TRUE(w.Accept(10));
}

TEST(ReplayWindow, ValidSizes) {
  EXPECT_TRUE(ReplayWindow::IsValidSize(64));
  EXPECT_TRUE(ReplayWindow::IsValidSize(1024));
  EXPECT_TRUE(ReplayWindow::IsValidSize(65536));
  EXPECT_TRUE(ReplayWindow::IsValidSize(192));  // not a power of two: fine
  EXPECT_FALSE(ReplayWindow::IsValidSize(0));
  EXPECT_FALSE(ReplayWindow::IsValidSize(32));
  EXPECT_FALSE(ReplayWindow::IsValidSize(100));
  EXPECT_FALSE(ReplayWindow::IsValidSize(65536 + 64));
}

TEST(ReplayWindow, NonPowerOfTwoSize) {
  ReplayWindow w(192);
  ASSERT_TRUE(w.Accept(1000));
  EXPECT_TRUE(w.Check(1000 - 191));
  EXPECT_FALSE(w.Check(1000 - 192));
}

}  // namespace
}  // namespace keycast::dataplane
