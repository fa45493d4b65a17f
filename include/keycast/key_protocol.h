// The key protocol between client agents and the key service
// (seed 000 claims 7-18, seed 001 Figures 5-9, seed 003). One round trip
// over UDP, like Kerberos or DNS; the same messages over TCP with a 4-byte
// length prefix when a reply does not fit a datagram. The grammar is in
// docs/key-protocol.md and mirrored by the constants below.
//
//   request  = header body tag
//   header   = "KCK" version:u8 type:u8(=1) flags:u8  (bit 0: hints follow)
//   body     = credential:opaque16      the ticket's part sealed for the key service
//              client_nonce:[16]        fresh per request; echoed in the reply
//              timestamp:i64            client clock, Unix microseconds
//              server_nonce:u64         kClientInitiated, or a wakeup's nonce (seed 003)
//              event:u64 kind:u8 epoch:u64 sender:u32
//              [hints: count:u8(1..4) count x sender:u32]  senders to vouch for
//   tag      = HMAC-SHA256(K_auth, header || body)[0..16]   proof of possession
//
//   reply    = "KCK" version:u8 type:u8(=2) flags:u8 client_nonce:[16]
//              nonce:[12] AES-256-GCM(K_reply, aad = the 22 bytes before it, reply-body)
//              (reply-body and each SA's fields, with the senders it vouches
//              for and their public keys: docs/key-protocol.md)
//
//   wakeup   = "KCK" version:u8 type:u8(=3) flags:u8 ticket_id:[16] event:u64
//              server_nonce:u64 issued_at:i64 tag:[16]  (HMAC under K_wakeup)
//
// K_auth, K_reply and K_wakeup are HKDF-SHA256 of the session key (salt =
// ticket id) under distinct labels, so only the holder of the session key
// can make a request, read a reply, or have its agent accept a wakeup.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/sa.h"
#include "keycast/status.h"
#include "keycast/ticket.h"
#include "keycast/types.h"

namespace keycast::keyproto {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 6;
inline constexpr size_t kNonceSize = 16;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kMaxMessageBytes = 64 * 1024;  // over TCP
inline constexpr size_t kMaxSasPerReply = 3;
inline constexpr size_t kMaxReasonLength = 120;
inline constexpr size_t kMaxExtraBytes = 16 * 1024;  // LKH path keys ride here
inline constexpr uint8_t kRequestFlagHints = 0x01;   // request flags: hints follow
// SA flags (the `flags` byte of each SA in a reply).
inline constexpr uint8_t kSaFlagClear = 0x01;
inline constexpr uint8_t kSaFlagSender = 0x02;
inline constexpr uint8_t kSaFlagSourceAuth = 0x04;

// Seed 003 claim 4: an out-of-bounds value marks client-initiated
// exchanges. The key service never issues it as a wakeup nonce.
inline constexpr uint64_t kClientInitiated = 0xffffffffffffffffULL;

enum class MessageType : uint8_t { kRequest = 1, kReply = 2, kWakeup = 3 };

enum class RequestKind : uint8_t {
  kInitial = 1,  // first request: the key service picks the epoch from its clock
  kRefresh = 2,  // the key of a given epoch, inside its forward security window
};

enum class ReplyStatus : uint8_t {
  kOk = 0,
  kNotAuthorized = 1,  // revoked, disabled, event deleted, or not in the ticket
  kTooEarly = 2,       // window not open yet; retry_after says when
  kTooLate = 3,        // the epoch or the event is over
  kBadNonce = 4,       // unknown, stale or reused server nonce (seed 003)
  kUseTcp = 5,         // the answer does not fit a datagram; ask over TCP
  kUnavailable = 6,    // transient server trouble
  kClockSkew = 7,      // the request's timestamp is off by more than the bound
};
std::string_view ReplyStatusName(ReplyStatus s);

using Nonce = std::array<uint8_t, kNonceSize>;

struct Request {
  Bytes credential;
  Nonce client_nonce{};
  Micros timestamp = 0;
  uint64_t server_nonce = kClientInitiated;
  EventId event;
  RequestKind kind = RequestKind::kInitial;
  Epoch epoch;      // kRefresh: the epoch wanted
  SenderId sender;  // a sender's id from an earlier reply, or 0
  // Sender ids whose packets this member saw but whose SA did not vouch for
  // them (at most limits::kMaxSignerHints, nonzero, distinct): the key
  // service lists those it allocated, to clients still authorised to send.
  std::vector<SenderId> signer_hints;
};

// Keys derived from the session key for one ticket.
struct SessionKeys {
  SecretBytes auth, reply, wakeup;
  static SessionKeys Derive(const SecretBytes& session_key, const TicketId& ticket_id);
};

Bytes EncodeRequest(const Request& r, const SessionKeys& keys);

// A request whose structure parsed; its tag is not checked yet (the key
// service first opens the credential to learn the session key).
struct ParsedRequest {
  Request request;
  ByteView signed_part;  // header || body, into the input buffer
  ByteView tag;
};
// Bounded by limits::kMaxTcpMessageBytes; fails with the malformed field.
Result<ParsedRequest> ParseRequest(ByteView bytes);
bool VerifyRequestTag(const ParsedRequest& p, const SessionKeys& keys);

struct Reply {
  Nonce client_nonce{};
  ReplyStatus status = ReplyStatus::kOk;
  std::string reason;      // for people; empty on success
  Micros server_time = 0;  // lets the agent measure its clock offset
  Micros retry_after = 0;  // kTooEarly: when to ask again (server clock)
  EventId event;
  std::vector<SecurityAssociation> sas;  // ascending epochs
  Bytes extra;                           // optional: LKH path keys (push mode)
};

// Encrypts under keys.reply (AES-256-GCM, random nonce).
Bytes EncodeReply(const Reply& r, const SessionKeys& keys);
// Decrypts, authenticates and checks that the reply answers `expected`.
Result<Reply> OpenReply(ByteView bytes, const SessionKeys& keys, const Nonce& expected);
// The body decoder alone (exposed for fuzzing).
Result<Reply> DecodeReplyBody(ByteView plain);

struct Wakeup {
  TicketId ticket_id{};
  EventId event;
  uint64_t server_nonce = 0;
  Micros issued_at = 0;
};
Bytes EncodeWakeup(const Wakeup& w, const SessionKeys& keys);
// Structure only (to learn the ticket id); then VerifyWakeup.
Result<Wakeup> ParseWakeup(ByteView bytes);
bool VerifyWakeup(ByteView bytes, const SessionKeys& keys);

// The type byte of a well-formed header, or nullopt.
std::optional<MessageType> PeekType(ByteView bytes);

// ---- Hot-path primitives (docs/bench-keys.md) ----
//
// OpenSSL 3 sets up and tears down a provider context in every one-shot call
// (HMAC(), HKDF through EVP_PKEY, a fresh EVP_CIPHER_CTX), which costs more
// than the cryptography on messages this small. These keep their contexts:
// the free functions above use one of each per thread, the key service uses
// them for its own derivations, and SessionContext keeps one per session.
// They compute exactly the same bytes as crypto::HmacSha256, crypto::Hkdf and
// crypto::Aead (AES-256-GCM).
// Thread safety: not safe for concurrent use; one per thread.

class HmacSha256 {
 public:
  HmacSha256();
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  // Hashes the padded key into the inner and outer states (an empty key is
  // the all-zero key, as in HKDF). A new HmacSha256 has the empty key.
  void SetKey(ByteView key);
  // HMAC-SHA256(key, a || b || c) under the key last set.
  crypto::Digest Mac(ByteView a, ByteView b = {}, ByteView c = {});

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// HKDF-SHA256 (RFC 5869) split in its two steps, for several outputs of one
// input key: Extract once, then one Expand per label. Outputs are limited to
// one hash block (32 bytes), which is all Keycast derives; the result equals
// crypto::Hkdf(ikm, salt, label, context, length).
class HkdfSha256 {
 public:
  // Extract: PRK = HMAC(salt, ikm), on `hmac` (which it keeps keyed by PRK).
  HkdfSha256(HmacSha256* hmac, ByteView ikm, ByteView salt);
  // Expand: T(1) = HMAC(PRK, label || context || 0x01), first `length` bytes.
  // REQUIRES: 1 <= length <= 32; nothing else used `hmac` since the last call.
  SecretBytes Expand(std::string_view label, ByteView context, size_t length);
  // Same, into out (for fixed-size buffers). REQUIRES: 1 <= out.size() <= 32.
  void Expand(std::string_view label, ByteView context, MutableByteView out);

 private:
  HmacSha256* hmac_;
};

// AES-256-GCM with 96-bit nonces and 128-bit tags on a reusable context.
class AesGcm {
 public:
  AesGcm();
  ~AesGcm();
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // REQUIRES: key.size() == 32. The key schedule of each direction runs on
  // its first use.
  void SetKey(ByteView key);
  // As crypto::Aead::Seal / Open. REQUIRES: SetKey was called.
  bool Seal(ByteView nonce, ByteView aad, ByteView plaintext, uint8_t* out);
  bool Open(ByteView nonce, ByteView aad, ByteView ciphertext_and_tag, uint8_t* out);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The keyed contexts of one session, for code that talks for many sessions
// at once (load generators, gateways): the HMAC and AES key schedules run
// once here instead of once per message. Same bytes on the wire as
// EncodeRequest and OpenReply.
// Thread safety: not safe for concurrent use.
class SessionContext {
 public:
  explicit SessionContext(const SessionKeys& keys);
  ~SessionContext();
  SessionContext(SessionContext&&) noexcept;
  SessionContext& operator=(SessionContext&&) noexcept;

  Bytes EncodeRequest(const Request& r);
  Result<Reply> OpenReply(ByteView bytes, const Nonce& expected);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycast::keyproto
