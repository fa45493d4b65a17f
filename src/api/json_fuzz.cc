// Fuzzes the strict JSON body reader with arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/json_reader.h"
#include "keycast/limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > keycast::limits::kMaxRequestBodyBytes) return 0;
  std::string body(reinterpret_cast<const char*>(data), size);
  auto j = keycast::api::ParseObject(body);
  if (!j.ok()) return 0;
  keycast::api::ObjectReader r(*j);
  (void)r.Str("name", 64, false);
  (void)r.Int("port", 1, 65535, false);
  (void)r.Bool("enabled", false);
  (void)r.StrList("parents", 64, 64, false);
  (void)r.Raw("schedule", false);
  (void)r.Finish();
  return 0;
}
