#include "keycast/model.h"

namespace keycast {

std::string_view KeyDeliveryName(KeyDelivery d) {
  switch (d) {
    case KeyDelivery::kPull: return "pull";
    case KeyDelivery::kPush: return "push";
    case KeyDelivery::kBoth: return "both";
  }
  return "pull";
}

bool ParseKeyDelivery(std::string_view s, KeyDelivery* out) {
  if (s == "pull") { *out = KeyDelivery::kPull; return true; }
  if (s == "push") { *out = KeyDelivery::kPush; return true; }
  if (s == "both") { *out = KeyDelivery::kBoth; return true; }
  return false;
}

}  // namespace keycast
