// TOML configuration files (toml++). Keys are option names with '_' or '-'
// (`http_addr = "0.0.0.0:8200"` sets --http-addr); tables prefix their keys
// (`[tls] cert = ...` sets --tls-cert). Values become the options' defaults,
// so a flag or an environment variable still wins.
#include <toml++/toml.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/commands.h"

namespace keycast::cli {
namespace {

std::string Flag(std::string key) {
  for (auto& c : key)
    if (c == '_') c = '-';
  return "--" + key;
}

Status Apply(CLI::App* cmd, const toml::table& t, const std::string& prefix,
             const std::string& path) {
  for (auto&& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "-" + std::string(k.str());
    auto line = node.source().begin.line;
    std::string where = path + ":" + std::to_string(line);
    if (const toml::table* sub = node.as_table()) {
      KC_RETURN_IF_ERROR(Apply(cmd, *sub, key, path));
      continue;
    }
    CLI::Option* opt = cmd->get_option_no_throw(Flag(key));
    if (!opt || Flag(key) == "--config")
      return InvalidArgument(where + ": unknown option '" + key + "' for `keycast " +
                             cmd->get_name() + "`");
    std::string value;
    if (auto s = node.value<std::string>())
      value = *s;
    else if (auto b = node.value<bool>())
      value = *b ? "true" : "false";
    else if (auto i = node.value<int64_t>())
      value = std::to_string(*i);
    else if (auto d = node.value<double>())
      value = std::to_string(*d);
    else if (const toml::array* arr = node.as_array()) {
      for (auto&& item : *arr) {
        auto s2 = item.value<std::string>();
        if (!s2) return InvalidArgument(where + ": '" + key + "' must be a list of strings");
        value += (value.empty() ? "" : ",") + *s2;
      }
    } else {
      return InvalidArgument(where + ": unsupported value type for '" + key + "'");
    }
    try {
      if (opt->get_type_size() == 0) {  // a flag
        opt->default_str(value);
        if (value == "true") opt->add_result("true");
      } else {
        opt->default_val(value);
      }
    } catch (const CLI::Error& e) {
      return InvalidArgument(where + ": '" + key + "': " + e.what());
    }
  }
  return Status::Ok();
}

}  // namespace

Status ApplyConfigText(CLI::App* command, std::string_view text, const std::string& origin) {
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
  return Apply(command, t, "", origin);
}

Status ApplyConfigFile(CLI::App* command, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read config file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ApplyConfigText(command, text, path);
}

}  // namespace keycast::cli
