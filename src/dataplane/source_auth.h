// Internal: the parts of source authentication (docs/packet-format.md,
// "Source authentication") that the send and receive paths share: the packet
// hash, Ed25519 on reusable OpenSSL contexts, a sender's batch awaiting its
// manifest, and a receiver's verified manifests and verification budget per
// sender.
//
// Nothing here allocates after construction (OpenSSL's Ed25519 may use its
// own allocator inside Sign / Verify, once per manifest, never per packet).
// Thread safety: none; each object is guarded by the lock of the SaState
// that owns it (seal_mu on the send side, open_mu on the receive side).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/dataplane/packet_format.h"
#include "keycast/limits.h"
#include "keycast/status.h"

namespace keycast::dataplane {

// The first kPacketHashSize bytes of SHA-256(packet): what a manifest names
// a packet by. A receiver that holds the AEAD key can make any number of
// packets that authenticate, but not one with a given hash (second
// preimage), so a manifest pins its packets down exactly.
void PacketHash(ByteView packet, uint8_t* out);

// An Ed25519 private key (from its 32-byte seed) on one digest context.
class ManifestSigner {
 public:
  static Result<std::unique_ptr<ManifestSigner>> Create(const SecretBytes& seed);
  ~ManifestSigner();
  ManifestSigner(const ManifestSigner&) = delete;
  ManifestSigner& operator=(const ManifestSigner&) = delete;
  // Writes the 64-byte signature of msg to out; false on a library failure.
  bool Sign(ByteView msg, uint8_t* out);

 private:
  ManifestSigner() = default;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// An Ed25519 public key on one digest context.
class ManifestVerifier {
 public:
  // Fails on a key that is not 32 bytes or not a curve point.
  static Result<std::unique_ptr<ManifestVerifier>> Create(ByteView public_key);
  ~ManifestVerifier();
  ManifestVerifier(const ManifestVerifier&) = delete;
  ManifestVerifier& operator=(const ManifestVerifier&) = delete;
  bool Verify(ByteView msg, const uint8_t* signature);
  const Bytes& public_key() const { return public_key_; }

 private:
  ManifestVerifier() = default;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  Bytes public_key_;
};

// A token bucket of Ed25519 verifications: `rate` per second, at most
// max(16, rate / 4) at once. Bounds what a flood of forged manifests under
// one sender id costs the receiver, whatever its rate.
class VerifyBudget {
 public:
  explicit VerifyBudget(uint32_t rate);
  // Takes one verification if the budget has one at `now`.
  bool Take(Micros now);

 private:
  uint64_t rate_;
  uint64_t burst_;         // in verifications
  uint64_t micro_tokens_;  // verifications x 1e6, refilled at rate_ per microsecond
  Micros last_ = 0;
};

// The verified manifests of one sender on one SA whose packets may still
// come: a ring of limits::kMaxPendingManifests, the one with the lowest
// sequence number replaced first. Only verified manifests get in, so
// forgeries can never push a genuine one out.
class ManifestStore {
 public:
  struct Entry {
    uint64_t seq = 0;       // the manifest's own sequence number; 0 = empty
    uint32_t count = 0;     // it covers [seq - count, seq)
    uint64_t consumed = 0;  // bit i: packet seq - count + i was accepted
    std::array<uint8_t, kMaxManifestCount * kPacketHashSize> hashes{};
  };

  // The hash a held manifest names for packet `seq`, or nullptr when none
  // covers it; *entry and *index say where (for Consume).
  const uint8_t* Covering(uint64_t seq, Entry** entry, size_t* index);
  // Whether a manifest with this sequence number is held (a repeated copy).
  bool Holds(uint64_t manifest_seq) const;
  // Keeps a verified manifest. REQUIRES: m parsed for manifest_seq.
  void Insert(uint64_t manifest_seq, const ManifestView& m);
  static void Consume(Entry* e, size_t index) { e->consumed |= uint64_t{1} << index; }

 private:
  std::array<Entry, limits::kMaxPendingManifests> entries_{};
};

// Receive side of one vouched sender on a signed SA.
struct SignerState {
  SignerState(std::unique_ptr<ManifestVerifier> v, uint32_t verifies_per_second)
      : verifier(std::move(v)), budget(verifies_per_second) {}
  std::unique_ptr<ManifestVerifier> verifier;
  ManifestStore manifests;
  VerifyBudget budget;
};

// Send side of a signed sender SA: sealed packets awaiting their manifest.
struct SendBatch {
  static constexpr size_t kCapacity = limits::kMaxSignedBatchBytes;
  // The largest manifest packet: header, payload, padding to 4, trailer, tag.
  static constexpr size_t kMaxManifestPacket =
      kHeaderSize + kMaxManifestPayloadSize + kMinPadBlock + kTrailerSize + kTagSize;

  SendBatch() : buf(kCapacity) {}

  std::vector<uint8_t> buf;  // packets back to back
  std::array<uint32_t, kMaxManifestCount> offset{}, size{};
  std::array<uint8_t, kMaxManifestCount * kPacketHashSize> hashes{};
  size_t count = 0;
  size_t bytes = 0;
  Micros first_at = 0;     // when the first packet of the batch was queued
  uint64_t first_seq = 0;  // its sequence number
  std::array<uint8_t, kMaxManifestPacket> manifest{};
};

}  // namespace keycast::dataplane
