#include "keycast/ticket_service.h"

#include "keycast/metrics.h"
#include "ticket/ticket_encoding.h"

namespace keycast {
namespace {

TicketEvent ToTicketEvent(const SummaryEvent& s) {
  const Event& e = *s.event;
  TicketEvent t;
  t.id = e.id;
  t.version = e.version;
  t.role = s.role;
  t.name = e.name;
  t.title = e.title;
  t.sender_name = s.sender_name;
  t.source_address = e.source_address;
  t.group_address = e.group_address;
  t.port = e.port;
  t.schedule = e.schedule;
  t.interval_seconds = e.interval_seconds;
  t.initial_keying_seconds = e.initial_keying_seconds;
  t.clear_intervals = e.clear_intervals;
  t.algorithm = e.algorithm;
  t.delivery = e.delivery;
  t.key_servers = e.key_servers;
  return t;
}

struct TicketMetrics {
  Counter& issued = Metrics::Global().GetCounter("keycast_tickets_issued_total", "Tickets issued.");
  Counter& refused = Metrics::Global().GetCounter("keycast_tickets_refused_total",
                                                  "Ticket requests refused after authentication.");
  Histogram& latency = Metrics::Global().GetHistogram(
      "keycast_ticket_issue_seconds", "Time to build, seal and sign a ticket.", LatencyBuckets());
  static TicketMetrics& Get() {
    static TicketMetrics m;
    return m;
  }
};

}  // namespace

TicketService::TicketService(const Directory* directory, const ServiceKeys* keys,
                             const Clock* clock, TicketServiceOptions options)
    : directory_(directory), keys_(keys), clock_(clock), options_(options) {}

namespace {

// The client's summary, refused when it does not fit in one ticket.
Result<Summary> TicketSummary(const Directory* directory, ClientId client) {
  auto summary = directory->Summarize(client);
  if (!summary.ok()) {
    if (summary.status().code() == Code::kNotFound)
      return FailedPrecondition("client no longer exists");
    return summary.status();
  }
  if (summary->events.size() > limits::kMaxEventsPerTicket)
    return ResourceExhausted("client '" + summary->client_name + "' is associated with " +
                             std::to_string(summary->events.size()) +
                             " events; a ticket holds at most " +
                             std::to_string(limits::kMaxEventsPerTicket));
  if (summary->groups.size() > limits::kMaxGroupsPerTicket)
    return ResourceExhausted("client is a member of too many groups for one ticket");
  return summary;
}

}  // namespace

Result<std::pair<Summary, std::vector<TicketEvent>>> TicketService::Build(ClientId client) const {
  KC_ASSIGN_OR_RETURN(Summary summary, TicketSummary(directory_, client));
  std::vector<TicketEvent> events;
  events.reserve(summary.events.size());
  for (const auto& s : summary.events) events.push_back(ToTicketEvent(s));
  return std::make_pair(std::move(summary), std::move(events));
}

Result<std::string> TicketService::CurrentGrantDigest(ClientId client) const {
  KC_ASSIGN_OR_RETURN(Summary summary, TicketSummary(directory_, client));
  return internal::GrantDigestOfEvents(summary.groups, summary.events);
}

// Encodes straight from the summary's shared, immutable events (no copy
// into TicketEvents): the same bytes as EncodeAndSignTicket would give.
Result<IssuedTicket> TicketService::Issue(const AuthenticatedClient& client) const {
  auto t0 = std::chrono::steady_clock::now();
  auto summary = TicketSummary(directory_, client.id);
  if (!summary.ok()) {
    TicketMetrics::Get().refused.Inc();
    return summary.status();
  }
  auto signer = keys_->ActiveSigner(kTicketSigningKey);
  auto sealing = keys_->ActiveSealingKey();
  if (!signer.key || !sealing.key) return Unavailable("ticket service keys are not loaded");

  Ticket t;
  t.signing_key = signer.version;
  t.sealing_key = sealing.version;
  crypto::RandomFill(t.id);
  t.client = client.id;
  t.client_name = std::move(summary->client_name);
  t.issued_at = clock_->NowSeconds();
  t.expires_at = t.issued_at + options_.lifetime_seconds;
  t.groups = std::move(summary->groups);
  const std::vector<SummaryEvent>& events = summary->events;

  CredentialContents cred;
  cred.ticket_id = t.id;
  cred.client = client.id;
  cred.issued_at = t.issued_at;
  cred.expires_at = t.expires_at;
  cred.session_key = crypto::RandomSecret(limits::kSessionKeySize);
  cred.events.reserve(events.size());
  for (const auto& e : events) cred.events.emplace_back(e.event->id, e.role);
  t.credential = SealCredential(cred, sealing.version, *sealing.key);

  IssuedTicket out;
  out.ticket = internal::EncodeAndSignTicketWithEvents(&t, events, *signer.key);
  out.session_key = std::move(cred.session_key);
  out.issued_at = t.issued_at;
  out.expires_at = t.expires_at;
  out.grant_digest = internal::GrantDigestOfEvents(t.groups, events);
  out.events = events.size();
  TicketMetrics::Get().issued.Inc();
  TicketMetrics::Get().latency.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

Result<std::optional<IssuedTicket>> TicketService::WaitForNewTicket(
    const AuthenticatedClient& client, const std::string& known_digest,
    std::chrono::steady_clock::time_point deadline) const {
  for (;;) {
    uint64_t gen = directory_->generation();
    KC_ASSIGN_OR_RETURN(std::string digest, CurrentGrantDigest(client.id));
    if (digest != known_digest) {
      KC_ASSIGN_OR_RETURN(IssuedTicket t, Issue(client));
      return std::optional<IssuedTicket>(std::move(t));
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<IssuedTicket>();
    directory_->WaitForChange(gen, deadline);
  }
}

}  // namespace keycast
