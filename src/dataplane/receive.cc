// The inbound path, whole: policy -> (clear | header -> SA by SPI ->
// authenticate and decrypt -> replay check -> selector check -> trailer ->
// record) (seed 001 Fig. 12 blocks 1210-1280, inbound). The order follows
// wireguard-go's receive path: nothing about a packet is believed, and no
// state changes, before it authenticates; its sequence number is recorded
// only once it is accepted, so a genuine packet re-addressed by an attacker
// (wrong group or port) cannot burn the sequence number of the original.
#include <cstring>
#include <mutex>

#include "dataplane/sa_state.h"
#include "keycast/codec.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::dataplane {

namespace {

// The SA's own selector (its event's group, port and source) against where
// the datagram actually arrived. Port 0 and an empty source mean any.
bool SelectorAdmits(const SecurityAssociation& sa, const Flow& flow) {
  return flow.destination == sa.group && (sa.port == 0 || flow.destination_port == sa.port) &&
         (sa.source.empty() || flow.source == sa.source);
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
    // 4. Replay: per (SA, sender), only now that the header is authentic.
    const ReplayWindow* seen = s->windows.Find(h.sender);
    if (seen != nullptr && !seen->Check(h.seq)) return reject(DropReason::kReplay);
    // 5. Selector: the key is right; is the packet where that key's traffic goes?
    if (s->sa.event != event || !SelectorAdmits(s->sa, flow))
      return reject(DropReason::kSelectorMismatch);
    // 6. Trailer.
    if (!ParseTrailer(ByteView(body, sealed - kTagSize), &payload_size, &next_header, &malformed))
      return reject(DropReason::kMalformed);
    // 7. Accepted: record the sequence number.
    ReplayWindow* window = s->windows.FindOrAdd(h.sender);
    if (window == nullptr) return reject(DropReason::kSenderLimit);
    if (!window->Accept(h.seq)) return reject(DropReason::kReplay);  // unreachable: checked above
  }
  metrics_.Count(Outcome::kOpened);
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

}  // namespace keycast::dataplane
