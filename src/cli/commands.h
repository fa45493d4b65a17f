// The keycast command line: one executable with subcommands, in the manner
// of vault, etcd and consul. Each part registers its commands here.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

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

// Applies a TOML config file to a subcommand's options as their defaults,
// so flags and environment variables still win. Unknown keys are errors.
Status ApplyConfigFile(CLI::App* command, const std::string& path);
// The same for text already read; `origin` names it in messages.
inline constexpr size_t kMaxConfigBytes = 1 << 20;
Status ApplyConfigText(CLI::App* command, std::string_view text, const std::string& origin);

// Prints "keycast: <message>" to stderr and returns the exit code for it
// (2 usage, 3 auth, 4 not found, 5 conflict, 1 otherwise).
int Fail(const Status& st);

// Thrown from subcommand callbacks to end with an exit code.
struct Exit {
  int code;
};

}  // namespace keycast::cli
