// A Keycast node: the roles an operator chose, wired to one store.
//
//   directory  admin API over the directory (seed 001's gateway API)
//   ticket     ticket endpoints for clients
//   key        the key service (UDP + TCP), docs/key-protocol.md, and its
//              multicast rekey push
//   reservation  the reservation platform and its web pages
//
// `keycast server` runs a Node from configuration; `keycast dev` runs one
// with every role on loopback. Applications may embed a Node too.
//
// Thread safety: Start and Stop from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keycast/api_server.h"
#include "keycast/directory.h"
#include "keycast/limits.h"
#include "keycast/password.h"
#include "keycast/seal.h"
#include "keycast/service_keys.h"
#include "keycast/status.h"
#include "keycast/store.h"
#include "keycast/ticket_service.h"

namespace keycast {

struct NodeConfig {
  std::string data_dir = "keycast-data";
  std::string
      database;  // SQLite path or PostgreSQL URI (OpenStore); default: <data_dir>/keycast.db
  std::string kek_file;  // default: <data_dir>/kek; KEYCAST_KEK (hex) wins
  std::vector<std::string> roles = {"directory", "ticket", "key"};
  std::string http_addr = "127.0.0.1:8200";
  std::string tls_cert, tls_key;
  bool allow_insecure_http = false;
  size_t http_threads = limits::kDefaultHttpThreads;  // request pool
  // Limits of the HTTP front and of the key service's TCP side, each an
  // option of `keycast server` (docs/limits.md).
  size_t http_max_connections = limits::kDefaultHttpMaxConnections;
  size_t http_max_connections_per_ip = limits::kDefaultHttpMaxConnectionsPerIp;
  int64_t http_header_timeout_ms = limits::kDefaultHttpHeaderTimeoutMs;
  int64_t http_body_timeout_ms = limits::kDefaultHttpBodyTimeoutMs;
  int64_t http_idle_timeout_ms = limits::kDefaultHttpIdleTimeoutMs;
  int64_t http_write_timeout_ms = limits::kDefaultHttpWriteTimeoutMs;
  size_t http_max_long_polls = limits::kDefaultHttpMaxLongPolls;
  std::string key_addr = "127.0.0.1:7400";  // key service, UDP and TCP
  std::string key_advertise;                // default key server for new events; default key_addr
  size_t key_threads = 2;
  size_t key_tcp_threads = limits::kDefaultKeyTcpThreads;
  size_t key_tcp_max_connections = limits::kDefaultKeyTcpMaxConnections;
  size_t key_tcp_max_connections_per_ip = limits::kDefaultKeyTcpMaxConnectionsPerIp;
  int64_t key_tcp_frame_timeout_ms = limits::kDefaultKeyTcpFrameTimeoutMs;
  int64_t key_tcp_idle_timeout_ms = limits::kDefaultKeyTcpIdleTimeoutMs;
  int64_t ticket_lifetime_seconds = 8 * 3600;
  int64_t clock_skew_seconds = 30;
  int64_t key_grace_seconds = 2;
  PasswordCost password_cost = PasswordCost::kInteractive;
  bool create_kek = false;  // create the KEK file when missing (dev, init)
  // How often to look for changes other processes made to the shared store
  // (directory, service keys); 0 disables. Revocations made elsewhere reach
  // this node's key service within this delay.
  int64_t refresh_ms = 1000;
  // Multicast rekey push (docs/push.md), for events whose delivery is push
  // or both. Empty push_group: each event's own group, port + 1.
  std::string
      push_interface;  // IPv4 address or interface name to send on; default: the routing table's
  std::string push_group;  // "address:port", one control group for every event
  int push_ttl = 16;
  uint64_t push_rate_bytes_per_second = 12'500'000;  // pacing of large rekey messages (100 Mbit/s)
};

class KeyService;

// A part of a node beyond the built-in roles (multicast push, reservations).
class NodePart {
 public:
  virtual ~NodePart() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
};

// What a part is built from. Pointers are null for roles the node does not run.
struct NodeContext {
  const NodeConfig* config = nullptr;
  Store* store = nullptr;
  const Sealer* sealer = nullptr;
  Directory* directory = nullptr;
  ServiceKeys* keys = nullptr;
  TicketService* tickets = nullptr;
  KeyService* key_service = nullptr;
  ApiServer* api = nullptr;  // add routes before Start
};

// Multicast rekey push (docs/push.md); runs beside the key service. May
// return nullptr when there is nothing to run.
Result<std::unique_ptr<NodePart>> CreatePushPart(const NodeContext& ctx);
// The reservation platform and its web pages (role "reservation").
Result<std::unique_ptr<NodePart>> CreateReservationPart(const NodeContext& ctx);

// What a node's change follower did (PostgreSQL stores: LISTEN/NOTIFY,
// docs/cluster.md). Also exported as keycast_follow_* metrics.
struct FollowStats {
  std::atomic<uint64_t> notifications{0};  // NOTIFY payloads received
  std::atomic<uint64_t> malformed{0};      // payloads that were not an audit sequence number
  std::atomic<uint64_t> reconnects{0};     // LISTEN connections made again after a loss
  std::atomic<uint64_t> catchups{0};       // audit-log catch-ups that read records
  std::atomic<uint64_t> reloads{0};        // of which reloaded the directory whole
  std::atomic<bool> listening{false};      // the LISTEN connection is up
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Create(const NodeConfig& config);
  ~Node();

  Status Start();
  void Stop();

  // For dev mode and tests.
  Directory* directory() { return directory_.get(); }
  ServiceKeys* service_keys() { return keys_.get(); }
  Store* store() { return store_.get(); }
  ApiServer* api() { return api_.get(); }  // null without the directory and ticket roles
  std::string http_url() const;
  std::string key_endpoint() const;  // host:port actually bound
  bool has_role(const std::string& role) const;
  const FollowStats& follow_stats() const { return follow_; }

 private:
  Node() = default;
  NodeConfig config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<KeyService> key_service_;
  std::vector<std::unique_ptr<NodePart>> parts_;
  std::thread refresher_;
  std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool stopping_ = false;
  // LISTEN for other processes' commits (PostgreSQL only).
  void Follow();
  void CatchUp(const char* why, bool* pending);
  bool SleepUnlessStopping(int64_t ms);  // false when stopping
  std::thread follower_;
  FollowStats follow_;
};

// Loads the KEK: KEYCAST_KEK (64 hex chars) if set, else the file (created
// when `create` and missing).
Result<Sealer> LoadKek(const std::string& path, bool create);

}  // namespace keycast
