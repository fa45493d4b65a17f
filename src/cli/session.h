// The client's session file (like a Kerberos credential cache): the ticket
// and its session key kept between commands, written by `keycast client
// login` and read by `client events`, `client join` and `agent`.
// $KEYCAST_SESSION or ~/.keycast/session.json, mode 0600, written atomically.
#pragma once

#include <string>

#include "keycast/client.h"

namespace keycast::cli {

std::string DefaultSessionPath();

// Writes {"addr", "ticket", "session_key", "grant_digest", "expires_at"}.
Status SaveSession(const std::string& path, const std::string& addr, const ClientSession& s);

// Reads a session file and verifies its ticket against the ticket service's
// published keys (at *addr, taken from the file); also fetches the rekey
// verification keys for push mode when the service publishes them.
Result<ClientSession> LoadSessionFile(const std::string& path, const std::string& ca_file,
                                      std::string* addr);

}  // namespace keycast::cli
