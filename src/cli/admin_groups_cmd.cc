// keycast admin group ... | edge ...: the groups and the edges of their DAG.
// Part of `keycast admin` (admin_cmd.cc registers it).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_common.h"
#include "cli/admin_output.h"

namespace keycast::cli::admin {
namespace {

struct GroupOpts {
  std::string name, description, rename, after, limit, parent, child;
  std::vector<std::string> parents;
  CLI::Option *description_opt = nullptr, *rename_opt = nullptr;
};

}  // namespace

void AddGroupCommands(CLI::App* admin) {
  auto* group = admin->add_subcommand("group", "Groups: create, list, show, update, delete");
  group->require_subcommand(1);
  auto o = std::make_shared<GroupOpts>();

  auto* create = group->add_subcommand("create", "Create a group, optionally under parent groups");
  create->add_option("name", o->name, "Group name")->required();
  create->add_option("--description", o->description, "Free text for operators");
  create
      ->add_option("--parent", o->parents, "Parent group (repeatable); members inherit its events")
      ->allow_extra_args(false);
  create->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = {{"name", o->name}};
      if (!o->description.empty()) body["description"] = o->description;
      if (!o->parents.empty()) body["parents"] = o->parents;
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/groups", body));
      std::string under;
      for (const auto& p : o->parents) under += (under.empty() ? " under " : ", ") + p;
      Done(r, "Created group " + o->name + under + ".");
      return Status::Ok();
    });
  });

  auto* list = group->add_subcommand("list", "List groups, by name");
  list->add_option("--after", o->after, "Start after this name (the previous page's last)");
  list->add_option("--limit", o->limit, "At most this many, 1-1000 (default 100)");
  list->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Get("/v1/groups" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"NAME", "PARENTS", "CHILDREN", "MEMBERS", "EVENTS", "DESCRIPTION"});
        for (const auto& g : r["groups"])
          t.Row({F(g, "name"), F(g, "parents"), F(g, "children"), F(g, "members"), F(g, "events"),
                 Truncate(F(g, "description"), 40)});
        t.Print("No groups.");
        NextPageHint(r, "group list");
      });
      return Status::Ok();
    });
  });

  auto* show = group->add_subcommand("show", "Show a group: parents, children, members, events");
  show->add_option("name", o->name, "Group name")->required();
  show->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json g, c.Get("/v1/groups/" + Seg(o->name)));
      Show(g, [&] {
        PrintFields({{"Name", F(g, "name")},
                     {"Description", F(g, "description")},
                     {"Parents", F(g, "parents")},
                     {"Children", F(g, "children")},
                     {"Members", F(g, "members")},
                     {"Events", F(g, "events")},
                     {"Created", F(g, "created_at")},
                     {"Updated", F(g, "updated_at")}});
      });
      return Status::Ok();
    });
  });

  auto* update = group->add_subcommand("update", "Rename a group or change its description");
  update->add_option("name", o->name, "Group name")->required();
  o->rename_opt = update->add_option("--rename", o->rename, "New name");
  o->description_opt =
      update->add_option("--description", o->description, "New description (\"\" clears it)");
  update->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = json::object();
      if (o->rename_opt->count()) body["name"] = o->rename;
      if (o->description_opt->count()) body["description"] = o->description;
      if (body.empty()) return InvalidArgument("nothing to change: give --rename or --description");
      KC_ASSIGN_OR_RETURN(json r, c.Patch("/v1/groups/" + Seg(o->name), body));
      Done(r, "Updated group " + F(r, "name") + ".");
      return Status::Ok();
    });
  });

  auto* del =
      group->add_subcommand("delete", "Delete a group with its edges, memberships and assignments");
  del->add_option("name", o->name, "Group name")->required();
  del->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/groups/" + Seg(o->name)));
      Done(r, "Deleted group " + o->name + ".");
      return Status::Ok();
    });
  });

  auto* edge = admin->add_subcommand(
      "edge", "Edges of the group DAG: a child group's members inherit the parent's events");
  edge->require_subcommand(1);
  auto* add =
      edge->add_subcommand("add", "Add a parent -> child edge (refused if it would close a cycle)");
  add->add_option("parent", o->parent, "Parent group")->required();
  add->add_option("child", o->child, "Child group")->required();
  add->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = {{"parent", o->parent}, {"child", o->child}};
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/edges", body));
      Done(r, "Added edge " + o->parent + " -> " + o->child + ".");
      return Status::Ok();
    });
  });
  auto* remove = edge->add_subcommand("remove", "Remove a parent -> child edge");
  remove->add_option("parent", o->parent, "Parent group")->required();
  remove->add_option("child", o->child, "Child group")->required();
  remove->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/edges/" + Seg(o->parent) + "/" + Seg(o->child)));
      Done(r, "Removed edge " + o->parent + " -> " + o->child + ".");
      return Status::Ok();
    });
  });
  auto* elist = edge->add_subcommand("list", "List every edge");
  elist->callback([] {
    Run([](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/edges"));
      Show(r, [&] {
        Table t({"PARENT", "CHILD"});
        for (const auto& e : r["edges"]) t.Row({F(e, "parent"), F(e, "child")});
        t.Print("No edges.");
      });
      return Status::Ok();
    });
  });
}

}  // namespace keycast::cli::admin
