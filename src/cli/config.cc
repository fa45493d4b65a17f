// TOML configuration files through CLI11's own config-file support
// (App::set_config), with toml++ as the grammar. Keys are option names with
// '_' or '-' (`http_addr = "0.0.0.0:8200"` sets --http-addr); tables prefix
// their keys (`[tls] cert = ...` sets --tls-cert).
//
// CLI11 2.1 (Debian 12) gives a file's value to an option only when no flag
// set it, but reads the file before the environment, so a file would beat
// KEYCAST_* variables; the formatter therefore leaves out the keys whose
// variable is set, and the documented order holds: flag > environment > file.
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "cli/commands.h"

namespace keycast::cli {
namespace {

constexpr const char* kConfigHelp =
    "TOML file for `server`, `dev` or `agent`; its keys are their options' names";

std::string Flag(std::string key) {
  for (auto& c : key)
    if (c == '_') c = '-';
  return "--" + key;
}

// Subcommands that take a config file, with the variable that names one.
std::map<const CLI::App*, std::string>& ConfigCommands() {
  static std::map<const CLI::App*, std::string> m;
  return m;
}

bool EnvSet(const std::string& name) {
  if (name.empty()) return false;
  const char* v = std::getenv(name.c_str());
  return v && *v;
}

Status Collect(const CLI::App& cmd, const toml::table& t, const std::string& prefix,
               const std::string& origin, std::vector<CLI::ConfigItem>* out) {
  for (auto&& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "-" + std::string(k.str());
    std::string where = origin + ":" + std::to_string(node.source().begin.line);
    if (const toml::table* sub = node.as_table()) {
      KC_RETURN_IF_ERROR(Collect(cmd, *sub, key, origin, out));
      continue;
    }
    std::string flag = Flag(key);
    const CLI::Option* opt = cmd.get_option_no_throw(flag);
    if (!opt || flag == "--config" || flag == "--help" || !opt->get_configurable())
      return InvalidArgument(where + ": unknown option '" + key + "' for `keycast " +
                             cmd.get_name() + "`");
    std::vector<std::string> values;
    if (auto s = node.value_exact<std::string>())
      values.push_back(*s);
    else if (auto b = node.value_exact<bool>())
      values.push_back(*b ? "true" : "false");
    else if (auto i = node.value_exact<int64_t>())
      values.push_back(std::to_string(*i));
    else if (auto d = node.value_exact<double>())
      values.push_back(std::to_string(*d));
    else if (const toml::array* arr = node.as_array()) {
      for (auto&& item : *arr) {
        auto s2 = item.value_exact<std::string>();
        if (!s2) return InvalidArgument(where + ": '" + key + "' must be a list of strings");
        values.push_back(*s2);
      }
      // An option of one value takes the list as "a,b" (--roles).
      if (opt->get_items_expected_max() <= 1) {
        std::string joined;
        for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
        values = {joined};
      }
    } else {
      return InvalidArgument(where + ": unsupported value type for '" + key + "'");
    }
    if (opt->get_expected_min() == 0 && values.size() == 1 && values[0] != "true" &&
        values[0] != "false")
      return InvalidArgument(where + ": '" + key + "' is a flag: give true or false");
    if (EnvSet(opt->get_envname())) continue;  // the environment beats the file
    CLI::ConfigItem item;
    item.name = flag.substr(2);
    item.inputs = std::move(values);
    out->push_back(std::move(item));
  }
  return Status::Ok();
}

// CLI11's formatter interface over ParseConfigText. It applies the file to
// the one subcommand being run, which must be one that takes a config file.
class TomlConfig final : public CLI::Config {
 public:
  TomlConfig(CLI::App* root, CLI::App* target) : root_(root), target_(target) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    CLI::App* cmd = target_;
    std::vector<std::string> parents;
    if (!cmd) {
      auto subs = root_->get_subcommands();
      if (subs.size() != 1 || !ConfigCommands().count(subs[0]))
        throw CLI::ConfigError("--config applies to `keycast server`, `dev` and `agent` only");
      cmd = subs[0];
      parents = {cmd->get_name()};
    }
    std::string origin = "config file";
    if (const CLI::Option* o = root_->get_config_ptr()) {
      auto files = o->as<std::vector<std::string>>();
      if (files.size() == 1) origin = files[0];
    }
    // Read one byte past the bound, so a larger file is refused, not cut.
    std::string text(kMaxConfigBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    auto parsed = ParseConfigText(*cmd, text, origin);
    if (!parsed.ok()) throw CLI::ConfigError(parsed.status().message());
    for (auto& item : *parsed) item.parents = parents;
    return std::move(parsed).value();
  }

 private:
  CLI::App* root_;
  CLI::App* target_;  // null: the subcommand being run
};

}  // namespace

Result<std::vector<CLI::ConfigItem>> ParseConfigText(const CLI::App& command, std::string_view text,
                                                     const std::string& origin) {
  if (text.size() > kMaxConfigBytes)
    return InvalidArgument("config file " + origin + " is larger than " +
                           std::to_string(kMaxConfigBytes) + " bytes");
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
      << e.description();
    return InvalidArgument("config file: " + o.str());
  }
  std::vector<CLI::ConfigItem> items;
  KC_RETURN_IF_ERROR(Collect(command, t, "", origin, &items));
  return items;
}

void EnableConfigFiles(CLI::App& root) {
  root.set_config("--config", "", kConfigHelp)->expected(1);
  root.config_formatter(std::make_shared<TomlConfig>(&root, nullptr));
}

void UseConfigFile(CLI::App& root, CLI::App* command, const std::string& env_name) {
  ConfigCommands()[command] = env_name;
  // `keycast server --config f`: the option belongs to the root command.
  command->fallthrough();
  command->footer("Options may also come from a TOML file: --config FILE or " + env_name +
                  " (keys are the option names; a flag beats the environment, which beats "
                  "the file).");
  // CLI11 reads the file before it reads the environment, so the variable
  // naming the file is looked at here, when this command starts parsing.
  command->preparse_callback([&root, env_name](size_t) {
    const char* env = std::getenv(env_name.c_str());
    CLI::Option* opt = root.get_config_ptr();
    if (env && *env && opt && opt->count() == 0) opt->default_str(env)->required();
  });
}

std::shared_ptr<CLI::Config> ConfigFormatterFor(CLI::App& command) {
  return std::make_shared<TomlConfig>(&command, &command);
}

}  // namespace keycast::cli
