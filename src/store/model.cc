#include "keycast/model.h"

#include "keycast/store.h"

namespace keycast {

std::string_view KeyDeliveryName(KeyDelivery d) {
  switch (d) {
    case KeyDelivery::kPull:
      return "pull";
    case KeyDelivery::kPush:
      return "push";
    case KeyDelivery::kBoth:
      return "both";
  }
  return "pull";
}

bool ParseKeyDelivery(std::string_view s, KeyDelivery* out) {
  if (s == "pull") {
    *out = KeyDelivery::kPull;
    return true;
  }
  if (s == "push") {
    *out = KeyDelivery::kPush;
    return true;
  }
  if (s == "both") {
    *out = KeyDelivery::kBoth;
    return true;
  }
  return false;
}

Result<int64_t> Store::LastAuditSeq() {
  // Portable fallback: page through the log. Backends override it.
  int64_t last = 0;
  for (;;) {
    KC_ASSIGN_OR_RETURN(auto page, ReadAudit(last, 10000));
    if (page.empty()) return last;
    last = page.back().seq;
  }
}

}  // namespace keycast
