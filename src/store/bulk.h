// Bulk loading: writing millions of rows through StoreTxn (benchmark
// directories, imports) in large transactions.
//
// While a BulkLoadScope lives, the SQLite store keeps up to `cache_bytes`
// of database pages in memory (instead of SQLite's default 2 MiB), so that
// inserts into the indexes of a large, growing database find their pages in
// memory rather than re-reading them from the file and the WAL for every
// row. Nothing else changes: transactions, foreign keys and durability
// (synchronous=FULL) are those of every other write. Other backends ignore
// the scope.
//
// Thread safety: the cache setting is the connection's, so it applies to
// every transaction of the store while the scope lives. One scope per store
// at a time.
#pragma once

#include <cstddef>

#include "keycast/store.h"

namespace keycast {

class BulkLoadScope {
 public:
  // REQUIRES: this thread has no transaction of `store` open (at the start
  // and at the end of the scope).
  BulkLoadScope(Store* store, size_t cache_bytes);
  ~BulkLoadScope();  // restores the previous cache size
  BulkLoadScope(const BulkLoadScope&) = delete;
  BulkLoadScope& operator=(const BulkLoadScope&) = delete;

 private:
  Store* store_ = nullptr;  // null when the backend ignores the scope
  int64_t previous_ = 0;    // PRAGMA cache_size before the scope
};

}  // namespace keycast
