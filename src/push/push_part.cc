// The push part of a node (docs/push.md): a PushService beside the key
// service, wired to it through the grant hook.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "keycast/key_service.h"
#include "keycast/push.h"
#include "keycast/server.h"

namespace keycast {
namespace {

class PushPart final : public NodePart {
 public:
  PushPart(std::unique_ptr<PushTransport> transport, std::unique_ptr<PushService> service)
      : transport_(std::move(transport)), service_(std::move(service)) {}
  ~PushPart() override { Stop(); }
  Status Start() override { return service_->Start(); }
  void Stop() override { service_->Stop(); }

 private:
  std::unique_ptr<PushTransport> transport_;
  std::unique_ptr<PushService> service_;
};

// Push settings the node configuration does not carry (yet) come from the
// environment: KEYCAST_PUSH_INTERFACE, KEYCAST_PUSH_TTL, KEYCAST_PUSH_GROUP
// (host:port, one control group for every event), KEYCAST_PUSH_RATE (bytes/s).
Status ApplyEnvironment(PushOptions* o) {
  if (const char* v = std::getenv("KEYCAST_PUSH_INTERFACE"); v && *v) o->interface = v;
  if (const char* v = std::getenv("KEYCAST_PUSH_TTL"); v && *v) {
    int ttl = std::atoi(v);
    if (ttl < 1 || ttl > 255) return InvalidArgument("KEYCAST_PUSH_TTL must be 1..255");
    o->ttl = ttl;
  }
  if (const char* v = std::getenv("KEYCAST_PUSH_RATE"); v && *v) {
    long long rate = std::atoll(v);
    if (rate < 10'000) return InvalidArgument("KEYCAST_PUSH_RATE must be at least 10000 bytes/s");
    o->rate_bytes_per_second = static_cast<uint64_t>(rate);
  }
  if (const char* v = std::getenv("KEYCAST_PUSH_GROUP"); v && *v) {
    auto ep = Endpoint::Parse(v);
    auto addr = ep ? IpAddress::Parse(ep->host) : std::nullopt;
    if (!addr || !addr->IsMulticast()) return InvalidArgument("KEYCAST_PUSH_GROUP must be a multicast address:port");
    o->control_group = *addr;
    o->control_port = ep->port;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<NodePart>> CreatePushPart(const NodeContext& ctx) {
  if (!ctx.key_service || !ctx.directory || !ctx.keys) return std::unique_ptr<NodePart>();
  PushOptions o;
  if (ctx.config)
    o.member_lifetime_seconds = ctx.config->ticket_lifetime_seconds + ctx.config->clock_skew_seconds;
  KC_RETURN_IF_ERROR(ApplyEnvironment(&o));
  KC_ASSIGN_OR_RETURN(auto transport, OpenUdpPushTransport(o));
  KeyEngine* engine = &ctx.key_service->engine();
  auto service = std::make_unique<PushService>(
      ctx.directory, ctx.keys, &SystemClock::Get(),
      [engine](const Event& e, Epoch epoch) { return engine->DeriveSa(e, epoch, Role::kReceiver, SenderId{}); },
      transport.get(), o);
  PushService* svc = service.get();
  engine->SetGrantHook([svc](const Event& e, ClientId c, Role r, Epoch epoch) { return svc->OnGrant(e, c, r, epoch); });
  return std::unique_ptr<NodePart>(new PushPart(std::move(transport), std::move(service)));
}

}  // namespace keycast
