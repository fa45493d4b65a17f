// Validation of directory input. Every check returns InvalidArgument with a
// message naming the field and the rule it broke.
#pragma once

#include <string_view>

#include "keycast/model.h"
#include "keycast/status.h"

namespace keycast {

Status ValidateDescription(std::string_view d);
Status ValidatePassword(std::string_view p);
Status ValidateTitle(std::string_view t);
// Addresses, port, schedule, interval, keying period, key servers.
Status ValidateEvent(const Event& e);

}  // namespace keycast
