// The keycast command line: one executable with subcommands, in the manner
// of vault, etcd and consul. Each part registers its commands here.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "keycast/status.h"

namespace keycast::cli {

// Each *_cmd.cc registers its subcommands with a static CommandRegistrar:
//   static CommandRegistrar reg([](CLI::App& app) { ... });
// main() runs every registrar in order of `order`, then parses.
struct CommandRegistrar {
  CommandRegistrar(int order, void (*fn)(CLI::App&));
};
void RegisterAllCommands(CLI::App& app);

// The subcommand `name` of `parent`, created on first use (so several files
// can add to `keycast bench`).
CLI::App* Subcommand(CLI::App& parent, const std::string& name, const std::string& description);

// TOML config files through CLI11's config-file support (App::set_config):
// EnableConfigFiles adds `--config FILE` to the root command with Keycast's
// formatter (toml++ grammar, tables prefix their keys, unknown keys refused
// with file:line, at most kMaxConfigBytes); UseConfigFile lets `command`
// take one, also named by the variable env_name. A flag beats the
// environment, which beats the file.
inline constexpr size_t kMaxConfigBytes = 1 << 20;
void EnableConfigFiles(CLI::App& root);
void UseConfigFile(CLI::App& root, CLI::App* command, const std::string& env_name);
// The config items of a file's text for `command`'s options (keys checked,
// values as strings, keys whose environment variable is set left out);
// `origin` names the text in messages.
Result<std::vector<CLI::ConfigItem>> ParseConfigText(const CLI::App& command, std::string_view text,
                                                     const std::string& origin);
// A formatter applying files to `command` itself (for tests and fuzzing:
// command.parse_from_stream).
std::shared_ptr<CLI::Config> ConfigFormatterFor(CLI::App& command);

// Prints "keycast: <message>" to stderr and returns the exit code for it
// (2 usage, 3 auth, 4 not found, 5 conflict, 1 otherwise).
int Fail(const Status& st);

// Thrown from subcommand callbacks to end with an exit code.
struct Exit {
  int code;
};

}  // namespace keycast::cli
