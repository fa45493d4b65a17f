// The split-roles scenario shared by split_roles_test (one SQLite file) and
// split_roles_pg_test (PostgreSQL): the key service in a process of its own
// follows revocations made through the admin API of a directory/ticket
// process (DESIGN property 4).
#pragma once

#include <string>
#include <vector>

namespace keycast::testing {

// What the run showed, for checks after it.
struct SplitRolesRun {
  std::string store;        // the front's /v1/health "store", e.g. "sqlite schema v5"
  std::string front, keys;  // what the two servers wrote on stderr
};

// Runs `keycast init` with init_flags, then `keycast server --roles
// directory,ticket` with front_flags and `keycast server --roles key
// --refresh-ms 200` with key_flags (their listen addresses are added here).
// Through the first it creates a client, a group and a live event; the
// client gets a key from the second; the membership is revoked through the
// first, and the second must refuse the client within a few refresh
// periods. Reports failures with gtest assertions; fills *run either way.
void ExpectKeyServiceFollowsRevocations(const std::string& dir,
                                        const std::vector<std::string>& init_flags,
                                        const std::vector<std::string>& front_flags,
                                        const std::vector<std::string>& key_flags,
                                        SplitRolesRun* run);

}  // namespace keycast::testing
