// The outbound path, whole: policy -> SA -> envelope -> seal (seed 001
// Fig. 12 blocks 1210-1270, outbound; Fig. 13 data packet 1335); with
// source authentication, -> batch -> signed manifest (docs/packet-format.md).
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
  if (!IsKnownNextHeader(uint8_t(next_header)) || next_header == NextHeader::kManifest)
    return DropOut(DropReason::kMalformed, event);  // manifests are the data plane's own
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

  // 3b. Source authentication: sealed into the SA's batch, sent by Flush
  //     after the batch's signed manifest.
  if (s->signs()) return Queue(*s, datagram, now, next_header);

  // 3c. header || AEAD(payload || padding || pad_length || next_header) || tag,
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

// Seals one datagram into the batch of a signing SA. Sequence numbers in a
// batch are consecutive (taken under seal_mu, as the manifest's is), and one
// is always left for the manifest.
ProtectResult DataPlane::Queue(SaState& s, ByteView datagram, Micros now, NextHeader next_header) {
  const SecurityAssociation& sa = s.sa;
  const size_t pad = PaddingFor(datagram.size(), options_.pad_block);
  const size_t plaintext = datagram.size() + pad + kTrailerSize;
  const size_t n = kHeaderSize + plaintext + kTagSize;
  std::lock_guard seal_lock(s.seal_mu);
  SendBatch& b = *s.batch;
  if (b.count == options_.sign_batch_packets || b.bytes + n > SendBatch::kCapacity)
    return DropOut(DropReason::kBatchFull, sa.event);
  uint64_t seq = 0;
  if (!s.TakeSequence(&seq, /*reserve=*/1))
    return DropOut(DropReason::kSequenceExhausted, sa.event);
  uint8_t* p = b.buf.data() + b.bytes;
  if (!datagram.empty()) std::memmove(p + kHeaderSize, datagram.data(), datagram.size());
  WriteHeader(PacketHeader{sa.spi, sa.sender, seq}, p);
  WritePaddingAndTrailer(pad, next_header, p + kHeaderSize + datagram.size());
  const size_t i = b.count++;
  if (i == 0) {
    b.first_at = now;
    b.first_seq = seq;
  }
  uint8_t* hash = b.hashes.data() + i * kPacketHashSize;
  if (!s.seal->Seal(ByteView(p + kNonceOffset, kNonceSize), ByteView(p, kHeaderSize),
                    ByteView(p + kHeaderSize, plaintext), p + kHeaderSize)) {
    // The sequence number is spent: the manifest names nothing for it.
    std::memset(p, 0, n);
    std::memset(hash, 0, kPacketHashSize);
    b.offset[i] = uint32_t(b.bytes);
    b.size[i] = 0;
    return DropOut(DropReason::kInternal, sa.event);
  }
  PacketHash(ByteView(p, n), hash);
  b.offset[i] = uint32_t(b.bytes);
  b.size[i] = uint32_t(n);
  b.bytes += n;
  metrics_.Count(Outcome::kProtected);
  ProtectResult res;
  res.verdict = Verdict::kQueued;
  res.event = sa.event;
  res.flush =
      b.count == options_.sign_batch_packets || b.bytes + kMaxProtectedSize > SendBatch::kCapacity;
  return res;
}

// Signs and hands over the batch of s. REQUIRES: s.seal_mu held, a
// non-empty batch.
bool DataPlane::FlushBatch(SaState& s, PacketSink& sink, size_t* sent) {
  const SecurityAssociation& sa = s.sa;
  SendBatch& b = *s.batch;
  const size_t count = b.count;
  const uint64_t first = b.first_seq;
  auto discard = [&](DropReason why) {
    for (size_t i = 0; i < count; ++i) metrics_.Drop(why);
    std::memset(b.buf.data(), 0, b.bytes);
    b.count = b.bytes = 0;
    return false;
  };
  // The manifest takes the sequence number after its packets (kept free by
  // Queue): it covers [seq - count, seq).
  uint64_t seq = 0;
  if (!s.TakeSequence(&seq)) return discard(DropReason::kSequenceExhausted);
  if (seq != first + count) return discard(DropReason::kInternal);  // a gap: cannot name them

  uint8_t* m = b.manifest.data();
  WriteHeader(PacketHeader{sa.spi, sa.sender, seq}, m);
  uint8_t* payload = m + kHeaderSize;
  const size_t payload_size = ManifestPayloadSize(count);
  payload[0] = uint8_t(count);
  std::memcpy(payload + 1, b.hashes.data(), count * kPacketHashSize);
  uint8_t signed_bytes[kMaxManifestSignedSize];
  size_t signed_size = ManifestSignedBytes(m, count, b.hashes.data(), signed_bytes);
  if (!s.signer->Sign(ByteView(signed_bytes, signed_size), payload + 1 + count * kPacketHashSize))
    return discard(DropReason::kInternal);
  const size_t pad = PaddingFor(payload_size, kMinPadBlock);
  const size_t plaintext = payload_size + pad + kTrailerSize;
  WritePaddingAndTrailer(pad, NextHeader::kManifest, payload + payload_size);
  if (!s.seal->Seal(ByteView(m + kNonceOffset, kNonceSize), ByteView(m, kHeaderSize),
                    ByteView(payload, plaintext), payload))
    return discard(DropReason::kInternal);
  const size_t manifest_size = kHeaderSize + plaintext + kTagSize;

  // The manifest first (each copy), then the packets it names.
  ByteView views[limits::kMaxManifestCopies + kMaxManifestCount];
  size_t n = 0;
  for (size_t c = 0; c < options_.manifest_copies; ++c) views[n++] = ByteView(m, manifest_size);
  for (size_t i = 0; i < count; ++i)
    if (b.size[i] != 0) views[n++] = ByteView(b.buf.data() + b.offset[i], b.size[i]);
  sink.Send(sa.event, views, n);
  for (size_t c = 0; c < options_.manifest_copies; ++c) metrics_.Count(Outcome::kManifestSent);
  *sent += n;
  b.count = b.bytes = 0;
  return true;
}

size_t DataPlane::Flush(EventId event, Micros now, PacketSink& sink, bool all) {
  std::shared_lock lock(mu_);
  const auto* sas = sad_.SasOf(event);
  if (sas == nullptr) return 0;
  size_t sent = 0;
  for (const auto& s : *sas) {
    if (!s->signs()) continue;
    std::lock_guard seal_lock(s->seal_mu);
    const SendBatch& b = *s->batch;
    if (b.count == 0) continue;
    bool due = all || b.count >= options_.sign_batch_packets ||
               b.bytes + kMaxProtectedSize > SendBatch::kCapacity ||
               now - b.first_at >= options_.sign_batch_interval;
    if (due) FlushBatch(*s, sink, &sent);
  }
  return sent;
}

}  // namespace keycast::dataplane
