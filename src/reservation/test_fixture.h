// A reservation platform on an in-memory store, for tests: directory with a
// sender in "broadcasters", the test payment provider, a channel server on
// a clock the test drives, and (optionally) the HTTP API on a free loopback
// port.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "keycast/api_server.h"
#include "keycast/crypto.h"
#include "keycast/reservation.h"
#include "keycast/ticket_service.h"
#include "reservation/service.h"

namespace keycast::testing {

// A clock the test moves, starting at 2030-01-01T00:00:00Z.
inline constexpr int64_t kT0 = 1893456000;

struct Platform {
  FakeClock clock{kT0 * kMicrosPerSecond};
  std::unique_ptr<Store> store;
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Directory> dir;
  TestPaymentProvider payments;
  std::unique_ptr<ReservationPlatform> platform;
  std::unique_ptr<ChannelServer> channel;
  std::unique_ptr<reservation::SessionStore> sessions;
  // HTTP (StartHttp)
  std::unique_ptr<ServiceKeys> keys;
  std::unique_ptr<TicketService> tickets;
  std::unique_ptr<ApiServer> api;
  SenderIdentity sender;

  explicit Platform(ChannelOptions channel_options = {}, ReservationOptions o = {}) {
    store = std::move(OpenSqliteStore(":memory:")).value();
    sealer = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir = std::move(Directory::Open(store.get(), sealer.get(), &clock, {PasswordCost::kTestOnly}))
              .value();
    Actor a{"test"};
    EXPECT_TRUE(dir->CreateGroup(a, GroupSpec{"broadcasters", ""}).ok());
    EXPECT_TRUE(dir->CreateGroup(a, GroupSpec{"studio", ""}).ok());
    EXPECT_TRUE(dir->AddEdge(a, "broadcasters", "studio").ok());
    EXPECT_TRUE(
        dir->CreateClient(a, ClientSpec{"anna", "", std::string("anna-password"), true}).ok());
    EXPECT_TRUE(dir->SetMembership(a, "anna", "studio", Role::kSender, true).ok());
    EXPECT_TRUE(
        dir->CreateClient(a, ClientSpec{"bob", "", std::string("bob-password"), true}).ok());
    EXPECT_TRUE(dir->CreateGroup(a, GroupSpec{"subscribers", ""}).ok());
    EXPECT_TRUE(
        dir->CreateClient(a, ClientSpec{"sue", "", std::string("sue-password"), true}).ok());
    EXPECT_TRUE(dir->SetMembership(a, "sue", "subscribers", Role::kReceiver, true).ok());
    o.password_cost = PasswordCost::kTestOnly;
    if (o.key_servers.empty()) o.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    if (o.public_url.empty()) o.public_url = "http://127.0.0.1:8200";
    platform = std::move(ReservationPlatform::Create(dir.get(), store.get(), sealer.get(), &clock,
                                                     &payments, crypto::RandomSecret(32), o))
                   .value();
    channel =
        std::move(ChannelServer::Create(channel_options, crypto::SigningKey::Generate(), clock))
            .value();
    sessions =
        std::make_unique<reservation::SessionStore>(&clock, crypto::RandomSecret(32), 8 * 3600);
    sender = *platform->AuthenticateSender("anna", "anna-password");
  }

  reservation::Service service() { return {platform.get(), sessions.get(), channel.get(), false}; }

  // Serves the JSON API (and whatever `more` adds) on a free loopback port.
  template <typename More>
  void StartHttp(More more) {
    keys = std::move(ServiceKeys::Open(store.get(), sealer.get(), &clock, 3600, true)).value();
    tickets =
        std::make_unique<TicketService>(dir.get(), keys.get(), &clock, TicketServiceOptions{});
    ApiServerOptions ao;
    ao.port = 0;
    ao.threads = 4;
    api = std::make_unique<ApiServer>(
        ApiServices{dir.get(), tickets.get(), keys.get(), store.get(), nullptr}, ao);
    reservation::AddApiRoutes(*api, service());
    more(*api);
    ASSERT_TRUE(api->Start().ok());
  }
  void StartHttp() {
    StartHttp([](ApiServer&) {});
  }
  ~Platform() {
    if (api) api->Stop();
  }

  // A one-off transmission an hour from now, generated SA.
  ReservationSpec Spec(const std::string& name) const {
    ReservationSpec s;
    s.name = name;
    s.title = "Title of " + name;
    s.schedule.start = clock.NowSeconds() + 3600;
    s.schedule.duration = 7200;
    s.group_address = *IpAddress::Parse("239.10.0.1");
    s.port = 5004;
    return s;
  }

  static AccessParameter Param(const std::string& password, const std::string& card = "",
                               const std::string& key = "") {
    AccessParameter p;
    p.password = SecretBytes(AsBytes(password));
    if (!card.empty()) {
      p.card_number = SecretBytes(AsBytes(card));
      p.card_expiry = "12/34";
      p.card_cvc = SecretBytes(AsBytes("123"));
    }
    p.idempotency_key = key.empty() && !card.empty() ? ToHex(crypto::RandomBytes(16)) : key;
    return p;
  }
};

}  // namespace keycast::testing
