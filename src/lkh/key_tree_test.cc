#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "keycast/lkh.h"
#include "lkh/rekey_message.h"
#include "lkh/test_util.h"
#include "lkh/wrap.h"

namespace keycast::lkh {
namespace {

using testing::Harness;

// Counts the keys a message wraps and whether any of `keys` unwraps any of
// them (node entries or the interval key), trying every key in every slot.
bool AnyKeyUnwrapsAnything(const Bytes& msg, const std::vector<SecretBytes>& keys) {
  RekeyReject reason;
  auto m = internal::ParseRekeyFraming(msg, &reason);
  EXPECT_TRUE(m.ok());
  internal::KeyWrapper w;
  uint8_t out[kNodeKeySize];
  for (const SecretBytes& k : keys) {
    for (uint32_t i = 0; i < m->entry_count; ++i) {
      auto e = m->entry(i);
      if (w.UnwrapNodeKey(k.reveal(), {m->event, m->seq, e.target, e.wrapper}, e.wrapped, out))
        return true;
    }
    if (w.UnwrapIntervalKey(k.reveal(), m->event, m->seq, m->epoch, m->wrapped_interval_key, out))
      return true;
  }
  return false;
}

uint32_t EntryCount(const Bytes& msg) {
  RekeyReject reason;
  return internal::ParseRekeyFraming(msg, &reason)->entry_count;
}

TEST(KeyTree, CreateChecksArguments) {
  EXPECT_EQ(KeyTree::Create(EventId(0)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(KeyTree::Create(EventId(1), 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(KeyTree::Create(EventId(1), 17).status().code(), Code::kInvalidArgument);
  auto t = KeyTree::Create(EventId(1));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->degree(), kDefaultDegree);
  EXPECT_EQ(t->height(), 1u);
}

TEST(KeyTree, MembershipErrors) {
  Harness h;
  auto ref = h.tree.Join(ClientId(1));
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(h.tree.Join(ClientId(1)).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(h.tree.Join(ClientId(0)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h.tree.Leave(ClientId(2)).code(), Code::kNotFound);
  // Not admitted yet: nothing secret to hand out.
  EXPECT_EQ(h.tree.PathKeysFor(ClientId(1)).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(h.tree.PathKeysFor(ClientId(2)).status().code(), Code::kNotFound);
  // A stale ref (client left and rejoined) does not remove the new membership.
  ASSERT_TRUE(h.tree.Leave(*ref).ok());
  auto ref2 = h.tree.Join(ClientId(1));
  ASSERT_TRUE(ref2.ok());
  EXPECT_NE(ref2->serial, ref->serial);
  EXPECT_EQ(h.tree.Leave(*ref).code(), Code::kNotFound);
  EXPECT_EQ(h.tree.member_count(), 1u);
}

TEST(KeyTree, CommitChecksArgumentsAndLeavesTreeUnchanged) {
  Harness h;
  for (int c = 1; c <= 10; ++c) h.Join(c);
  h.CommitAndDeliver();
  h.Leave(3);
  SecretBytes ik = crypto::RandomSecret(kIntervalKeySize);
  Epoch next{1, 5};
  EXPECT_EQ(h.tree.Commit(next, ik, h.signer, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h.tree.Commit(next, ik, h.signer, 3).status().code(), Code::kInvalidArgument);  // gap
  EXPECT_EQ(h.tree.Commit(next, ik, h.signer, 1).status().code(), Code::kInvalidArgument);  // old
  EXPECT_EQ(h.tree.Commit(Epoch{0, 9}, ik, h.signer, 2).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h.tree.Commit(next, crypto::RandomSecret(16), h.signer, 2).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(h.tree.has_pending_changes());
  EXPECT_EQ(h.tree.last_seq(), 1u);
  h.CommitAndDeliver();  // the failed attempts changed nothing: all members still follow
  EXPECT_FALSE(h.tree.has_pending_changes());
}

TEST(KeyTree, OneRemovalCostsLogarithmicWraps) {
  // Full tree of degree 4, height 3: a removal refreshes 3 nodes, wrapping
  // under 3 siblings at the bottom and 4 children at each level above.
  Harness h(4);
  for (int c = 1; c <= 64; ++c) h.Join(c);
  h.CommitAndDeliver();
  ASSERT_EQ(h.tree.height(), 3u);
  h.Leave(17);
  std::set<int64_t> gone = {17};
  Bytes msg = h.CommitAndDeliver(&gone);
  EXPECT_EQ(EntryCount(msg), 3u + 4u + 4u);
  EXPECT_EQ(msg.size(), kMinRekeyMessageBytes + 11 * kRekeyEntrySize);
  // No change: no node wraps, only the interval key under the root.
  Bytes quiet = h.CommitAndDeliver();
  EXPECT_EQ(quiet.size(), kMinRekeyMessageBytes);
}

TEST(KeyTree, RemovedMemberCannotRecoverWithAnyOldKey) {
  Harness h(4);
  for (int c = 1; c <= 200; ++c) h.Join(c);
  h.CommitAndDeliver();
  auto init = h.tree.PathKeysFor(ClientId(42));
  ASSERT_TRUE(init.ok());
  std::vector<SecretBytes> old_keys = init->path_keys;
  h.Leave(42);
  std::set<int64_t> gone = {42};
  Bytes msg = h.CommitAndDeliver(&gone);  // its MemberKeys: not_recoverable
  EXPECT_FALSE(AnyKeyUnwrapsAnything(msg, old_keys));
  // Nor from any later push.
  for (int i = 0; i < 3; ++i) {
    h.Leave(100 + i);
    h.Join(1000 + i);
    EXPECT_FALSE(AnyKeyUnwrapsAnything(h.CommitAndDeliver(), old_keys));
  }
}

TEST(KeyTree, RemovingALoneMemberOfASubtree) {
  // Leaf 8 is alone under its parent: nothing may be wrapped under the
  // parent's old key, which the leaver knows.
  Harness h(4);
  for (int c = 1; c <= 9; ++c) h.Join(c);
  h.CommitAndDeliver();
  auto old = h.tree.PathKeysFor(ClientId(9))->path_keys;
  h.Leave(9);
  std::set<int64_t> gone = {9};
  Bytes msg = h.CommitAndDeliver(&gone);
  EXPECT_FALSE(AnyKeyUnwrapsAnything(msg, old));
}

TEST(KeyTree, JoinerLearnsNoEarlierKey) {
  Harness h(4);
  for (int c = 1; c <= 50; ++c) h.Join(c);
  h.CommitAndDeliver();
  for (int i = 0; i < 3; ++i) {
    h.Leave(10 + i);
    h.CommitAndDeliver();
  }
  // Keys every member held before the join: none may reappear.
  std::vector<SecretBytes> before;
  for (int c = 1; c <= 50; ++c)
    if (auto init = h.tree.PathKeysFor(ClientId(c)); init.ok())
      for (auto& k : init->path_keys) before.push_back(k);
  size_t earlier = h.messages.size();
  h.Join(500);  // takes a leaf freed by a leaver: its old path is refreshed too
  h.CommitAndDeliver();
  auto init = h.tree.PathKeysFor(ClientId(500));
  ASSERT_TRUE(init.ok());
  for (const SecretBytes& k : init->path_keys)
    for (const SecretBytes& b : before) EXPECT_FALSE(k == b);
  for (size_t i = 0; i < earlier; ++i)
    EXPECT_FALSE(AnyKeyUnwrapsAnything(h.messages[i], init->path_keys)) << "message " << i + 1;
  // It does follow the pushes from the next one on.
  h.Leave(1);
  std::set<int64_t> gone = {1};
  h.CommitAndDeliver(&gone);
  EXPECT_TRUE(h.members.count(500));
}

TEST(KeyTree, BatchOfLeavesAndJoinsInOneMessage) {
  Harness h(4);
  for (int c = 1; c <= 100; ++c) h.Join(c);
  h.CommitAndDeliver();
  std::set<int64_t> gone = {3, 4, 27, 60, 61, 99};
  for (int64_t c : gone) h.Leave(c);
  for (int c = 200; c < 207; ++c) h.Join(c);
  h.Join(300);
  h.Leave(300);  // joined and left in one interval: never admitted
  size_t before = h.messages.size();
  h.CommitAndDeliver(&gone);
  EXPECT_EQ(h.messages.size(), before + 1);
  EXPECT_EQ(h.tree.member_count(), 100u - 6u + 7u);
  EXPECT_EQ(h.tree.PathKeysFor(ClientId(300)).status().code(), Code::kNotFound);
  for (int c = 200; c < 207; ++c) EXPECT_TRUE(h.members.count(c));
  h.CommitAndDeliver();  // the joiners follow the next push
}

TEST(KeyTree, FreedLeavesAreReused) {
  Harness h(4);
  for (int c = 1; c <= 16; ++c) h.Join(c);
  h.CommitAndDeliver();
  std::set<uint32_t> freed;
  for (int c = 1; c <= 4; ++c) {
    freed.insert(h.members.at(c).leaf());
    h.Leave(c);
  }
  h.CommitAndDeliver();
  for (int c = 101; c <= 104; ++c) h.Join(c);
  h.CommitAndDeliver();
  EXPECT_EQ(h.tree.height(), 2u);  // full at 16 leaves, and did not grow
  for (int c = 101; c <= 104; ++c) EXPECT_TRUE(freed.count(h.members.at(c).leaf()));
}

TEST(KeyTree, GrowsPastCapacity) {
  Harness h(2);
  h.Join(1);
  h.Join(2);
  h.CommitAndDeliver();
  EXPECT_EQ(h.tree.height(), 1u);
  h.Join(3);  // one level
  h.CommitAndDeliver();
  EXPECT_EQ(h.tree.height(), 2u);
  for (int c = 4; c <= 20; ++c) h.Join(c);  // three levels in one commit
  h.Leave(2);
  std::set<int64_t> gone = {2};
  h.CommitAndDeliver(&gone);
  EXPECT_EQ(h.tree.height(), 5u);
  for (auto& [c, m] : h.members) EXPECT_EQ(m.height(), 5u);
  h.CommitAndDeliver();
}

TEST(KeyTree, EmptyTreeCommits) {
  Harness h(4);
  h.CommitAndDeliver();
  h.Join(1);
  h.CommitAndDeliver();
  h.Leave(1);
  h.CommitAndDeliver();
  EXPECT_EQ(h.tree.member_count(), 0u);
  h.Join(2);
  h.CommitAndDeliver();
  h.CommitAndDeliver();
}

TEST(KeyTree, PathKeysRoundTripThroughTheUnicastBundle) {
  Harness h(3);
  for (int c = 1; c <= 30; ++c) h.Join(c);
  h.CommitAndDeliver();
  auto init = h.tree.PathKeysFor(ClientId(17));
  ASSERT_TRUE(init.ok());
  SecretBytes enc = init->Encode();
  EXPECT_LE(enc.size(), kMaxMemberInitBytes);
  auto back = MemberKeysInit::Decode(enc.reveal());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->leaf, init->leaf);
  EXPECT_EQ(back->seq, init->seq);
  ASSERT_EQ(back->path_keys.size(), init->path_keys.size());
  for (size_t i = 0; i < init->path_keys.size(); ++i)
    EXPECT_TRUE(back->path_keys[i] == init->path_keys[i]);
  auto m = MemberKeys::FromInit(*back);
  ASSERT_TRUE(m.ok());
  h.members.insert_or_assign(17, std::move(*m));
  h.CommitAndDeliver();
}

// Random churn over many commits: after every commit every member recovers
// the interval key and every member removed by it cannot.
class KeyTreeChurn : public ::testing::TestWithParam<unsigned> {};

TEST_P(KeyTreeChurn, EveryRemainingMemberRecoversEveryRemovedOneCannot) {
  const unsigned degree = GetParam();
  Harness h(degree);
  std::mt19937_64 rng(degree * 7919);
  int64_t next_client = 1;
  for (int i = 0; i < 300; ++i) h.Join(next_client++);
  h.CommitAndDeliver();
  for (int round = 0; round < 8; ++round) {
    std::set<int64_t> gone;
    std::vector<int64_t> current;
    for (auto& [c, m] : h.members) current.push_back(c);
    int leaves = static_cast<int>(rng() % 25);
    for (int i = 0; i < leaves && !current.empty(); ++i) {
      size_t k = rng() % current.size();
      gone.insert(current[k]);
      current.erase(current.begin() + static_cast<long>(k));
    }
    for (int64_t c : gone) h.Leave(c);
    int joins = static_cast<int>(rng() % 30);
    for (int i = 0; i < joins; ++i) h.Join(next_client++);
    h.CommitAndDeliver(&gone);
    EXPECT_EQ(h.tree.member_count(), h.members.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Degrees, KeyTreeChurn, ::testing::Values(2u, 3u, 4u, 16u));

TEST(KeyTree, MemoryPerMemberIsCompact) {
  auto tree = KeyTree::Create(EventId(1), 4);
  ASSERT_TRUE(tree.ok());
  const int n = 100000;
  for (int c = 1; c <= n; ++c) ASSERT_TRUE(tree->Join(ClientId(c)).ok());
  auto signer = crypto::SigningKey::Generate();
  ASSERT_TRUE(tree->Commit(Epoch{1, 1}, crypto::RandomSecret(32), signer, 1).ok());
  double per_member = static_cast<double>(tree->MemoryBytes()) / n;
  EXPECT_LT(per_member, 100.0);
}

}  // namespace
}  // namespace keycast::lkh
