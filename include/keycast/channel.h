// The ephemeral secure unicast channel of seed 004, over which a receiver
// asks the reservation platform for a multicast SA (seed 002 [0019], claim 1:
// "an individual secure unicast channel").
//
// Four messages, transport-agnostic (each is a byte string; see
// docs/channel.md for the grammar and the key schedule):
//
//   client                                   server ("first station")
//   Hello{X25519 share, nonce, subject}  ->
//                                        <-  SessionKeyMessage{exchange id,
//                                              interval, slot, X25519 share,
//                                              session key sealed for this
//                                              client, Ed25519 signature}
//   Confirm{shared parameter sealed under
//     session key + this exchange}       ->
//                                            authorize(shared parameter)
//                                        <-  DataKeyMessage{one of this
//                                              exchange's intermediate data
//                                              keys, payload sealed under it}
//
// The server keeps a circular buffer of session random keys, one per
// initiation interval, shared by every exchange that starts in that interval
// (claims 2-5), and purges each key M lifetimes after its interval began
// (claims 6-7). Each exchange gets its own set of intermediate data keys
// (claims 1, 3); one of them is released only after the server has checked
// the Confirm, which proves receipt of the session key (claim 1).
//
// Security properties (beyond the seed, see docs/channel.md):
//  - The session key never travels in the clear: it is sealed under a key
//    from an ephemeral X25519 exchange, so an eavesdropper learns nothing.
//  - The server signs each SessionKeyMessage with its long-term Ed25519
//    identity key, and the client checks it against a pinned key, so a
//    man-in-the-middle cannot pose as the server to harvest passwords.
//  - Confirm and DataKeyMessage keys are derived from the session key AND the
//    exchange's own X25519 secret and transcript: another client that knows
//    the interval's shared session key can neither read nor forge them.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/status.h"

namespace keycast {

namespace channel {

// Wire protocol version carried in every message.
inline constexpr uint8_t kVersion = 1;

// ---- limits (units in the names or comments) ----
inline constexpr size_t kMaxMessageBytes = 4096;      // any channel message
inline constexpr size_t kMaxSubjectBytes = 512;       // Hello subject
inline constexpr size_t kMaxSharedParamBytes = 1024;  // password, card number, ...
inline constexpr size_t kMaxPayloadBytes = 3072;      // DataKeyMessage payload (the SA)
inline constexpr size_t kSessionKeySize = 32;         // bytes
inline constexpr size_t kDataKeySize = 32;            // bytes
inline constexpr size_t kDataKeysPerExchange = 4;     // claim 1: a SET of data keys
inline constexpr size_t kExchangeIdSize = 16;         // bytes
// Session key lifetime (the initiation interval): default 30 s, must lie in
// [1 s, 90 s) (claim 7: "less than about 90 seconds").
inline constexpr Micros kDefaultSessionKeyLifetime = 30 * kMicrosPerSecond;
inline constexpr Micros kMinSessionKeyLifetime = 1 * kMicrosPerSecond;
inline constexpr Micros kMaxSessionKeyLifetime = 90 * kMicrosPerSecond;  // exclusive
// M: a session key is purged M lifetimes after its interval began; 1 <= M <= 10
// (claim 6). The ring has M slots.
inline constexpr uint32_t kDefaultRetentionLifetimes = 4;
inline constexpr uint32_t kMaxRetentionLifetimes = 10;
inline constexpr size_t kDefaultMaxExchanges = 16384;  // pending exchanges
inline constexpr size_t kMaxMaxExchanges = size_t{1} << 22;

// ---- domain-separation labels (versioned, like keycast/labels.h) ----
// Transcript hash of the exchange.
inline constexpr std::string_view kLabelTranscript = "keycast v1 channel transcript";
// Per-exchange secret from the X25519 shared secret.
inline constexpr std::string_view kLabelExchangeSecret = "keycast v1 channel exchange secret";
// Key that seals the interval's session key for one client.
inline constexpr std::string_view kLabelSessionKeyWrap = "keycast v1 channel session key wrap";
// Server's Ed25519 signature over the SessionKeyMessage transcript.
inline constexpr std::string_view kLabelServerSignature = "keycast v1 channel server signature";
// Key that seals the DataKeyMessage payload, from the released data key.
inline constexpr std::string_view kLabelPayload = "keycast v1 channel payload";
// (The Confirm key uses labels::kChannelConfirm and the data-key wrap key
// labels::kChannelDataKey, from keycast/labels.h.)

}  // namespace channel

// Names one exchange on the server. Random, public, never reused.
struct ChannelExchangeId {
  std::array<uint8_t, channel::kExchangeIdSize> bytes{};
  std::string ToHex() const;
  auto operator<=>(const ChannelExchangeId&) const = default;
};

struct ChannelOptions {
  // Length of one session random key initiation interval, which is also the
  // key's lifetime for starting exchanges. Default 30 s; [1 s, 90 s).
  Micros session_key_lifetime = channel::kDefaultSessionKeyLifetime;
  // M: each session key is purged M lifetimes after its interval began, so
  // an exchange started in interval i has until (i + M) * lifetime to
  // finish. Default 4; 1 <= M <= 10. The ring holds M keys.
  uint32_t retention_lifetimes = channel::kDefaultRetentionLifetimes;
  // Bound on exchanges awaiting their Confirm; HandleHello answers
  // ResourceExhausted when it is reached. Default 16384.
  size_t max_exchanges = channel::kDefaultMaxExchanges;
  // If > 0, an exchange also expires this long after its Hello (earlier than
  // its session key). Default 0: the exchange lives as long as its session key.
  Micros exchange_timeout = 0;
};

struct ChannelStats {
  uint64_t hellos_accepted = 0;
  uint64_t data_keys_released = 0;
  uint64_t refused = 0;          // every refusal, all reasons
  size_t pending_exchanges = 0;  // awaiting Confirm
  size_t live_session_keys = 0;  // ring slots holding a key
};

// What the client obtains at the end of a successful exchange.
struct ChannelDelivery {
  uint8_t data_key_index = 0;  // which of the exchange's data keys was released
  SecretBytes data_key;        // 32 bytes: the session's encryption key (claim 1)
  SecretBytes payload;         // the caller payload (e.g. the multicast SA)
};

// Decides, from the decrypted shared parameter and the Hello's subject,
// whether to release a data key. Returns the payload to deliver (may be
// empty; at most channel::kMaxPayloadBytes), or an error that HandleConfirm
// returns unchanged (so its message must not quote the parameter). Typical checks: Argon2id
// verification of the receiver's password against the reservation, or "card accepted" from the
// billing ledger. Called without any ChannelServer lock held, at most once per exchange; it may
// block and must be safe to call from several threads.
using ChannelAuthorizer =
    std::function<Result<SecretBytes>(ByteView shared_param, std::string_view subject)>;

// The first station of seed 004.
//
// Thread safety: a ChannelServer is safe for concurrent use from many threads
// (an HTTP server's pool) without external synchronisation. One mutex guards
// the ring and the exchange table; X25519, signing, AEAD and the authorizer
// run outside it.
//
// Refusals return a Status naming the cause (never a secret) and increment
// keycast_channel_refused_total{reason="..."} in Metrics::Global(). Nothing is
// released on any refusal.
class ChannelServer {
 public:
  // Validates options (M > 10, lifetime >= 90 s, ... are refused with
  // InvalidArgument). identity signs every SessionKeyMessage; clients pin its
  // public key. clock must outlive the server.
  static Result<std::unique_ptr<ChannelServer>> Create(const ChannelOptions& options,
                                                       crypto::SigningKey identity,
                                                       const Clock& clock);
  ~ChannelServer();
  ChannelServer(const ChannelServer&) = delete;
  ChannelServer& operator=(const ChannelServer&) = delete;

  // Hello -> SessionKeyMessage. Assigns the current interval's session key
  // (creating it on the interval's first Hello) and a fresh set of data keys.
  // Errors: InvalidArgument (malformed, bad key share), ResourceExhausted
  // (max_exchanges pending), Unavailable (clock moved backwards past a key).
  Result<Bytes> HandleHello(ByteView hello);

  // Confirm -> DataKeyMessage, only after the Confirm authenticates under the
  // exchange's session key (proof of receipt) and authorize accepts the
  // shared parameter. An exchange accepts one authentic Confirm: afterwards
  // (released or refused) a replay is refused. A Confirm that fails
  // authentication leaves the exchange pending. Errors: InvalidArgument
  // (malformed), NotFound (unknown exchange), FailedPrecondition (replay),
  // DeadlineExceeded (exchange or session key expired), Unauthenticated
  // (not sealed under this exchange's keys), or authorize's own error.
  Result<Bytes> HandleConfirm(ByteView confirm, const ChannelAuthorizer& authorize);

  // Wipes and removes session keys M lifetimes past their interval, and
  // exchanges past their deadline. Also runs at the start of each Handle*.
  void Purge();

  ChannelStats stats() const;
  const ChannelOptions& options() const;
  const Bytes& identity_public_key() const;

  // ---- for tests: inspect the ring ----
  struct SlotView {
    size_t slot = 0;
    bool live = false;      // holds a key
    uint64_t interval = 0;  // meaningful when live
    Micros expires_at = 0;  // meaningful when live
  };
  std::vector<SlotView> SlotsForTesting() const;
  // The key of `interval` if the ring still holds it.
  std::optional<SecretBytes> SessionKeyForTesting(uint64_t interval) const;

 private:
  struct Impl;
  explicit ChannelServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The second station: runs one exchange.
//
// Thread safety: not safe for concurrent use; use one ChannelClient per
// exchange. A message that fails its checks leaves the client's state
// unchanged, so a forged message cannot derail an exchange.
class ChannelClient {
 public:
  // server_identity: the server's pinned Ed25519 public key.
  explicit ChannelClient(crypto::VerifyKey server_identity);
  ~ChannelClient();
  ChannelClient(const ChannelClient&) = delete;
  ChannelClient& operator=(const ChannelClient&) = delete;

  // Returns the Hello. subject: 1..kMaxSubjectBytes bytes, sent in the clear
  // (put nothing secret in it). REQUIRES: called once, first.
  Result<Bytes> Start(std::string_view subject);

  // Checks the server's signature, opens the session key and returns the
  // Confirm carrying shared_param (1..kMaxSharedParamBytes bytes) sealed
  // under the session key and this exchange. REQUIRES: after Start.
  Result<Bytes> OnSessionKey(ByteView message, const SecretBytes& shared_param);

  // Opens the released data key and the payload. REQUIRES: after OnSessionKey.
  Result<ChannelDelivery> OnDataKey(ByteView message);

  // Known after OnSessionKey.
  const ChannelExchangeId& exchange_id() const;
  uint64_t interval() const;
  uint8_t slot() const;
  Micros deadline() const;  // server's deadline for the Confirm (server clock)
  // The interval's shared session key, for tests of claims 2-3.
  const SecretBytes& session_key_for_testing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycast
