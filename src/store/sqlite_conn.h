#pragma once

#include <memory>
#include <string>

#include "store/sql.h"

namespace keycast::sql {

// Opens (creating if needed) an SQLite database with Keycast's pragmas.
Result<std::unique_ptr<Conn>> OpenSqlite(const std::string& path);

}  // namespace keycast::sql
