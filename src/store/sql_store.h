#pragma once

#include <memory>

#include "keycast/store.h"
#include "store/sql.h"

namespace keycast {

// A Store over any SQL connection (migrating it first).
Result<std::unique_ptr<Store>> OpenSqlStore(std::unique_ptr<sql::Conn> conn);

}  // namespace keycast
