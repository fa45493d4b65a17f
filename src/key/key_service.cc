// Transport of the key service: UDP workers on one port (SO_REUSEPORT, so
// the kernel spreads clients over threads; recvmmsg/sendmmsg batches) and a
// TCP listener for answers that do not fit a datagram (4-byte length prefix).
#include "keycast/key_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keycast/limits.h"
#include "keycast/metrics.h"

namespace keycast {
namespace {

constexpr int kBatch = 32;
constexpr size_t kMaxDatagram = 2048;  // requests above limits::kMaxUdpRequestBytes are dropped
constexpr int kMaxTcpConnections = 64;

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

uint16_t PortOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void SetPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
}

bool ReadFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

KeyService::KeyService(const Directory* directory, const ServiceKeys* keys, Store* store,
                       const Sealer* sealer, const Clock* clock, KeyServiceOptions options)
    : options_(options), engine_(new KeyEngine(directory, keys, store, sealer, clock, options)) {}

KeyService::~KeyService() { Stop(); }

Status KeyService::Start() {
  socklen_t len = 0;
  KC_ASSIGN_OR_RETURN(sockaddr_storage addr, Resolve(options_.addr, &len));
  int one = 1;
  // TCP first: with port 0 it picks the port the UDP sockets then share.
  tcp_fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (tcp_fd_ < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(tcp_fd_, 128) != 0) {
    std::string err = std::strerror(errno);
    Stop();
    return Unavailable("cannot bind key service TCP " + options_.addr + ": " + err);
  }
  uint16_t port = PortOf(tcp_fd_);
  SetPort(&addr, port);
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
  auto ep = Endpoint::Parse(options_.addr, true);
  endpoint_ = Endpoint{ep->host, port}.ToString();
  stop_ = false;
  for (int fd : udp_fds_) threads_.emplace_back([this, fd] { UdpLoop(fd); });
  threads_.emplace_back([this] { TcpAcceptLoop(); });
  spdlog::info("key service listening on {} (UDP x{}, TCP)", endpoint_, udp_fds_.size());
  return Status::Ok();
}

void KeyService::Stop() {
  stop_ = true;
  if (tcp_fd_ >= 0) ::shutdown(tcp_fd_, SHUT_RDWR);
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (int fd : udp_fds_) ::close(fd);
  udp_fds_.clear();
  if (tcp_fd_ >= 0) ::close(tcp_fd_);
  tcp_fd_ = -1;
  while (tcp_active_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

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
        static Counter& big = Metrics::Global().GetCounter(
            "keycast_key_requests_total", "Key requests by result.", "result=\"oversized\"");
        big.Inc();
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

void KeyService::TcpAcceptLoop() {
  while (!stop_) {
    pollfd p{tcp_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    if (tcp_active_.load() >= kMaxTcpConnections) {
      ::close(c);
      continue;
    }
    timeval tv{5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    tcp_active_.fetch_add(1);
    std::thread([this, c] {
      TcpConnection(c);
      ::close(c);
      tcp_active_.fetch_sub(1);
    }).detach();
  }
}

void KeyService::TcpConnection(int fd) {
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len);
  // Wakeups go over UDP; a TCP peer address is not one an agent listens on.
  for (int i = 0; i < 16 && !stop_; ++i) {
    uint8_t hdr[4];
    if (!ReadFull(fd, hdr, 4)) return;
    uint32_t n = LoadBe32(hdr);
    if (n == 0 || n > limits::kMaxTcpMessageBytes) return;
    Bytes req(n);
    if (!ReadFull(fd, req.data(), n)) return;
    Bytes reply = engine_->Handle(req, peer, 0, true);
    if (reply.empty()) return;  // unauthenticated: close without a word
    uint8_t out[4];
    StoreBe32(out, static_cast<uint32_t>(reply.size()));
    if (!WriteFull(fd, out, 4) || !WriteFull(fd, reply.data(), reply.size())) return;
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
