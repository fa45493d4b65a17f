// The daemon's status: JSON for /status and `keycast agent status`, and
// Prometheus text for /metrics (keycast_dataplane_* as in
// keycast/dataplane/counters.h, plus keycast_agent_* per event).
#include <nlohmann/json.hpp>

#include "keycast/agent/daemon.h"
#include "keycast/schedule.h"

namespace keycast::agent {

namespace {

using json = nlohmann::json;
using dataplane::DropReason;
using dataplane::Outcome;

json SlotJson(const std::optional<dataplane::SaInfo>& s) {
  if (!s) return nullptr;
  char spi[16];
  std::snprintf(spi, sizeof spi, "0x%08x", s->spi.value);
  json j = {
      {"epoch", std::to_string(s->epoch.occurrence) + "." + std::to_string(s->epoch.index)},
      {"clear", s->clear},
      {"spi", s->clear ? json(nullptr) : json(spi)},
      {"algorithm", std::string(crypto::AeadName(s->algorithm))},
      {"role", std::string(RoleName(s->role))},
      {"from", FormatRfc3339(s->initiation / kMicrosPerSecond)},
      {"until", FormatRfc3339((s->initiation + s->lifetime) / kMicrosPerSecond)},
      {"expires", FormatRfc3339((s->initiation + s->lifetime + s->grace) / kMicrosPerSecond)}};
  if (s->role == Role::kSender) {
    j["sender"] = s->sender.value;
    j["next_seq"] = s->next_seq;
  }
  return j;
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string StatusJson(const DaemonStatus& s) {
  json events = json::array();
  for (const EventStatus& e : s.events) {
    json j = {{"name", e.name},
              {"kind", std::string(BindingKindName(e.kind))},
              {"state", e.state},
              {"reason", e.reason},
              {"local", e.local}};
    if (!e.group.empty()) {
      j["role"] = std::string(RoleName(e.role));
      j["group"] = e.group.ToString();
      j["port"] = e.port;
      j["wire_port"] = e.wire_port;
      j["source"] = e.source.empty() ? json(nullptr) : json(e.source.ToString());
      j["keys"] = {{"previous", SlotJson(e.slots.previous)},
                   {"current", SlotJson(e.slots.current)},
                   {"next", SlotJson(e.slots.next)}};
      j["key_requests"] = {{"requests", e.keys.requests}, {"keys", e.keys.keys},
                           {"refusals", e.keys.refusals}, {"failures", e.keys.failures},
                           {"wakeups", e.keys.wakeups},   {"pushed", e.keys.pushed}};
      j["datagrams"] = {{"received", e.counters.received},
                        {"sent", e.counters.sent},
                        {"delivered", e.counters.delivered},
                        {"inner_rejected", e.counters.inner_rejected},
                        {"io_errors", e.counters.io_errors}};
    }
    events.push_back(std::move(j));
  }
  json outcomes = json::object(), drops = json::object();
  for (size_t i = 0; i < dataplane::kOutcomeCount; ++i)
    outcomes[std::string(dataplane::OutcomeName(Outcome(i)))] = s.data_plane.outcomes[i];
  for (size_t i = 0; i < dataplane::kDropReasonCount; ++i)
    drops[std::string(dataplane::DropReasonName(DropReason(i)))] = s.data_plane.drops[i];
  json j = {{"mode", std::string(ModeName(s.mode))},
            {"client", s.client},
            {"ticket_expires", FormatRfc3339(s.ticket_expires_at)},
            {"events", events},
            {"data_plane",
             {{"packets", outcomes},
              {"dropped", drops},
              {"dropped_total", s.data_plane.total_dropped()}}}};
  if (s.mode == Mode::kTransparent)
    j["tun"] = {{"ignored", s.tun_ignored}, {"bypassed", s.tun_bypassed}};
  return j.dump(2) + "\n";
}

std::string StatusPrometheus(const DaemonStatus& s) {
  std::string o;
  o +=
      "# HELP keycast_dataplane_packets_total Datagrams the data plane did not drop, by outcome.\n";
  o += "# TYPE keycast_dataplane_packets_total counter\n";
  for (size_t i = 0; i < dataplane::kOutcomeCount; ++i)
    o += "keycast_dataplane_packets_total{outcome=\"" +
         std::string(dataplane::OutcomeName(Outcome(i))) + "\"} " +
         std::to_string(s.data_plane.outcomes[i]) + "\n";
  o += "# HELP keycast_dataplane_dropped_total Datagrams dropped by the data plane, by reason.\n";
  o += "# TYPE keycast_dataplane_dropped_total counter\n";
  for (size_t i = 0; i < dataplane::kDropReasonCount; ++i)
    o += "keycast_dataplane_dropped_total{reason=\"" +
         std::string(dataplane::DropReasonName(DropReason(i))) + "\"} " +
         std::to_string(s.data_plane.drops[i]) + "\n";
  o += "# HELP keycast_agent_datagrams_total Datagrams the agent moved, per event and stage.\n";
  o += "# TYPE keycast_agent_datagrams_total counter\n";
  for (const EventStatus& e : s.events) {
    const std::string ev =
        "event=\"" + Label(e.name) + "\",kind=\"" + std::string(BindingKindName(e.kind)) + "\"";
    auto line = [&](const char* stage, uint64_t v) {
      o += "keycast_agent_datagrams_total{" + ev + ",stage=\"" + stage + "\"} " +
           std::to_string(v) + "\n";
    };
    line("received", e.counters.received);
    line("sent", e.counters.sent);
    line("delivered", e.counters.delivered);
    line("inner_rejected", e.counters.inner_rejected);
    line("io_error", e.counters.io_errors);
  }
  o += "# HELP keycast_agent_event_up 1 while the event runs (keys fetched on schedule), 0 waiting "
       "or revoked.\n";
  o += "# TYPE keycast_agent_event_up gauge\n";
  for (const EventStatus& e : s.events)
    o += "keycast_agent_event_up{event=\"" + Label(e.name) + "\"} " +
         (e.state == "running" ? "1" : "0") + "\n";
  if (s.mode == Mode::kTransparent) {
    o += "# HELP keycast_agent_tun_packets_total Packets from the TUN that matched no event.\n";
    o += "# TYPE keycast_agent_tun_packets_total counter\n";
    o += "keycast_agent_tun_packets_total{outcome=\"ignored\"} " + std::to_string(s.tun_ignored) +
         "\n";
    o += "keycast_agent_tun_packets_total{outcome=\"bypassed\"} " + std::to_string(s.tun_bypassed) +
         "\n";
  }
  return o;
}

}  // namespace keycast::agent
