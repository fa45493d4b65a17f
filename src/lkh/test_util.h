// Test harness for the LKH tests (not part of the library): a key tree, the
// key service's signing key, and every member's MemberKeys, kept in sync the
// way the key service and its members would be.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "keycast/crypto.h"
#include "keycast/lkh.h"
#include "keycast/metrics.h"

namespace keycast::lkh::testing {

inline uint64_t RejectCount(RekeyReject r) {
  return Metrics::Global()
      .GetCounter("keycast_lkh_rekey_rejected_total",
                  "LKH rekey messages dropped by a member, by reason.",
                  "reason=\"" + std::string(RekeyRejectName(r)) + "\"")
      .value();
}

struct Harness {
  explicit Harness(unsigned degree = kDefaultDegree, EventId ev = EventId(7))
      : event(ev), tree(KeyTree::Create(ev, degree).value()) {}

  EventId event;
  crypto::SigningKey signer = crypto::SigningKey::Generate();
  crypto::VerifyKey verify = crypto::VerifyKey::FromBytes(signer.public_key()).value();
  KeyTree tree;
  std::map<int64_t, MemberKeys> members;  // admitted, following the pushes
  std::map<int64_t, MemberKeys> removed;  // state as of their removal
  std::set<int64_t> joining;              // joined since the last commit
  uint64_t seq = 0;
  Epoch epoch{1, 0};
  std::vector<Bytes> messages;             // messages[i] has seq i + 1
  std::vector<SecretBytes> interval_keys;  // interval_keys[i] pushed by messages[i]

  void Join(int64_t c) {
    ASSERT_TRUE(tree.Join(ClientId(c)).ok());
    joining.insert(c);
  }
  void Leave(int64_t c) {
    ASSERT_TRUE(tree.Leave(ClientId(c)).ok());
    if (auto it = members.find(c); it != members.end()) {
      removed.insert_or_assign(c, std::move(it->second));
      members.erase(it);
    }
    joining.erase(c);
  }

  // Commits, checks that every member that stays recovers the interval key
  // and that every member removed in this commit cannot, then gives the
  // joiners their keys over "unicast".
  Bytes CommitAndDeliver(std::set<int64_t>* just_removed = nullptr) {
    SecretBytes ik = crypto::RandomSecret(kIntervalKeySize);
    ++seq;
    epoch.index++;
    auto msg = tree.Commit(epoch, ik, signer, seq);
    EXPECT_TRUE(msg.ok()) << msg.status().ToString();
    if (!msg.ok()) return {};
    messages.push_back(*msg);
    interval_keys.push_back(ik);
    for (auto& [c, m] : members) {
      auto got = m.Process(*msg, verify);
      EXPECT_TRUE(got.ok()) << "client " << c << ": " << got.status().ToString();
      if (got.ok()) {
        EXPECT_TRUE(*got == ik) << "client " << c;
      }
    }
    if (just_removed) {
      for (int64_t c : *just_removed) {
        MemberKeys& m = removed.at(c);
        auto got = m.Process(*msg, verify);
        EXPECT_FALSE(got.ok()) << "removed client " << c << " recovered the interval key";
        EXPECT_EQ(m.last_reject(), RekeyReject::kNotRecoverable) << "client " << c;
      }
    }
    for (int64_t c : joining) {
      auto init = tree.PathKeysFor(ClientId(c));
      EXPECT_TRUE(init.ok()) << init.status().ToString();
      if (!init.ok()) continue;
      EXPECT_EQ(init->seq, seq);
      members.insert_or_assign(c, MemberKeys::FromInit(*init).value());
    }
    joining.clear();
    CheckSameRoot();
    return *msg;
  }

  void CheckSameRoot() {
    const SecretBytes* root = nullptr;
    for (auto& [c, m] : members) {
      EXPECT_EQ(m.height(), tree.height());
      if (!root) {
        root = &m.path_keys().back();
      } else {
        EXPECT_TRUE(m.path_keys().back() == *root) << "client " << c;
      }
    }
  }
};

}  // namespace keycast::lkh::testing
