// Push wire formats (docs/push.md): encoders and bounded decoders.
#include "keycast/push/format.h"

#include <cstring>

#include "keycast/codec.h"
#include "keycast/labels.h"

namespace keycast::push {
namespace {

constexpr uint8_t kMagic[3] = {'K', 'C', 'P'};

std::string Num(uint64_t v) { return std::to_string(v); }

}  // namespace

// ---- PushGrant ----

SecretBytes PushGrant::Encode() const {
  Bytes out;
  out.reserve(kMinGrantBytes + 12 + member_init.size());
  Writer w(&out);
  w.U8(kGrantVersion);
  w.U8(static_cast<uint8_t>(state));
  w.U8(static_cast<uint8_t>(control_group.family));
  w.Raw(ByteView(control_group.bytes, control_group.size()));
  w.U16(control_port);
  w.U32(lead_ms);
  w.I64(member_until);
  w.U64(tree_id);
  w.Opaque16(member_init.reveal());
  SecretBytes s(out);
  SecureWipe(out.data(), out.size());
  return s;
}

Result<PushGrant> PushGrant::Decode(ByteView in) {
  if (in.size() > kMaxGrantBytes)
    return InvalidArgument("push grant: longer than " + Num(kMaxGrantBytes) + " bytes");
  Reader r(in);
  PushGrant g;
  uint8_t version = 0, state = 0, family = 0;
  ByteView addr, init;
  uint64_t tree = 0;
  if (!r.U8(&version, "version")) return InvalidArgument("push grant: " + r.error());
  if (version != kGrantVersion)
    return InvalidArgument("push grant: unknown version " + Num(version));
  if (!r.U8(&state, "state") || !r.U8(&family, "family"))
    return InvalidArgument("push grant: " + r.error());
  if (state != static_cast<uint8_t>(GrantState::kPending) &&
      state != static_cast<uint8_t>(GrantState::kAdmitted))
    return InvalidArgument("push grant: unknown state " + Num(state));
  if (family != 4 && family != 6)
    return InvalidArgument("push grant: unknown address family " + Num(family));
  if (!r.Raw(family == 4 ? 4 : 16, &addr, "control group") ||
      !r.U16(&g.control_port, "control port") || !r.U32(&g.lead_ms, "lead") ||
      !r.I64(&g.member_until, "member until") || !r.U64(&tree, "tree id") ||
      !r.Opaque16(&init, "member init", lkh::kMaxMemberInitBytes) || !r.Finish())
    return InvalidArgument("push grant: " + r.error());
  g.state = static_cast<GrantState>(state);
  g.control_group.family = family == 4 ? IpAddress::Family::kV4 : IpAddress::Family::kV6;
  std::memcpy(g.control_group.bytes, addr.data(), addr.size());
  if (!g.control_group.IsMulticast())
    return InvalidArgument("push grant: control group " + g.control_group.ToString() +
                           " is not multicast");
  if (g.control_port == 0) return InvalidArgument("push grant: control port 0");
  if (g.lead_ms == 0) return InvalidArgument("push grant: lead 0");
  if (tree == 0) return InvalidArgument("push grant: tree id 0");
  g.tree_id = tree;
  if (g.state == GrantState::kPending && !init.empty())
    return InvalidArgument("push grant: a pending grant carries no path keys");
  if (g.state == GrantState::kAdmitted && init.empty())
    return InvalidArgument("push grant: an admitted grant needs path keys");
  g.member_init = SecretBytes(init);
  return g;
}

// ---- PushMessage ----

Bytes EncodeMessage(const PushMessage& m, const crypto::SigningKey& key) {
  Bytes out;
  out.reserve(kMessageHeaderSize + m.rekey.size() + kMessageSignatureSize);
  Writer w(&out);
  w.U8(kMessageVersion);
  w.U64(static_cast<uint64_t>(m.event.value));
  w.U64(m.tree_id);
  w.U64(m.seq);
  w.U64(m.epoch.packed());
  w.U32(m.key_version.value);
  w.U32(m.spi.value);
  w.U8(static_cast<uint8_t>(m.algorithm));
  w.U8(m.flags);
  w.I64(m.initiation);
  w.I64(m.lifetime);
  w.I64(m.grace);
  w.U32(static_cast<uint32_t>(m.rekey.size()));
  w.Raw(m.rekey);
  Bytes signed_input = ToBytes(labels::kRekeyPush);
  signed_input.insert(signed_input.end(), out.begin(), out.end());
  Bytes sig = key.Sign(signed_input);
  out.insert(out.end(), sig.begin(), sig.end());
  return out;
}

Result<PushMessage> ParseMessage(ByteView in, bool* truncated) {
  if (truncated) *truncated = false;
  if (in.size() < kMinMessageBytes) {
    if (truncated) *truncated = true;
    return InvalidArgument("push message: truncated (" + Num(in.size()) + " bytes, at least " +
                           Num(kMinMessageBytes) + ")");
  }
  if (in.size() > kMaxMessageBytes) return InvalidArgument("push message: longer than the bound");
  Reader r(in);
  PushMessage m;
  uint8_t version = 0, alg = 0;
  uint64_t event = 0, epoch = 0;
  uint32_t rekey_len = 0;
  r.U8(&version, "version");
  if (version != kMessageVersion)
    return InvalidArgument("push message: unknown version " + Num(version));
  r.U64(&event, "event");
  r.U64(&m.tree_id, "tree id");
  r.U64(&m.seq, "seq");
  r.U64(&epoch, "epoch");
  r.U32(&m.key_version.value, "key version");
  r.U32(&m.spi.value, "spi");
  r.U8(&alg, "algorithm");
  r.U8(&m.flags, "flags");
  r.I64(&m.initiation, "initiation");
  r.I64(&m.lifetime, "lifetime");
  r.I64(&m.grace, "grace");
  r.U32(&rekey_len, "rekey length");
  if (!r.ok()) return InvalidArgument("push message: " + r.error());
  if (rekey_len < lkh::kMinRekeyMessageBytes || rekey_len > lkh::kMaxRekeyMessageBytes)
    return InvalidArgument("push message: rekey length " + Num(rekey_len) + " out of bounds");
  if (r.remaining() != size_t{rekey_len} + kMessageSignatureSize) {
    if (truncated && r.remaining() < size_t{rekey_len} + kMessageSignatureSize) *truncated = true;
    return InvalidArgument("push message: " + Num(r.remaining()) +
                           " bytes after the header, want " +
                           Num(size_t{rekey_len} + kMessageSignatureSize));
  }
  r.Raw(rekey_len, &m.rekey, "rekey");
  m.signed_part = in.subspan(0, r.offset());
  r.Raw(kMessageSignatureSize, &m.signature, "signature");
  if (!r.Finish()) return InvalidArgument("push message: " + r.error());
  m.event = EventId(static_cast<int64_t>(event));
  m.epoch = Epoch::FromPacked(epoch);
  m.algorithm = static_cast<crypto::AeadAlgorithm>(alg);
  return m;
}

bool VerifyMessage(const PushMessage& m, const crypto::VerifyKey& key) {
  Bytes signed_input = ToBytes(labels::kRekeyPush);
  signed_input.insert(signed_input.end(), m.signed_part.begin(), m.signed_part.end());
  return key.Verify(signed_input, m.signature);
}

Status ValidateMessage(const PushMessage& m) {
  if (m.event.value <= 0) return InvalidArgument("push message: event id must be positive");
  if (m.tree_id == 0) return InvalidArgument("push message: tree id 0");
  if (m.seq == 0) return InvalidArgument("push message: seq 0");
  if (!crypto::IsKnownAead(static_cast<uint8_t>(m.algorithm)))
    return InvalidArgument("push message: unknown algorithm " +
                           Num(static_cast<uint8_t>(m.algorithm)));
  if (m.flags & ~kFlagClear) return InvalidArgument("push message: unknown flags");
  if (m.lifetime <= 0) return InvalidArgument("push message: lifetime must be positive");
  if (m.grace < 0) return InvalidArgument("push message: negative grace");
  if (m.clear() ? m.spi.value != 0 : m.spi.value < 256)
    return InvalidArgument("push message: SPI " + Num(m.spi.value) +
                           (m.clear() ? " on a clear interval" : " is reserved"));
  // The rekey message's own header: version degree height event epoch seq.
  if (m.rekey.size() < lkh::kRekeyHeaderSize)
    return InvalidArgument("push message: rekey too short");
  const uint8_t* p = m.rekey.data();
  if (LoadBe64(p + 3) != static_cast<uint64_t>(m.event.value) ||
      LoadBe64(p + 11) != m.epoch.packed() || LoadBe64(p + 19) != m.seq)
    return InvalidArgument(
        "push message: header and rekey message disagree on event, epoch or seq");
  return Status::Ok();
}

// ---- datagrams ----

std::vector<Bytes> Fragmentize(ByteView message, EventId event, uint64_t tree_id, uint64_t seq) {
  uint32_t len = static_cast<uint32_t>(message.size());
  uint32_t count =
      static_cast<uint32_t>((message.size() + kFragmentPayload - 1) / kFragmentPayload);
  std::vector<Bytes> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    size_t off = size_t{i} * kFragmentPayload;
    size_t n = std::min(kFragmentPayload, message.size() - off);
    Bytes d;
    d.reserve(kDatagramHeaderSize + n);
    Writer w(&d);
    w.Raw(ByteView(kMagic, 3));
    w.U8(kDatagramVersion);
    w.U8(kTypeFragment);
    w.U64(static_cast<uint64_t>(event.value));
    w.U64(tree_id);
    w.U64(seq);
    w.U32(len);
    w.U32(i);
    w.U32(count);
    w.Raw(message.subspan(off, n));
    out.push_back(std::move(d));
  }
  return out;
}

Result<Fragment> ParseFragment(ByteView d, bool* truncated) {
  if (truncated) *truncated = false;
  if (d.size() < kDatagramHeaderSize) {
    if (truncated) *truncated = true;
    return InvalidArgument("push datagram: truncated header (" + Num(d.size()) + " bytes)");
  }
  if (d.size() > kMaxDatagramBytes)
    return InvalidArgument("push datagram: longer than " + Num(kMaxDatagramBytes));
  if (std::memcmp(d.data(), kMagic, 3) != 0) return InvalidArgument("push datagram: bad magic");
  if (d[3] != kDatagramVersion)
    return InvalidArgument("push datagram: unknown version " + Num(d[3]));
  if (d[4] != kTypeFragment) return InvalidArgument("push datagram: unknown type " + Num(d[4]));
  Fragment f;
  const uint8_t* p = d.data() + 5;
  f.event = EventId(static_cast<int64_t>(LoadBe64(p)));
  f.tree_id = LoadBe64(p + 8);
  f.seq = LoadBe64(p + 16);
  f.message_len = LoadBe32(p + 24);
  f.index = LoadBe32(p + 28);
  f.count = LoadBe32(p + 32);
  if (f.event.value <= 0 || f.tree_id == 0 || f.seq == 0)
    return InvalidArgument("push datagram: event, tree id and seq must be positive");
  if (f.message_len < kMinMessageBytes || f.message_len > kMaxMessageBytes)
    return InvalidArgument("push datagram: message length " + Num(f.message_len) +
                           " out of bounds");
  uint32_t want_count =
      static_cast<uint32_t>((size_t{f.message_len} + kFragmentPayload - 1) / kFragmentPayload);
  if (f.count != want_count)
    return InvalidArgument("push datagram: " + Num(f.count) + " fragments for " +
                           Num(f.message_len) + " bytes");
  if (f.index >= f.count)
    return InvalidArgument("push datagram: fragment " + Num(f.index) + " of " + Num(f.count));
  size_t want =
      std::min(kFragmentPayload, size_t{f.message_len} - size_t{f.index} * kFragmentPayload);
  if (d.size() - kDatagramHeaderSize != want) {
    if (truncated && d.size() - kDatagramHeaderSize < want) *truncated = true;
    return InvalidArgument("push datagram: fragment " + Num(f.index) + " has " +
                           Num(d.size() - kDatagramHeaderSize) + " payload bytes, want " +
                           Num(want));
  }
  f.payload = d.subspan(kDatagramHeaderSize);
  return f;
}

}  // namespace keycast::push
