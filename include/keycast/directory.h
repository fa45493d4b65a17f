// The directory: who may take part in which event (seed 000 claims 2-4,
// seed 001 Figure 3).
//
// Groups form a directed acyclic graph through parent edges. A client that
// is a member of group G is associated with every event assigned to G or to
// any ancestor of G, each once; its role for an event is sender if any
// membership path grants sender, otherwise receiver.
//
// Every change is validated against the whole directory, written to the
// Store together with its audit record, and only then applied to the
// in-memory index that answers queries. A change that gets an ok answer is
// durable; a refused change leaves no trace, in the store or in memory.
//
// Thread safety: all methods are safe to call concurrently. Queries run in
// parallel; changes are serialised among themselves and block queries only
// while the in-memory index is updated (not during the store commit).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "keycast/clock.h"
#include "keycast/login_limiter.h"
#include "keycast/model.h"
#include "keycast/password.h"
#include "keycast/seal.h"
#include "keycast/status.h"
#include "keycast/store.h"

namespace keycast {

// Who made a change, for the audit log ("admin:<token id>", "bootstrap").
struct Actor {
  std::string name;
};

struct ClientSpec {
  std::string name;
  std::string description;
  std::optional<std::string> password;  // hashed with Argon2id, never stored
  bool enabled = true;
};
struct ClientPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> password;  // "" removes password login
  std::optional<bool> enabled;
};

struct GroupSpec {
  std::string name;
  std::string description;
};
struct GroupPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
};

// References to other objects are by name.
struct EventSpec {
  std::string name;
  std::string title;
  std::string sender;  // client name; empty = none
  IpAddress group_address;
  uint16_t port = 0;
  IpAddress source_address;
  Schedule schedule;
  uint32_t interval_seconds = 60;
  uint32_t initial_keying_seconds = 300;
  uint16_t clear_intervals = 0;
  std::vector<Endpoint> key_servers;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  KeyDelivery delivery = KeyDelivery::kPull;
  bool source_auth = false;
};
struct EventPatch {
  std::optional<std::string> name, title, sender;
  std::optional<IpAddress> group_address;
  std::optional<uint16_t> port;
  std::optional<IpAddress> source_address;  // empty address clears it
  std::optional<Schedule> schedule;
  std::optional<uint32_t> interval_seconds, initial_keying_seconds;
  std::optional<uint16_t> clear_intervals;
  std::optional<std::vector<Endpoint>> key_servers;
  std::optional<crypto::AeadAlgorithm> algorithm;
  std::optional<KeyDelivery> delivery;
  std::optional<bool> source_auth;
};

// One event of a client's summary, with the client's role for it.
struct SummaryEvent {
  std::shared_ptr<const Event> event;  // immutable snapshot
  Role role = Role::kReceiver;
  std::string sender_name;  // name of event->sender, "" if none
};

// Seed 000 claim 3: the summary of all events a client is associated with.
struct Summary {
  ClientId client;
  std::string client_name;
  std::vector<GroupId> groups;       // the client's direct groups, ascending
  std::vector<SummaryEvent> events;  // ascending by event id, each once
};

// A client view with memberships, for the API.
struct ClientView {
  Client client;                                     // password_hash replaced by "" or "set"
  std::vector<std::pair<std::string, Role>> groups;  // group name, role
};
struct GroupView {
  Group group;
  std::vector<std::string> parents, children, events;  // names, sorted
  size_t members = 0;
};
struct EventView {
  std::shared_ptr<const Event> event;
  std::string sender_name;
  std::vector<std::string> groups;  // names of assigned groups, sorted
};

struct DirectoryOptions {
  PasswordCost password_cost = PasswordCost::kInteractive;
  // How long after a rekey, a secret rotation or a schedule edit senders
  // switch to the new keys (docs/key-protocol.md, "Generations"): long
  // enough for a wakeup round trip, and on split roles for the key
  // service's directory refresh too. Default 2000 ms.
  int64_t rekey_lead_ms = 2000;
};

// The sealing purpose and record of an event secret version (the AAD binds
// it to its event and version; version 1 keeps the record of the
// unversioned secret it was before migration 4).
inline constexpr std::string_view kEventSecretPurpose = "event-secret";
std::string EventSecretRecord(EventId event, uint32_t version);

// What RekeyEvent and RotateEventSecret did.
struct RekeyResult {
  std::shared_ptr<const Event> event;  // with the new key state
  size_t members = 0;                  // clients authorised for the event now
  int64_t secrets_retired = 0;         // secret versions erased by this change
  int64_t lead_ms = 0;                 // the new keys come into force this long after
};

// Authenticated client, as the ticket service needs it.
struct AuthenticatedClient {
  ClientId id;
  std::string name;
  std::string credential;  // "password" or "api-key:<id>"
};

class Directory {
 public:
  // Loads the whole directory from the store. The sealer seals the secret
  // created with each event.
  static Result<std::unique_ptr<Directory>> Open(Store* store, const Sealer* sealer,
                                                 const Clock* clock, DirectoryOptions options);
  ~Directory();

  // ---- changes (each one durable and audited when it returns ok) ----
  Result<ClientView> CreateClient(const Actor& actor, const ClientSpec& spec);
  Result<ClientView> UpdateClient(const Actor& actor, const std::string& name,
                                  const ClientPatch& patch);
  Status DeleteClient(const Actor& actor, const std::string& name);

  Result<GroupView> CreateGroup(const Actor& actor, const GroupSpec& spec);
  Result<GroupView> UpdateGroup(const Actor& actor, const std::string& name,
                                const GroupPatch& patch);
  Status DeleteGroup(const Actor& actor, const std::string& name);

  // Refuses an edge that would close a cycle, naming the cycle.
  Status AddEdge(const Actor& actor, const std::string& parent, const std::string& child);
  Status RemoveEdge(const Actor& actor, const std::string& parent, const std::string& child);

  Result<EventView> CreateEvent(const Actor& actor, const EventSpec& spec);
  Result<EventView> UpdateEvent(const Actor& actor, const std::string& name,
                                const EventPatch& patch);
  Status DeleteEvent(const Actor& actor, const std::string& name);

  // ---- key generations (docs/key-protocol.md, "Generations") ----
  // Starts a new key generation of the event: the generation number grows,
  // and senders switch to the new keys (new key, new SPI) rekey_lead_ms from
  // now; until then, and for the grace after, the keys of the generation
  // before stay valid. Members the directory no longer authorises get none
  // of the new keys. An event without members is rekeyed too (members that
  // join later get the new generation); RekeyResult::members says so.
  // Durable and audited ("event.rekey"); NotFound for an unknown event.
  Result<RekeyResult> RekeyEvent(const Actor& actor, const std::string& name);
  // As RekeyEvent, with a fresh random event secret (the next secret
  // version), for after a compromise ("event.rotate_secret"). The secret
  // before stays sealed in the store until no key service needs it
  // (RetireOldSecrets).
  Result<RekeyResult> RotateEventSecret(const Actor& actor, const std::string& name);
  // Erases the sealed bytes of every secret version no key service derives
  // from any more: those of an earlier state whose successor has been in
  // force for longer than grace_seconds ("event.secret_retire"). Returns
  // how many versions it retired.
  Result<size_t> RetireOldSecrets(int64_t grace_seconds);
  Result<std::vector<EventSecretInfo>> ListEventSecrets(const std::string& name) const;

  Status SetMembership(const Actor& actor, const std::string& client, const std::string& group,
                       Role role, bool must_be_new);
  Status RemoveMembership(const Actor& actor, const std::string& client, const std::string& group);
  Status AddAssignment(const Actor& actor, const std::string& event, const std::string& group);
  Status RemoveAssignment(const Actor& actor, const std::string& event, const std::string& group);

  // Returns the token (shown once); only its verifier is stored.
  Result<Token> CreateApiKey(const Actor& actor, const std::string& client,
                             const std::string& description);
  Status RevokeApiKey(const Actor& actor, const std::string& client, const std::string& key_id);
  Result<Token> CreateAdminToken(const Actor& actor, const std::string& description);
  Status RevokeAdminToken(const Actor& actor, const std::string& token_id);

  // ---- authentication ----
  // Fails with Unauthenticated and a reason (unknown client, wrong password,
  // disabled client, revoked key). The reason is for logs and audit; callers
  // answer the network with a generic message.
  //
  // Password logins go through login_limiter() first, keyed on
  // "client:<name>" and origin->address: a refused attempt fails with
  // ResourceExhausted before any Argon2id work and sets
  // origin->retry_after_seconds (answer 429 with Retry-After). REQUIRES:
  // origin != nullptr.
  Result<AuthenticatedClient> AuthenticatePassword(const std::string& client,
                                                   const std::string& password,
                                                   LoginOrigin* origin) const;
  // The password check alone, without the limiter: for callers that hold
  // an admitted LoginLimiter::Attempt on "client:<name>" (the reservation
  // platform). Every call runs exactly one Argon2id verification of the
  // configured cost, whether the name exists, has a password or is
  // disabled, so the time it takes tells none of these apart.
  Result<AuthenticatedClient> CheckPassword(const std::string& client,
                                            const std::string& password) const;
  // The limiter of every password login of this directory's clients (and
  // of the reservation platform's receiver lists). Back-off steps are
  // audited as "login.backoff".
  LoginLimiter& login_limiter() const { return *limiter_; }
  Result<AuthenticatedClient> AuthenticateApiKey(const std::string& token) const;
  // Returns the actor name for an admin token.
  Result<Actor> AuthenticateAdmin(const std::string& token) const;
  bool HasAdminTokens() const;

  // ---- queries ----
  Result<Summary> Summarize(ClientId client) const;
  // Live authorisation (DESIGN property 4): the client exists, is enabled,
  // the event exists, and the DAG grants the client the role (a sender may
  // also receive).
  bool IsAuthorized(ClientId client, EventId event, Role role) const;
  // Clients authorised for an event now (for multicast push), ascending.
  std::vector<ClientId> AuthorizedClients(EventId event) const;

  Result<ClientView> GetClient(const std::string& name) const;
  Result<GroupView> GetGroup(const std::string& name) const;
  Result<EventView> GetEvent(const std::string& name) const;
  std::shared_ptr<const Event> FindEvent(EventId id) const;
  std::optional<std::string> ClientName(ClientId id) const;
  std::optional<ClientId> FindClient(const std::string& name) const;
  std::vector<ApiKey> ListApiKeys(const std::string& client) const;  // verifiers blanked
  std::vector<AdminToken> ListAdminTokens() const;                   // verifiers blanked

  // Pages ordered by name: names > after, at most limit.
  std::vector<ClientView> ListClients(const std::string& after, size_t limit) const;
  std::vector<GroupView> ListGroups(const std::string& after, size_t limit) const;
  std::vector<EventView> ListEvents(const std::string& after, size_t limit) const;
  std::vector<Edge> ListEdges() const;
  std::vector<std::pair<std::string, std::string>> ListEdgeNames() const;  // parent, child
  struct MembershipRow {
    std::string client, group;
    Role role;
  };
  std::vector<MembershipRow> ListMemberships(const std::string& client,
                                             const std::string& group) const;
  struct AssignmentRow {
    std::string event, group;
  };
  std::vector<AssignmentRow> ListAssignments(const std::string& event,
                                             const std::string& group) const;

  struct Counts {
    size_t clients, groups, edges, events, memberships, assignments;
  };
  Counts counts() const;

  // ---- change notification ----
  // Increases with every applied change.
  uint64_t generation() const;
  // Blocks until generation() != known or the deadline passes; returns the
  // current generation.
  uint64_t WaitForChange(uint64_t known, std::chrono::steady_clock::time_point deadline) const;

  // Follows changes other processes made to the shared store (a key
  // service on its own process or host): when the audit log has records
  // this index has not seen, reloads the directory and swaps it in. Cheap
  // when nothing changed (one query). Returns true if it reloaded.
  Result<bool> Refresh();

  // Follows changes other processes made, record by record (the push path:
  // a node calls it when PostgreSQL NOTIFYs a commit, and after it lost and
  // regained that connection). Reads the audit records after the newest one
  // this index reflects. When every directory change among them is a removal
  // or a disable (the changes that revoke, each named fully by its record),
  // applies them to the index in order; any other directory change (its new
  // row is not in the record) reloads the directory once instead. Records of
  // other parts (service keys, reservations) leave the index alone.
  struct CatchUpResult {
    size_t records = 0;         // audit records read
    bool reloaded = false;      // the directory was reloaded whole
    bool service_keys = false;  // a service key changed: reload ServiceKeys
  };
  Result<CatchUpResult> CatchUp();
  // The newest audit record this index reflects.
  int64_t audit_seq() const { return audit_seq_.load(); }

  Store* store() const { return store_; }
  const Sealer* sealer() const { return sealer_; }

 private:
  struct Index;
  static std::unique_ptr<Index> BuildIndex(DirectoryData data);
  Directory(Store* store, const Sealer* sealer, const Clock* clock, DirectoryOptions options);

  // Runs fn inside a store transaction with the audit record (`detail` is
  // read after fn ran, so fn may fill it in); on success,
  // applies `apply` to the index under the exclusive lock.
  Result<RekeyResult> ChangeKeys(const Actor& actor, const std::string& name, bool rotate);

  template <typename Fn, typename Apply>
  Status Commit(const Actor& actor, const std::string& action, const std::string& target,
                const std::string& detail, Fn&& fn, Apply&& apply);

  Store* store_;
  const Sealer* sealer_;
  const Clock* clock_;
  DirectoryOptions options_;
  std::mutex write_mu_;           // serialises changes
  mutable std::shared_mutex mu_;  // guards index_
  std::unique_ptr<Index> index_;
  mutable std::mutex wait_mu_;
  mutable std::condition_variable cv_;
  std::atomic<uint64_t> generation_{1};
  std::atomic<int64_t> audit_seq_{0};  // newest audit record reflected in index_
  std::unique_ptr<LoginLimiter> limiter_;

  // Writes an audit record that changes nothing in the directory.
  Status AppendAuditOnly(const std::string& actor, const std::string& action,
                         const std::string& target, const std::string& detail);
  // Events whose earlier secret versions RetireOldSecrets already erased,
  // as (event, secret version in force). GUARDED_BY(write_mu_).
  std::set<std::pair<int64_t, uint32_t>> secrets_retired_;
};

// Name rules shared by every directory object: 1-64 characters from
// [A-Za-z0-9._-], starting with a letter or digit.
Status ValidateName(std::string_view kind, std::string_view name);

}  // namespace keycast
