// Tickets (seed 000 claims 1, 5, 6; seed 001 Figure 4).
//
// A ticket lists what a client may take part in: its group identifiers and,
// for each of its events, the title, sender, multicast address and port,
// schedule, key-interval parameters and key-server endpoints, with the
// client's role. It carries its issue and expiry times and the versions of
// the service keys used. It is signed by the ticket service with Ed25519:
// the seeds' "digital certificate" over the event list. Anyone holding the
// published verification key can check it.
//
// Inside the ticket is the credential, a part sealed (AES-256-GCM) for the
// key service alone, Kerberos style: it holds a fresh session key, the
// client id, the validity window and the (event, role) list. The client
// receives the session key separately, over the channel that carried the
// ticket request; it presents the credential with each key request and
// proves possession of the session key (see docs/key-protocol.md).
//
// The binary grammar is in docs/ticket-format.md. Every decoder is bounded
// (limits::kMaxTicketBytes, kMaxEventsPerTicket, kMaxSealedPartBytes) and
// reports the first malformed field.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/model.h"
#include "keycast/schedule.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast {

inline constexpr uint8_t kTicketVersion = 1;
inline constexpr uint8_t kCredentialVersion = 1;
using TicketId = std::array<uint8_t, 16>;

struct TicketEvent {
  EventId id;
  uint64_t version = 0;  // the event's version when the ticket was issued
  Role role = Role::kReceiver;
  std::string name;
  std::string title;
  std::string sender_name;   // may be empty
  IpAddress source_address;  // sender address (seed 001 Fig. 4, 422); may be empty
  IpAddress group_address;
  uint16_t port = 0;
  Schedule schedule;  // time indication (423)
  uint32_t interval_seconds = 0;
  uint32_t initial_keying_seconds = 0;
  uint16_t clear_intervals = 0;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  KeyDelivery delivery = KeyDelivery::kPull;
  std::vector<Endpoint> key_servers;  // key-server addresses (424)
};

struct Ticket {
  KeyVersion signing_key;  // version of the ticket-signing key
  KeyVersion sealing_key;  // version of the key the credential is sealed under
  TicketId id{};
  ClientId client;
  std::string client_name;
  int64_t issued_at = 0;  // Unix seconds
  int64_t expires_at = 0;
  std::vector<GroupId> groups;      // group identifier(s) (410)
  std::vector<TicketEvent> events;  // event list (420)
  Bytes credential;                 // sealed for the key service
  Bytes signature;                  // Ed25519 over everything before it (430)

  const TicketEvent* FindEvent(std::string_view name) const;
  const TicketEvent* FindEvent(EventId id) const;
};

// What the credential holds, readable only with the ticket-sealing key.
struct CredentialContents {
  TicketId ticket_id{};
  ClientId client;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  SecretBytes session_key;                       // limits::kSessionKeySize bytes
  std::vector<std::pair<EventId, Role>> events;  // ascending by event id

  // REQUIRES: ok to call on any contents; returns nullopt if not listed.
  std::optional<Role> RoleFor(EventId e) const;
};

// Encodes and signs. REQUIRES: the ticket is within the bounds above.
Bytes EncodeAndSignTicket(Ticket* ticket, const crypto::SigningKey& key);

// Decodes without verifying the signature (for display of untrusted input).
Result<Ticket> DecodeTicket(ByteView bytes);

// Looks up the verification key of a signing-key version; nullptr if
// unknown.
using VerifyKeyLookup = std::function<const crypto::VerifyKey*(KeyVersion)>;

// Decodes, verifies the signature and checks the validity window at `now`
// (Unix seconds) with `skew` seconds of tolerance. Fails with
// Unauthenticated (bad signature, unknown key version) or
// FailedPrecondition (expired, not yet valid), with the reason.
Result<Ticket> VerifyTicket(ByteView bytes, const VerifyKeyLookup& keys, int64_t now, int64_t skew);

// Seals the credential under the ticket-sealing key of version v.
Bytes SealCredential(const CredentialContents& c, KeyVersion v, const SecretBytes& key);
// The sealing-key version named in a credential, without opening it.
Result<KeyVersion> CredentialKeyVersion(ByteView credential);
// Opens and decodes a credential; Unauthenticated when it does not
// authenticate under `key`.
Result<CredentialContents> OpenCredential(ByteView credential, const SecretBytes& key);
// Decodes the authenticated plaintext of a credential (exposed for fuzzing).
Result<CredentialContents> DecodeCredentialPlaintext(ByteView plain);

// A digest of what a ticket would grant (event ids, versions, roles and
// group ids), to tell whether a client's event set changed.
std::string TicketGrantDigest(const std::vector<GroupId>& groups,
                              const std::vector<TicketEvent>& events);

}  // namespace keycast
