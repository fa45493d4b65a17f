// The addressing of one datagram as the data plane sees it: what a selector
// is matched against (seed 001 Fig. 12 block 1220, "selector data").
//
// In relay mode the agent fills a Flow from its socket (recvmsg with
// IP_PKTINFO / IPV6_RECVPKTINFO gives the destination); in transparent (TUN)
// mode from the IP and UDP headers of the packet.
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>

#include "keycast/types.h"

namespace keycast::dataplane {

inline constexpr uint8_t kIpProtocolUdp = 17;

enum class Direction : uint8_t {
  kOutbound = 1,  // from a local application towards the network (Protect)
  kInbound = 2,   // from the network towards a local application (Open)
};

struct Flow {
  IpAddress source;
  IpAddress destination;  // for an event: its multicast group
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint8_t protocol = kIpProtocolUdp;
};

}  // namespace keycast::dataplane
