// Wire format of the channel messages (docs/channel.md, "Messages"). Mirrors
// the grammar there field by field. Parsers are bounded by
// channel::kMaxMessageBytes, use Reader, and fail with the field and offset.
// Encoders are canonical: Encode(Parse(b)) == b for every accepted b.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "keycast/bytes.h"
#include "keycast/channel.h"
#include "keycast/crypto.h"
#include "keycast/status.h"

namespace keycast::channel {

enum class MessageType : uint8_t {
  kHello = 1,
  kSessionKey = 2,
  kConfirm = 3,
  kDataKey = 4,
};

inline constexpr size_t kPublicKeySize = 32;  // X25519
inline constexpr size_t kNonceSize = 32;      // client nonce
inline constexpr size_t kSealOverhead = crypto::kAeadNonceSize + crypto::kAeadTagSize;
inline constexpr size_t kSealedKeySize = kSealOverhead + 32;  // nonce || ct || tag
inline constexpr size_t kSignatureSize = crypto::kEd25519SignatureSize;
inline constexpr size_t kHeaderSize = 2;  // version, type

using PublicKey = std::array<uint8_t, kPublicKeySize>;

struct HelloMsg {
  PublicKey client_public{};
  std::array<uint8_t, kNonceSize> client_nonce{};
  Bytes subject;  // 1..kMaxSubjectBytes
};

struct SessionKeyMsg {
  ChannelExchangeId exchange_id;
  uint64_t interval = 0;
  uint8_t slot = 0;
  int64_t deadline = 0;  // Unix micros, server clock
  PublicKey server_public{};
  std::array<uint8_t, kSealedKeySize> sealed_session_key{};
  std::array<uint8_t, kSignatureSize> signature{};
};
// Bytes of an encoded SessionKeyMessage before sealed_session_key (the AAD
// of the seal and the part the transcript hash th1 covers).
inline constexpr size_t kSessionKeyPrefixSize =
    kHeaderSize + kExchangeIdSize + 8 + 1 + 8 + kPublicKeySize;
inline constexpr size_t kSessionKeyMsgSize =
    kSessionKeyPrefixSize + kSealedKeySize + kSignatureSize;

struct ConfirmMsg {
  ChannelExchangeId exchange_id;
  Bytes sealed_shared_param;  // kSealOverhead + 1..kMaxSharedParamBytes
};
// Bytes of an encoded Confirm before the sealed field (its AAD).
inline constexpr size_t kConfirmPrefixSize = kHeaderSize + kExchangeIdSize;

struct DataKeyMsg {
  ChannelExchangeId exchange_id;
  uint8_t data_key_index = 0;  // < kDataKeysPerExchange
  std::array<uint8_t, kSealedKeySize> sealed_data_key{};
  Bytes sealed_payload;  // kSealOverhead + 0..kMaxPayloadBytes
};
// AAD of sealed_data_key: header, exchange id, index.
inline constexpr size_t kDataKeyPrefixSize = kHeaderSize + kExchangeIdSize + 1;
// AAD of sealed_payload: the above plus sealed_data_key.
inline constexpr size_t kPayloadPrefixSize = kDataKeyPrefixSize + kSealedKeySize;

Bytes EncodeHello(const HelloMsg& m);
Bytes EncodeSessionKey(const SessionKeyMsg& m);
Bytes EncodeConfirm(const ConfirmMsg& m);
Bytes EncodeDataKey(const DataKeyMsg& m);

// Each returns InvalidArgument naming the field and offset on any deviation
// from the grammar (size bound, version, type, length, trailing bytes).
Result<HelloMsg> ParseHello(ByteView in);
Result<SessionKeyMsg> ParseSessionKey(ByteView in);
Result<ConfirmMsg> ParseConfirm(ByteView in);
Result<DataKeyMsg> ParseDataKey(ByteView in);

}  // namespace keycast::channel
