#include "lkh/rekey_message.h"

#include <cstring>
#include <string>

#include "keycast/lkh/format.h"
#include "lkh/shape.h"

namespace keycast::lkh::internal {
namespace {

constexpr size_t kEntryCountOffset = kRekeyHeaderSize - 4;

Bytes SignatureInput(ByteView signed_part) {
  const std::string_view label = labels::kLkhRekeySignature;
  Bytes in(label.size() + signed_part.size());
  std::memcpy(in.data(), label.data(), label.size());
  if (!signed_part.empty())
    std::memcpy(in.data() + label.size(), signed_part.data(), signed_part.size());
  return in;
}

}  // namespace

Result<RekeyMessage> ParseRekeyFraming(ByteView in, RekeyReject* reject) {
  *reject = RekeyReject::kMalformed;
  if (in.size() > kMaxRekeyMessageBytes)
    return InvalidArgument("malformed: message of " + std::to_string(in.size()) +
                           " bytes exceeds the bound of " + std::to_string(kMaxRekeyMessageBytes));
  RekeyMessage m;
  uint64_t event = 0, epoch = 0;
  Reader r(in);
  if (r.U8(&m.version, "version") && m.version != kRekeyVersion)
    return InvalidArgument("malformed: unsupported rekey message version " +
                           std::to_string(m.version));
  if (!(r.U8(&m.degree, "degree") && r.U8(&m.height, "height") && r.U64(&event, "event_id") &&
        r.U64(&epoch, "epoch") && r.U64(&m.seq, "seq") && r.U32(&m.entry_count, "entry_count"))) {
    *reject = RekeyReject::kTruncated;
    return InvalidArgument(r.error());
  }
  m.event = EventId(static_cast<int64_t>(event));
  m.epoch = Epoch::FromPacked(epoch);
  if (m.entry_count > kMaxRekeyEntries)
    return InvalidArgument("malformed: entry_count " + std::to_string(m.entry_count) + " exceeds " +
                           std::to_string(kMaxRekeyEntries));
  size_t body = size_t{m.entry_count} * kRekeyEntrySize + kWrappedKeySize;
  if (r.remaining() < body + kRekeySignatureSize) {
    *reject = RekeyReject::kTruncated;
    return InvalidArgument("truncated: " + std::to_string(m.entry_count) + " entries need " +
                           std::to_string(body + kRekeySignatureSize) +
                           " bytes after the header, " + std::to_string(r.remaining()) + " remain");
  }
  if (!(r.Raw(size_t{m.entry_count} * kRekeyEntrySize, &m.entries, "entries") &&
        r.Raw(kWrappedKeySize, &m.wrapped_interval_key, "wrapped_interval_key"))) {
    *reject = RekeyReject::kTruncated;
    return InvalidArgument(r.error());
  }
  m.signed_part = in.first(r.offset());
  if (!r.Raw(kRekeySignatureSize, &m.signature, "signature")) {
    *reject = RekeyReject::kTruncated;
    return InvalidArgument(r.error());
  }
  if (!r.Finish()) return InvalidArgument("malformed: " + r.error());
  *reject = RekeyReject::kNone;
  return m;
}

bool VerifyRekeySignature(const RekeyMessage& m, const crypto::VerifyKey& key) {
  return key.Verify(SignatureInput(m.signed_part), m.signature);
}

Status ValidateRekeyFields(const RekeyMessage& m) {
  if (m.degree < kMinDegree || m.degree > kMaxDegree)
    return InvalidArgument("malformed: degree " + std::to_string(m.degree) + " outside [" +
                           std::to_string(kMinDegree) + ", " + std::to_string(kMaxDegree) + "]");
  if (!ValidShape(m.degree, m.height))
    return InvalidArgument("malformed: height " + std::to_string(m.height) +
                           " impossible for degree " + std::to_string(m.degree));
  if (!m.event.valid()) return InvalidArgument("malformed: event id must be positive");
  if (m.seq == 0) return InvalidArgument("malformed: seq must be at least 1");
  Shape shape(m.degree, m.height);
  // Entries go bottom-up: by target level ascending, then target id, then
  // wrapping node id, each strictly increasing.
  unsigned prev_level = 0;
  uint64_t prev_target = 0, prev_wrapper = 0;
  for (uint32_t i = 0; i < m.entry_count; ++i) {
    RekeyEntry e = m.entry(i);
    std::string where = "entry " + std::to_string(i) + ": ";
    if (e.wrapper == 0 || e.wrapper >= shape.node_count())
      return InvalidArgument("malformed: " + where + "wrapping node " + std::to_string(e.wrapper) +
                             " is not a non-root node of the tree");
    if ((e.wrapper - 1) / m.degree != e.target)
      return InvalidArgument("malformed: " + where + "wrapping node " + std::to_string(e.wrapper) +
                             " is not a child of target " + std::to_string(e.target));
    unsigned level = shape.LevelOf(e.target);
    bool increasing =
        i == 0 || level > prev_level ||
        (level == prev_level &&
         (e.target > prev_target || (e.target == prev_target && e.wrapper > prev_wrapper)));
    if (!increasing)
      return InvalidArgument("malformed: " + where + "out of bottom-up order or repeated");
    prev_level = level;
    prev_target = e.target;
    prev_wrapper = e.wrapper;
  }
  return Status::Ok();
}

void WriteRekeyHeader(Writer& w, uint8_t degree, uint8_t height, EventId event, Epoch epoch,
                      uint64_t seq) {
  w.U8(kRekeyVersion);
  w.U8(degree);
  w.U8(height);
  w.U64(static_cast<uint64_t>(event.value));
  w.U64(epoch.packed());
  w.U64(seq);
  w.U32(0);  // entry_count, patched by FinishRekeyMessage
}

void FinishRekeyMessage(Bytes* msg, uint32_t entry_count, ByteView wrapped_interval_key,
                        const crypto::SigningKey& signer) {
  StoreBe32(msg->data() + kEntryCountOffset, entry_count);
  msg->insert(msg->end(), wrapped_interval_key.begin(), wrapped_interval_key.end());
  Bytes sig = signer.Sign(SignatureInput(*msg));
  msg->insert(msg->end(), sig.begin(), sig.end());
}

}  // namespace keycast::lkh::internal
