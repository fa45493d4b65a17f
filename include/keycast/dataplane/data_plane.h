// The security agent's data plane (seed 001 Figs. 12-13): every datagram an
// application sends or receives goes through Protect or Open, which look up
// the security policy database (SPD) and the security association database
// (SAD) and then protect, bypass or discard it. Applications see plain
// datagrams; the network sees the ESP-like packets of docs/packet-format.md.
//
//   DataPlane::Create -> AddPolicy(Policy::ProtectEvent(sa, ...)) + InstallSa(sa)
//   per outbound datagram: Protect(flow, datagram, out, now)
//     source authentication: kQueued, then Flush(event, now, sink) when the
//     result says flush, and by NextFlushAt(event) at the latest
//   per inbound datagram:  Open(flow, packet, now)
//   once per interval:     ExpireSas(now)
//   now and then:          TakeSignerLookups(event) -> ask the key service
//
// Security properties (docs/DESIGN property 7): a datagram matching a protect
// policy leaves only encrypted and authenticated under its event's live SA
// (AES-256-GCM, or ChaCha20-Poly1305 per SA), or in the clear during the
// event's clear intervals; a datagram matching no policy passes unchanged. An
// inbound datagram is handed on only if it authenticates under an installed,
// unexpired SA, was not accepted before (per-sender replay window, which no
// packet moves by more than a bound: limits::kMaxSequenceJump), and its
// destination / port / source match that SA's selector. Nonces (sender id ||
// sequence number) never repeat under one key within a process. With source
// authentication (SecurityAssociation::source_auth), an inbound packet is
// also handed on only if a manifest its sender signed names it, so no other
// member holding the same key can forge it or move its sender's window.
// Everything else is dropped and counted, never answered.
//
// Thread safety: a DataPlane is safe for concurrent use without external
// synchronisation. Protect and Open take a shared lock (many threads may send
// on one SA: sequence numbers are atomic); the control methods take it
// exclusively. Expected use: one sending thread per event, one receiving
// thread. Protect and Open never allocate (for a manifest, OpenSSL's Ed25519
// may allocate inside itself: once per batch, never per packet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/dataplane/counters.h"
#include "keycast/dataplane/flow.h"
#include "keycast/dataplane/packet_format.h"
#include "keycast/dataplane/replay_window.h"
#include "keycast/dataplane/sad.h"
#include "keycast/dataplane/spd.h"
#include "keycast/limits.h"
#include "keycast/sa.h"
#include "keycast/status.h"

namespace keycast::dataplane {

struct DataPlaneOptions {
  // Replay window per (SA, sender), in packets; a multiple of 64 in
  // [64, 65536]. Default 1024.
  uint64_t replay_window = ReplayWindow::kDefaultSize;
  // Senders tracked per SA (each has a replay window); packets from further
  // senders are dropped (sender_limit). Default 64.
  size_t max_senders_per_sa = 64;
  // Pad the plaintext to a multiple of this many bytes, to hide payload sizes
  // (traffic-flow confidentiality); a power of two in [4, 256]. Default 4.
  size_t pad_block = kMinPadBlock;
  // Also count into keycast::Metrics::Global(). Default true.
  bool export_metrics = true;
  // SPI-0 (clear) packets are accepted during the event's clear intervals
  // and for this long after the last one ends, for packets that were in
  // flight at the boundary (capped at the clear SA's grace). Senders never
  // send clear packets past a clear interval's end. In [0, 10 s]. Default 0.
  Micros clear_grace = 0;

  // Source authentication (docs/packet-format.md). A signing sender holds
  // its packets until it has sign_batch_packets of them, or the first has
  // waited sign_batch_interval (the latency signing adds), then sends a
  // signed manifest manifest_copies times and the packets after it.
  // In [1, 64], default 32; in [1 ms, 100 ms], default 20 ms; in [1, 4], default 2.
  size_t sign_batch_packets = limits::kDefaultSignBatchPackets;
  Micros sign_batch_interval = limits::kDefaultSignBatchMicros;
  size_t manifest_copies = limits::kDefaultManifestCopies;
  // A receiver verifies at most this many manifests per (SA, sender) and
  // second (a flood of forged manifests is dropped unverified,
  // verify_limit). In [16, 1000000]. Default 2000.
  uint32_t manifest_verifies_per_second = limits::kDefaultManifestVerifiesPerSecond;
};

enum class Verdict : uint8_t {
  kDrop = 0,   // counted under `reason`; send / deliver nothing
  kBypass,     // pass the datagram on unchanged
  kProtected,  // outbound: send `packet`
  kOpened,     // inbound: deliver `payload`
  kClear,      // clear interval: outbound send `packet`, inbound deliver `payload`
  kQueued,     // outbound, signed: sealed into the SA's batch; Flush sends it
  kConsumed,   // inbound: a manifest, used (or a copy of one); nothing to deliver
};

struct ProtectResult {
  Verdict verdict = Verdict::kDrop;
  DropReason reason = DropReason::kInternal;  // meaningful for kDrop only
  // What to transmit: the datagram itself (kBypass), or a prefix of `out`
  // (kProtected, kClear). Empty for kDrop.
  ByteView packet;
  EventId event;  // the protect policy's event, when one matched
  // kQueued: the batch is full; Flush(event, ...) before the next Protect
  // of this event (else that one is dropped, batch_full).
  bool flush = false;
};

// Where Flush sends a signed batch: the manifest copies, then the packets,
// in that order, in one call. The views are valid during the call only.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void Send(EventId event, const ByteView* packets, size_t count) = 0;
};

// Sender ids a receiver saw in authentic packets of an SA that does not
// vouch for them: the agent asks the key service about them
// (keyproto::Request::signer_hints) with a refresh of that epoch.
struct SignerLookup {
  Epoch epoch;
  std::vector<SenderId> senders;
};

struct OpenResult {
  Verdict verdict = Verdict::kDrop;
  DropReason reason = DropReason::kInternal;  // meaningful for kDrop only
  // What to deliver: the whole packet (kBypass), or the payload, decrypted in
  // place inside the packet buffer (kOpened, kClear). Empty for kDrop.
  MutableByteView payload;
  NextHeader next_header = NextHeader::kNone;  // kOpened only
  EventId event;
  Spi spi;
  SenderId sender;   // kOpened only
  uint64_t seq = 0;  // kOpened only
};

class DataPlane {
 public:
  // An `out` buffer of this size always suffices for Protect.
  static constexpr size_t kMaxPacketSize = kMaxDatagramSize;
  // Upper bound of DataPlaneOptions::clear_grace.
  static constexpr Micros kMaxClearGrace = 10 * kMicrosPerSecond;

  // Fails with a reason on options out of range.
  static Result<std::unique_ptr<DataPlane>> Create(DataPlaneOptions options = {});
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // ---- control (exclusive lock; may allocate) ----

  // Appends a policy (lowest priority); adding an identical one is a no-op.
  Status AddPolicy(Policy p);
  // Inserts a policy before position (0 = highest priority).
  Status InsertPolicy(size_t position, Policy p);
  size_t RemovePolicies(EventId event);
  // See SecurityAssociationDatabase::Install.
  Status InstallSa(SecurityAssociation sa);
  // Installs sa only when its event holds no SA for its epoch yet (so an SA
  // derived locally never replaces one the key service handed out); true
  // when installed.
  Result<bool> InstallSaIfAbsent(SecurityAssociation sa);
  size_t RemoveSas(EventId event);
  // Removes the event's policies and SAs together; returns the SAs removed.
  size_t RemoveEvent(EventId event);
  // Drops SAs past their grace; call about once per interval.
  size_t ExpireSas(Micros now);
  // The unvouched sender ids seen on the event's SAs since the last call
  // (at most limits::kMaxSignerHints per SA), the SA's epoch with them;
  // nullopt when there are none. Clears them.
  std::optional<SignerLookup> TakeSignerLookups(EventId event);

  // ---- data path (shared lock; never allocates) ----

  // Outbound. SPD lookup: no match or bypass -> kBypass with the datagram
  // unchanged; discard -> dropped. Protect -> the event's SA at now (see
  // SecurityAssociationDatabase::Active): a clear SA gives the SPI-0
  // envelope while its interval holds now (never in its grace: an event
  // leaves the clear only forwards, so a late key drops, kNoSa, rather than
  // leak), otherwise the packet is sealed into `out`.
  // `datagram` may overlap `out` anywhere; receiving it at
  // out.data() + kHeaderSize avoids any copy.
  // REQUIRES (else kTooLarge): out has room for the result;
  // kMaxPacketSize bytes always suffice.
  ProtectResult Protect(const Flow& flow, ByteView datagram, MutableByteView out, Micros now,
                        NextHeader next_header = NextHeader::kUdpPayload);

  // Outbound, transparent (TUN) mode: `packet` is a whole IP packet whose
  // UDP payload starts at payload_offset; next_header is kIpv4Packet or
  // kIpv6Packet (else kMalformed). As Protect, except that a clear interval's
  // SPI-0 envelope carries only the UDP payload (clear packets have no next
  // header: they always carry a bare payload, whatever the sender's mode).
  ProtectResult ProtectIpPacket(const Flow& flow, ByteView packet, size_t payload_offset,
                                MutableByteView out, Micros now, NextHeader next_header);

  // Source authentication, outbound: sends every batch of the event's
  // signing SAs that is due at now (full, or its first packet waited
  // sign_batch_interval; every non-empty one when `all`) to sink, each as
  // manifest_copies copies of its signed manifest, then its packets.
  // Returns the number of datagrams sent to sink. Never allocates (OpenSSL
  // may, inside one signature per batch). sink must not call the DataPlane.
  size_t Flush(EventId event, Micros now, PacketSink& sink, bool all = false);
  // When the event's earliest queued batch falls due; nullopt when none is queued.
  std::optional<Micros> NextFlushAt(EventId event) const;

  // Inbound. SPD lookup: no match or bypass -> kBypass, discard -> dropped.
  // Protect -> SPI 0: accepted (kClear) only while one of the event's clear
  // SAs holds now (its interval, plus options().clear_grace); otherwise parse the header, find the
  // SA by SPI, authenticate and decrypt in place, check the sender's replay window and the jump
  // bound, check the SA's selector against `flow`, check the trailer, and only then record the
  // sequence number. With source authentication the sender must be vouched for and the packet
  // named by a verified manifest of its sender (a manifest itself: kConsumed). `packet` is
  // overwritten (decrypted in place).
  OpenResult Open(const Flow& flow, MutableByteView packet, Micros now);

  // ---- inspection ----
  DataPlaneCounters counters() const { return metrics_.Snapshot(); }
  EventSlots Slots(EventId event, Micros now) const;
  size_t policy_count() const;
  size_t sa_count() const;
  const DataPlaneOptions& options() const { return options_; }

  // Sets the next sequence number of the event's sender SA with this SPI, so
  // tests can reach the end of the sequence space.
  Status SetNextSequenceForTesting(EventId event, Spi spi, uint64_t next);

 private:
  explicit DataPlane(DataPlaneOptions options);

  ProtectResult ProtectImpl(const Flow& flow, ByteView datagram, ByteView clear_payload,
                            MutableByteView out, Micros now, NextHeader next_header);
  ProtectResult Queue(SaState& s, ByteView datagram, Micros now, NextHeader next_header);
  bool FlushBatch(SaState& s, PacketSink& sink, size_t* sent);
  OpenResult OpenSigned(SaState& s, const Flow& flow, MutableByteView packet, const PacketHeader& h,
                        Micros now, EventId event);
  ProtectResult DropOut(DropReason r, EventId event);
  OpenResult DropIn(DropReason r, EventId event);

  const DataPlaneOptions options_;
  // No packet moves a sender's window further ahead than this (plus what the
  // sender can have sent meanwhile): min(kMaxSequenceJump, replay_window / 2).
  const uint64_t max_jump_;
  DataPlaneMetrics metrics_;
  mutable std::shared_mutex mu_;
  SecurityPolicyDatabase spd_;       // GUARDED_BY(mu_)
  SecurityAssociationDatabase sad_;  // GUARDED_BY(mu_)
};

}  // namespace keycast::dataplane
