// Key rollover by SPI: previous / current / next across interval boundaries,
// with packets in flight on both sides and clocks that disagree.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "dataplane/test_util.h"
#include "keycast/codec.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::dataplane {
namespace {

using namespace keycast::dataplane::testing;  // NOLINT

constexpr Micros kBoundary = kT0 + kInterval;  // end of interval 0, start of interval 1

struct InFlight {
  Bytes packet;
  Micros sent_at;
  uint32_t spi;
};

class RolloverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint32_t k : {0u, 1u}) {
      ASSERT_TRUE(tx_->InstallSa(MakeSenderSa(k, keys_[k])).ok());
      ASSERT_TRUE(rx_->InstallSa(MakeSa(k, keys_[k])).ok());
    }
  }

  // One packet every 50 ms over [from, to) of the sender's clock.
  std::vector<InFlight> SendBetween(DataPlane& tx, Micros from, Micros to) {
    std::vector<InFlight> v;
    for (Micros t = from; t < to; t += 50'000) {
      Bytes p = Seal(tx, Payload(200, uint8_t(t)), t);
      EXPECT_FALSE(p.empty()) << "sender dropped at " << (t - kBoundary);
      if (!p.empty()) v.push_back({p, t, LoadBe32(p.data())});
    }
    return v;
  }

  SecretBytes keys_[3] = {crypto::RandomSecret(32), crypto::RandomSecret(32),
                          crypto::RandomSecret(32)};
  std::unique_ptr<DataPlane> tx_ = NewEventDataPlane();
  std::unique_ptr<DataPlane> rx_ = NewEventDataPlane();
};

TEST_F(RolloverTest, SenderSwitchesSpiExactlyAtTheBoundary) {
  auto v = SendBetween(*tx_, kBoundary - 2 * kSecond, kBoundary + 2 * kSecond);
  for (const InFlight& f : v) EXPECT_EQ(f.spi, f.sent_at < kBoundary ? 0x1000u : 0x1001u);
  // Each SA has its own sequence space starting at 1.
  auto first_new = std::find_if(v.begin(), v.end(), [](auto& f) { return f.spi == 0x1001; });
  ASSERT_NE(first_new, v.end());
  EXPECT_EQ(LoadBe64(first_new->packet.data() + kSeqOffset), 1u);
}

TEST_F(RolloverTest, NothingLostWhenTheReceiverClockIsBehindOrAhead) {
  for (Micros skew : {-1'500'000, -300'000, 0, 300'000, 1'500'000}) {
    auto rx = NewEventDataPlane();
    for (uint32_t k : {0u, 1u}) ASSERT_TRUE(rx->InstallSa(MakeSa(k, keys_[k])).ok());
    auto v = SendBetween(*tx_, kBoundary - 2 * kSecond, kBoundary + 2 * kSecond);
    // Reorder in flight: deliver in blocks of 8, each reversed, so packets of
    // both intervals interleave around the boundary.
    for (size_t i = 0; i < v.size(); i += 8)
      std::reverse(v.begin() + i, v.begin() + std::min(v.size(), i + 8));
    for (const InFlight& f : v) {
      OpenResult r = OpenCopy(*rx, f.packet, f.sent_at + skew);
      EXPECT_EQ(r.verdict, Verdict::kOpened)
          << "skew " << skew << " sent " << (f.sent_at - kBoundary)
          << " us from the boundary: " << DropReasonName(r.reason);
    }
    EXPECT_EQ(rx->counters().total_dropped(), 0u) << "skew " << skew;
  }
}

TEST_F(RolloverTest, PreviousRejectedAfterGrace) {
  Bytes late = Seal(*tx_, Payload(10), kBoundary - 1);  // last moment of interval 0
  Bytes later = Seal(*tx_, Payload(10), kBoundary - 1);
  EXPECT_EQ(OpenCopy(*rx_, late, kBoundary + kGrace - 1).verdict, Verdict::kOpened);
  OpenResult r = OpenCopy(*rx_, later, kBoundary + kGrace);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kExpiredSa);
  // After ExpireSas the SA is gone altogether.
  EXPECT_EQ(rx_->ExpireSas(kBoundary + kGrace), 1u);
  EXPECT_EQ(OpenCopy(*rx_, later, kBoundary + kGrace).reason, DropReason::kNoSa);
}

TEST_F(RolloverTest, SenderFallsBackToPreviousWithinGraceOnly) {
  auto tx = NewEventDataPlane();
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(0, keys_[0])).ok());  // next not fetched yet
  Bytes in_grace = Seal(*tx, Payload(10), kBoundary + kGrace - 1);
  ASSERT_FALSE(in_grace.empty());
  EXPECT_EQ(LoadBe32(in_grace.data()), 0x1000u);
  EXPECT_EQ(OpenCopy(*rx_, in_grace, kBoundary + kGrace - 1).verdict, Verdict::kOpened);
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = tx->Protect(EventFlow(), Payload(10), out, kBoundary + kGrace);
  EXPECT_EQ(r.reason, DropReason::kExpiredSa);
  // The next SA arrives: sending resumes under it.
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(1, keys_[1])).ok());
  r = tx->Protect(EventFlow(), Payload(10), out, kBoundary + kGrace);
  ASSERT_EQ(r.verdict, Verdict::kProtected);
  EXPECT_EQ(LoadBe32(r.packet.data()), 0x1001u);
}

TEST_F(RolloverTest, NextAcceptedAsSoonAsInstalled) {
  auto rx = NewEventDataPlane();
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, keys_[0])).ok());
  Bytes early = Seal(*tx_, Payload(10), kBoundary);  // sender already in interval 1
  OpenResult r = OpenCopy(*rx, early, kBoundary - kSecond);
  EXPECT_EQ(r.reason, DropReason::kNoSa);  // not installed yet: dropped, window untouched
  ASSERT_TRUE(rx->InstallSa(MakeSa(1, keys_[1])).ok());
  EXPECT_EQ(OpenCopy(*rx, early, kBoundary - kSecond).verdict, Verdict::kOpened);
}

TEST_F(RolloverTest, SlotsAcrossTheBoundary) {
  EventSlots before = rx_->Slots(kEvent, kBoundary - 1);
  ASSERT_TRUE(before.current && before.next);
  EXPECT_FALSE(before.previous);
  EXPECT_EQ(before.current->spi.value, 0x1000u);
  EXPECT_EQ(before.next->spi.value, 0x1001u);
  EventSlots after = rx_->Slots(kEvent, kBoundary);
  ASSERT_TRUE(after.previous && after.current);
  EXPECT_FALSE(after.next);
  EXPECT_EQ(after.previous->spi.value, 0x1000u);
  EXPECT_EQ(after.current->spi.value, 0x1001u);
  // The sender's slots show its counters.
  Seal(*tx_, Payload(1), kBoundary - 1);
  EXPECT_EQ(tx_->Slots(kEvent, kBoundary - 1).current->next_seq, 2u);
}

TEST_F(RolloverTest, ManyIntervalsWithPrefetchAndJitterLoseNothing) {
  // The agent's rhythm: fetch interval k+1 halfway through interval k, expire
  // once per interval. Packets are delayed by up to 1.5 s and reordered.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<Micros> delay(0, 1'500'000);
  auto tx = NewEventDataPlane();
  auto rx = NewEventDataPlane();
  std::vector<SecretBytes> keys;
  for (int k = 0; k < 8; ++k) keys.push_back(crypto::RandomSecret(32));
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(0, keys[0])).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, keys[0])).ok());

  struct Arrival {
    Micros at;
    Bytes packet;
  };
  std::vector<Arrival> queue;
  size_t sent = 0;
  for (Micros t = kT0; t < kT0 + 6 * kInterval; t += 100'000) {
    uint32_t k = uint32_t((t - kT0) / kInterval);
    if ((t - kT0) % kInterval == kInterval / 2) {
      ASSERT_TRUE(tx->InstallSa(MakeSenderSa(k + 1, keys[k + 1])).ok());
      ASSERT_TRUE(rx->InstallSa(MakeSa(k + 1, keys[k + 1])).ok());
    }
    if ((t - kT0) % kInterval == 0) {
      tx->ExpireSas(t);
      rx->ExpireSas(t);
    }
    Bytes p = Seal(*tx, Payload(64, uint8_t(sent)), t);
    ASSERT_FALSE(p.empty()) << t - kT0;
    ++sent;
    queue.push_back({t + delay(rng), std::move(p)});
    // Deliver what has arrived by now, in arrival order.
    std::sort(queue.begin(), queue.end(), [](auto& a, auto& b) { return a.at < b.at; });
    while (!queue.empty() && queue.front().at <= t) {
      EXPECT_EQ(OpenCopy(*rx, queue.front().packet, queue.front().at).verdict, Verdict::kOpened);
      queue.erase(queue.begin());
    }
  }
  for (const Arrival& a : queue) EXPECT_EQ(OpenCopy(*rx, a.packet, a.at).verdict, Verdict::kOpened);
  EXPECT_EQ(rx->counters().opened_packets(), sent);
  EXPECT_EQ(rx->counters().total_dropped(), 0u);
  EXPECT_LE(rx->sa_count(), 3u);  // expiry keeps the SAD small
}

}  // namespace
}  // namespace keycast::dataplane
