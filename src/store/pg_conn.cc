// PostgreSQL backend of the SQL surface (libpq).
//
// Statements are prepared on the server once per SQL text and connection
// (named kc1, kc2, ...), with `?` numbered as $n. Parameters travel as text,
// except blobs, which travel in binary so that every byte value (zero
// included) round-trips into BYTEA; results come back as text (BYTEA in hex),
// so Int() reads a column of any integer type. A statement runs whole at its
// first Step; the rows are then read from memory.
//
// Writes: Begin() opens a READ COMMITTED transaction and takes a
// transaction-scoped advisory lock (kBeginWrite): one writer at a time per
// database, across processes and hosts, as BEGIN IMMEDIATE gives on one
// SQLite file. Each statement of the writer sees every commit made before it
// took the lock (READ COMMITTED takes a snapshot per statement, and the lock
// is taken before any other statement), and audit sequence numbers are
// handed out in commit order, which followers rely on (Store::LastAuditSeq).
// The lock is waited for at most 5 s (lock_timeout), then Begin fails with
// kUnavailable (SQLSTATE 55P03), like SQLite's busy timeout.
//
// A lost connection is made again on the next call outside a transaction
// (statements are prepared again), and a call outside a transaction that
// fails because the connection was lost is tried once more on a new one:
// only idempotent statements run outside Begin (sql_store.cc writes inside
// transactions only). Inside a transaction every call fails with kUnavailable
// until COMMIT or ROLLBACK ends it; the server has rolled it back.
#include "store/pg_conn.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace keycast::sql {
namespace {

// "keycastw" as a big-endian integer: the advisory lock every writer takes.
constexpr const char* kBeginWrite =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '5s'; "
    "SELECT pg_advisory_xact_lock(7738725002449745015)";
// One snapshot for every statement, as SQLite's deferred BEGIN gives in WAL mode.
constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
constexpr const char* kSessionSetup =
    "SET bytea_output = 'hex'; SET standard_conforming_strings = on";
constexpr Oid kByteaOid = 17;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string TrimMessage(const char* m) {
  std::string s = m ? m : "";
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// sql.h's error contract, by SQLSTATE.
Status StatusForSqlState(std::string_view state, std::string msg) {
  if (state == "23505") return AlreadyExists(std::move(msg));       // unique_violation
  if (state == "23503") return FailedPrecondition(std::move(msg));  // foreign_key_violation
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57P01" ||
      state.starts_with("08"))
    return Unavailable(
        std::move(msg));  // serialization, deadlock, lock timeout, shutdown, connection
  return Internal(std::move(msg));
}

// The primary message only: DETAIL lines quote row values (names,
// idempotency keys), which do not belong in every log line.
Status ResultError(PGconn* pg, const PGresult* r, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg =
      std::string(what) + ": " + (primary ? std::string(primary) : TrimMessage(PQerrorMessage(pg)));
  // libpq reports a connection lost on the client side without an SQLSTATE.
  if (!state && PQstatus(pg) == CONNECTION_BAD) return Unavailable(std::move(msg));
  return StatusForSqlState(state ? state : "", std::move(msg));
}

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

class PgConn;

class PgStmt final : public Stmt {
 public:
  PgStmt(PgConn* conn, std::string name, std::string sql, int params)
      : conn_(conn),
        name_(std::move(name)),
        sql_(std::move(sql)),
        params_(static_cast<size_t>(params)) {}

  void BindInt(int i, int64_t v) override { Set(i, std::to_string(v), false); }
  void BindText(int i, std::string_view v) override { Set(i, std::string(v), false); }
  void BindBlob(int i, ByteView v) override {
    Set(i, std::string(reinterpret_cast<const char*>(v.data()), v.size()), true);
  }
  void BindNull(int i) override {
    if (InRange(i)) params_[static_cast<size_t>(i - 1)] = Param{};
  }
  Result<bool> Step() override;
  int64_t Int(int c) override {
    if (!HasRow()) return 0;
    const char* v = PQgetvalue(result_.get(), row_, c);
    if (*v == 't') return 1;  // boolean
    int64_t out = 0;
    std::from_chars(v, v + PQgetlength(result_.get(), row_, c), out);
    return out;
  }
  std::string Text(int c) override {
    if (!HasRow()) return {};
    return std::string(PQgetvalue(result_.get(), row_, c),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, c)));
  }
  Bytes Blob(int c) override {
    if (!HasRow()) return {};
    const auto* v = reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row_, c));
    if (PQftype(result_.get(), c) != kByteaOid)
      return Bytes(v, v + PQgetlength(result_.get(), row_, c));
    size_t n = 0;
    unsigned char* raw = PQunescapeBytea(v, &n);
    if (!raw) return {};
    Bytes out(raw, raw + n);
    PQfreemem(raw);
    return out;
  }
  bool IsNull(int c) override { return !HasRow() || PQgetisnull(result_.get(), row_, c); }
  int64_t Changes() override { return changes_; }
  void Reset() override {
    result_.reset();
    row_ = -1;
    changes_ = 0;
    for (auto& p : params_) p = Param{};
    bind_error_.clear();
  }

  // Server-side preparation, again after every reconnection.
  PGresult* PrepareOn(PGconn* pg, uint64_t generation) {
    PGresult* r =
        PQprepare(pg, name_.c_str(), sql_.c_str(), static_cast<int>(params_.size()), nullptr);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) prepared_generation_ = generation;
    return r;
  }
  PGresult* ExecuteOn(PGconn* pg, uint64_t generation) {
    if (prepared_generation_ != generation) {
      PGresult* r = PrepareOn(pg, generation);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) return r;
      PQclear(r);
    }
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const Param& p : params_) {
      values.push_back(p.null ? nullptr : p.value.c_str());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    return PQexecPrepared(pg, name_.c_str(), static_cast<int>(params_.size()), values.data(),
                          lengths.data(), formats.data(), 0);
  }

 private:
  struct Param {
    bool null = true;
    bool binary = false;
    std::string value;
  };
  bool InRange(int i) {
    if (i >= 1 && static_cast<size_t>(i) <= params_.size()) return true;
    bind_error_ = "bind index " + std::to_string(i) + " is out of range (the statement has " +
                  std::to_string(params_.size()) + " placeholders)";
    return false;
  }
  void Set(int i, std::string v, bool binary) {
    if (!InRange(i)) return;
    // Text parameters travel NUL-terminated; PostgreSQL text holds no NUL anyway.
    if (!binary && v.find('\0') != std::string::npos)
      bind_error_ = "text parameter " + std::to_string(i) + " holds a NUL byte";
    params_[static_cast<size_t>(i - 1)] = Param{false, binary, std::move(v)};
  }
  bool HasRow() const { return result_ && row_ >= 0 && row_ < PQntuples(result_.get()); }

  PgConn* conn_;
  std::string name_, sql_;
  std::vector<Param> params_;
  std::string bind_error_;
  uint64_t prepared_generation_ = 0;  // 0: not prepared on this connection
  PgResult result_;
  int row_ = -1;
  int64_t changes_ = 0;
};

class PgConn final : public Conn {
 public:
  PgConn(PGconn* pg, std::string where) : pg_(pg), where_(std::move(where)) {}
  ~PgConn() override {
    cache_.clear();
    PQfinish(pg_);
  }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  Status Setup() {
    PgResult r(PQexec(pg_, kSessionSetup));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      return ResultError(pg_, r.get(), "postgres session setup");
    return Status::Ok();
  }

  Result<Stmt*> Prepare(std::string_view sql) override {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      it->second->Reset();
      return it->second.get();
    }
    int params = 0;
    std::string numbered = NumberPlaceholders(sql, &params);
    auto st = std::make_unique<PgStmt>(this, "kc" + std::to_string(cache_.size() + 1),
                                       std::move(numbered), params);
    PgStmt* raw = st.get();
    KC_RETURN_IF_ERROR(
        Command([&] { return raw->PrepareOn(pg_, generation_); }, "postgres prepare").status());
    cache_.emplace(std::string(sql), std::move(st));
    return static_cast<Stmt*>(raw);
  }

  Status Exec(std::string_view sql) override {
    std::string q(sql);
    const bool ends_txn = q == "COMMIT" || q == "ROLLBACK";
    auto r = Command([&] { return PQexec(pg_, q.c_str()); }, "postgres exec");
    Status st = r.status();
    if (ends_txn) {
      // COMMIT of a transaction a failed statement aborted answers
      // "ROLLBACK" without an error: report why nothing was committed.
      if (st.ok() && q == "COMMIT" && std::string_view(PQcmdStatus(r->get())) == "ROLLBACK")
        st = txn_error_.ok()
                 ? Internal("postgres commit: the transaction had failed and was rolled back")
                 : txn_error_;
      in_txn_ = false;
      txn_error_ = Status::Ok();
    }
    return st;
  }

  Status Begin() override { return Start(kBeginWrite, "postgres begin (write lock)"); }
  Status BeginRead() override { return Start(kBeginRead, "postgres begin (read)"); }
  std::string Dialect() const override { return "postgres"; }

  // Issues one command through `issue`, reconnecting first when the
  // connection was lost; outside a transaction, once more on a new
  // connection when this one is lost on the way.
  Result<PgResult> Command(const std::function<PGresult*()>& issue, std::string_view what) {
    for (int attempt = 0;; ++attempt) {
      KC_RETURN_IF_ERROR(EnsureConnected());
      PgResult r(issue());
      ExecStatusType s = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
      if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return r;
      if (attempt == 0 && !in_txn_ && PQstatus(pg_) == CONNECTION_BAD) continue;
      Status st = ResultError(pg_, r.get(), what);
      if (in_txn_ && txn_error_.ok()) txn_error_ = st;
      return st;
    }
  }
  uint64_t generation() const { return generation_; }
  PGconn* pg() { return pg_; }

 private:
  Status Start(const char* begin, std::string_view what) {
    if (in_txn_) return FailedPrecondition(std::string(what) + ": a transaction is already open");
    auto r = Command([&] { return PQexec(pg_, begin); }, what);
    if (!r.ok()) {
      // BEGIN may have run and the lock wait failed: leave no aborted block.
      if (PQtransactionStatus(pg_) != PQTRANS_IDLE && PQstatus(pg_) == CONNECTION_OK)
        PgResult rollback(PQexec(pg_, "ROLLBACK"));
      return r.status();
    }
    in_txn_ = true;
    txn_error_ = Status::Ok();
    return Status::Ok();
  }

  Status EnsureConnected() {
    if (PQstatus(pg_) == CONNECTION_OK) return Status::Ok();
    if (in_txn_)
      return Unavailable("lost the connection to PostgreSQL (" + where_ +
                         ") inside a transaction; the server rolled it back");
    PQreset(pg_);
    if (PQstatus(pg_) != CONNECTION_OK)
      return Unavailable("cannot reconnect to PostgreSQL (" + where_ +
                         "): " + TrimMessage(PQerrorMessage(pg_)));
    ++generation_;  // server-side prepared statements are gone
    return Setup();
  }

  PGconn* pg_;
  std::string where_;  // DescribeConninfo: no password
  uint64_t generation_ = 1;
  bool in_txn_ = false;
  Status txn_error_;  // the first failure inside the open transaction
  std::map<std::string, std::unique_ptr<PgStmt>, std::less<>> cache_;
};

Result<bool> PgStmt::Step() {
  if (!result_) {
    if (!bind_error_.empty()) return InvalidArgument("postgres: " + bind_error_);
    KC_ASSIGN_OR_RETURN(result_,
                        conn_->Command([&] { return ExecuteOn(conn_->pg(), conn_->generation()); },
                                       "postgres step"));
    row_ = -1;
    const char* n = PQcmdTuples(result_.get());
    changes_ = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), changes_);
  }
  if (row_ < PQntuples(result_.get())) ++row_;
  return row_ < PQntuples(result_.get());
}

// What may be the password in conninfo: libpq's reading of it and, since
// libpq quotes a string it cannot parse in its message, a textual one (the
// userinfo of a URI after ':', up to the first or the last '@'; the value
// of password=).
std::vector<std::string> PasswordCandidates(const std::string& conninfo) {
  std::vector<std::string> out;
  char* err = nullptr;
  if (PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err)) {
    for (PQconninfoOption* o = opts; o->keyword; ++o)
      if (std::string_view(o->keyword) == "password" && o->val && *o->val) out.emplace_back(o->val);
    PQconninfoFree(opts);
  }
  if (err) PQfreemem(err);
  std::string_view s = conninfo;
  if (size_t scheme = s.find("://"); scheme != std::string_view::npos) {
    std::string_view rest = s.substr(scheme + 3);
    for (size_t at : {rest.find('@'), rest.rfind('@')}) {
      if (at == std::string_view::npos) continue;
      std::string_view userinfo = rest.substr(0, at);
      if (size_t colon = userinfo.find(':'); colon != std::string_view::npos)
        out.emplace_back(userinfo.substr(colon + 1));
    }
  }
  for (size_t k = s.find("password"); k != std::string_view::npos; k = s.find("password", k + 1)) {
    size_t v = k + 8;
    while (v < s.size() && (s[v] == ' ' || s[v] == '=')) ++v;
    if (v < s.size() && s[v] == '\'') {
      size_t e = s.find('\'', v + 1);
      out.emplace_back(
          s.substr(v + 1, e == std::string_view::npos ? std::string_view::npos : e - v - 1));
    } else {
      size_t e = v;
      while (e < s.size() && s[e] != '&' && !std::isspace(static_cast<unsigned char>(s[e]))) ++e;
      out.emplace_back(s.substr(v, e - v));
    }
  }
  return out;
}

// msg with every password candidate of conninfo replaced by "***".
std::string Redact(std::string msg, const std::string& conninfo) {
  for (const std::string& pw : PasswordCandidates(conninfo)) {
    if (pw.empty()) continue;
    for (size_t at = msg.find(pw); at != std::string::npos; at = msg.find(pw, at + 3))
      msg.replace(at, pw.size(), "***");
  }
  return msg;
}

// Connects with libpq's keyword arrays (the last, "dbname", expands
// conninfo and overrides the defaults before it); notices are dropped
// ("relation already exists, skipping" and such).
Result<PGconn*> Connect(const char* const* keys, const char* const* values,
                        const std::string& conninfo, const std::string& where) {
  PGconn* pg = PQconnectdbParams(keys, values, 1);
  if (!pg) return Unavailable("cannot connect to PostgreSQL (" + where + "): out of memory");
  if (PQstatus(pg) != CONNECTION_OK) {
    std::string msg = Redact(TrimMessage(PQerrorMessage(pg)), conninfo);
    PQfinish(pg);
    return Unavailable("cannot connect to PostgreSQL (" + where + "): " + msg);
  }
  PQsetNoticeProcessor(
      pg, [](void*, const char*) {}, nullptr);
  return pg;
}

}  // namespace

std::string NumberPlaceholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  size_t i = 0;
  auto copy_to = [&](size_t end) {
    end = std::min(end, sql.size());
    out.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < sql.size()) {
    const char c = sql[i];
    const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
    if (c == '\'' || c == '"') {
      // E'...' takes backslash escapes; elsewhere a doubled quote is one.
      bool escapes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                     (i < 2 || !IsWordChar(sql[i - 2]));
      size_t j = i + 1;
      while (j < sql.size()) {
        if (escapes && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            j += 2;
          } else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '-' && next == '-') {
      size_t end = sql.find('\n', i);
      copy_to(end == std::string_view::npos ? sql.size() : end);
    } else if (c == '/' && next == '*') {  // block comments nest in PostgreSQL
      size_t j = i;
      for (int depth = 0; j < sql.size();) {
        if (sql.substr(j, 2) == "/*") {
          ++depth;
          j += 2;
        } else if (sql.substr(j, 2) == "*/") {
          j += 2;
          if (--depth == 0) break;
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '$' && (i == 0 || !IsWordChar(sql[i - 1])) &&
               !std::isdigit(static_cast<unsigned char>(next))) {
      // $tag$ ... $tag$ (the tag may be empty); $1 is a parameter, not a quote.
      size_t j = i + 1;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_'))
        ++j;
      if (j < sql.size() && sql[j] == '$') {
        std::string_view tag = sql.substr(i, j - i + 1);
        size_t end = sql.find(tag, j + 1);
        copy_to(end == std::string_view::npos ? sql.size() : end + tag.size());
      } else {
        out += c;
        ++i;
      }
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  *count = n;
  return out;
}

bool IsPostgresConninfo(std::string_view db) {
  if (db.starts_with("postgres://") || db.starts_with("postgresql://")) return true;
  size_t k = 0;
  while (k < db.size() && std::isspace(static_cast<unsigned char>(db[k]))) ++k;
  const size_t word = k;
  while (k < db.size() && (std::islower(static_cast<unsigned char>(db[k])) || db[k] == '_')) ++k;
  if (k == word) return false;
  while (k < db.size() && std::isspace(static_cast<unsigned char>(db[k]))) ++k;
  return k < db.size() && db[k] == '=';
}

std::string DescribeConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return "an unparsable PostgreSQL connection string";
  std::string out;
  for (std::string_view key : {"host", "hostaddr", "port", "dbname", "user"}) {
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (key != o->keyword || !o->val || !*o->val) continue;
      if (!out.empty()) out += ' ';
      out += std::string(key) + "=" + o->val;
    }
  }
  PQconninfoFree(opts);
  return out.empty() ? "libpq defaults" : out;
}

Result<std::unique_ptr<Conn>> OpenPostgres(const std::string& conninfo) {
  std::string where = DescribeConninfo(conninfo);
  // Later entries win, so conninfo (expanded from "dbname") overrides these defaults.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "client_encoding", "dbname",
                        nullptr};
  const char* values[] = {"10", "keycast", "UTF8", conninfo.c_str(), nullptr};
  KC_ASSIGN_OR_RETURN(PGconn * pg, Connect(keys, values, conninfo, where));
  auto conn = std::make_unique<PgConn>(pg, where);
  KC_RETURN_IF_ERROR(conn->Setup());
  return std::unique_ptr<Conn>(std::move(conn));
}

namespace {

// LISTEN on a connection of its own. Keepalives find a peer that went away
// without closing (a host taken down) within about 15 s.
class PgListener final : public Listener {
 public:
  PgListener(PGconn* pg, std::string where) : pg_(pg), where_(std::move(where)) {}
  ~PgListener() override { PQfinish(pg_); }
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  Status Listen(const std::string& channel) {
    bool plain = !channel.empty() && channel.size() < 64;
    for (char c : channel) plain &= std::islower(static_cast<unsigned char>(c)) || c == '_';
    if (!plain) return InvalidArgument("channel '" + channel + "' is not a plain identifier");
    PgResult r(PQexec(pg_, ("LISTEN " + channel).c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return ResultError(pg_, r.get(), "LISTEN");
    return Status::Ok();
  }

  Status Wait(int timeout_ms, std::vector<std::string>* payloads) override {
    int fd = PQsocket(pg_);
    if (fd < 0 || PQstatus(pg_) != CONNECTION_OK) return Lost();
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, std::max(timeout_ms, 0));
    if (n < 0 && errno != EINTR)
      return Unavailable(std::string("poll on the LISTEN connection: ") + std::strerror(errno));
    if (n > 0 && !PQconsumeInput(pg_)) return Lost();
    while (PGnotify* note = PQnotifies(pg_)) {
      payloads->emplace_back(note->extra ? note->extra : "");
      PQfreemem(note);
    }
    if (PQstatus(pg_) != CONNECTION_OK) return Lost();
    return Status::Ok();
  }

  int BackendPid() const override { return PQbackendPID(pg_); }

 private:
  Status Lost() const {
    return Unavailable("lost the LISTEN connection to PostgreSQL (" + where_ +
                       "): " + TrimMessage(PQerrorMessage(pg_)));
  }
  PGconn* pg_;
  std::string where_;
};

}  // namespace

Result<std::unique_ptr<Listener>> ListenPostgres(const std::string& conninfo,
                                                 const std::string& channel) {
  std::string where = DescribeConninfo(conninfo);
  const char* keys[] = {
      "connect_timeout",     "fallback_application_name", "keepalives", "keepalives_idle",
      "keepalives_interval", "keepalives_count",          "dbname",     nullptr};
  const char* values[] = {"10", "keycast-listen", "1", "5", "2", "3", conninfo.c_str(), nullptr};
  KC_ASSIGN_OR_RETURN(PGconn * pg, Connect(keys, values, conninfo, where));
  auto listener = std::make_unique<PgListener>(pg, where);
  KC_RETURN_IF_ERROR(listener->Listen(channel));
  return std::unique_ptr<Listener>(std::move(listener));
}

}  // namespace keycast::sql
