#include "keycast/agent/ip_packet.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "keycast/codec.h"

namespace keycast::agent {
namespace {

IpAddress Ip(const char* t) { return IpAddress::Parse(t).value(); }

Bytes Build(const UdpHeaderFields& f, ByteView payload) {
  Bytes out(UdpHeadersSize(f.destination.family) + payload.size());
  std::copy(payload.begin(), payload.end(),
            out.begin() + std::ptrdiff_t(UdpHeadersSize(f.destination.family)));
  EXPECT_EQ(WriteUdpHeaders(f, ByteView(out.data() + out.size() - payload.size(), payload.size()),
                            out.data()),
            UdpHeadersSize(f.destination.family));
  return out;
}

UdpHeaderFields V4() { return {Ip("10.0.0.1"), Ip("239.1.2.3"), 40000, 5004, 1, 7}; }
UdpHeaderFields V6() { return {Ip("fd00::1"), Ip("ff0e::1234"), 40000, 5004, 1, 0}; }

// Internet checksum of a whole buffer (0 when the embedded checksum is right).
uint16_t Checksum(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (; n >= 2; p += 2, n -= 2) sum += LoadBe16(p);
  if (n) sum += uint64_t(p[0]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

TEST(IpPacket, RoundTripsIpv4AndIpv6) {
  Bytes payload = ToBytes("numbered datagram 42");
  for (const UdpHeaderFields& f : {V4(), V6()}) {
    Bytes pkt = Build(f, payload);
    UdpPacket u;
    const char* why = nullptr;
    ASSERT_EQ(ParseUdpPacket(pkt, &u, &why), IpParseResult::kOk) << why;
    EXPECT_EQ(u.source, f.source);
    EXPECT_EQ(u.destination, f.destination);
    EXPECT_EQ(u.source_port, 40000);
    EXPECT_EQ(u.destination_port, 5004);
    EXPECT_EQ(u.hop_limit, 1);
    EXPECT_EQ(Bytes(u.payload.begin(), u.payload.end()), payload);
    EXPECT_EQ(u.payload_offset, UdpHeadersSize(f.destination.family));
  }
}

TEST(IpPacket, ChecksumsAreValid) {
  Bytes payload = ToBytes("odd length payload!");  // 19 bytes: the odd-byte path
  Bytes v4 = Build(V4(), payload);
  EXPECT_EQ(Checksum(v4.data(), 20), 0);  // IPv4 header
  // UDP over the pseudo-header: src, dst, zero+proto, UDP length.
  uint64_t pseudo = 0;
  for (size_t i = 12; i < 20; i += 2) pseudo += LoadBe16(v4.data() + i);
  pseudo += 17 + (v4.size() - 20);
  EXPECT_EQ(Checksum(v4.data() + 20, v4.size() - 20, pseudo), 0);
  Bytes v6 = Build(V6(), payload);
  pseudo = 0;
  for (size_t i = 8; i < 40; i += 2) pseudo += LoadBe16(v6.data() + i);
  pseudo += 17 + (v6.size() - 40);
  EXPECT_EQ(Checksum(v6.data() + 40, v6.size() - 40, pseudo), 0);
}

TEST(IpPacket, WriteRefusesInconsistentFields) {
  uint8_t out[64];
  UdpHeaderFields f = V4();
  f.source = Ip("fd00::1");
  EXPECT_EQ(WriteUdpHeaders(f, {}, out), 0u);
  f = V4();
  f.destination = IpAddress();
  EXPECT_EQ(WriteUdpHeaders(f, {}, out), 0u);
  Bytes big(kMaxIpPacketSize);
  EXPECT_EQ(WriteUdpHeaders(V4(), big, out), 0u);
}

// One negative case per failure class of the decoder.
TEST(IpPacket, RejectsEachMalformation) {
  const Bytes good = Build(V4(), ToBytes("payload"));
  struct Case {
    const char* name;
    std::function<void(Bytes&)> mutate;
    IpParseResult want;
  };
  auto refix = [](Bytes& b) {  // recompute the IPv4 header checksum after a change
    StoreBe16(b.data() + 10, 0);
    StoreBe16(b.data() + 10, Checksum(b.data(), size_t(b[0] & 0x0f) * 4));
  };
  std::vector<Case> cases = {
      {"empty", [](Bytes& b) { b.clear(); }, IpParseResult::kMalformed},
      {"short", [](Bytes& b) { b.resize(19); }, IpParseResult::kMalformed},
      {"version 5",
       [&](Bytes& b) {
         b[0] = 0x55;
         refix(b);
       },
       IpParseResult::kMalformed},
      {"ihl 4", [&](Bytes& b) { b[0] = 0x44; }, IpParseResult::kMalformed},
      {"total length beyond buffer",
       [&](Bytes& b) {
         StoreBe16(b.data() + 2, uint16_t(b.size() + 1));
         refix(b);
       },
       IpParseResult::kMalformed},
      {"total length below header",
       [&](Bytes& b) {
         StoreBe16(b.data() + 2, 10);
         refix(b);
       },
       IpParseResult::kMalformed},
      {"bad header checksum", [](Bytes& b) { b[10] ^= 1; }, IpParseResult::kMalformed},
      {"more fragments",
       [&](Bytes& b) {
         StoreBe16(b.data() + 6, 0x2000);
         refix(b);
       },
       IpParseResult::kFragment},
      {"fragment offset",
       [&](Bytes& b) {
         StoreBe16(b.data() + 6, 0x0010);
         refix(b);
       },
       IpParseResult::kFragment},
      {"igmp",
       [&](Bytes& b) {
         b[9] = 2;
         refix(b);
       },
       IpParseResult::kNotUdp},
      {"udp length mismatch", [](Bytes& b) { StoreBe16(b.data() + 24, 9); },
       IpParseResult::kMalformed},
      {"no room for udp",
       [&](Bytes& b) {
         b.resize(24);
         StoreBe16(b.data() + 2, 24);
         refix(b);
       },
       IpParseResult::kMalformed},
  };
  for (const Case& c : cases) {
    Bytes b = good;
    c.mutate(b);
    UdpPacket u;
    const char* why = nullptr;
    EXPECT_EQ(ParseUdpPacket(b, &u, &why), c.want) << c.name;
    EXPECT_NE(why, nullptr) << c.name;
  }
  Bytes v6 = Build(V6(), ToBytes("payload"));
  std::vector<Case> v6cases = {
      {"short", [](Bytes& b) { b.resize(39); }, IpParseResult::kMalformed},
      {"payload length beyond buffer",
       [](Bytes& b) { StoreBe16(b.data() + 4, uint16_t(b.size())); }, IpParseResult::kMalformed},
      {"extension header", [](Bytes& b) { b[6] = 0; }, IpParseResult::kNotUdp},
      {"udp length mismatch", [](Bytes& b) { StoreBe16(b.data() + 44, 100); },
       IpParseResult::kMalformed},
  };
  for (const Case& c : v6cases) {
    Bytes b = v6;
    c.mutate(b);
    UdpPacket u;
    const char* why = nullptr;
    EXPECT_EQ(ParseUdpPacket(b, &u, &why), c.want) << "v6 " << c.name;
  }
  Bytes huge(kMaxIpPacketSize + 1, 0x45);
  UdpPacket u;
  const char* why = nullptr;
  EXPECT_EQ(ParseUdpPacket(huge, &u, &why), IpParseResult::kMalformed);
}

TEST(IpPacket, TrailingBytesBeyondTheTotalLengthAreIgnored) {
  Bytes b = Build(V4(), ToBytes("abc"));
  b.push_back(0xee);  // link-layer padding
  UdpPacket u;
  const char* why = nullptr;
  ASSERT_EQ(ParseUdpPacket(b, &u, &why), IpParseResult::kOk) << why;
  EXPECT_EQ(u.payload.size(), 3u);
}

}  // namespace
}  // namespace keycast::agent
