#include "keycast/dataplane/sad.h"

#include <gtest/gtest.h>

#include "dataplane/sa_state.h"
#include "dataplane/test_util.h"

namespace keycast::dataplane {
namespace {

using namespace keycast::dataplane::testing;  // NOLINT

class SadTest : public ::testing::Test {
 protected:
  SecretBytes key_ = crypto::RandomSecret(32);
  SecurityAssociationDatabase sad_;
};

TEST_F(SadTest, RejectsInvalidSas) {
  struct Case {
    const char* name;
    void (*mutate)(SecurityAssociation&);
  };
  const Case cases[] = {
      {"no event", [](SecurityAssociation& sa) { sa.event = EventId(); }},
      {"zero lifetime", [](SecurityAssociation& sa) { sa.lifetime = 0; }},
      {"negative grace", [](SecurityAssociation& sa) { sa.grace = -1; }},
      {"no group", [](SecurityAssociation& sa) { sa.group = IpAddress(); }},
      {"family mix", [](SecurityAssociation& sa) { sa.source = Ip("::1"); }},
      {"bad role", [](SecurityAssociation& sa) { sa.role = Role(9); }},
      {"sender id 0",
       [](SecurityAssociation& sa) {
         sa.role = Role::kSender;
         sa.sender = {};
       }},
      {"spi 0", [](SecurityAssociation& sa) { sa.spi = Spi{0}; }},
      {"bad algorithm", [](SecurityAssociation& sa) { sa.algorithm = crypto::AeadAlgorithm(7); }},
      {"short key", [](SecurityAssociation& sa) { sa.key = SecretBytes(16); }},
      {"clear with key", [](SecurityAssociation& sa) { sa.clear = true; }},
  };
  for (const Case& c : cases) {
    SecurityAssociation sa = MakeSa(0, key_);
    c.mutate(sa);
    Status s = sad_.Install(std::move(sa));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.name << ": " << s.ToString();
  }
  EXPECT_EQ(sad_.size(), 0u);
}

// A clear SA seals nothing, so a sender needs no sender id for it (the
// agent derives the clear intervals' SAs from the ticket, before any key).
TEST_F(SadTest, ClearSenderSaNeedsNoSenderId) {
  ASSERT_TRUE(sad_.Install(MakeClearSa(0, Role::kSender, SenderId{})).ok());
  DropReason why = DropReason::kInternal;
  SaState* s = sad_.Active(kEvent, kT0 + 1, &why);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->sa.role, Role::kSender);
}

TEST_F(SadTest, SpiAndGroupMustBeUnique) {
  ASSERT_TRUE(sad_.Install(MakeSa(0, key_)).ok());
  SecurityAssociation other = MakeSa(0, key_);
  other.event = EventId(99);  // another event, same SPI and group
  EXPECT_EQ(sad_.Install(other).code(), Code::kAlreadyExists);
  other.group = Ip("239.9.9.9");  // same SPI on another group is fine
  EXPECT_TRUE(sad_.Install(other).ok());
}

TEST_F(SadTest, ActivePicksCurrentThenPreviousWithinGrace) {
  ASSERT_TRUE(sad_.Install(MakeSa(0, key_)).ok());
  ASSERT_TRUE(sad_.Install(MakeSa(1, key_)).ok());
  DropReason why = DropReason::kInternal;
  EXPECT_EQ(sad_.Active(kEvent, kT0 - 1, &why), nullptr);
  EXPECT_EQ(why, DropReason::kNoSa);  // nothing started yet
  EXPECT_EQ(sad_.Active(kEvent, kT0, &why)->sa.epoch.index, 0u);
  EXPECT_EQ(sad_.Active(kEvent, kT0 + kInterval - 1, &why)->sa.epoch.index, 0u);
  EXPECT_EQ(sad_.Active(kEvent, kT0 + kInterval, &why)->sa.epoch.index, 1u);
  // After interval 1 and without interval 2: interval 1 while within grace.
  EXPECT_EQ(sad_.Active(kEvent, kT0 + 2 * kInterval + kGrace - 1, &why)->sa.epoch.index, 1u);
  EXPECT_EQ(sad_.Active(kEvent, kT0 + 2 * kInterval + kGrace, &why), nullptr);
  EXPECT_EQ(why, DropReason::kExpiredSa);
  EXPECT_EQ(sad_.Active(EventId(12345), kT0, &why), nullptr);
  EXPECT_EQ(why, DropReason::kNoSa);
}

TEST_F(SadTest, SlotsNamePreviousCurrentNext) {
  for (uint32_t k : {0u, 1u, 2u}) ASSERT_TRUE(sad_.Install(MakeSa(k, key_)).ok());
  EventSlots s = sad_.Slots(kEvent, kT0 + kInterval + 1);
  ASSERT_TRUE(s.previous && s.current && s.next);
  EXPECT_EQ(s.previous->epoch.index, 0u);
  EXPECT_EQ(s.current->epoch.index, 1u);
  EXPECT_EQ(s.next->epoch.index, 2u);
  s = sad_.Slots(kEvent, kT0 - 1);
  EXPECT_FALSE(s.previous || s.current);
  EXPECT_EQ(s.next->epoch.index, 0u);
}

TEST_F(SadTest, FindBySpiPrefersEventAndGroup) {
  SecurityAssociation a = MakeSa(0, key_);
  SecurityAssociation b = MakeSa(0, key_);
  b.event = EventId(8);
  b.group = Ip("239.8.8.8");
  ASSERT_TRUE(sad_.Install(a).ok());
  ASSERT_TRUE(sad_.Install(b).ok());
  EXPECT_EQ(sad_.FindBySpi(a.spi, kEvent, Group())->sa.event, kEvent);
  EXPECT_EQ(sad_.FindBySpi(a.spi, EventId(8), Ip("239.8.8.8"))->sa.event, EventId(8));
  EXPECT_EQ(sad_.FindBySpi(a.spi, EventId(8), Group())->sa.event, EventId(8));
  EXPECT_EQ(sad_.FindBySpi(Spi{0xdead}, kEvent, Group()), nullptr);
}

TEST_F(SadTest, ReinstallKeepsStateReplaceResets) {
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_)).ok());
  SaState* s = sad_.FindBySpi(Spi{0x1000}, kEvent, Group());
  uint64_t seq = 0;
  ASSERT_TRUE(s->TakeSequence(&seq));
  ASSERT_TRUE(s->TakeSequence(&seq));
  EXPECT_EQ(seq, 2u);
  // Same SA again: a no-op, the counter goes on.
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_)).ok());
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group()), s);
  // A different key for the same epoch replaces it, with a fresh counter.
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, crypto::RandomSecret(32))).ok());
  SaState* r = sad_.FindBySpi(Spi{0x1000}, kEvent, Group());
  EXPECT_EQ(r->next_seq.load(), kFirstSequence);
  EXPECT_EQ(sad_.size(), 1u);
}

TEST_F(SadTest, RemoveThenReinstallResumesTheSequence) {
  // A nonce is sender || seq: re-joining within the interval with the same
  // key and sender id must not start again at 1.
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_)).ok());
  sad_.FindBySpi(Spi{0x1000}, kEvent, Group())->next_seq.store(500);
  EXPECT_EQ(sad_.Remove(kEvent), 1u);
  EXPECT_EQ(sad_.size(), 0u);
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_)).ok());
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group())->next_seq.load(), 500u);
  // A different sender id under the same key has nonces of its own.
  sad_.Remove(kEvent);
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_, /*sender=*/2)).ok());
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group())->next_seq.load(), kFirstSequence);
  // Once the SA would have expired, the memory goes too.
  sad_.Remove(kEvent);
  sad_.Expire(kT0 + kInterval + kGrace);
  ASSERT_TRUE(sad_.Install(MakeSenderSa(0, key_)).ok());
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group())->next_seq.load(), kFirstSequence);
}

TEST_F(SadTest, EvictsTheOldestBeyondFour) {
  for (uint32_t k = 0; k < 5; ++k) ASSERT_TRUE(sad_.Install(MakeSa(k, key_)).ok());
  EXPECT_EQ(sad_.size(), SecurityAssociationDatabase::kMaxSasPerEvent);
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group()), nullptr);  // interval 0 evicted
  EXPECT_NE(sad_.FindBySpi(Spi{0x1004}, kEvent, Group()), nullptr);
  // Older than everything installed: refused rather than installed and evicted.
  SecurityAssociation old = MakeSa(0, key_);
  old.epoch = Epoch{0, 0};
  old.initiation = kT0 - kInterval;
  EXPECT_EQ(sad_.Install(old).code(), Code::kFailedPrecondition);
  EXPECT_EQ(sad_.size(), SecurityAssociationDatabase::kMaxSasPerEvent);
}

TEST_F(SadTest, ExpireRemovesSasPastGrace) {
  for (uint32_t k = 0; k < 3; ++k) ASSERT_TRUE(sad_.Install(MakeSa(k, key_)).ok());
  EXPECT_EQ(sad_.Expire(kT0 + kInterval + kGrace - 1), 0u);
  EXPECT_EQ(sad_.Expire(kT0 + kInterval + kGrace), 1u);
  EXPECT_EQ(sad_.FindBySpi(Spi{0x1000}, kEvent, Group()), nullptr);
  EXPECT_EQ(sad_.Expire(kT0 + 10 * kInterval), 2u);
  EXPECT_EQ(sad_.size(), 0u);
}

TEST_F(SadTest, ClearSasAreNotIndexedBySpi) {
  ASSERT_TRUE(sad_.Install(MakeClearSa(0)).ok());
  EXPECT_EQ(sad_.size(), 1u);
  EXPECT_EQ(sad_.FindBySpi(Spi{0}, kEvent, Group()), nullptr);
  DropReason why;
  SaState* s = sad_.Active(kEvent, kT0, &why);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->sa.clear);
}

TEST(SenderWindows, TracksUpToTheLimit) {
  SenderWindows w(1024, 3);
  EXPECT_EQ(w.Find(SenderId{1}), nullptr);
  ReplayWindow* a = w.FindOrAdd(SenderId{1});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(w.FindOrAdd(SenderId{1}), a);
  EXPECT_EQ(w.Find(SenderId{1}), a);
  EXPECT_NE(w.FindOrAdd(SenderId{2}), nullptr);
  EXPECT_NE(w.FindOrAdd(SenderId{0xffffffff}), nullptr);
  EXPECT_EQ(w.FindOrAdd(SenderId{4}), nullptr);  // full
  EXPECT_EQ(w.FindOrAdd(SenderId{0}), nullptr);  // never a sender
  EXPECT_EQ(w.senders(), 3u);
}

}  // namespace
}  // namespace keycast::dataplane
