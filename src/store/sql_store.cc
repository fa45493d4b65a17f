// Store and StoreTxn over the SQL surface of sql.h, with portable SQL only
// (INSERT ... RETURNING and ON CONFLICT ... DO UPDATE run on SQLite >= 3.35
// and on PostgreSQL; CAST(? AS BIGINT) where PostgreSQL would otherwise infer
// a 32-bit parameter).
#include "store/sql_store.h"

#include <mutex>
#include <sstream>

#include "keycast/store.h"
#include "store/bulk.h"
#include "store/pg_conn.h"
#include "store/sql.h"
#include "store/sqlite_conn.h"

namespace keycast {
namespace {

std::string JoinEndpoints(const std::vector<Endpoint>& eps) {
  std::string s;
  for (const auto& e : eps) {
    if (!s.empty()) s += ',';
    s += e.ToString();
  }
  return s;
}

Result<std::vector<Endpoint>> SplitEndpoints(const std::string& s) {
  std::vector<Endpoint> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    auto ep = Endpoint::Parse(std::string_view(s).substr(pos, comma - pos));
    if (!ep) return DataLoss("stored key-server endpoint list is corrupt: " + s);
    out.push_back(*ep);
    pos = comma + 1;
  }
  return out;
}

// Binds the event's columns at 1..19 in the order of kEventColumns.
constexpr const char* kEventColumns =
    "name, title, sender_id, group_address, port, source_address, schedule_start, "
    "schedule_duration, rrule, interval_seconds, initial_keying_seconds, clear_intervals, "
    "key_servers, algorithm, delivery, version, created_at, updated_at, source_auth";

void BindEvent(sql::Stmt* s, const Event& e) {
  int i = 1;
  s->BindText(i++, e.name);
  s->BindText(i++, e.title);
  if (e.sender.valid())
    s->BindInt(i++, e.sender.value);
  else
    s->BindNull(i++);
  s->BindText(i++, e.group_address.ToString());
  s->BindInt(i++, e.port);
  s->BindText(i++, e.source_address.empty() ? "" : e.source_address.ToString());
  s->BindInt(i++, e.schedule.start);
  s->BindInt(i++, e.schedule.duration);
  s->BindText(i++, e.schedule.rule ? e.schedule.rule->ToString() : "");
  s->BindInt(i++, e.interval_seconds);
  s->BindInt(i++, e.initial_keying_seconds);
  s->BindInt(i++, e.clear_intervals);
  s->BindText(i++, JoinEndpoints(e.key_servers));
  s->BindText(i++, crypto::AeadName(e.algorithm));
  s->BindText(i++, KeyDeliveryName(e.delivery));
  s->BindInt(i++, static_cast<int64_t>(e.version));
  s->BindInt(i++, e.created_at);
  s->BindInt(i++, e.updated_at);
  s->BindInt(i++, e.source_auth ? 1 : 0);
}

// The key-state columns (migration 5), written only by AdvanceEventKeys.
constexpr const char* kKeyStateColumns =
    "secret_version, key_generation, schedule_version, keys_activate_at, prev_secret_version, "
    "prev_key_generation, prev_schedule_version";

uint32_t U32Column(sql::Stmt* s, int c) { return static_cast<uint32_t>(s->Int(c)); }

// Reads kKeyStateColumns starting at column c.
Status ReadKeyState(sql::Stmt* s, int c, EventKeyState* k) {
  for (int i = c; i < c + 7; ++i)
    if (s->Int(i) < 0 || (i != c + 3 && s->Int(i) > 0xffffffffLL))
      return DataLoss("stored key state of an event is corrupt");
  k->secret_version = U32Column(s, c);
  k->generation = KeyGeneration{U32Column(s, c + 1), U32Column(s, c + 2)};
  k->activates_at = s->Int(c + 3);
  k->previous_secret_version = U32Column(s, c + 4);
  k->previous = KeyGeneration{U32Column(s, c + 5), U32Column(s, c + 6)};
  if (k->secret_version == 0 || !k->generation.valid())
    return DataLoss("stored key state of an event is corrupt");
  return Status::Ok();
}

Result<Event> ReadEvent(sql::Stmt* s) {
  // Column 0 is id; the rest follow kEventColumns.
  Event e;
  int c = 0;
  e.id = EventId(s->Int(c++));
  e.name = s->Text(c++);
  e.title = s->Text(c++);
  if (!s->IsNull(c)) e.sender = ClientId(s->Int(c));
  ++c;
  auto ga = IpAddress::Parse(s->Text(c++));
  if (!ga) return DataLoss("event " + e.name + ": stored group address is corrupt");
  e.group_address = *ga;
  e.port = static_cast<uint16_t>(s->Int(c++));
  std::string src = s->Text(c++);
  if (!src.empty()) {
    auto sa = IpAddress::Parse(src);
    if (!sa) return DataLoss("event " + e.name + ": stored source address is corrupt");
    e.source_address = *sa;
  }
  e.schedule.start = s->Int(c++);
  e.schedule.duration = s->Int(c++);
  std::string rrule = s->Text(c++);
  if (!rrule.empty()) {
    auto r = ParseRrule(rrule);
    if (!r.ok())
      return DataLoss("event " + e.name + ": stored RRULE is corrupt: " + r.status().message());
    e.schedule.rule = *r;
  }
  e.interval_seconds = static_cast<uint32_t>(s->Int(c++));
  e.initial_keying_seconds = static_cast<uint32_t>(s->Int(c++));
  e.clear_intervals = static_cast<uint16_t>(s->Int(c++));
  KC_ASSIGN_OR_RETURN(e.key_servers, SplitEndpoints(s->Text(c++)));
  if (!crypto::ParseAeadName(s->Text(c++), &e.algorithm))
    return DataLoss("event " + e.name + ": stored algorithm is unknown");
  if (!ParseKeyDelivery(s->Text(c++), &e.delivery))
    return DataLoss("event " + e.name + ": stored delivery mode is unknown");
  e.version = static_cast<uint64_t>(s->Int(c++));
  e.created_at = s->Int(c++);
  e.updated_at = s->Int(c++);
  e.source_auth = s->Int(c++) != 0;
  KC_RETURN_IF_ERROR(ReadKeyState(s, c, &e.keys));
  return e;
}

// ---- reservation platform rows ----

// Binds the reservation's columns at 1..22 in the order of kReservationColumns.
constexpr const char* kReservationColumns =
    "name, title, sender_id, schedule_start, schedule_duration, rrule, group_address, port, "
    "source_address, sa_mode, event_id, group_id, spi, algorithm, sealed_sa_key, price_cents, "
    "currency, "
    "status, version, created_at, updated_at, cancelled_at";
constexpr int kReservationColumnCount = 22;

void BindReservation(sql::Stmt* s, const Reservation& r) {
  int i = 1;
  s->BindText(i++, r.name);
  s->BindText(i++, r.title);
  if (r.sender.valid())
    s->BindInt(i++, r.sender.value);
  else
    s->BindNull(i++);
  s->BindInt(i++, r.schedule.start);
  s->BindInt(i++, r.schedule.duration);
  s->BindText(i++, r.schedule.rule ? r.schedule.rule->ToString() : "");
  s->BindText(i++, r.group_address.ToString());
  s->BindInt(i++, r.port);
  s->BindText(i++, r.source_address.empty() ? "" : r.source_address.ToString());
  s->BindText(i++, SaModeName(r.sa_mode));
  s->BindInt(i++, r.event.value);
  s->BindInt(i++, r.group.value);
  s->BindInt(i++, r.spi.value);
  s->BindText(i++, crypto::AeadName(r.algorithm));
  s->BindBlob(i++, r.sealed_sa_key);
  s->BindInt(i++, r.price_cents);
  s->BindText(i++, r.currency);
  s->BindText(i++, ReservationStatusName(r.status));
  s->BindInt(i++, static_cast<int64_t>(r.version));
  s->BindInt(i++, r.created_at);
  s->BindInt(i++, r.updated_at);
  s->BindInt(i++, r.cancelled_at);
}

Result<Reservation> ReadReservation(sql::Stmt* s) {
  // Column 0 is id; the rest follow kReservationColumns.
  Reservation r;
  int c = 0;
  r.id = ReservationId(s->Int(c++));
  r.name = s->Text(c++);
  r.title = s->Text(c++);
  if (!s->IsNull(c)) r.sender = ClientId(s->Int(c));
  ++c;
  r.schedule.start = s->Int(c++);
  r.schedule.duration = s->Int(c++);
  std::string rrule = s->Text(c++);
  if (!rrule.empty()) {
    auto rule = ParseRrule(rrule);
    if (!rule.ok()) return DataLoss("reservation " + r.name + ": stored RRULE is corrupt");
    r.schedule.rule = *rule;
  }
  auto ga = IpAddress::Parse(s->Text(c++));
  if (!ga) return DataLoss("reservation " + r.name + ": stored group address is corrupt");
  r.group_address = *ga;
  r.port = static_cast<uint16_t>(s->Int(c++));
  std::string src = s->Text(c++);
  if (!src.empty()) {
    auto sa = IpAddress::Parse(src);
    if (!sa) return DataLoss("reservation " + r.name + ": stored source address is corrupt");
    r.source_address = *sa;
  }
  if (!ParseSaMode(s->Text(c++), &r.sa_mode))
    return DataLoss("reservation " + r.name + ": stored SA mode is unknown");
  r.event = EventId(s->Int(c++));
  r.group = GroupId(s->Int(c++));
  r.spi = Spi{static_cast<uint32_t>(s->Int(c++))};
  if (!crypto::ParseAeadName(s->Text(c++), &r.algorithm))
    return DataLoss("reservation " + r.name + ": stored algorithm is unknown");
  r.sealed_sa_key = s->Blob(c++);
  r.price_cents = s->Int(c++);
  r.currency = s->Text(c++);
  if (!ParseReservationStatus(s->Text(c++), &r.status))
    return DataLoss("reservation " + r.name + ": stored status is unknown");
  r.version = static_cast<uint64_t>(s->Int(c++));
  r.created_at = s->Int(c++);
  r.updated_at = s->Int(c++);
  r.cancelled_at = s->Int(c++);
  return r;
}

constexpr const char* kGrantColumns =
    "id, reservation_id, receiver, client_id, via, ledger_id, sealed_credential, card_fingerprint, "
    "created_at, "
    "revoked_at";

AccessGrant ReadGrant(sql::Stmt* s) {
  AccessGrant g;
  g.id = s->Int(0);
  g.reservation = ReservationId(s->Int(1));
  g.receiver = s->Text(2);
  g.client = ClientId(s->Int(3));
  g.via = s->Text(4);
  g.ledger_id = s->Int(5);
  g.sealed_credential = s->Blob(6);
  g.card_fingerprint = s->Text(7);
  g.created_at = s->Int(8);
  g.revoked_at = s->Int(9);
  return g;
}

constexpr const char* kLedgerColumns =
    "id, reservation_id, receiver, kind, status, amount_cents, currency, idempotency_key, "
    "refund_of, provider, "
    "provider_ref, card_last4, card_fingerprint, reason, created_at, updated_at";

LedgerEntry ReadLedger(sql::Stmt* s) {
  LedgerEntry e;
  int c = 0;
  e.id = s->Int(c++);
  e.reservation = ReservationId(s->Int(c++));
  e.receiver = s->Text(c++);
  e.kind = s->Text(c++);
  e.status = s->Text(c++);
  e.amount_cents = s->Int(c++);
  e.currency = s->Text(c++);
  e.idempotency_key = s->IsNull(c) ? "" : s->Text(c);
  ++c;
  e.refund_of = s->IsNull(c) ? 0 : s->Int(c);
  ++c;
  e.provider = s->Text(c++);
  e.provider_ref = s->Text(c++);
  e.card_last4 = s->Text(c++);
  e.card_fingerprint = s->Text(c++);
  e.reason = s->Text(c++);
  e.created_at = s->Int(c++);
  e.updated_at = s->Int(c++);
  return e;
}

Status ExpectOneRow(sql::Stmt* s, const std::string& what) {
  if (s->Changes() == 0) return NotFound(what + " does not exist");
  return Status::Ok();
}

class SqlTxn;

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<sql::Conn> conn) : conn_(std::move(conn)) {}

  // Brings the schema to the newest version, one migration per write
  // transaction. The version is read again under the write lock, so
  // processes starting together against one database migrate it once; an
  // up-to-date schema needs no write lock.
  Status Migrate() {
    std::lock_guard<std::mutex> l(mu_);
    const auto& migrations = sql::Migrations(conn_->Dialect());
    const auto latest = static_cast<int64_t>(migrations.size());
    if (auto have = SchemaVersion();
        have.ok() && *have == latest) {  // fails before the first migration
      schema_version_ = latest;
      return Status::Ok();
    }
    for (;;) {
      KC_RETURN_IF_ERROR(conn_->Begin());
      Status st =
          conn_->Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      auto have = st.ok() ? SchemaVersion() : Result<int64_t>(st);
      if (!have.ok() || *have >= latest) {
        st = have.status();
        if (st.ok() && *have > latest)
          st = FailedPrecondition("the database schema (version " + std::to_string(*have) +
                                  ") is newer than this keycast (" + std::to_string(latest) +
                                  "); upgrade keycast");
        if (st.ok()) st = conn_->Exec("COMMIT");
        if (!st.ok()) (void)conn_->Exec("ROLLBACK");
        KC_RETURN_IF_ERROR(st);
        schema_version_ = latest;
        return Status::Ok();
      }
      const int64_t v = *have;
      st = conn_->Exec(migrations[static_cast<size_t>(v)]);
      if (st.ok())
        st = conn_->Exec(v == 0 ? "INSERT INTO schema_version (version) VALUES (1)"
                                : "UPDATE schema_version SET version = " + std::to_string(v + 1));
      if (st.ok()) st = conn_->Exec("COMMIT");
      if (!st.ok()) {
        (void)conn_->Exec("ROLLBACK");
        return Status(st.code(), "migration to schema version " + std::to_string(v + 1) +
                                     " failed: " + st.message());
      }
    }
  }

  Result<std::unique_ptr<StoreTxn>> Begin() override;

  // Reads every table in one snapshot (a read transaction): a follower
  // reloading while another process writes never sees an edge, membership
  // or assignment without its group, client or event.
  Status LoadDirectory(DirectoryData* out) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_RETURN_IF_ERROR(conn_->BeginRead());
    Status st = LoadDirectoryInSnapshot(out);
    Status end = conn_->Exec(st.ok() ? "COMMIT" : "ROLLBACK");
    return st.ok() ? end : st;
  }

  // REQUIRES: mu_ held, a read transaction open.
  Status LoadDirectoryInSnapshot(DirectoryData* out) {
    *out = DirectoryData();
    {
      KC_ASSIGN_OR_RETURN(auto* s,
                          conn_->Prepare("SELECT id, name, description, enabled, password_hash, "
                                         "created_at, updated_at FROM clients"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->clients.push_back(Client{ClientId(s->Int(0)), s->Text(1), s->Text(2), s->Int(3) != 0,
                                      s->Text(4), s->Int(5), s->Int(6)});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(
          auto* s,
          conn_->Prepare("SELECT id, name, description, created_at, updated_at FROM dir_groups"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->groups.push_back(
            Group{GroupId(s->Int(0)), s->Text(1), s->Text(2), s->Int(3), s->Int(4)});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT parent_id, child_id FROM group_edges"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->edges.push_back(Edge{GroupId(s->Int(0)), GroupId(s->Int(1))});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare(std::string("SELECT id, ") + kEventColumns +
                                                  ", " + kKeyStateColumns + " FROM events"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        KC_ASSIGN_OR_RETURN(Event e, ReadEvent(s));
        out->events.push_back(std::move(e));
      }
    }
    {
      KC_ASSIGN_OR_RETURN(auto* s,
                          conn_->Prepare("SELECT client_id, group_id, role FROM memberships"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        Role role;
        if (!ParseRole(s->Text(2), &role)) return DataLoss("stored membership role is corrupt");
        out->memberships.push_back(Membership{ClientId(s->Int(0)), GroupId(s->Int(1)), role});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT event_id, group_id FROM assignments"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->assignments.push_back(Assignment{EventId(s->Int(0)), GroupId(s->Int(1))});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(
          auto* s,
          conn_->Prepare(
              "SELECT id, client_id, verifier, description, created_at, revoked_at FROM api_keys"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->api_keys.push_back(
            ApiKey{s->Text(0), ClientId(s->Int(1)), s->Text(2), s->Text(3), s->Int(4), s->Int(5)});
      }
    }
    {
      KC_ASSIGN_OR_RETURN(
          auto* s,
          conn_->Prepare(
              "SELECT id, verifier, description, created_at, revoked_at FROM admin_tokens"));
      for (;;) {
        KC_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        out->admin_tokens.push_back(
            AdminToken{s->Text(0), s->Text(1), s->Text(2), s->Int(3), s->Int(4)});
      }
    }
    return Status::Ok();
  }

  Result<Bytes> GetEventSecret(EventId event, uint32_t version) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT sealed, retired_at FROM "
                                                "event_secret_versions WHERE event_id = ? AND "
                                                "version = ?"));
    s->BindInt(1, event.value);
    s->BindInt(2, version);
    KC_ASSIGN_OR_RETURN(bool row, s->Step());
    std::string which =
        "secret version " + std::to_string(version) + " of event " + std::to_string(event.value);
    if (!row) return NotFound("no " + which);
    Bytes b = s->Blob(0);
    bool retired = s->Int(1) != 0;
    s->Reset();
    if (retired) return NotFound(which + " is retired");
    return b;
  }

  Result<std::vector<EventSecretInfo>> ListEventSecrets(EventId event) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT version, created_at, retired_at FROM "
                                                "event_secret_versions WHERE event_id = ? ORDER "
                                                "BY version"));
    s->BindInt(1, event.value);
    std::vector<EventSecretInfo> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(EventSecretInfo{U32Column(s, 0), s->Int(1), s->Int(2)});
    }
    return out;
  }

  Result<std::vector<ServiceKey>> LoadServiceKeys(const std::string& kind) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(
        auto* s, conn_->Prepare(
                     "SELECT version, sealed, public_key, created_at, retired_at FROM service_keys "
                     "WHERE kind = ? ORDER BY version"));
    s->BindText(1, kind);
    std::vector<ServiceKey> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ServiceKey{kind, KeyVersion{static_cast<uint32_t>(s->Int(0))}, s->Blob(1),
                               s->Blob(2), s->Int(3), s->Int(4)});
    }
    return out;
  }

  Result<std::vector<AuditRecord>> ReadAudit(int64_t after, size_t limit) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT seq, time, actor, action, target, detail "
                                                "FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"));
    s->BindInt(1, after);
    s->BindInt(2, static_cast<int64_t>(limit));
    std::vector<AuditRecord> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(
          AuditRecord{s->Int(0), s->Int(1), s->Text(2), s->Text(3), s->Text(4), s->Text(5)});
    }
    return out;
  }

  Result<SenderId> AllocateSenderId(EventId event, ClientId client, int64_t now) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_RETURN_IF_ERROR(conn_->Begin());
    auto fail = [&](Status st) {
      (void)conn_->Exec("ROLLBACK");
      return st;
    };
    auto q =
        conn_->Prepare("SELECT COALESCE(MAX(sender_id), 0) FROM sender_ids WHERE event_id = ?");
    if (!q.ok()) return fail(q.status());
    (*q)->BindInt(1, event.value);
    auto row = (*q)->Step();
    if (!row.ok()) return fail(row.status());
    int64_t next = (*q)->Int(0) + 1;
    (*q)->Reset();
    if (next > 0xffffffffLL) return fail(ResourceExhausted("event has used every sender id"));
    auto ins = conn_->Prepare(
        "INSERT INTO sender_ids (event_id, sender_id, client_id, created_at) VALUES (?, ?, ?, ?)");
    if (!ins.ok()) return fail(ins.status());
    (*ins)->BindInt(1, event.value);
    (*ins)->BindInt(2, next);
    (*ins)->BindInt(3, client.value);
    (*ins)->BindInt(4, now);
    auto done = (*ins)->Step();
    (*ins)->Reset();
    if (!done.ok()) return fail(done.status());
    KC_RETURN_IF_ERROR(conn_->Exec("COMMIT"));
    return SenderId{static_cast<uint32_t>(next)};
  }

  Result<ClientId> SenderOwner(EventId event, SenderId sender) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(
        auto* s,
        conn_->Prepare("SELECT client_id FROM sender_ids WHERE event_id = ? AND sender_id = ?"));
    s->BindInt(1, event.value);
    s->BindInt(2, sender.value);
    KC_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NotFound("sender id " + std::to_string(sender.value) + " is not allocated");
    ClientId c(s->Int(0));
    s->Reset();
    return c;
  }

  Result<Reservation> GetReservation(ReservationId id) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare(std::string("SELECT id, ") + kReservationColumns +
                                                " FROM reservations WHERE id = ?"));
    s->BindInt(1, id.value);
    return OneReservation(s, "reservation " + std::to_string(id.value));
  }

  Result<Reservation> FindReservation(const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare(std::string("SELECT id, ") + kReservationColumns +
                                                " FROM reservations WHERE name = ?"));
    s->BindText(1, name);
    return OneReservation(s, "reservation '" + name + "'");
  }

  Result<std::vector<Reservation>> ListReservations(ClientId sender, bool active_only,
                                                    const std::string& after,
                                                    size_t limit) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s,
                        conn_->Prepare(std::string("SELECT id, ") + kReservationColumns +
                                       " FROM reservations WHERE (CAST(? AS BIGINT) = 0 OR "
                                       "sender_id = ?) AND (? = 0 OR status = 'active') "
                                       "AND name > ? ORDER BY name LIMIT ?"));
    s->BindInt(1, sender.value);
    s->BindInt(2, sender.value);
    s->BindInt(3, active_only ? 1 : 0);
    s->BindText(4, after);
    s->BindInt(5, static_cast<int64_t>(limit));
    std::vector<Reservation> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      KC_ASSIGN_OR_RETURN(Reservation r, ReadReservation(s));
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<std::vector<ReservationReceiver>> LoadReservationReceivers(ReservationId id) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s,
                        conn_->Prepare("SELECT name, password_hash FROM reservation_receivers "
                                       "WHERE reservation_id = ? ORDER BY name"));
    s->BindInt(1, id.value);
    std::vector<ReservationReceiver> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReservationReceiver{s->Text(0), s->Text(1)});
    }
    return out;
  }

  Result<std::vector<GroupId>> LoadReservationGroups(ReservationId id) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(
        auto* s,
        conn_->Prepare(
            "SELECT group_id FROM reservation_groups WHERE reservation_id = ? ORDER BY group_id"));
    s->BindInt(1, id.value);
    std::vector<GroupId> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(GroupId(s->Int(0)));
    }
    return out;
  }

  Result<std::vector<AccessGrant>> LoadAccessGrants(ReservationId id) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s,
                        conn_->Prepare(std::string("SELECT ") + kGrantColumns +
                                       " FROM access_grants WHERE reservation_id = ? ORDER BY id"));
    s->BindInt(1, id.value);
    std::vector<AccessGrant> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadGrant(s));
    }
    return out;
  }

  Result<std::vector<LedgerEntry>> LoadLedger(ReservationId id) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s,
                        conn_->Prepare(std::string("SELECT ") + kLedgerColumns +
                                       " FROM ledger WHERE reservation_id = ? ORDER BY id"));
    s->BindInt(1, id.value);
    std::vector<LedgerEntry> out;
    for (;;) {
      KC_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadLedger(s));
    }
    return out;
  }

  Result<LedgerEntry> FindLedgerEntry(const std::string& idempotency_key) override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare(std::string("SELECT ") + kLedgerColumns +
                                                " FROM ledger WHERE idempotency_key = ?"));
    s->BindText(1, idempotency_key);
    KC_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NotFound("no ledger entry for that idempotency key");
    LedgerEntry e = ReadLedger(s);
    s->Reset();
    return e;
  }

  Result<int64_t> LastAuditSeq() override {
    std::lock_guard<std::mutex> l(mu_);
    KC_ASSIGN_OR_RETURN(auto* s, conn_->Prepare("SELECT COALESCE(MAX(seq), 0) FROM audit"));
    KC_ASSIGN_OR_RETURN(bool row, s->Step());
    int64_t seq = row ? s->Int(0) : 0;
    s->Reset();
    return seq;
  }

  std::string Describe() const override {
    return conn_->Dialect() + " schema v" + std::to_string(schema_version_);
  }

  // PRAGMA cache_size: pages when positive, KiB when negative. Returns the
  // previous setting; FailedPrecondition on other backends (BulkLoadScope
  // then does nothing).
  Result<int64_t> SetCacheSize(int64_t value) {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_->Dialect() != "sqlite")
      return FailedPrecondition("only SQLite has a page cache to size");
    KC_ASSIGN_OR_RETURN(auto* q, conn_->Prepare("PRAGMA cache_size"));
    KC_ASSIGN_OR_RETURN(bool row, q->Step());
    int64_t previous = row ? q->Int(0) : 0;
    q->Reset();
    KC_RETURN_IF_ERROR(conn_->Exec("PRAGMA cache_size = " + std::to_string(value)));
    return previous;
  }

 private:
  friend class SqlTxn;
  // REQUIRES: mu_ held. Fails when there is no schema_version table yet.
  Result<int64_t> SchemaVersion() {
    KC_ASSIGN_OR_RETURN(sql::Stmt * q, conn_->Prepare("SELECT version FROM schema_version"));
    KC_ASSIGN_OR_RETURN(bool row, q->Step());
    int64_t have = row ? q->Int(0) : 0;
    q->Reset();
    return have;
  }
  Result<Reservation> OneReservation(sql::Stmt* s, const std::string& what) {
    KC_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NotFound(what + " does not exist");
    auto r = ReadReservation(s);
    s->Reset();
    return r;
  }

  std::mutex mu_;  // guards conn_; held by an open transaction
  std::unique_ptr<sql::Conn> conn_;
  int64_t schema_version_ = 0;
};

class SqlTxn final : public StoreTxn {
 public:
  SqlTxn(SqlStore* store, std::unique_lock<std::mutex> lock)
      : c_(store->conn_.get()), lock_(std::move(lock)) {}
  ~SqlTxn() override {
    if (!done_) (void)c_->Exec("ROLLBACK");
  }
  SqlTxn(const SqlTxn&) = delete;
  SqlTxn& operator=(const SqlTxn&) = delete;

  Result<ClientId> InsertClient(const Client& c) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO clients (name, description, enabled, "
                                             "password_hash, created_at, updated_at) "
                                             "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"));
    s->BindText(1, c.name);
    s->BindText(2, c.description);
    s->BindInt(3, c.enabled ? 1 : 0);
    s->BindText(4, c.password_hash);
    s->BindInt(5, c.created_at);
    s->BindInt(6, c.updated_at);
    KC_ASSIGN_OR_RETURN(int64_t id, ReturningId(s));
    return ClientId(id);
  }
  Status UpdateClient(const Client& c) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("UPDATE clients SET name = ?, description = ?, "
                                             "enabled = ?, password_hash = ?, updated_at = ? "
                                             "WHERE id = ?"));
    s->BindText(1, c.name);
    s->BindText(2, c.description);
    s->BindInt(3, c.enabled ? 1 : 0);
    s->BindText(4, c.password_hash);
    s->BindInt(5, c.updated_at);
    s->BindInt(6, c.id.value);
    return Run(s, "client " + c.name);
  }
  Status DeleteClient(ClientId id) override {
    return RunById("DELETE FROM clients WHERE id = ?", id.value, "client");
  }

  Result<GroupId> InsertGroup(const Group& g) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO dir_groups (name, description, "
                                             "created_at, updated_at) VALUES (?, ?, ?, ?) "
                                             "RETURNING id"));
    s->BindText(1, g.name);
    s->BindText(2, g.description);
    s->BindInt(3, g.created_at);
    s->BindInt(4, g.updated_at);
    KC_ASSIGN_OR_RETURN(int64_t id, ReturningId(s));
    return GroupId(id);
  }
  Status UpdateGroup(const Group& g) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(
            "UPDATE dir_groups SET name = ?, description = ?, updated_at = ? WHERE id = ?"));
    s->BindText(1, g.name);
    s->BindText(2, g.description);
    s->BindInt(3, g.updated_at);
    s->BindInt(4, g.id.value);
    return Run(s, "group " + g.name);
  }
  Status DeleteGroup(GroupId id) override {
    return RunById("DELETE FROM dir_groups WHERE id = ?", id.value, "group");
  }

  Status InsertEdge(const Edge& e) override {
    KC_ASSIGN_OR_RETURN(auto* s,
                        c_->Prepare("INSERT INTO group_edges (parent_id, child_id) VALUES (?, ?)"));
    s->BindInt(1, e.parent.value);
    s->BindInt(2, e.child.value);
    return Run(s, "edge");
  }
  Status DeleteEdge(const Edge& e) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare("DELETE FROM group_edges WHERE parent_id = ? AND child_id = ?"));
    s->BindInt(1, e.parent.value);
    s->BindInt(2, e.child.value);
    return Run(s, "edge");
  }

  Result<EventId> InsertEvent(const Event& e) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(
            std::string("INSERT INTO events (") + kEventColumns +
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"));
    BindEvent(s, e);
    KC_ASSIGN_OR_RETURN(int64_t id, ReturningId(s));
    return EventId(id);
  }
  Status UpdateEvent(const Event& e) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(
            "UPDATE events SET name = ?, title = ?, sender_id = ?, group_address = ?, port = ?, "
            "source_address = ?, schedule_start = ?, schedule_duration = ?, rrule = ?, "
            "interval_seconds = ?, initial_keying_seconds = ?, clear_intervals = ?, key_servers = "
            "?, "
            "algorithm = ?, delivery = ?, version = ?, created_at = ?, updated_at = ?, "
            "source_auth = ? WHERE id = ?"));
    BindEvent(s, e);
    s->BindInt(20, e.id.value);
    return Run(s, "event " + e.name);
  }
  Status DeleteEvent(EventId id) override {
    return RunById("DELETE FROM events WHERE id = ?", id.value, "event");
  }

  Status UpsertMembership(const Membership& m) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare("INSERT INTO memberships (client_id, group_id, role) VALUES (?, ?, ?) "
                    "ON CONFLICT (client_id, group_id) DO UPDATE SET role = excluded.role"));
    s->BindInt(1, m.client.value);
    s->BindInt(2, m.group.value);
    s->BindText(3, RoleName(m.role));
    return Run(s, "membership");
  }
  Status DeleteMembership(ClientId client, GroupId group) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare("DELETE FROM memberships WHERE client_id = ? AND group_id = ?"));
    s->BindInt(1, client.value);
    s->BindInt(2, group.value);
    return Run(s, "membership");
  }

  Status InsertAssignment(const Assignment& a) override {
    KC_ASSIGN_OR_RETURN(auto* s,
                        c_->Prepare("INSERT INTO assignments (event_id, group_id) VALUES (?, ?)"));
    s->BindInt(1, a.event.value);
    s->BindInt(2, a.group.value);
    return Run(s, "assignment");
  }
  Status DeleteAssignment(EventId event, GroupId group) override {
    KC_ASSIGN_OR_RETURN(auto* s,
                        c_->Prepare("DELETE FROM assignments WHERE event_id = ? AND group_id = ?"));
    s->BindInt(1, event.value);
    s->BindInt(2, group.value);
    return Run(s, "assignment");
  }

  Status InsertApiKey(const ApiKey& k) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(
            "INSERT INTO api_keys (id, client_id, verifier, description, created_at, revoked_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"));
    s->BindText(1, k.id);
    s->BindInt(2, k.client.value);
    s->BindText(3, k.verifier);
    s->BindText(4, k.description);
    s->BindInt(5, k.created_at);
    s->BindInt(6, k.revoked_at);
    return Run(s, "API key");
  }
  Status RevokeApiKey(const std::string& id, int64_t at) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?"));
    s->BindInt(1, at);
    s->BindText(2, id);
    return Run(s, "API key " + id);
  }

  Status InsertAdminToken(const AdminToken& t) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO admin_tokens (id, verifier, description, "
                                             "created_at, revoked_at) VALUES (?, ?, ?, ?, ?)"));
    s->BindText(1, t.id);
    s->BindText(2, t.verifier);
    s->BindText(3, t.description);
    s->BindInt(4, t.created_at);
    s->BindInt(5, t.revoked_at);
    return Run(s, "admin token");
  }
  Status RevokeAdminToken(const std::string& id, int64_t at) override {
    KC_ASSIGN_OR_RETURN(auto* s,
                        c_->Prepare("UPDATE admin_tokens SET revoked_at = ? WHERE id = ?"));
    s->BindInt(1, at);
    s->BindText(2, id);
    return Run(s, "admin token " + id);
  }

  Status PutEventSecret(EventId event, uint32_t version, const Bytes& sealed,
                        int64_t created_at) override {
    // A retired version stays retired: its number is never used again.
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare("INSERT INTO event_secret_versions (event_id, version, sealed, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (event_id, version) DO UPDATE SET sealed = "
                    "excluded.sealed WHERE event_secret_versions.retired_at = 0"));
    s->BindInt(1, event.value);
    s->BindInt(2, version);
    s->BindBlob(3, sealed);
    s->BindInt(4, created_at);
    return Run(s, "unretired event secret version " + std::to_string(version));
  }
  Result<uint32_t> NextEventSecretVersion(EventId event) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("SELECT COALESCE(MAX(version), 0) FROM "
                                             "event_secret_versions WHERE event_id = ?"));
    s->BindInt(1, event.value);
    auto row = s->Step();
    if (!row.ok()) return Remember(row.status());
    int64_t next = *row ? s->Int(0) + 1 : 1;
    s->Reset();
    if (next > 0xffffffffLL)
      return Remember(ResourceExhausted("event has used every secret version"));
    return static_cast<uint32_t>(next);
  }
  Result<int64_t> RetireEventSecrets(EventId event, uint32_t keep, uint32_t also_keep,
                                     int64_t at) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare("UPDATE event_secret_versions SET sealed = ?, retired_at = ? WHERE "
                             "event_id = ? AND retired_at = 0 AND version <> ? AND version <> ?"));
    s->BindBlob(1, Bytes{});
    s->BindInt(2, at);
    s->BindInt(3, event.value);
    s->BindInt(4, keep);
    s->BindInt(5, also_keep);
    auto row = s->Step();
    if (!row.ok()) return Remember(row.status());
    int64_t n = s->Changes();
    s->Reset();
    return n;
  }
  Result<std::pair<EventKeyState, EventKeyState>> AdvanceEventKeys(EventId event,
                                                                   const KeyChange& k) override {
    std::pair<EventKeyState, EventKeyState> out;
    {
      KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare(std::string("SELECT ") + kKeyStateColumns +
                                               " FROM events WHERE id = ?"));
      s->BindInt(1, event.value);
      auto row = s->Step();
      if (!row.ok()) return Remember(row.status());
      if (!*row) {
        s->Reset();
        return NotFound("event " + std::to_string(event.value) + " does not exist");
      }
      Status st = ReadKeyState(s, 0, &out.first);
      s->Reset();
      if (!st.ok()) return Remember(st);
    }
    // Every right-hand side reads the row as it was. A state still pending
    // at `now` never becomes the previous one: the previous is the last
    // state that was in force.
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(std::string("UPDATE events SET "
                                "prev_secret_version = CASE WHEN keys_activate_at > CAST(? AS "
                                "BIGINT) THEN prev_secret_version ELSE secret_version END, "
                                "prev_key_generation = CASE WHEN keys_activate_at > CAST(? AS "
                                "BIGINT) THEN prev_key_generation ELSE key_generation END, "
                                "prev_schedule_version = CASE WHEN keys_activate_at > CAST(? AS "
                                "BIGINT) THEN prev_schedule_version ELSE schedule_version END, "
                                "key_generation = key_generation + CAST(? AS BIGINT), "
                                "schedule_version = schedule_version + CAST(? AS BIGINT), "
                                "secret_version = CASE WHEN CAST(? AS BIGINT) > 0 THEN CAST(? AS "
                                "BIGINT) ELSE secret_version END, "
                                "keys_activate_at = CAST(? AS BIGINT) WHERE id = ? RETURNING ") +
                    kKeyStateColumns));
    int i = 1;
    for (int j = 0; j < 3; ++j) s->BindInt(i++, k.now);
    s->BindInt(i++, k.bump_generation);
    s->BindInt(i++, k.bump_schedule);
    s->BindInt(i++, k.secret_version);
    s->BindInt(i++, k.secret_version);
    s->BindInt(i++, k.activates_at);
    s->BindInt(i++, event.value);
    auto row = s->Step();
    if (!row.ok()) return Remember(row.status());
    if (!*row) {
      s->Reset();
      return NotFound("event " + std::to_string(event.value) + " does not exist");
    }
    Status st = ReadKeyState(s, 0, &out.second);
    if (st.ok()) {
      auto more = s->Step();  // drain so the statement completes
      if (!more.ok()) st = more.status();
    }
    s->Reset();
    if (!st.ok()) return Remember(st);
    return out;
  }
  Status InsertServiceKey(const ServiceKey& k) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare(
            "INSERT INTO service_keys (kind, version, sealed, public_key, created_at, retired_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"));
    s->BindText(1, k.kind);
    s->BindInt(2, k.version.value);
    s->BindBlob(3, k.sealed_secret);
    s->BindBlob(4, k.public_key);
    s->BindInt(5, k.created_at);
    s->BindInt(6, k.retired_at);
    return Run(s, "service key");
  }
  Status RetireServiceKey(const std::string& kind, KeyVersion v, int64_t at) override {
    KC_ASSIGN_OR_RETURN(
        auto* s,
        c_->Prepare("UPDATE service_keys SET retired_at = ? WHERE kind = ? AND version = ?"));
    s->BindInt(1, at);
    s->BindText(2, kind);
    s->BindInt(3, v.value);
    return Run(s, kind + " key v" + std::to_string(v.value));
  }

  Result<int64_t> AppendAudit(const AuditRecord& r) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO audit (time, actor, action, target, "
                                             "detail) VALUES (?, ?, ?, ?, ?) RETURNING seq"));
    s->BindInt(1, r.time);
    s->BindText(2, r.actor);
    s->BindText(3, r.action);
    s->BindText(4, r.target);
    s->BindText(5, r.detail);
    KC_ASSIGN_OR_RETURN(int64_t seq, ReturningId(s));
    if (c_->Dialect() == "postgres") {
      // Inside this transaction: listeners hear of the change on commit only.
      KC_ASSIGN_OR_RETURN(
          auto* n, c_->Prepare(std::string("SELECT pg_notify('") + sql::kChangeChannel + "', ?)"));
      n->BindText(1, std::to_string(seq));
      auto row = n->Step();
      if (!row.ok()) return Remember(row.status());
      n->Reset();
    }
    return seq;
  }

  Result<ReservationId> InsertReservation(const Reservation& r) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare(std::string("INSERT INTO reservations (") + kReservationColumns +
                             ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                             "?, ?, ?) RETURNING id"));
    BindReservation(s, r);
    KC_ASSIGN_OR_RETURN(int64_t id, ReturningId(s));
    return ReservationId(id);
  }
  Status UpdateReservation(const Reservation& r) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare("UPDATE reservations SET name = ?, title = ?, sender_id = ?, "
                             "schedule_start = ?, schedule_duration = ?, "
                             "rrule = ?, group_address = ?, port = ?, source_address = ?, sa_mode "
                             "= ?, event_id = ?, group_id = ?, "
                             "spi = ?, algorithm = ?, sealed_sa_key = ?, price_cents = ?, currency "
                             "= ?, status = ?, version = ?, "
                             "created_at = ?, updated_at = ?, cancelled_at = ? WHERE id = ?"));
    BindReservation(s, r);
    s->BindInt(kReservationColumnCount + 1, r.id.value);
    return Run(s, "reservation " + r.name);
  }
  Status ReplaceReservationReceivers(ReservationId id,
                                     const std::vector<ReservationReceiver>& list) override {
    {
      KC_ASSIGN_OR_RETURN(
          auto* s, c_->Prepare("DELETE FROM reservation_receivers WHERE reservation_id = ?"));
      s->BindInt(1, id.value);
      KC_RETURN_IF_ERROR(RunAny(s));
    }
    for (const auto& r : list) {
      KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO reservation_receivers (reservation_id, "
                                               "name, password_hash) VALUES (?, ?, ?)"));
      s->BindInt(1, id.value);
      s->BindText(2, r.name);
      s->BindText(3, r.password_hash);
      KC_RETURN_IF_ERROR(Run(s, "receiver " + r.name));
    }
    return Status::Ok();
  }
  Status ReplaceReservationGroups(ReservationId id, const std::vector<GroupId>& groups) override {
    {
      KC_ASSIGN_OR_RETURN(auto* s,
                          c_->Prepare("DELETE FROM reservation_groups WHERE reservation_id = ?"));
      s->BindInt(1, id.value);
      KC_RETURN_IF_ERROR(RunAny(s));
    }
    for (GroupId g : groups) {
      KC_ASSIGN_OR_RETURN(
          auto* s,
          c_->Prepare("INSERT INTO reservation_groups (reservation_id, group_id) VALUES (?, ?)"));
      s->BindInt(1, id.value);
      s->BindInt(2, g.value);
      KC_RETURN_IF_ERROR(Run(s, "admitted group"));
    }
    return Status::Ok();
  }
  Result<int64_t> InsertAccessGrant(const AccessGrant& g) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("INSERT INTO access_grants (reservation_id, receiver, "
                                             "client_id, via, ledger_id, sealed_credential, "
                                             "card_fingerprint, created_at, revoked_at) VALUES (?, "
                                             "?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"));
    s->BindInt(1, g.reservation.value);
    s->BindText(2, g.receiver);
    s->BindInt(3, g.client.value);
    s->BindText(4, g.via);
    s->BindInt(5, g.ledger_id);
    s->BindBlob(6, g.sealed_credential);
    s->BindText(7, g.card_fingerprint);
    s->BindInt(8, g.created_at);
    s->BindInt(9, g.revoked_at);
    return ReturningId(s);
  }
  Status RevokeAccessGrant(int64_t id, int64_t at) override {
    KC_ASSIGN_OR_RETURN(auto* s,
                        c_->Prepare("UPDATE access_grants SET revoked_at = ? WHERE id = ?"));
    s->BindInt(1, at);
    s->BindInt(2, id);
    return Run(s, "access grant " + std::to_string(id));
  }
  Result<int64_t> InsertLedgerEntry(const LedgerEntry& e) override {
    KC_ASSIGN_OR_RETURN(
        auto* s, c_->Prepare("INSERT INTO ledger (reservation_id, receiver, kind, status, "
                             "amount_cents, currency, idempotency_key, "
                             "refund_of, provider, provider_ref, card_last4, card_fingerprint, "
                             "reason, created_at, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"));
    int i = 1;
    s->BindInt(i++, e.reservation.value);
    s->BindText(i++, e.receiver);
    s->BindText(i++, e.kind);
    s->BindText(i++, e.status);
    s->BindInt(i++, e.amount_cents);
    s->BindText(i++, e.currency);
    if (e.idempotency_key.empty())
      s->BindNull(i++);
    else
      s->BindText(i++, e.idempotency_key);
    if (e.refund_of == 0)
      s->BindNull(i++);
    else
      s->BindInt(i++, e.refund_of);
    s->BindText(i++, e.provider);
    s->BindText(i++, e.provider_ref);
    s->BindText(i++, e.card_last4);
    s->BindText(i++, e.card_fingerprint);
    s->BindText(i++, e.reason);
    s->BindInt(i++, e.created_at);
    s->BindInt(i++, e.updated_at);
    return ReturningId(s);
  }
  Status UpdateLedgerEntry(const LedgerEntry& e) override {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare("UPDATE ledger SET status = ?, provider_ref = ?, "
                                             "reason = ?, updated_at = ? WHERE id = ?"));
    s->BindText(1, e.status);
    s->BindText(2, e.provider_ref);
    s->BindText(3, e.reason);
    s->BindInt(4, e.updated_at);
    s->BindInt(5, e.id);
    return Run(s, "ledger entry " + std::to_string(e.id));
  }

  // Ends the transaction either way and releases the store for others.
  Status Commit() override {
    if (done_) return FailedPrecondition("transaction already ended");
    Status st = error_.ok() ? c_->Exec("COMMIT") : error_;
    if (!st.ok()) (void)c_->Exec("ROLLBACK");
    done_ = true;
    lock_.unlock();
    return st;
  }

 private:
  // Runs an INSERT ... RETURNING and yields the id, or records the error
  // (the transaction then refuses to commit).
  Result<int64_t> ReturningId(sql::Stmt* s) {
    auto row = s->Step();
    if (!row.ok()) return Remember(row.status());
    if (!*row) return Remember(Internal("INSERT ... RETURNING produced no row"));
    int64_t id = s->Int(0);
    // Drain so the statement completes.
    auto more = s->Step();
    if (!more.ok()) return Remember(more.status());
    s->Reset();
    return id;
  }
  Status Run(sql::Stmt* s, const std::string& what) {
    auto row = s->Step();
    if (!row.ok()) return Remember(row.status());
    Status st = ExpectOneRow(s, what);
    s->Reset();
    return st;
  }
  // Like Run, but zero changed rows is fine.
  Status RunAny(sql::Stmt* s) {
    auto row = s->Step();
    s->Reset();
    if (!row.ok()) return Remember(row.status());
    return Status::Ok();
  }
  Status RunById(const char* q, int64_t id, const std::string& what) {
    KC_ASSIGN_OR_RETURN(auto* s, c_->Prepare(q));
    s->BindInt(1, id);
    return Run(s, what + " " + std::to_string(id));
  }
  Status Remember(Status st) {
    if (error_.ok()) error_ = st;
    return st;
  }

  sql::Conn* c_;
  std::unique_lock<std::mutex> lock_;
  bool done_ = false;
  Status error_;
};

Result<std::unique_ptr<StoreTxn>> SqlStore::Begin() {
  std::unique_lock<std::mutex> lock(mu_);
  KC_RETURN_IF_ERROR(conn_->Begin());
  return std::unique_ptr<StoreTxn>(new SqlTxn(this, std::move(lock)));
}

}  // namespace

BulkLoadScope::BulkLoadScope(Store* store, size_t cache_bytes) {
  auto* sql = dynamic_cast<SqlStore*>(store);
  if (!sql) return;
  auto previous = sql->SetCacheSize(-static_cast<int64_t>(cache_bytes / 1024));
  if (!previous.ok()) return;  // a hint only: loading works without it
  store_ = store;
  previous_ = *previous;
}

BulkLoadScope::~BulkLoadScope() {
  if (store_) (void)static_cast<SqlStore*>(store_)->SetCacheSize(previous_);
}

Result<std::unique_ptr<Store>> OpenSqlStore(std::unique_ptr<sql::Conn> conn) {
  auto store = std::make_unique<SqlStore>(std::move(conn));
  KC_RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  KC_ASSIGN_OR_RETURN(auto conn, sql::OpenSqlite(path));
  return OpenSqlStore(std::move(conn));
}

// database: a PostgreSQL URI or key=value string, else an SQLite path.
Result<std::unique_ptr<Store>> OpenStore(const std::string& database) {
  if (!sql::IsPostgresConninfo(database)) return OpenSqliteStore(database);
  KC_ASSIGN_OR_RETURN(auto conn, sql::OpenPostgres(database));
  return OpenSqlStore(std::move(conn));
}

}  // namespace keycast
