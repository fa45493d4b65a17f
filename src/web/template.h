// The web pages' templates: HTML files under src/web/templates, embedded at
// build time, with two kinds of placeholders:
//
//   {{name}}    the variable, HTML-escaped (text and attribute values)
//   {{{name}}}  the variable as is: only for fragments built with Escape
//
// Names are [a-z0-9_]+. An unknown name or an unterminated placeholder is an
// error (every page is rendered by web_test, so a typo fails the build's tests).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "keycast/status.h"

namespace keycast::web {

using Vars = std::map<std::string, std::string>;

// Escapes & < > " ' for HTML text and quoted attribute values.
std::string Escape(std::string_view s);

Result<std::string> Render(std::string_view tmpl, const Vars& vars);

// An embedded file by its path under src/web ("templates/layout.html",
// "static/style.css"), or nullopt.
std::optional<std::string_view> Asset(std::string_view path);
// Every embedded path, for tests.
std::map<std::string, std::string_view> AllAssets();

}  // namespace keycast::web
