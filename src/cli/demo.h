#pragma once

#include <string>
#include <vector>

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

}  // namespace keycast::cli
