// The security agent daemon, `keycast agent` (seed 001 Figs. 12-13): it
// logs in, joins events of its ticket with one client Agent each (which
// fetches keys on schedule, docs/key-protocol.md), installs every SA into a
// DataPlane, adds each event's SPD policies, and moves datagrams:
//
//   relay        send:    plaintext UDP on a local port -> Protect -> the
//                         event's group:wire-port (TTL, loop, interface)
//                receive: join the group (source-specific when the event
//                         names a source) -> Open -> plaintext UDP to a
//                         local port
//   transparent  a TUN interface the event groups are routed through: IP
//                packets an application sends to a group -> ProtectIpPacket
//                -> the wire; protected datagrams from the wire -> Open ->
//                the reconstructed IP/UDP packet written into the TUN, so the
//                application receives it as if nothing were between.
//
// Protected traffic travels to group:(port + wire_port_offset). In relay
// mode the offset is 0 by default (the event's own group:port). In
// transparent mode it is 1 by default: an application on a receiving host
// listens on the event's group:port itself, and Linux delivers a group's
// datagrams to every socket on that port (IP_MULTICAST_ALL), so protected
// and reconstructed datagrams must not share a port there. Agents of one
// event must agree on the offset (relay senders feeding transparent
// receivers use --wire-port-offset 1).
//
// What is dropped is dropped by the DataPlane and counted there (docs/
// packet-format.md): no SA, failed authentication, replay, malformed,
// selector mismatch, clear packets outside clear intervals. On top, the
// daemon counts per event what it received, sent and delivered, and drops
// authentic inner packets that do not belong to the event (inner_rejected).
// Both are served as Prometheus text at /metrics and as JSON at /status.
//
// The ticket is renewed before it expires (with credentials: a new login at
// 2/3 of its lifetime; with a session file: re-read when it changes), and,
// with credentials, long-polled (TicketClient::Watch) so that events
// granted later start and revoked ones are noticed.
//
// Thread safety: Start / Stop from one thread; Snapshot from any.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keycast/agent/net.h"
#include "keycast/client.h"
#include "keycast/clock.h"
#include "keycast/dataplane/data_plane.h"
#include "keycast/status.h"

namespace keycast::agent {

enum class Mode : uint8_t { kRelay = 1, kTransparent = 2 };
std::string_view ModeName(Mode m);

// One event the daemon serves, and how.
struct Binding {
  enum class Kind : uint8_t {
    kSend = 1,     // relay: take plaintext on `local`, send protected (needs the sender role)
    kReceive = 2,  // relay: receive protected, deliver plaintext to `local`
    kTransparent =
        3,  // transparent: route the group through the TUN; receive always, send as sender
  };
  std::string event;  // name in the ticket
  Kind kind = Kind::kReceive;
  IpAddress local;  // relay only
  uint16_t local_port = 0;

  // "EVENT=ADDRESS:PORT" for --send / --receive.
  static Result<Binding> Parse(const std::string& text, Kind kind);
};
std::string_view BindingKindName(Binding::Kind k);

struct DaemonOptions {
  Mode mode = Mode::kRelay;
  std::vector<Binding> bindings;

  // Identity: credentials (renewable and watchable) and/or a session.
  std::string ticket_url = "http://127.0.0.1:8200";
  TicketClient::Options ticket_client;
  std::optional<ClientCredentials> credentials;
  std::optional<ClientSession> session;  // used first when given
  // Re-reads the session (e.g. the file `keycast client login` rewrites);
  // called when the ticket nears expiry and no credentials are given.
  std::function<Result<ClientSession>()> reload_session;
  int watch_seconds = 25;  // ticket long-poll per request; 0 = off. Default 25.

  // The wire.
  MulticastOptions multicast;  // interface, TTL (default 1), loop (default on)
  int wire_port_offset = -1;   // -1: the mode's default (relay 0, transparent 1)

  // Transparent mode.
  std::string tun_name = "kc0";
  bool manage_routes = false;  // add / remove the group routes and rp_filter

  // Data plane (export_metrics is ignored: the daemon serves its own).
  dataplane::DataPlaneOptions data_plane;

  // /metrics and /status: "127.0.0.1:9464" by default; port 0 = any free
  // port; empty = no status server.
  std::string status_addr = "127.0.0.1:9464";

  const Clock* clock = &SystemClock::Get();
  KeyClient::Options key_client;
  uint64_t seed = 0;  // client agents' randomness; 0 = random
};

// Per event, what the daemon did.
struct EventCounters {
  uint64_t received = 0;        // datagrams read (local plaintext or wire)
  uint64_t sent = 0;            // protected / clear datagrams sent to the wire
  uint64_t delivered = 0;       // plaintext datagrams handed to the application
  uint64_t inner_rejected = 0;  // authentic, but the inner packet is not the event's
  uint64_t io_errors = 0;       // send / write failures
};

struct EventStatus {
  std::string name;
  Binding::Kind kind = Binding::Kind::kReceive;
  std::string state;   // waiting | running | revoked
  std::string reason;  // why waiting / revoked
  Role role = Role::kReceiver;
  IpAddress group, source;
  uint16_t port = 0, wire_port = 0;
  std::string local;  // relay: the local address
  dataplane::EventSlots slots;
  Agent::Stats keys;
  EventCounters counters;
};

struct DaemonStatus {
  Mode mode = Mode::kRelay;
  std::string client;
  int64_t ticket_expires_at = 0;
  std::string status_addr;  // bound address of the status server, if any
  std::vector<EventStatus> events;
  dataplane::DataPlaneCounters data_plane;
  uint64_t tun_ignored = 0;   // transparent: packets from the TUN that are not UDP
  uint64_t tun_bypassed = 0;  // transparent: no policy matched; passed on unchanged
};

// JSON (for /status and `keycast agent status --json`) and Prometheus text.
std::string StatusJson(const DaemonStatus& s);
std::string StatusPrometheus(const DaemonStatus& s);

class Daemon {
 public:
  // Checks the options; opens nothing yet.
  static Result<std::unique_ptr<Daemon>> Create(DaemonOptions options);
  ~Daemon();

  // Logs in (unless given a session), creates the TUN (transparent),
  // starts every event of the ticket it is bound to (the others wait for a
  // ticket that lists them) and the status server. Fails with a reason when
  // the login, a socket, the TUN or the status server fails.
  Status Start();
  void Stop();

  DaemonStatus Snapshot() const;
  dataplane::DataPlane& data_plane();

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycast::agent
