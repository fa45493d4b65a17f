// Fuzzes the TOML configuration reader: arbitrary text read by Keycast's
// formatter and applied by CLI11 (parse_from_stream) to a command with
// options of each kind must give an ok or a clear error, never a crash.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "cli/commands.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > keycast::cli::kMaxConfigBytes) return 0;
  CLI::App app{"fuzz"};
  std::string s;
  int n = 0;
  bool flag = false;
  std::string roles;
  std::vector<std::string> list;
  app.add_option("--http-addr", s);
  app.add_option("--http-threads", n);
  app.add_flag("--allow-insecure-http", flag);
  app.add_option("--roles", roles);
  app.add_option("--send", list);
  app.config_formatter(keycast::cli::ConfigFormatterFor(app));
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)keycast::cli::ParseConfigText(app, text, "fuzz.toml");
  std::istringstream in(text);
  try {
    app.parse_from_stream(in);
  } catch (const CLI::Error&) {
  }
  return 0;
}
