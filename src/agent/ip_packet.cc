#include "keycast/agent/ip_packet.h"

#include <cstring>

#include "keycast/codec.h"

namespace keycast::agent {

namespace {

// One's-complement sum of 16-bit big-endian words (RFC 1071), not folded.
uint64_t SumWords(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (; n >= 2; p += 2, n -= 2) sum += LoadBe16(p);
  if (n) sum += uint64_t(p[0]) << 8;
  return sum;
}

uint16_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum & 0xffff);
}

IpParseResult Fail(const char* why, const char** reason) {
  *reason = why;
  return IpParseResult::kMalformed;
}

IpParseResult ParseUdp(ByteView packet, size_t header, size_t ip_total, UdpPacket* out,
                       const char** reason) {
  if (ip_total - header < kUdpHeaderSize) return Fail("shorter than a UDP header", reason);
  const uint8_t* u = packet.data() + header;
  size_t udp_len = LoadBe16(u + 4);
  if (udp_len != ip_total - header) return Fail("UDP length disagrees with the IP length", reason);
  out->source_port = LoadBe16(u);
  out->destination_port = LoadBe16(u + 2);
  out->payload_offset = header + kUdpHeaderSize;
  out->payload = ByteView(packet.data() + out->payload_offset, udp_len - kUdpHeaderSize);
  return IpParseResult::kOk;
}

}  // namespace

IpParseResult ParseUdpPacket(ByteView packet, UdpPacket* out, const char** reason) {
  *out = UdpPacket{};
  if (packet.empty()) return Fail("empty packet", reason);
  if (packet.size() > kMaxIpPacketSize) return Fail("larger than 65535 bytes", reason);
  const uint8_t* p = packet.data();
  const uint8_t version = p[0] >> 4;
  if (version == 4) {
    if (packet.size() < kIpv4MinHeaderSize) return Fail("shorter than an IPv4 header", reason);
    size_t header = size_t(p[0] & 0x0f) * 4;
    if (header < kIpv4MinHeaderSize) return Fail("IPv4 header length below 5 words", reason);
    size_t total = LoadBe16(p + 2);
    if (total < header || total > packet.size())
      return Fail("IPv4 total length out of bounds", reason);
    if (Fold(SumWords(p, header)) != 0) return Fail("bad IPv4 header checksum", reason);
    uint16_t frag = LoadBe16(p + 6);
    if ((frag & 0x2000) || (frag & 0x1fff)) {
      *reason = "IPv4 fragment";
      return IpParseResult::kFragment;
    }
    out->hop_limit = p[8];
    out->source.family = IpAddress::Family::kV4;
    std::memcpy(out->source.bytes, p + 12, 4);
    out->destination.family = IpAddress::Family::kV4;
    std::memcpy(out->destination.bytes, p + 16, 4);
    if (p[9] != kIpProtoUdp) {
      *reason = "not UDP";
      return IpParseResult::kNotUdp;
    }
    return ParseUdp(packet, header, total, out, reason);
  }
  if (version == 6) {
    if (packet.size() < kIpv6HeaderSize) return Fail("shorter than an IPv6 header", reason);
    size_t total = kIpv6HeaderSize + LoadBe16(p + 4);
    if (total > packet.size()) return Fail("IPv6 payload length out of bounds", reason);
    out->hop_limit = p[7];
    out->source.family = IpAddress::Family::kV6;
    std::memcpy(out->source.bytes, p + 8, 16);
    out->destination.family = IpAddress::Family::kV6;
    std::memcpy(out->destination.bytes, p + 24, 16);
    if (p[6] != kIpProtoUdp) {
      *reason = "not UDP (or IPv6 extension headers)";
      return IpParseResult::kNotUdp;
    }
    return ParseUdp(packet, kIpv6HeaderSize, total, out, reason);
  }
  return Fail("IP version is neither 4 nor 6", reason);
}

size_t UdpHeadersSize(IpAddress::Family family) {
  switch (family) {
    case IpAddress::Family::kV4:
      return kIpv4MinHeaderSize + kUdpHeaderSize;
    case IpAddress::Family::kV6:
      return kIpv6HeaderSize + kUdpHeaderSize;
    case IpAddress::Family::kNone:
      break;
  }
  return 0;
}

size_t WriteUdpHeaders(const UdpHeaderFields& f, ByteView payload, uint8_t* out) {
  if (f.destination.empty() || f.source.family != f.destination.family) return 0;
  const size_t headers = UdpHeadersSize(f.destination.family);
  const size_t udp_len = kUdpHeaderSize + payload.size();
  if (headers + payload.size() > kMaxIpPacketSize) return 0;
  const size_t ip_header = headers - kUdpHeaderSize;
  uint8_t* u = out + ip_header;
  // Pseudo-header (RFC 768 / RFC 8200 8.1) + UDP header + payload.
  uint64_t sum = SumWords(f.source.bytes, f.source.size());
  sum = SumWords(f.destination.bytes, f.destination.size(), sum);
  sum += kIpProtoUdp + udp_len;
  StoreBe16(u, f.source_port);
  StoreBe16(u + 2, f.destination_port);
  StoreBe16(u + 4, uint16_t(udp_len));
  StoreBe16(u + 6, 0);
  sum = SumWords(u, kUdpHeaderSize, sum);
  sum = SumWords(payload.data(), payload.size(), sum);
  uint16_t csum = Fold(sum);
  StoreBe16(u + 6, csum == 0 ? 0xffff : csum);  // 0 means "no checksum" in IPv4
  if (f.destination.family == IpAddress::Family::kV4) {
    out[0] = 0x45;
    out[1] = 0;
    StoreBe16(out + 2, uint16_t(ip_header + udp_len));
    StoreBe16(out + 4, f.ip_id);
    StoreBe16(out + 6, 0x4000);  // DF: never fragmented on the way into the stack
    out[8] = f.hop_limit;
    out[9] = kIpProtoUdp;
    StoreBe16(out + 10, 0);
    std::memcpy(out + 12, f.source.bytes, 4);
    std::memcpy(out + 16, f.destination.bytes, 4);
    StoreBe16(out + 10, Fold(SumWords(out, kIpv4MinHeaderSize)));
  } else {
    StoreBe32(out, 0x60000000);
    StoreBe16(out + 4, uint16_t(udp_len));
    out[6] = kIpProtoUdp;
    out[7] = f.hop_limit;
    std::memcpy(out + 8, f.source.bytes, 16);
    std::memcpy(out + 24, f.destination.bytes, 16);
  }
  return headers;
}

}  // namespace keycast::agent
