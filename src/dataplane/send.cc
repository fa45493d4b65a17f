// The outbound path, whole: policy -> SA -> envelope -> seal (seed 001
// Fig. 12 blocks 1210-1270, outbound; Fig. 13 data packet 1335).
#include <cstring>
#include <mutex>

#include "dataplane/sa_state.h"
#include "keycast/codec.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::dataplane {

ProtectResult DataPlane::Protect(const Flow& flow, ByteView datagram, MutableByteView out,
                                 Micros now, NextHeader next_header) {
  return ProtectImpl(flow, datagram, datagram, out, now, next_header);
}

ProtectResult DataPlane::ProtectIpPacket(const Flow& flow, ByteView packet, size_t payload_offset,
                                         MutableByteView out, Micros now, NextHeader next_header) {
  if (payload_offset > packet.size() ||
      (next_header != NextHeader::kIpv4Packet && next_header != NextHeader::kIpv6Packet))
    return DropOut(DropReason::kMalformed, {});
  return ProtectImpl(flow, packet, packet.subspan(payload_offset), out, now, next_header);
}

// `clear_payload` is what a clear interval sends: the datagram itself, or
// the UDP payload inside it when it is a whole IP packet.
ProtectResult DataPlane::ProtectImpl(const Flow& flow, ByteView datagram, ByteView clear_payload,
                                     MutableByteView out, Micros now, NextHeader next_header) {
  std::shared_lock lock(mu_);

  // 1. Policy: no selector matches -> the datagram is none of our business.
  const Policy* policy = spd_.Lookup(Direction::kOutbound, flow);
  if (policy == nullptr || policy->action == PolicyAction::kBypass) {
    metrics_.Count(Outcome::kBypassed);
    ProtectResult res;
    res.verdict = Verdict::kBypass;
    res.packet = datagram;
    return res;
  }
  if (policy->action == PolicyAction::kDiscard) return DropOut(DropReason::kPolicyDiscard, {});
  const EventId event = policy->event;

  // 2. The event's SA at now; only a sender may send (its sender id is what
  //    keeps its nonces apart from every other sender's).
  DropReason why = DropReason::kNoSa;
  SaState* s = sad_.Active(event, now, &why);
  if (s == nullptr) return DropOut(why, event);
  const SecurityAssociation& sa = s->sa;
  if (sa.role != Role::kSender) return DropOut(DropReason::kNoSa, event);
  if (datagram.size() > kMaxPayloadSize) return DropOut(DropReason::kTooLarge, event);
  if (!IsKnownNextHeader(uint8_t(next_header))) return DropOut(DropReason::kMalformed, event);
  uint8_t* p = out.data();

  // 3a. Clear interval: SPI 0 || payload. Only inside the interval itself:
  //     past its end the event is encrypted, and a sender still waiting for
  //     the key drops rather than send in the clear.
  if (sa.clear) {
    if (now >= sa.initiation + sa.lifetime) return DropOut(DropReason::kNoSa, event);
    size_t n = kClearHeaderSize + clear_payload.size();
    if (out.size() < n) return DropOut(DropReason::kTooLarge, event);
    if (!clear_payload.empty())
      std::memmove(p + kClearHeaderSize, clear_payload.data(), clear_payload.size());
    StoreBe32(p + kSpiOffset, 0);
    metrics_.Count(Outcome::kClearSent);
    ProtectResult res;
    res.verdict = Verdict::kClear;
    res.packet = ByteView(p, n);
    res.event = event;
    return res;
  }

  // 3b. header || AEAD(payload || padding || pad_length || next_header) || tag,
  //     sealed in place in `out`.
  size_t pad = PaddingFor(datagram.size(), options_.pad_block);
  size_t plaintext = datagram.size() + pad + kTrailerSize;
  size_t n = kHeaderSize + plaintext + kTagSize;
  if (out.size() < n) return DropOut(DropReason::kTooLarge, event);
  uint64_t seq = 0;
  if (!s->TakeSequence(&seq)) return DropOut(DropReason::kSequenceExhausted, event);
  if (!datagram.empty() && datagram.data() != p + kHeaderSize)
    std::memmove(p + kHeaderSize, datagram.data(), datagram.size());
  WriteHeader(PacketHeader{sa.spi, sa.sender, seq}, p);
  WritePaddingAndTrailer(pad, next_header, p + kHeaderSize + datagram.size());
  bool sealed;
  {
    std::lock_guard seal_lock(s->seal_mu);
    sealed = s->seal->Seal(ByteView(p + kNonceOffset, kNonceSize), ByteView(p, kHeaderSize),
                           ByteView(p + kHeaderSize, plaintext), p + kHeaderSize);
  }
  if (!sealed) {
    std::memset(p, 0, n);  // never let a half-sealed buffer out
    return DropOut(DropReason::kInternal, event);
  }
  metrics_.Count(Outcome::kProtected);
  ProtectResult res;
  res.verdict = Verdict::kProtected;
  res.packet = ByteView(p, n);
  res.event = event;
  return res;
}

}  // namespace keycast::dataplane
