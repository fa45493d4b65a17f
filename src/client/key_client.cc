// KeyClient: the key protocol from the client's side.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "keycast/client.h"
#include "keycast/crypto.h"
#include "keycast/limits.h"

namespace keycast {
namespace {

Micros WallNow() { return SystemClock::Get().Now(); }

Result<std::pair<sockaddr_storage, socklen_t>> ResolveEndpoint(const Endpoint& ep) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res)
    return Unavailable("cannot resolve key server " + ep.ToString() + ": " + gai_strerror(rc));
  std::pair<sockaddr_storage, socklen_t> out{};
  std::memcpy(&out.first, res->ai_addr, res->ai_addrlen);
  out.second = res->ai_addrlen;
  freeaddrinfo(res);
  return out;
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

}  // namespace

KeyClient::KeyClient(const ClientSession& session, Options options)
    : session_(session),
      keys_(keyproto::SessionKeys::Derive(session.session_key, session.ticket.id)),
      options_(options),
      rng_(crypto::RandomU64()) {}

KeyClient::~KeyClient() {
  if (fd_ >= 0) ::close(fd_);
}

keyproto::Request KeyClient::Build(const TicketEvent& event, keyproto::RequestKind kind,
                                   Epoch epoch, SenderId sender, uint64_t server_nonce) {
  keyproto::Request q;
  q.credential = session_.ticket.credential;
  crypto::RandomFill(q.client_nonce);
  q.timestamp = WallNow() + clock_offset_;
  q.server_nonce = server_nonce;
  q.event = event.id;
  q.kind = kind;
  q.epoch = epoch;
  q.sender = sender;
  return q;
}

Result<keyproto::Reply> KeyClient::Request(const TicketEvent& event, keyproto::RequestKind kind,
                                           Epoch epoch, SenderId sender, uint64_t server_nonce,
                                           const std::vector<SenderId>& signer_hints) {
  std::string tried;
  for (const Endpoint& server : event.key_servers) {
    keyproto::Request q = Build(event, kind, epoch, sender, server_nonce);
    q.signer_hints = signer_hints;
    Micros sent_at = WallNow();
    auto rep = ExchangeUdp(server, keyproto::EncodeRequest(q, keys_), q.client_nonce);
    if (!rep.ok()) {
      tried +=
          (tried.empty() ? "" : ", ") + server.ToString() + " (" + rep.status().message() + ")";
      continue;
    }
    if (rep->status == keyproto::ReplyStatus::kUseTcp) {
      keyproto::Request tq = Build(event, kind, epoch, sender, server_nonce);
      tq.signer_hints = signer_hints;
      auto tcp = ExchangeTcp(server, keyproto::EncodeRequest(tq, keys_));
      if (!tcp.ok()) {
        tried += (tried.empty() ? "" : ", ") + server.ToString() + " TCP (" +
                 tcp.status().message() + ")";
        continue;
      }
      rep = keyproto::OpenReply(*tcp, keys_, tq.client_nonce);
      if (!rep.ok()) return rep.status();
    }
    Micros received_at = WallNow();
    clock_offset_ = rep->server_time - (sent_at + received_at) / 2;
    return rep;
  }
  return Unavailable("no key server answered: " + tried);
}

Result<keyproto::Reply> KeyClient::ExchangeUdp(const Endpoint& server, const Bytes& first_request,
                                               const keyproto::Nonce& first_nonce) {
  KC_ASSIGN_OR_RETURN(auto addr, ResolveEndpoint(server));
  if (fd_ < 0 || family_ != addr.first.ss_family) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(addr.first.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Internal(std::string("socket: ") + std::strerror(errno));
    family_ = addr.first.ss_family;
  }
  std::vector<keyproto::Nonce> nonces = {first_nonce};
  Bytes request = first_request;
  int timeout = options_.initial_timeout_ms;
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  for (int attempt = 0; attempt < options_.attempts_per_server; ++attempt) {
    if (attempt > 0) {
      // A fresh request each time: the server's replay cache would drop a
      // copy of one whose answer was lost.
      keyproto::ParsedRequest p = std::move(keyproto::ParseRequest(first_request)).value();
      p.request.timestamp = WallNow() + clock_offset_;
      crypto::RandomFill(p.request.client_nonce);
      nonces.push_back(p.request.client_nonce);
      request = keyproto::EncodeRequest(p.request, keys_);
    }
    if (::sendto(fd_, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&addr.first),
                 addr.second) < 0)
      return Unavailable(std::string("send: ") + std::strerror(errno));
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int>(timeout * jitter(rng_)));
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      uint8_t buf[keyproto::kMaxMessageBytes];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      ByteView msg(buf, static_cast<size_t>(n));
      auto type = keyproto::PeekType(msg);
      if (type == keyproto::MessageType::kWakeup) {
        auto w = keyproto::ParseWakeup(msg);
        if (w.ok() && w->ticket_id == session_.ticket.id && keyproto::VerifyWakeup(msg, keys_))
          pending_wakeups_.push_back(*w);
        continue;
      }
      if (type != keyproto::MessageType::kReply ||
          msg.size() < keyproto::kHeaderSize + keyproto::kNonceSize)
        continue;
      // Any attempt of this exchange may be the one answered.
      for (const auto& nonce : nonces) {
        if (!std::equal(nonce.begin(), nonce.end(), buf + keyproto::kHeaderSize)) continue;
        auto rep = keyproto::OpenReply(msg, keys_, nonce);
        if (rep.ok()) return rep;
      }
    }
    timeout = std::min(timeout * 2, options_.max_timeout_ms);
  }
  return DeadlineExceeded("no answer after " + std::to_string(options_.attempts_per_server) +
                          " tries");
}

Result<Bytes> KeyClient::ExchangeTcp(const Endpoint& server, const Bytes& request) {
  KC_ASSIGN_OR_RETURN(auto addr, ResolveEndpoint(server));
  int fd = ::socket(addr.first.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  timeval tv{options_.max_timeout_ms / 1000 + 1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr.first), addr.second) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Unavailable("connect: " + err);
  }
  Bytes framed(4);
  StoreBe32(framed.data(), static_cast<uint32_t>(request.size()));
  framed.insert(framed.end(), request.begin(), request.end());
  bool ok =
      ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(framed.size());
  uint8_t hdr[4];
  Bytes reply;
  if (ok && ReadFull(fd, hdr, 4)) {
    uint32_t n = LoadBe32(hdr);
    if (n > 0 && n <= keyproto::kMaxMessageBytes) {
      reply.resize(n);
      if (!ReadFull(fd, reply.data(), n)) reply.clear();
    }
  }
  ::close(fd);
  if (reply.empty()) return Unavailable("no TCP answer");
  return reply;
}

std::optional<keyproto::Wakeup> KeyClient::WaitForWakeup(int timeout_ms) {
  if (!pending_wakeups_.empty()) {
    auto w = pending_wakeups_.front();
    pending_wakeups_.erase(pending_wakeups_.begin());
    return w;
  }
  if (fd_ < 0) {
    if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return std::nullopt;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  uint8_t buf[512];
  ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) return std::nullopt;
  ByteView msg(buf, static_cast<size_t>(n));
  if (keyproto::PeekType(msg) != keyproto::MessageType::kWakeup)
    return std::nullopt;  // a late reply
  auto w = keyproto::ParseWakeup(msg);
  // A wakeup that does not authenticate is ignored: it must not make the
  // agent flood the key service.
  if (!w.ok() || w->ticket_id != session_.ticket.id || !keyproto::VerifyWakeup(msg, keys_))
    return std::nullopt;
  return *w;
}

}  // namespace keycast
