// Wire constants of the LKH rekey message and of the member key bundle.
//
// This header mirrors the grammar in docs/lkh.md field for field; change one
// and you must change the other. All integers are big-endian (keycast/codec.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keycast::lkh {

// ---- tree shape ----
inline constexpr unsigned kMinDegree = 2;
inline constexpr unsigned kMaxDegree = 16;
inline constexpr unsigned kDefaultDegree = 4;  // default
// Leaf positions a tree may allocate (members plus freed-but-unused leaves).
inline constexpr uint32_t kMaxLeaves = 1u << 24;  // 16,777,216 leaves
// A tree of degree d and height h holds d^h leaves; heights are at least 1 and
// only as large as kMaxLeaves needs: d^(h-1) < kMaxLeaves. Degree 2 reaches 24.
inline constexpr unsigned kMaxHeight = 24;  // levels above the leaves

// ---- keys ----
inline constexpr size_t kNodeKeySize = 32;      // bytes, random
inline constexpr size_t kIntervalKeySize = 32;  // bytes
// AES-256 key wrap (RFC 3394) of a 32-byte key: 8-byte integrity block + key.
inline constexpr size_t kWrappedKeySize = kNodeKeySize + 8;  // 40 bytes

// ---- RekeyMessage (docs/lkh.md "Rekey message") ----
inline constexpr uint8_t kRekeyVersion = 1;
// version(1) degree(1) height(1) event_id(8) epoch(8) seq(8) entry_count(4)
inline constexpr size_t kRekeyHeaderSize = 1 + 1 + 1 + 8 + 8 + 8 + 4;  // 31 bytes
// target_node(4) wrapping_node(4) wrapped_key(40)
inline constexpr size_t kRekeyEntrySize = 4 + 4 + kWrappedKeySize;  // 48 bytes
inline constexpr size_t kRekeySignatureSize = 64;                   // Ed25519
// Bound on wrapped node keys in one message (about 100 MB). A commit that
// would exceed it fails with resource_exhausted and changes nothing.
inline constexpr uint32_t kMaxRekeyEntries = 1u << 21;
inline constexpr size_t kMinRekeyMessageBytes =
    kRekeyHeaderSize + kWrappedKeySize + kRekeySignatureSize;  // 135 bytes
inline constexpr size_t kMaxRekeyMessageBytes =
    kMinRekeyMessageBytes + size_t{kMaxRekeyEntries} * kRekeyEntrySize;

// ---- MemberKeysInit (docs/lkh.md "Member key bundle") ----
inline constexpr uint8_t kMemberInitVersion = 1;
// version(1) event_id(8) degree(1) height(1) leaf(4) seq(8) epoch(8) key_count(1)
inline constexpr size_t kMemberInitHeaderSize = 1 + 8 + 1 + 1 + 4 + 8 + 8 + 1;  // 32 bytes
inline constexpr size_t kMaxMemberInitBytes =
    kMemberInitHeaderSize + (kMaxHeight + 1) * kNodeKeySize;  // 832 bytes

// ---- domain separation ----
// Node keys wrap under a key derived with keycast::labels::kLkhWrap; the two
// labels below are the LKH part's own.
namespace labels {
// KEK derivation for the interval key wrapped under the root key.
inline constexpr std::string_view kLkhIntervalWrap = "keycast v1 lkh interval key wrap";
// Ed25519 signature of the key service over a rekey message.
inline constexpr std::string_view kLkhRekeySignature = "keycast v1 lkh rekey message";
}  // namespace labels

}  // namespace keycast::lkh
