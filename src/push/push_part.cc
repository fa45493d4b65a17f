// Placeholder until multicast push lands: no push part.
#include "keycast/server.h"

namespace keycast {
Result<std::unique_ptr<NodePart>> CreatePushPart(const NodeContext&) { return std::unique_ptr<NodePart>(); }
}  // namespace keycast
