// SQLite backend for the SQL surface: WAL journal, synchronous=FULL (an
// acknowledged commit survives power loss), foreign keys on, a busy timeout
// so a second process (e.g. `keycast server --roles key` on the same host)
// can share the file.
#include "store/sqlite_conn.h"

#include <sqlite3.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "store/sql.h"

namespace keycast::sql {
namespace {

Status MapError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  int ext = sqlite3_extended_errcode(db);
  switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return AlreadyExists(msg);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return FailedPrecondition(msg);
    default:
      break;
  }
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Unavailable(msg);
  return Internal(msg);
}

class SqliteStmt final : public Stmt {
 public:
  SqliteStmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~SqliteStmt() override { sqlite3_finalize(s_); }
  void BindInt(int i, int64_t v) override { sqlite3_bind_int64(s_, i, v); }
  void BindText(int i, std::string_view v) override {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, ByteView v) override {
    // An empty blob must stay a blob: a null pointer would bind SQL NULL.
    if (v.empty())
      sqlite3_bind_zeroblob(s_, i, 0);
    else
      sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindNull(int i) override { sqlite3_bind_null(s_, i); }
  Result<bool> Step() override {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      changes_ = sqlite3_changes64(db_);
      return false;
    }
    Status st = MapError(db_, rc, "sqlite step");
    sqlite3_reset(s_);
    return st;
  }
  int64_t Int(int c) override { return sqlite3_column_int64(s_, c); }
  std::string Text(int c) override {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  Bytes Blob(int c) override {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, c));
    int n = sqlite3_column_bytes(s_, c);
    return p ? Bytes(p, p + n) : Bytes();
  }
  bool IsNull(int c) override { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t Changes() override { return changes_; }
  void Reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    changes_ = 0;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
  int64_t changes_ = 0;
};

class SqliteConn final : public Conn {
 public:
  explicit SqliteConn(sqlite3* db) : db_(db) {}
  ~SqliteConn() override {
    cache_.clear();
    sqlite3_close(db_);
  }
  Result<Stmt*> Prepare(std::string_view sql) override {
    auto it = cache_.find(std::string(sql));
    if (it != cache_.end()) {
      it->second->Reset();
      return it->second.get();
    }
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return MapError(db_, rc, "sqlite prepare");
    auto st = std::make_unique<SqliteStmt>(db_, s);
    Stmt* raw = st.get();
    cache_.emplace(std::string(sql), std::move(st));
    return raw;
  }
  Status Exec(std::string_view sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      Status st = MapError(db_, rc, "sqlite exec");
      sqlite3_free(err);
      return st;
    }
    return Status::Ok();
  }
  Status Begin() override { return Exec("BEGIN IMMEDIATE"); }
  Status BeginRead() override { return Exec("BEGIN"); }
  std::string Dialect() const override { return "sqlite"; }

 private:
  sqlite3* db_;
  std::map<std::string, std::unique_ptr<SqliteStmt>, std::less<>> cache_;
};

}  // namespace

Result<std::unique_ptr<Conn>> OpenSqlite(const std::string& path) {
  constexpr int kBusyTimeoutMs = 5000;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable("cannot open SQLite database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // Switching a new database to WAL needs an exclusive lock, and SQLite
  // skips the busy handler there (it could deadlock): when processes open a
  // new database together, all but one get SQLITE_BUSY at once. Retry for
  // as long as the busy timeout would have waited.
  for (int waited_ms = 0;; waited_ms += 10) {
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    return Unavailable("cannot switch SQLite database " + path + " to WAL: " + msg);
  }
  auto conn = std::make_unique<SqliteConn>(db);
  for (const char* pragma :
       {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", "PRAGMA temp_store=MEMORY"}) {
    KC_RETURN_IF_ERROR(conn->Exec(pragma));
  }
  return std::unique_ptr<Conn>(std::move(conn));
}

}  // namespace keycast::sql
