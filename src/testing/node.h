// Test helper: a whole Keycast node on loopback in a fresh data folder, the
// set-up every in-process end-to-end test starts from.
#pragma once

#include <unistd.h>

#include <string>

#include "keycast/crypto.h"
#include "keycast/server.h"

namespace keycast::testing {

// A data folder name under `base` unique to this process and call.
inline std::string UniqueDir(const std::string& base, const std::string& prefix) {
  return base + "/" + prefix + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(crypto::RandomU64() % 100000);
}

// Every role on 127.0.0.1 with kernel-chosen ports, a new KEK, and the
// cheap password hash cost that only tests may use.
inline NodeConfig LoopbackNodeConfig(const std::string& data_dir, int http_threads = 4) {
  NodeConfig c;
  c.data_dir = data_dir;
  c.http_addr = "127.0.0.1:0";
  c.key_addr = "127.0.0.1:0";
  c.create_kek = true;
  c.password_cost = PasswordCost::kTestOnly;
  c.http_threads = http_threads;
  return c;
}

}  // namespace keycast::testing
