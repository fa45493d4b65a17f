#include "web/template.h"

#include <utility>

namespace keycast::web {

extern const std::pair<std::string_view, std::string_view> kAssets[];
extern const size_t kAssetCount;

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<std::string> Render(std::string_view t, const Vars& vars) {
  std::string out;
  out.reserve(t.size() * 2);
  size_t pos = 0;
  while (pos < t.size()) {
    size_t open = t.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(t.substr(pos));
      break;
    }
    out.append(t.substr(pos, open - pos));
    bool raw = open + 2 < t.size() && t[open + 2] == '{';
    size_t name_start = open + (raw ? 3 : 2);
    std::string_view close = raw ? "}}}" : "}}";
    size_t end = t.find(close, name_start);
    if (end == std::string_view::npos)
      return InvalidArgument("template: unterminated placeholder at offset " +
                             std::to_string(open));
    std::string_view name = t.substr(name_start, end - name_start);
    if (name.empty() || name.size() > 64)
      return InvalidArgument("template: bad placeholder name at offset " + std::to_string(open));
    for (char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
        return InvalidArgument("template: bad placeholder name at offset " + std::to_string(open));
    auto it = vars.find(std::string(name));
    if (it == vars.end())
      return InvalidArgument("template: no value for '" + std::string(name) + "'");
    out += raw ? it->second : Escape(it->second);
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string_view> Asset(std::string_view path) {
  for (size_t i = 0; i < kAssetCount; ++i)
    if (kAssets[i].first == path) return kAssets[i].second;
  return std::nullopt;
}

std::map<std::string, std::string_view> AllAssets() {
  std::map<std::string, std::string_view> out;
  for (size_t i = 0; i < kAssetCount; ++i)
    out.emplace(std::string(kAssets[i].first), kAssets[i].second);
  return out;
}

}  // namespace keycast::web
