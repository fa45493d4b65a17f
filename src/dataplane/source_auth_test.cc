// Source authentication (docs/packet-format.md): a receiver that holds the
// event's AEAD key turned attacker forges packets under the genuine
// sender's id; nothing it sends is delivered, moves the sender's window, or
// pushes a genuine packet out.
#include "dataplane/source_auth.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dataplane/alloc_counter.h"
#include "dataplane/test_util.h"
#include "keycast/codec.h"
#include "keycast/dataplane/data_plane.h"
#include "keycast/limits.h"

namespace keycast::dataplane {
namespace {

using namespace keycast::dataplane::testing;  // NOLINT

constexpr uint32_t kSender = 1;   // the genuine sender
constexpr uint32_t kOther = 2;    // another vouched-for sender (its own key)
constexpr uint32_t kUnknown = 3;  // a real sender not listed yet
const Spi kSpi0{0x1000};

// What a member holding the AEAD key can do: seal anything under any header.
Bytes SealAs(const SecretBytes& key, uint32_t sender, uint64_t seq, ByteView payload,
             NextHeader nh = NextHeader::kUdpPayload) {
  const size_t pad = PaddingFor(payload.size(), kMinPadBlock);
  const size_t plaintext = payload.size() + pad + kTrailerSize;
  Bytes p(kHeaderSize + plaintext + kTagSize);
  WriteHeader(PacketHeader{kSpi0, SenderId{sender}, seq}, p.data());
  std::memcpy(p.data() + kHeaderSize, payload.data(), payload.size());
  WritePaddingAndTrailer(pad, nh, p.data() + kHeaderSize + payload.size());
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key).value();
  EXPECT_TRUE(aead.Seal(ByteView(p.data() + kNonceOffset, kNonceSize),
                        ByteView(p.data(), kHeaderSize),
                        ByteView(p.data() + kHeaderSize, plaintext), p.data() + kHeaderSize));
  return p;
}

// ... and read any packet: the payload (before padding) of a genuine one.
Bytes OpenAs(const SecretBytes& key, ByteView packet) {
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, key).value();
  Bytes plain(packet.size() - kHeaderSize - kTagSize);
  EXPECT_TRUE(aead.Open(ByteView(packet.data() + kNonceOffset, kNonceSize),
                        packet.first(kHeaderSize), packet.subspan(kHeaderSize), plain.data()));
  size_t n = 0;
  NextHeader nh;
  const char* why = nullptr;
  EXPECT_TRUE(ParseTrailer(plain, &n, &nh, &why)) << why;
  plain.resize(n);
  return plain;
}

// A manifest for [seq - hashes, seq) signed with signer's seed, as the
// insider would make one.
Bytes ForgeManifest(const SecretBytes& key, uint32_t sender, uint64_t seq,
                    const std::vector<Bytes>& packets, uint32_t signer) {
  uint8_t header[kHeaderSize];
  WriteHeader(PacketHeader{kSpi0, SenderId{sender}, seq}, header);
  Bytes hashes(packets.size() * kPacketHashSize);
  for (size_t i = 0; i < packets.size(); ++i)
    PacketHash(packets[i], hashes.data() + i * kPacketHashSize);
  uint8_t msg[kMaxManifestSignedSize];
  size_t n = ManifestSignedBytes(header, packets.size(), hashes.data(), msg);
  Bytes sig = crypto::SigningKey::FromSeed(SigningSeed(signer)).value().Sign(ByteView(msg, n));
  Bytes payload{uint8_t(packets.size())};
  payload.insert(payload.end(), hashes.begin(), hashes.end());
  payload.insert(payload.end(), sig.begin(), sig.end());
  return SealAs(key, sender, seq, payload, NextHeader::kManifest);
}

uint64_t SeqOf(ByteView packet) { return LoadBe64(packet.data() + kSeqOffset); }

class SourceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DataPlaneOptions o;
    o.sign_batch_packets = 8;
    sender_ = NewEventDataPlane(o);
    receiver_ = NewEventDataPlane(o);
    ASSERT_TRUE(
        sender_->InstallSa(MakeSignedSa(0, key_, Role::kSender, kSender, {kSender, kOther})).ok());
    ASSERT_TRUE(
        receiver_->InstallSa(MakeSignedSa(0, key_, Role::kReceiver, 0, {kSender, kOther})).ok());
  }

  // Queues n datagrams (payload seed base + i) and flushes them: the
  // manifest copies, then the packets.
  std::vector<Bytes> Batch(size_t n, uint8_t base = 0) {
    Bytes out(DataPlane::kMaxPacketSize);
    for (size_t i = 0; i < n; ++i) {
      ProtectResult r = sender_->Protect(EventFlow(), Payload(100, uint8_t(base + i)), out, now_);
      EXPECT_EQ(r.verdict, Verdict::kQueued);
      EXPECT_TRUE(r.packet.empty());
    }
    CollectSink sink;
    sender_->Flush(kEvent, now_, sink, /*all=*/true);
    return sink.sent;
  }

  // Opens every packet of a batch on the receiver; returns the payloads delivered.
  std::vector<Bytes> Deliver(const std::vector<Bytes>& packets) {
    std::vector<Bytes> got;
    for (const Bytes& p : packets) {
      Bytes payload;
      OpenResult r = OpenCopy(*receiver_, p, now_, &payload);
      if (r.verdict == Verdict::kOpened) got.push_back(payload);
    }
    return got;
  }

  uint64_t Dropped(DropReason r) const { return receiver_->counters().dropped(r); }
  uint64_t Count(Outcome o) const { return receiver_->counters().count(o); }

  SecretBytes key_ = crypto::RandomSecret(32);
  Micros now_ = kT0 + 1 * kSecond;
  std::unique_ptr<DataPlane> sender_, receiver_;
};

TEST_F(SourceAuthTest, ABatchIsItsSignedManifestThenItsPackets) {
  std::vector<Bytes> sent = Batch(5);
  ASSERT_EQ(sent.size(), 2u + 5u);  // two copies of the manifest (default), then the packets
  EXPECT_EQ(sent[0], sent[1]);
  EXPECT_EQ(SeqOf(sent[0]), 6u);  // the manifest follows the packets it names: [1, 6)
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(SeqOf(sent[2 + i]), i + 1);
  std::vector<Bytes> got = Deliver(sent);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(got[i], Payload(100, uint8_t(i))) << i;
  EXPECT_EQ(Count(Outcome::kManifestVerified), 1u);
  EXPECT_EQ(Count(Outcome::kManifestDuplicate), 1u);
  EXPECT_EQ(receiver_->counters().total_dropped(), 0u);
  EXPECT_EQ(sender_->counters().count(Outcome::kManifestSent), 2u);
  EXPECT_EQ(sender_->counters().protected_packets(), 5u);
  // A replayed packet or manifest changes nothing.
  EXPECT_EQ(OpenCopy(*receiver_, sent[3], now_).reason, DropReason::kReplay);
  EXPECT_EQ(OpenCopy(*receiver_, sent[0], now_).verdict, Verdict::kConsumed);
  EXPECT_EQ(Count(Outcome::kManifestVerified), 1u);
}

TEST_F(SourceAuthTest, BatchesAreBoundedInPacketsAndTime) {
  Bytes out(DataPlane::kMaxPacketSize);
  // Nothing leaves before the batch is full or its first packet has waited
  // sign_batch_interval: that is the latency bound.
  ASSERT_EQ(sender_->Protect(EventFlow(), Payload(10), out, now_).verdict, Verdict::kQueued);
  EXPECT_EQ(sender_->NextFlushAt(kEvent), now_ + limits::kDefaultSignBatchMicros);
  CollectSink sink;
  EXPECT_EQ(sender_->Flush(kEvent, now_ + limits::kDefaultSignBatchMicros - 1, sink), 0u);
  EXPECT_EQ(sender_->Flush(kEvent, now_ + limits::kDefaultSignBatchMicros, sink), 3u);
  EXPECT_FALSE(sender_->NextFlushAt(kEvent).has_value());
  // The eighth packet fills the batch: the result says flush.
  for (int i = 0; i < 8; ++i) {
    ProtectResult r = sender_->Protect(EventFlow(), Payload(10), out, now_);
    ASSERT_EQ(r.verdict, Verdict::kQueued);
    EXPECT_EQ(r.flush, i == 7) << i;
  }
  // A caller that does not flush loses the next datagram, counted.
  ProtectResult full = sender_->Protect(EventFlow(), Payload(10), out, now_);
  EXPECT_EQ(full.reason, DropReason::kBatchFull);
  sink.sent.clear();
  EXPECT_EQ(sender_->Flush(kEvent, now_, sink), 2u + 8u);  // full: due at once
  EXPECT_EQ(Deliver(sink.sent).size(), 8u);
}

TEST_F(SourceAuthTest, ForgeriesUnderTheValidKeyAreDroppedAndMoveNothing) {
  std::vector<Bytes> first = Batch(8);
  // The insider saw the manifest of the next batch coming and beats the
  // genuine packets to the receiver with its own under the same sequence
  // numbers: they are not the packets the manifest names.
  std::vector<Bytes> second = Batch(8, 100);
  ASSERT_EQ(Deliver(first).size(), 8u);
  ASSERT_EQ(OpenCopy(*receiver_, second[0], now_).verdict, Verdict::kConsumed);  // its manifest
  for (size_t i = 2; i < second.size(); ++i) {
    Bytes forged = SealAs(key_, kSender, SeqOf(second[i]), AsBytes("INJECTED"));
    EXPECT_EQ(OpenCopy(*receiver_, forged, now_).reason, DropReason::kForged) << i;
  }
  // Sequence numbers no manifest names, the top of the sequence space
  // among them: unsigned, and the window stays where it was.
  for (uint64_t seq : {uint64_t{40}, uint64_t{5000}, kMaxSequence - 1, kMaxSequence}) {
    Bytes forged = SealAs(key_, kSender, seq, AsBytes("INJECTED"));
    EXPECT_EQ(OpenCopy(*receiver_, forged, now_).reason, DropReason::kUnsigned) << seq;
  }
  // A manifest for its own packets: signed by no key, or by another
  // vouched-for sender's key, it does not verify.
  std::vector<Bytes> own{SealAs(key_, kSender, 30, AsBytes("INJECTED"))};
  EXPECT_EQ(OpenCopy(*receiver_, ForgeManifest(key_, kSender, 31, own, kUnknown), now_).reason,
            DropReason::kBadSignature);
  EXPECT_EQ(OpenCopy(*receiver_, ForgeManifest(key_, kSender, 31, own, kOther), now_).reason,
            DropReason::kBadSignature);
  // The genuine manifest's content re-sealed under another sequence number:
  // the signature covers the header, so it does not verify; under 2^64 - 2
  // it is not even tried.
  Bytes genuine = OpenAs(key_, second[0]);
  Bytes moved = SealAs(key_, kSender, 50, genuine, NextHeader::kManifest);
  EXPECT_EQ(OpenCopy(*receiver_, moved, now_).reason, DropReason::kBadSignature);
  Bytes top = SealAs(key_, kSender, kMaxSequence - 1, genuine, NextHeader::kManifest);
  EXPECT_EQ(OpenCopy(*receiver_, top, now_).reason, DropReason::kSequenceJump);
  EXPECT_EQ(OpenCopy(*receiver_, own[0], now_).reason, DropReason::kUnsigned);

  // Every genuine packet still arrives, and the stream goes on.
  std::vector<Bytes> got = Deliver(std::vector<Bytes>(second.begin() + 2, second.end()));
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(got[i], Payload(100, uint8_t(100 + i)));
  EXPECT_EQ(Deliver(Batch(8, 200)).size(), 8u);
  EXPECT_EQ(Dropped(DropReason::kForged), 8u);
  EXPECT_EQ(Dropped(DropReason::kUnsigned), 5u);
  EXPECT_EQ(Dropped(DropReason::kBadSignature), 3u);
  EXPECT_EQ(Dropped(DropReason::kSequenceJump), 1u);
  EXPECT_EQ(receiver_->counters().opened_packets(), 24u);
}

TEST_F(SourceAuthTest, EveryByteOfTheSignatureMatters) {
  std::vector<Bytes> b = Batch(3);
  Bytes plain = OpenAs(key_, b[0]);
  const size_t sig_at = plain.size() - kManifestSignatureSize;
  for (size_t i = 0; i < plain.size(); ++i) {
    Bytes mutated = plain;
    mutated[i] ^= uint8_t(1u << (i % 8));
    OpenResult r = OpenCopy(
        *receiver_, SealAs(key_, kSender, SeqOf(b[0]), mutated, NextHeader::kManifest), now_);
    EXPECT_EQ(r.verdict, Verdict::kDrop) << i;
    // The count byte makes it malformed; a hash or signature byte fails it.
    if (i == 0) {
      EXPECT_EQ(r.reason, DropReason::kMalformed);
    } else {
      EXPECT_EQ(r.reason, DropReason::kBadSignature) << i << (i >= sig_at ? " (signature)" : "");
    }
  }
  // An outsider's flip of the ciphertext fails the AEAD first.
  Bytes flipped = b[0];
  flipped[kHeaderSize + 5] ^= 1;
  EXPECT_EQ(OpenCopy(*receiver_, flipped, now_).reason, DropReason::kAuthFailed);
  EXPECT_EQ(Deliver(b).size(), 3u);  // the genuine one still verifies
}

TEST_F(SourceAuthTest, ALostPacketCostsOnlyItselfALostManifestCopyNothing) {
  std::vector<Bytes> b = Batch(8);
  // Lose the first manifest copy and packets 2 and 5.
  std::vector<Bytes> arrived;
  for (size_t i = 1; i < b.size(); ++i)
    if (i != 2 + 2 && i != 2 + 5) arrived.push_back(b[i]);
  std::vector<Bytes> got = Deliver(arrived);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], Payload(100, 0));
  EXPECT_EQ(got[2], Payload(100, 3));
  EXPECT_EQ(Count(Outcome::kManifestVerified), 1u);
  // Lose both copies: that batch is unverifiable (counted), the next is not.
  std::vector<Bytes> lost = Batch(8, 50);
  EXPECT_EQ(Deliver(std::vector<Bytes>(lost.begin() + 2, lost.end())).size(), 0u);
  EXPECT_EQ(Dropped(DropReason::kUnsigned), 8u);
  EXPECT_EQ(Deliver(Batch(8, 90)).size(), 8u);
}

TEST_F(SourceAuthTest, PendingManifestsAreBoundedAndOnlyVerifiedOnesTakeRoom) {
  // Manifests of kMaxPendingManifests + 1 batches arrive before any of
  // their packets (a reordering network): the oldest is replaced.
  std::vector<std::vector<Bytes>> batches;
  for (size_t k = 0; k <= limits::kMaxPendingManifests; ++k)
    batches.push_back(Batch(4, uint8_t(k * 10)));
  for (const auto& b : batches)
    ASSERT_EQ(OpenCopy(*receiver_, b[0], now_).verdict, Verdict::kConsumed);
  // A flood of forged manifests takes no room at all.
  std::vector<Bytes> own{SealAs(key_, kSender, 59, AsBytes("x"))};
  for (uint64_t seq = 60; seq < 160; ++seq)
    EXPECT_EQ(OpenCopy(*receiver_, ForgeManifest(key_, kSender, seq, own, kOther), now_).reason,
              DropReason::kBadSignature);
  EXPECT_EQ(Deliver(std::vector<Bytes>(batches[0].begin() + 2, batches[0].end())).size(), 0u);
  for (size_t k = 1; k < batches.size(); ++k)
    EXPECT_EQ(Deliver(std::vector<Bytes>(batches[k].begin() + 2, batches[k].end())).size(), 4u)
        << k;
}

TEST_F(SourceAuthTest, AFloodOfForgedManifestsIsBoundedByTheVerifyBudget) {
  DataPlaneOptions o;
  o.manifest_verifies_per_second = 64;  // burst 16
  receiver_ = NewEventDataPlane(o);
  ASSERT_TRUE(
      receiver_->InstallSa(MakeSignedSa(0, key_, Role::kReceiver, 0, {kSender, kOther})).ok());
  std::vector<Bytes> own{SealAs(key_, kSender, 100, AsBytes("x"))};
  for (uint64_t seq = 101; seq < 151; ++seq)
    (void)OpenCopy(*receiver_, ForgeManifest(key_, kSender, seq, own, kOther), now_);
  EXPECT_EQ(Dropped(DropReason::kBadSignature), 16u);
  EXPECT_EQ(Dropped(DropReason::kVerifyLimit), 34u);
  // The other sender's budget is its own.
  std::vector<Bytes> theirs{SealAs(key_, kOther, 1, AsBytes("x"))};
  EXPECT_EQ(OpenCopy(*receiver_, ForgeManifest(key_, kOther, 2, theirs, kOther), now_).verdict,
            Verdict::kConsumed);
  // A genuine batch under the spent budget waits for it: a quarter second
  // later the budget has refilled (64 / s) and the batch verifies.
  std::vector<Bytes> b = Batch(4);
  EXPECT_EQ(OpenCopy(*receiver_, b[0], now_).reason, DropReason::kVerifyLimit);
  now_ += kSecond / 4;
  EXPECT_EQ(Deliver(b).size(), 4u);
}

TEST_F(SourceAuthTest, AnUnlistedSenderIsLookedUpThenVerified) {
  auto late = NewEventDataPlane();
  ASSERT_TRUE(late->InstallSa(MakeSignedSa(0, key_, Role::kSender, kUnknown, {kUnknown})).ok());
  Bytes out(DataPlane::kMaxPacketSize);
  ASSERT_EQ(late->Protect(EventFlow(), Payload(20), out, now_).verdict, Verdict::kQueued);
  CollectSink sink;
  late->Flush(kEvent, now_, sink, true);
  for (const Bytes& p : sink.sent)
    EXPECT_EQ(OpenCopy(*receiver_, p, now_).reason, DropReason::kUnknownSender);
  // An outsider's packet with an unknown id is not authentic: nothing to ask.
  Bytes junk = sink.sent[2];
  junk[4] = 0x7f;  // sender id
  EXPECT_EQ(OpenCopy(*receiver_, junk, now_).reason, DropReason::kAuthFailed);
  auto lookup = receiver_->TakeSignerLookups(kEvent);
  ASSERT_TRUE(lookup.has_value());
  EXPECT_EQ(lookup->epoch, (Epoch{1, 0}));
  EXPECT_EQ(lookup->senders, std::vector<SenderId>{SenderId{kUnknown}});
  EXPECT_FALSE(receiver_->TakeSignerLookups(kEvent).has_value());  // taken
  // The key service's answer: the same SA, now vouching for it too. The
  // installed SA keeps its state (windows) and adds the sender.
  ASSERT_TRUE(
      receiver_->InstallSa(MakeSignedSa(0, key_, Role::kReceiver, 0, {kSender, kOther, kUnknown}))
          .ok());
  EXPECT_EQ(receiver_->Slots(kEvent, now_).current->vouched_senders, 3u);
  ASSERT_EQ(late->Protect(EventFlow(), Payload(21), out, now_).verdict, Verdict::kQueued);
  sink.sent.clear();
  late->Flush(kEvent, now_, sink, true);
  std::vector<Bytes> got = Deliver(sink.sent);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], Payload(21));
}

TEST_F(SourceAuthTest, ASignedSaIsValidatedOnInstall) {
  auto dp = NewEventDataPlane(DataPlaneOptions{.replay_window = 128});
  EXPECT_EQ(dp->InstallSa(MakeSignedSa(0, key_, Role::kReceiver, 0, {kSender})).code(),
            Code::kFailedPrecondition);  // the window must hold a batch behind its manifest
  SecurityAssociation no_key = MakeSignedSa(0, key_, Role::kSender, kSender, {kSender});
  no_key.signing_key = SecretBytes();
  EXPECT_FALSE(receiver_->InstallSa(no_key).ok());
  SecurityAssociation rx_key = MakeSignedSa(1, key_, Role::kReceiver, 0, {kSender});
  rx_key.signing_key = SigningSeed(kSender);
  EXPECT_FALSE(receiver_->InstallSa(rx_key).ok());
  SecurityAssociation unsorted = MakeSignedSa(1, key_, Role::kReceiver, 0, {kOther, kSender});
  EXPECT_FALSE(receiver_->InstallSa(unsorted).ok());
  SecurityAssociation bad_pk = MakeSignedSa(1, key_, Role::kReceiver, 0, {kSender});
  bad_pk.signers[0].public_key.pop_back();
  EXPECT_FALSE(receiver_->InstallSa(bad_pk).ok());
  SecurityAssociation clear = MakeClearSa(1);
  clear.source_auth = true;
  EXPECT_FALSE(receiver_->InstallSa(clear).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.sign_batch_packets = 65}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.sign_batch_interval = 200'000}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.manifest_copies = 0}).ok());
  EXPECT_FALSE(DataPlane::Create(DataPlaneOptions{.manifest_verifies_per_second = 1}).ok());
}

TEST_F(SourceAuthTest, AReceiverWithoutTheOptionIgnoresManifests) {
  auto plain = NewEventDataPlane();
  SecurityAssociation sa = MakeSa(0, key_);
  sa.signers = {Signer{SenderId{kSender}, {}}};
  ASSERT_TRUE(plain->InstallSa(sa).ok());
  std::vector<Bytes> b = Batch(3);
  size_t opened = 0;
  for (const Bytes& p : b) opened += OpenCopy(*plain, p, now_).verdict == Verdict::kOpened;
  EXPECT_EQ(opened, 3u);
  EXPECT_EQ(plain->counters().count(Outcome::kManifestIgnored), 2u);
}

TEST_F(SourceAuthTest, SignedPacketPathsDoNotAllocate) {
  Bytes out(DataPlane::kMaxPacketSize);
  Bytes payload = Payload(1400);
  std::vector<Bytes> warm = Batch(8);
  ASSERT_EQ(Deliver(warm).size(), 8u);
  CollectSink sink;
  sink.sent.reserve(1000);
  std::vector<Bytes> work;
  for (int i = 0; i < 20; ++i) work.emplace_back(DataPlane::kMaxPacketSize);
  StartCountingAllocations();
  for (int i = 0; i < 7; ++i) (void)sender_->Protect(EventFlow(), payload, out, now_);
  EXPECT_EQ(StopCountingAllocations(), 0u);
  sender_->Flush(kEvent, now_, sink, true);  // copies into sink: allocates (the test's own)
  for (size_t i = 0; i < sink.sent.size(); ++i)
    std::memcpy(work[i].data(), sink.sent[i].data(), sink.sent[i].size());
  StartCountingAllocations();
  size_t opened = 0;
  for (size_t i = 0; i < sink.sent.size(); ++i)
    opened +=
        receiver_->Open(EventFlow(), MutableByteView(work[i].data(), sink.sent[i].size()), now_)
            .verdict == Verdict::kOpened;
  EXPECT_EQ(StopCountingAllocations(), 0u);
  EXPECT_EQ(opened, 7u);
}

// ---- without source authentication: the bounds of docs/packet-format.md ----

class SenderBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sender_ = NewEventDataPlane();
    ASSERT_TRUE(sender_->InstallSa(MakeSenderSa(0, key_, kSender)).ok());
    DataPlaneOptions o;
    o.max_senders_per_sa = 4;
    receiver_ = NewEventDataPlane(o);
    SecurityAssociation sa = MakeSa(0, key_);
    sa.signers = {Signer{SenderId{kSender}, {}}};  // the key service vouches for sender 1
    ASSERT_TRUE(receiver_->InstallSa(sa).ok());
  }
  OpenResult Open(ByteView p) { return OpenCopy(*receiver_, p, now_); }

  SecretBytes key_ = crypto::RandomSecret(32);
  Micros now_ = kT0 + 5 * kSecond;
  std::unique_ptr<DataPlane> sender_, receiver_;
};

TEST_F(SenderBoundsTest, OneForgedPacketFarAheadCannotMoveTheWindow) {
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(Open(Seal(*sender_, Payload(10), now_)).verdict, Verdict::kOpened);
  // Under the valid key and the genuine sender's id, from another member.
  const uint64_t bound = ReplayWindow::kDefaultSize / 2;  // min(kMaxSequenceJump, window / 2)
  EXPECT_EQ(Open(SealAs(key_, kSender, kMaxSequence - 1, AsBytes("x"))).reason,
            DropReason::kSequenceJump);
  EXPECT_EQ(Open(SealAs(key_, kSender, 100 + bound + 1, AsBytes("x"))).reason,
            DropReason::kSequenceJump);
  // Within the bound it is taken (it authenticates, and without source
  // authentication nothing tells it from the sender's), but half a window
  // ahead leaves every genuine packet inside the window.
  EXPECT_EQ(Open(SealAs(key_, kSender, 100 + bound, AsBytes("x"))).verdict, Verdict::kOpened);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(Open(Seal(*sender_, Payload(10), now_)).verdict, Verdict::kOpened) << i;
  EXPECT_EQ(receiver_->counters().dropped(DropReason::kSequenceJump), 2u);
}

TEST_F(SenderBoundsTest, AFreshWindowStartsNoFurtherThanTheSenderCanHaveGot) {
  // Five seconds into the interval, plus its grace: no sender has sent 2^64 - 2 packets.
  EXPECT_EQ(Open(SealAs(key_, kSender, kMaxSequence - 1, AsBytes("x"))).reason,
            DropReason::kSequenceJump);
  EXPECT_EQ(Open(SealAs(key_, kSender, 7 * limits::kMaxSenderPacketsPerSecond + 600, AsBytes("x")))
                .reason,
            DropReason::kSequenceJump);
  EXPECT_EQ(Open(Seal(*sender_, Payload(10), now_)).verdict, Verdict::kOpened);  // seq 1
}

TEST_F(SenderBoundsTest, ALongLossIsCoveredByTheTimeItTook) {
  ASSERT_EQ(Open(Seal(*sender_, Payload(10), now_)).verdict, Verdict::kOpened);
  // 5000 packets lost at once: too far for no time at all ...
  ASSERT_TRUE(sender_->SetNextSequenceForTesting(kEvent, Spi{0x1000}, 5002).ok());
  Bytes after_loss = Seal(*sender_, Payload(10), now_);
  EXPECT_EQ(Open(after_loss).reason, DropReason::kSequenceJump);
  // ... but not for the 10 ms a sender at 500 k packets/s needs to send them.
  now_ += 10'000;
  EXPECT_EQ(Open(after_loss).verdict, Verdict::kOpened);
}

TEST_F(SenderBoundsTest, InventedSenderIdsCannotLockOutRealSenders) {
  // A member invents sender ids: they take the unvouched senders' share (4)
  // and no more.
  for (uint32_t id = 100; id < 110; ++id) {
    OpenResult r = Open(SealAs(key_, id, 1, AsBytes("x")));
    EXPECT_EQ(r.verdict == Verdict::kOpened, id < 104) << id;
    if (id >= 104) {
      EXPECT_EQ(r.reason, DropReason::kSenderLimit);
    }
  }
  // The vouched-for sender has its own room.
  EXPECT_EQ(Open(Seal(*sender_, Payload(10), now_)).verdict, Verdict::kOpened);
  // A real sender that joined after this SA was handed out is refused for
  // now, and the agent asks the key service about it ...
  auto late = NewEventDataPlane();
  ASSERT_TRUE(late->InstallSa(MakeSenderSa(0, key_, kUnknown)).ok());
  Bytes first = Seal(*late, Payload(10), now_);
  EXPECT_EQ(Open(first).reason, DropReason::kSenderLimit);
  auto lookup = receiver_->TakeSignerLookups(kEvent);
  ASSERT_TRUE(lookup.has_value());
  EXPECT_NE(std::find(lookup->senders.begin(), lookup->senders.end(), SenderId{kUnknown}),
            lookup->senders.end());
  EXPECT_LE(lookup->senders.size(), limits::kMaxSignerHints);
  // ... which vouches for it, and not for the invented ones.
  SecurityAssociation sa = MakeSa(0, key_);
  sa.signers = {Signer{SenderId{kSender}, {}}, Signer{SenderId{kUnknown}, {}}};
  ASSERT_TRUE(receiver_->InstallSa(sa).ok());
  EXPECT_EQ(Open(first).verdict, Verdict::kOpened);
  EXPECT_EQ(Open(first).reason, DropReason::kReplay);
  EXPECT_EQ(Open(SealAs(key_, 200, 1, AsBytes("x"))).reason, DropReason::kSenderLimit);
}

}  // namespace
}  // namespace keycast::dataplane
