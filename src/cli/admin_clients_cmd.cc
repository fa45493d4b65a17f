// keycast admin client ...: clients (members), their events and API keys.
// Part of `keycast admin` (admin_cmd.cc registers it).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_common.h"
#include "cli/admin_output.h"

namespace keycast::cli::admin {
namespace {

std::string ClientGroups(const json& c) {
  std::string s;
  if (c.contains("groups") && c["groups"].is_array())
    for (const auto& g : c["groups"])
      s += (s.empty() ? "" : ", ") + F(g, "group") + " (" + F(g, "role") + ")";
  return s;
}

void PrintClient(const json& c) {
  PrintFields({{"Name", F(c, "name")},
               {"Description", F(c, "description")},
               {"Enabled", F(c, "enabled")},
               {"Password login", F(c, "password_set")},
               {"Groups", ClientGroups(c)},
               {"Created", F(c, "created_at")},
               {"Updated", F(c, "updated_at")}});
}

struct ClientOpts {
  std::string name, description, rename, after, limit, id;
  bool disabled = false, enable = false, disable = false;
  PasswordFlags pw;
  CLI::Option *description_opt = nullptr, *rename_opt = nullptr;
};

}  // namespace

void AddClientCommands(CLI::App* admin) {
  auto* client = admin->add_subcommand(
      "client", "Clients (members): create, list, show, update, delete, API keys");
  client->require_subcommand(1);

  // Each command with a password has options of its own: PasswordFlags
  // remembers the option it added.
  auto co = std::make_shared<ClientOpts>();
  auto* create = client->add_subcommand("create", "Create a client");
  create->add_option("name", co->name, "Client name")->required();
  create->add_option("--description", co->description, "Free text for operators");
  co->pw.Add(create, false);
  create->add_flag("--disabled", co->disabled,
                   "Create it disabled: no tickets or keys until enabled");
  create->callback([o = co] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(auto pw, o->pw.Read());
      json body = {{"name", o->name}};
      if (!o->description.empty()) body["description"] = o->description;
      if (pw) body["password"] = *pw;
      if (o->disabled) body["enabled"] = false;
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/clients", body));
      Done(r, "Created client " + o->name + (o->disabled ? " (disabled)." : "."));
      return Status::Ok();
    });
  });

  auto o = std::make_shared<ClientOpts>();
  auto* list = client->add_subcommand("list", "List clients, by name");
  list->add_option("--after", o->after, "Start after this name (the previous page's last)");
  list->add_option("--limit", o->limit, "At most this many, 1-1000 (default 100)");
  list->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Get("/v1/clients" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"NAME", "ENABLED", "PASSWORD", "GROUPS", "DESCRIPTION"});
        for (const auto& x : r["clients"])
          t.Row({F(x, "name"), F(x, "enabled"), F(x, "password_set"), ClientGroups(x),
                 Truncate(F(x, "description"), 40)});
        t.Print("No clients.");
        NextPageHint(r, "client list");
      });
      return Status::Ok();
    });
  });

  auto* show = client->add_subcommand("show", "Show a client and its group memberships");
  show->add_option("name", o->name, "Client name")->required();
  show->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/clients/" + Seg(o->name)));
      Show(r, [&] { PrintClient(r); });
      return Status::Ok();
    });
  });

  auto* update =
      client->add_subcommand("update", "Modify a client: name, description, enabled, password");
  update->add_option("name", o->name, "Client name")->required();
  o->rename_opt = update->add_option("--rename", o->rename, "New name");
  o->description_opt =
      update->add_option("--description", o->description, "New description (\"\" clears it)");
  update->add_flag("--enable", o->enable, "Allow tickets and keys again");
  update->add_flag("--disable", o->disable,
                   "Stop tickets and key delivery from the next interval on");
  o->pw.Add(update, true);
  update->callback([o] {
    Run([o](AdminClient& c) -> Status {
      if (o->enable && o->disable) return InvalidArgument("give --enable or --disable, not both");
      KC_ASSIGN_OR_RETURN(auto pw, o->pw.Read());
      json body = json::object();
      if (o->rename_opt->count()) body["name"] = o->rename;
      if (o->description_opt->count()) body["description"] = o->description;
      if (o->enable || o->disable) body["enabled"] = o->enable;
      if (pw) body["password"] = *pw;
      if (body.empty())
        return InvalidArgument("nothing to change: see `keycast admin client update --help`");
      KC_ASSIGN_OR_RETURN(json r, c.Patch("/v1/clients/" + Seg(o->name), body));
      Done(r, "Updated client " + F(r, "name") + ".");
      return Status::Ok();
    });
  });

  auto* del = client->add_subcommand("delete", "Delete a client: its tickets stop getting keys");
  del->add_option("name", o->name, "Client name")->required();
  del->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/clients/" + Seg(o->name)));
      Done(r, "Deleted client " + o->name + ".");
      return Status::Ok();
    });
  });

  auto* events = client->add_subcommand(
      "events", "The events a client may join, over the group DAG, with its role");
  events->add_option("name", o->name, "Client name")->required();
  events->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/clients/" + Seg(o->name) + "/events"));
      Show(r, [&] {
        Table t({"EVENT", "ROLE", "TITLE"});
        for (const auto& e : r["events"]) t.Row({F(e, "name"), F(e, "role"), F(e, "title")});
        t.Print("Client " + o->name + " has no events.");
      });
      return Status::Ok();
    });
  });

  auto* keys = client->add_subcommand(
      "api-key", "A client's API keys (for services that log in without a password)");
  keys->require_subcommand(1);
  auto* kcreate = keys->add_subcommand("create", "Create an API key; it is printed once");
  kcreate->add_option("name", o->name, "Client name")->required();
  kcreate->add_option("--description", o->description, "What the key is for");
  kcreate->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = json::object();
      if (!o->description.empty()) body["description"] = o->description;
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/clients/" + Seg(o->name) + "/api-keys", body));
      PrintSecretOnce(r, "api_key", "API key for client " + o->name + ":");
      return Status::Ok();
    });
  });
  auto* klist = keys->add_subcommand("list", "List a client's API keys (never the secrets)");
  klist->add_option("name", o->name, "Client name")->required();
  klist->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/clients/" + Seg(o->name) + "/api-keys"));
      Show(r, [&] {
        Table t({"ID", "CREATED", "REVOKED", "DESCRIPTION"});
        for (const auto& k : r["api_keys"])
          t.Row(
              {F(k, "id"), F(k, "created_at"), F(k, "revoked"), Truncate(F(k, "description"), 50)});
        t.Print("Client " + o->name + " has no API keys.");
      });
      return Status::Ok();
    });
  });
  auto* krevoke = keys->add_subcommand("revoke", "Revoke an API key");
  krevoke->add_option("name", o->name, "Client name")->required();
  krevoke->add_option("id", o->id, "Key id, as `api-key list` shows it")->required();
  krevoke->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Delete("/v1/clients/" + Seg(o->name) + "/api-keys/" + Seg(o->id)));
      Done(r, "Revoked API key " + o->id + " of client " + o->name + ".");
      return Status::Ok();
    });
  });
}

}  // namespace keycast::cli::admin
