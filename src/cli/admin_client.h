// The admin API over HTTP(S), for `keycast admin`: one request per call, the
// server's {"error":{"code","message"}} turned back into a Status with the
// same Code (docs/api.md), so the command exits as cli::Fail maps it.
//
// Security: the admin token travels only in the Authorization header; it is
// never printed, logged or put into an error message.
//
// Header-only: the keycast executable is built from the *_cmd.cc files
// (src/cli/CMakeLists.txt) and the admin commands are its only users.
//
// Thread safety: an AdminClient is used from one thread.
#pragma once

#include <httplib.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "keycast/status.h"

namespace keycast::cli {

struct AdminEndpoint {
  std::string addr;     // http://host:port or https://host:port
  std::string token;    // kct_...; empty sends no Authorization header
  std::string ca_file;  // CA certificate for https (default: the system's)
  int timeout_seconds = 30;
};

// Percent-encodes a path segment or query value; RFC 3986 unreserved
// characters stay as they are.
inline std::string EncodeComponent(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The Code whose API name (CodeName) is `name`, or nullopt.
inline std::optional<Code> CodeFromName(std::string_view name) {
  for (Code c :
       {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists, Code::kFailedPrecondition,
        Code::kUnauthenticated, Code::kPermissionDenied, Code::kResourceExhausted,
        Code::kDeadlineExceeded, Code::kUnavailable, Code::kDataLoss, Code::kInternal})
    if (CodeName(c) == name) return c;
  return std::nullopt;
}

// The Code for an HTTP status when the body names none (api::HttpStatusFor
// in reverse).
inline Code CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 409:
      return Code::kFailedPrecondition;
    case 413:
    case 429:
      return Code::kResourceExhausted;
    case 503:
      return Code::kUnavailable;
    case 504:
      return Code::kDeadlineExceeded;
    default:
      return status >= 500 ? Code::kInternal : Code::kInvalidArgument;
  }
}

class AdminClient {
 public:
  // Checks the address; connects lazily on the first request.
  static Result<AdminClient> Connect(const AdminEndpoint& e) {
    std::string addr = e.addr;
    while (!addr.empty() && addr.back() == '/') addr.pop_back();
    bool tls = addr.rfind("https://", 0) == 0;
    if (!tls && addr.rfind("http://", 0) != 0)
      return InvalidArgument("--addr '" + e.addr + "' must start with http:// or https://");
    std::string hostport = addr.substr(tls ? 8 : 7);
    std::string host = hostport;
    size_t colon = hostport.rfind(':');
    if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
      host = hostport.substr(0, colon);
      std::string port = hostport.substr(colon + 1);
      char* end = nullptr;
      long p = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || p < 1 || p > 65535)
        return InvalidArgument("--addr '" + e.addr + "': port must be 1-65535");
    }
    if (host.empty() || host == "[]" || hostport.find_first_of("/?#@ ") != std::string::npos)
      return InvalidArgument("--addr '" + e.addr + "' is not a URL like http://127.0.0.1:8200");
    bool loopback = host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
    if (!tls && !loopback && !e.token.empty())
      std::fprintf(stderr, "keycast: warning: sending the admin token over plain HTTP to %s\n",
                   host.c_str());
    AdminClient c;
    c.addr_ = addr;
    c.token_ = e.token;
    c.http_ = std::make_unique<httplib::Client>(addr);
    if (!c.http_->is_valid()) return InvalidArgument("--addr '" + e.addr + "' is not usable");
    c.http_->set_connection_timeout(e.timeout_seconds, 0);
    c.http_->set_read_timeout(e.timeout_seconds, 0);
    c.http_->set_write_timeout(e.timeout_seconds, 0);
    if (!e.ca_file.empty()) c.http_->set_ca_cert_path(e.ca_file.c_str());
    return c;
  }

  // Each returns the reply's JSON (null for 204 No Content) or the server's
  // error. REQUIRES: path starts with '/', segments already encoded.
  Result<nlohmann::json> Get(const std::string& path) { return Send("GET", path, nullptr); }
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body) {
    return Send("POST", path, &body);
  }
  Result<nlohmann::json> Patch(const std::string& path, const nlohmann::json& body) {
    return Send("PATCH", path, &body);
  }
  Result<nlohmann::json> Delete(const std::string& path) { return Send("DELETE", path, nullptr); }

 private:
  AdminClient() = default;

  Result<nlohmann::json> Send(const char* method, const std::string& path,
                              const nlohmann::json* body) {
    httplib::Headers h;
    if (!token_.empty()) h.emplace("Authorization", "Bearer " + token_);
    std::string text = body ? body->dump() : "";
    httplib::Result r{nullptr, httplib::Error::Unknown};
    std::string m = method;
    if (m == "GET")
      r = http_->Get(path, h);
    else if (m == "POST")
      r = http_->Post(path, h, text, "application/json");
    else if (m == "PATCH")
      r = http_->Patch(path, h, text, "application/json");
    else
      r = http_->Delete(path, h);
    if (!r)
      return Unavailable("cannot reach " + addr_ + ": " + httplib::to_string(r.error()) + " error");
    if (r->status == 204) return nlohmann::json(nullptr);
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status >= 200 && r->status < 300) {
      if (j.is_discarded())
        return Unavailable(m + " " + path + ": the server's answer is not JSON");
      return j;
    }
    Code code = CodeForHttpStatus(r->status);
    std::string name(CodeName(code)), message = "HTTP " + std::to_string(r->status);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
      const auto& e = j["error"];
      if (e.contains("code") && e["code"].is_string()) {
        name = e["code"].get<std::string>();
        if (auto c = CodeFromName(name)) code = *c;
      }
      if (e.contains("message") && e["message"].is_string())
        message = e["message"].get<std::string>();
    }
    return Status(code, name + ": " + message);
  }

  std::string addr_;
  std::string token_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace keycast::cli
