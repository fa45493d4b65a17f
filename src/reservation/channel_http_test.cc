// The seed-004 channel carried over HTTP (POST /v1/channel/hello and
// /v1/channel/confirm), against a real ApiServer on loopback: each step, a
// wrong shared parameter, an expired session key, the purge, replays, and a
// server impostor. The library's own unit tests are in src/channel/.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "reservation/test_fixture.h"

namespace keycast {
namespace {

using testing::Platform;

constexpr Micros kLifetime = 30 * kMicrosPerSecond;
constexpr uint32_t kRetention = 3;

ChannelOptions Options() {
  ChannelOptions o;
  o.session_key_lifetime = kLifetime;
  o.retention_lifetimes = kRetention;
  return o;
}

class ChannelHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = std::make_unique<Platform>(Options());
    p_->StartHttp();
    auto s = p_->Spec("movie");
    s.receivers = {ReceiverEntry{"alice", std::string("alice-secret")}};
    s.price_cents = 499;
    ASSERT_TRUE(p_->platform->CreateReservation(p_->sender, s).ok());
    url_ = p_->api->url();
    identity_ = *crypto::VerifyKey::FromBytes(p_->channel->identity_public_key());
  }

  // One POST with a binary body: status and body.
  std::pair<int, std::string> Post(const std::string& path, ByteView body) {
    httplib::Client c(url_);
    c.set_read_timeout(30, 0);
    auto r = c.Post(path, reinterpret_cast<const char*>(body.data()), body.size(),
                    "application/octet-stream");
    EXPECT_TRUE(r);
    if (!r) return {0, ""};
    return {r->status, r->body};
  }
  static std::string ErrorCode(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
  }
  SecretBytes Shared(const std::string& password, const std::string& card = "4242424242424242") {
    return *reservation::EncodeAccessParameter(Platform::Param(password, card));
  }

  std::unique_ptr<Platform> p_;
  std::string url_;
  crypto::VerifyKey identity_;
};

TEST_F(ChannelHttpTest, IdentityEndpointPublishesThePinnedKey) {
  httplib::Client c(url_);
  auto r = c.Get("/v1/channel/identity");
  ASSERT_TRUE(r);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["public_key"], ToHex(p_->channel->identity_public_key()));
  EXPECT_EQ(j["session_key_lifetime_seconds"], 30);
  EXPECT_EQ(j["retention_lifetimes"], kRetention);
}

TEST_F(ChannelHttpTest, EachStepOverHttpThenTheAgentConfig) {
  ChannelClient client(identity_);
  Bytes hello = *client.Start("movie/alice");
  auto [s1, key_msg] = Post("/v1/channel/hello", hello);
  ASSERT_EQ(s1, 200) << key_msg;
  EXPECT_EQ(key_msg.size(), 191u);  // SessionKeyMessage is fixed-size
  auto confirm = client.OnSessionKey(AsBytes(key_msg), Shared("alice-secret"));
  ASSERT_TRUE(confirm.ok()) << confirm.status().ToString();
  auto [s2, data_msg] = Post("/v1/channel/confirm", *confirm);
  ASSERT_EQ(s2, 200) << data_msg;
  auto d = client.OnDataKey(AsBytes(data_msg));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->data_key.size(), 32u);
  auto cfg = reservation::ParseAgentConfig(AsString(d->payload.reveal()));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->receiver, "alice");
  EXPECT_EQ(cfg->charged_cents, 499);
  EXPECT_TRUE(p_->dir->AuthenticateApiKey(cfg->api_key).ok());
  // A replayed Confirm gets nothing more.
  auto [s3, again] = Post("/v1/channel/confirm", *confirm);
  EXPECT_EQ(s3, 409);
  EXPECT_EQ(ErrorCode(again), "failed_precondition");
  EXPECT_EQ(p_->payments.charges(), 1u);
}

TEST_F(ChannelHttpTest, HelperRunsTheWholeExchange) {
  auto cfg = RequestAccessOverHttp(url_, identity_, "movie", "alice",
                                   Platform::Param("alice-secret", "4242424242424242"));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->event, "resv.movie");
}

TEST_F(ChannelHttpTest, WrongSharedParameterGetsNothing) {
  ChannelClient client(identity_);
  auto [s1, key_msg] = Post("/v1/channel/hello", *client.Start("movie/alice"));
  ASSERT_EQ(s1, 200);
  auto confirm = client.OnSessionKey(AsBytes(key_msg), Shared("not-alices-password"));
  auto [s2, body] = Post("/v1/channel/confirm", *confirm);
  EXPECT_EQ(s2, 401);
  EXPECT_EQ(ErrorCode(body), "unauthenticated");
  EXPECT_EQ(p_->payments.charges(), 0u);
  EXPECT_TRUE(p_->store->LoadAccessGrants(p_->store->FindReservation("movie")->id)->empty());
  // The helper reports the same refusal.
  auto cfg = RequestAccessOverHttp(url_, identity_, "movie", "alice",
                                   Platform::Param("nope-nope", "4242424242424242"));
  EXPECT_EQ(cfg.status().code(), Code::kUnauthenticated);
  // A declined card: nothing either.
  auto declined = RequestAccessOverHttp(url_, identity_, "movie", "alice",
                                        Platform::Param("alice-secret", "4000000000000002"));
  EXPECT_EQ(declined.status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(p_->store->LoadAccessGrants(p_->store->FindReservation("movie")->id)->empty());
}

TEST_F(ChannelHttpTest, ExpiredSessionKeyIsRefused) {
  ChannelClient client(identity_);
  auto [s1, key_msg] = Post("/v1/channel/hello", *client.Start("movie/alice"));
  ASSERT_EQ(s1, 200);
  auto confirm = client.OnSessionKey(AsBytes(key_msg), Shared("alice-secret"));
  ASSERT_TRUE(confirm.ok());
  // Past the key's M lifetimes: the key and the exchange are gone.
  p_->clock.Advance(kRetention * kLifetime + kLifetime);
  auto [s2, body] = Post("/v1/channel/confirm", *confirm);
  EXPECT_EQ(s2, 504) << body;
  EXPECT_EQ(ErrorCode(body), "deadline_exceeded");
  EXPECT_EQ(p_->payments.charges(), 0u);
}

TEST_F(ChannelHttpTest, SessionKeysArePurgedAfterMLifetimes) {
  ChannelClient a(identity_);
  ASSERT_EQ(Post("/v1/channel/hello", *a.Start("movie/alice")).first, 200);
  uint64_t interval = p_->clock.Now() / kLifetime;
  ASSERT_TRUE(p_->channel->SessionKeyForTesting(interval).has_value());
  // Same interval: the same session key serves a second exchange.
  ChannelClient b(identity_);
  ASSERT_EQ(Post("/v1/channel/hello", *b.Start("movie/bob")).first, 200);
  EXPECT_EQ(p_->channel->stats().live_session_keys, 1u);
  // Just before (interval + M) * L the key is still there; at it, it is purged.
  p_->clock.Set(static_cast<Micros>(interval + kRetention) * kLifetime - 1);
  p_->channel->Purge();
  EXPECT_TRUE(p_->channel->SessionKeyForTesting(interval).has_value());
  p_->clock.Set(static_cast<Micros>(interval + kRetention) * kLifetime);
  // Any request purges first.
  httplib::Client c(url_);
  ASSERT_TRUE(c.Get("/v1/channel/identity"));
  ChannelClient later(identity_);
  ASSERT_EQ(Post("/v1/channel/hello", *later.Start("movie/carol")).first, 200);
  EXPECT_FALSE(p_->channel->SessionKeyForTesting(interval).has_value());
  EXPECT_LE(p_->channel->stats().live_session_keys, static_cast<size_t>(kRetention));
  for (const auto& slot : p_->channel->SlotsForTesting()) {
    if (slot.live) {
      EXPECT_GT(slot.interval, interval);
    }
  }
}

TEST_F(ChannelHttpTest, MalformedBodiesAndImpostorsAreRefused) {
  auto [s1, b1] = Post("/v1/channel/hello", AsBytes("not a hello"));
  EXPECT_EQ(s1, 400);
  EXPECT_EQ(ErrorCode(b1), "invalid_argument");
  auto [s2, b2] = Post("/v1/channel/confirm", Bytes(40, 0));
  EXPECT_EQ(s2, 400);
  EXPECT_EQ(ErrorCode(b2), "invalid_argument");
  // A client pinned to another identity refuses the server's answer.
  auto other = crypto::SigningKey::Generate();
  ChannelClient wrong_pin(*crypto::VerifyKey::FromBytes(other.public_key()));
  auto [s3, key_msg] = Post("/v1/channel/hello", *wrong_pin.Start("movie/alice"));
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(wrong_pin.OnSessionKey(AsBytes(key_msg), Shared("alice-secret")).status().code(),
            Code::kUnauthenticated);
  auto cfg = RequestAccessOverHttp(url_, *crypto::VerifyKey::FromBytes(other.public_key()), "movie",
                                   "alice", Platform::Param("alice-secret", "4242424242424242"));
  EXPECT_EQ(cfg.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(p_->payments.charges(), 0u);
}

TEST(ChannelOptionsTest, LifetimeAndRetentionBounds) {
  ChannelOptions o;
  o.session_key_lifetime = 90 * kMicrosPerSecond;
  EXPECT_FALSE(ChannelServer::Create(o, crypto::SigningKey::Generate(), SystemClock::Get()).ok());
  o.session_key_lifetime = 89 * kMicrosPerSecond;
  o.retention_lifetimes = 11;
  EXPECT_FALSE(ChannelServer::Create(o, crypto::SigningKey::Generate(), SystemClock::Get()).ok());
  o.retention_lifetimes = 10;
  EXPECT_TRUE(ChannelServer::Create(o, crypto::SigningKey::Generate(), SystemClock::Get()).ok());
}

}  // namespace
}  // namespace keycast
