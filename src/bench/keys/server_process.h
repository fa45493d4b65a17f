// A `keycast server` started as a child process for a benchmark, so its CPU
// can be read from /proc/PID/stat apart from the load generator's, and
// stopped by its PID.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "keycast/status.h"

namespace keycast::bench {

struct ServerProcessOptions {
  std::string binary;    // the keycast executable
  std::string data_dir;  // written by CreateFixture
  std::string roles = "key,ticket,directory";
  int key_port = 0;        // REQUIRED: UDP and TCP on 127.0.0.1
  int http_port = 0;       // REQUIRED: /metrics, /v1/health, tickets
  size_t key_threads = 2;  // UDP workers
  std::string log_file;    // its stdout and stderr
  int start_timeout_ms = 20'000;
};

class ServerProcess {
 public:
  // Starts the server and waits until its HTTP API answers /v1/health (the
  // key service binds before the API starts).
  static Result<std::unique_ptr<ServerProcess>> Start(const ServerProcessOptions& o);
  ~ServerProcess();  // Stop()

  pid_t pid() const { return pid_; }
  std::string key_endpoint() const { return "127.0.0.1:" + std::to_string(key_port_); }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

  // user + system CPU of the whole process (every thread), seconds.
  Result<double> CpuSeconds() const;
  // VmRSS, bytes.
  int64_t RssBytes() const;
  // keycast_key_requests_total by result, from GET /metrics.
  Result<std::map<std::string, uint64_t>> KeyRequestCounters() const;

  // SIGTERM, then SIGKILL after a few seconds; reaps the child. Idempotent.
  Status Stop();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int key_port_ = 0, http_port_ = 0;
  std::string log_file_;
};

// A port on 127.0.0.1 that was free for TCP and UDP a moment ago.
int FreeLoopbackPort();

}  // namespace keycast::bench
