// The receiver's side of the seed-004 channel, carried in this process (the
// web pages) or over HTTP (the CLI): POST /v1/channel/hello and
// /v1/channel/confirm with application/octet-stream bodies
// (docs/channel.md, "HTTP transport").
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "keycast/reservation.h"

namespace keycast {
namespace {

Result<AgentConfig> Finish(ChannelClient& client, ByteView data_key_message) {
  KC_ASSIGN_OR_RETURN(ChannelDelivery d, client.OnDataKey(data_key_message));
  return reservation::ParseAgentConfig(AsString(d.payload.reveal()));
}

Code CodeFromName(const std::string& name, int http_status) {
  static const std::pair<const char*, Code> kCodes[] = {
      {"invalid_argument", Code::kInvalidArgument},
      {"not_found", Code::kNotFound},
      {"already_exists", Code::kAlreadyExists},
      {"failed_precondition", Code::kFailedPrecondition},
      {"unauthenticated", Code::kUnauthenticated},
      {"permission_denied", Code::kPermissionDenied},
      {"resource_exhausted", Code::kResourceExhausted},
      {"deadline_exceeded", Code::kDeadlineExceeded},
      {"unavailable", Code::kUnavailable},
      {"data_loss", Code::kDataLoss},
      {"internal", Code::kInternal}};
  for (const auto& [n, c] : kCodes)
    if (name == n) return c;
  return http_status >= 500 ? Code::kUnavailable : Code::kInvalidArgument;
}

// POSTs one channel message; the answer is the next message or a JSON error.
Result<Bytes> Post(httplib::Client& http, const std::string& path, const Bytes& body) {
  auto r = http.Post(path, reinterpret_cast<const char*>(body.data()), body.size(),
                     "application/octet-stream");
  if (!r) return Unavailable("POST " + path + ": " + httplib::to_string(r.error()));
  if (r->status == 200) {
    if (r->body.size() > channel::kMaxMessageBytes)
      return InvalidArgument("POST " + path + ": answer too large");
    return ToBytes(r->body);
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    std::string code = j["error"].value("code", "");
    std::string msg = j["error"].value("message", "");
    return Status(CodeFromName(code, r->status), msg);
  }
  return Status(CodeFromName("", r->status),
                "POST " + path + ": HTTP " + std::to_string(r->status));
}

}  // namespace

Result<AgentConfig> RequestAccessInProcess(ChannelServer& server, const std::string& transmission,
                                           const std::string& receiver,
                                           const AccessParameter& param,
                                           const ChannelAuthorizer& authorize) {
  KC_ASSIGN_OR_RETURN(crypto::VerifyKey identity,
                      crypto::VerifyKey::FromBytes(server.identity_public_key()));
  KC_ASSIGN_OR_RETURN(SecretBytes shared, reservation::EncodeAccessParameter(param));
  ChannelClient client(identity);
  KC_ASSIGN_OR_RETURN(Bytes hello, client.Start(transmission + "/" + receiver));
  KC_ASSIGN_OR_RETURN(Bytes session_key, server.HandleHello(hello));
  KC_ASSIGN_OR_RETURN(Bytes confirm, client.OnSessionKey(session_key, shared));
  KC_ASSIGN_OR_RETURN(Bytes data_key, server.HandleConfirm(confirm, authorize));
  return Finish(client, data_key);
}

Result<AgentConfig> RequestAccessOverHttp(const std::string& base_url,
                                          const crypto::VerifyKey& identity,
                                          const std::string& transmission,
                                          const std::string& receiver, const AccessParameter& param,
                                          const std::string& ca_file) {
  KC_ASSIGN_OR_RETURN(SecretBytes shared, reservation::EncodeAccessParameter(param));
  httplib::Client http(base_url);
  http.set_connection_timeout(10, 0);
  http.set_read_timeout(30, 0);  // the authorizer hashes a password and may charge a card
  http.set_write_timeout(10, 0);
  if (!ca_file.empty()) http.set_ca_cert_path(ca_file.c_str());
  ChannelClient client(identity);
  KC_ASSIGN_OR_RETURN(Bytes hello, client.Start(transmission + "/" + receiver));
  KC_ASSIGN_OR_RETURN(Bytes session_key, Post(http, "/v1/channel/hello", hello));
  KC_ASSIGN_OR_RETURN(Bytes confirm, client.OnSessionKey(session_key, shared));
  KC_ASSIGN_OR_RETURN(Bytes data_key, Post(http, "/v1/channel/confirm", confirm));
  return Finish(client, data_key);
}

}  // namespace keycast
