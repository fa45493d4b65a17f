// The directory's records: clients, groups (whose parent edges form a DAG),
// events, memberships (client -> group, with a role), assignments
// (event -> group), credentials, service keys and the audit log.
// Seed 000 claims 2-4, seed 001 Figure 3.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/schedule.h"
#include "keycast/types.h"

namespace keycast {

struct Client {
  ClientId id;
  std::string name;  // unique; see ValidateName
  std::string description;
  bool enabled = true;        // a disabled client gets no ticket and no key
  std::string password_hash;  // Argon2id encoded hash; empty = no password login
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Group {
  GroupId id;
  std::string name;
  std::string description;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// parent -> child. A client of the child is associated with the events of
// the parent (and of all the parent's ancestors).
struct Edge {
  GroupId parent;
  GroupId child;
  bool operator==(const Edge&) const = default;
};

// How members get the refresh keys of an event (seed 001 Figures 5 and 8).
enum class KeyDelivery : uint8_t { kPull = 1, kPush = 2, kBoth = 3 };
std::string_view KeyDeliveryName(KeyDelivery d);
bool ParseKeyDelivery(std::string_view s, KeyDelivery* out);

// What an event's interval keys derive from now, and what they derived from
// before (docs/key-protocol.md, "Generations"). Changed only by
// Directory::RekeyEvent, Directory::RotateEventSecret and edits of the
// schedule or interval length, each durably and with an audit record, by a
// store statement that increments (so a writer with a stale view cannot set
// a number back).
// Which secret and generation an interval key derives from.
struct KeysInForce {
  uint32_t secret_version = 0;
  KeyGeneration generation;
  bool operator==(const KeysInForce&) const = default;
};

struct EventKeyState {
  uint32_t secret_version = 1;           // the event secret in use
  KeyGeneration generation{1, 1};        // of the keys in force from activates_at
  Micros activates_at = 0;               // Unix microseconds: senders switch to them then
  uint32_t previous_secret_version = 0;  // 0 = no earlier state
  KeyGeneration previous;                // the state in force until activates_at
  bool has_previous() const { return previous.valid() && previous_secret_version != 0; }
  // The state in force at `at`: the newest once it activates, the one it
  // replaced before.
  KeysInForce InForce(Micros at) const {
    if (at < activates_at && has_previous()) return {previous_secret_version, previous};
    return {secret_version, generation};
  }
  bool operator==(const EventKeyState&) const = default;
};

// One version of an event's secret; the sealed bytes stay in the store while
// keys derived from them may still be handed out, then are erased (retired).
struct EventSecretInfo {
  uint32_t version = 0;
  int64_t created_at = 0;  // Unix seconds
  int64_t retired_at = 0;  // 0 = still sealed in the store
};

struct Event {
  EventId id;
  std::string name;         // unique, machine-friendly
  std::string title;        // for people (seed 001 Fig. 4, 421)
  ClientId sender;          // the sending client; invalid = not set
  IpAddress group_address;  // multicast destination
  uint16_t port = 0;
  IpAddress source_address;               // optional: sender address / SSM source
  Schedule schedule;                      // one-off or recurring (RRULE subset)
  uint32_t interval_seconds = 60;         // key interval / forward security window
  uint32_t initial_keying_seconds = 300;  // initial keying period before start
  uint16_t clear_intervals = 0;           // unencrypted first intervals (seed 000 cl. 18)
  std::vector<Endpoint> key_servers;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  KeyDelivery delivery = KeyDelivery::kPull;
  // Source authentication (docs/packet-format.md): each sender signs its
  // packets (Ed25519 over batches), so no member can forge another's.
  // Pull delivery only: pushed keys carry no sender keys.
  bool source_auth = false;
  uint64_t version = 1;  // bumped on every change
  EventKeyState keys;    // not written by StoreTxn::UpdateEvent (AdvanceEventKeys)
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Membership {
  ClientId client;
  GroupId group;
  Role role = Role::kReceiver;
};

struct Assignment {
  EventId event;
  GroupId group;
};

// A machine credential of a client. Only the SHA-256 verifier is stored.
struct ApiKey {
  std::string id;  // 16 hex chars, public
  ClientId client;
  std::string verifier;  // hex SHA-256 of the secret
  std::string description;
  int64_t created_at = 0;
  int64_t revoked_at = 0;  // 0 = live
};

struct AdminToken {
  std::string id;
  std::string verifier;
  std::string description;
  int64_t created_at = 0;
  int64_t revoked_at = 0;
};

// Kinds of service keys.
inline constexpr std::string_view kTicketSigningKey = "ticket-signing";  // Ed25519
inline constexpr std::string_view kTicketSealingKey = "ticket-sealing";  // AES-256-GCM, key service
inline constexpr std::string_view kRekeySigningKey = "rekey-signing";    // Ed25519, push messages

struct ServiceKey {
  std::string kind;
  KeyVersion version;
  Bytes sealed_secret;  // sealed under the KEK
  Bytes public_key;     // Ed25519 public key; empty for symmetric keys
  int64_t created_at = 0;
  int64_t retired_at = 0;  // 0 = the active key of its kind
};

struct AuditRecord {
  int64_t seq = 0;
  int64_t time = 0;
  std::string actor;   // "admin:<token id>", "bootstrap", "system"
  std::string action;  // "client.create", "edge.delete", ...
  std::string target;  // "client:alice", "edge:g1->g3"
  std::string detail;  // JSON object; never secrets
};

// Everything the in-memory directory index is built from.
struct DirectoryData {
  std::vector<Client> clients;
  std::vector<Group> groups;
  std::vector<Edge> edges;
  std::vector<Event> events;
  std::vector<Membership> memberships;
  std::vector<Assignment> assignments;
  std::vector<ApiKey> api_keys;
  std::vector<AdminToken> admin_tokens;
};

}  // namespace keycast
