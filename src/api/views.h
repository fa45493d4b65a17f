// JSON renderings of directory objects, shared by the API and the CLI's
// --json output (docs/api.md describes each).
#pragma once

#include <nlohmann/json.hpp>

#include "keycast/directory.h"
#include "keycast/ticket.h"

namespace keycast::api {

nlohmann::json ClientJson(const ClientView& c);
nlohmann::json GroupJson(const GroupView& g);
nlohmann::json EventJson(const EventView& e);
nlohmann::json ScheduleJson(const Schedule& s);
// A verified ticket, for `keycast client events --json`.
nlohmann::json TicketJson(const Ticket& t);

}  // namespace keycast::api
