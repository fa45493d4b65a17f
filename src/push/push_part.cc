// The push part of a node (docs/push.md): a PushService beside the key
// service, wired to it through the grant hook.
#include <spdlog/spdlog.h>

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

// The node's push settings (flags --push-*, KEYCAST_PUSH_*, or the TOML file).
Status ApplyConfig(const NodeConfig& c, PushOptions* o) {
  o->member_lifetime_seconds = c.ticket_lifetime_seconds + c.clock_skew_seconds;
  o->interface = c.push_interface;
  if (c.push_ttl < 1 || c.push_ttl > 255) return InvalidArgument("push TTL must be 1-255");
  o->ttl = c.push_ttl;
  if (c.push_rate_bytes_per_second < 10'000)
    return InvalidArgument("push rate must be at least 10000 bytes/s");
  o->rate_bytes_per_second = c.push_rate_bytes_per_second;
  if (!c.push_group.empty()) {
    auto ep = Endpoint::Parse(c.push_group);
    auto addr = ep ? IpAddress::Parse(ep->host) : std::nullopt;
    if (!addr || !addr->IsMulticast() || ep->port == 0)
      return InvalidArgument("push group '" + c.push_group + "' must be a multicast address:port");
    o->control_group = *addr;
    o->control_port = ep->port;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<NodePart>> CreatePushPart(const NodeContext& ctx) {
  if (!ctx.key_service || !ctx.directory || !ctx.keys) return std::unique_ptr<NodePart>();
  PushOptions o;
  if (ctx.config) KC_RETURN_IF_ERROR(ApplyConfig(*ctx.config, &o));
  KC_ASSIGN_OR_RETURN(auto transport, OpenUdpPushTransport(o));
  KeyEngine* engine = &ctx.key_service->engine();
  auto service = std::make_unique<PushService>(
      ctx.directory, ctx.keys, &SystemClock::Get(),
      [engine](const Event& e, Epoch epoch) {
        return engine->DeriveSa(e, epoch, Role::kReceiver, SenderId{});
      },
      transport.get(), o);
  PushService* svc = service.get();
  engine->SetGrantHook([svc](const Event& e, ClientId c, Role r, Epoch epoch, int64_t valid_until) {
    return svc->OnGrant(e, c, r, epoch, valid_until);
  });
  return std::unique_ptr<NodePart>(new PushPart(std::move(transport), std::move(service)));
}

}  // namespace keycast
