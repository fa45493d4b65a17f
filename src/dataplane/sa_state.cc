#include "dataplane/sa_state.h"

#include <bit>

namespace keycast::dataplane {

SenderWindows::SenderWindows(uint64_t window_size, size_t max_senders) {
  // Load factor at most 1/2 keeps probes short.
  size_t slots = std::bit_ceil(max_senders * 2);
  slot_sender_.assign(slots, 0);
  slot_window_.assign(slots, 0);
  windows_.reserve(max_senders);
  for (size_t i = 0; i < max_senders; ++i) windows_.emplace_back(window_size);
}

size_t SenderWindows::Probe(SenderId s) const {
  size_t mask = slot_sender_.size() - 1;
  // Fibonacci hashing; the table never fills (load <= 1/2), so this ends.
  size_t i = size_t((uint64_t(s.value) * 0x9E3779B97F4A7C15ull) >> 32) & mask;
  while (slot_sender_[i] != 0 && slot_sender_[i] != s.value) i = (i + 1) & mask;
  return i;
}

const ReplayWindow* SenderWindows::Find(SenderId s) const {
  if (s.value == 0) return nullptr;
  size_t i = Probe(s);
  return slot_sender_[i] == s.value ? &windows_[slot_window_[i]] : nullptr;
}

ReplayWindow* SenderWindows::FindOrAdd(SenderId s) {
  if (s.value == 0) return nullptr;
  size_t i = Probe(s);
  if (slot_sender_[i] == s.value) return &windows_[slot_window_[i]];
  if (used_ == windows_.size()) return nullptr;
  slot_sender_[i] = s.value;
  slot_window_[i] = uint32_t(used_);
  return &windows_[used_++];
}

Result<std::unique_ptr<SaState>> SaState::Create(SecurityAssociation sa, uint64_t window_size,
                                                 size_t max_senders) {
  auto s = std::make_unique<SaState>(std::move(sa), window_size, max_senders);
  if (!s->sa.clear) {
    KC_ASSIGN_OR_RETURN(crypto::Aead open, crypto::Aead::Create(s->sa.algorithm, s->sa.key));
    s->open.emplace(std::move(open));
    if (s->sa.role == Role::kSender) {
      KC_ASSIGN_OR_RETURN(crypto::Aead seal, crypto::Aead::Create(s->sa.algorithm, s->sa.key));
      s->seal.emplace(std::move(seal));
    }
  }
  return s;
}

}  // namespace keycast::dataplane
