// keycast: group key management for secure multicast.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cli/commands.h"
#include "keycast/log.h"

namespace keycast::cli {

// The subcommand named by argv[j], or nullptr.
static CLI::App* SubcommandAt(CLI::App& app, const char* name) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

namespace {
std::vector<std::pair<int, void (*)(CLI::App&)>>& Registry() {
  static std::vector<std::pair<int, void (*)(CLI::App&)>> r;
  return r;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, void (*fn)(CLI::App&)) {
  Registry().emplace_back(order, fn);
}

void RegisterAllCommands(CLI::App& app) {
  auto r = Registry();
  std::stable_sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [order, fn] : r) fn(app);
}

CLI::App* Subcommand(CLI::App& parent, const std::string& name, const std::string& description) {
  if (CLI::App* sub = SubcommandAt(parent, name.c_str())) return sub;
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->require_subcommand(1);
  return sub;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "keycast: %s\n",
               st.message().empty() ? st.ToString().c_str() : st.message().c_str());
  switch (st.code()) {
    case Code::kInvalidArgument:
      return 2;
    case Code::kUnauthenticated:
    case Code::kPermissionDenied:
      return 3;
    case Code::kNotFound:
      return 4;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 5;
    default:
      return 1;
  }
}

}  // namespace keycast::cli

int main(int argc, char** argv) {
  using namespace keycast;
  CLI::App app{
      "keycast: directory, tickets and keys for secure multicast.\n"
      "Run `keycast dev` for a local node with every role and a demo directory."};
  app.name("keycast");
  app.require_subcommand(1);
  app.set_version_flag("--version", "keycast 0.1.0");
  std::string log_level = "info", log_format = "text";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->envname("KEYCAST_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text or json (one object per line)")
      ->envname("KEYCAST_LOG_FORMAT")
      ->capture_default_str();
  app.parse_complete_callback([&] {
    Status st = SetupLogging(log_level, log_format);
    if (!st.ok()) throw CLI::ValidationError("--log-level/--log-format", st.message());
  });
  cli::EnableConfigFiles(app);
  cli::RegisterAllCommands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as documented.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const cli::Exit& e) {
    return e.code;
  }
  return 0;
}
