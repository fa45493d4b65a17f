// PushMember: reassembly, then gather -> check -> unwrap for each push.
#include "keycast/push/member.h"

#include <array>
#include <cstring>
#include <mutex>

#include "keycast/metrics.h"

namespace keycast::push {
namespace {

constexpr size_t kReasons = static_cast<size_t>(PushReject::kCount);

Counter& RejectCounter(PushReject r) {
  static std::array<Counter*, kReasons> counters{};
  static std::once_flag once;
  std::call_once(once, [] {
    for (size_t i = 1; i < kReasons; ++i)
      counters[i] = &Metrics::Global().GetCounter(
          "keycast_push_rejected_total",
          "Push datagrams or messages dropped by a member, by reason.",
          "reason=\"" + std::string(PushRejectName(static_cast<PushReject>(i))) + "\"");
  });
  return *counters[static_cast<size_t>(r)];
}

PushReject FromLkh(lkh::RekeyReject r) {
  switch (r) {
    case lkh::RekeyReject::kTruncated:
      return PushReject::kTruncated;
    case lkh::RekeyReject::kForgedSignature:
      return PushReject::kForgedSignature;
    case lkh::RekeyReject::kWrongEvent:
      return PushReject::kWrongEvent;
    case lkh::RekeyReject::kReplay:
      return PushReject::kReplay;
    case lkh::RekeyReject::kMissed:
      return PushReject::kMissed;
    case lkh::RekeyReject::kNotRecoverable:
      return PushReject::kNotRecoverable;
    case lkh::RekeyReject::kNone:
    case lkh::RekeyReject::kMalformed:
      break;
  }
  return PushReject::kMalformed;
}

}  // namespace

std::string_view PushRejectName(PushReject r) {
  switch (r) {
    case PushReject::kNone:
      return "none";
    case PushReject::kTruncated:
      return "truncated";
    case PushReject::kMalformed:
      return "malformed";
    case PushReject::kTooLarge:
      return "too_large";
    case PushReject::kUnknownKey:
      return "unknown_key";
    case PushReject::kForgedSignature:
      return "forged_signature";
    case PushReject::kWrongEvent:
      return "wrong_event";
    case PushReject::kStaleTree:
      return "stale_tree";
    case PushReject::kReplay:
      return "replay";
    case PushReject::kMissed:
      return "missed";
    case PushReject::kNotRecoverable:
      return "not_recoverable";
    case PushReject::kCount:
      break;
  }
  return "unknown";
}

PushMember::PushMember(EventId event, KeyLookup keys, Options options)
    : event_(event), lookup_(std::move(keys)), options_(options) {
  if (options_.reassembly_slots == 0) options_.reassembly_slots = 1;
}

std::nullopt_t PushMember::Reject(PushReject r) {
  last_reject_ = r;
  ++counters_.rejected;
  RejectCounter(r).Inc();
  if (r == PushReject::kMissed || r == PushReject::kNotRecoverable || r == PushReject::kStaleTree)
    needs_pull_ = true;
  return std::nullopt;
}

Status PushMember::Install(const PushGrant& grant) {
  if (grant.state != GrantState::kAdmitted) return Status::Ok();
  KC_ASSIGN_OR_RETURN(lkh::MemberKeysInit init,
                      lkh::MemberKeysInit::Decode(grant.member_init.reveal()));
  if (init.event != event_) return InvalidArgument("push grant: path keys for another event");
  bool newer = !keys_ || grant.tree_id != tree_id_ || init.seq > keys_->last_seq() || needs_pull_;
  if (!newer) return Status::Ok();
  KC_ASSIGN_OR_RETURN(lkh::MemberKeys keys, lkh::MemberKeys::FromInit(init));
  keys_ = std::move(keys);
  tree_id_ = grant.tree_id;
  needs_pull_ = false;
  // Reassemblies of messages the new keys already reflect are useless.
  slots_.remove_if(
      [&](const Slot& s) { return s.tree_id == tree_id_ && s.seq <= keys_->last_seq(); });
  return Status::Ok();
}

std::optional<PushedKey> PushMember::OnDatagram(ByteView datagram) {
  ++counters_.datagrams;
  last_reject_ = PushReject::kNone;
  bool truncated = false;
  auto f = ParseFragment(datagram, &truncated);
  if (!f.ok()) return Reject(truncated ? PushReject::kTruncated : PushReject::kMalformed);
  // A shared control group carries other events' pushes: not an error.
  if (f->event != event_) return std::nullopt;
  if (!keys_) return std::nullopt;  // nothing to unwrap with yet (pending)
  // Cheap pre-filter before reassembly and the signature: a message this
  // member already processed. Each push is sent more than once, so a copy
  // of the last message is expected; anything older is a replay.
  if (f->tree_id == tree_id_ && f->seq <= keys_->last_seq()) {
    if (f->seq == keys_->last_seq()) {
      ++counters_.duplicates;
      return std::nullopt;
    }
    return Reject(PushReject::kReplay);
  }
  if (f->message_len > options_.max_message_bytes) return Reject(PushReject::kTooLarge);

  auto it = slots_.begin();
  for (; it != slots_.end(); ++it)
    if (it->tree_id == f->tree_id && it->seq == f->seq && it->len == f->message_len) break;
  if (it == slots_.end()) {
    if (slots_.size() >= options_.reassembly_slots) slots_.pop_back();
    Slot s;
    s.tree_id = f->tree_id;
    s.seq = f->seq;
    s.len = f->message_len;
    s.count = f->count;
    s.buf.resize(f->message_len);
    s.got.assign(f->count, false);
    slots_.push_front(std::move(s));
    it = slots_.begin();
  } else if (it != slots_.begin()) {
    slots_.splice(slots_.begin(), slots_, it);
    it = slots_.begin();
  }
  if (it->got[f->index]) {
    ++counters_.duplicates;
    return std::nullopt;
  }
  std::memcpy(it->buf.data() + size_t{f->index} * kFragmentPayload, f->payload.data(),
              f->payload.size());
  it->got[f->index] = true;
  if (++it->have < it->count) return std::nullopt;
  Bytes message = std::move(it->buf);
  slots_.erase(it);
  return Complete(std::move(message));
}

std::optional<PushedKey> PushMember::Complete(Bytes message) {
  ++counters_.messages;
  bool truncated = false;
  auto m = ParseMessage(message, &truncated);
  if (!m.ok()) return Reject(truncated ? PushReject::kTruncated : PushReject::kMalformed);
  const crypto::VerifyKey* vk = lookup_ ? lookup_(m->key_version) : nullptr;
  if (!vk) return Reject(PushReject::kUnknownKey);
  if (!VerifyMessage(*m, *vk)) return Reject(PushReject::kForgedSignature);
  // From here the key service said it.
  if (!ValidateMessage(*m).ok()) return Reject(PushReject::kMalformed);
  if (m->event != event_) return Reject(PushReject::kWrongEvent);
  if (m->tree_id != tree_id_) return Reject(PushReject::kStaleTree);
  if (m->seq <= keys_->last_seq()) return Reject(PushReject::kReplay);
  if (m->seq > keys_->last_seq() + 1) return Reject(PushReject::kMissed);
  auto key = keys_->Process(m->rekey, *vk);
  if (!key.ok()) return Reject(FromLkh(keys_->last_reject()));
  PushedKey out;
  out.seq = m->seq;
  SecurityAssociation& sa = out.sa;
  sa.event = m->event;
  sa.epoch = m->epoch;
  sa.spi = m->spi;
  sa.algorithm = m->algorithm;
  sa.initiation = m->initiation;
  sa.lifetime = m->lifetime;
  sa.grace = m->grace;
  sa.clear = m->clear();
  if (!sa.clear) sa.key = std::move(key).value();  // a clear interval's wrapped key is filler
  ++counters_.keys;
  return out;
}

}  // namespace keycast::push
