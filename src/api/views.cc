#include "api/views.h"

namespace keycast::api {

using json = nlohmann::json;

json ClientJson(const ClientView& v) {
  json groups = json::array();
  for (auto& [g, role] : v.groups) groups.push_back({{"group", g}, {"role", RoleName(role)}});
  return {{"name", v.client.name},
          {"description", v.client.description},
          {"enabled", v.client.enabled},
          {"password_set", !v.client.password_hash.empty()},
          {"groups", groups},
          {"created_at", FormatRfc3339(v.client.created_at)},
          {"updated_at", FormatRfc3339(v.client.updated_at)}};
}

json GroupJson(const GroupView& v) {
  return {{"name", v.group.name},
          {"description", v.group.description},
          {"parents", v.parents},
          {"children", v.children},
          {"events", v.events},
          {"members", v.members},
          {"created_at", FormatRfc3339(v.group.created_at)},
          {"updated_at", FormatRfc3339(v.group.updated_at)}};
}

json ScheduleJson(const Schedule& s) {
  return {{"start", FormatRfc3339(s.start)},
          {"duration", FormatDuration(s.duration)},
          {"rrule", s.rule ? s.rule->ToString() : ""}};
}

static json Endpoints(const std::vector<Endpoint>& eps) {
  json a = json::array();
  for (auto& e : eps) a.push_back(e.ToString());
  return a;
}

json EventJson(const EventView& v) {
  const Event& e = *v.event;
  return {{"name", e.name},
          {"title", e.title},
          {"sender", v.sender_name},
          {"group_address", e.group_address.ToString()},
          {"port", e.port},
          {"source_address", e.source_address.empty() ? "" : e.source_address.ToString()},
          {"schedule", ScheduleJson(e.schedule)},
          {"interval_seconds", e.interval_seconds},
          {"initial_keying_seconds", e.initial_keying_seconds},
          {"clear_intervals", e.clear_intervals},
          {"key_servers", Endpoints(e.key_servers)},
          {"algorithm", std::string(crypto::AeadName(e.algorithm))},
          {"delivery", std::string(KeyDeliveryName(e.delivery))},
          {"source_auth", e.source_auth},
          {"groups", v.groups},
          {"version", e.version},
          {"created_at", FormatRfc3339(e.created_at)},
          {"updated_at", FormatRfc3339(e.updated_at)}};
}

json TicketJson(const Ticket& t) {
  json events = json::array();
  for (const auto& e : t.events) {
    events.push_back(
        {{"name", e.name},
         {"id", e.id.value},
         {"title", e.title},
         {"role", RoleName(e.role)},
         {"sender", e.sender_name},
         {"source_address", e.source_address.empty() ? "" : e.source_address.ToString()},
         {"group_address", e.group_address.ToString()},
         {"port", e.port},
         {"schedule", ScheduleJson(e.schedule)},
         {"interval_seconds", e.interval_seconds},
         {"initial_keying_seconds", e.initial_keying_seconds},
         {"clear_intervals", e.clear_intervals},
         {"algorithm", std::string(crypto::AeadName(e.algorithm))},
         {"delivery", std::string(KeyDeliveryName(e.delivery))},
         {"key_servers", Endpoints(e.key_servers)},
         {"version", e.version}});
  }
  json groups = json::array();
  for (GroupId g : t.groups) groups.push_back(g.value);
  return {{"client", t.client_name},
          {"client_id", t.client.value},
          {"ticket_id", ToHex(ByteView(t.id.data(), t.id.size()))},
          {"issued_at", FormatRfc3339(t.issued_at)},
          {"expires_at", FormatRfc3339(t.expires_at)},
          {"signing_key_version", t.signing_key.value},
          {"sealing_key_version", t.sealing_key.value},
          {"groups", groups},
          {"events", events}};
}

}  // namespace keycast::api
