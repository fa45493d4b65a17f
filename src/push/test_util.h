// Test helpers for the push tests (not part of the library).
#pragma once

#include <gtest/gtest.h>

#include "keycast/crypto.h"
#include "keycast/lkh.h"
#include "keycast/metrics.h"
#include "keycast/push/format.h"
#include "keycast/push/member.h"
#include "lkh/rekey_message.h"
#include "lkh/wrap.h"

namespace keycast::push::testing {

inline uint64_t RejectCount(PushReject r) {
  return Metrics::Global()
      .GetCounter("keycast_push_rejected_total",
                  "Push datagrams or messages dropped by a member, by reason.",
                  "reason=\"" + std::string(PushRejectName(r)) + "\"")
      .value();
}

// True if any of `keys` unwraps any wrapped key of the push message: the
// strongest form of "learns nothing from it" (every slot, every key).
inline bool AnyKeyUnwrapsAnything(ByteView push_message, const std::vector<SecretBytes>& keys) {
  auto pm = ParseMessage(push_message);
  EXPECT_TRUE(pm.ok());
  if (!pm.ok()) return false;
  lkh::RekeyReject reason;
  auto m = lkh::internal::ParseRekeyFraming(pm->rekey, &reason);
  EXPECT_TRUE(m.ok());
  lkh::internal::KeyWrapper w;
  uint8_t out[lkh::kNodeKeySize];
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

inline uint32_t EntryCount(ByteView push_message) {
  auto pm = ParseMessage(push_message);
  lkh::RekeyReject reason;
  return lkh::internal::ParseRekeyFraming(pm->rekey, &reason)->entry_count;
}

// A minimal key service side: one tree, one signer, messages as datagrams.
struct MiniService {
  explicit MiniService(EventId ev = EventId(9))
      : event(ev), tree(lkh::KeyTree::Create(ev).value()) {}
  EventId event;
  lkh::KeyTree tree;
  crypto::SigningKey signer = crypto::SigningKey::Generate();
  uint64_t tree_id = 0x1234;
  Epoch epoch{0, 0};
  std::vector<SecretBytes> interval_keys;  // [seq - 1]
  std::vector<Bytes> messages;             // [seq - 1]

  // Commits the next epoch; returns the push message.
  Bytes Commit() {
    SecretBytes key = crypto::RandomSecret(32);
    uint64_t seq = tree.last_seq() + 1;
    Bytes rekey = tree.Commit(epoch, key, signer, seq).value();
    PushMessage m;
    m.event = event;
    m.tree_id = tree_id;
    m.seq = seq;
    m.epoch = epoch;
    m.key_version = KeyVersion{1};
    m.spi = Spi{1000 + static_cast<uint32_t>(seq)};
    m.initiation = 1'000'000;
    m.lifetime = 60'000'000;
    m.grace = 2'000'000;
    m.rekey = rekey;
    Bytes out = EncodeMessage(m, signer);
    epoch.index++;
    interval_keys.push_back(std::move(key));
    messages.push_back(out);
    return out;
  }
  std::vector<Bytes> Datagrams(const Bytes& message) const {
    auto pm = ParseMessage(message).value();
    return Fragmentize(message, event, pm.tree_id, pm.seq);
  }
  PushGrant Grant(ClientId c) const {
    PushGrant g;
    g.state = GrantState::kAdmitted;
    g.control_group = *IpAddress::Parse("239.1.1.1");
    g.control_port = 5001;
    g.lead_ms = 1000;
    g.member_until = 1;
    g.tree_id = tree_id;
    g.member_init = tree.PathKeysFor(c).value().Encode();
    return g;
  }
};

}  // namespace keycast::push::testing
