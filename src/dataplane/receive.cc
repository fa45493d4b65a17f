// The inbound path, whole: policy -> (clear | header -> SA by SPI ->
// authenticate and decrypt -> replay and jump check -> selector check ->
// trailer -> record) (seed 001 Fig. 12 blocks 1210-1280, inbound); with
// source authentication, the manifest checks of OpenSigned first. The order follows
// wireguard-go's receive path: nothing about a packet is believed, and no
// state changes, before it authenticates; its sequence number is recorded
// only once it is accepted, so a genuine packet re-addressed by an attacker
// (wrong group or port) cannot burn the sequence number of the original.
#include <cstring>
#include <mutex>

#include "dataplane/sa_state.h"
#include "dataplane/source_auth.h"
#include "keycast/codec.h"
#include "keycast/dataplane/data_plane.h"
#include "keycast/limits.h"

namespace keycast::dataplane {

namespace {

// The SA's own selector (its event's group, port and source) against where
// the datagram actually arrived. Port 0 and an empty source mean any.
bool SelectorAdmits(const SecurityAssociation& sa, const Flow& flow) {
  return flow.destination == sa.group && (sa.port == 0 || flow.destination_port == sa.port) &&
         (sa.source.empty() || flow.source == sa.source);
}

// How far a sender's sequence number can have advanced in `elapsed`
// microseconds at kMaxSenderPacketsPerSecond (saturating).
uint64_t RateAllowance(Micros elapsed) {
  if (elapsed <= 0) return 0;
  constexpr uint64_t kRate = limits::kMaxSenderPacketsPerSecond;
  uint64_t us = uint64_t(elapsed);
  uint64_t whole = us / 1'000'000, part = us % 1'000'000;
  if (whole > UINT64_MAX / kRate / 2) return UINT64_MAX / 2;
  return whole * kRate + part * kRate / 1'000'000;
}

// Records an accepted sequence number; notes when the window moved.
bool Advance(SenderWindows::Entry* e, uint64_t seq, Micros now) {
  uint64_t before = e->window.highest();
  if (!e->window.Accept(seq)) return false;
  if (seq > before) e->advanced_at = now;
  return true;
}

// Whether seq may move the sender's window (docs/packet-format.md,
// "Receiving"): by at most max_jump (half the window, at most
// kMaxSequenceJump), or by what the sender can have sent since the window
// last moved (since the SA began, for a sender not seen yet), whichever is
// more. So one packet from a member holding the key, with seq 2^64 - 2,
// cannot push a live sender's packets out of the window.
bool WithinJump(const SenderWindows::Entry* e, const SecurityAssociation& sa, uint64_t seq,
                Micros now, uint64_t max_jump) {
  const uint64_t highest = e ? e->window.highest() : 0;
  if (seq <= highest) return true;
  const Micros since = highest != 0 ? now - e->advanced_at : now - (sa.initiation - sa.grace);
  const uint64_t allowance = max_jump + RateAllowance(since);
  return seq - highest <= allowance;
}

// The result of an accepted data packet: its payload, decrypted in place.
OpenResult Delivered(MutableByteView packet, const PacketHeader& h, size_t payload_size,
                     NextHeader next_header, EventId event) {
  OpenResult res;
  res.verdict = Verdict::kOpened;
  res.payload = packet.subspan(kHeaderSize, payload_size);
  res.next_header = next_header;
  res.event = event;
  res.spi = h.spi;
  res.sender = h.sender;
  res.seq = h.seq;
  return res;
}

}  // namespace

OpenResult DataPlane::Open(const Flow& flow, MutableByteView packet, Micros now) {
  std::shared_lock lock(mu_);

  // 1. Policy: no selector matches -> nothing was done to it, nothing to undo.
  const Policy* policy = spd_.Lookup(Direction::kInbound, flow);
  if (policy == nullptr || policy->action == PolicyAction::kBypass) {
    metrics_.Count(Outcome::kBypassed);
    OpenResult res;
    res.verdict = Verdict::kBypass;
    res.payload = packet;
    return res;
  }
  if (policy->action == PolicyAction::kDiscard) return DropIn(DropReason::kPolicyDiscard, {});
  const EventId event = policy->event;
  if (packet.size() < kSpiSize || packet.size() > kMaxDatagramSize)
    return DropIn(DropReason::kMalformed, event);
  uint8_t* p = packet.data();

  // 2a. SPI 0: a clear packet, acceptable only while one of the event's
  //     clear SAs (its unencrypted first intervals) holds now, give or take
  //     the clear grace for packets in flight at the boundary.
  if (LoadBe32(p + kSpiOffset) == 0) {
    if (packet.size() - kClearHeaderSize > kMaxPayloadSize)
      return DropIn(DropReason::kMalformed, event);
    SaState* s = sad_.ClearAt(event, now, options_.clear_grace);
    if (s == nullptr) {
      DropReason why = DropReason::kNoSa;
      bool keyed = sad_.Active(event, now, &why) != nullptr;
      return DropIn(keyed ? DropReason::kClearNotAllowed : why, event);
    }
    if (!SelectorAdmits(s->sa, flow)) return DropIn(DropReason::kSelectorMismatch, event);
    metrics_.Count(Outcome::kClearReceived);
    OpenResult res;
    res.verdict = Verdict::kClear;
    res.payload = packet.subspan(kClearHeaderSize);
    res.event = event;
    return res;
  }

  // 2b. Header bounds, then the SA named by the SPI.
  PacketHeader h;
  const char* malformed = nullptr;
  if (!ParseProtectedHeader(packet, &h, &malformed)) return DropIn(DropReason::kMalformed, event);
  SaState* s = sad_.FindBySpi(h.spi, event, flow.destination);
  if (s == nullptr) return DropIn(DropReason::kNoSa, event);
  if (now >= s->sa.expires()) return DropIn(DropReason::kExpiredSa, event);
  if (s->verifies()) return OpenSigned(*s, flow, packet, h, now, event);

  const size_t sealed = packet.size() - kHeaderSize;  // ciphertext || tag
  uint8_t* body = p + kHeaderSize;
  size_t payload_size = 0;
  NextHeader next_header = NextHeader::kNone;
  {
    std::lock_guard open_lock(s->open_mu);
    // Whatever is dropped after decryption starts is wiped: unauthenticated
    // or rejected plaintext must not reach the caller's buffer.
    auto reject = [&](DropReason r) {
      std::memset(body, 0, sealed);
      return DropIn(r, event);
    };
    // 3. Authenticate and decrypt in place (nonce = sender || seq, AAD = header).
    if (!s->open->Open(ByteView(p + kNonceOffset, kNonceSize), ByteView(p, kHeaderSize),
                       ByteView(body, sealed), body))
      return reject(DropReason::kAuthFailed);
    // 4. Replay: per (SA, sender), only now that the header is authentic;
    //    and no further ahead of the window than a sender can have got.
    SenderWindows::Entry* sender = s->windows.FindEntry(h.sender);
    if (sender != nullptr && !sender->window.Check(h.seq)) return reject(DropReason::kReplay);
    if (!WithinJump(sender, s->sa, h.seq, now, max_jump_)) return reject(DropReason::kSequenceJump);
    // 5. Selector: the key is right; is the packet where that key's traffic goes?
    if (s->sa.event != event || !SelectorAdmits(s->sa, flow))
      return reject(DropReason::kSelectorMismatch);
    // 6. Trailer. A manifest on an SA without source authentication (its
    //    sender's key said otherwise) is authentic and of no use here.
    if (!ParseTrailer(ByteView(body, sealed - kTagSize), &payload_size, &next_header, &malformed))
      return reject(DropReason::kMalformed);
    if (next_header == NextHeader::kManifest) {
      std::memset(body, 0, sealed);
      metrics_.Count(Outcome::kManifestIgnored);
      OpenResult res;
      res.verdict = Verdict::kConsumed;
      res.event = event;
      return res;
    }
    // 7. Accepted: record the sequence number. A new sender takes one of
    //    the unvouched senders' places; when they are all taken, the key
    //    service is asked whether it is a real sender (TakeSignerLookups).
    if (sender == nullptr) sender = s->windows.AddUnvouched(h.sender);
    if (sender == nullptr) {
      s->NoteUnknownSender(h.sender);
      return reject(DropReason::kSenderLimit);
    }
    if (!Advance(sender, h.seq, now)) return reject(DropReason::kReplay);  // unreachable
  }
  metrics_.Count(Outcome::kOpened);
  return Delivered(packet, h, payload_size, next_header, event);
}

// An SA with source authentication (docs/packet-format.md): the sender must
// be one the SA vouches for, and the packet the one a manifest it signed
// names. A data packet is checked against the manifests it holds by its
// hash before it is even decrypted; a manifest is verified (within the
// sender's budget) before it is kept. Only then does anything move the
// sender's window, so a member holding the AEAD key can neither forge
// another sender's packets nor push its window out of the way.
OpenResult DataPlane::OpenSigned(SaState& s, const Flow& flow, MutableByteView packet,
                                 const PacketHeader& h, Micros now, EventId event) {
  uint8_t* p = packet.data();
  const size_t sealed = packet.size() - kHeaderSize;
  uint8_t* body = p + kHeaderSize;
  std::lock_guard open_lock(s.open_mu);
  auto reject = [&](DropReason r) {
    std::memset(body, 0, sealed);
    return DropIn(r, event);
  };
  auto decrypt = [&] {
    return s.open->Open(ByteView(p + kNonceOffset, kNonceSize), ByteView(p, kHeaderSize),
                        ByteView(body, sealed), body);
  };
  size_t payload_size = 0;
  NextHeader next_header = NextHeader::kNone;
  const char* malformed = nullptr;

  // 1. A sender the key service vouched for, with its key. For one it did
  //    not, ask (only when the packet is authentic: an outsider cannot make
  //    the agent ask anything).
  SenderWindows::Entry* sender = s.windows.FindEntry(h.sender);
  if (sender == nullptr || !sender->signer) {
    if (!decrypt()) return reject(DropReason::kAuthFailed);
    s.NoteUnknownSender(h.sender);
    return reject(DropReason::kUnknownSender);
  }
  SignerState& signer = *sender->signer;

  // 2. A data packet a verified manifest names: it must be exactly that one.
  ManifestStore::Entry* manifest = nullptr;
  size_t index = 0;
  if (const uint8_t* want = signer.manifests.Covering(h.seq, &manifest, &index)) {
    uint8_t got[kPacketHashSize];
    PacketHash(ByteView(p, packet.size()), got);
    if (std::memcmp(got, want, kPacketHashSize) != 0) return DropIn(DropReason::kForged, event);
    if (!decrypt()) return reject(DropReason::kAuthFailed);
    if (!sender->window.Check(h.seq)) return reject(DropReason::kReplay);
    if (s.sa.event != event || !SelectorAdmits(s.sa, flow))
      return reject(DropReason::kSelectorMismatch);
    if (!ParseTrailer(ByteView(body, sealed - kTagSize), &payload_size, &next_header, &malformed) ||
        next_header == NextHeader::kManifest)
      return reject(DropReason::kMalformed);
    if (!Advance(sender, h.seq, now)) return reject(DropReason::kReplay);  // unreachable
    ManifestStore::Consume(manifest, index);
    metrics_.Count(Outcome::kOpened);
    return Delivered(packet, h, payload_size, next_header, event);
  }

  // 3. Otherwise it can only be a manifest.
  if (!decrypt()) return reject(DropReason::kAuthFailed);
  if (s.sa.event != event || !SelectorAdmits(s.sa, flow))
    return reject(DropReason::kSelectorMismatch);
  if (!ParseTrailer(ByteView(body, sealed - kTagSize), &payload_size, &next_header, &malformed))
    return reject(DropReason::kMalformed);
  // A data packet no manifest names: forged, or its manifest was lost (or
  // is still to come, were the network to reorder them).
  if (next_header != NextHeader::kManifest) return reject(DropReason::kUnsigned);
  ManifestView m;
  if (!ParseManifest(ByteView(body, payload_size), h.seq, &m, &malformed))
    return reject(DropReason::kMalformed);
  if (!sender->window.Check(h.seq)) {
    if (!signer.manifests.Holds(h.seq)) return reject(DropReason::kReplay);
    std::memset(body, 0, sealed);  // the second copy of one already verified
    metrics_.Count(Outcome::kManifestDuplicate);
    OpenResult res;
    res.verdict = Verdict::kConsumed;
    res.event = event;
    return res;
  }
  if (!WithinJump(sender, s.sa, h.seq, now, max_jump_)) return reject(DropReason::kSequenceJump);
  if (!signer.budget.Take(now)) return reject(DropReason::kVerifyLimit);
  uint8_t signed_bytes[kMaxManifestSignedSize];
  size_t signed_size = ManifestSignedBytes(p, m.count, m.hashes, signed_bytes);
  if (!signer.verifier->Verify(ByteView(signed_bytes, signed_size), m.signature))
    return reject(DropReason::kBadSignature);
  if (!Advance(sender, h.seq, now)) return reject(DropReason::kReplay);  // unreachable
  signer.manifests.Insert(h.seq, m);
  std::memset(body, 0, sealed);
  metrics_.Count(Outcome::kManifestVerified);
  OpenResult res;
  res.verdict = Verdict::kConsumed;
  res.event = event;
  res.spi = h.spi;
  res.sender = h.sender;
  res.seq = h.seq;
  return res;
}

}  // namespace keycast::dataplane
