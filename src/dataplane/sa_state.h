// Internal: the runtime state of one installed SA, shared by the SAD (which
// owns it) and the send / receive paths (which use it under the DataPlane's
// shared lock). Like wireguard-go's Keypair: an atomic send counter, one
// keyed AEAD per direction, and the receive side's replay state.
//
// Thread safety: `sa` is immutable after creation. next_seq is atomic, so any
// number of threads may send on one SA; each AEAD context has its own mutex
// (uncontended in the expected use: one sending thread per event, one
// receiving thread), since an EVP context is not safe for concurrent use.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dataplane/source_auth.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/packet_format.h"
#include "keycast/dataplane/replay_window.h"
#include "keycast/limits.h"
#include "keycast/sa.h"
#include "keycast/status.h"

namespace keycast::dataplane {

// The senders of one SA, each with its replay window, in a fixed-capacity
// open-addressing table: finding or adding a sender on the packet path
// never allocates.
//
// Two kinds of sender (docs/packet-format.md, "Senders"):
//  - vouched for: listed by the key service with the SA (SecurityAssociation::
//    signers) or later on asking; at most limits::kMaxSignersPerSa, added on
//    the control path (Vouch), with their public key on a signed SA;
//  - unvouched: first seen in an authentic packet, added on the packet path,
//    at most `max_unvouched` (DataPlaneOptions::max_senders_per_sa); never
//    on a signed SA. When they are all taken, further unknown ids are
//    dropped (sender_limit), but the vouched-for senders keep their own
//    room: ids a member invents cannot lock out the real senders.
// Thread safety: none; guarded by SaState::open_mu (Vouch: the DataPlane's
// exclusive lock).
class SenderWindows {
 public:
  struct Entry {
    explicit Entry(uint64_t window_size) : window(window_size) {}
    SenderId id;
    bool vouched = false;
    ReplayWindow window;
    Micros advanced_at = 0;               // when the window last moved forward
    std::unique_ptr<SignerState> signer;  // signed SAs: the sender's key and manifests
  };

  SenderWindows(uint64_t window_size, size_t max_unvouched);

  Entry* FindEntry(SenderId s);
  const Entry* FindEntry(SenderId s) const;
  // Adds an unvouched sender; nullptr when their share is full (or s is 0).
  Entry* AddUnvouched(SenderId s);
  // Vouches for s (adding it if new), with its signer state on a signed SA.
  // Allocates. Fails when kMaxSignersPerSa senders are vouched for already.
  Status Vouch(SenderId s, std::unique_ptr<SignerState> signer);

  // The sender's window, or nullptr when the sender has not been seen.
  const ReplayWindow* Find(SenderId s) const;
  // The sender's window, adding it (unvouched) if new; nullptr when full.
  ReplayWindow* FindOrAdd(SenderId s);
  size_t senders() const { return unvouched_used_ + vouched_.size(); }
  size_t vouched() const;

 private:
  size_t Probe(SenderId s) const;  // slot holding s, or the empty slot where it goes
  void Index(SenderId s, Entry* e);

  uint64_t window_size_;
  std::vector<uint32_t> slot_sender_;  // 0 = empty (sender id 0 never appears on the wire)
  std::vector<Entry*> slot_entry_;
  std::vector<std::unique_ptr<Entry>> unvouched_;  // built up front: max_unvouched
  size_t unvouched_used_ = 0;
  std::vector<std::unique_ptr<Entry>> vouched_;  // built by Vouch
};

struct SaState {
  // Builds the keyed AEAD contexts (the only key setup this SA ever does),
  // and for source authentication the signing key and batch (senders) and
  // the vouched-for senders' verification keys.
  static Result<std::unique_ptr<SaState>> Create(SecurityAssociation sa, uint64_t window_size,
                                                 size_t max_senders, uint32_t verifies_per_second);

  SaState(SecurityAssociation s, uint64_t window_size, size_t max_senders)
      : sa(std::move(s)), windows(window_size, max_senders) {}

  // Takes the next sequence number, leaving `reserve` more for later (a
  // signed batch keeps one for its manifest); false when the SA is
  // exhausted. Never moves the counter past kMaxSequence + 1, so it cannot wrap.
  bool TakeSequence(uint64_t* seq, uint64_t reserve = 0) {
    uint64_t v = next_seq.load(std::memory_order_relaxed);
    do {
      if (v > kMaxSequence - reserve) return false;
    } while (!next_seq.compare_exchange_weak(v, v + 1, std::memory_order_relaxed));
    *seq = v;
    return true;
  }

  // Signed sender SA (source authentication): packets are queued in `batch`.
  bool signs() const { return sa.source_auth && !sa.clear && sa.role == Role::kSender; }
  // Signed SA: packets must come with a manifest of their sender.
  bool verifies() const { return sa.source_auth && !sa.clear; }

  // Adds the senders of `signers` not vouched for yet (control path; the
  // DataPlane's exclusive lock). Fails on a public key that is not one.
  Status VouchFor(const std::vector<Signer>& signers, uint32_t verifies_per_second);

  const SecurityAssociation sa;

  // ---- send side ----
  std::atomic<uint64_t> next_seq{kFirstSequence};
  std::mutex seal_mu;
  std::optional<crypto::Aead> seal;        // GUARDED_BY(seal_mu); set for non-clear sender SAs
  std::unique_ptr<ManifestSigner> signer;  // GUARDED_BY(seal_mu); signs() only
  std::unique_ptr<SendBatch> batch;        // GUARDED_BY(seal_mu); signs() only

  // ---- receive side ----
  std::mutex open_mu;
  std::optional<crypto::Aead> open;  // GUARDED_BY(open_mu); set for non-clear SAs
  SenderWindows windows;             // GUARDED_BY(open_mu)
  // Sender ids seen in authentic packets that the SA does not vouch for,
  // for the agent to ask the key service about (DataPlane::TakeSignerLookups):
  // the latest limits::kMaxSignerHints distinct ones.
  std::array<uint32_t, limits::kMaxSignerHints> hints{};  // GUARDED_BY(open_mu); 0 = empty
  size_t next_hint = 0;                                   // GUARDED_BY(open_mu)
  void NoteUnknownSender(SenderId s) {
    for (uint32_t h : hints)
      if (h == s.value) return;
    hints[next_hint] = s.value;
    next_hint = (next_hint + 1) % hints.size();
  }
};

}  // namespace keycast::dataplane
