#include "keycast/dataplane/packet_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "keycast/codec.h"

namespace keycast::dataplane {
namespace {

// The numbers docs/packet-format.md states.
static_assert(kHeaderSize == 16);
static_assert(kNonceOffset == 4 && kNonceSize == 12);
static_assert(kMinProtectedSize == 36);
static_assert(kMaxCiphertextSize == 65472);
static_assert(kMaxProtectedSize == 65504 && kMaxProtectedSize <= kMaxDatagramSize);
static_assert(kMaxPayloadSize == 65470);
static_assert(kMaxPayloadSize + kMaxOverhead == kMaxDatagramSize);

Bytes Packet(uint32_t spi, uint32_t sender, uint64_t seq, size_t ciphertext_and_tag) {
  Bytes p(kHeaderSize + ciphertext_and_tag, 0xaa);
  WriteHeader(PacketHeader{Spi{spi}, SenderId{sender}, seq}, p.data());
  return p;
}

TEST(PacketHeader, RoundTrip) {
  Bytes p = Packet(0x01020304, 0x0a0b0c0d, 0x1122334455667788ull, 4 + kTagSize);
  EXPECT_EQ(ToHex(ByteView(p.data(), kHeaderSize)), "010203040a0b0c0d1122334455667788");
  PacketHeader h;
  const char* reason = nullptr;
  ASSERT_TRUE(ParseProtectedHeader(p, &h, &reason)) << reason;
  EXPECT_EQ(h.spi.value, 0x01020304u);
  EXPECT_EQ(h.sender.value, 0x0a0b0c0du);
  EXPECT_EQ(h.seq, 0x1122334455667788ull);
}

struct BadHeader {
  const char* name;
  Bytes packet;
  const char* reason_part;
};

TEST(PacketHeader, RejectsEachFailureClass) {
  const BadHeader cases[] = {
      {"empty", Bytes(), "shorter"},
      {"one short", Packet(1, 1, 1, 4 + kTagSize - 1), "shorter"},
      {"too long", Packet(1, 1, 1, kMaxCiphertextSize + 4 + kTagSize), "longer"},
      {"ragged ciphertext", Packet(1, 1, 1, 5 + kTagSize), "4-byte"},
      {"spi 0", Packet(0, 1, 1, 4 + kTagSize), "SPI 0"},
      {"sender 0", Packet(1, 0, 1, 4 + kTagSize), "sender id 0"},
      {"seq 0", Packet(1, 1, 0, 4 + kTagSize), "sequence"},
      {"seq max", Packet(1, 1, UINT64_MAX, 4 + kTagSize), "sequence"},
  };
  for (const BadHeader& c : cases) {
    PacketHeader h;
    const char* reason = nullptr;
    EXPECT_FALSE(ParseProtectedHeader(c.packet, &h, &reason)) << c.name;
    ASSERT_NE(reason, nullptr) << c.name;
    EXPECT_NE(std::string(reason).find(c.reason_part), std::string::npos)
        << c.name << ": " << reason;
  }
}

TEST(PacketHeader, AcceptsTheExtremes) {
  PacketHeader h;
  const char* reason = nullptr;
  EXPECT_TRUE(ParseProtectedHeader(Packet(1, 1, 1, 4 + kTagSize), &h, &reason));
  EXPECT_TRUE(ParseProtectedHeader(
      Packet(UINT32_MAX, UINT32_MAX, kMaxSequence, kMaxCiphertextSize + kTagSize), &h, &reason));
}

TEST(Padding, AlignsToFourByDefault) {
  for (size_t n = 0; n < 64; ++n) {
    size_t pad = PaddingFor(n, kMinPadBlock);
    EXPECT_LT(pad, 4u);
    EXPECT_EQ((n + pad + kTrailerSize) % 4, 0u) << n;
  }
  EXPECT_EQ(PaddingFor(0, 4), 2u);
  EXPECT_EQ(PaddingFor(2, 4), 0u);
  EXPECT_EQ(PaddingFor(kMaxPayloadSize, 4), 0u);
}

TEST(Padding, PadsToTheConfiguredBlock) {
  for (size_t block : {8u, 16u, 64u, 256u}) {
    for (size_t n = 0; n < 600; n += 7) {
      size_t pad = PaddingFor(n, block);
      EXPECT_LT(pad, block);
      EXPECT_LE(pad, kMaxPadLength);
      EXPECT_EQ((n + pad + kTrailerSize) % block, 0u) << n << " / " << block;
    }
  }
}

TEST(Padding, FallsBackToFourNearTheSizeBound) {
  // 256-byte blocks would carry the largest payload past kMaxCiphertextSize.
  size_t pad = PaddingFor(kMaxPayloadSize - 1, 256);
  EXPECT_EQ((kMaxPayloadSize - 1 + pad + kTrailerSize) % 4, 0u);
  EXPECT_LE(kMaxPayloadSize - 1 + pad + kTrailerSize, kMaxCiphertextSize);
}

Bytes Plaintext(size_t payload, size_t pad, uint8_t next) {
  Bytes b(payload + pad + kTrailerSize, 0x55);
  WritePaddingAndTrailer(pad, NextHeader(next), b.data() + payload);
  return b;
}

TEST(Trailer, RoundTrip) {
  for (NextHeader nh : {NextHeader::kUdpPayload, NextHeader::kIpv4Packet, NextHeader::kIpv6Packet,
                        NextHeader::kManifest}) {
    for (size_t pad : {0u, 1u, 2u, 3u, 255u}) {
      Bytes b = Plaintext(10, pad, uint8_t(nh));
      size_t payload = 0;
      NextHeader got = NextHeader::kNone;
      const char* reason = nullptr;
      ASSERT_TRUE(ParseTrailer(b, &payload, &got, &reason)) << reason;
      EXPECT_EQ(payload, 10u);
      EXPECT_EQ(got, nh);
    }
  }
}

TEST(Trailer, RejectsEachFailureClass) {
  size_t payload;
  NextHeader nh;
  const char* reason = nullptr;

  EXPECT_FALSE(ParseTrailer(Bytes{1}, &payload, &nh, &reason));  // shorter than the trailer
  EXPECT_NE(std::string(reason).find("shorter"), std::string::npos);

  Bytes b = Plaintext(2, 2, 1);
  b[b.size() - 2] = 5;  // pad length larger than what precedes it
  EXPECT_FALSE(ParseTrailer(b, &payload, &nh, &reason));
  EXPECT_NE(std::string(reason).find("pad length"), std::string::npos);

  b = Plaintext(2, 3, 1);
  b[3] = 9;  // padding must be 1, 2, 3
  EXPECT_FALSE(ParseTrailer(b, &payload, &nh, &reason));
  EXPECT_NE(std::string(reason).find("padding"), std::string::npos);

  for (int next : {0, 5, 17, 41, 255}) {  // 4 is a manifest (source authentication)
    b = Plaintext(2, 0, uint8_t(next));
    EXPECT_FALSE(ParseTrailer(b, &payload, &nh, &reason)) << next;
    EXPECT_NE(std::string(reason).find("next header"), std::string::npos);
  }
}

TEST(NextHeader, Names) {
  EXPECT_EQ(NextHeaderName(NextHeader::kUdpPayload), "udp-payload");
  EXPECT_EQ(NextHeaderName(NextHeader::kIpv4Packet), "ipv4");
  EXPECT_EQ(NextHeaderName(NextHeader::kIpv6Packet), "ipv6");
  EXPECT_EQ(NextHeaderName(NextHeader::kManifest), "manifest");
  EXPECT_FALSE(IsKnownNextHeader(0));
}

TEST(Manifest, ParsesOnlyWhatItsCountSays) {
  auto body = [](size_t count) {
    Bytes b(ManifestPayloadSize(count), 0xa5);
    b[0] = uint8_t(count);
    return b;
  };
  ManifestView m;
  const char* reason = nullptr;
  for (size_t count : {size_t{1}, size_t{32}, kMaxManifestCount}) {
    Bytes b = body(count);
    ASSERT_TRUE(ParseManifest(b, count + 1, &m, &reason)) << reason;
    EXPECT_EQ(m.count, count);
    EXPECT_EQ(m.hashes, b.data() + 1);
    EXPECT_EQ(m.signature, b.data() + b.size() - kManifestSignatureSize);
  }
  EXPECT_FALSE(ParseManifest(Bytes{}, 9, &m, &reason));
  EXPECT_NE(std::string(reason).find("count"), std::string::npos);
  Bytes zero = body(1);
  zero[0] = 0;
  EXPECT_FALSE(ParseManifest(zero, 9, &m, &reason));
  Bytes big = body(kMaxManifestCount);
  big[0] = uint8_t(kMaxManifestCount + 1);
  EXPECT_FALSE(ParseManifest(big, 1000, &m, &reason));
  EXPECT_NE(std::string(reason).find("out of range"), std::string::npos);
  Bytes longer = body(3);
  longer.push_back(0);
  EXPECT_FALSE(ParseManifest(longer, 9, &m, &reason));
  EXPECT_NE(std::string(reason).find("size"), std::string::npos);
  Bytes shorter = body(3);
  shorter.pop_back();
  EXPECT_FALSE(ParseManifest(shorter, 9, &m, &reason));
  // It covers the `count` sequence numbers below its own: never 0.
  EXPECT_FALSE(ParseManifest(body(3), 3, &m, &reason));
  EXPECT_NE(std::string(reason).find("sequence number 0"), std::string::npos);
  EXPECT_TRUE(ParseManifest(body(3), 4, &m, &reason));
}

TEST(Manifest, SignedBytesAreLabelHeaderCountHashes) {
  uint8_t header[kHeaderSize];
  WriteHeader(PacketHeader{Spi{0x4b430001}, SenderId{2}, 9}, header);
  Bytes hashes(3 * kPacketHashSize, 0x11);
  uint8_t out[kMaxManifestSignedSize];
  size_t n = ManifestSignedBytes(header, 3, hashes.data(), out);
  ASSERT_EQ(n, kManifestLabelSize + kHeaderSize + 1 + hashes.size());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), kManifestLabelSize),
            "keycast v1 packet manifest");
  EXPECT_EQ(0, std::memcmp(out + kManifestLabelSize, header, kHeaderSize));
  EXPECT_EQ(out[kManifestLabelSize + kHeaderSize], 3);
  EXPECT_EQ(0, std::memcmp(out + n - hashes.size(), hashes.data(), hashes.size()));
}

}  // namespace
}  // namespace keycast::dataplane
