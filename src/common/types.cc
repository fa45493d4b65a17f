#include "keycast/types.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace keycast {

std::string_view RoleName(Role r) { return r == Role::kSender ? "sender" : "receiver"; }

bool ParseRole(std::string_view s, Role* out) {
  if (s == "sender") {
    *out = Role::kSender;
    return true;
  }
  if (s == "receiver") {
    *out = Role::kReceiver;
    return true;
  }
  return false;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
    a.family = Family::kV4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.family = Family::kV6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == Family::kV4)
    inet_ntop(AF_INET, bytes, buf, sizeof buf);
  else if (family == Family::kV6)
    inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

bool IpAddress::IsMulticast() const {
  if (family == Family::kV4) return (bytes[0] & 0xf0) == 0xe0;  // 224.0.0.0/4
  if (family == Family::kV6) return bytes[0] == 0xff;           // ff00::/8
  return false;
}

bool IpAddress::IsUnspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes[i]) return false;
  return true;
}

bool IpAddress::operator==(const IpAddress& o) const {
  return family == o.family && std::memcmp(bytes, o.bytes, size()) == 0;
}

std::optional<Endpoint> Endpoint::Parse(std::string_view text, bool allow_port_zero) {
  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto a = IpAddress::Parse(host);
    if (!a || a->family != IpAddress::Family::kV6) return std::nullopt;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare v6 needs []
  }
  if (host.empty() || host.size() > 253) return std::nullopt;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':';
    if (!ok) return std::nullopt;
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || (p == 0 && !allow_port_zero) ||
      p > 65535)
    return std::nullopt;
  return Endpoint{std::string(host), static_cast<uint16_t>(p)};
}

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace keycast
