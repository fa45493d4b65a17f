// The ticket service (seed 000 claims 1-6, seed 001 Figure 2): authenticates
// a client (done by the caller through Directory::Authenticate*), builds the
// summary of its events over the group DAG, and issues a signed ticket with
// a credential sealed for the key service. It re-issues when the client's
// events change (WaitForNewTicket, seed 001: "whenever associated events
// change").
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "keycast/clock.h"
#include "keycast/directory.h"
#include "keycast/limits.h"
#include "keycast/service_keys.h"
#include "keycast/ticket.h"

namespace keycast {

struct TicketServiceOptions {
  int64_t lifetime_seconds = limits::kDefaultTicketLifetimeSeconds;  // default 8 h
};

struct IssuedTicket {
  Bytes ticket;             // signed, as in docs/ticket-format.md
  SecretBytes session_key;  // for the client only; also inside the credential
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  std::string grant_digest;  // TicketGrantDigest of what it grants
  size_t events = 0;
};

class TicketService {
 public:
  TicketService(const Directory* directory, const ServiceKeys* keys, const Clock* clock,
                TicketServiceOptions options);

  // Fails with FailedPrecondition when the client is disabled or unknown,
  // ResourceExhausted when it has more events than a ticket may hold.
  Result<IssuedTicket> Issue(const AuthenticatedClient& client) const;

  // The digest a ticket issued now would carry.
  Result<std::string> CurrentGrantDigest(ClientId client) const;

  // Waits until what the client is granted differs from known_digest, then
  // issues a ticket; returns nullopt at the deadline if nothing changed.
  Result<std::optional<IssuedTicket>> WaitForNewTicket(
      const AuthenticatedClient& client, const std::string& known_digest,
      std::chrono::steady_clock::time_point deadline) const;

 private:
  Result<std::pair<Summary, std::vector<TicketEvent>>> Build(ClientId client) const;

  const Directory* directory_;
  const ServiceKeys* keys_;
  const Clock* clock_;
  TicketServiceOptions options_;
};

}  // namespace keycast
