// keycast backup | restore: an online copy of the embedded SQLite store
// through SQLite's backup API (sqlite3_backup_*), which copies a consistent
// snapshot page by page while the server keeps running and writing.
//
// The KEK is not in the copy: every secret in the store is sealed under it,
// so a backup is useless without it and harmless alone. Keep the KEK file
// (<data-dir>/kek or --kek-file) in a separate, safer place; restore puts
// the database back, and the node needs the same KEK to open it.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"

namespace keycast::cli {
namespace {

// Copies database `from` into `to` (created or overwritten) with the backup
// API, 256 pages a step, retrying while the source is busy.
Status Copy(const std::string& from, const std::string& to, bool from_must_exist) {
  if (from_must_exist && ::access(from.c_str(), R_OK) != 0)
    return NotFound("no SQLite store at " + from);
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto close = [&] {
    if (src) sqlite3_close(src);
    if (dst) sqlite3_close(dst);
  };
  if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string m = src ? sqlite3_errmsg(src) : "out of memory";
    close();
    return Unavailable("cannot open " + from + ": " + m);
  }
  mode_t old = ::umask(077);  // the copy holds sealed secrets: owner only
  int rc = sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ::umask(old);
  if (rc != SQLITE_OK) {
    std::string m = dst ? sqlite3_errmsg(dst) : "out of memory";
    close();
    return Unavailable("cannot create " + to + ": " + m);
  }
  sqlite3_busy_timeout(src, 5000);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) {
    std::string m = sqlite3_errmsg(dst);
    close();
    return Unavailable("backup of " + from + " failed: " + m);
  }
  do {
    rc = sqlite3_backup_step(b, 256);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  std::string m = sqlite3_errmsg(dst);
  close();
  if (rc != SQLITE_DONE) return Unavailable("backup of " + from + " failed: " + m);
  return Status::Ok();
}

}  // namespace

static void RegisterBackupCommands(CLI::App& app) {
  static std::string data_dir = "keycast-data", database, out, from;
  static bool force = false;

  auto* backup = app.add_subcommand(
      "backup", "Copy the SQLite store while the server runs (the KEK is not included)");
  backup->add_option("--data-dir", data_dir, "Folder of the store")
      ->envname("KEYCAST_DATA_DIR")
      ->capture_default_str();
  backup->add_option("--database", database, "SQLite file (default: <data-dir>/keycast.db)");
  backup->add_option("--out", out, "File to write the copy to")->required();
  backup->footer(
      "The copy holds every secret sealed under the KEK, not the KEK: back the KEK file up "
      "separately. A PostgreSQL store is backed up with pg_dump.");
  backup->callback([] {
    std::string db = database.empty() ? data_dir + "/keycast.db" : database;
    if (db.rfind("postgres", 0) == 0 || db.find('=') != std::string::npos)
      throw Exit{Fail(InvalidArgument("backup copies a SQLite store; use pg_dump for PostgreSQL"))};
    Status st = Copy(db, out, true);
    if (!st.ok()) throw Exit{Fail(st)};
    std::printf("backed up %s to %s (the KEK is not in it)\n", db.c_str(), out.c_str());
  });

  auto* restore = app.add_subcommand(
      "restore", "Put a `keycast backup` copy back as the store (with the server stopped)");
  restore->add_option("--data-dir", data_dir, "Folder of the store")
      ->envname("KEYCAST_DATA_DIR")
      ->capture_default_str();
  restore->add_option("--database", database, "SQLite file (default: <data-dir>/keycast.db)");
  restore->add_option("--from", from, "The backup file")->required();
  restore->add_flag("--force", force, "Overwrite an existing store");
  restore->footer(
      "The node opens the restored store only with the KEK it was sealed under: put the "
      "KEK file back too (<data-dir>/kek, or --kek-file / KEYCAST_KEK).");
  restore->callback([] {
    std::string db = database.empty() ? data_dir + "/keycast.db" : database;
    if (::access(db.c_str(), F_OK) == 0 && !force)
      throw Exit{
          Fail(AlreadyExists(db + " exists; stop the server and pass --force to replace it"))};
    ::mkdir(data_dir.c_str(), 0700);
    Status st = Copy(from, db, true);
    if (!st.ok()) throw Exit{Fail(st)};
    std::printf("restored %s from %s\n", db.c_str(), from.c_str());
  });
}

static CommandRegistrar registrar(15, &RegisterBackupCommands);

}  // namespace keycast::cli
