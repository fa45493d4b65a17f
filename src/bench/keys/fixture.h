// The world a key-service benchmark needs (docs/bench-keys.md): a data folder
// that `keycast server` can serve (KEK file, SQLite store) with clients,
// groups, live events, memberships and API keys, and the tickets of the
// simulated clients.
#pragma once

#include <string>
#include <vector>

#include "keycast/client.h"
#include "keycast/key_protocol.h"
#include "keycast/schedule.h"
#include "keycast/status.h"
#include "keycast/ticket.h"
#include "keycast/types.h"

namespace keycast::bench {

struct FixtureOptions {
  std::string data_dir;  // created when missing; must hold no store yet
  size_t clients = 2000;
  size_t tickets_per_client = 2;              // each ticket has its own session key
  size_t events = 4;                          // every client receives every event
  uint32_t interval_seconds = 60;             // key interval of the events
  std::string key_server = "127.0.0.1:7400";  // the endpoint the events name
  int64_t ticket_lifetime_seconds = 3600;
};

// One simulated client's ticket: what an agent holds after logging in.
struct SimTicket {
  ClientId client;
  TicketId id{};
  Bytes credential;
  keyproto::SessionKeys keys;
  std::vector<EventId> events;  // from the ticket
};

struct FixtureEvent {
  EventId id;
  Schedule schedule;
  uint32_t interval_seconds = 0;
};

struct Fixture {
  std::vector<SimTicket> tickets;
  std::vector<FixtureEvent> events;
  std::vector<std::string> api_keys;  // one per client, kca_...
  double directory_seconds = 0;       // writing the directory
  double ticket_seconds = 0;          // issuing the tickets
};

// Writes the directory: groups in three levels (root, 4 regions, 16 teams)
// and the events, assigned to the root, through the Directory API (each
// change validated, durable and audited, as the admin API makes it), so every
// authorisation walks the DAG; then the clients, as receivers of one team
// each, with an API key per client, as rows through the Store in one audited
// transaction (thousands of fsync'd commits would take minutes). The events
// started five minutes ago and last a day. Then reloads the directory,
// authenticates each API key and issues tickets with TicketService on the
// same store, as POST /v1/tickets does. Closes the store before returning,
// so a server can open the folder.
Result<Fixture> CreateFixture(const FixtureOptions& o);

// The simulated form of a ticket obtained over HTTP.
SimTicket FromSession(const ClientSession& s);

}  // namespace keycast::bench
