// Placeholder until the reservation platform lands.
#include "keycast/server.h"

namespace keycast {
Result<std::unique_ptr<NodePart>> CreateReservationPart(const NodeContext&) {
  return Unavailable("the reservation platform is not built into this keycast yet");
}
}  // namespace keycast
