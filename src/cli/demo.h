#pragma once

#include <string>
#include <vector>

#include "keycast/api_server.h"
#include "keycast/directory.h"

namespace keycast::cli {

struct DemoInfo {
  bool created = false;
  std::vector<std::string> lines;  // what to tell the user
};

// Creates the demo directory of `keycast dev` unless it exists: a small
// company whose groups form a DAG, clients with passwords and an API key,
// and events starting soon, recurring, and always on.
Result<DemoInfo> EnsureDemoDirectory(Directory& dir, const std::string& key_endpoint);

// The demo transmission of the reservation platform, unless it exists: the
// demo sender `studio` (made a member of `senders_group`) files, through
// the node's own reservation API, a daily reservation that any receiver can
// buy with the test card. Adds what to tell the user to `info`.
Status EnsureDemoReservation(Directory& dir, const ApiServer& api, const std::string& senders_group,
                             DemoInfo* info);

}  // namespace keycast::cli
