// keycast admin: the operator's commands over the admin API — the seeds'
// gateway commands (seed 001 Figure 10: add / delete / modify clients,
// groups, events, memberships) plus API keys, admin tokens, the audit log
// and service keys. Each command is one or two API calls; docs/api.md names
// the endpoint behind each.
//
// This file holds the global options, what every command shares
// (admin_common.h) and the registration; admin_<resource>_cmd.cc hold the
// commands of each resource.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/admin_common.h"
#include "cli/admin_output.h"
#include "keycast/schedule.h"

namespace keycast::cli {
namespace admin {

AdminGlobals& Globals() {
  static AdminGlobals g;
  return g;
}

void Run(const CommandBody& body, bool needs_token) {
  const AdminGlobals& g = Globals();
  if (needs_token && g.token.empty())
    throw Exit{
        Fail(InvalidArgument("an admin token is required: set KEYCAST_TOKEN or pass --token "
                             "(`keycast init` prints the first one)"))};
  auto client = AdminClient::Connect({g.addr, g.token, g.ca_file});
  if (!client.ok()) throw Exit{Fail(client.status())};
  Status st = body(*client);
  if (!st.ok()) throw Exit{Fail(st)};
}

void Show(const json& reply, const std::function<void()>& human) {
  if (!Globals().json) return human();
  if (!reply.is_null()) std::printf("%s\n", reply.dump(2).c_str());
}

void Done(const json& reply, const std::string& line) {
  Show(reply, [&] { std::printf("%s\n", line.c_str()); });
}

std::string Seg(const std::string& s) { return EncodeComponent(s); }

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params)
    if (!v.empty()) q += (q.empty() ? "?" : "&") + k + "=" + EncodeComponent(v);
  return q;
}

void NextPageHint(const json& reply, const std::string& command) {
  if (reply.contains("next") && reply["next"].is_string())
    std::printf("\nMore: keycast admin %s --after %s\n", command.c_str(),
                reply["next"].get<std::string>().c_str());
}

std::string F(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? Cell(j[key]) : "-";
}

Result<int64_t> Integer(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return InvalidArgument(flag + ": '" + text + "' is not a whole number");
  return static_cast<int64_t>(v);
}

Result<int64_t> Seconds(const std::string& flag, const std::string& text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])))
    return Integer(flag, text);
  auto d = ParseDuration(text);
  if (!d.ok()) return InvalidArgument(flag + ": " + d.status().message());
  return *d;
}

json NumberOrString(const std::string& text) {
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
                text.size() < 19;
  return digits ? json(std::stoll(text)) : json(text);
}

void PasswordFlags::Add(CLI::App* cmd, bool removable) {
  password_opt = cmd->add_option(
      "--password", password,
      "Password for ticket login, 8+ bytes (visible to `ps`; prefer --password-stdin)");
  cmd->add_flag("--password-stdin", from_stdin,
                "Read the password from the first line of standard input");
  if (removable)
    cmd->add_flag("--remove-password", remove, "Remove password login (API keys still work)");
}

Result<std::optional<std::string>> PasswordFlags::Read() const {
  int given = (password_opt->count() > 0) + from_stdin + remove;
  if (given > 1)
    return InvalidArgument("give only one of --password, --password-stdin, --remove-password");
  if (remove) return std::optional<std::string>("");
  if (password_opt->count() > 0) return std::optional<std::string>(password);
  if (!from_stdin) return std::optional<std::string>();
  std::string line;
  std::getline(std::cin, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) return InvalidArgument("--password-stdin: no password on standard input");
  return std::optional<std::string>(line);
}

void PrintSecretOnce(const json& reply, const char* field, const std::string& what) {
  std::fprintf(stderr, "Created %s %s. Store it now: it is shown only this once.\n", what.c_str(),
               F(reply, "id").c_str());
  if (Globals().json)
    std::printf("%s\n", reply.dump(2).c_str());
  else
    std::printf("%s\n", F(reply, field).c_str());
}

}  // namespace admin

static void RegisterAdminCommands(CLI::App& app) {
  auto* admin = app.add_subcommand(
      "admin", "Operator commands over the admin API: clients, groups, events, ...");
  admin->require_subcommand(1);
  // Lets the options below come after the command too: `admin group list --json`.
  admin->fallthrough();
  admin::AdminGlobals& g = admin::Globals();
  admin->add_option("--addr", g.addr, "Admin API URL")
      ->envname("KEYCAST_ADDR")
      ->capture_default_str();
  admin
      ->add_option("--token", g.token,
                   "Admin token kct_... (required; prefer the environment variable: arguments are "
                   "visible to `ps`)")
      ->envname("KEYCAST_TOKEN");
  admin->add_option("--ca-file", g.ca_file, "CA certificate for an https:// address")
      ->envname("KEYCAST_CA_FILE");
  admin->add_flag("--json", g.json, "Print the server's JSON instead of tables");
  admin::AddClientCommands(admin);
  admin::AddGroupCommands(admin);
  admin::AddEventCommands(admin);
  admin::AddMemberCommands(admin);
  admin::AddAssignCommands(admin);
  admin::AddOperatorCommands(admin);
  // After the subcommands, which would inherit it.
  admin->footer(
      "\nExamples:\n"
      "  export KEYCAST_ADDR=http://127.0.0.1:8200 KEYCAST_TOKEN=kct_...\n"
      "  keycast admin group create sales --parent acme\n"
      "  keycast admin client create alice --password-stdin <<< 'a long password'\n"
      "  keycast admin member add alice sales --role receiver\n"
      "  keycast admin event create news --title 'Morning news' --group-address 239.1.1.1 --port "
      "5004 \\\n"
      "      --start 2030-01-01T08:00:00Z --duration PT1H --rrule 'FREQ=DAILY' --assign sales\n"
      "  keycast admin client events alice\n\n"
      "Exit codes: 0 ok, 2 bad usage or input, 3 authentication, 4 not found, 5 conflict\n"
      "(exists, cycle, already revoked), 1 anything else. docs/api.md has the API behind each "
      "command.");
}

static CommandRegistrar registrar(20, &RegisterAdminCommands);

}  // namespace keycast::cli
