// ClientId -> leaf position map of a KeyTree (internal).
//
// Open addressing with linear probing over 4-byte slots that hold leaf + 1
// (0 = empty); the client id itself is read back from the tree's leaf array
// through key_of(leaf), so the index costs 5-11 bytes per member instead of the
// ~40 of a node-based std::unordered_map. Deletion shifts later entries of the
// probe run back (no tombstones). Load factor at most 3/4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace keycast::lkh::internal {

class MemberIndex {
 public:
  // KeyOf: int64_t(uint32_t leaf), the client id stored at a leaf.
  template <typename KeyOf>
  std::optional<uint32_t> Find(int64_t client, const KeyOf& key_of) const {
    if (slots_.empty()) return std::nullopt;
    size_t mask = slots_.size() - 1;
    for (size_t i = Hash(client) & mask;; i = (i + 1) & mask) {
      uint32_t s = slots_[i];
      if (s == 0) return std::nullopt;
      if (key_of(s - 1) == client) return s - 1;
    }
  }

  // REQUIRES: client absent; key_of(leaf) == client already.
  template <typename KeyOf>
  void Insert(int64_t client, uint32_t leaf, const KeyOf& key_of) {
    if ((size_ + 1) * 4 > slots_.size() * 3)
      Rehash(slots_.empty() ? 16 : slots_.size() * 2, key_of);
    Place(client, leaf);
    ++size_;
  }

  // REQUIRES: key_of still answers for every stored leaf, including client's.
  template <typename KeyOf>
  bool Erase(int64_t client, const KeyOf& key_of) {
    if (slots_.empty()) return false;
    size_t mask = slots_.size() - 1;
    size_t i = Hash(client) & mask;
    for (;; i = (i + 1) & mask) {
      if (slots_[i] == 0) return false;
      if (key_of(slots_[i] - 1) == client) break;
    }
    // Backward-shift: move later members of the run into the hole when their
    // home slot does not lie cyclically in (hole, j].
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
      size_t home = Hash(key_of(slots_[j] - 1)) & mask;
      bool home_in_range = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!home_in_range) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = 0;
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(uint32_t); }

 private:
  static size_t Hash(int64_t v) {  // splitmix64 finaliser
    uint64_t z = static_cast<uint64_t>(v) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<size_t>(z ^ (z >> 31));
  }
  void Place(int64_t client, uint32_t leaf) {
    size_t mask = slots_.size() - 1;
    size_t i = Hash(client) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = leaf + 1;
  }
  template <typename KeyOf>
  void Rehash(size_t n, const KeyOf& key_of) {
    std::vector<uint32_t> old;
    old.swap(slots_);
    slots_.assign(n, 0);
    for (uint32_t s : old)
      if (s != 0) Place(key_of(s - 1), s - 1);
  }

  std::vector<uint32_t> slots_;  // size is a power of two, or empty
  size_t size_ = 0;
};

}  // namespace keycast::lkh::internal
