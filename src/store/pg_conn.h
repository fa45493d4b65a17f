// PostgreSQL backend of the SQL surface (libpq), so that several hosts share
// one directory: see docs/storage.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/sql.h"

namespace keycast::sql {

// Connects to PostgreSQL. The connection, like every Conn, is used by one
// thread at a time (SqlStore holds its mutex around every call). `conninfo` is a libpq connection
// URI (postgresql://keycast@db1:5432/keycast?sslmode=verify-full) or a key=value string (host=db1
// dbname=keycast). A password is best kept in ~/.pgpass or PGPASSWORD; one given in conninfo is
// used but never appears in a Status message or a log line. Connects within 10 s unless conninfo
// sets connect_timeout.
Result<std::unique_ptr<Conn>> OpenPostgres(const std::string& conninfo);

// True when `database` names a PostgreSQL database rather than an SQLite
// file: a postgres:// or postgresql:// URI, or a libpq key=value string
// (its first word is a lower-case keyword followed by '=').
bool IsPostgresConninfo(std::string_view database);

// The host, port, database and user of conninfo, for messages; never the
// password.
std::string DescribeConninfo(const std::string& conninfo);

// Rewrites the `?` placeholders of sql as $1, $2, ... and sets *count to
// their number. A `?` inside a string literal ('...', E'...'), a quoted
// identifier, a dollar-quoted string or a comment is left alone; every
// other `?` is a placeholder (so PostgreSQL's jsonb `?` operators cannot be
// written in portable SQL).
std::string NumberPlaceholders(std::string_view sql, int* count);

// The channel every committed change NOTIFYs, from inside its transaction
// (so the notification is delivered on commit only). The payload is the
// change's audit sequence number in decimal.
inline constexpr const char* kChangeChannel = "keycast_changes";

// A dedicated connection that LISTENs on one channel. Used by one thread.
class Listener {
 public:
  virtual ~Listener() = default;
  // Waits at most timeout_ms for notifications on the channel (poll on the
  // connection's socket: no busy loop) and appends their payloads, oldest
  // first. Unavailable when the connection is lost: notifications sent
  // meanwhile are gone, so the caller opens a new Listener and catches up
  // from the audit log.
  virtual Status Wait(int timeout_ms, std::vector<std::string>* payloads) = 0;
  // The server process serving this connection (pg_terminate_backend in tests).
  virtual int BackendPid() const = 0;
};

// Connects (application_name "keycast-listen" unless conninfo names one) and
// LISTENs on `channel`, which must be a plain identifier.
Result<std::unique_ptr<Listener>> ListenPostgres(const std::string& conninfo,
                                                 const std::string& channel);

}  // namespace keycast::sql
