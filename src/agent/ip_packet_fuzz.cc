// libFuzzer target for the IP/UDP decoder of transparent mode: any bytes
// either parse into a packet whose views lie inside the input, or are
// refused with a reason; a parsed packet rebuilds to one that parses alike.
#include <cstdlib>
#include <cstring>

#include "keycast/agent/ip_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  using namespace keycast::agent;
  UdpPacket u;
  const char* why = nullptr;
  IpParseResult r = ParseUdpPacket(ByteView(data, size), &u, &why);
  if (r != IpParseResult::kOk) {
    if (why == nullptr) std::abort();
    return 0;
  }
  if (u.payload.data() < data || u.payload.data() + u.payload.size() > data + size) std::abort();
  uint8_t rebuilt[kMaxIpPacketSize + 64];
  UdpHeaderFields f{u.source, u.destination, u.source_port, u.destination_port, u.hop_limit, 1};
  size_t hs = UdpHeadersSize(u.destination.family);
  if (hs + u.payload.size() > kMaxIpPacketSize) return 0;
  std::memcpy(rebuilt + hs, u.payload.data(), u.payload.size());
  if (WriteUdpHeaders(f, ByteView(rebuilt + hs, u.payload.size()), rebuilt) != hs) std::abort();
  UdpPacket again;
  if (ParseUdpPacket(ByteView(rebuilt, hs + u.payload.size()), &again, &why) != IpParseResult::kOk)
    std::abort();
  if (!(again.source == u.source) || !(again.destination == u.destination) ||
      again.destination_port != u.destination_port || again.payload.size() != u.payload.size())
    std::abort();
  return 0;
}
