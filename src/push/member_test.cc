// PushMember: reassembly and every drop class (forged, replayed, reordered,
// truncated, ...), each counted; what makes it pull.
#include "keycast/push/member.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "keycast/codec.h"
#include "push/test_util.h"

namespace keycast::push {
namespace {

using testing::MiniService;
using testing::RejectCount;

struct Fixture {
  MiniService svc;
  std::unique_ptr<crypto::VerifyKey> vk;
  Fixture() {
    for (int c = 1; c <= 20; ++c) (void)svc.tree.Join(ClientId(c));
    svc.Commit();
    vk = std::make_unique<crypto::VerifyKey>(
        crypto::VerifyKey::FromBytes(svc.signer.public_key()).value());
  }
  PushMember Member(ClientId c, size_t max_bytes = 16u << 20) {
    PushMember::Options o;
    o.max_message_bytes = max_bytes;
    PushMember m(
        svc.event, [this](KeyVersion v) { return v.value == 1 ? vk.get() : nullptr; }, o);
    EXPECT_TRUE(m.Install(svc.Grant(c)).ok());
    return m;
  }
  // Feeds every datagram; returns the key if one came out.
  static std::optional<PushedKey> Feed(PushMember& m, const std::vector<Bytes>& ds) {
    std::optional<PushedKey> out;
    for (const Bytes& d : ds)
      if (auto k = m.OnDatagram(d)) out = std::move(k);
    return out;
  }
};

TEST(PushMember, FollowsPushesInOrderAndOutOfOrderFragments) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  EXPECT_TRUE(m.has_keys());
  EXPECT_EQ(m.last_seq(), 1u);
  // A large message: many members leave, so many fragments; shuffled.
  for (int c = 5; c <= 20; c += 2) ASSERT_TRUE(f.svc.tree.Leave(ClientId(c)).ok());
  for (int c = 100; c < 400; ++c) ASSERT_TRUE(f.svc.tree.Join(ClientId(c)).ok());
  Bytes msg = f.svc.Commit();
  auto ds = f.svc.Datagrams(msg);
  std::shuffle(ds.begin(), ds.end(), std::mt19937(1));
  auto k = Fixture::Feed(m, ds);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->seq, 2u);
  EXPECT_TRUE(k->sa.key == f.svc.interval_keys[1]);
  EXPECT_EQ(k->sa.epoch, (Epoch{0, 1}));
  EXPECT_EQ(k->sa.spi.value, 1002u);
  EXPECT_EQ(k->sa.lifetime, 60'000'000);
  EXPECT_FALSE(k->sa.clear);
  // The repeated copy is a duplicate, not a rejection.
  uint64_t rejected = m.counters().rejected;
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(msg)));
  EXPECT_EQ(m.counters().rejected, rejected);
  EXPECT_GT(m.counters().duplicates, 0u);
}

TEST(PushMember, ForgedMessageIsDroppedAndCounted) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  Bytes msg = f.svc.Commit();
  // Same content, signed by someone else.
  auto pm = ParseMessage(msg).value();
  crypto::SigningKey evil = crypto::SigningKey::Generate();
  Bytes forged = EncodeMessage(pm, evil);
  uint64_t before = RejectCount(PushReject::kForgedSignature);
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(forged)));
  EXPECT_EQ(m.last_reject(), PushReject::kForgedSignature);
  EXPECT_EQ(RejectCount(PushReject::kForgedSignature), before + 1);
  EXPECT_FALSE(m.needs_pull());  // a forgery does not disturb the state
  // One flipped bit in a fragment's payload: also a forgery.
  auto ds = f.svc.Datagrams(msg);
  ds[0][kDatagramHeaderSize + 30] ^= 1;
  EXPECT_FALSE(Fixture::Feed(m, ds));
  EXPECT_EQ(m.last_reject(), PushReject::kForgedSignature);
  // The genuine one still works afterwards.
  EXPECT_TRUE(Fixture::Feed(m, f.svc.Datagrams(msg)));
}

TEST(PushMember, ReplayedMessageIsDroppedAndCounted) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  Bytes m2 = f.svc.Commit();
  Bytes m3 = f.svc.Commit();
  ASSERT_TRUE(Fixture::Feed(m, f.svc.Datagrams(m2)));
  ASSERT_TRUE(Fixture::Feed(m, f.svc.Datagrams(m3)));
  uint64_t before = RejectCount(PushReject::kReplay);
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(m2)));
  EXPECT_EQ(m.last_reject(), PushReject::kReplay);
  EXPECT_GT(RejectCount(PushReject::kReplay), before);
  EXPECT_EQ(m.last_seq(), 3u);
}

TEST(PushMember, ReorderedMessagesMakeItPullUnlessTheGapFills) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  Bytes m2 = f.svc.Commit();
  Bytes m3 = f.svc.Commit();
  uint64_t before = RejectCount(PushReject::kMissed);
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(m3)));  // before m2: a gap
  EXPECT_EQ(m.last_reject(), PushReject::kMissed);
  EXPECT_EQ(RejectCount(PushReject::kMissed), before + 1);
  EXPECT_TRUE(m.needs_pull());
  // m2 still arrives (its repeat), then m3's repeat: caught up.
  EXPECT_TRUE(Fixture::Feed(m, f.svc.Datagrams(m2)));
  auto k = Fixture::Feed(m, f.svc.Datagrams(m3));
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->sa.key == f.svc.interval_keys[2]);
  // A fresh grant (the pull's reply) clears the flag.
  EXPECT_TRUE(m.Install(f.svc.Grant(ClientId(3))).ok());
  EXPECT_FALSE(m.needs_pull());
}

TEST(PushMember, MissedPushResyncsFromAPulledGrant) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  f.svc.Commit();             // seq 2: lost
  Bytes m3 = f.svc.Commit();  // seq 3
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(m3)));
  EXPECT_TRUE(m.needs_pull());
  ASSERT_TRUE(m.Install(f.svc.Grant(ClientId(3))).ok());  // path keys as of seq 3
  EXPECT_EQ(m.last_seq(), 3u);
  auto k = Fixture::Feed(m, f.svc.Datagrams(f.svc.Commit()));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->seq, 4u);
}

TEST(PushMember, TruncatedInputIsDroppedAndCounted) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  ASSERT_TRUE(f.svc.tree.Leave(ClientId(9)).ok());  // a message with entries
  Bytes msg = f.svc.Commit();
  auto ds = f.svc.Datagrams(msg);
  uint64_t before = RejectCount(PushReject::kTruncated);
  Bytes header_only(ds[0].begin(), ds[0].begin() + 20);
  EXPECT_FALSE(m.OnDatagram(header_only));
  EXPECT_EQ(m.last_reject(), PushReject::kTruncated);
  Bytes short_payload(ds[0].begin(), ds[0].end() - 1);
  EXPECT_FALSE(m.OnDatagram(short_payload));
  EXPECT_EQ(m.last_reject(), PushReject::kTruncated);
  // A message cut short but re-framed as complete: the signature part is gone.
  Bytes cut(msg.begin(), msg.end() - 10);
  auto pm = ParseMessage(msg).value();
  EXPECT_FALSE(Fixture::Feed(m, Fragmentize(cut, f.svc.event, pm.tree_id, pm.seq)));
  EXPECT_EQ(m.last_reject(), PushReject::kTruncated);
  EXPECT_EQ(RejectCount(PushReject::kTruncated), before + 3);
  EXPECT_TRUE(Fixture::Feed(m, ds));
}

TEST(PushMember, MalformedUnknownKeyStaleTreeWrongEventTooLarge) {
  Fixture f;
  PushMember m = f.Member(ClientId(3));
  Bytes msg = f.svc.Commit();
  auto pm = ParseMessage(msg).value();
  auto ds = f.svc.Datagrams(msg);
  Bytes bad_magic = ds[0];
  bad_magic[0] = 'X';
  EXPECT_FALSE(m.OnDatagram(bad_magic));
  EXPECT_EQ(m.last_reject(), PushReject::kMalformed);

  PushMessage other = pm;
  other.key_version = KeyVersion{7};
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(EncodeMessage(other, f.svc.signer))));
  EXPECT_EQ(m.last_reject(), PushReject::kUnknownKey);

  other = pm;
  other.tree_id = 77;  // the key service restarted with a new tree
  EXPECT_FALSE(
      Fixture::Feed(m, Fragmentize(EncodeMessage(other, f.svc.signer), f.svc.event, 77, pm.seq)));
  EXPECT_EQ(m.last_reject(), PushReject::kStaleTree);
  EXPECT_TRUE(m.needs_pull());  // its state is unchanged: it still follows this tree

  // Header fields that disagree with the rekey message inside.
  other = pm;
  other.event = EventId(10);
  Bytes mixed = EncodeMessage(other, f.svc.signer);
  EXPECT_FALSE(Fixture::Feed(m, Fragmentize(mixed, f.svc.event, pm.tree_id, pm.seq)));
  EXPECT_EQ(m.last_reject(), PushReject::kMalformed);

  // Framed for this event, signed for another (same key service).
  MiniService elsewhere(EventId(10));
  elsewhere.signer = crypto::SigningKey::FromSeed(f.svc.signer.seed()).value();
  (void)elsewhere.tree.Join(ClientId(1));
  elsewhere.Commit();
  Bytes wrong = elsewhere.Commit();
  EXPECT_FALSE(Fixture::Feed(m, Fragmentize(wrong, f.svc.event, elsewhere.tree_id, 2)));
  EXPECT_EQ(m.last_reject(), PushReject::kWrongEvent);

  // Another event's datagrams on a shared group are ignored, not counted.
  uint64_t rejected = m.counters().rejected;
  EXPECT_FALSE(Fixture::Feed(m, Fragmentize(msg, EventId(10), pm.tree_id, pm.seq)));
  EXPECT_EQ(m.counters().rejected, rejected);

  EXPECT_TRUE(Fixture::Feed(m, ds));

  PushMember small = f.Member(ClientId(4), 100);
  EXPECT_FALSE(Fixture::Feed(small, f.svc.Datagrams(f.svc.Commit())));
  EXPECT_EQ(small.last_reject(), PushReject::kTooLarge);
}

TEST(PushMember, RemovedMemberCannotFollow) {
  Fixture f;
  PushMember gone = f.Member(ClientId(3));
  PushMember stays = f.Member(ClientId(4));
  ASSERT_TRUE(f.svc.tree.Leave(ClientId(3)).ok());
  Bytes msg = f.svc.Commit();
  uint64_t before = RejectCount(PushReject::kNotRecoverable);
  EXPECT_FALSE(Fixture::Feed(gone, f.svc.Datagrams(msg)));
  EXPECT_EQ(gone.last_reject(), PushReject::kNotRecoverable);
  EXPECT_TRUE(gone.needs_pull());
  EXPECT_EQ(RejectCount(PushReject::kNotRecoverable), before + 1);
  EXPECT_TRUE(Fixture::Feed(stays, f.svc.Datagrams(msg)));
}

TEST(PushMember, PendingMemberIgnoresPushes) {
  Fixture f;
  PushMember m(f.svc.event, [&](KeyVersion) { return f.vk.get(); });
  PushGrant g = f.svc.Grant(ClientId(3));
  g.state = GrantState::kPending;
  g.member_init = SecretBytes();
  EXPECT_TRUE(m.Install(g).ok());
  EXPECT_FALSE(m.has_keys());
  EXPECT_FALSE(Fixture::Feed(m, f.svc.Datagrams(f.svc.Commit())));
  EXPECT_EQ(m.counters().rejected, 0u);
}

}  // namespace
}  // namespace keycast::push

namespace keycast::push {
namespace {

// Writes the seed corpus of push_fuzz when KEYCAST_WRITE_PUSH_CORPUS names
// a folder (src/push/corpus/push_fuzz); otherwise does nothing.
TEST(PushFuzzCorpus, Write) {
  const char* dir = std::getenv("KEYCAST_WRITE_PUSH_CORPUS");
  if (!dir) GTEST_SKIP() << "set KEYCAST_WRITE_PUSH_CORPUS to write the corpus";
  SecretBytes seed(32);
  for (auto& b : seed.reveal_mutable()) b = 0x42;  // the fuzzer's key
  testing::MiniService svc(EventId(1));
  svc.signer = crypto::SigningKey::FromSeed(seed).value();
  svc.tree_id = 1;
  auto write = [&](const std::string& name, uint8_t mode, const Bytes& body) {
    Bytes b = {mode};
    b.insert(b.end(), body.begin(), body.end());
    FILE* f = std::fopen((std::string(dir) + "/" + name).c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  };
  for (int c = 1; c <= 8; ++c) (void)svc.tree.Join(ClientId(c));
  svc.Commit();                // seq 1
  Bytes small = svc.Commit();  // seq 2, no entries: one datagram
  write("one_datagram", 0, svc.Datagrams(small)[0]);
  write("message_resign", 6, small);
  for (int c = 100; c < 160; ++c) (void)svc.tree.Join(ClientId(c));
  (void)svc.tree.Leave(ClientId(2));
  Bytes big = svc.Commit();  // seq 3, several datagrams
  Bytes seq;
  Writer w(&seq);
  for (const Bytes& d : svc.Datagrams(big)) w.Opaque16(d);
  write("datagrams", 1, seq);
  write("message_batch", 6, big);
  PushGrant g = svc.Grant(ClientId(1));
  SecretBytes ge = g.Encode();
  write("grant_admitted", 3, Bytes(ge.reveal().begin(), ge.reveal().end()));
  g.state = GrantState::kPending;
  g.member_init = SecretBytes();
  SecretBytes gp = g.Encode();
  write("grant_pending", 3, Bytes(gp.reveal().begin(), gp.reveal().end()));
}

}  // namespace
}  // namespace keycast::push
