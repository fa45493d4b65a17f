// Encoding and decoding of the key protocol (docs/key-protocol.md).
#include <openssl/crypto.h>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/key_protocol.h"
#include "keycast/labels.h"
#include "keycast/limits.h"

namespace keycast::keyproto {
namespace {

constexpr uint8_t kMagic[3] = {'K', 'C', 'K'};

void PutHeader(Writer& w, MessageType t) {
  w.Raw(ByteView(kMagic, 3));
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(t));
  w.U8(0);  // flags, reserved
}

bool GetHeader(Reader& r, MessageType want) {
  ByteView magic;
  uint8_t version, type, flags;
  if (!r.Raw(3, &magic, "magic")) return false;
  if (magic[0] != 'K' || magic[1] != 'C' || magic[2] != 'K') return r.Fail("not a Keycast key message");
  if (!r.U8(&version, "version") || !r.U8(&type, "type") || !r.U8(&flags, "flags")) return false;
  if (version != kVersion) return r.Fail("unsupported version " + std::to_string(version));
  if (type != static_cast<uint8_t>(want)) return r.Fail("unexpected message type " + std::to_string(type));
  if (flags != 0) return r.Fail("unknown flags");
  return true;
}

void PutAddress(Writer& w, const IpAddress& a) {
  w.U8(static_cast<uint8_t>(a.family));
  w.Raw(ByteView(a.bytes, a.size()));
}

bool GetAddress(Reader& r, IpAddress* a, const char* field) {
  uint8_t fam;
  if (!r.U8(&fam, field)) return false;
  if (fam == 0) {
    *a = IpAddress();
    return true;
  }
  if (fam != 4 && fam != 6) return r.Fail(std::string(field) + ": unknown family");
  a->family = static_cast<IpAddress::Family>(fam);
  ByteView b;
  if (!r.Raw(a->size(), &b, field)) return false;
  std::copy(b.begin(), b.end(), a->bytes);
  return true;
}

crypto::Digest Mac(const SecretBytes& key, ByteView data) { return crypto::HmacSha256(key.reveal(), data); }

}  // namespace

std::string_view ReplyStatusName(ReplyStatus s) {
  switch (s) {
    case ReplyStatus::kOk: return "ok";
    case ReplyStatus::kNotAuthorized: return "not_authorized";
    case ReplyStatus::kTooEarly: return "too_early";
    case ReplyStatus::kTooLate: return "too_late";
    case ReplyStatus::kBadNonce: return "bad_nonce";
    case ReplyStatus::kUseTcp: return "use_tcp";
    case ReplyStatus::kUnavailable: return "unavailable";
    case ReplyStatus::kClockSkew: return "clock_skew";
  }
  return "unknown";
}

SessionKeys SessionKeys::Derive(const SecretBytes& session_key, const TicketId& ticket_id) {
  ByteView salt(ticket_id.data(), ticket_id.size());
  return SessionKeys{crypto::Hkdf(session_key.reveal(), salt, labels::kKeyRequestAuth, {}, 32),
                     crypto::Hkdf(session_key.reveal(), salt, labels::kKeyReply, {}, 32),
                     crypto::Hkdf(session_key.reveal(), salt, labels::kWakeup, {}, 32)};
}

std::optional<MessageType> PeekType(ByteView b) {
  if (b.size() < kHeaderSize || b[0] != 'K' || b[1] != 'C' || b[2] != 'K' || b[3] != kVersion) return std::nullopt;
  if (b[4] < 1 || b[4] > 3) return std::nullopt;
  return static_cast<MessageType>(b[4]);
}

Bytes EncodeRequest(const Request& q, const SessionKeys& keys) {
  Bytes out;
  out.reserve(96 + q.credential.size());
  Writer w(&out);
  PutHeader(w, MessageType::kRequest);
  w.Opaque16(q.credential);
  w.Raw(ByteView(q.client_nonce.data(), q.client_nonce.size()));
  w.I64(q.timestamp);
  w.U64(q.server_nonce);
  w.U64(static_cast<uint64_t>(q.event.value));
  w.U8(static_cast<uint8_t>(q.kind));
  w.U64(q.epoch.packed());
  w.U32(q.sender.value);
  auto tag = Mac(keys.auth, out);
  w.Raw(ByteView(tag.data(), kTagSize));
  return out;
}

Result<ParsedRequest> ParseRequest(ByteView bytes) {
  if (bytes.size() > limits::kMaxTcpMessageBytes) return InvalidArgument("request too large");
  ParsedRequest p;
  Request& q = p.request;
  Reader r(bytes);
  ByteView cred, nonce, tag;
  uint64_t event, epoch;
  uint8_t kind;
  if (!GetHeader(r, MessageType::kRequest) || !r.Opaque16(&cred, "credential", limits::kMaxSealedPartBytes) ||
      !r.Raw(kNonceSize, &nonce, "client nonce") || !r.I64(&q.timestamp, "timestamp") ||
      !r.U64(&q.server_nonce, "server nonce") || !r.U64(&event, "event") || !r.U8(&kind, "kind") ||
      !r.U64(&epoch, "epoch") || !r.U32(&q.sender.value, "sender"))
    return InvalidArgument("malformed key request: " + r.error());
  size_t signed_len = r.offset();
  if (!r.Raw(kTagSize, &tag, "tag") || !r.Finish()) return InvalidArgument("malformed key request: " + r.error());
  if (kind != 1 && kind != 2) return InvalidArgument("malformed key request: unknown kind");
  if (event == 0 || event > INT64_MAX) return InvalidArgument("malformed key request: invalid event id");
  q.credential.assign(cred.begin(), cred.end());
  std::copy(nonce.begin(), nonce.end(), q.client_nonce.begin());
  q.event = EventId(static_cast<int64_t>(event));
  q.kind = static_cast<RequestKind>(kind);
  q.epoch = Epoch::FromPacked(epoch);
  p.signed_part = bytes.first(signed_len);
  p.tag = tag;
  return p;
}

bool VerifyRequestTag(const ParsedRequest& p, const SessionKeys& keys) {
  auto tag = Mac(keys.auth, p.signed_part);
  return p.tag.size() == kTagSize && CRYPTO_memcmp(tag.data(), p.tag.data(), kTagSize) == 0;
}

Bytes EncodeReply(const Reply& rep, const SessionKeys& keys) {
  SecretBytes plain;
  {
    Bytes b;
    b.reserve(64 + rep.sas.size() * 128 + rep.extra.size());
    Writer w(&b);
    w.U8(static_cast<uint8_t>(rep.status));
    w.Opaque8(std::string_view(rep.reason).substr(0, kMaxReasonLength));
    w.I64(rep.server_time);
    w.I64(rep.retry_after);
    w.U64(static_cast<uint64_t>(rep.event.value));
    w.U8(static_cast<uint8_t>(rep.sas.size()));
    for (const auto& sa : rep.sas) {
      w.U64(sa.epoch.packed());
      w.U32(sa.spi.value);
      w.U8(static_cast<uint8_t>(sa.algorithm));
      w.U8(static_cast<uint8_t>((sa.clear ? 1 : 0) | (sa.role == Role::kSender ? 2 : 0)));
      w.I64(sa.initiation);
      w.I64(sa.lifetime);
      w.I64(sa.grace);
      w.U32(sa.sender.value);
      w.Opaque8(sa.key.reveal());
      PutAddress(w, sa.group);
      w.U16(sa.port);
      PutAddress(w, sa.source);
    }
    w.Opaque16(rep.extra);
    plain = SecretBytes(b);
    SecureWipe(b.data(), b.size());
  }
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kReply);
  w.Raw(ByteView(rep.client_nonce.data(), rep.client_nonce.size()));
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, keys.reply);
  w.Raw(aead->SealRandomNonce(out, plain.reveal()));
  return out;
}

Result<Reply> DecodeReplyBody(ByteView plain) {
  Reply rep;
  Reader r(plain);
  uint8_t status, n;
  uint64_t event;
  if (!r.U8(&status, "status") || !r.String8(&rep.reason, "reason", kMaxReasonLength) ||
      !r.I64(&rep.server_time, "server time") || !r.I64(&rep.retry_after, "retry after") ||
      !r.U64(&event, "event") || !r.U8(&n, "SA count"))
    return InvalidArgument("malformed key reply: " + r.error());
  if (status > static_cast<uint8_t>(ReplyStatus::kClockSkew)) return InvalidArgument("malformed key reply: status");
  if (n > kMaxSasPerReply) return InvalidArgument("malformed key reply: too many SAs");
  if (event > INT64_MAX) return InvalidArgument("malformed key reply: event");
  rep.status = static_cast<ReplyStatus>(status);
  rep.event = EventId(static_cast<int64_t>(event));
  rep.sas.resize(n);
  for (auto& sa : rep.sas) {
    uint64_t epoch;
    uint8_t alg, flags;
    ByteView key;
    if (!r.U64(&epoch, "epoch") || !r.U32(&sa.spi.value, "spi") || !r.U8(&alg, "algorithm") ||
        !r.U8(&flags, "flags") || !r.I64(&sa.initiation, "initiation") || !r.I64(&sa.lifetime, "lifetime") ||
        !r.I64(&sa.grace, "grace") || !r.U32(&sa.sender.value, "sender") || !r.Opaque8(&key, "key", 32) ||
        !GetAddress(r, &sa.group, "group") || !r.U16(&sa.port, "port") || !GetAddress(r, &sa.source, "source"))
      return InvalidArgument("malformed key reply: " + r.error());
    if (!crypto::IsKnownAead(alg) || flags > 3) return InvalidArgument("malformed key reply: SA fields");
    sa.event = rep.event;
    sa.epoch = Epoch::FromPacked(epoch);
    sa.algorithm = static_cast<crypto::AeadAlgorithm>(alg);
    sa.clear = flags & 1;
    sa.role = (flags & 2) ? Role::kSender : Role::kReceiver;
    if (sa.clear != key.empty() || (!sa.clear && key.size() != 32) || sa.lifetime <= 0 || sa.grace < 0)
      return InvalidArgument("malformed key reply: SA key does not match its kind");
    sa.key = SecretBytes(key);
  }
  ByteView extra;
  if (!r.Opaque16(&extra, "extra", kMaxExtraBytes) || !r.Finish())
    return InvalidArgument("malformed key reply: " + r.error());
  rep.extra.assign(extra.begin(), extra.end());
  return rep;
}

Result<Reply> OpenReply(ByteView bytes, const SessionKeys& keys, const Nonce& expected) {
  if (bytes.size() > kMaxMessageBytes) return InvalidArgument("reply too large");
  Reader r(bytes);
  ByteView nonce;
  if (!GetHeader(r, MessageType::kReply) || !r.Raw(kNonceSize, &nonce, "client nonce"))
    return InvalidArgument("malformed key reply: " + r.error());
  if (!std::equal(nonce.begin(), nonce.end(), expected.begin()))
    return InvalidArgument("reply answers another request");
  ByteView aad = bytes.first(kHeaderSize + kNonceSize);
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, keys.reply);
  auto plain = aead->OpenRandomNonce(aad, r.rest());
  if (!plain.ok()) return Unauthenticated("key reply does not authenticate");
  KC_ASSIGN_OR_RETURN(Reply rep, DecodeReplyBody(plain->reveal()));
  rep.client_nonce = expected;
  return rep;
}

Bytes EncodeWakeup(const Wakeup& wk, const SessionKeys& keys) {
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kWakeup);
  w.Raw(ByteView(wk.ticket_id.data(), wk.ticket_id.size()));
  w.U64(static_cast<uint64_t>(wk.event.value));
  w.U64(wk.server_nonce);
  w.I64(wk.issued_at);
  auto tag = Mac(keys.wakeup, out);
  w.Raw(ByteView(tag.data(), kTagSize));
  return out;
}

Result<Wakeup> ParseWakeup(ByteView bytes) {
  Wakeup wk;
  Reader r(bytes);
  ByteView id, tag;
  uint64_t event;
  if (!GetHeader(r, MessageType::kWakeup) || !r.Raw(16, &id, "ticket id") || !r.U64(&event, "event") ||
      !r.U64(&wk.server_nonce, "server nonce") || !r.I64(&wk.issued_at, "issued at") ||
      !r.Raw(kTagSize, &tag, "tag") || !r.Finish())
    return InvalidArgument("malformed wakeup: " + r.error());
  if (event == 0 || event > INT64_MAX) return InvalidArgument("malformed wakeup: event");
  if (wk.server_nonce == kClientInitiated) return InvalidArgument("wakeup carries the reserved nonce");
  std::copy(id.begin(), id.end(), wk.ticket_id.begin());
  wk.event = EventId(static_cast<int64_t>(event));
  return wk;
}

bool VerifyWakeup(ByteView bytes, const SessionKeys& keys) {
  if (bytes.size() < kTagSize) return false;
  auto tag = Mac(keys.wakeup, bytes.first(bytes.size() - kTagSize));
  return CRYPTO_memcmp(tag.data(), bytes.data() + bytes.size() - kTagSize, kTagSize) == 0;
}

}  // namespace keycast::keyproto
