#include "channel/wire.h"

#include <algorithm>
#include <string>

#include "keycast/codec.h"

namespace keycast::channel {

// The sizes docs/channel.md states.
static_assert(kSessionKeyPrefixSize == 67 && kSessionKeyMsgSize == 191);
static_assert(kConfirmPrefixSize == 18 && kDataKeyPrefixSize == 19 && kPayloadPrefixSize == 79);
static_assert(kPayloadPrefixSize + 2 + kSealOverhead + kMaxPayloadBytes <= kMaxMessageBytes,
              "the largest DataKeyMessage must fit the message bound");
static_assert(kConfirmPrefixSize + 2 + kSealOverhead + kMaxSharedParamBytes <= kMaxMessageBytes);

namespace {

std::string_view TypeName(MessageType t) {
  switch (t) {
    case MessageType::kHello:
      return "hello";
    case MessageType::kSessionKey:
      return "session key message";
    case MessageType::kConfirm:
      return "confirm";
    case MessageType::kDataKey:
      return "data key message";
  }
  return "unknown";
}

void PutHeader(Writer& w, MessageType type) {
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(type));
}

// Size bound, version and type; leaves r after the header.
bool GetHeader(Reader& r, ByteView in, MessageType want) {
  if (in.size() > kMaxMessageBytes)
    return r.Fail("message of " + std::to_string(in.size()) + " bytes exceeds " +
                  std::to_string(kMaxMessageBytes));
  uint8_t version = 0, type = 0;
  if (!r.U8(&version, "version")) return false;
  if (version != kVersion) return r.Fail("unsupported version " + std::to_string(version));
  if (!r.U8(&type, "type")) return false;
  if (type != static_cast<uint8_t>(want))
    return r.Fail("expected " + std::string(TypeName(want)) + " (type " +
                  std::to_string(static_cast<int>(want)) + "), got type " + std::to_string(type));
  return true;
}

template <size_t N>
bool GetFixed(Reader& r, std::array<uint8_t, N>* out, const char* field) {
  ByteView v;
  if (!r.Raw(N, &v, field)) return false;
  std::copy(v.begin(), v.end(), out->begin());
  return true;
}

template <typename T>
Result<T> Done(Reader& r, T msg, std::string_view what) {
  if (!r.Finish()) return InvalidArgument("malformed " + std::string(what) + ": " + r.error());
  return msg;
}

Status Bad(const Reader& r, std::string_view what) {
  return InvalidArgument("malformed " + std::string(what) + ": " + r.error());
}

}  // namespace

Bytes EncodeHello(const HelloMsg& m) {
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kHello);
  w.Raw(m.client_public);
  w.Raw(m.client_nonce);
  w.Opaque16(m.subject);
  return out;
}

Result<HelloMsg> ParseHello(ByteView in) {
  Reader r(in);
  HelloMsg m;
  ByteView subject;
  if (!GetHeader(r, in, MessageType::kHello) || !GetFixed(r, &m.client_public, "client_public") ||
      !GetFixed(r, &m.client_nonce, "client_nonce") ||
      !r.Opaque16(&subject, "subject", kMaxSubjectBytes))
    return Bad(r, "hello");
  if (subject.empty()) {
    r.Fail("empty subject");
    return Bad(r, "hello");
  }
  m.subject.assign(subject.begin(), subject.end());
  return Done(r, std::move(m), "hello");
}

Bytes EncodeSessionKey(const SessionKeyMsg& m) {
  Bytes out;
  out.reserve(kSessionKeyMsgSize);
  Writer w(&out);
  PutHeader(w, MessageType::kSessionKey);
  w.Raw(m.exchange_id.bytes);
  w.U64(m.interval);
  w.U8(m.slot);
  w.I64(m.deadline);
  w.Raw(m.server_public);
  w.Raw(m.sealed_session_key);
  w.Raw(m.signature);
  return out;
}

Result<SessionKeyMsg> ParseSessionKey(ByteView in) {
  Reader r(in);
  SessionKeyMsg m;
  if (!GetHeader(r, in, MessageType::kSessionKey) ||
      !GetFixed(r, &m.exchange_id.bytes, "exchange_id") || !r.U64(&m.interval, "interval") ||
      !r.U8(&m.slot, "slot") || !r.I64(&m.deadline, "deadline") ||
      !GetFixed(r, &m.server_public, "server_public") ||
      !GetFixed(r, &m.sealed_session_key, "sealed_session_key") ||
      !GetFixed(r, &m.signature, "signature"))
    return Bad(r, "session key message");
  return Done(r, std::move(m), "session key message");
}

Bytes EncodeConfirm(const ConfirmMsg& m) {
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kConfirm);
  w.Raw(m.exchange_id.bytes);
  w.Opaque16(m.sealed_shared_param);
  return out;
}

Result<ConfirmMsg> ParseConfirm(ByteView in) {
  Reader r(in);
  ConfirmMsg m;
  ByteView sealed;
  if (!GetHeader(r, in, MessageType::kConfirm) ||
      !GetFixed(r, &m.exchange_id.bytes, "exchange_id") ||
      !r.Opaque16(&sealed, "sealed_shared_param", kSealOverhead + kMaxSharedParamBytes))
    return Bad(r, "confirm");
  if (sealed.size() < kSealOverhead + 1) {
    r.Fail("sealed_shared_param shorter than " + std::to_string(kSealOverhead + 1));
    return Bad(r, "confirm");
  }
  m.sealed_shared_param.assign(sealed.begin(), sealed.end());
  return Done(r, std::move(m), "confirm");
}

Bytes EncodeDataKey(const DataKeyMsg& m) {
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kDataKey);
  w.Raw(m.exchange_id.bytes);
  w.U8(m.data_key_index);
  w.Raw(m.sealed_data_key);
  w.Opaque16(m.sealed_payload);
  return out;
}

Result<DataKeyMsg> ParseDataKey(ByteView in) {
  Reader r(in);
  DataKeyMsg m;
  ByteView sealed;
  if (!GetHeader(r, in, MessageType::kDataKey) ||
      !GetFixed(r, &m.exchange_id.bytes, "exchange_id") ||
      !r.U8(&m.data_key_index, "data_key_index"))
    return Bad(r, "data key message");
  if (m.data_key_index >= kDataKeysPerExchange) {
    r.Fail("data_key_index " + std::to_string(m.data_key_index) + " out of range");
    return Bad(r, "data key message");
  }
  if (!GetFixed(r, &m.sealed_data_key, "sealed_data_key") ||
      !r.Opaque16(&sealed, "sealed_payload", kSealOverhead + kMaxPayloadBytes))
    return Bad(r, "data key message");
  if (sealed.size() < kSealOverhead) {
    r.Fail("sealed_payload shorter than " + std::to_string(kSealOverhead));
    return Bad(r, "data key message");
  }
  m.sealed_payload.assign(sealed.begin(), sealed.end());
  return Done(r, std::move(m), "data key message");
}

}  // namespace keycast::channel
