#include "keycast/dataplane/packet_format.h"

#include <cassert>
#include <cstring>

#include "keycast/codec.h"  // LoadBe* / StoreBe*: fixed-layout hot-path helpers
#include "keycast/labels.h"
#include "keycast/limits.h"

namespace keycast::dataplane {

static_assert(kMaxManifestCount == limits::kMaxSignBatchPackets);
static_assert(labels::kPacketManifest.size() == kManifestLabelSize);
// A manifest of the largest batch is one unfragmented datagram on a 1500-byte MTU.
static_assert(kHeaderSize + kMaxManifestPayloadSize + kMinPadBlock + kTrailerSize + kTagSize <=
              1400);

bool IsKnownNextHeader(uint8_t v) {
  return v == uint8_t(NextHeader::kUdpPayload) || v == uint8_t(NextHeader::kIpv4Packet) ||
         v == uint8_t(NextHeader::kIpv6Packet) || v == uint8_t(NextHeader::kManifest);
}

std::string_view NextHeaderName(NextHeader nh) {
  switch (nh) {
    case NextHeader::kNone:
      return "none";
    case NextHeader::kUdpPayload:
      return "udp-payload";
    case NextHeader::kIpv4Packet:
      return "ipv4";
    case NextHeader::kIpv6Packet:
      return "ipv6";
    case NextHeader::kManifest:
      return "manifest";
  }
  return "unknown";
}

void WriteHeader(const PacketHeader& h, uint8_t* out) {
  StoreBe32(out + kSpiOffset, h.spi.value);
  StoreBe32(out + kSenderIdOffset, h.sender.value);
  StoreBe64(out + kSeqOffset, h.seq);
}

bool ParseProtectedHeader(ByteView packet, PacketHeader* out, const char** reason) {
  // Runs for every inbound packet, forged or not: size bounds first, then the
  // fixed-layout fields with codec.h's big-endian hot-path loaders (the bounds
  // above make every read in range), and no error string is ever built.
  if (packet.size() < kMinProtectedSize) {
    *reason = "protected packet shorter than 36 bytes";
    return false;
  }
  if (packet.size() > kMaxProtectedSize) {
    *reason = "protected packet longer than 65504 bytes";
    return false;
  }
  if ((packet.size() - kHeaderSize - kTagSize) % kMinPadBlock != 0) {
    *reason = "ciphertext is not a whole number of 4-byte blocks";
    return false;
  }
  PacketHeader h;
  h.spi.value = LoadBe32(packet.data() + kSpiOffset);
  h.sender.value = LoadBe32(packet.data() + kSenderIdOffset);
  h.seq = LoadBe64(packet.data() + kSeqOffset);
  if (h.spi.value == 0) {
    *reason = "SPI 0 marks a clear packet, not a protected one";
    return false;
  }
  if (h.sender.value == 0) {
    *reason = "sender id 0 is reserved for receivers";
    return false;
  }
  if (h.seq == 0 || h.seq > kMaxSequence) {
    *reason = "sequence number out of range";
    return false;
  }
  *out = h;
  return true;
}

size_t PaddingFor(size_t payload_size, size_t pad_block) {
  assert(payload_size <= kMaxPayloadSize);
  assert(IsValidPadBlock(pad_block));
  size_t unpadded = payload_size + kTrailerSize;
  size_t pad = (0 - unpadded) & (pad_block - 1);
  if (unpadded + pad > kMaxCiphertextSize) pad = (0 - unpadded) & (kMinPadBlock - 1);
  return pad;
}

void WritePaddingAndTrailer(size_t pad_length, NextHeader nh, uint8_t* out) {
  assert(pad_length <= kMaxPadLength);
  for (size_t i = 0; i < pad_length; ++i) out[i] = uint8_t(i + 1);
  out[pad_length] = uint8_t(pad_length);
  out[pad_length + 1] = uint8_t(nh);
}

bool ParseTrailer(ByteView plaintext, size_t* payload_size, NextHeader* nh, const char** reason) {
  if (plaintext.size() < kTrailerSize) {
    *reason = "plaintext shorter than its trailer";
    return false;
  }
  const size_t pad_length = plaintext[plaintext.size() - 2];
  const uint8_t next = plaintext[plaintext.size() - 1];
  if (pad_length > plaintext.size() - kTrailerSize) {
    *reason = "pad length exceeds the plaintext";
    return false;
  }
  size_t payload = plaintext.size() - kTrailerSize - pad_length;
  // Not constant-time, and needs not be: the plaintext is authenticated.
  for (size_t i = 0; i < pad_length; ++i) {
    if (plaintext[payload + i] != uint8_t(i + 1)) {
      *reason = "padding bytes are not 1, 2, 3, ...";
      return false;
    }
  }
  if (!IsKnownNextHeader(next)) {
    *reason = "unknown next header";
    return false;
  }
  *payload_size = payload;
  *nh = NextHeader(next);
  return true;
}

bool ParseManifest(ByteView payload, uint64_t seq, ManifestView* out, const char** reason) {
  if (payload.empty()) {
    *reason = "manifest without a count";
    return false;
  }
  const size_t count = payload[0];
  if (count == 0 || count > kMaxManifestCount) {
    *reason = "manifest count out of range";
    return false;
  }
  if (payload.size() != ManifestPayloadSize(count)) {
    *reason = "manifest size does not match its count";
    return false;
  }
  if (seq <= count) {
    *reason = "manifest covers sequence number 0";
    return false;
  }
  out->count = count;
  out->hashes = payload.data() + 1;
  out->signature = payload.data() + 1 + count * kPacketHashSize;
  return true;
}

size_t ManifestSignedBytes(const uint8_t* header, size_t count, const uint8_t* hashes,
                           uint8_t* out) {
  assert(count >= 1 && count <= kMaxManifestCount);
  uint8_t* p = out;
  std::memcpy(p, labels::kPacketManifest.data(), kManifestLabelSize);
  p += kManifestLabelSize;
  std::memcpy(p, header, kHeaderSize);
  p += kHeaderSize;
  *p++ = uint8_t(count);
  std::memcpy(p, hashes, count * kPacketHashSize);
  p += count * kPacketHashSize;
  return size_t(p - out);
}

}  // namespace keycast::dataplane
