// DataPlane construction and the control side. The two packet paths live in
// send.cc (Protect) and receive.cc (Open), each whole in one place.
#include "keycast/dataplane/data_plane.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "dataplane/sa_state.h"

namespace keycast::dataplane {

Result<std::unique_ptr<DataPlane>> DataPlane::Create(DataPlaneOptions o) {
  if (!ReplayWindow::IsValidSize(o.replay_window))
    return InvalidArgument("replay window " + std::to_string(o.replay_window) +
                           " is not a multiple of 64 in [64, 65536]");
  if (o.max_senders_per_sa < 1 ||
      o.max_senders_per_sa > SecurityAssociationDatabase::kMaxSendersPerSa)
    return InvalidArgument("max senders per SA " + std::to_string(o.max_senders_per_sa) +
                           " is not in [1, 4096]");
  if (o.clear_grace < 0 || o.clear_grace > kMaxClearGrace)
    return InvalidArgument("clear grace " + std::to_string(o.clear_grace) +
                           " us is not in [0, 10 s]");
  if (!IsValidPadBlock(o.pad_block))
    return InvalidArgument("pad block " + std::to_string(o.pad_block) +
                           " is not a power of two in [4, 256]");
  if (o.sign_batch_packets < 1 || o.sign_batch_packets > limits::kMaxSignBatchPackets)
    return InvalidArgument("sign batch " + std::to_string(o.sign_batch_packets) +
                           " packets is not in [1, " +
                           std::to_string(limits::kMaxSignBatchPackets) + "]");
  if (o.sign_batch_interval < 1000 || o.sign_batch_interval > limits::kMaxSignBatchMicros)
    return InvalidArgument("sign batch interval " + std::to_string(o.sign_batch_interval) +
                           " us is not in [1 ms, 100 ms]");
  if (o.manifest_copies < 1 || o.manifest_copies > limits::kMaxManifestCopies)
    return InvalidArgument("manifest copies " + std::to_string(o.manifest_copies) +
                           " is not in [1, " + std::to_string(limits::kMaxManifestCopies) + "]");
  if (o.manifest_verifies_per_second < 16 || o.manifest_verifies_per_second > 1'000'000)
    return InvalidArgument("manifest verifications per second " +
                           std::to_string(o.manifest_verifies_per_second) +
                           " is not in [16, 1000000]");
  return std::unique_ptr<DataPlane>(new DataPlane(o));
}

DataPlane::DataPlane(DataPlaneOptions o)
    : options_(o),
      max_jump_(std::min<uint64_t>(limits::kMaxSequenceJump, o.replay_window / 2)),
      metrics_(o.export_metrics),
      sad_(SadOptions{o.replay_window, o.max_senders_per_sa, o.manifest_verifies_per_second}) {}

Status DataPlane::AddPolicy(Policy p) {
  std::unique_lock lock(mu_);
  const auto& existing = spd_.policies();
  bool present = std::any_of(existing.begin(), existing.end(), [&](const Policy& q) {
    return q.selector.direction == p.selector.direction &&
           q.selector.destination == p.selector.destination &&
           q.selector.destination_port == p.selector.destination_port &&
           q.selector.source == p.selector.source && q.selector.protocol == p.selector.protocol &&
           q.action == p.action && q.event == p.event;
  });
  if (present) return Status::Ok();
  return spd_.Add(std::move(p));
}

Status DataPlane::InsertPolicy(size_t position, Policy p) {
  std::unique_lock lock(mu_);
  return spd_.Insert(position, std::move(p));
}

size_t DataPlane::RemovePolicies(EventId event) {
  std::unique_lock lock(mu_);
  return spd_.RemoveEvent(event);
}

Status DataPlane::InstallSa(SecurityAssociation sa) {
  std::unique_lock lock(mu_);
  return sad_.Install(std::move(sa));
}

Result<bool> DataPlane::InstallSaIfAbsent(SecurityAssociation sa) {
  std::unique_lock lock(mu_);
  if (sad_.Has(sa.event, sa.epoch)) return false;
  KC_RETURN_IF_ERROR(sad_.Install(std::move(sa)));
  return true;
}

size_t DataPlane::RemoveSas(EventId event) {
  std::unique_lock lock(mu_);
  return sad_.Remove(event);
}

size_t DataPlane::RemoveEvent(EventId event) {
  std::unique_lock lock(mu_);
  spd_.RemoveEvent(event);
  return sad_.Remove(event);
}

size_t DataPlane::ExpireSas(Micros now) {
  std::unique_lock lock(mu_);
  return sad_.Expire(now);
}

std::optional<SignerLookup> DataPlane::TakeSignerLookups(EventId event) {
  std::shared_lock lock(mu_);
  const auto* sas = sad_.SasOf(event);
  if (sas == nullptr) return std::nullopt;
  for (const auto& s : *sas) {
    std::lock_guard open_lock(s->open_mu);
    SignerLookup l;
    for (uint32_t& h : s->hints) {
      // Asked about already and vouched for since: nothing to ask.
      const SenderWindows::Entry* e = h ? s->windows.FindEntry(SenderId{h}) : nullptr;
      if (h != 0 && !(e && e->vouched)) l.senders.push_back(SenderId{h});
      h = 0;
    }
    if (l.senders.empty()) continue;
    l.epoch = s->sa.epoch;
    return l;
  }
  return std::nullopt;
}

std::optional<Micros> DataPlane::NextFlushAt(EventId event) const {
  std::shared_lock lock(mu_);
  const auto* sas = sad_.SasOf(event);
  if (sas == nullptr) return std::nullopt;
  std::optional<Micros> at;
  for (const auto& s : *sas) {
    if (!s->signs()) continue;
    std::lock_guard seal_lock(s->seal_mu);
    if (s->batch->count == 0) continue;
    Micros due = s->batch->first_at + options_.sign_batch_interval;
    if (!at || due < *at) at = due;
  }
  return at;
}

EventSlots DataPlane::Slots(EventId event, Micros now) const {
  std::shared_lock lock(mu_);
  return sad_.Slots(event, now);
}

size_t DataPlane::policy_count() const {
  std::shared_lock lock(mu_);
  return spd_.size();
}

size_t DataPlane::sa_count() const {
  std::shared_lock lock(mu_);
  return sad_.size();
}

Status DataPlane::SetNextSequenceForTesting(EventId event, Spi spi, uint64_t next) {
  std::unique_lock lock(mu_);
  SaState* s = sad_.FindBySpi(spi, event, IpAddress());
  if (!s || s->sa.event != event || s->sa.role != Role::kSender)
    return NotFound("no sender SA with SPI " + std::to_string(spi.value) + " for event " +
                    std::to_string(event.value));
  s->next_seq.store(next, std::memory_order_relaxed);
  return Status::Ok();
}

ProtectResult DataPlane::DropOut(DropReason r, EventId event) {
  metrics_.Drop(r);
  ProtectResult res;
  res.verdict = Verdict::kDrop;
  res.reason = r;
  res.event = event;
  return res;
}

OpenResult DataPlane::DropIn(DropReason r, EventId event) {
  metrics_.Drop(r);
  OpenResult res;
  res.verdict = Verdict::kDrop;
  res.reason = r;
  res.event = event;
  return res;
}

}  // namespace keycast::dataplane
