// Wire formats of multicast rekey push (seed 001 Figure 8): the push grant
// that rides in the unicast key reply, the signed push message that carries
// one LKH rekey message and the interval's SA parameters, and the datagrams
// it is cut into on the per-event control group.
//
// This header mirrors the grammars in docs/push.md field for field; change
// one and you must change the other. Integers are big-endian
// (keycast/codec.h). Every decoder is bounded and rejects with a reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/lkh/format.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::push {

// ---- PushGrant: in the `extra` field of an (encrypted) key reply ----
inline constexpr uint8_t kGrantVersion = 1;
// version(1) state(1) family(1) addr(4|16) port(2) lead_ms(4) member_until(8)
// tree_id(8) init_len(2)
inline constexpr size_t kMinGrantBytes = 1 + 1 + 1 + 4 + 2 + 4 + 8 + 8 + 2;  // 31 bytes
inline constexpr size_t kMaxGrantBytes =
    1 + 1 + 1 + 16 + 2 + 4 + 8 + 8 + 2 + lkh::kMaxMemberInitBytes;

enum class GrantState : uint8_t {
  kPending = 1,   // joined; admitted by the next commit; path keys come with a later reply
  kAdmitted = 2,  // member_init holds the path keys as of the last commit
};

// What a member of a push event learns with each key it is granted. Carries
// path keys, so it lives only inside the encrypted reply and in memory.
struct PushGrant {
  GrantState state = GrantState::kPending;
  IpAddress control_group;  // multicast group of the event's pushes
  uint16_t control_port = 0;
  uint32_t lead_ms = 0;     // the push of epoch k is sent lead_ms before k starts
  Micros member_until = 0;  // key service clock: membership ends at the first
                            // commit after this unless a pull renews it
  uint64_t tree_id = 0;     // the key tree these path keys belong to (random per tree)
  SecretBytes member_init;  // lkh::MemberKeysInit encoding; empty when pending

  SecretBytes Encode() const;
  // Rejects with the malformed field: truncation, trailing bytes, version,
  // state, family, a non-multicast group, port 0, lead 0, tree id 0, an init
  // that is present when pending or missing when admitted, init too long.
  static Result<PushGrant> Decode(ByteView in);
};

// ---- PushMessage: one commit, reassembled from its datagrams ----
inline constexpr uint8_t kMessageVersion = 1;
inline constexpr uint8_t kFlagClear = 0x01;  // the epoch is an unencrypted interval
// version(1) event(8) tree_id(8) seq(8) epoch(8) key_version(4) spi(4)
// algorithm(1) flags(1) initiation(8) lifetime(8) grace(8) rekey_len(4)
inline constexpr size_t kMessageHeaderSize =
    1 + 8 + 8 + 8 + 8 + 4 + 4 + 1 + 1 + 8 + 8 + 8 + 4;                          // 71
inline constexpr size_t kMessageSignatureSize = crypto::kEd25519SignatureSize;  // 64
inline constexpr size_t kMinMessageBytes =
    kMessageHeaderSize + lkh::kMinRekeyMessageBytes + kMessageSignatureSize;
inline constexpr size_t kMaxMessageBytes =
    kMessageHeaderSize + lkh::kMaxRekeyMessageBytes + kMessageSignatureSize;

// The interval key itself is not here: it is wrapped inside `rekey` under
// the LKH root key. The rest describes the SA it belongs to, as the unicast
// reply would (seed 000 claim 8), signed so no member can alter it for the
// others.
struct PushMessage {
  EventId event;
  uint64_t tree_id = 0;
  uint64_t seq = 0;        // = the rekey message's seq
  Epoch epoch;             // = the rekey message's epoch
  KeyVersion key_version;  // of the rekey-signing key that signed both
  Spi spi;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  uint8_t flags = 0;
  Micros initiation = 0;
  Micros lifetime = 0;
  Micros grace = 0;
  ByteView rekey;        // the lkh RekeyMessage, into the parsed buffer
  ByteView signed_part;  // every byte before the signature
  ByteView signature;

  bool clear() const { return (flags & kFlagClear) != 0; }
};

// Builds and signs (Ed25519 over labels::kRekeyPush || every byte before the
// signature). REQUIRES: m.rekey within the lkh bounds.
Bytes EncodeMessage(const PushMessage& m, const crypto::SigningKey& key);
// Framing only (lengths, version); nothing is believed until VerifyMessage.
// *truncated (if given) tells a message that ends early from other damage.
Result<PushMessage> ParseMessage(ByteView in, bool* truncated = nullptr);
bool VerifyMessage(const PushMessage& m, const crypto::VerifyKey& key);
// After the signature: field values (event > 0, tree id > 0, seq > 0, known
// algorithm, known flags, lifetime > 0, grace >= 0, clear => spi 0 else spi
// >= 256, and the rekey message's event/seq/epoch equal to the header's).
Status ValidateMessage(const PushMessage& m);

// ---- datagrams on the control group ----
//   datagram = "KCP" version:u8 type:u8(=1)
//              event:u64 tree_id:u64 seq:u64
//              message_len:u32 index:u32 count:u32
//              payload      bytes [index * kFragmentPayload, ...) of the message
inline constexpr uint8_t kDatagramVersion = 1;
inline constexpr uint8_t kTypeFragment = 1;
inline constexpr size_t kDatagramHeaderSize = 3 + 1 + 1 + 8 + 8 + 8 + 4 + 4 + 4;  // 41 bytes
// 41 + 1200 + UDP/IPv6 headers (48) < 1500: no IP fragmentation on Ethernet.
inline constexpr size_t kFragmentPayload = 1200;
inline constexpr size_t kMaxDatagramBytes = kDatagramHeaderSize + kFragmentPayload;

struct Fragment {
  EventId event;
  uint64_t tree_id = 0;
  uint64_t seq = 0;
  uint32_t message_len = 0;
  uint32_t index = 0;
  uint32_t count = 0;
  ByteView payload;  // into the datagram
};

// Cuts an encoded PushMessage into datagrams. REQUIRES: message.size() <= kMaxMessageBytes.
std::vector<Bytes> Fragmentize(ByteView message, EventId event, uint64_t tree_id, uint64_t seq);
// Rejects: short header, bad magic/version/type, event/tree/seq 0, a length
// outside [kMinMessageBytes, kMaxMessageBytes], count != ceil(len / payload),
// index >= count, a payload of the wrong length for its index.
// *truncated (if given) tells a datagram that ends early from other damage.
Result<Fragment> ParseFragment(ByteView datagram, bool* truncated = nullptr);

}  // namespace keycast::push
