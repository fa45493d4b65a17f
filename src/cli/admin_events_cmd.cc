// keycast admin event ...: scheduled, possibly recurring streams and their
// keying. Part of `keycast admin` (admin_cmd.cc registers it).
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_common.h"
#include "cli/admin_output.h"

namespace keycast::cli::admin {
namespace {

struct EventOpts {
  std::string name, rename, title, group_address, port, start, duration, rrule, interval,
      initial_keying, clear_intervals, sender, source_address, algorithm, delivery, source_auth,
      after, limit;
  std::vector<std::string> key_servers, assign;
  std::map<std::string, CLI::Option*> opts;

  bool Given(const std::string& flag) const {
    auto it = opts.find(flag);
    return it != opts.end() && it->second->count() > 0;
  }

  void Add(CLI::App* cmd, bool create) {
    const char* req = create ? " (required)" : "";
    auto add = [&](const std::string& flag, std::string& v, const std::string& help) {
      opts[flag] = cmd->add_option(flag, v, help);
    };
    cmd->add_option("name", name, "Event name")->required();
    if (!create) add("--rename", rename, "New name");
    add("--title", title, std::string("Title members see") + req);
    add("--group-address", group_address,
        std::string("Multicast group address, IPv4 or IPv6") + req);
    add("--port", port, std::string("UDP port of the stream, 1-65535") + req);
    add("--start", start,
        std::string("First start: RFC 3339 (2030-01-01T10:00:00Z) or Unix seconds") + req);
    add("--duration", duration,
        std::string("Length of each occurrence: ISO 8601 (PT1H) or seconds") + req);
    add("--rrule", rrule,
        "Recurrence, RFC 5545 (FREQ=WEEKLY;BYDAY=MO,WE); \"\" for a single occurrence");
    add("--interval", interval,
        "Key interval, the forward-security window: seconds or ISO 8601 (default 60)");
    add("--initial-keying", initial_keying,
        "Period before each start in which members fetch their first key: seconds or ISO 8601 "
        "(default 300)");
    add("--clear-intervals", clear_intervals,
        "Unencrypted intervals at the start of each occurrence (default 0)");
    opts["--key-server"] = cmd->add_option("--key-server", key_servers,
                                           "Key server host:port, repeatable for fail-over "
                                           "(default: the server's own key service)")
                               ->allow_extra_args(false);
    add("--sender", sender, "The client that sends the stream");
    add("--source-address", source_address, "Source address of the stream (SSM); \"\" for any");
    add("--algorithm", algorithm, "aes-256-gcm (default) or chacha20-poly1305");
    add("--delivery", delivery, "Key delivery: pull (default), push or both");
    add("--source-auth", source_auth,
        "on: every sender signs its packets, so no member can forge another's "
        "(pull delivery only); off (default)");
    opts["--assign"] =
        cmd->add_option("--assign", assign, "Also assign the event to this group (repeatable)")
            ->allow_extra_args(false);
  }

  // The create or patch body. A patch that changes part of the schedule
  // sends it whole, completed from `current` (the event as it is).
  Result<json> Body(bool create, const json& current) const {
    json b = json::object();
    if (create) {
      std::string missing;
      for (const char* f : {"--title", "--group-address", "--port", "--start", "--duration"})
        if (!Given(f)) missing += (missing.empty() ? "" : ", ") + std::string(f);
      if (!missing.empty()) return InvalidArgument("event create needs " + missing);
      b["name"] = name;
    }
    if (Given("--rename")) b["name"] = rename;
    if (Given("--title")) b["title"] = title;
    if (Given("--group-address")) b["group_address"] = group_address;
    if (Given("--port")) {
      KC_ASSIGN_OR_RETURN(int64_t p, Integer("--port", port));
      b["port"] = p;
    }
    if (Given("--start") || Given("--duration") || Given("--rrule")) {
      json s = json::object();
      if (current.is_object() && current.contains("schedule")) {
        const json& cs = current["schedule"];
        s = {{"start", cs.value("start", "")}, {"duration", cs.value("duration", "")}};
        if (!cs.value("rrule", "").empty()) s["rrule"] = cs["rrule"];
      }
      if (Given("--start")) s["start"] = NumberOrString(start);
      if (Given("--duration")) s["duration"] = NumberOrString(duration);
      if (Given("--rrule")) s["rrule"] = rrule;
      b["schedule"] = s;
    }
    if (Given("--interval")) {
      KC_ASSIGN_OR_RETURN(int64_t v, Seconds("--interval", interval));
      b["interval_seconds"] = v;
    }
    if (Given("--initial-keying")) {
      KC_ASSIGN_OR_RETURN(int64_t v, Seconds("--initial-keying", initial_keying));
      b["initial_keying_seconds"] = v;
    }
    if (Given("--clear-intervals")) {
      KC_ASSIGN_OR_RETURN(int64_t v, Integer("--clear-intervals", clear_intervals));
      b["clear_intervals"] = v;
    }
    if (Given("--key-server")) b["key_servers"] = key_servers;
    if (Given("--sender")) b["sender"] = sender;
    if (Given("--source-address")) b["source_address"] = source_address;
    if (Given("--algorithm")) b["algorithm"] = algorithm;
    if (Given("--delivery")) b["delivery"] = delivery;
    if (Given("--source-auth")) {
      if (source_auth == "on" || source_auth == "true")
        b["source_auth"] = true;
      else if (source_auth == "off" || source_auth == "false")
        b["source_auth"] = false;
      else
        return InvalidArgument("--source-auth takes on or off, not '" + source_auth + "'");
    }
    return b;
  }

  // Gather -> check: every group of --assign must exist before anything is
  // written.
  Status CheckAssignGroups(AdminClient& c) const {
    for (const auto& g : assign) KC_RETURN_IF_ERROR(c.Get("/v1/groups/" + Seg(g)).status());
    return Status::Ok();
  }

  // Issue the assignments. When `saved`, this command has written the event
  // already, so a failure says so and how to finish.
  Status Assign(AdminClient& c, const std::string& event, bool saved) const {
    for (const auto& g : assign) {
      auto r = c.Post("/v1/assignments", {{"event", event}, {"group", g}});
      if (!r.ok() && !saved) return r.status();
      if (!r.ok())
        return Status(r.status().code(),
                      r.status().message() + " (event " + event +
                          " was saved; assign it with `keycast admin assign add " + event + " " +
                          g + "`)");
      if (!Globals().json)
        std::printf("Assigned event %s to group %s.\n", event.c_str(), g.c_str());
    }
    return Status::Ok();
  }
};

std::string Address(const json& e) {
  std::string a = F(e, "group_address");
  if (a.find(':') != std::string::npos) a = "[" + a + "]";
  return a + ":" + F(e, "port");
}

void PrintEvent(const json& e) {
  const json s = e.value("schedule", json::object());
  PrintFields({{"Name", F(e, "name")},
               {"Title", F(e, "title")},
               {"Sender", F(e, "sender")},
               {"Group address", Address(e)},
               {"Source address", F(e, "source_address")},
               {"Start", F(s, "start")},
               {"Duration", F(s, "duration")},
               {"Repeats", F(s, "rrule")},
               {"Key interval", F(e, "interval_seconds") + " s"},
               {"Initial keying", F(e, "initial_keying_seconds") + " s"},
               {"Clear intervals", F(e, "clear_intervals")},
               {"Key servers", F(e, "key_servers")},
               {"Algorithm", F(e, "algorithm")},
               {"Delivery", F(e, "delivery")},
               {"Source auth", e.value("source_auth", false) ? "on" : "off"},
               {"Groups", F(e, "groups")},
               {"Version", F(e, "version")},
               {"Created", F(e, "created_at")},
               {"Updated", F(e, "updated_at")}});
}

}  // namespace

void AddEventCommands(CLI::App* admin) {
  auto* event = admin->add_subcommand(
      "event", "Events: scheduled streams and their keying; create, list, update, rekey");
  event->require_subcommand(1);

  auto co = std::make_shared<EventOpts>();
  auto* create =
      event->add_subcommand("create", "Create an event (a scheduled, possibly recurring stream)");
  co->Add(create, true);
  create->callback([co] {
    Run([co](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json body, co->Body(true, json()));
      KC_RETURN_IF_ERROR(co->CheckAssignGroups(c));
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/events", body));
      if (!Globals().json) std::printf("Created event %s.\n", co->name.c_str());
      KC_RETURN_IF_ERROR(co->Assign(c, co->name, /*saved=*/true));
      if (Globals().json) {
        if (!co->assign.empty()) {
          KC_ASSIGN_OR_RETURN(r, c.Get("/v1/events/" + Seg(co->name)));
        }
        std::printf("%s\n", r.dump(2).c_str());
      }
      return Status::Ok();
    });
  });

  auto o = std::make_shared<EventOpts>();
  auto* list = event->add_subcommand("list", "List events, by name");
  list->add_option("--after", o->after, "Start after this name (the previous page's last)");
  list->add_option("--limit", o->limit, "At most this many, 1-1000 (default 100)");
  list->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Get("/v1/events" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"NAME", "ADDRESS", "START", "DURATION", "REPEATS", "GROUPS", "TITLE"});
        for (const auto& e : r["events"]) {
          const json s = e.value("schedule", json::object());
          t.Row({F(e, "name"), Address(e), F(s, "start"), F(s, "duration"), F(s, "rrule"),
                 F(e, "groups"), Truncate(F(e, "title"), 40)});
        }
        t.Print("No events.");
        NextPageHint(r, "event list");
      });
      return Status::Ok();
    });
  });

  auto* show = event->add_subcommand("show", "Show an event: address, schedule, keying, groups");
  show->add_option("name", o->name, "Event name")->required();
  show->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/events/" + Seg(o->name)));
      Show(r, [&] { PrintEvent(r); });
      return Status::Ok();
    });
  });

  auto uo = std::make_shared<EventOpts>();
  auto* update = event->add_subcommand("update", "Modify an event; members get fresh tickets");
  uo->Add(update, false);
  update->callback([uo] {
    Run([uo](AdminClient& c) -> Status {
      json current;
      if (uo->Given("--start") || uo->Given("--duration") || uo->Given("--rrule")) {
        KC_ASSIGN_OR_RETURN(current, c.Get("/v1/events/" + Seg(uo->name)));
      }
      KC_ASSIGN_OR_RETURN(json body, uo->Body(false, current));
      if (body.empty() && uo->assign.empty())
        return InvalidArgument("nothing to change: see `keycast admin event update --help`");
      KC_RETURN_IF_ERROR(uo->CheckAssignGroups(c));
      std::string name = uo->Given("--rename") ? uo->rename : uo->name;
      json r;
      if (!body.empty()) {
        KC_ASSIGN_OR_RETURN(r, c.Patch("/v1/events/" + Seg(uo->name), body));
        if (!Globals().json) std::printf("Updated event %s.\n", name.c_str());
      }
      KC_RETURN_IF_ERROR(uo->Assign(c, name, /*saved=*/!body.empty()));
      if (Globals().json) {
        if (!uo->assign.empty()) {
          KC_ASSIGN_OR_RETURN(r, c.Get("/v1/events/" + Seg(name)));
        }
        std::printf("%s\n", r.dump(2).c_str());
      }
      return Status::Ok();
    });
  });

  auto* del = event->add_subcommand(
      "delete", "Delete an event: key delivery stops from the next interval on");
  del->add_option("name", o->name, "Event name")->required();
  del->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/events/" + Seg(o->name)));
      Done(r, "Deleted event " + o->name + ".");
      return Status::Ok();
    });
  });

  auto* rekey = event->add_subcommand(
      "rekey",
      "Start a new key generation: new keys for the authorised members only, agents woken to "
      "fetch them");
  rekey->add_option("name", o->name, "Event name")->required();
  rekey->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/events/" + Seg(o->name) + "/rekey", json::object()));
      Done(r, "Rekey of event " + o->name + ": generation " + F(r, "generation") + ", " +
                  F(r, "members") + " member(s), " + F(r, "wakeups_sent") + " wake-up(s) sent.");
      return Status::Ok();
    });
  });

  auto* rotate = event->add_subcommand("rotate-secret",
                                       "Replace the event secret after a compromise, and rekey");
  rotate->add_option("name", o->name, "Event name")->required();
  rotate->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Post("/v1/events/" + Seg(o->name) + "/rotate-secret", json::object()));
      Done(r, "New secret for event " + o->name + ": secret version " + F(r, "secret_version") +
                  ", generation " + F(r, "generation") + ", " + F(r, "wakeups_sent") +
                  " wake-up(s) sent.");
      return Status::Ok();
    });
  });
}

}  // namespace keycast::cli::admin
