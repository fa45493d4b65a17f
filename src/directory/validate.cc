#include "directory/validate.h"

#include "keycast/directory.h"
#include "keycast/limits.h"

namespace keycast {
namespace {

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    if (n == 1 && c < 0x20 && c != '\t') return false;  // no control characters
    i += n;
  }
  return true;
}

}  // namespace

Status ValidateName(std::string_view kind, std::string_view name) {
  std::string k(kind);
  if (name.empty()) return InvalidArgument(k + " name must not be empty");
  if (name.size() > limits::kMaxNameLength)
    return InvalidArgument(k + " name is longer than " + std::to_string(limits::kMaxNameLength) +
                           " characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0]))
    return InvalidArgument(k + " name '" + std::string(name) +
                           "' must start with a letter or digit");
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return InvalidArgument(k + " name may contain only letters, digits, '.', '_' and '-'");
  }
  return Status::Ok();
}

Status ValidateDescription(std::string_view d) {
  if (d.size() > 1024) return InvalidArgument("description is longer than 1024 bytes");
  if (!ValidUtf8(d)) return InvalidArgument("description is not valid UTF-8 text");
  return Status::Ok();
}

Status ValidatePassword(std::string_view p) {
  if (p.size() < limits::kMinPasswordLength)
    return InvalidArgument("password must be at least " +
                           std::to_string(limits::kMinPasswordLength) + " characters");
  if (p.size() > limits::kMaxPasswordLength)
    return InvalidArgument("password is longer than " + std::to_string(limits::kMaxPasswordLength) +
                           " bytes");
  return Status::Ok();
}

Status ValidateTitle(std::string_view t) {
  if (t.empty()) return InvalidArgument("title must not be empty");
  if (t.size() > limits::kMaxTitleLength)
    return InvalidArgument("title is longer than " + std::to_string(limits::kMaxTitleLength) +
                           " bytes");
  if (!ValidUtf8(t)) return InvalidArgument("title is not valid UTF-8 text");
  return Status::Ok();
}

Status ValidateEvent(const Event& e) {
  KC_RETURN_IF_ERROR(ValidateTitle(e.title));
  if (e.group_address.empty()) return InvalidArgument("group_address is required");
  if (!e.group_address.IsMulticast())
    return InvalidArgument("group_address " + e.group_address.ToString() +
                           " is not a multicast address (224.0.0.0/4 or ff00::/8)");
  if (e.port == 0) return InvalidArgument("port must be 1-65535");
  if (!e.source_address.empty()) {
    if (e.source_address.family != e.group_address.family)
      return InvalidArgument("source_address and group_address must be of the same IP family");
    if (e.source_address.IsMulticast() || e.source_address.IsUnspecified())
      return InvalidArgument("source_address " + e.source_address.ToString() +
                             " must be a unicast address");
  }
  Status st = e.schedule.Validate();
  if (!st.ok()) return InvalidArgument("schedule: " + st.message());
  if (e.interval_seconds < limits::kMinIntervalSeconds ||
      e.interval_seconds > limits::kMaxIntervalSeconds)
    return InvalidArgument("interval_seconds must be " +
                           std::to_string(limits::kMinIntervalSeconds) + "-" +
                           std::to_string(limits::kMaxIntervalSeconds));
  if (e.initial_keying_seconds > limits::kMaxInitialKeyingSeconds)
    return InvalidArgument("initial_keying_seconds must be at most " +
                           std::to_string(limits::kMaxInitialKeyingSeconds));
  if (e.clear_intervals > limits::kMaxClearIntervals)
    return InvalidArgument("clear_intervals must be at most " +
                           std::to_string(limits::kMaxClearIntervals));
  if (e.source_auth && e.delivery != KeyDelivery::kPull)
    return InvalidArgument(
        "source_auth needs delivery pull: pushed keys carry no sender keys to verify with");
  if (e.key_servers.empty()) return InvalidArgument("at least one key server endpoint is required");
  if (e.key_servers.size() > limits::kMaxKeyServersPerEvent)
    return InvalidArgument("at most " + std::to_string(limits::kMaxKeyServersPerEvent) +
                           " key servers per event");
  return Status::Ok();
}

}  // namespace keycast
