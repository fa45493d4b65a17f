// Logging: spdlog to stderr, plain text by default or one JSON object per
// line. Call SetupLogging once in main; use spdlog::info/warn/... elsewhere.
// Never pass secret material to a log call (SecretBytes has no formatter).
#pragma once

#include <string>

#include "keycast/status.h"

namespace keycast {

// level: trace, debug, info, warn, error, off. format: text or json.
Status SetupLogging(const std::string& level, const std::string& format);

// Escapes a string for inclusion in a JSON string literal.
std::string JsonEscape(const std::string& s);

}  // namespace keycast
