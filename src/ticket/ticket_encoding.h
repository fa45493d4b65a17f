// The ticket service's fast path to the formats of docs/ticket-format.md:
// encoding straight from a directory summary, without first copying every
// event into a TicketEvent. The bytes are exactly those of the public
// functions in keycast/ticket.h for the same ticket (ticket_test checks).
#pragma once

#include <string>
#include <vector>

#include "keycast/directory.h"
#include "keycast/ticket.h"

namespace keycast::internal {

// EncodeAndSignTicket of *t with the summary's events as its event list.
// REQUIRES: t->events is empty; the summary is within the ticket bounds.
Bytes EncodeAndSignTicketWithEvents(Ticket* t, const std::vector<SummaryEvent>& events,
                                    const crypto::SigningKey& key);

// TicketGrantDigest of the same groups and events.
std::string GrantDigestOfEvents(const std::vector<GroupId>& groups,
                                const std::vector<SummaryEvent>& events);

}  // namespace keycast::internal
