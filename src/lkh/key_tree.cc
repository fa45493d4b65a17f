// KeyTree: the key service's side of the LKH.
//
// Storage is one Level per tree level (0 = leaves): a flat KeyStore indexed by
// position, a dirty bit per node, and (above the leaves) the number of
// members below each node. Leaves occupy positions [0, leaves_used) from the
// left; the nodes of level l are positions [0, ceil(leaves_used / d^l)).
// Growing the tree adds a level on top and moves nothing.
//
// Invariant: every ancestor of a dirty node is dirty, so marking a path stops
// at the first node already marked.

#include <algorithm>
#include <string>

#include "keycast/codec.h"
#include "keycast/lkh.h"
#include "lkh/key_store.h"
#include "lkh/member_index.h"
#include "lkh/rekey_message.h"
#include "lkh/shape.h"
#include "lkh/wrap.h"

namespace keycast::lkh {
namespace {

using internal::GrowTo;
using internal::KeyStore;

enum class LeafState : uint8_t {
  kFree = 0,  // no member; key wiped
  kJoining,   // joined since the last commit; not admitted yet
  kActive,    // admitted by a commit
  kLeaving,   // left since the last commit; freed by the next one
};

struct LeafInfo {
  int64_t client = 0;  // ClientId value; 0 when free
  uint64_t serial = 0;
};

struct Level {
  KeyStore keys;
  std::vector<uint64_t> dirty_bits;
  std::vector<uint32_t> dirty;  // positions, unordered until Commit sorts them
  std::vector<uint32_t> live;   // members below each node; empty for leaves

  size_t size() const { return keys.size(); }
  void Resize(size_t n, bool internal) {
    keys.Resize(n);
    if (dirty_bits.size() * 64 < n) GrowTo(dirty_bits, (n + 63) / 64, 16);
    if (internal && live.size() < n) GrowTo(live, n);
  }
  bool IsDirty(size_t pos) const { return (dirty_bits[pos / 64] >> (pos % 64)) & 1; }
  // True if newly marked.
  bool MarkDirty(size_t pos) {
    uint64_t bit = uint64_t{1} << (pos % 64);
    if (dirty_bits[pos / 64] & bit) return false;
    dirty_bits[pos / 64] |= bit;
    dirty.push_back(static_cast<uint32_t>(pos));
    return true;
  }
  void ClearDirty() {
    for (uint32_t pos : dirty) dirty_bits[pos / 64] &= ~(uint64_t{1} << (pos % 64));
    dirty.clear();
    // A bulk commit (say, the first one of a large event) leaves a list as
    // long as the level; give that memory back rather than keep it forever.
    if (dirty.capacity() > kKeepDirtyCapacity) std::vector<uint32_t>().swap(dirty);
  }
  static constexpr size_t kKeepDirtyCapacity = 1 << 16;  // entries
  size_t MemoryBytes() const {
    return keys.capacity_bytes() + dirty_bits.capacity() * 8 + dirty.capacity() * 4 +
           live.capacity() * 4;
  }
};

// New keys of the dirty nodes of one level, computed by Commit before any of
// the tree is touched. Parallel to the level's sorted dirty list.
struct PendingLevel {
  KeyStore keys;
  std::vector<uint8_t> has_old;  // an admitted, staying member lies below
};

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

struct KeyTree::Impl {
  EventId event;
  unsigned degree = kDefaultDegree;
  unsigned height = 1;            // current, including growth since the last commit
  unsigned committed_height = 1;  // as members know it
  std::vector<Level> levels;      // [0] leaves ... [height] root
  std::vector<uint64_t> pow;      // degree^l for l <= height
  std::vector<LeafInfo> leaves;
  std::vector<LeafState> states;
  std::vector<uint32_t> free_leaves;  // freed by commits; reused last-in first-out
  uint64_t leaves_used = 0;           // leaf positions ever allocated
  size_t members = 0;                 // joining + active
  internal::MemberIndex index;
  uint64_t next_serial = 1;
  uint64_t last_seq = 0;
  Epoch last_epoch;

  auto KeyOf() const {
    return [this](uint32_t leaf) { return leaves[leaf].client; };
  }

  void MarkPath(uint64_t leaf) {
    uint64_t pos = leaf;
    for (unsigned l = 0; l <= height; ++l, pos /= degree)
      if (!levels[l].MarkDirty(pos)) break;
  }

  void AddLive(uint64_t leaf, int delta) {
    for (unsigned l = 1; l <= height; ++l) levels[l].live[leaf / pow[l]] += delta;
  }

  // Sizes every level for leaves_used leaves.
  void ResizeLevels() {
    for (unsigned l = 0; l <= height; ++l) {
      size_t n = l == height ? 1 : CeilDiv(leaves_used, pow[l]);
      levels[l].Resize(std::max<size_t>(n, 1), l > 0);
    }
    GrowTo(leaves, levels[0].size());
    GrowTo(states, levels[0].size());
  }

  // Adds a level on top: the old root becomes child 0 of a fresh, dirty root.
  void Grow() {
    ++height;
    pow.push_back(pow.back() * degree);
    levels.emplace_back();
    levels[height].Resize(1, true);
    levels[height].live[0] = levels[height - 1].live[0];
    levels[height].MarkDirty(0);
  }

  Result<uint32_t> AllocateLeaf() {
    if (!free_leaves.empty()) {
      uint32_t leaf = free_leaves.back();
      free_leaves.pop_back();
      return leaf;
    }
    if (leaves_used >= kMaxLeaves)
      return ResourceExhausted("key tree is full: " + std::to_string(kMaxLeaves) + " leaves");
    if (leaves_used == pow[height]) Grow();
    uint32_t leaf = static_cast<uint32_t>(leaves_used++);
    ResizeLevels();
    return leaf;
  }

  Status LeaveAt(uint32_t leaf) {
    LeafState& st = states[leaf];
    index.Erase(leaves[leaf].client, KeyOf());
    st = LeafState::kLeaving;
    --members;
    AddLive(leaf, -1);
    MarkPath(leaf);
    return Status::Ok();
  }

  Result<Bytes> Commit(Epoch epoch, const SecretBytes& interval_key,
                       const crypto::SigningKey& signer, uint64_t seq);
};

KeyTree::KeyTree(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyTree::KeyTree(KeyTree&&) noexcept = default;
KeyTree& KeyTree::operator=(KeyTree&&) noexcept = default;
KeyTree::~KeyTree() = default;

Result<KeyTree> KeyTree::Create(EventId event, unsigned degree) {
  if (!event.valid()) return InvalidArgument("event id must be positive");
  if (degree < kMinDegree || degree > kMaxDegree)
    return InvalidArgument("tree degree " + std::to_string(degree) + " outside [" +
                           std::to_string(kMinDegree) + ", " + std::to_string(kMaxDegree) + "]");
  auto impl = std::make_unique<Impl>();
  impl->event = event;
  impl->degree = degree;
  impl->pow = {1, degree};
  impl->levels.resize(2);
  impl->ResizeLevels();
  impl->levels[1].MarkDirty(0);  // the root gets its first key at the first commit
  return KeyTree(std::move(impl));
}

Result<MemberRef> KeyTree::Join(ClientId client) {
  Impl& t = *impl_;
  if (!client.valid()) return InvalidArgument("client id must be positive");
  if (t.index.Find(client.value, t.KeyOf()))
    return AlreadyExists("client " + std::to_string(client.value) + " is already in the key tree");
  KC_ASSIGN_OR_RETURN(uint32_t leaf, t.AllocateLeaf());
  MemberRef ref{client, t.next_serial++};
  t.leaves[leaf] = {client.value, ref.serial};
  t.states[leaf] = LeafState::kJoining;
  t.index.Insert(client.value, leaf, t.KeyOf());
  ++t.members;
  t.AddLive(leaf, +1);
  t.MarkPath(leaf);
  return ref;
}

Status KeyTree::Leave(ClientId client) {
  Impl& t = *impl_;
  auto leaf = t.index.Find(client.value, t.KeyOf());
  if (!leaf) return NotFound("client " + std::to_string(client.value) + " is not in the key tree");
  return t.LeaveAt(*leaf);
}

Status KeyTree::Leave(const MemberRef& member) {
  Impl& t = *impl_;
  auto leaf = t.index.Find(member.client.value, t.KeyOf());
  if (!leaf || t.leaves[*leaf].serial != member.serial)
    return NotFound("membership " + std::to_string(member.serial) + " of client " +
                    std::to_string(member.client.value) + " is not in the key tree");
  return t.LeaveAt(*leaf);
}

Result<Bytes> KeyTree::Commit(Epoch epoch, const SecretBytes& interval_key,
                              const crypto::SigningKey& signer, uint64_t seq) {
  return impl_->Commit(epoch, interval_key, signer, seq);
}

Result<Bytes> KeyTree::Impl::Commit(Epoch epoch, const SecretBytes& interval_key,
                                    const crypto::SigningKey& signer, uint64_t seq) {
  // ---- check ----
  if (interval_key.size() != kIntervalKeySize)
    return InvalidArgument("interval key must be " + std::to_string(kIntervalKeySize) + " bytes");
  if (seq == 0 || (last_seq != 0 && seq != last_seq + 1))
    return InvalidArgument(
        "rekey seq " + std::to_string(seq) + " must be " +
        (last_seq == 0 ? std::string("at least 1") : std::to_string(last_seq + 1)));
  if (epoch < last_epoch)
    return InvalidArgument("epoch " + std::to_string(epoch.packed()) +
                           " precedes the last committed " + std::to_string(last_epoch.packed()));

  // ---- compute: new keys and the message, tree untouched ----
  internal::Shape shape(degree, height);
  internal::KeyWrapper wrapper;
  std::vector<PendingLevel> pending(height + 1);
  Bytes msg;
  Writer w(&msg);
  internal::WriteRekeyHeader(w, static_cast<uint8_t>(degree), static_cast<uint8_t>(height), event,
                             epoch, seq);
  uint32_t entries = 0;
  uint8_t wrapped[kWrappedKeySize];

  for (unsigned l = 0; l <= height; ++l) {
    Level& lv = levels[l];
    std::sort(lv.dirty.begin(), lv.dirty.end());
    PendingLevel& pl = pending[l];
    pl.keys.Resize(lv.dirty.size());
    crypto::RandomFill(pl.keys.all());  // one fresh key per dirty node
    pl.has_old.assign(lv.dirty.size(), 0);
    if (l == 0) {
      for (size_t i = 0; i < lv.dirty.size(); ++i)
        if (states[lv.dirty[i]] == LeafState::kLeaving) pl.keys.Wipe(i);  // never used
      continue;
    }
    const Level& below = levels[l - 1];
    const PendingLevel& pbelow = pending[l - 1];
    size_t cursor = 0;  // into below.dirty, which is sorted
    for (size_t i = 0; i < lv.dirty.size(); ++i) {
      uint64_t pos = lv.dirty[i];
      uint64_t first = pos * degree;
      uint64_t last = std::min<uint64_t>(first + degree, below.size());
      for (uint64_t child = first; child < last; ++child) {
        while (cursor < below.dirty.size() && below.dirty[cursor] < child) ++cursor;
        bool child_dirty = cursor < below.dirty.size() && below.dirty[cursor] == child;
        bool child_has_old;
        ByteView child_key;
        if (child_dirty) {
          child_has_old = pbelow.has_old[cursor];
          child_key = pbelow.keys.view(cursor);
        } else {
          // A clean subtree saw no join or leave: all its members are old.
          child_has_old = l == 1 ? states[child] == LeafState::kActive : below.live[child] > 0;
          child_key = below.keys.view(child);
        }
        if (!child_has_old) continue;  // nobody there needs the wrap (or may see it)
        pl.has_old[i] = 1;
        if (++entries > kMaxRekeyEntries)
          return ResourceExhausted("rekey needs more than " + std::to_string(kMaxRekeyEntries) +
                                   " wrapped keys; commit more often");
        internal::NodeSlot slot{event, seq, shape.NodeId(l, pos), shape.NodeId(l - 1, child)};
        wrapper.WrapNodeKey(child_key, slot, pl.keys.view(i), wrapped);
        w.U32(slot.target);
        w.U32(slot.wrapper);
        w.Raw(ByteView(wrapped, kWrappedKeySize));
      }
    }
  }
  bool root_dirty = !levels[height].dirty.empty();
  ByteView root_key = root_dirty ? pending[height].keys.view(0) : levels[height].keys.view(0);
  wrapper.WrapIntervalKey(root_key, event, seq, epoch, interval_key.reveal(), wrapped);
  internal::FinishRekeyMessage(&msg, entries, ByteView(wrapped, kWrappedKeySize), signer);

  // ---- issue: apply the new keys and free the leaves that left ----
  for (unsigned l = 0; l <= height; ++l) {
    Level& lv = levels[l];
    for (size_t i = 0; i < lv.dirty.size(); ++i) lv.keys.Set(lv.dirty[i], pending[l].keys.view(i));
    if (l == 0) {
      for (uint32_t leaf : lv.dirty) {
        if (states[leaf] == LeafState::kLeaving) {
          states[leaf] = LeafState::kFree;
          leaves[leaf] = LeafInfo{};
          lv.keys.Wipe(leaf);
          free_leaves.push_back(leaf);
        } else {
          states[leaf] = LeafState::kActive;
        }
      }
    }
    lv.ClearDirty();
    pending[l].keys.Clear();
  }
  committed_height = height;
  last_seq = seq;
  last_epoch = epoch;
  return msg;
}

Result<MemberKeysInit> KeyTree::PathKeysFor(ClientId client) const {
  const Impl& t = *impl_;
  auto leaf = t.index.Find(client.value, t.KeyOf());
  if (!leaf) return NotFound("client " + std::to_string(client.value) + " is not in the key tree");
  if (t.states[*leaf] != LeafState::kActive)
    return FailedPrecondition("client " + std::to_string(client.value) +
                              " joined after the last commit; its keys exist from the next one");
  MemberKeysInit init;
  init.event = t.event;
  init.degree = static_cast<uint8_t>(t.degree);
  init.height = static_cast<uint8_t>(t.committed_height);
  init.leaf = *leaf;
  init.seq = t.last_seq;
  init.epoch = t.last_epoch;
  init.path_keys.reserve(t.committed_height + 1);
  for (unsigned l = 0; l <= t.committed_height; ++l)
    init.path_keys.emplace_back(t.levels[l].keys.view(*leaf / t.pow[l]));
  return init;
}

EventId KeyTree::event() const { return impl_->event; }
unsigned KeyTree::degree() const { return impl_->degree; }
unsigned KeyTree::height() const { return impl_->committed_height; }
size_t KeyTree::member_count() const { return impl_->members; }
bool KeyTree::has_pending_changes() const {
  for (const Level& lv : impl_->levels)
    if (!lv.dirty.empty()) return true;
  return false;
}
uint64_t KeyTree::last_seq() const { return impl_->last_seq; }

size_t KeyTree::MemoryBytes() const {
  const Impl& t = *impl_;
  size_t n = sizeof(Impl) + t.levels.capacity() * sizeof(Level) + t.pow.capacity() * 8 +
             t.leaves.capacity() * sizeof(LeafInfo) + t.states.capacity() * sizeof(LeafState) +
             t.free_leaves.capacity() * 4 + t.index.memory_bytes();
  for (const Level& lv : t.levels) n += lv.MemoryBytes();
  return n;
}

}  // namespace keycast::lkh
