// Fuzzes the TOML configuration reader: arbitrary text applied to a command
// with options of each kind must give an ok or a clear error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/commands.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > keycast::cli::kMaxConfigBytes) return 0;
  CLI::App app{"fuzz"};
  std::string s;
  int n = 0;
  bool flag = false;
  std::vector<std::string> list;
  app.add_option("--http-addr", s);
  app.add_option("--http-threads", n);
  app.add_flag("--allow-insecure-http", flag);
  app.add_option("--roles", list)->delimiter(',');
  app.add_option("--config");
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)keycast::cli::ApplyConfigText(&app, text, "fuzz.toml");
  return 0;
}
