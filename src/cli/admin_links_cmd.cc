// keycast admin member ... | assign ...: memberships (client in group, as
// sender or receiver) and assignments (event to group). Part of
// `keycast admin` (admin_cmd.cc registers it).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_common.h"
#include "cli/admin_output.h"

namespace keycast::cli::admin {
namespace {

struct LinkOpts {
  std::string client, group, event, role = "receiver";
};

}  // namespace

void AddMemberCommands(CLI::App* admin) {
  auto* member = admin->add_subcommand(
      "member", "Memberships: which clients are in which groups, as sender or receiver");
  member->require_subcommand(1);
  auto o = std::make_shared<LinkOpts>();

  auto* add = member->add_subcommand("add", "Make a client a member of a group");
  add->add_option("client", o->client, "Client name")->required();
  add->add_option("group", o->group, "Group name")->required();
  add->add_option("--role", o->role, "sender or receiver")->capture_default_str();
  add->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = {{"client", o->client}, {"group", o->group}, {"role", o->role}};
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/memberships", body));
      Done(r, "Added " + o->client + " to group " + o->group + " as " + F(r, "role") + ".");
      return Status::Ok();
    });
  });

  auto* set_role = member->add_subcommand("set-role", "Change a member's role in a group");
  set_role->add_option("client", o->client, "Client name")->required();
  set_role->add_option("group", o->group, "Group name")->required();
  set_role->add_option("role", o->role, "sender or receiver")->required();
  set_role->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = {{"role", o->role}};
      KC_ASSIGN_OR_RETURN(json r,
                          c.Patch("/v1/memberships/" + Seg(o->client) + "/" + Seg(o->group), body));
      Done(r, o->client + " is now a " + F(r, "role") + " in group " + o->group + ".");
      return Status::Ok();
    });
  });

  auto* remove = member->add_subcommand(
      "remove", "Remove a client from a group: its keys stop from the next interval");
  remove->add_option("client", o->client, "Client name")->required();
  remove->add_option("group", o->group, "Group name")->required();
  remove->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Delete("/v1/memberships/" + Seg(o->client) + "/" + Seg(o->group)));
      Done(r, "Removed " + o->client + " from group " + o->group + ".");
      return Status::Ok();
    });
  });

  auto lo = std::make_shared<LinkOpts>();
  auto* list = member->add_subcommand("list", "List memberships");
  list->add_option("--client", lo->client, "Only this client's");
  list->add_option("--group", lo->group, "Only this group's (direct members)");
  list->callback([lo] {
    Run([lo](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(
          json r, c.Get("/v1/memberships" + Query({{"client", lo->client}, {"group", lo->group}})));
      Show(r, [&] {
        Table t({"CLIENT", "GROUP", "ROLE"});
        for (const auto& m : r["memberships"]) t.Row({F(m, "client"), F(m, "group"), F(m, "role")});
        t.Print("No memberships.");
      });
      return Status::Ok();
    });
  });
}

void AddAssignCommands(CLI::App* admin) {
  auto* assign = admin->add_subcommand(
      "assign", "Assignments: which groups (and their descendants) an event is for");
  assign->require_subcommand(1);
  auto o = std::make_shared<LinkOpts>();

  auto* add = assign->add_subcommand("add", "Assign an event to a group");
  add->add_option("event", o->event, "Event name")->required();
  add->add_option("group", o->group, "Group name")->required();
  add->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = {{"event", o->event}, {"group", o->group}};
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/assignments", body));
      Done(r, "Assigned event " + o->event + " to group " + o->group + ".");
      return Status::Ok();
    });
  });

  auto* remove = assign->add_subcommand("remove", "Unassign an event from a group");
  remove->add_option("event", o->event, "Event name")->required();
  remove->add_option("group", o->group, "Group name")->required();
  remove->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Delete("/v1/assignments/" + Seg(o->event) + "/" + Seg(o->group)));
      Done(r, "Unassigned event " + o->event + " from group " + o->group + ".");
      return Status::Ok();
    });
  });

  auto lo = std::make_shared<LinkOpts>();
  auto* list = assign->add_subcommand("list", "List assignments");
  list->add_option("--event", lo->event, "Only this event's");
  list->add_option("--group", lo->group, "Only this group's (direct)");
  list->callback([lo] {
    Run([lo](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(
          json r, c.Get("/v1/assignments" + Query({{"event", lo->event}, {"group", lo->group}})));
      Show(r, [&] {
        Table t({"EVENT", "GROUP"});
        for (const auto& a : r["assignments"]) t.Row({F(a, "event"), F(a, "group")});
        t.Print("No assignments.");
      });
      return Status::Ok();
    });
  });
}

}  // namespace keycast::cli::admin
