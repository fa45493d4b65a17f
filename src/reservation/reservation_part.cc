// The reservation role of a node: the platform, the seed-004 channel server
// with its persistent identity key, the JSON API and the web pages.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "keycast/key_service.h"
#include "keycast/reservation.h"
#include "keycast/server.h"
#include "reservation/service.h"
#ifdef KEYCAST_WITH_WEB
#include "web/web.h"
#endif

namespace keycast {
namespace {

// Service-key kinds the reservation role keeps in the store, sealed under
// the KEK: the channel's Ed25519 identity (clients pin its public key, so it
// must survive restarts) and the secret keying card fingerprints and CSRF
// tokens.
constexpr std::string_view kChannelIdentityKind = "channel-identity";
constexpr std::string_view kReservationSecretKind = "reservation-secret";

Result<SecretBytes> LoadOrCreateSecret(Store* store, const Sealer* sealer, std::string_view kind) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    KC_ASSIGN_OR_RETURN(auto keys, store->LoadServiceKeys(std::string(kind)));
    for (const auto& k : keys)
      if (k.retired_at == 0)
        return sealer->Open(
            kind, "service-key:" + std::string(kind) + ":" + std::to_string(k.version.value),
            k.sealed_secret);
    SecretBytes secret = crypto::RandomSecret(32);
    ServiceKey k;
    k.kind = std::string(kind);
    k.version = KeyVersion{1};
    k.sealed_secret = sealer->Seal(kind, "service-key:" + k.kind + ":1", secret);
    if (kind == kChannelIdentityKind) {
      KC_ASSIGN_OR_RETURN(auto sk, crypto::SigningKey::FromSeed(secret));
      k.public_key = sk.public_key();
    }
    k.created_at = SystemClock::Get().NowSeconds();
    KC_ASSIGN_OR_RETURN(auto t, store->Begin());
    Status st = t->InsertServiceKey(k);
    if (st.ok())
      st = t->AppendAudit(AuditRecord{0, k.created_at, "system", "service_key.create",
                                      "service-key:" + k.kind, "{}"})
               .status();
    if (st.ok()) st = t->Commit();
    if (st.ok()) return secret;
    if (st.code() != Code::kAlreadyExists) return st;
    // Another node created it at the same time: read theirs.
  }
  return Internal("cannot create the " + std::string(kind) + " key");
}

class ReservationPart final : public NodePart {
 public:
  ReservationPart(const NodeContext& ctx, std::unique_ptr<ChannelServer> channel,
                  std::unique_ptr<TestPaymentProvider> payments,
                  std::unique_ptr<ReservationPlatform> platform,
                  std::unique_ptr<reservation::SessionStore> sessions)
      : ctx_(ctx),
        channel_(std::move(channel)),
        payments_(std::move(payments)),
        platform_(std::move(platform)),
        sessions_(std::move(sessions)) {}
  ~ReservationPart() override { Stop(); }

  reservation::Service service(bool secure_cookies) {
    return reservation::Service{platform_.get(), sessions_.get(), channel_.get(), secure_cookies};
  }

  Status Start() override {
    // Generated events get this node's key service, as events created
    // through the admin API do (Node::Start).
    std::string ks =
        ctx_.config->key_advertise.empty() ? ctx_.config->key_addr : ctx_.config->key_advertise;
    auto ep = Endpoint::Parse(ks, true);
    if (ep && ep->port == 0 && ctx_.key_service) ep = Endpoint::Parse(ctx_.key_service->endpoint());
    if (ep && ep->port != 0) platform_->set_key_servers({*ep});
    // Purge session keys M lifetimes after their interval even when no
    // request arrives to do it (docs/channel.md).
    stop_ = false;
    purger_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      while (!stop_) {
        cv_.wait_for(l, std::chrono::seconds(1));
        if (!stop_) channel_->Purge();
      }
    });
    spdlog::info("reservation platform: web pages at /, channel identity {}",
                 ToHex(channel_->identity_public_key()));
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (purger_.joinable()) purger_.join();
  }

 private:
  NodeContext ctx_;
  std::unique_ptr<ChannelServer> channel_;
  std::unique_ptr<TestPaymentProvider> payments_;
  std::unique_ptr<ReservationPlatform> platform_;
  std::unique_ptr<reservation::SessionStore> sessions_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread purger_;
};

}  // namespace

Result<std::unique_ptr<NodePart>> CreateReservationPart(const NodeContext& ctx) {
  if (!ctx.api || !ctx.directory || !ctx.store || !ctx.sealer || !ctx.config)
    return InvalidArgument("the reservation role needs the node's HTTP API, directory and store");
  const ReservationNodeOptions& defaults = ReservationNodeDefaults();
  KC_ASSIGN_OR_RETURN(SecretBytes seed,
                      LoadOrCreateSecret(ctx.store, ctx.sealer, kChannelIdentityKind));
  KC_ASSIGN_OR_RETURN(crypto::SigningKey identity, crypto::SigningKey::FromSeed(seed));
  KC_ASSIGN_OR_RETURN(SecretBytes secret,
                      LoadOrCreateSecret(ctx.store, ctx.sealer, kReservationSecretKind));
  if (defaults.channel_key_lifetime_seconds < 1 || defaults.channel_key_lifetime_seconds >= 90)
    return InvalidArgument(
        "--channel-key-lifetime must be 1-89 seconds (seed 004: under about 90 s)");
  ChannelOptions co;
  co.session_key_lifetime = defaults.channel_key_lifetime_seconds * kMicrosPerSecond;
  co.retention_lifetimes = defaults.channel_retention_lifetimes;
  auto channel_or = ChannelServer::Create(co, std::move(identity), SystemClock::Get());
  if (!channel_or.ok())
    return InvalidArgument("--channel-key-lifetime / --channel-retention: " +
                           channel_or.status().message());
  auto channel = std::move(channel_or).value();

  bool tls = !ctx.config->tls_cert.empty();
  ReservationOptions po = defaults.platform;
  po.password_cost = ctx.config->password_cost;
  ApiServer* api = ctx.api;
  if (po.public_url.empty()) po.public_url_source = [api] { return api->url(); };
  // "Receivers currently keyed" comes from the key service of this node;
  // without one it stays unknown.
  if (KeyService* ks = ctx.key_service)
    po.keyed_clients = [ks](EventId event, Micros since) -> std::optional<size_t> {
      return ks->engine().RecentClients(event, since);
    };
  // Separate keys for card fingerprints and CSRF tokens, from the one secret.
  SecretBytes card_key =
      crypto::Hkdf(secret.reveal(), {}, "keycast v1 reservation card fingerprint", {}, 32);
  SecretBytes csrf_key =
      crypto::Hkdf(secret.reveal(), {}, "keycast v1 reservation web csrf", {}, 32);
  auto payments = std::make_unique<TestPaymentProvider>();
  KC_ASSIGN_OR_RETURN(auto platform, ReservationPlatform::Create(
                                         ctx.directory, ctx.store, ctx.sealer, &SystemClock::Get(),
                                         payments.get(), std::move(card_key), std::move(po)));
  auto sessions = std::make_unique<reservation::SessionStore>(
      &SystemClock::Get(), std::move(csrf_key), defaults.session_seconds);
  auto part = std::make_unique<ReservationPart>(ctx, std::move(channel), std::move(payments),
                                                std::move(platform), std::move(sessions));
  reservation::Service svc = part->service(tls || defaults.secure_cookies);
  reservation::AddApiRoutes(*ctx.api, svc);
#ifdef KEYCAST_WITH_WEB
  // Where the directory role runs, / is the operator console's.
  bool console = std::find(ctx.config->roles.begin(), ctx.config->roles.end(), "directory") !=
                 ctx.config->roles.end();
  web::AddPages(*ctx.api, svc, !console);
#endif
  return std::unique_ptr<NodePart>(std::move(part));
}

}  // namespace keycast
