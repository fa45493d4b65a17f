// IPv4 / IPv6 packets carrying one UDP datagram: what transparent (TUN) mode
// reads from and writes to its interface (seed 001 Fig. 13: the agent below
// the network API sees whole datagrams with their addressing).
//
//   ipv4-udp = ipv4-header(20..60) udp-header(8) payload   ; RFC 791, RFC 768
//   ipv6-udp = ipv6-header(40)     udp-header(8) payload   ; RFC 8200, next header 17 only
//
// The parser is a decoder of untrusted bytes (an inner packet is authentic
// but chosen by a sender): it is bounded by the buffer, checks every length
// against every other, and rejects fragments, IPv6 extension headers and
// anything but UDP with a reason. It never allocates.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "keycast/bytes.h"
#include "keycast/types.h"

namespace keycast::agent {

inline constexpr size_t kIpv4MinHeaderSize = 20;
inline constexpr size_t kIpv4MaxHeaderSize = 60;
inline constexpr size_t kIpv6HeaderSize = 40;
inline constexpr size_t kUdpHeaderSize = 8;
inline constexpr size_t kMaxIpPacketSize = 65535;
inline constexpr uint8_t kIpProtoUdp = 17;

// A parsed IP/UDP packet; the views point into the parsed buffer.
struct UdpPacket {
  IpAddress source;
  IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint8_t hop_limit = 0;      // IPv4 TTL or IPv6 hop limit
  size_t payload_offset = 0;  // where the UDP payload starts in the packet
  ByteView payload;
};

enum class IpParseResult : uint8_t {
  kOk = 0,
  kNotUdp,     // a well-formed packet of another protocol (IGMP, MLD, ...) or with IPv6 extension
               // headers
  kFragment,   // an IPv4 fragment (transparent mode never produces them: the TUN MTU is 65535)
  kMalformed,  // a length, version, checksum or field does not hold
};

// Parses an IPv4 or IPv6 packet holding one whole UDP datagram. On anything
// but kOk sets *reason to a static string naming the cause. The IPv4 header
// checksum is verified; the UDP checksum is left to the kernel that receives
// the packet.
IpParseResult ParseUdpPacket(ByteView packet, UdpPacket* out, const char** reason);

// Size of the IP + UDP headers WriteUdpHeaders writes for this family
// (28 for IPv4, 48 for IPv6), 0 for an empty address.
size_t UdpHeadersSize(IpAddress::Family family);

struct UdpHeaderFields {
  IpAddress source;  // REQUIRES: same family as destination
  IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint8_t hop_limit = 64;
  uint16_t ip_id = 0;  // IPv4 identification
};

// Writes IP + UDP headers (checksums included) for `payload` into out, so
// that out[0, UdpHeadersSize) followed by the payload is a whole packet.
// `payload` may start right after `out`'s headers (the usual headroom use).
// Returns the header size, or 0 when the fields are inconsistent or the
// packet would exceed kMaxIpPacketSize.
size_t WriteUdpHeaders(const UdpHeaderFields& f, ByteView payload, uint8_t* out);

}  // namespace keycast::agent
