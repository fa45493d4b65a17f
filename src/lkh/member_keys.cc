// MemberKeys: a member's side of the LKH, and its unicast key bundle.

#include <mutex>
#include <string>
#include <vector>

#include "keycast/codec.h"
#include "keycast/lkh.h"
#include "keycast/metrics.h"
#include "lkh/rekey_message.h"
#include "lkh/shape.h"
#include "lkh/wrap.h"

namespace keycast::lkh {
namespace {

Counter& RejectCounter(RekeyReject r) {
  // One series per reason, registered on first use; references stay valid.
  static Counter* counters[8] = {};
  static std::once_flag once;
  std::call_once(once, [] {
    for (uint8_t i = 1; i < 8; ++i)
      counters[i] = &Metrics::Global().GetCounter(
          "keycast_lkh_rekey_rejected_total", "LKH rekey messages dropped by a member, by reason.",
          "reason=\"" + std::string(RekeyRejectName(static_cast<RekeyReject>(i))) + "\"");
  });
  return *counters[static_cast<uint8_t>(r)];
}

std::string Num(uint64_t v) { return std::to_string(v); }

}  // namespace

std::string_view RekeyRejectName(RekeyReject r) {
  switch (r) {
    case RekeyReject::kNone:
      return "none";
    case RekeyReject::kTruncated:
      return "truncated";
    case RekeyReject::kMalformed:
      return "malformed";
    case RekeyReject::kForgedSignature:
      return "forged_signature";
    case RekeyReject::kWrongEvent:
      return "wrong_event";
    case RekeyReject::kReplay:
      return "replay";
    case RekeyReject::kMissed:
      return "missed";
    case RekeyReject::kNotRecoverable:
      return "not_recoverable";
  }
  return "unknown";
}

// ---- MemberKeysInit ----

Status MemberKeysInit::Validate() const {
  if (!event.valid()) return InvalidArgument("member keys: event id must be positive");
  if (degree < kMinDegree || degree > kMaxDegree)
    return InvalidArgument("member keys: degree " + Num(degree) + " outside [" + Num(kMinDegree) +
                           ", " + Num(kMaxDegree) + "]");
  if (!internal::ValidShape(degree, height))
    return InvalidArgument("member keys: height " + Num(height) + " impossible for degree " +
                           Num(degree));
  internal::Shape shape(degree, height);
  if (leaf >= shape.leaf_capacity())
    return InvalidArgument("member keys: leaf " + Num(leaf) + " outside a tree of " +
                           Num(shape.leaf_capacity()) + " leaves");
  if (seq == 0) return InvalidArgument("member keys: seq must be at least 1");
  if (path_keys.size() != size_t{height} + 1)
    return InvalidArgument("member keys: " + Num(path_keys.size()) + " path keys for height " +
                           Num(height) + ", want " + Num(height + 1));
  for (const SecretBytes& k : path_keys)
    if (k.size() != kNodeKeySize)
      return InvalidArgument("member keys: path key of " + Num(k.size()) + " bytes, want " +
                             Num(kNodeKeySize));
  return Status::Ok();
}

SecretBytes MemberKeysInit::Encode() const {
  Bytes out;
  out.reserve(kMemberInitHeaderSize + path_keys.size() * kNodeKeySize);
  Writer w(&out);
  w.U8(kMemberInitVersion);
  w.U64(static_cast<uint64_t>(event.value));
  w.U8(degree);
  w.U8(height);
  w.U32(leaf);
  w.U64(seq);
  w.U64(epoch.packed());
  w.U8(static_cast<uint8_t>(path_keys.size()));
  for (const SecretBytes& k : path_keys) w.Raw(k.reveal());
  SecretBytes s(out);
  SecureWipe(out.data(), out.size());
  return s;
}

Result<MemberKeysInit> MemberKeysInit::Decode(ByteView in) {
  if (in.size() > kMaxMemberInitBytes)
    return InvalidArgument("member keys: " + Num(in.size()) + " bytes exceed the bound of " +
                           Num(kMaxMemberInitBytes));
  Reader r(in);
  MemberKeysInit m;
  uint8_t version = 0, count = 0;
  uint64_t event = 0, epoch = 0;
  if (r.U8(&version, "version") && version != kMemberInitVersion)
    return InvalidArgument("member keys: unsupported version " + Num(version));
  if (!(r.U64(&event, "event_id") && r.U8(&m.degree, "degree") && r.U8(&m.height, "height") &&
        r.U32(&m.leaf, "leaf") && r.U64(&m.seq, "seq") && r.U64(&epoch, "epoch") &&
        r.U8(&count, "key_count")))
    return InvalidArgument("member keys: " + r.error());
  m.event = EventId(static_cast<int64_t>(event));
  m.epoch = Epoch::FromPacked(epoch);
  if (count != size_t{m.height} + 1)
    return InvalidArgument("member keys: key_count " + Num(count) + " for height " + Num(m.height) +
                           ", want " + Num(m.height + 1));
  m.path_keys.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    ByteView k;
    if (!r.Raw(kNodeKeySize, &k, "path_key")) return InvalidArgument("member keys: " + r.error());
    m.path_keys.emplace_back(k);
  }
  if (!r.Finish()) return InvalidArgument("member keys: " + r.error());
  KC_RETURN_IF_ERROR(m.Validate());
  return m;
}

// ---- MemberKeys ----

Result<MemberKeys> MemberKeys::FromInit(const MemberKeysInit& init) {
  KC_RETURN_IF_ERROR(init.Validate());
  MemberKeys m;
  m.event_ = init.event;
  m.degree_ = init.degree;
  m.height_ = init.height;
  m.leaf_ = init.leaf;
  m.seq_ = init.seq;
  m.epoch_ = init.epoch;
  m.path_keys_ = init.path_keys;
  return m;
}

Status MemberKeys::Reject(RekeyReject reason, Status status) {
  last_reject_ = reason;
  RejectCounter(reason).Inc();
  return status;
}

Result<SecretBytes> MemberKeys::Process(ByteView message, const crypto::VerifyKey& service_key) {
  // ---- gather: framing only, enough to find the signature ----
  RekeyReject reason = RekeyReject::kNone;
  auto parsed = internal::ParseRekeyFraming(message, &reason);
  if (!parsed.ok()) return Reject(reason, parsed.status());
  const internal::RekeyMessage& m = *parsed;

  // ---- check: authenticity first, then values, event, order ----
  if (!internal::VerifyRekeySignature(m, service_key))
    return Reject(RekeyReject::kForgedSignature,
                  Unauthenticated("forged signature: rekey message seq " + Num(m.seq) +
                                  " is not signed by the key service"));
  if (Status s = internal::ValidateRekeyFields(m); !s.ok())
    return Reject(RekeyReject::kMalformed, s);
  if (m.event != event_)
    return Reject(RekeyReject::kWrongEvent,
                  InvalidArgument("wrong event: rekey message for event " + Num(m.event.value) +
                                  ", member of event " + Num(event_.value)));
  if (m.seq <= seq_)
    return Reject(RekeyReject::kReplay, FailedPrecondition("replay: seq " + Num(m.seq) +
                                                           " <= last accepted " + Num(seq_)));
  if (m.seq != seq_ + 1)
    return Reject(RekeyReject::kMissed,
                  Unavailable("missed rekey: seq " + Num(m.seq) + " follows last accepted " +
                              Num(seq_) + "; fall back to unicast pull"));
  if (m.epoch < epoch_)
    return Reject(RekeyReject::kMalformed,
                  InvalidArgument("malformed: epoch " + Num(m.epoch.packed()) +
                                  " precedes the member's " + Num(epoch_.packed())));
  if (m.degree != degree_ || m.height < height_)
    return Reject(
        RekeyReject::kNotRecoverable,
        PermissionDenied("cannot recover: tree of degree " + Num(m.degree) + " height " +
                         Num(m.height) + " does not extend the member's (degree " + Num(degree_) +
                         " height " + Num(height_) + "); fall back to unicast pull"));

  // Bottom-up over the entries: a path node is "refreshed" when any entry
  // targets it; its key is then usable only if this member unwrapped it
  // under its own (usable) child key. Levels above the member's old height
  // are new nodes and always refreshed.
  const unsigned h = m.height;
  internal::Shape shape(m.degree, h);
  internal::KeyWrapper wrapper;
  std::vector<uint32_t> path(h + 1);
  for (unsigned l = 0; l <= h; ++l) path[l] = shape.PathNode(leaf_, l);
  std::vector<uint8_t> refreshed(h + 1, 0), unwrapped(h + 1, 0);
  std::vector<SecretBytes> fresh(h + 1);
  auto usable = [&](unsigned l) { return refreshed[l] ? unwrapped[l] != 0 : l <= height_; };
  auto key_at = [&](unsigned l) {
    return refreshed[l] ? fresh[l].reveal() : path_keys_[l].reveal();
  };

  auto cannot_recover = [&](const std::string& why) {
    return Reject(RekeyReject::kNotRecoverable,
                  PermissionDenied("cannot recover the key of epoch " + Num(m.epoch.packed()) +
                                   " from rekey seq " + Num(m.seq) + ": " + why +
                                   "; removed from the group, or out of sync: fall back to "
                                   "unicast pull"));
  };

  for (uint32_t i = 0; i < m.entry_count; ++i) {
    internal::RekeyEntry e = m.entry(i);
    unsigned lt = shape.LevelOf(e.target);
    if (path[lt] != e.target) continue;  // not on this member's path
    refreshed[lt] = 1;
    if (path[lt - 1] != e.wrapper || !usable(lt - 1)) continue;
    fresh[lt] = SecretBytes(kNodeKeySize);
    internal::NodeSlot slot{m.event, m.seq, e.target, e.wrapper};
    if (!wrapper.UnwrapNodeKey(key_at(lt - 1), slot, e.wrapped, fresh[lt].reveal_mutable().data()))
      return cannot_recover("node key " + Num(e.target) + " does not unwrap under node " +
                            Num(e.wrapper));
    unwrapped[lt] = 1;
  }
  for (unsigned l = 0; l <= h; ++l)
    if (!usable(l)) return cannot_recover("no usable key for path node " + Num(path[l]));
  SecretBytes interval(kIntervalKeySize);
  if (!wrapper.UnwrapIntervalKey(key_at(h), m.event, m.seq, m.epoch, m.wrapped_interval_key,
                                 interval.reveal_mutable().data()))
    return cannot_recover("interval key does not unwrap under the root key");

  // ---- issue ----
  path_keys_.resize(h + 1);
  for (unsigned l = 0; l <= h; ++l)
    if (refreshed[l]) path_keys_[l] = std::move(fresh[l]);
  height_ = h;
  seq_ = m.seq;
  epoch_ = m.epoch;
  last_reject_ = RekeyReject::kNone;
  return interval;
}

}  // namespace keycast::lkh
