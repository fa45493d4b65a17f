// Schema migrations. DDL is the one place where dialects differ; every
// statement that reads or writes rows (sql_store.cc) is shared. Every
// dialect has the same migrations, in the same order: a new one is added to
// each (pg_store_test checks that both give the same tables, columns and
// indexes).
#include <map>
#include <stdexcept>

#include "store/sql.h"

namespace keycast::sql {

const std::vector<std::string>& Migrations(const std::string& dialect) {
  static const std::map<std::string, std::vector<std::string>> kAll = {
      {"sqlite",
       {
           // 1: the directory, credentials, secrets and the audit log.
           R"sql(
CREATE TABLE clients (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE dir_groups (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE group_edges (
  parent_id INTEGER NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  child_id INTEGER NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (parent_id, child_id));
CREATE INDEX group_edges_child ON group_edges(child_id);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  sender_id INTEGER REFERENCES clients(id) ON DELETE SET NULL,
  group_address TEXT NOT NULL,
  port INTEGER NOT NULL,
  source_address TEXT NOT NULL DEFAULT '',
  schedule_start INTEGER NOT NULL,
  schedule_duration INTEGER NOT NULL,
  rrule TEXT NOT NULL DEFAULT '',
  interval_seconds INTEGER NOT NULL,
  initial_keying_seconds INTEGER NOT NULL,
  clear_intervals INTEGER NOT NULL,
  key_servers TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  delivery TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE memberships (
  client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY (client_id, group_id));
CREATE INDEX memberships_group ON memberships(group_id);
CREATE TABLE assignments (
  event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (event_id, group_id));
CREATE INDEX assignments_group ON assignments(group_id);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  verifier TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX api_keys_client ON api_keys(client_id);
CREATE TABLE admin_tokens (
  id TEXT PRIMARY KEY,
  verifier TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE event_secrets (
  event_id INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
  sealed BLOB NOT NULL);
CREATE TABLE service_keys (
  kind TEXT NOT NULL,
  version INTEGER NOT NULL,
  sealed BLOB NOT NULL,
  public_key BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, version));
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
           // 2: sender ids, so several senders of one event never share a nonce.
           R"sql(
CREATE TABLE sender_ids (
  event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  sender_id INTEGER NOT NULL,
  client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (event_id, sender_id));
)sql",
           // 3: the reservation platform (docs/reservations.md): reservations,
           // their admission policy, access grants and the billing ledger.
           // Reservations are cancelled, never deleted, so ledger rows always
           // have theirs; the ledger refuses deletes like the audit log.
           R"sql(
CREATE TABLE reservations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  sender_id INTEGER,
  schedule_start INTEGER NOT NULL,
  schedule_duration INTEGER NOT NULL,
  rrule TEXT NOT NULL DEFAULT '',
  group_address TEXT NOT NULL,
  port INTEGER NOT NULL,
  source_address TEXT NOT NULL DEFAULT '',
  sa_mode TEXT NOT NULL,
  event_id INTEGER NOT NULL DEFAULT 0,
  group_id INTEGER NOT NULL DEFAULT 0,
  spi INTEGER NOT NULL DEFAULT 0,
  algorithm TEXT NOT NULL,
  sealed_sa_key BLOB NOT NULL,
  price_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  cancelled_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX reservations_sender ON reservations(sender_id);
CREATE TABLE reservation_receivers (
  reservation_id INTEGER NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  PRIMARY KEY (reservation_id, name));
CREATE TABLE reservation_groups (
  reservation_id INTEGER NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (reservation_id, group_id));
CREATE TABLE access_grants (
  id INTEGER PRIMARY KEY,
  reservation_id INTEGER NOT NULL REFERENCES reservations(id),
  receiver TEXT NOT NULL,
  client_id INTEGER NOT NULL DEFAULT 0,
  via TEXT NOT NULL,
  ledger_id INTEGER NOT NULL DEFAULT 0,
  sealed_credential BLOB NOT NULL,
  card_fingerprint TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX access_grants_live ON access_grants(reservation_id, receiver) WHERE revoked_at = 0;
CREATE TABLE ledger (
  id INTEGER PRIMARY KEY,
  reservation_id INTEGER NOT NULL REFERENCES reservations(id),
  receiver TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  amount_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  refund_of INTEGER UNIQUE,
  provider TEXT NOT NULL,
  provider_ref TEXT NOT NULL DEFAULT '',
  card_last4 TEXT NOT NULL DEFAULT '',
  card_fingerprint TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX ledger_reservation ON ledger(reservation_id);
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
  BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
)sql",
           // 4: source authentication, an option of each event
           // (docs/packet-format.md); existing events keep it off.
           R"sql(
ALTER TABLE events ADD COLUMN source_auth INTEGER NOT NULL DEFAULT 0;
)sql",
           // 5: key generations (docs/key-protocol.md, "Generations"): each
           // event's key state, and versioned event secrets (the existing
           // secret becomes version 1; retired versions keep their row with
           // the sealed bytes erased).
           R"sql(
ALTER TABLE events ADD COLUMN secret_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN schedule_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN keys_activate_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_secret_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_key_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_schedule_version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE event_secret_versions (
  event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (event_id, version));
INSERT INTO event_secret_versions (event_id, version, sealed, created_at)
  SELECT event_id, 1, sealed, 0 FROM event_secrets;
DROP TABLE event_secrets;
)sql",
       }},
      // PostgreSQL: the same tables, columns, keys and indexes, migration
      // for migration (pg_store_test compares the two schemas). INTEGER
      // becomes BIGINT, BLOB BYTEA, an INTEGER PRIMARY KEY an identity
      // column; the append-only triggers are PL/pgSQL and also refuse
      // TRUNCATE; names that are listed in order compare bytewise
      // (COLLATE "C"), as in SQLite, whatever the database's locale.
      {"postgres",
       {
           // 1: the directory, credentials, secrets and the audit log.
           R"sql(
CREATE TABLE clients (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  enabled BIGINT NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE dir_groups (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE group_edges (
  parent_id BIGINT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  child_id BIGINT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (parent_id, child_id));
CREATE INDEX group_edges_child ON group_edges(child_id);
CREATE TABLE events (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  sender_id BIGINT REFERENCES clients(id) ON DELETE SET NULL,
  group_address TEXT NOT NULL,
  port BIGINT NOT NULL,
  source_address TEXT NOT NULL DEFAULT '',
  schedule_start BIGINT NOT NULL,
  schedule_duration BIGINT NOT NULL,
  rrule TEXT NOT NULL DEFAULT '',
  interval_seconds BIGINT NOT NULL,
  initial_keying_seconds BIGINT NOT NULL,
  clear_intervals BIGINT NOT NULL,
  key_servers TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  delivery TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE memberships (
  client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  group_id BIGINT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY (client_id, group_id));
CREATE INDEX memberships_group ON memberships(group_id);
CREATE TABLE assignments (
  event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  group_id BIGINT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (event_id, group_id));
CREATE INDEX assignments_group ON assignments(group_id);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  verifier TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX api_keys_client ON api_keys(client_id);
CREATE TABLE admin_tokens (
  id TEXT PRIMARY KEY,
  verifier TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0);
CREATE TABLE event_secrets (
  event_id BIGINT PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
  sealed BYTEA NOT NULL);
CREATE TABLE service_keys (
  kind TEXT NOT NULL,
  version BIGINT NOT NULL,
  sealed BYTEA NOT NULL,
  public_key BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, version));
CREATE TABLE audit (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  time BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE FUNCTION keycast_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the % is append-only', TG_ARGV[0];
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  FOR EACH ROW EXECUTE FUNCTION keycast_append_only('audit log');
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION keycast_append_only('audit log');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
  FOR EACH STATEMENT EXECUTE FUNCTION keycast_append_only('audit log');
)sql",
           // 2: sender ids, so several senders of one event never share a nonce.
           R"sql(
CREATE TABLE sender_ids (
  event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  sender_id BIGINT NOT NULL,
  client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (event_id, sender_id));
)sql",
           // 3: the reservation platform; see the SQLite migration 3.
           R"sql(
CREATE TABLE reservations (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  title TEXT NOT NULL,
  sender_id BIGINT,
  schedule_start BIGINT NOT NULL,
  schedule_duration BIGINT NOT NULL,
  rrule TEXT NOT NULL DEFAULT '',
  group_address TEXT NOT NULL,
  port BIGINT NOT NULL,
  source_address TEXT NOT NULL DEFAULT '',
  sa_mode TEXT NOT NULL,
  event_id BIGINT NOT NULL DEFAULT 0,
  group_id BIGINT NOT NULL DEFAULT 0,
  spi BIGINT NOT NULL DEFAULT 0,
  algorithm TEXT NOT NULL,
  sealed_sa_key BYTEA NOT NULL,
  price_cents BIGINT NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  cancelled_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX reservations_sender ON reservations(sender_id);
CREATE TABLE reservation_receivers (
  reservation_id BIGINT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
  name TEXT COLLATE "C" NOT NULL,
  password_hash TEXT NOT NULL,
  PRIMARY KEY (reservation_id, name));
CREATE TABLE reservation_groups (
  reservation_id BIGINT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
  group_id BIGINT NOT NULL REFERENCES dir_groups(id) ON DELETE CASCADE,
  PRIMARY KEY (reservation_id, group_id));
CREATE TABLE access_grants (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  reservation_id BIGINT NOT NULL REFERENCES reservations(id),
  receiver TEXT NOT NULL,
  client_id BIGINT NOT NULL DEFAULT 0,
  via TEXT NOT NULL,
  ledger_id BIGINT NOT NULL DEFAULT 0,
  sealed_credential BYTEA NOT NULL,
  card_fingerprint TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX access_grants_live ON access_grants(reservation_id, receiver) WHERE revoked_at = 0;
CREATE TABLE ledger (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  reservation_id BIGINT NOT NULL REFERENCES reservations(id),
  receiver TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  amount_cents BIGINT NOT NULL,
  currency TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  refund_of BIGINT UNIQUE,
  provider TEXT NOT NULL,
  provider_ref TEXT NOT NULL DEFAULT '',
  card_last4 TEXT NOT NULL DEFAULT '',
  card_fingerprint TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE INDEX ledger_reservation ON ledger(reservation_id);
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
  FOR EACH ROW EXECUTE FUNCTION keycast_append_only('ledger');
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
  FOR EACH STATEMENT EXECUTE FUNCTION keycast_append_only('ledger');
)sql",
           // 4: source authentication; see the SQLite migration 4.
           R"sql(
ALTER TABLE events ADD COLUMN source_auth BIGINT NOT NULL DEFAULT 0;
)sql",
           // 5: key generations; see the SQLite migration 5.
           R"sql(
ALTER TABLE events ADD COLUMN secret_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN key_generation BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN schedule_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN keys_activate_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_secret_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_key_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN prev_schedule_version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE event_secret_versions (
  event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  version BIGINT NOT NULL,
  sealed BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (event_id, version));
INSERT INTO event_secret_versions (event_id, version, sealed, created_at)
  SELECT event_id, 1, sealed, 0 FROM event_secrets;
DROP TABLE event_secrets;
)sql",
       }},
  };
  auto it = kAll.find(dialect);
  if (it == kAll.end()) throw std::logic_error("no migrations for dialect " + dialect);
  return it->second;
}

}  // namespace keycast::sql
