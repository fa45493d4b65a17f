// The small SQL surface the store needs, so one set of portable SQL (in
// sql_store.cc) runs on every backend. Placeholders are written `?`; a
// backend that numbers them ($1, $2, ...) rewrites them in Prepare.
//
// Errors map onto Status codes the same way on every backend: a unique
// violation is kAlreadyExists, a foreign-key violation kFailedPrecondition,
// a busy/locked database kUnavailable, anything else kInternal. On
// PostgreSQL (by SQLSTATE): 23505 kAlreadyExists, 23503 kFailedPrecondition,
// 40001, 40P01, 55P03, 57P01 and class 08 (and a lost connection)
// kUnavailable, anything else kInternal.
//
// Inside a transaction, the first failed statement dooms it on every
// backend: StoreTxn refuses to commit and reports that failure. (Below
// StoreTxn, SQLite would run later statements and commit them; PostgreSQL
// refuses them, and its Exec("COMMIT") rolls back and reports the failure.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/status.h"

namespace keycast::sql {

class Stmt {
 public:
  virtual ~Stmt() = default;
  // Binding indices start at 1.
  virtual void BindInt(int i, int64_t v) = 0;
  virtual void BindText(int i, std::string_view v) = 0;
  virtual void BindBlob(int i, ByteView v) = 0;
  virtual void BindNull(int i) = 0;
  // Runs or advances; true when a row is available.
  virtual Result<bool> Step() = 0;
  // Column indices start at 0.
  virtual int64_t Int(int col) = 0;
  virtual std::string Text(int col) = 0;
  virtual Bytes Blob(int col) = 0;
  virtual bool IsNull(int col) = 0;
  // Rows changed by the last Step of an INSERT/UPDATE/DELETE.
  virtual int64_t Changes() = 0;
  virtual void Reset() = 0;
};

class Conn {
 public:
  virtual ~Conn() = default;
  // The statement is cached and owned by the connection; it is Reset first.
  virtual Result<Stmt*> Prepare(std::string_view sql) = 0;
  virtual Status Exec(std::string_view sql) = 0;
  // Starts a write transaction. SQLite takes the write lock at once
  // (BEGIN IMMEDIATE) so a second process sharing the file waits here
  // instead of failing at commit; PostgreSQL takes a database-wide advisory
  // lock, so writers from every process and host serialise the same way.
  // Either waits about 5 s for the lock, then fails with kUnavailable.
  virtual Status Begin() = 0;
  // Starts a read-only transaction whose statements all see one snapshot
  // (SQLite: deferred BEGIN in WAL mode; PostgreSQL: REPEATABLE READ).
  // Takes no write lock. End it with Exec("COMMIT") or Exec("ROLLBACK").
  virtual Status BeginRead() = 0;
  virtual std::string Dialect() const = 0;  // "sqlite" or "postgres"
};

// Schema migrations for a dialect, in order. Migration i brings the schema
// to version i + 1.
const std::vector<std::string>& Migrations(const std::string& dialect);

}  // namespace keycast::sql
