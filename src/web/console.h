// The operator console at / (issue 9), served by `keycast server` wherever
// the directory role runs: sign-in with an admin token; the group DAG as a
// picture with the events each group grants; clients with enable, disable
// and remove-from-group; events with their schedule, next occurrence,
// current interval, members keyed now and a rekey (seed 003 wake-up)
// button; the audit log, paged; and the key service's request rates by
// result, sampled from the node's metrics (what /metrics serves) and drawn
// as a chart over the last minutes.
//
// Every change goes through ApiServer::Call: the very route handler, with
// its authentication and validation, that `keycast admin` reaches over
// HTTP, with the signed-in operator's admin token. Bad input comes back as
// the API's message next to the form field it names, and nothing is
// written. Sessions are HttpOnly, SameSite=Strict cookies (Secure under
// TLS); every form carries a CSRF token (keycast/web_session.h); a missing
// or forged one is refused with 403 before anything runs; an expired
// session, or a revoked admin token, goes back to sign-in.
//
// Server-rendered HTML with a little JavaScript (the chart refreshes
// itself), no external resources (Content-Security-Policy: default-src
// 'self').
//
// Thread safety: handlers run on the API's threads; Start/Stop from one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "keycast/api_server.h"
#include "keycast/clock.h"
#include "keycast/directory.h"
#include "keycast/store.h"

namespace keycast::web {

struct ConsoleOptions {
  ApiServer* api = nullptr;  // the console's routes are added to it; changes go through Call
  Directory* directory = nullptr;
  Store* store = nullptr;  // the audit log
  const Clock* clock = &SystemClock::Get();
  // Distinct members granted a key of the event at or after `since`; unset
  // when this node runs no key service.
  std::function<size_t(EventId, Micros)> keyed_clients;
  // A member counts as keyed now while its key is valid: granted within the
  // event's interval plus this grace.
  int64_t key_grace_seconds = 2;
  bool secure_cookies = false;     // the Secure attribute (always under TLS)
  bool reservation_pages = false;  // link the sender and receiver pages
  int64_t session_seconds = 8 * 3600;
  int64_t idle_seconds = 30 * 60;
  int64_t sample_seconds = 5;  // how often the chart's counters are read
  int64_t chart_seconds = 600;
  // The counters behind the chart, by result; default: the node's
  // keycast_key_requests_total{result=...}.
  std::function<std::map<std::string, double>()> read_counters;
};

class Console {
 public:
  // Adds the console's routes to options.api. REQUIRES: the API not started.
  explicit Console(ConsoleOptions options);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Samples the request counters every sample_seconds until Stop.
  void Start();
  void Stop();
  // One sample now (tests).
  void Sample();

  struct Impl;  // console.cc's; named here for its route helpers

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace keycast::web
