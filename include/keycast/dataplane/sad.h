// The security association database (SAD): the SAs a member holds, per
// event, as previous / current / next interval (seed 000 claim 8: key,
// initiation time, lifetime; seed 001 Fig. 12 database 1350).
//
// Key rollover loses nothing at an interval boundary:
//   - sending picks the SA whose [initiation, initiation + lifetime) holds
//     now, and falls back to the previous one while within its grace;
//   - receiving finds the SA by the packet's SPI, so the previous SA is
//     accepted until initiation + lifetime + grace, and the next one as soon
//     as it is installed, whatever the clocks of sender and receiver say.
//
// Nonce safety: a sender SA's sequence counter survives re-installation of
// the same SA and removal followed by re-installation of the same key and
// sender id (until the SA expires), so a re-join within an interval never
// reuses a nonce. Across process restarts the key service must hand out a
// fresh SenderId (see docs/packet-format.md, "Nonces").
//
// Thread safety: not synchronised. Const methods may run concurrently with
// each other (and with the data-path operations on the SaState they return,
// which synchronise themselves); Install / Remove / Expire need exclusive
// access. DataPlane holds its lock around both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/counters.h"
#include "keycast/dataplane/replay_window.h"
#include "keycast/limits.h"
#include "keycast/sa.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::dataplane {

// Runtime state of one installed SA (keyed AEAD contexts, sequence counter,
// replay windows). Defined in src/dataplane/sa_state.h; opaque here.
struct SaState;

// An installed SA without its key, for status pages and tests.
struct SaInfo {
  EventId event;
  Epoch epoch;
  Spi spi;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  Micros initiation = 0;
  Micros lifetime = 0;
  Micros grace = 0;
  bool clear = false;
  bool source_auth = false;
  Role role = Role::kReceiver;
  SenderId sender;
  uint64_t next_seq = 0;       // senders: the next sequence number to send
  size_t vouched_senders = 0;  // senders the SA vouches for (listed, or looked up)
};

// previous: the latest SA whose interval has ended (possibly past grace, if
// not yet expired out); current: the one whose interval holds now; next: the
// earliest one not yet started.
struct EventSlots {
  std::optional<SaInfo> previous;
  std::optional<SaInfo> current;
  std::optional<SaInfo> next;
};

struct SadOptions {
  uint64_t replay_window = ReplayWindow::kDefaultSize;  // packets per (SA, sender); default 1024
  size_t max_senders_per_sa = 64;  // unvouched senders per SA (each a replay window); default 64
  // Source authentication: manifest verifications per (SA, sender) and second.
  uint32_t manifest_verifies_per_second = limits::kDefaultManifestVerifiesPerSecond;
};

class SecurityAssociationDatabase {
 public:
  // previous + current + next, and one more so that installing the interval
  // after next never evicts a previous SA still within its grace.
  static constexpr size_t kMaxSasPerEvent = 4;
  static constexpr size_t kMaxSendersPerSa = 4096;

  // REQUIRES: ReplayWindow::IsValidSize(o.replay_window),
  // 1 <= o.max_senders_per_sa <= kMaxSendersPerSa (DataPlane::Create checks).
  explicit SecurityAssociationDatabase(SadOptions o = {});
  ~SecurityAssociationDatabase();
  SecurityAssociationDatabase(const SecurityAssociationDatabase&) = delete;
  SecurityAssociationDatabase& operator=(const SecurityAssociationDatabase&) = delete;

  // Installs sa for its event. Re-installing an installed SA (same epoch,
  // SPI, key, role and sender) keeps its counters and replay windows and
  // only adds the senders it vouches for that the installed one did not (a
  // signer lookup's answer); its source authentication stays as first
  // installed. A different SA for an installed epoch replaces it. When the
  // event then holds more than kMaxSasPerEvent SAs, the one that starts
  // earliest is evicted. Allocates (key schedule, replay windows).
  // Fails with a reason on an invalid SA, or on an SPI + group another SA uses.
  // A signed SA (source_auth) needs a replay window of at least
  // limits::kMinSignedReplayWindow packets.
  Status Install(SecurityAssociation sa);
  // Whether an SA of event for epoch is installed.
  bool Has(EventId event, Epoch epoch) const;
  // Removes every SA of event; returns how many.
  size_t Remove(EventId event);
  // Removes every SA with expires() <= now; returns how many.
  size_t Expire(Micros now);

  // ---- data-path lookups: never allocate ----

  // The SA to use for event at now: the latest whose [initiation,
  // initiation + lifetime) holds now, else the latest that has ended while
  // now is within its grace. nullptr when there is none, with *why = kNoSa
  // (nothing installed or started) or kExpiredSa (the last one is past grace).
  SaState* Active(EventId event, Micros now, DropReason* why) const;
  // The clear SA of event that admits an SPI-0 packet at now: its
  // [initiation, initiation + lifetime + min(clear_grace, grace)) holds now.
  // nullptr when none does.
  SaState* ClearAt(EventId event, Micros now, Micros clear_grace) const;
  // The non-clear SA with this SPI, preferring one of event whose group is
  // destination (SPIs are 32-bit and may collide across events). nullptr
  // when no SA has this SPI. The caller still checks the selector.
  SaState* FindBySpi(Spi spi, EventId event, const IpAddress& destination) const;
  // The installed SAs of event, ascending initiation; nullptr when none.
  const std::vector<std::unique_ptr<SaState>>* SasOf(EventId event) const;

  // Cold path (allocates).
  EventSlots Slots(EventId event, Micros now) const;
  size_t size() const { return by_spi_.size() + clear_count_; }

 private:
  // The sequence counter of a removed sender SA, kept until the SA would
  // have expired, so re-installing the same key and sender resumes it.
  struct Tombstone {
    EventId event;
    SecretBytes key;
    SenderId sender;
    uint64_t next_seq = 0;
    Micros expires = 0;
  };
  struct EventEntry {
    std::vector<std::unique_ptr<SaState>> sas;  // sorted by initiation
  };

  Status Validate(const SecurityAssociation& sa) const;
  Status ValidateSourceAuth(const SecurityAssociation& sa, const std::string& which) const;
  void Bury(const SaState& s);  // remember a sender SA's sequence counter
  void Reindex();

  SadOptions options_;
  std::unordered_map<EventId, EventEntry> events_;
  std::vector<std::pair<uint32_t, SaState*>> by_spi_;  // sorted by SPI; non-clear SAs only
  size_t clear_count_ = 0;
  std::vector<Tombstone> tombstones_;
};

}  // namespace keycast::dataplane
