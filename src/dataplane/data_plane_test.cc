#include "keycast/dataplane/data_plane.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "dataplane/alloc_counter.h"
#include "dataplane/test_util.h"
#include "keycast/codec.h"
#include "keycast/metrics.h"

namespace keycast::dataplane {
namespace {

using namespace keycast::dataplane::testing;  // NOLINT

using crypto::AeadAlgorithm;

// A sender and a receiver of kEvent sharing interval 0's key.
class DataPlaneTest : public ::testing::TestWithParam<AeadAlgorithm> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sender_->InstallSa(MakeSenderSa(0, key_, 1, GetParam())).ok());
    ASSERT_TRUE(receiver_->InstallSa(MakeSa(0, key_, Role::kReceiver, {}, GetParam())).ok());
  }

  const Micros now_ = kT0 + 1 * kSecond;
  SecretBytes key_ = crypto::RandomSecret(32);
  std::unique_ptr<DataPlane> sender_ = NewEventDataPlane();
  std::unique_ptr<DataPlane> receiver_ = NewEventDataPlane();
};

INSTANTIATE_TEST_SUITE_P(Aeads, DataPlaneTest,
                         ::testing::Values(AeadAlgorithm::kAes256Gcm,
                                           AeadAlgorithm::kChaCha20Poly1305),
                         [](const auto& param_info) {
                           return param_info.param == AeadAlgorithm::kAes256Gcm
                                      ? "Aes256Gcm"
                                      : "ChaCha20Poly1305";
                         });

TEST_P(DataPlaneTest, RoundTripAtEverySizeClass) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{63},
                   size_t{64}, size_t{512}, size_t{1400}, size_t{8192}, kMaxPayloadSize}) {
    Bytes payload = Payload(n, uint8_t(n));
    Bytes packet = Seal(*sender_, payload, now_);
    ASSERT_FALSE(packet.empty()) << n;
    EXPECT_EQ(packet.size() % 4, 0u);
    EXPECT_LE(packet.size(), n + kMaxOverhead);
    EXPECT_EQ(LoadBe32(packet.data()), 0x1000u);  // SPI
    EXPECT_EQ(LoadBe32(packet.data() + 4), 1u);   // sender id
    // The payload is not visible in the packet.
    if (n >= 16) {
      EXPECT_EQ(std::search(packet.begin(), packet.end(), payload.begin(), payload.begin() + 16),
                packet.end());
    }
    Bytes got;
    OpenResult r = OpenCopy(*receiver_, packet, now_, &got);
    ASSERT_EQ(r.verdict, Verdict::kOpened) << n << " " << DropReasonName(r.reason);
    EXPECT_EQ(got, payload) << n;
    EXPECT_EQ(r.next_header, NextHeader::kUdpPayload);
    EXPECT_EQ(r.event, kEvent);
    EXPECT_EQ(r.sender, SenderId{1});
  }
  EXPECT_EQ(sender_->counters().protected_packets(), 12u);
  EXPECT_EQ(receiver_->counters().opened_packets(), 12u);
  EXPECT_EQ(receiver_->counters().total_dropped(), 0u);
}

TEST_P(DataPlaneTest, PacketMatchesTheSpecExactly) {
  // docs/packet-format.md, "Examples": SPI || sender || seq, then the AEAD of
  // "hello" 01 01 01 under nonce = sender || seq with the header as AAD.
  ASSERT_TRUE(sender_->SetNextSequenceForTesting(kEvent, Spi{0x1000}, 5).ok());
  Bytes packet = Seal(*sender_, AsBytes("hello"), now_);
  ASSERT_EQ(packet.size(), 40u);
  Bytes header;
  ASSERT_TRUE(
      FromHex("00001000"
              "00000001"
              "0000000000000005",
              &header));
  EXPECT_EQ(Bytes(packet.begin(), packet.begin() + 16), header);
  Bytes plaintext = {'h', 'e', 'l', 'l', 'o', 0x01, 0x01, 0x01};
  Bytes expected(plaintext.size() + kTagSize);
  auto aead = crypto::Aead::Create(GetParam(), key_);
  ASSERT_TRUE(aead.ok());
  ASSERT_TRUE(aead->Seal(ByteView(header.data() + 4, 12), header, plaintext, expected.data()));
  EXPECT_EQ(Bytes(packet.begin() + 16, packet.end()), expected);
}

TEST_P(DataPlaneTest, SequenceNumbersStartAtOneAndIncrease) {
  Bytes p = Payload(10);
  for (uint64_t want = 1; want <= 5; ++want) {
    Bytes packet = Seal(*sender_, p, now_);
    EXPECT_EQ(LoadBe64(packet.data() + 8), want);
  }
}

TEST_P(DataPlaneTest, NextHeaderIsCarried) {
  for (NextHeader nh : {NextHeader::kIpv4Packet, NextHeader::kIpv6Packet}) {
    Bytes out(DataPlane::kMaxPacketSize);
    Bytes payload = Payload(40);
    ProtectResult pr = sender_->Protect(EventFlow(), payload, out, now_, nh);
    ASSERT_EQ(pr.verdict, Verdict::kProtected);
    OpenResult r = OpenCopy(*receiver_, pr.packet, now_);
    ASSERT_EQ(r.verdict, Verdict::kOpened);
    EXPECT_EQ(r.next_header, nh);
  }
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult bad = sender_->Protect(EventFlow(), Payload(4), out, now_, NextHeader::kNone);
  EXPECT_EQ(bad.verdict, Verdict::kDrop);
  EXPECT_EQ(bad.reason, DropReason::kMalformed);
}

TEST_P(DataPlaneTest, InPlaceSealNeedsNoCopy) {
  Bytes buf(DataPlane::kMaxPacketSize);
  Bytes payload = Payload(1400);
  std::copy(payload.begin(), payload.end(), buf.begin() + kHeaderSize);
  ProtectResult pr =
      sender_->Protect(EventFlow(), ByteView(buf.data() + kHeaderSize, payload.size()), buf, now_);
  ASSERT_EQ(pr.verdict, Verdict::kProtected);
  EXPECT_EQ(pr.packet.data(), buf.data());
  Bytes got;
  ASSERT_EQ(OpenCopy(*receiver_, pr.packet, now_, &got).verdict, Verdict::kOpened);
  EXPECT_EQ(got, payload);
  // Overlapping anywhere else works too.
  std::copy(payload.begin(), payload.end(), buf.begin() + 3);
  pr = sender_->Protect(EventFlow(), ByteView(buf.data() + 3, payload.size()), buf, now_);
  ASSERT_EQ(pr.verdict, Verdict::kProtected);
  ASSERT_EQ(OpenCopy(*receiver_, pr.packet, now_, &got).verdict, Verdict::kOpened);
  EXPECT_EQ(got, payload);
}

TEST_P(DataPlaneTest, EverySingleByteFlipIsRejected) {
  Bytes packet = Seal(*sender_, Payload(45), now_);
  ASSERT_FALSE(packet.empty());
  for (size_t i = 0; i < packet.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      Bytes bad = packet;
      bad[i] ^= flip;
      OpenResult r = OpenCopy(*receiver_, bad, now_);
      ASSERT_EQ(r.verdict, Verdict::kDrop) << "byte " << i << " ^ " << int(flip);
    }
  }
  // None of the forgeries moved the replay window: the original still opens.
  EXPECT_EQ(OpenCopy(*receiver_, packet, now_).verdict, Verdict::kOpened);
  DataPlaneCounters c = receiver_->counters();
  EXPECT_EQ(c.opened_packets(), 1u);
  EXPECT_EQ(c.total_dropped(), packet.size() * 3);
  EXPECT_GT(c.dropped(DropReason::kAuthFailed), 0u);
  EXPECT_GT(c.dropped(DropReason::kNoSa), 0u);  // flipped SPI bytes
}

TEST_P(DataPlaneTest, EveryTruncationAndExtensionIsRejected) {
  Bytes packet = Seal(*sender_, Payload(61), now_);
  for (size_t n = 0; n < packet.size(); ++n) {
    OpenResult r = OpenCopy(*receiver_, ByteView(packet.data(), n), now_);
    EXPECT_EQ(r.verdict, Verdict::kDrop) << "length " << n;
  }
  for (size_t extra : {1u, 4u, 16u}) {
    Bytes longer = packet;
    longer.insert(longer.end(), extra, 0);
    EXPECT_EQ(OpenCopy(*receiver_, longer, now_).verdict, Verdict::kDrop) << extra;
  }
  EXPECT_EQ(OpenCopy(*receiver_, packet, now_).verdict, Verdict::kOpened);
}

TEST_P(DataPlaneTest, RejectedPlaintextIsWiped) {
  Bytes payload(64, 0x5a);
  Bytes packet = Seal(*sender_, payload, now_);
  packet.back() ^= 1;  // bad tag: the cipher still produced plaintext
  Bytes buf = packet;
  OpenResult r = receiver_->Open(EventFlow(), buf, now_);
  ASSERT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kAuthFailed);
  EXPECT_EQ(std::search(buf.begin(), buf.end(), payload.begin(), payload.end()), buf.end());
  EXPECT_TRUE(r.payload.empty());
}

TEST_P(DataPlaneTest, WrongSpiIsDropped) {
  Bytes packet = Seal(*sender_, Payload(20), now_);
  StoreBe32(packet.data(), 0x1001);  // an SPI no SA has
  OpenResult r = OpenCopy(*receiver_, packet, now_);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kNoSa);
  EXPECT_EQ(receiver_->counters().dropped(DropReason::kNoSa), 1u);
}

TEST_P(DataPlaneTest, ReplayIsDropped) {
  Bytes a = Seal(*sender_, Payload(20), now_);
  Bytes b = Seal(*sender_, Payload(20), now_);
  ASSERT_EQ(OpenCopy(*receiver_, b, now_).verdict, Verdict::kOpened);
  ASSERT_EQ(OpenCopy(*receiver_, a, now_).verdict, Verdict::kOpened);  // late is fine
  for (const Bytes& p : {a, b}) {
    OpenResult r = OpenCopy(*receiver_, p, now_);
    EXPECT_EQ(r.verdict, Verdict::kDrop);
    EXPECT_EQ(r.reason, DropReason::kReplay);
  }
  EXPECT_EQ(receiver_->counters().dropped(DropReason::kReplay), 2u);
}

TEST_P(DataPlaneTest, TooOldForTheWindowIsDropped) {
  auto rx = NewEventDataPlane(DataPlaneOptions{.replay_window = 64});
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, key_, Role::kReceiver, {}, GetParam())).ok());
  Bytes first = Seal(*sender_, Payload(8), now_);
  for (int i = 0; i < 64; ++i) Seal(*sender_, Payload(8), now_);
  Bytes last = Seal(*sender_, Payload(8), now_);  // seq 66
  ASSERT_EQ(OpenCopy(*rx, last, now_).verdict, Verdict::kOpened);
  OpenResult r = OpenCopy(*rx, first, now_);  // seq 1: 65 behind
  EXPECT_EQ(r.reason, DropReason::kReplay);
}

TEST_P(DataPlaneTest, SelectorMismatchIsDropped) {
  // The receiver protects a whole range, so packets to another group or port
  // reach the SA lookup; the key is right, the destination is not the SA's.
  auto rx = NewDataPlane();
  Policy wide;
  wide.selector.direction = Direction::kInbound;
  wide.selector.destination = AddressPrefix::Make(Ip("239.0.0.0"), 8).value();
  wide.action = PolicyAction::kProtect;
  wide.event = kEvent;
  ASSERT_TRUE(rx->AddPolicy(wide).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, key_, Role::kReceiver, {}, GetParam())).ok());

  Bytes p1 = Seal(*sender_, Payload(30), now_);
  Bytes p2 = Seal(*sender_, Payload(30), now_);
  Bytes p3 = Seal(*sender_, Payload(30), now_);
  OpenResult r = OpenCopy(*rx, p1, now_, nullptr, EventFlow(Ip("239.9.9.9")));  // wrong group
  EXPECT_EQ(r.reason, DropReason::kSelectorMismatch);
  r = OpenCopy(*rx, p2, now_, nullptr, EventFlow(Group(), kPort + 1));  // wrong port
  EXPECT_EQ(r.reason, DropReason::kSelectorMismatch);
  EXPECT_EQ(rx->counters().dropped(DropReason::kSelectorMismatch), 2u);
  // A re-addressed copy does not burn the original's sequence number.
  EXPECT_EQ(OpenCopy(*rx, p1, now_).verdict, Verdict::kOpened);
  EXPECT_EQ(OpenCopy(*rx, p3, now_).verdict, Verdict::kOpened);

  // A source-specific SA rejects another source.
  auto rx2 = NewEventDataPlane();
  SecurityAssociation ssm = MakeSa(0, key_, Role::kReceiver, {}, GetParam());
  ssm.source = Ip("10.0.0.99");
  ASSERT_TRUE(rx2->InstallSa(ssm).ok());
  EXPECT_EQ(OpenCopy(*rx2, p3, now_).reason, DropReason::kSelectorMismatch);
}

TEST_P(DataPlaneTest, PolicyOfAnotherEventIsAMismatch) {
  // The SPD says the flow belongs to event 8; an authentic packet of event 7
  // arriving there is not accepted as event 8's traffic.
  auto rx = NewDataPlane();
  Policy other = Policy::ProtectEvent(MakeSa(0, key_), Direction::kInbound);
  other.event = EventId(8);
  ASSERT_TRUE(rx->AddPolicy(other).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, key_, Role::kReceiver, {}, GetParam())).ok());
  OpenResult r = OpenCopy(*rx, Seal(*sender_, Payload(9), now_), now_);
  EXPECT_EQ(r.reason, DropReason::kSelectorMismatch);
}

TEST_P(DataPlaneTest, TrafficFlowPaddingHidesSizes) {
  auto tx = NewEventDataPlane(DataPlaneOptions{.pad_block = 64});
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(0, key_, 1, GetParam())).ok());
  std::set<size_t> sizes;
  for (size_t n = 0; n <= 100; ++n) {
    Bytes packet = Seal(*tx, Payload(n), now_);
    sizes.insert(packet.size());
    Bytes got;
    ASSERT_EQ(OpenCopy(*receiver_, packet, now_, &got).verdict, Verdict::kOpened);
    EXPECT_EQ(got, Payload(n));
  }
  EXPECT_EQ(sizes.size(), 2u);  // 0..100 bytes + trailer fill one or two 64-byte blocks
}

TEST_P(DataPlaneTest, SequenceNeverWraps) {
  ASSERT_TRUE(sender_->SetNextSequenceForTesting(kEvent, Spi{0x1000}, kMaxSequence).ok());
  Bytes last = Seal(*sender_, Payload(8), now_);
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(LoadBe64(last.data() + 8), kMaxSequence);
  Bytes out(DataPlane::kMaxPacketSize);
  for (int i = 0; i < 3; ++i) {
    ProtectResult r = sender_->Protect(EventFlow(), Payload(8), out, now_);
    EXPECT_EQ(r.verdict, Verdict::kDrop);
    EXPECT_EQ(r.reason, DropReason::kSequenceExhausted);
  }
  // The last packet is a valid one: it authenticates under the key ...
  auto aead = crypto::Aead::Create(GetParam(), key_);
  ASSERT_TRUE(aead.ok());
  Bytes plain(last.size() - kHeaderSize - kTagSize);
  EXPECT_TRUE(aead->Open(ByteView(last.data() + kNonceOffset, kNonceSize),
                         ByteView(last.data(), kHeaderSize), ByteView(last).subspan(kHeaderSize),
                         plain.data()));
  // ... but no receiver takes it one second into the interval: no sender can
  // have got that far (seq_jump; docs/packet-format.md, "Receiving").
  EXPECT_EQ(OpenCopy(*receiver_, last, now_).reason, DropReason::kSequenceJump);
}

TEST_P(DataPlaneTest, SizeBounds) {
  Bytes out(DataPlane::kMaxPacketSize);
  Bytes big(kMaxPayloadSize + 1);
  ProtectResult r = sender_->Protect(EventFlow(), big, out, now_);
  EXPECT_EQ(r.reason, DropReason::kTooLarge);
  Bytes small_out(kHeaderSize + 100);
  r = sender_->Protect(EventFlow(), Payload(100), small_out, now_);
  EXPECT_EQ(r.reason, DropReason::kTooLarge);
  // Exactly enough room.
  Bytes exact(kHeaderSize + 100 + 2 + 2 + kTagSize);
  r = sender_->Protect(EventFlow(), Payload(100), exact, now_);
  EXPECT_EQ(r.verdict, Verdict::kProtected);
  // Inbound: more than a datagram can hold.
  Bytes huge(kMaxDatagramSize + 1);
  StoreBe32(huge.data(), 0x1000);
  EXPECT_EQ(OpenCopy(*receiver_, huge, now_).reason, DropReason::kMalformed);
}

TEST_P(DataPlaneTest, ReceiverCannotSend) {
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = receiver_->Protect(EventFlow(), Payload(8), out, now_);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kNoSa);
}

TEST_P(DataPlaneTest, ExpiredSaIsDroppedBothWays) {
  Bytes packet = Seal(*sender_, Payload(8), now_);
  const Micros late = kT0 + kInterval + kGrace;
  Bytes out(DataPlane::kMaxPacketSize);
  EXPECT_EQ(sender_->Protect(EventFlow(), Payload(8), out, late).reason, DropReason::kExpiredSa);
  EXPECT_EQ(OpenCopy(*receiver_, packet, late).reason, DropReason::kExpiredSa);
  EXPECT_EQ(OpenCopy(*receiver_, packet, late - 1).verdict, Verdict::kOpened);
}

// ---- two senders on one event ----

TEST_P(DataPlaneTest, TwoSendersOneKeyDistinctNoncesBothAccepted) {
  auto second = NewEventDataPlane();
  ASSERT_TRUE(second->InstallSa(MakeSenderSa(0, key_, /*sender=*/2, GetParam())).ok());
  std::set<Bytes> nonces;
  for (int i = 0; i < 50; ++i) {
    for (DataPlane* tx : {sender_.get(), second.get()}) {
      Bytes packet = Seal(*tx, Payload(33, uint8_t(i)), now_);
      Bytes nonce(packet.begin() + kNonceOffset, packet.begin() + kNonceOffset + kNonceSize);
      EXPECT_TRUE(nonces.insert(nonce).second) << "nonce reused";
      OpenResult r = OpenCopy(*receiver_, packet, now_);
      ASSERT_EQ(r.verdict, Verdict::kOpened);
      EXPECT_EQ(r.sender.value, tx == sender_.get() ? 1u : 2u);
      EXPECT_EQ(r.seq, uint64_t(i + 1));  // same sequence numbers, different nonces
    }
  }
  EXPECT_EQ(receiver_->counters().opened_packets(), 100u);
}

TEST_P(DataPlaneTest, PerSenderWindowsAreIndependent) {
  // Force the two senders' sequence numbers to collide and to be far apart:
  // neither sender's traffic looks replayed or too old because of the other's.
  auto second = NewEventDataPlane();
  ASSERT_TRUE(second->InstallSa(MakeSenderSa(0, key_, /*sender=*/2, GetParam())).ok());
  ASSERT_TRUE(sender_->SetNextSequenceForTesting(kEvent, Spi{0x1000}, 1'000'000).ok());
  Bytes far = Seal(*sender_, Payload(8), now_);  // sender 1, seq 1000000
  ASSERT_EQ(OpenCopy(*receiver_, far, now_).verdict, Verdict::kOpened);
  ASSERT_TRUE(second->SetNextSequenceForTesting(kEvent, Spi{0x1000}, 1'000'000).ok());
  Bytes same_seq = Seal(*second, Payload(8), now_);  // sender 2, seq 1000000
  EXPECT_EQ(OpenCopy(*receiver_, same_seq, now_).verdict, Verdict::kOpened);
  auto third = NewEventDataPlane();
  ASSERT_TRUE(third->InstallSa(MakeSenderSa(0, key_, /*sender=*/3, GetParam())).ok());
  Bytes low = Seal(*third, Payload(8), now_);  // sender 3, seq 1
  EXPECT_EQ(OpenCopy(*receiver_, low, now_).verdict, Verdict::kOpened);
  EXPECT_EQ(OpenCopy(*receiver_, far, now_).reason, DropReason::kReplay);  // still per sender
}

TEST_P(DataPlaneTest, SameSenderIdIsARealNonceCollision) {
  // Misconfiguration the key service must prevent: two senders given the same
  // sender id produce the same nonces. The receiver keeps one window for that
  // id, so the second stream's colliding packets are dropped as replays
  // rather than accepted.
  auto twin = NewEventDataPlane();
  ASSERT_TRUE(twin->InstallSa(MakeSenderSa(0, key_, /*sender=*/1, GetParam())).ok());
  Bytes a = Seal(*sender_, Payload(8, 1), now_);
  Bytes b = Seal(*twin, Payload(8, 2), now_);
  EXPECT_EQ(Bytes(a.begin() + 4, a.begin() + 16), Bytes(b.begin() + 4, b.begin() + 16));
  EXPECT_EQ(OpenCopy(*receiver_, a, now_).verdict, Verdict::kOpened);
  EXPECT_EQ(OpenCopy(*receiver_, b, now_).reason, DropReason::kReplay);
}

TEST_P(DataPlaneTest, SenderLimitBoundsReceiverState) {
  auto rx = NewEventDataPlane(DataPlaneOptions{.max_senders_per_sa = 2});
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, key_, Role::kReceiver, {}, GetParam())).ok());
  for (uint32_t id = 1; id <= 3; ++id) {
    auto tx = NewEventDataPlane();
    ASSERT_TRUE(tx->InstallSa(MakeSenderSa(0, key_, id, GetParam())).ok());
    OpenResult r = OpenCopy(*rx, Seal(*tx, Payload(8), now_), now_);
    if (id <= 2) {
      EXPECT_EQ(r.verdict, Verdict::kOpened);
    } else {
      EXPECT_EQ(r.reason, DropReason::kSenderLimit);
    }
  }
}

TEST_P(DataPlaneTest, ConcurrentSendersOnOneSaNeverShareASequenceNumber) {
  constexpr int kThreads = 4, kPerThread = 2000;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Bytes out(2048);
      Bytes payload = Payload(100);
      for (int i = 0; i < kPerThread; ++i) {
        ProtectResult r = sender_->Protect(EventFlow(), payload, out, now_);
        ASSERT_EQ(r.verdict, Verdict::kProtected);
        seqs[t].push_back(LoadBe64(r.packet.data() + kSeqOffset));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), uint64_t(kThreads * kPerThread));
}

TEST_P(DataPlaneTest, DataPathsRunConcurrentlyWithTheControlPath) {
  // One sending thread, one receiving thread, and the agent's control thread
  // re-installing, inspecting and expiring at the same time (run under
  // -DKEYCAST_SANITIZE=thread to check the locking).
  constexpr int kPackets = 3000;
  std::mutex mu;
  std::vector<Bytes> queue;
  std::atomic<bool> sent_all{false};
  std::atomic<int> opened{0};
  std::thread tx([&] {
    Bytes out(2048);
    for (int i = 0; i < kPackets; ++i) {
      ProtectResult r = sender_->Protect(EventFlow(), Payload(100, uint8_t(i)), out, now_);
      ASSERT_EQ(r.verdict, Verdict::kProtected);
      std::lock_guard lock(mu);
      queue.emplace_back(r.packet.begin(), r.packet.end());
    }
    sent_all = true;
  });
  std::thread rx([&] {
    for (;;) {
      std::vector<Bytes> batch;
      {
        std::lock_guard lock(mu);
        batch.swap(queue);
      }
      for (Bytes& p : batch)
        if (receiver_->Open(EventFlow(), p, now_).verdict == Verdict::kOpened) ++opened;
      if (batch.empty() && sent_all) {
        std::lock_guard lock(mu);
        if (queue.empty()) return;
      }
    }
  });
  std::thread control([&] {
    SecretBytes next_key = crypto::RandomSecret(32);
    while (!sent_all) {
      for (DataPlane* dp : {sender_.get(), receiver_.get()}) {
        EXPECT_TRUE(dp->InstallSa(MakeSa(1, next_key, Role::kReceiver, {}, GetParam())).ok());
        EXPECT_TRUE(dp->AddPolicy(Policy::ProtectEvent(MakeSa(0, key_), Direction::kInbound)).ok());
        (void)dp->Slots(kEvent, now_);
        (void)dp->ExpireSas(now_);
        (void)dp->counters();
      }
    }
  });
  tx.join();
  rx.join();
  control.join();
  EXPECT_EQ(opened.load(), kPackets);
}

TEST_P(DataPlaneTest, PacketPathsDoNotAllocate) {
  Bytes out(DataPlane::kMaxPacketSize);
  Bytes payload = Payload(1400);
  Bytes bad(100, 0x11);
  ProtectResult warm = sender_->Protect(EventFlow(), payload, out, now_);  // first-use work
  ASSERT_EQ(warm.verdict, Verdict::kProtected);
  Bytes copy(warm.packet.begin(), warm.packet.end());
  ASSERT_EQ(receiver_->Open(EventFlow(), copy, now_).verdict, Verdict::kOpened);

  StartCountingAllocations();
  for (int i = 0; i < 100; ++i) {
    ProtectResult r = sender_->Protect(EventFlow(), payload, out, now_);
    (void)receiver_->Open(EventFlow(), MutableByteView(out.data(), r.packet.size()), now_);
    (void)receiver_->Open(EventFlow(), bad, now_);                 // malformed / no SA
    (void)receiver_->Open(EventFlow(Ip("224.0.0.1")), bad, now_);  // bypass
  }
  EXPECT_EQ(StopCountingAllocations(), 0u);
  EXPECT_EQ(receiver_->counters().opened_packets(), 101u);
}

// ---- not parameterised ----

TEST(DataPlane, UnmatchedDatagramsBypassByteIdentical) {
  auto dp = NewEventDataPlane();
  ASSERT_TRUE(dp->InstallSa(MakeSenderSa(0, crypto::RandomSecret(32))).ok());
  Bytes datagram = Payload(300);
  Bytes out(DataPlane::kMaxPacketSize, 0);
  Flow other = EventFlow(Ip("239.7.7.7"));
  ProtectResult r = dp->Protect(other, datagram, out, kT0);
  ASSERT_EQ(r.verdict, Verdict::kBypass);
  EXPECT_EQ(r.packet.data(), datagram.data());
  EXPECT_EQ(Bytes(r.packet.begin(), r.packet.end()), datagram);
  EXPECT_EQ(out, Bytes(DataPlane::kMaxPacketSize, 0));  // out untouched

  Bytes in = datagram;
  OpenResult o = dp->Open(other, in, kT0);
  ASSERT_EQ(o.verdict, Verdict::kBypass);
  EXPECT_EQ(Bytes(o.payload.begin(), o.payload.end()), datagram);
  EXPECT_EQ(dp->counters().bypassed_packets(), 2u);

  // With no policy at all, everything passes.
  auto empty = NewDataPlane();
  EXPECT_EQ(empty->Protect(EventFlow(), datagram, out, kT0).verdict, Verdict::kBypass);
  EXPECT_EQ(empty->Open(EventFlow(), in, kT0).verdict, Verdict::kBypass);
}

TEST(DataPlane, ExplicitBypassAndDiscardPolicies) {
  auto dp = NewEventDataPlane();
  ASSERT_TRUE(dp->InstallSa(MakeSenderSa(0, crypto::RandomSecret(32))).ok());
  Policy discard;
  discard.selector.direction = Direction::kOutbound;
  discard.selector.destination = AddressPrefix::Exact(Group());
  discard.selector.destination_port = PortRange::Exact(kPort);
  discard.action = PolicyAction::kDiscard;
  ASSERT_TRUE(dp->InsertPolicy(0, discard).ok());
  Policy bypass = discard;
  bypass.selector.direction = Direction::kInbound;
  bypass.action = PolicyAction::kBypass;
  ASSERT_TRUE(dp->InsertPolicy(0, bypass).ok());

  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = dp->Protect(EventFlow(), Payload(10), out, kT0);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kPolicyDiscard);
  EXPECT_TRUE(r.packet.empty());
  Bytes in = Payload(10);
  EXPECT_EQ(dp->Open(EventFlow(), in, kT0).verdict, Verdict::kBypass);
  EXPECT_EQ(dp->counters().dropped(DropReason::kPolicyDiscard), 1u);

  // Inbound discard.
  Policy in_discard = discard;
  in_discard.selector.direction = Direction::kInbound;
  ASSERT_TRUE(dp->InsertPolicy(0, in_discard).ok());
  OpenResult o = dp->Open(EventFlow(), in, kT0);
  EXPECT_EQ(o.reason, DropReason::kPolicyDiscard);
}

TEST(DataPlane, MissingSaIsDroppedAndCounted) {
  auto dp = NewEventDataPlane();
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = dp->Protect(EventFlow(), Payload(10), out, kT0);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kNoSa);
  EXPECT_EQ(r.event, kEvent);
  Bytes in = Payload(40);  // looks like garbage to a protected flow
  StoreBe32(in.data(), 0x1000);
  StoreBe32(in.data() + 4, 1);
  StoreBe64(in.data() + 8, 1);
  OpenResult o = dp->Open(EventFlow(), in, kT0);
  EXPECT_EQ(o.reason, DropReason::kNoSa);
  EXPECT_EQ(dp->counters().dropped(DropReason::kNoSa), 2u);
  // A plain datagram on a protected flow is never passed on.
  Bytes plain = Payload(7, 1);
  EXPECT_EQ(dp->Open(EventFlow(), plain, kT0).verdict, Verdict::kDrop);
}

TEST(DataPlane, ClearIntervalAcceptedOnlyWhileCurrentSaIsClear) {
  SecretBytes key = crypto::RandomSecret(32);
  auto tx = NewEventDataPlane();
  auto rx = NewEventDataPlane();
  // Interval 0 is clear, interval 1 encrypted.
  ASSERT_TRUE(tx->InstallSa(MakeClearSa(0, Role::kSender, SenderId{1})).ok());
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(1, key)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeClearSa(0)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(1, key)).ok());

  const Micros in_clear = kT0 + kSecond;
  Bytes payload = Payload(100);
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult pr = tx->Protect(EventFlow(), payload, out, in_clear);
  ASSERT_EQ(pr.verdict, Verdict::kClear);
  ASSERT_EQ(pr.packet.size(), kClearHeaderSize + payload.size());
  EXPECT_EQ(LoadBe32(pr.packet.data()), 0u);
  EXPECT_EQ(Bytes(pr.packet.begin() + 4, pr.packet.end()), payload);  // readable by anyone
  Bytes clear_packet(pr.packet.begin(), pr.packet.end());

  Bytes got;
  OpenResult r = OpenCopy(*rx, clear_packet, in_clear, &got);
  ASSERT_EQ(r.verdict, Verdict::kClear);
  EXPECT_EQ(got, payload);
  EXPECT_EQ(rx->counters().count(Outcome::kClearReceived), 1u);
  EXPECT_EQ(tx->counters().count(Outcome::kClearSent), 1u);

  // Once the encrypted interval is current, SPI-0 packets are refused, even
  // within the clear interval's grace.
  const Micros encrypted = kT0 + kInterval + kSecond;
  r = OpenCopy(*rx, clear_packet, encrypted);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kClearNotAllowed);
  EXPECT_EQ(tx->Protect(EventFlow(), payload, out, encrypted).verdict, Verdict::kProtected);

  // A receiver whose only SA is encrypted never accepts SPI 0.
  auto strict = NewEventDataPlane();
  ASSERT_TRUE(strict->InstallSa(MakeSa(0, key)).ok());
  EXPECT_EQ(OpenCopy(*strict, clear_packet, in_clear).reason, DropReason::kClearNotAllowed);
  // Nor does one with no SA for the event.
  auto none = NewEventDataPlane();
  EXPECT_EQ(OpenCopy(*none, clear_packet, in_clear).reason, DropReason::kNoSa);
  // A clear packet to the wrong port is a mismatch even in a clear interval.
  auto wide = NewDataPlane();
  Policy any_port = Policy::ProtectEvent(MakeSa(0, key), Direction::kInbound);
  any_port.selector.destination_port = PortRange::Any();
  ASSERT_TRUE(wide->AddPolicy(any_port).ok());
  ASSERT_TRUE(wide->InstallSa(MakeClearSa(0)).ok());
  EXPECT_EQ(OpenCopy(*wide, clear_packet, in_clear, nullptr, EventFlow(Group(), 9)).reason,
            DropReason::kSelectorMismatch);
  // Shorter than an SPI: malformed.
  EXPECT_EQ(OpenCopy(*rx, ByteView(clear_packet.data(), 3), in_clear).reason,
            DropReason::kMalformed);
}

// Late join (seed 000 claim 18): the sender leaves the clear exactly at the
// boundary and never sends a clear packet after it, even without the next
// key; a receiver accepts clear packets in flight at the boundary only
// within clear_grace (capped at the SA's grace), and never once it is over.
TEST(DataPlane, ClearGraceCoversPacketsInFlightAtTheBoundaryOnly) {
  SecretBytes key = crypto::RandomSecret(32);
  const Micros boundary = kT0 + kInterval;
  const Micros clear_grace = 300'000;
  auto tx = NewEventDataPlane();
  auto rx = NewEventDataPlane(DataPlaneOptions{.clear_grace = clear_grace});
  ASSERT_TRUE(tx->InstallSa(MakeClearSa(0, Role::kSender, SenderId{1})).ok());
  ASSERT_TRUE(rx->InstallSa(MakeClearSa(0)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(1, key)).ok());
  Bytes payload = Payload(64);
  Bytes clear_packet = Seal(*tx, payload, boundary - 1);
  ASSERT_EQ(clear_packet.size(), kClearHeaderSize + payload.size());

  // The sender has no key for interval 1 yet: it drops, it does not leak.
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult late = tx->Protect(EventFlow(), payload, out, boundary);
  EXPECT_EQ(late.verdict, Verdict::kDrop);
  EXPECT_EQ(late.reason, DropReason::kNoSa);
  EXPECT_EQ(tx->counters().count(Outcome::kClearSent), 1u);
  // With the key it protects from the first microsecond of interval 1.
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(1, key)).ok());
  Bytes sealed = Seal(*tx, payload, boundary);
  ASSERT_FALSE(sealed.empty());
  EXPECT_NE(LoadBe32(sealed.data()), 0u);

  // Receiver: in flight across the boundary -> accepted within the grace.
  Bytes got;
  EXPECT_EQ(OpenCopy(*rx, clear_packet, boundary + clear_grace - 1, &got).verdict, Verdict::kClear);
  EXPECT_EQ(got, payload);
  EXPECT_EQ(OpenCopy(*rx, sealed, boundary + 1).verdict, Verdict::kOpened);
  // After it: refused, and counted.
  OpenResult r = OpenCopy(*rx, clear_packet, boundary + clear_grace);
  EXPECT_EQ(r.verdict, Verdict::kDrop);
  EXPECT_EQ(r.reason, DropReason::kClearNotAllowed);
  EXPECT_EQ(rx->counters().dropped(DropReason::kClearNotAllowed), 1u);
  // Before the clear interval starts nothing is accepted either.
  EXPECT_EQ(OpenCopy(*rx, clear_packet, kT0 - 1).verdict, Verdict::kDrop);

  // The grace never exceeds the SA's own grace.
  auto wide = NewEventDataPlane(DataPlaneOptions{.clear_grace = 5 * kSecond});
  ASSERT_TRUE(wide->InstallSa(MakeClearSa(0)).ok());
  EXPECT_EQ(OpenCopy(*wide, clear_packet, boundary + kGrace - 1).verdict, Verdict::kClear);
  EXPECT_EQ(OpenCopy(*wide, clear_packet, boundary + kGrace).verdict, Verdict::kDrop);
  // Out of range options are refused.
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.clear_grace = -1}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.clear_grace = 11 * kSecond}).ok());
}

// Transparent mode: a whole IP packet is sealed with its next header, but a
// clear interval carries only its UDP payload (clear packets have no next
// header, so they are bare payloads in every mode).
TEST(DataPlane, ProtectIpPacketSealsThePacketAndClearsThePayload) {
  SecretBytes key = crypto::RandomSecret(32);
  auto tx = NewEventDataPlane();
  auto rx = NewEventDataPlane();
  ASSERT_TRUE(tx->InstallSa(MakeClearSa(0, Role::kSender, SenderId{1})).ok());
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(1, key)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeClearSa(0)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(1, key)).ok());
  Bytes ip_packet = Payload(60);  // 28 bytes of "headers", then the payload
  const size_t offset = 28;
  Bytes out(DataPlane::kMaxPacketSize);

  ProtectResult c =
      tx->ProtectIpPacket(EventFlow(), ip_packet, offset, out, kT0 + 1, NextHeader::kIpv4Packet);
  ASSERT_EQ(c.verdict, Verdict::kClear);
  EXPECT_EQ(Bytes(c.packet.begin() + kClearHeaderSize, c.packet.end()),
            Bytes(ip_packet.begin() + offset, ip_packet.end()));

  ProtectResult p = tx->ProtectIpPacket(EventFlow(), ip_packet, offset, out, kT0 + kInterval,
                                        NextHeader::kIpv4Packet);
  ASSERT_EQ(p.verdict, Verdict::kProtected);
  Bytes sealed(p.packet.begin(), p.packet.end());
  Bytes got;
  OpenResult o = OpenCopy(*rx, sealed, kT0 + kInterval, &got);
  ASSERT_EQ(o.verdict, Verdict::kOpened);
  EXPECT_EQ(o.next_header, NextHeader::kIpv4Packet);
  EXPECT_EQ(got, ip_packet);

  EXPECT_EQ(
      tx->ProtectIpPacket(EventFlow(), ip_packet, 61, out, kT0 + kInterval, NextHeader::kIpv4Packet)
          .reason,
      DropReason::kMalformed);
  EXPECT_EQ(tx->ProtectIpPacket(EventFlow(), ip_packet, offset, out, kT0 + kInterval,
                                NextHeader::kUdpPayload)
                .reason,
            DropReason::kMalformed);
}

// A locally derived SA (the agent derives clear SAs from the ticket) never
// replaces one the key service handed out for the same epoch.
TEST(DataPlane, InstallSaIfAbsentKeepsWhatIsThere) {
  auto dp = NewEventDataPlane();
  ASSERT_TRUE(dp->InstallSa(MakeClearSa(0, Role::kSender, SenderId{9})).ok());
  auto r = dp->InstallSaIfAbsent(MakeClearSa(0));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(dp->Slots(kEvent, kT0 + 1).current->role, Role::kSender);
  r = dp->InstallSaIfAbsent(MakeClearSa(1));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(dp->sa_count(), 2u);
  SecurityAssociation bad = MakeClearSa(2);
  bad.lifetime = 0;
  EXPECT_FALSE(dp->InstallSaIfAbsent(bad).ok());
}

TEST(DataPlane, OptionsAreValidated) {
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.replay_window = 100}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.replay_window = 0}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.max_senders_per_sa = 0}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.pad_block = 6}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.pad_block = 12}).ok());  // not a power of two
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.pad_block = 512}).ok());
  EXPECT_TRUE(DataPlane::Create(DataPlaneOptions{.replay_window = 4096, .pad_block = 16}).ok());
}

TEST(DataPlane, AddPolicyIsIdempotentAndRemoveEventClears) {
  auto dp = NewEventDataPlane();
  Policy p = Policy::ProtectEvent(MakeSa(0, SecretBytes()), Direction::kInbound);
  ASSERT_TRUE(dp->AddPolicy(p).ok());
  EXPECT_EQ(dp->policy_count(), 2u);
  ASSERT_TRUE(dp->InstallSa(MakeSa(0, crypto::RandomSecret(32))).ok());
  EXPECT_EQ(dp->RemoveEvent(kEvent), 1u);
  EXPECT_EQ(dp->policy_count(), 0u);
  EXPECT_EQ(dp->sa_count(), 0u);
}

TEST(DataPlane, CountsIntoTheGlobalRegistry) {
  auto rx_dp = DataPlane::Create(DataPlaneOptions{.export_metrics = true});  // registers
  ASSERT_TRUE(rx_dp.ok());
  auto& rx = *rx_dp;
  Counter& replay =
      Metrics::Global().GetCounter("keycast_dataplane_dropped_total", "", "reason=\"replay\"");
  Counter& opened =
      Metrics::Global().GetCounter("keycast_dataplane_packets_total", "", "outcome=\"opened\"");
  uint64_t replay_before = replay.value(), opened_before = opened.value();

  SecretBytes key = crypto::RandomSecret(32);
  auto tx = NewEventDataPlane();
  ASSERT_TRUE(rx->AddPolicy(Policy::ProtectEvent(MakeSa(0, key), Direction::kInbound)).ok());
  ASSERT_TRUE(tx->InstallSa(MakeSenderSa(0, key)).ok());
  ASSERT_TRUE(rx->InstallSa(MakeSa(0, key)).ok());
  Bytes packet = Seal(*tx, Payload(10), kT0);
  EXPECT_EQ(OpenCopy(*rx, packet, kT0).verdict, Verdict::kOpened);
  EXPECT_EQ(OpenCopy(*rx, packet, kT0).reason, DropReason::kReplay);
  EXPECT_EQ(replay.value(), replay_before + 1);
  EXPECT_EQ(opened.value(), opened_before + 1);
  std::string text = Metrics::Global().Render();
  EXPECT_NE(text.find("keycast_dataplane_dropped_total{reason=\"auth_failed\"}"),
            std::string::npos);
  EXPECT_NE(text.find("keycast_dataplane_packets_total{outcome=\"bypassed\"}"), std::string::npos);
}

TEST(DataPlane, DropReasonNamesAreStable) {
  const char* names[] = {"no_sa",          "auth_failed",        "replay",     "malformed",
                         "policy_discard", "selector_mismatch",  "expired_sa", "clear_not_allowed",
                         "sender_limit",   "sequence_exhausted", "too_large",  "internal",
                         "seq_jump",       "unknown_sender",     "unsigned",   "forged",
                         "bad_signature",  "verify_limit",       "batch_full"};
  static_assert(std::size(names) == kDropReasonCount);
  for (size_t i = 0; i < kDropReasonCount; ++i) EXPECT_EQ(DropReasonName(DropReason(i)), names[i]);
}

}  // namespace
}  // namespace keycast::dataplane
