// Logical key hierarchy (LKH) for multicast rekeying with batch commits.
//
// The key service keeps one KeyTree per event: a balanced tree of degree d
// whose leaves are the members and whose every node holds a random 32-byte
// key; a member knows exactly the keys on its leaf-to-root path, and the root
// key is the group key-encryption key. Joins and leaves during an interval
// only mark paths dirty; Commit at the interval boundary refreshes every dirty
// node once and emits ONE signed rekey message that wraps each new key under
// the keys of its children and the next interval key under the new root.
// (RFC 2627; Wong, Gouda, Lam, "Secure group communications using key
// graphs"; Li, Yang, Gouda, Lam, "Batch rekeying for secure group
// communications".) docs/lkh.md has the design and the wire grammar.
//
// Security properties:
//  - Forward secrecy: a member removed by Leave learns nothing from the
//    message of the commit that removes it, nor from any later one: every key
//    it held is replaced and never used to wrap anything again.
//  - Backward secrecy: a member admitted by a commit learns no key used
//    before that commit: its path keys are fresh at that commit and it gets
//    them over the unicast key exchange (PathKeysFor), not from the push.
//  - Authenticity: members accept only messages signed by the key service
//    (Ed25519), for their event, in sequence order.
//
// Thread safety: KeyTree and MemberKeys are not safe for concurrent use;
// callers serialise access (the key service holds one lock per event).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/lkh/format.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::lkh {

// One membership of a client in a tree. serial numbers the joins of a tree
// (1, 2, ...), so a ref from an earlier membership of the same client is
// recognised as stale.
struct MemberRef {
  ClientId client;
  uint64_t serial = 0;
  bool operator==(const MemberRef&) const = default;
};

// What a member needs to follow the rekey messages of an event: its leaf and
// its path keys as of rekey message `seq`. Delivered inside the unicast key
// reply (which is encrypted for the member), never in the clear.
struct MemberKeysInit {
  EventId event;
  uint8_t degree = 0;
  uint8_t height = 0;                  // levels above the leaves
  uint32_t leaf = 0;                   // leaf position, 0-based from the left
  uint64_t seq = 0;                    // the keys reflect rekey message `seq` (>= 1)
  Epoch epoch;                         // epoch of that message
  std::vector<SecretBytes> path_keys;  // [0] = leaf key ... [height] = root key

  // Encoded form (docs/lkh.md "Member key bundle"), at most
  // kMaxMemberInitBytes. SecretBytes because it carries the path keys.
  // REQUIRES: a bundle returned by KeyTree::PathKeysFor or Decode.
  SecretBytes Encode() const;
  // Rejects with a reason: truncation, trailing bytes, unknown version, bad
  // degree/height/leaf, key count != height + 1.
  static Result<MemberKeysInit> Decode(ByteView in);
  // The checks of Decode on a bundle built in memory.
  Status Validate() const;
};

// Server side. One per event. About 75 bytes per member at degree 4 and
// 1,000,000 members (flat per-level key arrays, see docs/lkh.md).
class KeyTree {
 public:
  // REQUIRES nothing; fails on an invalid event id or a degree outside
  // [kMinDegree, kMaxDegree].
  static Result<KeyTree> Create(EventId event, unsigned degree = kDefaultDegree);

  KeyTree(KeyTree&&) noexcept;
  KeyTree& operator=(KeyTree&&) noexcept;
  ~KeyTree();

  // Adds client at a free leaf (reusing leaves freed by earlier commits, else
  // growing the tree by a level when full). Nothing secret is issued: the
  // member is admitted by the next Commit, after which PathKeysFor serves
  // its keys. Fails if the client is already a member or pending, or if the
  // tree holds kMaxLeaves leaves.
  Result<MemberRef> Join(ClientId client);

  // Removes a member (admitted or pending). Its keys stop working at the next
  // Commit. The ref form fails on a stale ref (the client left and rejoined).
  Status Leave(ClientId client);
  Status Leave(const MemberRef& member);

  // Closes the interval: refreshes every node on a path touched by Join or
  // Leave since the last commit, wraps the new keys and interval_key, and
  // returns the signed rekey message for epoch. Also called with no pending
  // change, to push the next interval key under the unchanged root.
  // REQUIRES: interval_key.size() == kIntervalKeySize; seq == last_seq() + 1
  // (any seq >= 1 for the first commit); epoch >= the last committed epoch.
  // On failure (bad argument, more than kMaxRekeyEntries keys) the tree is
  // unchanged.
  Result<Bytes> Commit(Epoch epoch, const SecretBytes& interval_key,
                       const crypto::SigningKey& signer, uint64_t seq);

  // The current (last committed) path keys of an admitted member, for the
  // unicast key reply. Fails for a non-member and for a member that joined
  // after the last commit.
  Result<MemberKeysInit> PathKeysFor(ClientId client) const;

  EventId event() const;
  unsigned degree() const;
  unsigned height() const;      // as of the last commit
  size_t member_count() const;  // admitted + pending joins - pending leaves
  bool has_pending_changes() const;
  uint64_t last_seq() const;  // 0 before the first commit
  // Bytes held by the tree's structures (capacity, not size).
  size_t MemoryBytes() const;

 private:
  struct Impl;
  explicit KeyTree(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Why MemberKeys::Process dropped a message; also the `reason` label of the
// counter keycast_lkh_rekey_rejected_total.
enum class RekeyReject : uint8_t {
  kNone = 0,
  kTruncated,        // input ends before the fields its header announces
  kMalformed,        // bad version, field value, node id, order, trailing bytes
  kForgedSignature,  // Ed25519 signature does not verify
  kWrongEvent,       // signed for another event
  kReplay,           // seq <= last accepted seq (repeated or reordered)
  kMissed,           // seq gap: a message was missed; pull keys over unicast
  kNotRecoverable,   // removed, or state out of sync; pull keys over unicast
};
std::string_view RekeyRejectName(RekeyReject r);

// Member side: one member's path keys for one event.
class MemberKeys {
 public:
  static Result<MemberKeys> FromInit(const MemberKeysInit& init);

  // Gather -> check -> issue for one rekey message: framing, then the key
  // service's signature, then event, sequence (replay and gap), then unwraps
  // bottom-up what this member's path allows. On success updates the path
  // keys and returns the interval key of message epoch. On failure the state
  // is unchanged, last_reject() says why, and the drop is counted.
  Result<SecretBytes> Process(ByteView message, const crypto::VerifyKey& service_key);

  RekeyReject last_reject() const { return last_reject_; }
  EventId event() const { return event_; }
  unsigned degree() const { return degree_; }
  unsigned height() const { return height_; }
  uint32_t leaf() const { return leaf_; }
  uint64_t last_seq() const { return seq_; }
  Epoch epoch() const { return epoch_; }
  // [0] = leaf key ... [height()] = root key.
  const std::vector<SecretBytes>& path_keys() const { return path_keys_; }

 private:
  MemberKeys() = default;
  Status Reject(RekeyReject reason, Status status);

  EventId event_;
  unsigned degree_ = 0;
  unsigned height_ = 0;
  uint32_t leaf_ = 0;
  uint64_t seq_ = 0;
  Epoch epoch_;
  std::vector<SecretBytes> path_keys_;
  RekeyReject last_reject_ = RekeyReject::kNone;
};

}  // namespace keycast::lkh
