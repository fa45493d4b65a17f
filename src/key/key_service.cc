// Transport of the key service: UDP workers on one port (SO_REUSEPORT, so
// the kernel spreads clients over threads; recvmmsg/sendmmsg batches) and a
// TCP listener for answers that do not fit a datagram (4-byte length
// prefix), behind a ConnGate that bounds what TCP clients can hold.
#include "keycast/key_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keycast/conn_gate.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"

namespace keycast {
namespace {

constexpr int kBatch = 32;
constexpr size_t kMaxDatagram = 2048;  // requests above limits::kMaxUdpRequestBytes are dropped

Counter& Oversized() {
  static Counter& c = Metrics::Global().GetCounter(
      "keycast_key_requests_total", "Key requests by result.", "result=\"oversized\"");
  return c;
}

Result<sockaddr_storage> Resolve(const std::string& addr, socklen_t* len) {
  auto ep = Endpoint::Parse(addr, true);
  if (!ep) return InvalidArgument("'" + addr + "' is not host:port");
  sockaddr_storage ss{};
  auto ip = IpAddress::Parse(ep->host == "localhost" ? "127.0.0.1" : ep->host);
  if (!ip) return InvalidArgument("key service address must be an IP literal: " + addr);
  if (ip->family == IpAddress::Family::kV4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(ep->port);
    std::memcpy(&a->sin_addr, ip->bytes, 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(ep->port);
    std::memcpy(&a->sin6_addr, ip->bytes, 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

void SetPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
}

// Frames over TCP: a 4-byte big-endian length, then the message. A frame
// must arrive whole within the frame deadline; a length of 0 or above
// limits::kMaxTcpMessageBytes closes the connection, as does a request that
// does not authenticate (no bytes back, as over UDP).
class KeyTcpProtocol final : public GateProtocol {
 public:
  explicit KeyTcpProtocol(KeyEngine* engine) : engine_(engine) {}

  Frame Examine(std::string_view b) override {
    Frame f;
    if (b.size() < 4) return f;
    uint32_t n = LoadBe32(reinterpret_cast<const uint8_t*>(b.data()));
    if (n == 0 || n > limits::kMaxTcpMessageBytes) {
      Oversized().Inc();
      f.kind = Frame::kReject;
      return f;
    }
    if (b.size() - 4 < n) return f;  // the frame deadline covers the whole frame
    f.kind = Frame::kComplete;
    f.length = 4 + size_t{n};
    return f;
  }

  bool Handle(const Message& m, std::string* out) override {
    ByteView req(reinterpret_cast<const uint8_t*>(m.bytes.data()) + 4, m.bytes.size() - 4);
    // Wakeups go over UDP; a TCP peer address is not one an agent listens on.
    Bytes reply = engine_->Handle(req, *m.peer, 0, true);
    if (reply.empty()) return false;  // unauthenticated: close without a word
    uint8_t len[4];
    StoreBe32(len, static_cast<uint32_t>(reply.size()));
    out->append(reinterpret_cast<const char*>(len), 4);
    out->append(reinterpret_cast<const char*>(reply.data()), reply.size());
    return true;
  }

  std::string Refusal(GateRefusal, size_t) override { return ""; }

 private:
  KeyEngine* engine_;
};

}  // namespace

KeyService::KeyService(const Directory* directory, const ServiceKeys* keys, Store* store,
                       const Sealer* sealer, const Clock* clock, KeyServiceOptions options)
    : options_(options), engine_(new KeyEngine(directory, keys, store, sealer, clock, options)) {}

KeyService::~KeyService() { Stop(); }

Status KeyService::Start() {
  socklen_t len = 0;
  KC_ASSIGN_OR_RETURN(sockaddr_storage addr, Resolve(options_.addr, &len));
  auto ep = Endpoint::Parse(options_.addr, true);
  std::string host = ep->host == "localhost" ? "127.0.0.1" : ep->host;
  // TCP first: with port 0 it picks the port the UDP sockets then share.
  GateOptions g;
  g.name = "key_tcp";
  g.addr = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(ep->port);
  g.max_connections = options_.tcp_max_connections;
  g.max_connections_per_peer = options_.tcp_max_connections_per_ip;
  g.head_timeout_ms = options_.tcp_frame_timeout_ms;
  g.body_timeout_ms = options_.tcp_frame_timeout_ms;
  g.idle_timeout_ms = options_.tcp_idle_timeout_ms;
  g.write_timeout_ms = options_.tcp_frame_timeout_ms;
  g.max_message_bytes = 4 + limits::kMaxTcpMessageBytes;
  g.max_requests_per_connection = limits::kMaxKeyTcpRequestsPerConnection;
  g.pools = {GatePool{std::max<size_t>(options_.tcp_threads, 1), SIZE_MAX}};
  tcp_protocol_ = std::make_unique<KeyTcpProtocol>(engine_.get());
  tcp_ = std::make_unique<ConnGate>(std::move(g), tcp_protocol_.get());
  if (Status st = tcp_->Start(); !st.ok()) {
    tcp_.reset();
    return Unavailable("cannot bind key service TCP " + options_.addr + ": " + st.message());
  }
  uint16_t port = static_cast<uint16_t>(tcp_->port());
  SetPort(&addr, port);
  int one = 1;
  for (size_t i = 0; i < std::max<size_t>(options_.threads, 1); ++i) {
    int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    timeval tv{0, 200000};  // wake up to notice Stop
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      Stop();
      return Unavailable("cannot bind key service UDP " + options_.addr + ": " + err);
    }
    udp_fds_.push_back(fd);
  }
  endpoint_ = Endpoint{ep->host, port}.ToString();
  stop_ = false;
  for (int fd : udp_fds_) threads_.emplace_back([this, fd] { UdpLoop(fd); });
  spdlog::info("key service listening on {} (UDP x{}, TCP)", endpoint_, udp_fds_.size());
  return Status::Ok();
}

void KeyService::Stop() {
  stop_ = true;
  if (tcp_) tcp_->Stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (int fd : udp_fds_) ::close(fd);
  udp_fds_.clear();
}

size_t KeyService::tcp_connections() const { return tcp_ ? tcp_->open_connections() : 0; }

std::string KeyService::endpoint() const { return endpoint_; }

void KeyService::UdpLoop(int fd) {
  std::vector<std::array<uint8_t, kMaxDatagram>> bufs(kBatch);
  mmsghdr in[kBatch], out[kBatch];
  iovec in_iov[kBatch], out_iov[kBatch];
  sockaddr_storage from[kBatch];
  std::vector<Bytes> replies(kBatch);
  while (!stop_) {
    for (int i = 0; i < kBatch; ++i) {
      in_iov[i] = {bufs[i].data(), bufs[i].size()};
      in[i] = {};
      in[i].msg_hdr.msg_iov = &in_iov[i];
      in[i].msg_hdr.msg_iovlen = 1;
      in[i].msg_hdr.msg_name = &from[i];
      in[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    int n = ::recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;  // timeout (to check stop_) or transient error
    int k = 0;
    for (int i = 0; i < n; ++i) {
      size_t len = in[i].msg_len;
      if (len > limits::kMaxUdpRequestBytes || (in[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        Oversized().Inc();
        continue;
      }
      replies[k] =
          engine_->Handle(ByteView(bufs[i].data(), len), from[i], in[i].msg_hdr.msg_namelen, false);
      if (replies[k].empty()) continue;
      out_iov[k] = {replies[k].data(), replies[k].size()};
      out[k] = {};
      out[k].msg_hdr.msg_iov = &out_iov[k];
      out[k].msg_hdr.msg_iovlen = 1;
      out[k].msg_hdr.msg_name = &from[i];
      out[k].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
      ++k;
    }
    for (int sent = 0; sent < k;) {
      int r = ::sendmmsg(fd, out + sent, static_cast<unsigned>(k - sent), 0);
      if (r <= 0) break;
      sent += r;
    }
  }
}

size_t KeyService::TriggerRekey(EventId event) {
  auto wakeups = engine_->MakeWakeups(event);
  size_t sent = 0;
  if (udp_fds_.empty()) return 0;
  for (auto& w : wakeups) {
    if (::sendto(udp_fds_[0], w.message.data(), w.message.size(), 0,
                 reinterpret_cast<sockaddr*>(&w.to),
                 w.to_len) == static_cast<ssize_t>(w.message.size()))
      ++sent;
  }
  return sent;
}

}  // namespace keycast
