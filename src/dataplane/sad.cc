#include "keycast/dataplane/sad.h"

#include <algorithm>
#include <cassert>
#include <mutex>
#include <string>

#include "dataplane/sa_state.h"

namespace keycast::dataplane {

namespace {

Micros IntervalEnd(const SecurityAssociation& sa) { return sa.initiation + sa.lifetime; }

bool SameCrypto(const SecurityAssociation& a, const SecurityAssociation& b) {
  return a.spi == b.spi && a.clear == b.clear && a.algorithm == b.algorithm && a.role == b.role &&
         a.sender == b.sender && a.key == b.key;
}

SaInfo InfoOf(SaState& s) {
  const SecurityAssociation& sa = s.sa;
  SaInfo i;
  i.event = sa.event;
  i.epoch = sa.epoch;
  i.spi = sa.spi;
  i.algorithm = sa.algorithm;
  i.initiation = sa.initiation;
  i.lifetime = sa.lifetime;
  i.grace = sa.grace;
  i.clear = sa.clear;
  i.source_auth = s.verifies();
  i.role = sa.role;
  i.sender = sa.sender;
  i.next_seq = s.next_seq.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> l(s.open_mu);  // the receive path adds senders
    i.vouched_senders = s.windows.vouched();
  }
  return i;
}

std::string EpochText(Epoch e) {
  return std::to_string(e.occurrence) + "." + std::to_string(e.index);
}

}  // namespace

SecurityAssociationDatabase::SecurityAssociationDatabase(SadOptions o) : options_(o) {
  assert(ReplayWindow::IsValidSize(o.replay_window));
  assert(o.max_senders_per_sa >= 1 && o.max_senders_per_sa <= kMaxSendersPerSa);
}

SecurityAssociationDatabase::~SecurityAssociationDatabase() = default;

Status SecurityAssociationDatabase::ValidateSourceAuth(const SecurityAssociation& sa,
                                                       const std::string& which) const {
  if (sa.signers.size() > limits::kMaxSignersPerSa)
    return InvalidArgument(which + ": vouches for more than " +
                           std::to_string(limits::kMaxSignersPerSa) + " senders");
  uint32_t last = 0;
  for (const Signer& s : sa.signers) {
    if (s.sender.value <= last)
      return InvalidArgument(which + ": signers must be nonzero and ascending");
    last = s.sender.value;
    if (s.public_key.size() != (sa.source_auth ? crypto::kEd25519PublicKeySize : 0))
      return InvalidArgument(
          which + (sa.source_auth ? ": every signer needs a 32-byte public key"
                                  : ": signers carry no key without source authentication"));
  }
  const bool wants_seed = sa.source_auth && sa.role == Role::kSender;
  if (sa.signing_key.size() != (wants_seed ? crypto::kEd25519SeedSize : 0))
    return InvalidArgument(which + (wants_seed ? ": a signing sender needs its 32-byte signing key"
                                               : ": only a signing sender holds a signing key"));
  if (sa.source_auth && options_.replay_window < limits::kMinSignedReplayWindow)
    return FailedPrecondition(which + ": source authentication needs a replay window of at least " +
                              std::to_string(limits::kMinSignedReplayWindow) + " packets");
  return Status::Ok();
}

Status SecurityAssociationDatabase::Validate(const SecurityAssociation& sa) const {
  std::string which =
      "SA of event " + std::to_string(sa.event.value) + " epoch " + EpochText(sa.epoch);
  if (!sa.event.valid()) return InvalidArgument("SA names no event");
  if (sa.lifetime <= 0) return InvalidArgument(which + ": lifetime must be positive");
  if (sa.grace < 0) return InvalidArgument(which + ": grace must not be negative");
  if (sa.group.empty()) return InvalidArgument(which + ": selector needs a group address");
  if (!sa.source.empty() && sa.source.family != sa.group.family)
    return InvalidArgument(which + ": source and group are of different IP families");
  if (sa.role != Role::kSender && sa.role != Role::kReceiver)
    return InvalidArgument(which + ": unknown role");
  // The sender id is the nonce prefix; a clear SA seals nothing and needs none.
  if (sa.role == Role::kSender && sa.sender.value == 0 && !sa.clear)
    return InvalidArgument(which + ": a sender SA needs a nonzero sender id");
  if (sa.clear) {
    if (!sa.key.empty()) return InvalidArgument(which + ": a clear SA carries no key");
    if (sa.source_auth) return InvalidArgument(which + ": a clear SA has no source authentication");
    return Status::Ok();
  }
  if (sa.spi.value == 0) return InvalidArgument(which + ": SPI 0 is reserved for clear intervals");
  KC_RETURN_IF_ERROR(ValidateSourceAuth(sa, which));
  if (!crypto::IsKnownAead(uint8_t(sa.algorithm)))
    return InvalidArgument(which + ": unknown AEAD algorithm");
  if (sa.key.size() != crypto::kAeadKeySize)
    return InvalidArgument(which + ": key must be 32 bytes, got " + std::to_string(sa.key.size()));
  // The receive path finds an SA by SPI and group: that pair must be unique.
  auto range = std::equal_range(by_spi_.begin(), by_spi_.end(),
                                std::pair<uint32_t, SaState*>(sa.spi.value, nullptr),
                                [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto it = range.first; it != range.second; ++it) {
    const SecurityAssociation& other = it->second->sa;
    if (other.event == sa.event && other.epoch == sa.epoch) continue;  // replaced below
    if (other.group == sa.group)
      return AlreadyExists(which + ": SPI " + std::to_string(sa.spi.value) + " on group " +
                           sa.group.ToString() + " is already used by event " +
                           std::to_string(other.event.value) + " epoch " + EpochText(other.epoch));
  }
  return Status::Ok();
}

void SecurityAssociationDatabase::Bury(const SaState& s) {
  if (s.sa.clear || s.sa.role != Role::kSender) return;
  uint64_t next = s.next_seq.load(std::memory_order_relaxed);
  for (Tombstone& t : tombstones_) {
    if (t.event == s.sa.event && t.sender == s.sa.sender && t.key == s.sa.key) {
      t.next_seq = std::max(t.next_seq, next);
      t.expires = std::max(t.expires, s.sa.expires());
      return;
    }
  }
  tombstones_.push_back(Tombstone{s.sa.event, s.sa.key, s.sa.sender, next, s.sa.expires()});
}

Status SecurityAssociationDatabase::Install(SecurityAssociation sa) {
  KC_RETURN_IF_ERROR(Validate(sa));
  EventEntry& entry = events_[sa.event];
  auto same_epoch = std::find_if(entry.sas.begin(), entry.sas.end(),
                                 [&](const auto& s) { return s->sa.epoch == sa.epoch; });
  if (same_epoch != entry.sas.end() && SameCrypto((*same_epoch)->sa, sa))
    return (*same_epoch)->VouchFor(sa.signers, options_.manifest_verifies_per_second);

  EventId event = sa.event;
  Result<std::unique_ptr<SaState>> created =
      SaState::Create(std::move(sa), options_.replay_window, options_.max_senders_per_sa,
                      options_.manifest_verifies_per_second);
  if (!created.ok()) {
    if (entry.sas.empty()) events_.erase(event);
    return created.status();
  }
  std::unique_ptr<SaState> fresh = std::move(created).value();
  const SecurityAssociation& nsa = fresh->sa;

  if (same_epoch != entry.sas.end()) {
    Bury(**same_epoch);
    entry.sas.erase(same_epoch);
  }
  // Resume the sequence counter of an earlier SA with the same key and
  // sender: a nonce (sender || seq) must never repeat under one key.
  if (!nsa.clear && nsa.role == Role::kSender) {
    uint64_t resume = kFirstSequence;
    for (const Tombstone& t : tombstones_)
      if (t.event == nsa.event && t.sender == nsa.sender && t.key == nsa.key)
        resume = std::max(resume, t.next_seq);
    fresh->next_seq.store(resume, std::memory_order_relaxed);
  }

  auto pos = std::upper_bound(entry.sas.begin(), entry.sas.end(), nsa.initiation,
                              [](Micros t, const auto& s) { return t < s->sa.initiation; });
  SaState* installed = fresh.get();
  entry.sas.insert(pos, std::move(fresh));
  if (entry.sas.size() > kMaxSasPerEvent) {
    bool evicting_new = entry.sas.front().get() == installed;
    Bury(*entry.sas.front());
    entry.sas.erase(entry.sas.begin());
    if (evicting_new) {
      Reindex();
      return FailedPrecondition("SA starts before all " + std::to_string(kMaxSasPerEvent) +
                                " SAs already installed for its event");
    }
  }
  Reindex();
  return Status::Ok();
}

bool SecurityAssociationDatabase::Has(EventId event, Epoch epoch) const {
  auto it = events_.find(event);
  if (it == events_.end()) return false;
  return std::any_of(it->second.sas.begin(), it->second.sas.end(),
                     [&](const auto& s) { return s->sa.epoch == epoch; });
}

size_t SecurityAssociationDatabase::Remove(EventId event) {
  auto it = events_.find(event);
  if (it == events_.end()) return 0;
  size_t n = it->second.sas.size();
  for (const auto& s : it->second.sas) Bury(*s);
  events_.erase(it);
  Reindex();
  return n;
}

size_t SecurityAssociationDatabase::Expire(Micros now) {
  size_t n = 0;
  for (auto it = events_.begin(); it != events_.end();) {
    n += std::erase_if(it->second.sas, [&](const auto& s) { return s->sa.expires() <= now; });
    it = it->second.sas.empty() ? events_.erase(it) : std::next(it);
  }
  std::erase_if(tombstones_, [&](const Tombstone& t) { return t.expires <= now; });
  if (n) Reindex();
  return n;
}

void SecurityAssociationDatabase::Reindex() {
  by_spi_.clear();
  clear_count_ = 0;
  for (const auto& [event, entry] : events_) {
    for (const auto& s : entry.sas) {
      if (s->sa.clear)
        ++clear_count_;
      else
        by_spi_.emplace_back(s->sa.spi.value, s.get());
    }
  }
  std::sort(by_spi_.begin(), by_spi_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

SaState* SecurityAssociationDatabase::Active(EventId event, Micros now, DropReason* why) const {
  auto it = events_.find(event);
  if (it == events_.end()) {
    *why = DropReason::kNoSa;
    return nullptr;
  }
  const auto& sas = it->second.sas;  // ascending initiation
  // The latest SA whose interval holds now.
  for (auto s = sas.rbegin(); s != sas.rend(); ++s) {
    const SecurityAssociation& sa = (*s)->sa;
    if (sa.initiation <= now && now < IntervalEnd(sa)) return s->get();
  }
  // Otherwise the latest that has ended, while within its grace.
  for (auto s = sas.rbegin(); s != sas.rend(); ++s) {
    const SecurityAssociation& sa = (*s)->sa;
    if (IntervalEnd(sa) <= now) {
      if (now < sa.expires()) return s->get();
      *why = DropReason::kExpiredSa;
      return nullptr;
    }
  }
  *why = DropReason::kNoSa;  // only SAs that have not started yet
  return nullptr;
}

SaState* SecurityAssociationDatabase::ClearAt(EventId event, Micros now, Micros clear_grace) const {
  auto it = events_.find(event);
  if (it == events_.end()) return nullptr;
  for (const auto& s : it->second.sas) {
    const SecurityAssociation& sa = s->sa;
    if (sa.clear && sa.initiation <= now && now < IntervalEnd(sa) + std::min(clear_grace, sa.grace))
      return s.get();
  }
  return nullptr;
}

SaState* SecurityAssociationDatabase::FindBySpi(Spi spi, EventId event,
                                                const IpAddress& destination) const {
  auto range = std::equal_range(by_spi_.begin(), by_spi_.end(),
                                std::pair<uint32_t, SaState*>(spi.value, nullptr),
                                [](const auto& a, const auto& b) { return a.first < b.first; });
  SaState* best = nullptr;
  int best_score = -1;
  for (auto it = range.first; it != range.second; ++it) {
    const SecurityAssociation& sa = it->second->sa;
    int score = (sa.event == event ? 2 : 0) + (sa.group == destination ? 1 : 0);
    if (score > best_score) {
      best = it->second;
      best_score = score;
    }
  }
  return best;
}

const std::vector<std::unique_ptr<SaState>>* SecurityAssociationDatabase::SasOf(
    EventId event) const {
  auto it = events_.find(event);
  return it == events_.end() ? nullptr : &it->second.sas;
}

EventSlots SecurityAssociationDatabase::Slots(EventId event, Micros now) const {
  EventSlots slots;
  auto it = events_.find(event);
  if (it == events_.end()) return slots;
  for (const auto& s : it->second.sas) {  // ascending initiation
    const SecurityAssociation& sa = s->sa;
    if (IntervalEnd(sa) <= now)
      slots.previous = InfoOf(*s);
    else if (sa.initiation <= now)
      slots.current = InfoOf(*s);
    else if (!slots.next)
      slots.next = InfoOf(*s);
  }
  return slots;
}

}  // namespace keycast::dataplane
