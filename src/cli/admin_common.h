// What the files of `keycast admin` share: its global options, the way a
// command runs against the server, and the small parsers and printers every
// command uses. Defined in admin_cmd.cc, which also registers the command;
// admin_<resource>_cmd.cc add the resources' subcommands.
//
// Output contract: with --json a command prints the server's JSON (nothing
// for a 204); otherwise a table for a list, "key: value" lines for one
// object, one line for a change. Errors go to stderr as
// "keycast: <code>: <message>", with the exit code cli::Fail gives.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "keycast/status.h"

namespace keycast::cli::admin {

using json = nlohmann::json;

// Options of `keycast admin` itself.
struct AdminGlobals {
  std::string addr = "http://127.0.0.1:8200";
  std::string token;  // never printed
  std::string ca_file;
  bool json = false;
};
AdminGlobals& Globals();

using CommandBody = std::function<Status(AdminClient&)>;

// Runs one command against the server; a failure ends the process (throws
// cli::Exit) with the exit code cli::Fail gives it.
void Run(const CommandBody& body, bool needs_token = true);

// With --json prints the server's JSON (nothing for null), else `human`.
void Show(const json& reply, const std::function<void()>& human);
// The one-line confirmation of a change (or the JSON with --json).
void Done(const json& reply, const std::string& line);
// Prints a secret the server shows once: the secret alone on stdout (so a
// script can capture it), a warning to store it on stderr.
void PrintSecretOnce(const json& reply, const char* field, const std::string& what);
// Prints how to get the next page when the answer has "next".
void NextPageHint(const json& reply, const std::string& command);

// A path segment, percent-encoded.
std::string Seg(const std::string& s);
// "?a=1&b=2" from the non-empty values, or "".
std::string Query(const std::vector<std::pair<std::string, std::string>>& params);
// A field of a JSON object as a table cell (admin_output.h Cell), "-" when missing.
std::string F(const json& j, const char* key);

// Parsers of option values; errors are InvalidArgument naming the flag.
Result<int64_t> Integer(const std::string& flag, const std::string& text);
// Seconds, as a number or an ISO 8601 duration (PT30S).
Result<int64_t> Seconds(const std::string& flag, const std::string& text);
// A schedule's start or duration as the API takes it: digits as a number,
// anything else as a string for the server to parse.
json NumberOrString(const std::string& text);

// --password | --password-stdin [| --remove-password]. Each command needs an
// instance of its own: it remembers the option it added.
struct PasswordFlags {
  std::string password;
  bool from_stdin = false;
  bool remove = false;
  CLI::Option* password_opt = nullptr;

  void Add(CLI::App* cmd, bool removable);
  // The password to send: nullopt when none was given, "" to remove it.
  // Reads the first line of stdin for --password-stdin.
  Result<std::optional<std::string>> Read() const;
};

// The subcommands of each resource.
void AddClientCommands(CLI::App* admin);    // client, client api-key
void AddGroupCommands(CLI::App* admin);     // group, edge
void AddEventCommands(CLI::App* admin);     // event
void AddMemberCommands(CLI::App* admin);    // member
void AddAssignCommands(CLI::App* admin);    // assign
void AddOperatorCommands(CLI::App* admin);  // token, audit, keys

}  // namespace keycast::cli::admin
