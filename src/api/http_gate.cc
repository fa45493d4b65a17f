#include "api/http_gate.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "keycast/limits.h"

namespace keycast::api {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

// A request in memory as a cpp-httplib stream; the answer goes to *out.
// socket() is INVALID_SOCKET: the library must never touch the connection,
// which belongs to the gate's loop.
class BufferStream final : public httplib::Stream {
 public:
  BufferStream(const GateProtocol::Message& m, std::string* out) : m_(m), out_(out) {}
  bool is_readable() const override { return pos_ < m_.bytes.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, m_.bytes.size() - pos_);
    std::memcpy(ptr, m_.bytes.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_->append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_.peer_ip;
    port = m_.peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = m_.local_ip;
    port = m_.local_port;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  const GateProtocol::Message& m_;
  std::string* out_;
  size_t pos_ = 0;
};

GateProtocol::Frame Reject(int status, const Status& error) {
  GateProtocol::Frame f;
  f.kind = GateProtocol::Frame::kReject;
  f.reply = CannedHttpError(status, error, 0);
  return f;
}

std::string Seconds(int64_t ms) { return std::to_string((ms + 999) / 1000) + " s"; }

}  // namespace

std::string CannedHttpError(int status, const Status& error, int64_t retry_after_seconds) {
  nlohmann::json j = {
      {"error", {{"code", std::string(CodeName(error.code()))}, {"message", error.message()}}}};
  std::string body = j.dump();
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n";
  if (retry_after_seconds > 0)
    out += "Retry-After: " + std::to_string(retry_after_seconds) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

HttpGateProtocol::HttpGateProtocol(HttpRouter* router, LongPollPredicate long_poll,
                                   const ApiServerOptions& o)
    : router_(router), long_poll_(std::move(long_poll)), o_(o) {}

GateProtocol::Frame HttpGateProtocol::Examine(std::string_view b) {
  Frame f;
  size_t end = b.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > limits::kMaxHttpHeadBytes) {
    if (b.size() >= limits::kMaxHttpHeadBytes)
      return Reject(431, ResourceExhausted("the request head is larger than " +
                                           std::to_string(limits::kMaxHttpHeadBytes) + " bytes"));
    return f;  // kNeedHead
  }
  const size_t head_len = end + 4;
  std::string_view head = b.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method = line.substr(0, sp1);
  std::string_view target =
      sp2 == std::string_view::npos ? std::string_view() : line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view path = target.substr(0, target.find('?'));

  std::optional<uint64_t> length;
  for (size_t at = eol; at != std::string_view::npos && at < head.size();) {
    size_t next = head.find("\r\n", at + 2);
    std::string_view h =
        head.substr(at + 2, next == std::string_view::npos ? head.npos : next - at - 2);
    at = next;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = h.substr(0, colon), value = Trim(h.substr(colon + 1));
    if (IEquals(name, "Transfer-Encoding"))
      return Reject(411, InvalidArgument("send the body with a Content-Length; request bodies "
                                         "with Transfer-Encoding are not accepted"));
    if (!IEquals(name, "Content-Length")) continue;
    if (length) return Reject(400, InvalidArgument("more than one Content-Length header"));
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return Reject(400, InvalidArgument("Content-Length is not a number"));
    length = std::stoull(std::string(value));
    if (*length > limits::kMaxRequestBodyBytes)
      return Reject(413,
                    ResourceExhausted("request body larger than " +
                                      std::to_string(limits::kMaxRequestBodyBytes) + " bytes"));
  }
  size_t total = head_len + static_cast<size_t>(length.value_or(0));
  if (b.size() < total) {
    f.kind = Frame::kNeedBody;
    return f;
  }
  f.kind = Frame::kComplete;
  f.length = total;
  f.pool = long_poll_ && long_poll_(method, path) ? kLongPollPool : kRequestPool;
  return f;
}

bool HttpGateProtocol::Handle(const Message& m, std::string* out) {
  BufferStream s(m, out);
  bool closed = false;
  bool ok = router_->ProcessBuffered(s, m.last, closed);
  return ok && !closed;
}

std::string HttpGateProtocol::Refusal(GateRefusal why, size_t pool) {
  switch (why) {
    case GateRefusal::kPeerLimit:
      return CannedHttpError(429,
                             ResourceExhausted("too many connections from your address (at most " +
                                               std::to_string(o_.max_connections_per_ip) + ")"),
                             1);
    case GateRefusal::kCapacity:
      return CannedHttpError(503, Unavailable("the server has too many connections open"), 1);
    case GateRefusal::kHeadTimeout:
      return CannedHttpError(408,
                             DeadlineExceeded("the request head did not arrive within " +
                                              Seconds(o_.header_timeout_ms)),
                             0);
    case GateRefusal::kBodyTimeout:
      return CannedHttpError(
          408,
          DeadlineExceeded("the request body did not arrive within " + Seconds(o_.body_timeout_ms)),
          0);
    case GateRefusal::kPoolFull:
      if (pool == kLongPollPool)
        return CannedHttpError(503,
                               Unavailable("too many long-polls in progress (at most " +
                                           std::to_string(o_.max_long_polls) + "); retry later"),
                               5);
      return CannedHttpError(503, Unavailable("the server is busy"), 1);
  }
  return "";
}

HttpFront::~HttpFront() {
  if (gate_) gate_->Stop();
}

Result<std::unique_ptr<HttpFront>> HttpFront::Create(HttpRouter* router,
                                                     LongPollPredicate long_poll,
                                                     const ApiServerOptions& o) {
  std::unique_ptr<HttpFront> f(new HttpFront());
  GateOptions g;
  g.name = "http";
  std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  g.addr = host + ":" + std::to_string(o.port);
  g.max_connections = o.max_connections;
  g.max_connections_per_peer = o.max_connections_per_ip;
  g.head_timeout_ms = o.header_timeout_ms;
  g.body_timeout_ms = o.body_timeout_ms;
  g.idle_timeout_ms = o.idle_timeout_ms;
  g.write_timeout_ms = o.write_timeout_ms;
  g.max_message_bytes = limits::kMaxHttpHeadBytes + limits::kMaxRequestBodyBytes;
  g.max_requests_per_connection = limits::kMaxHttpRequestsPerConnection;
  g.pools = {GatePool{o.threads, SIZE_MAX}, GatePool{o.max_long_polls, 0}};
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(nullptr, SSL_CTX_free);
  if (!o.tls_cert_file.empty()) {
    ctx.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx.get(), o.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), o.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      ERR_clear_error();
      return InvalidArgument("cannot load TLS certificate " + o.tls_cert_file + " / key " +
                             o.tls_key_file);
    }
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    g.tls = ctx.get();
  }
  f->protocol_ = std::make_unique<HttpGateProtocol>(router, std::move(long_poll), o);
  f->gate_ = std::make_unique<ConnGate>(std::move(g), f->protocol_.get());
  return f;
}

}  // namespace keycast::api
