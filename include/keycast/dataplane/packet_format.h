// The data-plane packet format, mirrored from docs/packet-format.md (the
// grammar there is normative; these constants and codecs follow it).
//
//   protected := spi(4, != 0) || sender_id(4, != 0) || seq(8, != 0)
//                || AEAD(payload || padding || pad_length(1) || next_header(1))
//                || tag(16)
//   clear     := spi(4, == 0) || payload
//   manifest  := a protected packet whose next_header is kManifest and whose
//                payload is count(1) || count x hash(16) || signature(64)
//                (source authentication, docs/packet-format.md)
//
// nonce = sender_id || seq (the 12 header bytes after the SPI), so distinct
// senders of one event never share a nonce under the event's key; AAD = the
// 16-byte header. All integers are big-endian.
//
// Thread safety: everything here is a pure function of its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/types.h"

namespace keycast::dataplane {

// ---- layout (bytes) ----
inline constexpr size_t kSpiOffset = 0;
inline constexpr size_t kSpiSize = 4;
inline constexpr size_t kSenderIdOffset = 4;
inline constexpr size_t kSenderIdSize = 4;
inline constexpr size_t kSeqOffset = 8;
inline constexpr size_t kSeqSize = 8;
inline constexpr size_t kHeaderSize = kSpiSize + kSenderIdSize + kSeqSize;  // 16; also the AAD
inline constexpr size_t kNonceOffset = kSenderIdOffset;                     // nonce = header[4..16)
inline constexpr size_t kNonceSize = kSenderIdSize + kSeqSize;              // 12
inline constexpr size_t kTagSize = crypto::kAeadTagSize;                    // 16
inline constexpr size_t kTrailerSize = 2;             // pad_length(1) || next_header(1)
inline constexpr size_t kClearHeaderSize = kSpiSize;  // clear envelope: SPI 0 || payload
static_assert(kNonceSize == crypto::kAeadNonceSize);

// ---- padding ----
// The padded plaintext (payload || padding || trailer) is a multiple of
// kMinPadBlock, and of the configured pad block when one is set (traffic-flow
// confidentiality). Padding bytes are 1, 2, 3, ... as in ESP (RFC 4303 2.4).
inline constexpr size_t kMinPadBlock = 4;
inline constexpr size_t kMaxPadBlock = 256;  // pad_length is one byte: at most 255
inline constexpr size_t kMaxPadLength = 255;
// A pad block is a power of two in [kMinPadBlock, kMaxPadBlock].
constexpr bool IsValidPadBlock(size_t b) {
  return b >= kMinPadBlock && b <= kMaxPadBlock && (b & (b - 1)) == 0;
}

// ---- size bounds (bytes) ----
// Largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP): no packet is larger.
inline constexpr size_t kMaxDatagramSize = 65507;
// Ciphertext (padded plaintext) bounds: at least the trailer padded to 4,
// at most what fits a datagram, rounded down to the 4-byte block.
inline constexpr size_t kMinCiphertextSize = kMinPadBlock;
inline constexpr size_t kMaxCiphertextSize =
    (kMaxDatagramSize - kHeaderSize - kTagSize) / kMinPadBlock * kMinPadBlock;            // 65472
inline constexpr size_t kMinProtectedSize = kHeaderSize + kMinCiphertextSize + kTagSize;  // 36
inline constexpr size_t kMaxProtectedSize = kHeaderSize + kMaxCiphertextSize + kTagSize;  // 65504
// Largest payload Protect accepts (protected or clear): the ciphertext bound
// minus the trailer, with no padding needed at that size.
inline constexpr size_t kMaxPayloadSize = kMaxCiphertextSize - kTrailerSize;  // 65470
// Per-packet expansion of a protected packet over its payload, worst case at
// the minimum pad block: header + up to 3 padding bytes + trailer + tag.
inline constexpr size_t kMaxOverhead = kHeaderSize + (kMinPadBlock - 1) + kTrailerSize + kTagSize;

// ---- sequence numbers ----
// Per (SA, sender), starting at 1. A sender refuses to send past
// kMaxSequence (it never wraps); a receiver rejects 0 and anything above.
inline constexpr uint64_t kFirstSequence = 1;
inline constexpr uint64_t kMaxSequence = UINT64_MAX - 1;

// What the payload of a protected packet is. Keycast's own registry, not IANA
// protocol numbers: relay-mode payloads are bare UDP payloads (no UDP header),
// which no IANA number names. 0 is reserved and never valid on the wire.
enum class NextHeader : uint8_t {
  kNone = 0,        // reserved; reported for clear (SPI 0) packets, which carry none
  kUdpPayload = 1,  // relay mode: the payload of one UDP datagram
  kIpv4Packet = 2,  // transparent (TUN) mode: a whole IPv4 packet
  kIpv6Packet = 3,  // transparent (TUN) mode: a whole IPv6 packet
  kManifest = 4,    // source authentication: a signed manifest, never delivered
};
bool IsKnownNextHeader(uint8_t v);
std::string_view NextHeaderName(NextHeader nh);

struct PacketHeader {
  Spi spi;
  SenderId sender;
  uint64_t seq = 0;
};

// Writes the 16-byte header. REQUIRES: out has kHeaderSize bytes.
void WriteHeader(const PacketHeader& h, uint8_t* out);

// Parses the header of a protected packet and checks every bound that holds
// before decryption: total size, nonzero SPI / sender / seq, seq <= max, and a
// ciphertext that is a whole number of 4-byte blocks. On failure returns false
// and sets *reason to a static string naming the cause (no allocation).
bool ParseProtectedHeader(ByteView packet, PacketHeader* out, const char** reason);

// Number of padding bytes for a payload so that payload + padding + trailer
// is a multiple of pad_block; falls back to kMinPadBlock when pad_block would
// push the packet past kMaxCiphertextSize.
// REQUIRES: payload_size <= kMaxPayloadSize; IsValidPadBlock(pad_block).
size_t PaddingFor(size_t payload_size, size_t pad_block);

// Writes padding 1..pad_length then the trailer at out.
// REQUIRES: out has pad_length + kTrailerSize bytes; pad_length <= kMaxPadLength.
void WritePaddingAndTrailer(size_t pad_length, NextHeader nh, uint8_t* out);

// Parses the decrypted plaintext (payload || padding || trailer): checks the
// pad length fits, the padding bytes are 1, 2, 3, ..., and next_header is
// known. On success sets *payload_size and *nh; on failure sets *reason.
bool ParseTrailer(ByteView plaintext, size_t* payload_size, NextHeader* nh, const char** reason);

// ---- source authentication: manifests (docs/packet-format.md) ----
//
// A sender signs its packets a batch at a time: one manifest names, for the
// `count` sequence numbers just below its own, the hash of each packet as
// sent (header || ciphertext || tag), and is signed with the sender's
// Ed25519 key for the SA's interval over
//   "keycast v1 packet manifest" || manifest header(16) || count || hashes.
// Receivers verify the manifest once, then each packet by its hash.
inline constexpr size_t kPacketHashSize = 16;  // SHA-256, truncated
inline constexpr size_t kManifestSignatureSize = crypto::kEd25519SignatureSize;  // 64
inline constexpr size_t kMaxManifestCount = 64;  // = limits::kMaxSignBatchPackets
inline constexpr size_t ManifestPayloadSize(size_t count) {
  return 1 + count * kPacketHashSize + kManifestSignatureSize;
}
inline constexpr size_t kMaxManifestPayloadSize = ManifestPayloadSize(kMaxManifestCount);  // 1089

struct ManifestView {
  size_t count = 0;                    // 1 .. kMaxManifestCount
  const uint8_t* hashes = nullptr;     // count x kPacketHashSize bytes, into the input
  const uint8_t* signature = nullptr;  // kManifestSignatureSize bytes, into the input
  // The sequence numbers covered: [first, manifest seq), first = seq - count.
};

// Parses a decrypted manifest payload of the packet with sequence number
// `seq`: a count in [1, kMaxManifestCount], exactly that many hashes and a
// signature, and a covered range that starts at 1 or later (count < seq).
// On failure sets *reason to a static string (no allocation).
bool ParseManifest(ByteView payload, uint64_t seq, ManifestView* out, const char** reason);

// The bytes a manifest's signature covers, written to out (which must hold
// kMaxManifestSignedSize bytes); returns their length.
inline constexpr size_t kManifestLabelSize = 26;  // "keycast v1 packet manifest"
inline constexpr size_t kMaxManifestSignedSize =
    kManifestLabelSize + kHeaderSize + 1 + kMaxManifestCount * kPacketHashSize;
size_t ManifestSignedBytes(const uint8_t* header, size_t count, const uint8_t* hashes,
                           uint8_t* out);

}  // namespace keycast::dataplane
