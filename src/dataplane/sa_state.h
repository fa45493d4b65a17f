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

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "keycast/crypto.h"
#include "keycast/dataplane/packet_format.h"
#include "keycast/dataplane/replay_window.h"
#include "keycast/sa.h"
#include "keycast/status.h"

namespace keycast::dataplane {

// One replay window per sender of an SA, in a fixed-capacity open-addressing
// table allocated up front: finding or adding a sender never allocates.
// Thread safety: none; guarded by SaState::open_mu.
class SenderWindows {
 public:
  SenderWindows(uint64_t window_size, size_t max_senders);

  // The sender's window, or nullptr when the sender has not been seen.
  const ReplayWindow* Find(SenderId s) const;
  // The sender's window, adding the sender if new; nullptr when the table is full.
  ReplayWindow* FindOrAdd(SenderId s);
  size_t senders() const { return used_; }

 private:
  size_t Probe(SenderId s) const;  // slot holding s, or the empty slot where it goes

  std::vector<uint32_t> slot_sender_;  // 0 = empty (sender id 0 never appears on the wire)
  std::vector<uint32_t> slot_window_;  // index into windows_
  std::vector<ReplayWindow> windows_;
  size_t used_ = 0;
};

struct SaState {
  // Builds the keyed AEAD contexts (the only key setup this SA ever does).
  static Result<std::unique_ptr<SaState>> Create(SecurityAssociation sa, uint64_t window_size,
                                                 size_t max_senders);

  SaState(SecurityAssociation s, uint64_t window_size, size_t max_senders)
      : sa(std::move(s)), windows(window_size, max_senders) {}

  // Takes the next sequence number; false when the SA is exhausted. Never
  // moves the counter past kMaxSequence + 1, so it cannot wrap.
  bool TakeSequence(uint64_t* seq) {
    uint64_t v = next_seq.load(std::memory_order_relaxed);
    do {
      if (v > kMaxSequence) return false;
    } while (!next_seq.compare_exchange_weak(v, v + 1, std::memory_order_relaxed));
    *seq = v;
    return true;
  }

  const SecurityAssociation sa;

  // ---- send side ----
  std::atomic<uint64_t> next_seq{kFirstSequence};
  std::mutex seal_mu;
  std::optional<crypto::Aead> seal;  // GUARDED_BY(seal_mu); set for non-clear sender SAs

  // ---- receive side ----
  std::mutex open_mu;
  std::optional<crypto::Aead> open;  // GUARDED_BY(open_mu); set for non-clear SAs
  SenderWindows windows;             // GUARDED_BY(open_mu)
};

}  // namespace keycast::dataplane
