// keycast admin: the operator's commands over the admin API — the seeds'
// gateway commands (seed 001 Figure 10: add / delete / modify clients,
// groups, events, memberships) plus API keys, admin tokens, the audit log
// and service keys. Each command is one or two API calls; docs/api.md names
// the endpoint behind each.
//
// Output: aligned tables for lists, "key: value" blocks for single objects,
// one line for a change; --json prints the server's JSON instead. Errors
// print the server's code and message; the exit code follows cli::Fail
// (2 bad input, 3 authentication, 4 not found, 5 conflict, 1 otherwise).
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_client.h"
#include "cli/admin_output.h"
#include "cli/commands.h"
#include "keycast/schedule.h"

namespace keycast::cli {
namespace {

using json = nlohmann::json;

// Options of `keycast admin` itself, shared by every admin command.
struct AdminGlobals {
  std::string addr = "http://127.0.0.1:8200";
  std::string token;  // never printed
  std::string ca_file;
  bool json = false;
};

AdminGlobals& Globals() {
  static AdminGlobals g;
  return g;
}

using CommandBody = std::function<Status(AdminClient&)>;

// Runs one command against the server; a failure ends the process with the
// exit code cli::Fail gives it.
void Run(const CommandBody& body, bool needs_token = true) {
  const AdminGlobals& g = Globals();
  if (needs_token && g.token.empty())
    throw Exit{Fail(InvalidArgument("an admin token is required: set KEYCAST_TOKEN or pass --token "
                                    "(`keycast init` prints the first one)"))};
  auto client = AdminClient::Connect({g.addr, g.token, g.ca_file});
  if (!client.ok()) throw Exit{Fail(client.status())};
  Status st = body(*client);
  if (!st.ok()) throw Exit{Fail(st)};
}

// With --json prints the server's JSON (nothing for a 204), else `human`.
void Show(const json& reply, const std::function<void()>& human) {
  if (!Globals().json) return human();
  if (!reply.is_null()) std::printf("%s\n", reply.dump(2).c_str());
}

// The confirmation of a change.
void Done(const json& reply, const std::string& line) {
  Show(reply, [&] { std::printf("%s\n", line.c_str()); });
}

std::string Seg(const std::string& s) { return EncodeComponent(s); }

// "?a=1&b=2" from the non-empty values, or "".
std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params)
    if (!v.empty()) q += (q.empty() ? "?" : "&") + k + "=" + EncodeComponent(v);
  return q;
}

// Prints how to get the next page when the server says there is one.
void NextPageHint(const json& reply, const std::string& command) {
  if (reply.contains("next") && reply["next"].is_string())
    std::printf("\nMore: keycast admin %s --after %s\n", command.c_str(),
                reply["next"].get<std::string>().c_str());
}

// A field of a JSON object as a cell, "-" when missing.
std::string F(const json& j, const char* key) { return j.is_object() && j.contains(key) ? Cell(j[key]) : "-"; }

Result<int64_t> Integer(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return InvalidArgument(flag + ": '" + text + "' is not a whole number");
  return static_cast<int64_t>(v);
}

// Seconds, given as a number or an ISO 8601 duration (PT30S).
Result<int64_t> Seconds(const std::string& flag, const std::string& text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) return Integer(flag, text);
  auto d = ParseDuration(text);
  if (!d.ok()) return InvalidArgument(flag + ": " + d.status().message());
  return *d;
}

// A schedule's start or duration as the API takes it: Unix seconds or
// seconds as a number, anything else as a string for the server to parse.
json NumberOrString(const std::string& text) {
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() < 19;
  return digits ? json(std::stoll(text)) : json(text);
}

// --password | --password-stdin [| --remove-password]
struct PasswordFlags {
  std::string password;
  bool from_stdin = false;
  bool remove = false;
  CLI::Option* password_opt = nullptr;

  void Add(CLI::App* cmd, bool removable) {
    password_opt = cmd->add_option("--password", password,
                                   "Password for ticket login, 8+ bytes (visible to `ps`; prefer --password-stdin)");
    cmd->add_flag("--password-stdin", from_stdin, "Read the password from the first line of standard input");
    if (removable) cmd->add_flag("--remove-password", remove, "Remove password login (API keys still work)");
  }
  // The password to send: nullopt for none given, "" to remove it.
  Result<std::optional<std::string>> Read() const {
    int given = (password_opt->count() > 0) + from_stdin + remove;
    if (given > 1) return InvalidArgument("give only one of --password, --password-stdin, --remove-password");
    if (remove) return std::optional<std::string>("");
    if (password_opt->count() > 0) return std::optional<std::string>(password);
    if (!from_stdin) return std::optional<std::string>();
    std::string line;
    std::getline(std::cin, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.empty()) return InvalidArgument("--password-stdin: no password on standard input");
    return std::optional<std::string>(line);
  }
};

// Prints a secret the server shows once: the secret alone on stdout (so a
// script can capture it), the warning on stderr.
void PrintSecretOnce(const json& reply, const char* field, const std::string& what) {
  std::fprintf(stderr, "Created %s %s. Store it now: it is shown only this once.\n", what.c_str(),
               F(reply, "id").c_str());
  if (Globals().json) std::printf("%s\n", reply.dump(2).c_str());
  else std::printf("%s\n", F(reply, field).c_str());
}

// ---------------------------------------------------------------- clients

std::string ClientGroups(const json& c) {
  std::string s;
  if (c.contains("groups") && c["groups"].is_array())
    for (const auto& g : c["groups"]) s += (s.empty() ? "" : ", ") + F(g, "group") + " (" + F(g, "role") + ")";
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

void AddClientCommands(CLI::App* admin) {
  auto* client = admin->add_subcommand("client", "Clients (members): create, list, show, update, delete, API keys");
  client->require_subcommand(1);

  // Each command with a password has options of its own: PasswordFlags
  // remembers the option it added.
  auto co = std::make_shared<ClientOpts>();
  auto* create = client->add_subcommand("create", "Create a client");
  create->add_option("name", co->name, "Client name")->required();
  create->add_option("--description", co->description, "Free text for operators");
  co->pw.Add(create, false);
  create->add_flag("--disabled", co->disabled, "Create it disabled: no tickets or keys until enabled");
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
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/clients" + Query({{"after", o->after}, {"limit", o->limit}})));
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

  auto* update = client->add_subcommand("update", "Modify a client: name, description, enabled, password");
  update->add_option("name", o->name, "Client name")->required();
  o->rename_opt = update->add_option("--rename", o->rename, "New name");
  o->description_opt = update->add_option("--description", o->description, "New description (\"\" clears it)");
  update->add_flag("--enable", o->enable, "Allow tickets and keys again");
  update->add_flag("--disable", o->disable, "Stop tickets and key delivery from the next interval on");
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
      if (body.empty()) return InvalidArgument("nothing to change: see `keycast admin client update --help`");
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

  auto* events = client->add_subcommand("events", "The events a client may join, over the group DAG, with its role");
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

  auto* keys = client->add_subcommand("api-key", "A client's API keys (for services that log in without a password)");
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
          t.Row({F(k, "id"), F(k, "created_at"), F(k, "revoked"), Truncate(F(k, "description"), 50)});
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
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/clients/" + Seg(o->name) + "/api-keys/" + Seg(o->id)));
      Done(r, "Revoked API key " + o->id + " of client " + o->name + ".");
      return Status::Ok();
    });
  });
}

// ---------------------------------------------------------------- groups and edges

struct GroupOpts {
  std::string name, description, rename, after, limit, parent, child;
  std::vector<std::string> parents;
  CLI::Option *description_opt = nullptr, *rename_opt = nullptr;
};

void AddGroupCommands(CLI::App* admin) {
  auto* group = admin->add_subcommand("group", "Groups: create, list, show, update, delete");
  group->require_subcommand(1);
  auto o = std::make_shared<GroupOpts>();

  auto* create = group->add_subcommand("create", "Create a group, optionally under parent groups");
  create->add_option("name", o->name, "Group name")->required();
  create->add_option("--description", o->description, "Free text for operators");
  create->add_option("--parent", o->parents, "Parent group (repeatable); members inherit its events")
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
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/groups" + Query({{"after", o->after}, {"limit", o->limit}})));
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
  o->description_opt = update->add_option("--description", o->description, "New description (\"\" clears it)");
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

  auto* del = group->add_subcommand("delete", "Delete a group with its edges, memberships and assignments");
  del->add_option("name", o->name, "Group name")->required();
  del->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/groups/" + Seg(o->name)));
      Done(r, "Deleted group " + o->name + ".");
      return Status::Ok();
    });
  });

  auto* edge = admin->add_subcommand("edge", "Edges of the group DAG: a child group's members inherit the parent's events");
  edge->require_subcommand(1);
  auto* add = edge->add_subcommand("add", "Add a parent -> child edge (refused if it would close a cycle)");
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

// ---------------------------------------------------------------- events

struct EventOpts {
  std::string name, rename, title, group_address, port, start, duration, rrule, interval, initial_keying,
      clear_intervals, sender, source_address, algorithm, delivery, after, limit;
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
    add("--group-address", group_address, std::string("Multicast group address, IPv4 or IPv6") + req);
    add("--port", port, std::string("UDP port of the stream, 1-65535") + req);
    add("--start", start, std::string("First start: RFC 3339 (2030-01-01T10:00:00Z) or Unix seconds") + req);
    add("--duration", duration, std::string("Length of each occurrence: ISO 8601 (PT1H) or seconds") + req);
    add("--rrule", rrule, "Recurrence, RFC 5545 (FREQ=WEEKLY;BYDAY=MO,WE); \"\" for a single occurrence");
    add("--interval", interval, "Key interval, the forward-security window: seconds or ISO 8601 (default 60)");
    add("--initial-keying", initial_keying,
        "Period before each start in which members fetch their first key: seconds or ISO 8601 (default 300)");
    add("--clear-intervals", clear_intervals, "Unencrypted intervals at the start of each occurrence (default 0)");
    opts["--key-server"] =
        cmd->add_option("--key-server", key_servers,
                        "Key server host:port, repeatable for fail-over (default: the server's own key service)")
            ->allow_extra_args(false);
    add("--sender", sender, "The client that sends the stream");
    add("--source-address", source_address, "Source address of the stream (SSM); \"\" for any");
    add("--algorithm", algorithm, "aes-256-gcm (default) or chacha20-poly1305");
    add("--delivery", delivery, "Key delivery: pull (default), push or both");
    opts["--assign"] = cmd->add_option("--assign", assign, "Also assign the event to this group (repeatable)")
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
    return b;
  }

  // Gather -> check: every group of --assign must exist before anything is
  // written.
  Status CheckAssignGroups(AdminClient& c) const {
    for (const auto& g : assign) KC_RETURN_IF_ERROR(c.Get("/v1/groups/" + Seg(g)).status());
    return Status::Ok();
  }

  // Issue the assignments; the event is written already, so a failure says so.
  Status Assign(AdminClient& c, const std::string& event) const {
    for (const auto& g : assign) {
      auto r = c.Post("/v1/assignments", {{"event", event}, {"group", g}});
      if (!r.ok())
        return Status(r.status().code(),
                      r.status().message() + " (event " + event + " was saved; assign it with `keycast admin assign add " +
                          event + " " + g + "`)");
      if (!Globals().json) std::printf("Assigned event %s to group %s.\n", event.c_str(), g.c_str());
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
               {"Groups", F(e, "groups")},
               {"Version", F(e, "version")},
               {"Created", F(e, "created_at")},
               {"Updated", F(e, "updated_at")}});
}

void AddEventCommands(CLI::App* admin) {
  auto* event = admin->add_subcommand("event", "Events: scheduled streams and their keying; create, list, update, rekey");
  event->require_subcommand(1);

  auto co = std::make_shared<EventOpts>();
  auto* create = event->add_subcommand("create", "Create an event (a scheduled, possibly recurring stream)");
  co->Add(create, true);
  create->callback([co] {
    Run([co](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json body, co->Body(true, json()));
      KC_RETURN_IF_ERROR(co->CheckAssignGroups(c));
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/events", body));
      if (!Globals().json) std::printf("Created event %s.\n", co->name.c_str());
      KC_RETURN_IF_ERROR(co->Assign(c, co->name));
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
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/events" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"NAME", "ADDRESS", "START", "DURATION", "REPEATS", "GROUPS", "TITLE"});
        for (const auto& e : r["events"]) {
          const json s = e.value("schedule", json::object());
          t.Row({F(e, "name"), Address(e), F(s, "start"), F(s, "duration"), F(s, "rrule"), F(e, "groups"),
                 Truncate(F(e, "title"), 40)});
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
      KC_RETURN_IF_ERROR(uo->Assign(c, name));
      if (Globals().json) {
        if (!uo->assign.empty()) {
          KC_ASSIGN_OR_RETURN(r, c.Get("/v1/events/" + Seg(name)));
        }
        std::printf("%s\n", r.dump(2).c_str());
      }
      return Status::Ok();
    });
  });

  auto* del = event->add_subcommand("delete", "Delete an event: key delivery stops from the next interval on");
  del->add_option("name", o->name, "Event name")->required();
  del->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/events/" + Seg(o->name)));
      Done(r, "Deleted event " + o->name + ".");
      return Status::Ok();
    });
  });

  auto* rekey = event->add_subcommand("rekey", "Server-initiated rekey: wake the event's agents to fetch keys now");
  rekey->add_option("name", o->name, "Event name")->required();
  rekey->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/events/" + Seg(o->name) + "/rekey", json::object()));
      Done(r, "Rekey of event " + o->name + ": " + F(r, "wakeups_sent") + " wake-up(s) sent.");
      return Status::Ok();
    });
  });
}

// ---------------------------------------------------------------- memberships and assignments

struct LinkOpts {
  std::string client, group, event, role = "receiver";
};

void AddMemberCommands(CLI::App* admin) {
  auto* member = admin->add_subcommand("member", "Memberships: which clients are in which groups, as sender or receiver");
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
      KC_ASSIGN_OR_RETURN(json r, c.Patch("/v1/memberships/" + Seg(o->client) + "/" + Seg(o->group), body));
      Done(r, o->client + " is now a " + F(r, "role") + " in group " + o->group + ".");
      return Status::Ok();
    });
  });

  auto* remove = member->add_subcommand("remove", "Remove a client from a group: its keys stop from the next interval");
  remove->add_option("client", o->client, "Client name")->required();
  remove->add_option("group", o->group, "Group name")->required();
  remove->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/memberships/" + Seg(o->client) + "/" + Seg(o->group)));
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
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/memberships" + Query({{"client", lo->client}, {"group", lo->group}})));
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
  auto* assign = admin->add_subcommand("assign", "Assignments: which groups (and their descendants) an event is for");
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
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/assignments/" + Seg(o->event) + "/" + Seg(o->group)));
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
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/assignments" + Query({{"event", lo->event}, {"group", lo->group}})));
      Show(r, [&] {
        Table t({"EVENT", "GROUP"});
        for (const auto& a : r["assignments"]) t.Row({F(a, "event"), F(a, "group")});
        t.Print("No assignments.");
      });
      return Status::Ok();
    });
  });
}

// ---------------------------------------------------------------- tokens, audit, service keys

struct MiscOpts {
  std::string description, id, after, limit, kind;
};

void AddOperatorCommands(CLI::App* admin) {
  auto o = std::make_shared<MiscOpts>();

  auto* token = admin->add_subcommand("token", "Admin tokens: create, list, revoke");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Create an admin token; it is printed once");
  create->add_option("--description", o->description, "Who or what the token is for");
  create->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = json::object();
      if (!o->description.empty()) body["description"] = o->description;
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/admin-tokens", body));
      PrintSecretOnce(r, "token", "admin token");
      return Status::Ok();
    });
  });
  auto* list = token->add_subcommand("list", "List admin tokens (never the secrets)");
  list->callback([] {
    Run([](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/admin-tokens"));
      Show(r, [&] {
        Table t({"ID", "CREATED", "REVOKED", "DESCRIPTION"});
        for (const auto& k : r["admin_tokens"])
          t.Row({F(k, "id"), F(k, "created_at"), F(k, "revoked"), Truncate(F(k, "description"), 50)});
        t.Print("No admin tokens.");
      });
      return Status::Ok();
    });
  });
  auto* revoke = token->add_subcommand("revoke", "Revoke an admin token (it stops working at once)");
  revoke->add_option("id", o->id, "Token id, as `token list` shows it")->required();
  revoke->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/admin-tokens/" + Seg(o->id)));
      Done(r, "Revoked admin token " + o->id + ".");
      return Status::Ok();
    });
  });

  auto* audit = admin->add_subcommand("audit", "Read the append-only audit log, oldest first");
  audit->add_option("--after", o->after, "Only records after this sequence number");
  audit->add_option("--limit", o->limit, "At most this many, 1-1000 (default 100)");
  audit->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/audit" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"});
        const json& recs = r["records"];
        for (const auto& a : recs) {
          std::string detail = a.contains("detail") && !a["detail"].is_string() ? a["detail"].dump() : F(a, "detail");
          t.Row({F(a, "seq"), F(a, "time"), F(a, "actor"), F(a, "action"), F(a, "target"), Truncate(detail, 60)});
        }
        t.Print("No audit records.");
        size_t page = o->limit.empty() ? 100 : std::strtoul(o->limit.c_str(), nullptr, 10);
        if (!recs.empty() && recs.size() == page)
          std::printf("\nMore: keycast admin audit --after %s\n", F(recs.back(), "seq").c_str());
      });
      return Status::Ok();
    });
  });

  auto* keys = admin->add_subcommand("keys", "Service keys: list the published keys, rotate one");
  keys->require_subcommand(1);
  auto* klist = keys->add_subcommand("list", "List the published verification keys, every version");
  klist->callback([] {
    Run(
        [](AdminClient& c) -> Status {
          KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/ticket-keys"));
          Show(r, [&] {
            Table t({"KIND", "VERSION", "STATE", "CREATED", "USABLE UNTIL", "PUBLIC KEY"});
            for (const auto& k : r["keys"]) {
              auto time = [&](const char* f) {
                int64_t v = k.value(f, int64_t{0});
                return v == 0 ? std::string("-") : FormatRfc3339(v);
              };
              t.Row({F(k, "kind"), F(k, "version"), k.value("retired_at", int64_t{0}) == 0 ? "active" : "retired",
                     time("created_at"), time("usable_until"), F(k, "public_key")});
            }
            t.Print("No published keys.");
          });
          return Status::Ok();
        },
        /*needs_token=*/false);
  });
  auto* rotate = keys->add_subcommand("rotate", "Make a new version active; older ones stay valid for the retention");
  rotate->add_option("kind", o->kind, "ticket-signing, ticket-sealing or rekey-signing")->required();
  rotate->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/service-keys/" + Seg(o->kind) + "/rotate", json::object()));
      Done(r, "Rotated " + o->kind + ": version " + F(r, "version") + " is active.");
      return Status::Ok();
    });
  });
}

}  // namespace

static void RegisterAdminCommands(CLI::App& app) {
  auto* admin = app.add_subcommand("admin", "Operator commands over the admin API: clients, groups, events, ...");
  admin->require_subcommand(1);
  // Lets the options below come after the command too: `admin group list --json`.
  admin->fallthrough();
  AdminGlobals& g = Globals();
  admin->add_option("--addr", g.addr, "Admin API URL")->envname("KEYCAST_ADDR")->capture_default_str();
  admin->add_option("--token", g.token,
                    "Admin token kct_... (required; prefer the environment variable: arguments are visible to `ps`)")
      ->envname("KEYCAST_TOKEN");
  admin->add_option("--ca-file", g.ca_file, "CA certificate for an https:// address")->envname("KEYCAST_CA_FILE");
  admin->add_flag("--json", g.json, "Print the server's JSON instead of tables");
  admin->footer(
      "\nExamples:\n"
      "  export KEYCAST_ADDR=http://127.0.0.1:8200 KEYCAST_TOKEN=kct_...\n"
      "  keycast admin group create sales --parent acme\n"
      "  keycast admin client create alice --password-stdin <<< 'a long password'\n"
      "  keycast admin member add alice sales --role receiver\n"
      "  keycast admin event create news --title 'Morning news' --group-address 239.1.1.1 --port 5004 \\\n"
      "      --start 2030-01-01T08:00:00Z --duration PT1H --rrule 'FREQ=DAILY' --assign sales\n"
      "  keycast admin client events alice\n\n"
      "Exit codes: 0 ok, 2 bad usage or input, 3 authentication, 4 not found, 5 conflict\n"
      "(exists, cycle, still referenced), 1 anything else. docs/api.md has the API behind each command.");
  AddClientCommands(admin);
  AddGroupCommands(admin);
  AddEventCommands(admin);
  AddMemberCommands(admin);
  AddAssignCommands(admin);
  AddOperatorCommands(admin);
}

static CommandRegistrar registrar(20, &RegisterAdminCommands);

}  // namespace keycast::cli
