#include "dataplane/sa_state.h"

#include <algorithm>
#include <bit>
#include <string>

namespace keycast::dataplane {

SenderWindows::SenderWindows(uint64_t window_size, size_t max_unvouched)
    : window_size_(window_size) {
  // Load factor at most 1/2 keeps probes short.
  size_t slots = std::bit_ceil((max_unvouched + limits::kMaxSignersPerSa) * 2);
  slot_sender_.assign(slots, 0);
  slot_entry_.assign(slots, nullptr);
  unvouched_.reserve(max_unvouched);
  for (size_t i = 0; i < max_unvouched; ++i)
    unvouched_.push_back(std::make_unique<Entry>(window_size));
  vouched_.reserve(limits::kMaxSignersPerSa);
}

size_t SenderWindows::Probe(SenderId s) const {
  size_t mask = slot_sender_.size() - 1;
  // Fibonacci hashing; the table never fills (load <= 1/2), so this ends.
  size_t i = size_t((uint64_t(s.value) * 0x9E3779B97F4A7C15ull) >> 32) & mask;
  while (slot_sender_[i] != 0 && slot_sender_[i] != s.value) i = (i + 1) & mask;
  return i;
}

void SenderWindows::Index(SenderId s, Entry* e) {
  size_t i = Probe(s);
  slot_sender_[i] = s.value;
  slot_entry_[i] = e;
  e->id = s;
}

SenderWindows::Entry* SenderWindows::FindEntry(SenderId s) {
  if (s.value == 0) return nullptr;
  size_t i = Probe(s);
  return slot_sender_[i] == s.value ? slot_entry_[i] : nullptr;
}

const SenderWindows::Entry* SenderWindows::FindEntry(SenderId s) const {
  return const_cast<SenderWindows*>(this)->FindEntry(s);
}

SenderWindows::Entry* SenderWindows::AddUnvouched(SenderId s) {
  if (s.value == 0 || unvouched_used_ == unvouched_.size()) return nullptr;
  Entry* e = unvouched_[unvouched_used_++].get();
  Index(s, e);
  return e;
}

Status SenderWindows::Vouch(SenderId s, std::unique_ptr<SignerState> signer) {
  if (s.value == 0) return InvalidArgument("sender id 0 is never a sender");
  Entry* e = FindEntry(s);
  if (e != nullptr) {
    e->vouched = true;  // an unvouched sender now vouched for: it keeps its window
    if (signer && !e->signer) e->signer = std::move(signer);
    return Status::Ok();
  }
  if (vouched_.size() == limits::kMaxSignersPerSa)
    return ResourceExhausted("an SA vouches for at most " +
                             std::to_string(limits::kMaxSignersPerSa) + " senders");
  vouched_.push_back(std::make_unique<Entry>(window_size_));
  Entry* fresh = vouched_.back().get();
  fresh->vouched = true;
  fresh->signer = std::move(signer);
  Index(s, fresh);
  return Status::Ok();
}

const ReplayWindow* SenderWindows::Find(SenderId s) const {
  const Entry* e = FindEntry(s);
  return e ? &e->window : nullptr;
}

ReplayWindow* SenderWindows::FindOrAdd(SenderId s) {
  Entry* e = FindEntry(s);
  if (e == nullptr) e = AddUnvouched(s);
  return e ? &e->window : nullptr;
}

size_t SenderWindows::vouched() const {
  size_t n = vouched_.size();
  for (size_t i = 0; i < unvouched_used_; ++i) n += unvouched_[i]->vouched ? 1 : 0;
  return n;
}

Status SaState::VouchFor(const std::vector<Signer>& signers, uint32_t verifies_per_second) {
  for (const Signer& s : signers) {
    const SenderWindows::Entry* e = windows.FindEntry(s.sender);
    if (e != nullptr && e->vouched) continue;
    std::unique_ptr<SignerState> state;
    if (verifies()) {
      // An answer given after the event's source authentication was turned
      // off: its senders have no key, and this SA keeps verifying.
      if (s.public_key.empty()) continue;
      KC_ASSIGN_OR_RETURN(auto v, ManifestVerifier::Create(s.public_key));
      state = std::make_unique<SignerState>(std::move(v), verifies_per_second);
    }
    KC_RETURN_IF_ERROR(windows.Vouch(s.sender, std::move(state)));
  }
  return Status::Ok();
}

Result<std::unique_ptr<SaState>> SaState::Create(SecurityAssociation sa, uint64_t window_size,
                                                 size_t max_senders, uint32_t verifies_per_second) {
  // A signed SA admits vouched-for senders only: no room for unvouched ones.
  const bool verifies = sa.source_auth && !sa.clear;
  auto s = std::make_unique<SaState>(std::move(sa), window_size, verifies ? 0 : max_senders);
  if (!s->sa.clear) {
    KC_ASSIGN_OR_RETURN(crypto::Aead open, crypto::Aead::Create(s->sa.algorithm, s->sa.key));
    s->open.emplace(std::move(open));
    if (s->sa.role == Role::kSender) {
      KC_ASSIGN_OR_RETURN(crypto::Aead seal, crypto::Aead::Create(s->sa.algorithm, s->sa.key));
      s->seal.emplace(std::move(seal));
    }
  }
  if (s->signs()) {
    KC_ASSIGN_OR_RETURN(s->signer, ManifestSigner::Create(s->sa.signing_key));
    s->batch = std::make_unique<SendBatch>();
  }
  KC_RETURN_IF_ERROR(s->VouchFor(s->sa.signers, verifies_per_second));
  return s;
}

}  // namespace keycast::dataplane
