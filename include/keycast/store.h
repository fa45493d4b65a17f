// Durable storage behind an interface.
//
// Service code talks to Store and StoreTxn only; SQL lives in the backends
// (src/store/). A transaction groups row changes with their audit record:
// either all of it is durable when Commit returns ok, or none of it is.
// "Durable" means it survives kill -9 of the process and, with the default
// synchronous mode, loss of power.
//
// Backends: SQLite (embedded, WAL) and PostgreSQL (libpq, for roles on
// several hosts; docs/storage.md). A fault-injecting wrapper for tests.
// Every slot is mandatory for a backend.
//
// Thread safety: a Store may be used from several threads; it serialises
// internally. Only one StoreTxn is open at a time per Store (Begin blocks
// until the previous one is committed or destroyed).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keycast/model.h"
#include "keycast/reservation/model.h"
#include "keycast/status.h"

namespace keycast {

class StoreTxn {
 public:
  virtual ~StoreTxn() = default;  // rolls back unless committed

  virtual Result<ClientId> InsertClient(const Client& c) = 0;
  virtual Status UpdateClient(const Client& c) = 0;
  // Also removes the client's memberships and API keys.
  virtual Status DeleteClient(ClientId id) = 0;

  virtual Result<GroupId> InsertGroup(const Group& g) = 0;
  virtual Status UpdateGroup(const Group& g) = 0;
  // Also removes the group's edges, memberships and assignments.
  virtual Status DeleteGroup(GroupId id) = 0;

  virtual Status InsertEdge(const Edge& e) = 0;
  virtual Status DeleteEdge(const Edge& e) = 0;

  virtual Result<EventId> InsertEvent(const Event& e) = 0;
  virtual Status UpdateEvent(const Event& e) = 0;
  // Also removes the event's assignments and its sealed secret.
  virtual Status DeleteEvent(EventId id) = 0;

  // Inserts or changes the role of (client, group).
  virtual Status UpsertMembership(const Membership& m) = 0;
  virtual Status DeleteMembership(ClientId client, GroupId group) = 0;

  virtual Status InsertAssignment(const Assignment& a) = 0;
  virtual Status DeleteAssignment(EventId event, GroupId group) = 0;

  virtual Status InsertApiKey(const ApiKey& k) = 0;
  virtual Status RevokeApiKey(const std::string& id, int64_t at) = 0;

  virtual Status InsertAdminToken(const AdminToken& t) = 0;
  virtual Status RevokeAdminToken(const std::string& id, int64_t at) = 0;

  // ---- event secrets and key state (docs/key-protocol.md, "Generations") ----
  // Stores secret `version` of the event (replacing an unretired one).
  // REQUIRES: sealed was produced by Sealer::Seal for that version.
  virtual Status PutEventSecret(EventId event, uint32_t version, const Bytes& sealed,
                                int64_t created_at) = 0;
  // The version a new secret of the event gets: one above every version it
  // ever had. Read under the write lock, so two writers never get the same.
  virtual Result<uint32_t> NextEventSecretVersion(EventId event) = 0;
  // Erases the sealed bytes of every unretired secret version of the event
  // except `keep` and `also_keep`, marking them retired at `at`; returns how
  // many it retired.
  virtual Result<int64_t> RetireEventSecrets(EventId event, uint32_t keep, uint32_t also_keep,
                                             int64_t at) = 0;
  // Advances the event's key state in one statement: the state in force
  // (unless it is still pending at `now`, i.e. activates_at > now) becomes
  // the previous one; the generation number grows by `bump_generation`, the
  // schedule version by `bump_schedule`; a nonzero `secret_version` is the
  // new secret version; the new state activates at `activates_at`.
  // Returns the state before and after. NotFound when the event is missing.
  struct KeyChange {
    uint32_t bump_generation = 0;
    uint32_t bump_schedule = 0;
    uint32_t secret_version = 0;  // 0 = keep
    Micros now = 0;
    Micros activates_at = 0;
  };
  virtual Result<std::pair<EventKeyState, EventKeyState>> AdvanceEventKeys(EventId event,
                                                                           const KeyChange& c) = 0;
  virtual Status InsertServiceKey(const ServiceKey& k) = 0;
  virtual Status RetireServiceKey(const std::string& kind, KeyVersion v, int64_t at) = 0;

  // Returns the assigned sequence number.
  virtual Result<int64_t> AppendAudit(const AuditRecord& r) = 0;

  // ---- reservation platform (keycast/reservation/model.h) ----
  // AlreadyExists when the name is taken.
  virtual Result<ReservationId> InsertReservation(const Reservation& r) = 0;
  virtual Status UpdateReservation(const Reservation& r) = 0;
  // Replace the reservation's list of authorised receivers / admitted groups.
  virtual Status ReplaceReservationReceivers(ReservationId id,
                                             const std::vector<ReservationReceiver>& list) = 0;
  virtual Status ReplaceReservationGroups(ReservationId id, const std::vector<GroupId>& groups) = 0;
  // AlreadyExists when the receiver already holds a live grant.
  virtual Result<int64_t> InsertAccessGrant(const AccessGrant& g) = 0;
  virtual Status RevokeAccessGrant(int64_t id, int64_t at) = 0;
  // AlreadyExists when the idempotency key (charges) or the refunded charge
  // (refunds) is already in the ledger: a retried request charges once.
  virtual Result<int64_t> InsertLedgerEntry(const LedgerEntry& e) = 0;
  // Changes status, provider_ref, reason and updated_at; rows are never deleted.
  virtual Status UpdateLedgerEntry(const LedgerEntry& e) = 0;

  virtual Status Commit() = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<std::unique_ptr<StoreTxn>> Begin() = 0;

  virtual Status LoadDirectory(DirectoryData* out) = 0;
  // Secret `version` of the event; NotFound if none or retired.
  virtual Result<Bytes> GetEventSecret(EventId event, uint32_t version) = 0;
  // Every secret version of the event, oldest first, without the secrets.
  virtual Result<std::vector<EventSecretInfo>> ListEventSecrets(EventId event) = 0;
  virtual Result<std::vector<ServiceKey>> LoadServiceKeys(const std::string& kind) = 0;
  // Sender ids (docs/packet-format.md: several senders on one event never
  // share a nonce): the next unused id of the event, recorded as the
  // client's, durable before it is returned.
  virtual Result<SenderId> AllocateSenderId(EventId event, ClientId client, int64_t now) = 0;
  virtual Result<ClientId> SenderOwner(EventId event, SenderId sender) = 0;  // NotFound if none

  // Records with seq > after, oldest first, at most limit.
  virtual Result<std::vector<AuditRecord>> ReadAudit(int64_t after, size_t limit) = 0;

  // ---- reservation platform reads (NotFound when missing) ----
  virtual Result<Reservation> GetReservation(ReservationId id) = 0;
  virtual Result<Reservation> FindReservation(const std::string& name) = 0;
  // Ordered by name, names > after, at most limit. A valid sender restricts
  // to that sender's reservations; active_only leaves out cancelled ones.
  virtual Result<std::vector<Reservation>> ListReservations(ClientId sender, bool active_only,
                                                            const std::string& after,
                                                            size_t limit) = 0;
  virtual Result<std::vector<ReservationReceiver>> LoadReservationReceivers(ReservationId id) = 0;
  virtual Result<std::vector<GroupId>> LoadReservationGroups(ReservationId id) = 0;
  // Oldest first, revoked ones included.
  virtual Result<std::vector<AccessGrant>> LoadAccessGrants(ReservationId id) = 0;
  // Oldest first.
  virtual Result<std::vector<LedgerEntry>> LoadLedger(ReservationId id) = 0;
  virtual Result<LedgerEntry> FindLedgerEntry(const std::string& idempotency_key) = 0;

  // Backend name and schema version, for /v1/health.
  // The sequence number of the newest audit record (0 when empty). Other
  // processes sharing the store learn of changes by watching it.
  virtual Result<int64_t> LastAuditSeq();

  virtual std::string Describe() const = 0;
};

// Opens (creating if needed) an SQLite store at path, running migrations.
// path ":memory:" gives a private in-memory database (tests).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

// Opens the store `database` names, running migrations: a PostgreSQL
// database for a postgres:// or postgresql:// URI or a libpq key=value
// string ("host=db1 dbname=keycast"), else an SQLite file at that path.
// The PostgreSQL database must exist; its tables are created. Messages
// never contain the password of a connection string.
Result<std::unique_ptr<Store>> OpenStore(const std::string& database);

}  // namespace keycast
