// Rejections of MemberKeys::Process, one class at a time, each with its reason
// and its counter.
#include <gtest/gtest.h>

#include "keycast/codec.h"
#include "keycast/lkh.h"
#include "lkh/test_util.h"

namespace keycast::lkh {
namespace {

using testing::Harness;
using testing::RejectCount;

// Replaces the signature of msg by a valid one over its (possibly edited)
// body: tests what a member does with a message the key service did sign.
Bytes Resign(Bytes msg, const crypto::SigningKey& signer) {
  msg.resize(msg.size() - kRekeySignatureSize);
  Bytes in = ToBytes(labels::kLkhRekeySignature);
  in.insert(in.end(), msg.begin(), msg.end());
  Bytes sig = signer.Sign(in);
  msg.insert(msg.end(), sig.begin(), sig.end());
  return msg;
}

class MemberKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int c = 1; c <= 40; ++c) h.Join(c);
    h.CommitAndDeliver();
    // A member that only watches: it is kept out of h.members so the
    // harness does not feed it.
    probe_init = h.tree.PathKeysFor(ClientId(5)).value();
    h.Leave(33);  // give the next message some wraps
    next = h.tree.Commit(Epoch{1, 9}, ik, h.signer, 2).value();
  }
  MemberKeys Probe() { return MemberKeys::FromInit(probe_init).value(); }

  // Expects one rejection with `reason`, counted once, state unchanged.
  void ExpectReject(MemberKeys& m, ByteView msg, RekeyReject reason) {
    uint64_t before = RejectCount(reason);
    uint64_t seq = m.last_seq();
    auto got = m.Process(msg, h.verify);
    EXPECT_FALSE(got.ok());
    EXPECT_EQ(m.last_reject(), reason) << got.status().ToString();
    EXPECT_EQ(RejectCount(reason), before + 1);
    EXPECT_EQ(m.last_seq(), seq);
  }

  Harness h{4};
  MemberKeysInit probe_init;
  SecretBytes ik = crypto::RandomSecret(kIntervalKeySize);
  Bytes next;
};

TEST_F(MemberKeysTest, AcceptsTheNextMessage) {
  MemberKeys m = Probe();
  auto got = m.Process(next, h.verify);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == ik);
  EXPECT_EQ(m.last_seq(), 2u);
  EXPECT_EQ(m.epoch(), (Epoch{1, 9}));
  EXPECT_EQ(m.last_reject(), RekeyReject::kNone);
}

TEST_F(MemberKeysTest, ForgedSignature) {
  MemberKeys m = Probe();
  auto other = crypto::SigningKey::Generate();
  ExpectReject(m, Resign(next, other), RekeyReject::kForgedSignature);
  // Right key, wrong verify key.
  auto wrong_vk = crypto::VerifyKey::FromBytes(other.public_key()).value();
  uint64_t before = RejectCount(RekeyReject::kForgedSignature);
  EXPECT_EQ(m.Process(next, wrong_vk).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(RejectCount(RekeyReject::kForgedSignature), before + 1);
  EXPECT_TRUE(m.Process(next, h.verify).ok());
}

TEST_F(MemberKeysTest, ReplayedSeq) {
  MemberKeys m = Probe();
  ASSERT_TRUE(m.Process(next, h.verify).ok());
  ExpectReject(m, next, RekeyReject::kReplay);
  // An older one, too.
  ExpectReject(m, h.messages[0], RekeyReject::kReplay);
}

TEST_F(MemberKeysTest, ReorderedAndMissed) {
  MemberKeys m = Probe();
  SecretBytes ik3 = crypto::RandomSecret(kIntervalKeySize);
  Bytes third = h.tree.Commit(Epoch{1, 10}, ik3, h.signer, 3).value();
  // seq 3 before 2: a gap; the member does not guess, it reports.
  ExpectReject(m, third, RekeyReject::kMissed);
  auto st = m.Process(third, h.verify).status();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("fall back to unicast pull"), std::string::npos);
  ASSERT_TRUE(m.Process(next, h.verify).ok());
  auto got = m.Process(third, h.verify);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == ik3);
  ExpectReject(m, next, RekeyReject::kReplay);  // late duplicate of 2 after 3
}

TEST_F(MemberKeysTest, MissedMessageRecoversByUnicastPull) {
  MemberKeys m = Probe();
  SecretBytes ik3 = crypto::RandomSecret(kIntervalKeySize);
  Bytes third = h.tree.Commit(Epoch{1, 10}, ik3, h.signer, 3).value();
  ExpectReject(m, third, RekeyReject::kMissed);
  // Pull: fresh bundle from the key service.
  m = MemberKeys::FromInit(h.tree.PathKeysFor(ClientId(5)).value()).value();
  EXPECT_EQ(m.last_seq(), 3u);
  Bytes fourth = h.tree.Commit(Epoch{1, 11}, ik, h.signer, 4).value();
  EXPECT_TRUE(m.Process(fourth, h.verify).ok());
}

TEST_F(MemberKeysTest, TruncatedAtEveryLength) {
  MemberKeys m = Probe();
  for (size_t n = 0; n < next.size(); ++n) {
    auto got = m.Process(ByteView(next.data(), n), h.verify);
    ASSERT_FALSE(got.ok()) << "length " << n;
    ASSERT_EQ(m.last_reject(), RekeyReject::kTruncated)
        << "length " << n << ": " << got.status().ToString();
  }
  EXPECT_TRUE(m.Process(next, h.verify).ok());
}

TEST_F(MemberKeysTest, EveryBitFlipIsRejected) {
  MemberKeys m = Probe();
  const size_t version_and_count[] = {0, 27, 28, 29, 30};  // framing fields
  for (size_t byte = 0; byte < next.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = next;
      bad[byte] ^= uint8_t(1 << bit);
      auto got = m.Process(bad, h.verify);
      ASSERT_FALSE(got.ok()) << "byte " << byte << " bit " << bit;
      bool framing = std::find(std::begin(version_and_count), std::end(version_and_count), byte) !=
                     std::end(version_and_count);
      if (framing) {
        EXPECT_TRUE(m.last_reject() == RekeyReject::kTruncated ||
                    m.last_reject() == RekeyReject::kMalformed)
            << "byte " << byte;
      } else {
        EXPECT_EQ(m.last_reject(), RekeyReject::kForgedSignature) << "byte " << byte;
      }
    }
  }
  EXPECT_TRUE(m.Process(next, h.verify).ok());
}

TEST_F(MemberKeysTest, WrongEvent) {
  // Another event's tree, signed by the same key service.
  Harness other(4, EventId(8));
  for (int c = 1; c <= 4; ++c) other.Join(c);
  Bytes msg = other.tree.Commit(Epoch{1, 1}, ik, h.signer, 2).value();
  MemberKeys m = Probe();
  ExpectReject(m, msg, RekeyReject::kWrongEvent);
}

TEST_F(MemberKeysTest, MalformedButSigned) {
  MemberKeys m = Probe();
  auto edit = [&](auto f) {
    Bytes b = next;
    f(b);
    return Resign(b, h.signer);
  };
  // Values.
  ExpectReject(m, edit([](Bytes& b) { b[1] = 1; }), RekeyReject::kMalformed);              // degree
  ExpectReject(m, edit([](Bytes& b) { b[1] = 17; }), RekeyReject::kMalformed);             // degree
  ExpectReject(m, edit([](Bytes& b) { b[2] = 0; }), RekeyReject::kMalformed);              // height
  ExpectReject(m, edit([](Bytes& b) { b[2] = 13; }), RekeyReject::kMalformed);             // height
  ExpectReject(m, edit([](Bytes& b) { StoreBe64(&b[3], 0); }), RekeyReject::kMalformed);   // event
  ExpectReject(m, edit([](Bytes& b) { StoreBe64(&b[19], 0); }), RekeyReject::kMalformed);  // seq
  // Entries: wrapper not a child of target, out of range, out of order.
  const size_t e0 = kRekeyHeaderSize, e1 = e0 + kRekeyEntrySize;
  ExpectReject(m, edit([&](Bytes& b) { StoreBe32(&b[e0], LoadBe32(&b[e0]) + 1); }),
               RekeyReject::kMalformed);
  ExpectReject(m, edit([&](Bytes& b) { StoreBe32(&b[e0 + 4], 0xffffff); }),
               RekeyReject::kMalformed);
  ExpectReject(
      m, edit([&](Bytes& b) { std::swap_ranges(b.begin() + e0, b.begin() + e1, b.begin() + e1); }),
      RekeyReject::kMalformed);
  ExpectReject(m, edit([&](Bytes& b) {
                 std::copy(b.begin() + e0, b.begin() + e1, b.begin() + e1);  // repeated
               }),
               RekeyReject::kMalformed);
  // Framing: version, too many entries, trailing bytes, oversize.
  ExpectReject(m, edit([](Bytes& b) { b[0] = 2; }), RekeyReject::kMalformed);
  ExpectReject(m, edit([](Bytes& b) { StoreBe32(&b[27], kMaxRekeyEntries + 1); }),
               RekeyReject::kMalformed);
  Bytes trailing = next;
  trailing.push_back(0);
  ExpectReject(m, trailing, RekeyReject::kMalformed);
  Bytes huge(kMaxRekeyMessageBytes + 1, 0);
  ExpectReject(m, huge, RekeyReject::kMalformed);
  EXPECT_TRUE(m.Process(next, h.verify).ok());
}

TEST_F(MemberKeysTest, SignedButInconsistentWithMemberState) {
  MemberKeys m = Probe();
  // A rebuilt tree for the same event (other degree, or lower height): the
  // member's path means nothing there; it must pull its keys again.
  Harness deg2(2, h.event), small(4, h.event);
  for (int c = 1; c <= 3; ++c) {
    deg2.Join(c);
    small.Join(c);
  }
  ExpectReject(m, deg2.tree.Commit(Epoch{1, 9}, ik, h.signer, 2).value(),
               RekeyReject::kNotRecoverable);
  ExpectReject(m, small.tree.Commit(Epoch{1, 9}, ik, h.signer, 2).value(),
               RekeyReject::kNotRecoverable);
  // Swapped wrapped interval key: signed, but does not unwrap.
  Bytes swapped = next;
  swapped[swapped.size() - kRekeySignatureSize - 1] ^= 1;
  ExpectReject(m, Resign(swapped, h.signer), RekeyReject::kNotRecoverable);
  // Epoch going backwards.
  Bytes back = next;
  StoreBe64(&back[11], Epoch{0, 1}.packed());
  ExpectReject(m, Resign(back, h.signer), RekeyReject::kMalformed);
  EXPECT_TRUE(m.Process(next, h.verify).ok());
}

TEST(MemberKeys, RejectNamesAreStable) {
  EXPECT_EQ(RekeyRejectName(RekeyReject::kForgedSignature), "forged_signature");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kReplay), "replay");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kTruncated), "truncated");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kWrongEvent), "wrong_event");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kMalformed), "malformed");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kMissed), "missed");
  EXPECT_EQ(RekeyRejectName(RekeyReject::kNotRecoverable), "not_recoverable");
  Harness h;
  h.Join(1);
  h.CommitAndDeliver();
  Bytes bad(3, 0);
  h.members.at(1).Process(bad, h.verify).status().ToString();
  std::string text = Metrics::Global().Render();
  EXPECT_NE(text.find("keycast_lkh_rekey_rejected_total{reason=\"truncated\"}"), std::string::npos);
}

}  // namespace
}  // namespace keycast::lkh
