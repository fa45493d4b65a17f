// End-to-end tests of the seed-004 channel: ChannelClient <-> ChannelServer
// driven by a FakeClock. Each test names the claim or property it defends.
#include "keycast/channel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "channel/key_schedule.h"
#include "channel/wire.h"
#include "keycast/metrics.h"
#include "keycast/password.h"

namespace keycast {
namespace {

constexpr Micros kL = 30 * kMicrosPerSecond;
constexpr Micros kT0 = 56'666'666 * kL;  // start of an interval, in 2023

uint64_t RefusedCount(const std::string& reason) {
  const std::string series = "keycast_channel_refused_total{reason=\"" + reason + "\"} ";
  const std::string text = Metrics::Global().Render();
  size_t at = text.find(series);
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + series.size()));
}

SecretBytes Secret(std::string_view s) { return SecretBytes(AsBytes(s)); }

std::string Str(const SecretBytes& s) { return std::string(AsString(s.reveal())); }

class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() : clock_(kT0 + 5 * kMicrosPerSecond) {
    hash_ = HashPassword("correct horse", PasswordCost::kTestOnly).value();
    MakeServer(ChannelOptions{});
  }

  void MakeServer(const ChannelOptions& options) {
    crypto::SigningKey identity = crypto::SigningKey::Generate();
    verify_ = crypto::VerifyKey::FromBytes(identity.public_key()).value();
    auto s = ChannelServer::Create(options, std::move(identity), clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }

  std::unique_ptr<ChannelClient> NewClient() { return std::make_unique<ChannelClient>(verify_); }

  // The reservation platform's check: Argon2id password of the subject.
  ChannelAuthorizer PasswordAuthorizer(std::string payload = "SA for movie-42") {
    return [this, payload](ByteView shared, std::string_view subject) -> Result<SecretBytes> {
      ++authorize_calls_;
      last_subject_ = std::string(subject);
      if (!VerifyPassword(AsString(shared), hash_))
        return PermissionDenied("wrong password for " + std::string(subject));
      return SecretBytes(AsBytes(payload));
    };
  }

  // Runs Hello -> SessionKeyMessage; returns the Confirm.
  Bytes StartAndConfirm(ChannelClient& client, std::string_view password = "correct horse",
                        std::string_view subject = "movie-42/alice") {
    auto hello = client.Start(subject);
    EXPECT_TRUE(hello.ok()) << hello.status().ToString();
    auto sk = server_->HandleHello(*hello);
    EXPECT_TRUE(sk.ok()) << sk.status().ToString();
    auto confirm = client.OnSessionKey(*sk, Secret(password));
    EXPECT_TRUE(confirm.ok()) << confirm.status().ToString();
    return confirm.ok() ? *confirm : Bytes{};
  }

  FakeClock clock_;
  std::string hash_;
  crypto::VerifyKey verify_;
  std::unique_ptr<ChannelServer> server_;
  int authorize_calls_ = 0;
  std::string last_subject_;
};

TEST_F(ChannelTest, HappyPath) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  EXPECT_EQ(client->interval(), static_cast<uint64_t>(kT0 / kL));
  EXPECT_EQ(client->slot(), client->interval() % 4);
  EXPECT_EQ(client->deadline(), kT0 + 4 * kL);
  EXPECT_EQ(server_->stats().pending_exchanges, 1u);

  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  ASSERT_TRUE(dk.ok()) << dk.status().ToString();
  EXPECT_EQ(last_subject_, "movie-42/alice");
  auto delivery = client->OnDataKey(*dk);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(delivery->data_key.size(), channel::kDataKeySize);
  EXPECT_LT(delivery->data_key_index, channel::kDataKeysPerExchange);
  EXPECT_EQ(Str(delivery->payload), "SA for movie-42");

  ChannelStats st = server_->stats();
  EXPECT_EQ(st.hellos_accepted, 1u);
  EXPECT_EQ(st.data_keys_released, 1u);
  EXPECT_EQ(st.pending_exchanges, 0u);
  EXPECT_EQ(st.live_session_keys, 1u);
  // The client is done: further messages are out of order.
  EXPECT_EQ(client->OnDataKey(*dk).status().code(), Code::kFailedPrecondition);
}

TEST_F(ChannelTest, EmptyPayloadIsDelivered) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer(""));
  ASSERT_TRUE(dk.ok());
  auto delivery = client->OnDataKey(*dk);
  ASSERT_TRUE(delivery.ok());
  EXPECT_TRUE(delivery->payload.empty());
}

// Claims 2-3: exchanges started in one interval share its session key (and
// slot) but each has its own set of intermediate data keys.
TEST_F(ChannelTest, SameIntervalSharesSessionKeyNotDataKeys) {
  std::set<Bytes> data_keys;
  SecretBytes shared;
  for (int i = 0; i < 8; ++i) {
    auto client = NewClient();
    Bytes confirm = StartAndConfirm(*client);
    clock_.Advance(kMicrosPerSecond);  // still the same 30 s interval
    EXPECT_EQ(client->interval(), static_cast<uint64_t>(kT0 / kL));
    EXPECT_EQ(client->slot(), client->interval() % 4);
    if (i == 0) shared = client->session_key_for_testing();
    EXPECT_TRUE(client->session_key_for_testing() == shared) << i;
    auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
    ASSERT_TRUE(dk.ok());
    auto delivery = client->OnDataKey(*dk);
    ASSERT_TRUE(delivery.ok());
    auto k = delivery->data_key.reveal();
    data_keys.insert(Bytes(k.begin(), k.end()));
  }
  // With one set shared by all exchanges, 8 releases from a set of 4 would
  // repeat a key.
  EXPECT_EQ(data_keys.size(), 8u);
  EXPECT_EQ(server_->stats().live_session_keys, 1u);
  ASSERT_TRUE(server_->SessionKeyForTesting(kT0 / kL).has_value());
  EXPECT_TRUE(*server_->SessionKeyForTesting(kT0 / kL) == shared);
}

// The strengthening: client B knows the interval's session key and sees A's
// messages on the wire, yet cannot read or forge A's Confirm.
TEST_F(ChannelTest, SameIntervalClientCannotReadOrForgeAnothersConfirm) {
  auto a = NewClient();
  auto hello_a = a->Start("movie-42/alice");
  ASSERT_TRUE(hello_a.ok());
  auto sk_a = server_->HandleHello(*hello_a);
  ASSERT_TRUE(sk_a.ok());
  auto confirm_a = a->OnSessionKey(*sk_a, Secret("correct horse"));
  ASSERT_TRUE(confirm_a.ok());

  auto b = NewClient();
  Bytes confirm_b = StartAndConfirm(*b, "bob's password", "movie-42/bob");
  const SecretBytes& k = b->session_key_for_testing();
  ASSERT_TRUE(k == a->session_key_for_testing());  // same interval, same key

  // B replays A's public transcript with the shared key K.
  auto msg = channel::ParseSessionKey(*sk_a);
  ASSERT_TRUE(msg.ok());
  crypto::Digest th1 =
      channel::Th1(*hello_a, ByteView(*sk_a).first(channel::kSessionKeyPrefixSize));
  crypto::Digest th2 = channel::Th2(th1, msg->sealed_session_key, msg->signature);
  auto parsed_a = channel::ParseConfirm(*confirm_a);
  ASSERT_TRUE(parsed_a.ok());
  const ByteView aad = ByteView(*confirm_a).first(channel::kConfirmPrefixSize);
  const SecretBytes guesses[] = {SecretBytes(), SecretBytes(32), crypto::RandomSecret(32)};
  for (const SecretBytes& guess : guesses) {
    SecretBytes out;
    EXPECT_FALSE(channel::Open(channel::DeriveConfirmKey(k, guess, th2), aad,
                               parsed_a->sealed_shared_param, &out));
  }

  // Forgery 1: B seals its own parameter for A's exchange with what it knows.
  channel::ConfirmMsg forged;
  forged.exchange_id = a->exchange_id();
  forged.sealed_shared_param =
      channel::Seal(channel::DeriveConfirmKey(k, SecretBytes(32), th2), aad, AsBytes("x"));
  auto r = server_->HandleConfirm(channel::EncodeConfirm(forged), PasswordAuthorizer());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  // Forgery 2: B's own Confirm relabelled with A's exchange id.
  auto relabelled = channel::ParseConfirm(confirm_b).value();
  relabelled.exchange_id = a->exchange_id();
  r = server_->HandleConfirm(channel::EncodeConfirm(relabelled), PasswordAuthorizer());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(authorize_calls_, 0);

  // Neither forgery consumed A's exchange.
  auto dk = server_->HandleConfirm(*confirm_a, PasswordAuthorizer());
  ASSERT_TRUE(dk.ok()) << dk.status().ToString();
  auto delivered = a->OnDataKey(*dk);
  ASSERT_TRUE(delivered.ok());
  // B cannot open A's data key with K and A's public transcript either.
  auto dk_msg = channel::ParseDataKey(*dk);
  ASSERT_TRUE(dk_msg.ok());
  crypto::Digest th3 = channel::Th3(th2, *confirm_a);
  for (const SecretBytes& guess : guesses) {
    SecretBytes out;
    EXPECT_FALSE(channel::Open(channel::DeriveDataKeyWrapKey(k, guess, th3),
                               ByteView(*dk).first(channel::kDataKeyPrefixSize),
                               dk_msg->sealed_data_key, &out));
  }
  // And B's client refuses A's DataKeyMessage outright.
  EXPECT_EQ(b->OnDataKey(*dk).status().code(), Code::kInvalidArgument);
}

// The seed's session key must never be readable on the wire: an
// eavesdropper sees Hello and SessionKeyMessage but not the X25519 secret.
TEST_F(ChannelTest, EavesdropperCannotReadSessionKey) {
  auto client = NewClient();
  auto hello = client->Start("movie-42/alice");
  ASSERT_TRUE(hello.ok());
  auto sk = server_->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  ASSERT_TRUE(client->OnSessionKey(*sk, Secret("correct horse")).ok());
  const SecretBytes& k = client->session_key_for_testing();
  ASSERT_EQ(k.size(), channel::kSessionKeySize);
  auto key = k.reveal();
  EXPECT_EQ(std::search(sk->begin(), sk->end(), key.begin(), key.end()), sk->end());

  auto msg = channel::ParseSessionKey(*sk);
  ASSERT_TRUE(msg.ok());
  const ByteView prefix = ByteView(*sk).first(channel::kSessionKeyPrefixSize);
  crypto::Digest th1 = channel::Th1(*hello, prefix);
  const SecretBytes guesses[] = {SecretBytes(), SecretBytes(32), crypto::RandomSecret(32)};
  for (const SecretBytes& guess : guesses) {
    SecretBytes out;
    EXPECT_FALSE(channel::Open(channel::DeriveSessionKeyWrapKey(guess, th1), prefix,
                               msg->sealed_session_key, &out));
    EXPECT_FALSE(channel::Open(
        channel::DeriveSessionKeyWrapKey(channel::DeriveExchangeSecret(guess, th1), th1), prefix,
        msg->sealed_session_key, &out));
  }
}

// Claim 2 / 4: an exchange in the next interval gets the next key and slot.
TEST_F(ChannelTest, NextIntervalGetsNewSessionKey) {
  auto a = NewClient();
  Bytes confirm_a = StartAndConfirm(*a);
  clock_.Set(kT0 + kL);
  auto b = NewClient();
  Bytes confirm_b = StartAndConfirm(*b);
  EXPECT_EQ(b->interval(), a->interval() + 1);
  EXPECT_EQ(b->slot(), (a->slot() + 1) % 4);
  EXPECT_FALSE(a->session_key_for_testing() == b->session_key_for_testing());
  EXPECT_EQ(server_->stats().live_session_keys, 2u);
  // Both complete: A's key is still in the ring.
  EXPECT_TRUE(server_->HandleConfirm(confirm_a, PasswordAuthorizer()).ok());
  EXPECT_TRUE(server_->HandleConfirm(confirm_b, PasswordAuthorizer()).ok());
}

// Claim 1: no data key before the shared parameter checks out.
TEST_F(ChannelTest, WrongSharedParameterReleasesNothing) {
  uint64_t before = RefusedCount("authorize_refused");
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client, "wrong horse");
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  ASSERT_FALSE(dk.ok());
  EXPECT_EQ(dk.status().code(), Code::kPermissionDenied);  // authorize's own status
  EXPECT_NE(dk.status().message().find("wrong password for movie-42/alice"), std::string::npos);
  EXPECT_EQ(server_->stats().data_keys_released, 0u);
  EXPECT_EQ(RefusedCount("authorize_refused"), before + 1);
  // One guess per exchange: retrying the same exchange is a replay.
  EXPECT_EQ(server_->HandleConfirm(confirm, PasswordAuthorizer()).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(authorize_calls_, 1);
}

TEST_F(ChannelTest, AuthorizerSeesTheParameterAndAnOversizedPayloadIsRefused) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client, "4111111111111111", "movie-42/card");
  std::string seen;
  auto dk = server_->HandleConfirm(confirm, [&](ByteView p, std::string_view) {
    seen = std::string(AsString(p));
    return Result<SecretBytes>(SecretBytes(channel::kMaxPayloadBytes + 1));
  });
  EXPECT_EQ(seen, "4111111111111111");
  EXPECT_EQ(dk.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(server_->stats().data_keys_released, 0u);
}

// Claims 4, 6: a key is purged M lifetimes after its interval began, and
// exchanges that used it are refused.
TEST_F(ChannelTest, ExpiredSessionKeyIsRefusedAndPurged) {
  uint64_t before = RefusedCount("session_key_expired");
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  const uint64_t interval = client->interval();
  ASSERT_TRUE(server_->SessionKeyForTesting(interval).has_value());

  clock_.Set(kT0 + 4 * kL - 1);  // last microsecond of the key's life
  server_->Purge();
  EXPECT_TRUE(server_->SessionKeyForTesting(interval).has_value());

  clock_.Set(kT0 + 4 * kL);
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  ASSERT_FALSE(dk.ok());
  EXPECT_EQ(dk.status().code(), Code::kDeadlineExceeded);
  EXPECT_NE(dk.status().message().find("session key"), std::string::npos);
  EXPECT_EQ(authorize_calls_, 0);
  EXPECT_EQ(RefusedCount("session_key_expired"), before + 1);
  EXPECT_FALSE(server_->SessionKeyForTesting(interval).has_value());
  auto slots = server_->SlotsForTesting();
  EXPECT_FALSE(slots[interval % 4].live);
  EXPECT_EQ(server_->stats().live_session_keys, 0u);
  EXPECT_EQ(server_->stats().pending_exchanges, 0u);
}

TEST_F(ChannelTest, ExchangeTimeoutShorterThanKey) {
  ChannelOptions o;
  o.exchange_timeout = 10 * kMicrosPerSecond;
  MakeServer(o);
  uint64_t before = RefusedCount("exchange_expired");
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  EXPECT_EQ(client->deadline(), clock_.Now() + 10 * kMicrosPerSecond);
  clock_.Advance(10 * kMicrosPerSecond);
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  EXPECT_EQ(dk.status().code(), Code::kDeadlineExceeded);
  EXPECT_NE(dk.status().message().find("timed out"), std::string::npos);
  EXPECT_EQ(RefusedCount("exchange_expired"), before + 1);
  EXPECT_TRUE(server_->SessionKeyForTesting(client->interval()).has_value());  // key lives on
}

// Claim 5: the buffer is circular; interval i + M reuses the slot of i.
TEST_F(ChannelTest, RingWrapsAround) {
  ChannelOptions o;
  o.retention_lifetimes = 3;
  MakeServer(o);
  clock_.Set(kT0);
  std::vector<std::unique_ptr<ChannelClient>> clients;
  for (int i = 0; i <= 3; ++i) {
    clock_.Set(kT0 + i * kL);
    clients.push_back(NewClient());
    StartAndConfirm(*clients.back());
  }
  const uint64_t first = clients[0]->interval();
  EXPECT_EQ(server_->SlotsForTesting().size(), 3u);
  EXPECT_EQ(clients[3]->interval(), first + 3);
  EXPECT_EQ(clients[3]->slot(), clients[0]->slot());
  EXPECT_FALSE(clients[3]->session_key_for_testing() == clients[0]->session_key_for_testing());
  EXPECT_FALSE(server_->SessionKeyForTesting(first).has_value());
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(server_->SessionKeyForTesting(first + i).has_value());
  auto slots = server_->SlotsForTesting();
  EXPECT_EQ(slots[clients[0]->slot()].interval, first + 3);
  EXPECT_EQ(server_->stats().live_session_keys, 3u);
}

// Claims 6-7: M <= 10 and lifetime < 90 s are enforced at construction.
TEST_F(ChannelTest, OptionsOutOfRangeRefused) {
  auto create = [&](ChannelOptions o) {
    return ChannelServer::Create(o, crypto::SigningKey::Generate(), clock_).status();
  };
  ChannelOptions o;
  o.retention_lifetimes = 11;
  Status s = create(o);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("retention_lifetimes (M) is 11"), std::string::npos) << s.message();
  o.retention_lifetimes = 0;
  EXPECT_EQ(create(o).code(), Code::kInvalidArgument);
  o.retention_lifetimes = 10;
  EXPECT_TRUE(create(o).ok());

  o = ChannelOptions{};
  o.session_key_lifetime = 90 * kMicrosPerSecond;
  s = create(o);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("90 s"), std::string::npos) << s.message();
  o.session_key_lifetime = 90 * kMicrosPerSecond - 1;
  EXPECT_TRUE(create(o).ok());
  o.session_key_lifetime = 0;
  EXPECT_EQ(create(o).code(), Code::kInvalidArgument);

  o = ChannelOptions{};
  o.max_exchanges = 0;
  EXPECT_EQ(create(o).code(), Code::kInvalidArgument);
  o = ChannelOptions{};
  o.exchange_timeout = -1;
  EXPECT_EQ(create(o).code(), Code::kInvalidArgument);
}

TEST_F(ChannelTest, ReplayedConfirmRefused) {
  uint64_t before = RefusedCount("replay");
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  ASSERT_TRUE(server_->HandleConfirm(confirm, PasswordAuthorizer()).ok());
  auto again = server_->HandleConfirm(confirm, PasswordAuthorizer());
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("replayed"), std::string::npos);
  EXPECT_EQ(server_->stats().data_keys_released, 1u);
  EXPECT_EQ(authorize_calls_, 1);
  EXPECT_EQ(RefusedCount("replay"), before + 1);
}

TEST_F(ChannelTest, ConcurrentDuplicateConfirmReleasesOnce) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (server_
              ->HandleConfirm(
                  confirm,
                  [](ByteView, std::string_view) { return Result<SecretBytes>(SecretBytes()); })
              .ok())
        ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
}

TEST_F(ChannelTest, UnknownExchangeRefused) {
  uint64_t before = RefusedCount("unknown_exchange");
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  auto m = channel::ParseConfirm(confirm).value();
  m.exchange_id.bytes[0] ^= 1;
  auto r = server_->HandleConfirm(channel::EncodeConfirm(m), PasswordAuthorizer());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(RefusedCount("unknown_exchange"), before + 1);
}

// A man in the middle that answers with its own server key is caught by
// the pinned identity; the password never leaves the client.
TEST_F(ChannelTest, ImpostorServerRefusedByClient) {
  auto impostor = ChannelServer::Create(ChannelOptions{}, crypto::SigningKey::Generate(), clock_);
  ASSERT_TRUE(impostor.ok());
  auto client = NewClient();
  auto hello = client->Start("movie-42/alice");
  ASSERT_TRUE(hello.ok());
  auto sk = (*impostor)->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  auto confirm = client->OnSessionKey(*sk, Secret("correct horse"));
  EXPECT_EQ(confirm.status().code(), Code::kUnauthenticated);
  // The genuine server's answer is still accepted afterwards.
  auto real = server_->HandleHello(*hello);
  ASSERT_TRUE(real.ok());
  EXPECT_TRUE(client->OnSessionKey(*real, Secret("correct horse")).ok());
}

TEST_F(ChannelTest, LowOrderClientShareRefused) {
  uint64_t before = RefusedCount("bad_public_key");
  channel::HelloMsg m;
  m.client_public = {};  // the zero point: every shared secret would be zero
  m.subject = ToBytes("x");
  auto r = server_->HandleHello(channel::EncodeHello(m));
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  m.client_public[0] = 1;  // u = 1: a point of order 4, also low order
  EXPECT_FALSE(server_->HandleHello(channel::EncodeHello(m)).ok());
  EXPECT_EQ(RefusedCount("bad_public_key"), before + 2);
  EXPECT_EQ(server_->stats().pending_exchanges, 0u);
}

// ---- every byte flipped, every truncation ----

template <typename F>
void ForEachFlip(const Bytes& msg, F&& f) {
  for (size_t i = 0; i < msg.size(); ++i)
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes t = msg;
      t[i] ^= mask;
      f(t, i);
    }
}

TEST_F(ChannelTest, TamperedHelloNeverCompletes) {
  auto client = NewClient();
  auto hello = client->Start("movie-42/alice");
  ASSERT_TRUE(hello.ok());
  ForEachFlip(*hello, [&](const Bytes& t, size_t i) {
    auto sk = server_->HandleHello(t);
    if (!sk.ok()) return;  // header, length, low-order share
    EXPECT_FALSE(client->OnSessionKey(*sk, Secret("correct horse")).ok()) << "byte " << i;
  });
  auto sk = server_->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  EXPECT_TRUE(client->OnSessionKey(*sk, Secret("correct horse")).ok());
}

TEST_F(ChannelTest, TamperedSessionKeyMessageRefusedByClient) {
  auto client = NewClient();
  auto hello = client->Start("movie-42/alice");
  auto sk = server_->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  ForEachFlip(*sk, [&](const Bytes& t, size_t i) {
    EXPECT_FALSE(client->OnSessionKey(t, Secret("correct horse")).ok()) << "byte " << i;
  });
  EXPECT_TRUE(client->OnSessionKey(*sk, Secret("correct horse")).ok());
}

TEST_F(ChannelTest, TamperedConfirmRefusedByServer) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  ForEachFlip(confirm, [&](const Bytes& t, size_t i) {
    EXPECT_FALSE(server_->HandleConfirm(t, PasswordAuthorizer()).ok()) << "byte " << i;
  });
  EXPECT_EQ(authorize_calls_, 0);
  EXPECT_EQ(server_->stats().data_keys_released, 0u);
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  ASSERT_TRUE(dk.ok()) << dk.status().ToString();
  EXPECT_TRUE(client->OnDataKey(*dk).ok());
}

TEST_F(ChannelTest, TamperedDataKeyMessageRefusedByClient) {
  auto client = NewClient();
  Bytes confirm = StartAndConfirm(*client);
  auto dk = server_->HandleConfirm(confirm, PasswordAuthorizer());
  ASSERT_TRUE(dk.ok());
  ForEachFlip(*dk, [&](const Bytes& t, size_t i) {
    EXPECT_FALSE(client->OnDataKey(t).ok()) << "byte " << i;
  });
  EXPECT_TRUE(client->OnDataKey(*dk).ok());
}

TEST_F(ChannelTest, TruncatedMessagesRefusedAtEveryLength) {
  auto client = NewClient();
  auto hello = client->Start("movie-42/alice");
  ASSERT_TRUE(hello.ok());
  for (size_t n = 0; n < hello->size(); ++n)
    EXPECT_EQ(server_->HandleHello(ByteView(hello->data(), n)).status().code(),
              Code::kInvalidArgument)
        << n;
  EXPECT_EQ(server_->stats().pending_exchanges, 0u);

  auto sk = server_->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  for (size_t n = 0; n < sk->size(); ++n)
    EXPECT_FALSE(client->OnSessionKey(ByteView(sk->data(), n), Secret("correct horse")).ok()) << n;
  auto confirm = client->OnSessionKey(*sk, Secret("correct horse"));
  ASSERT_TRUE(confirm.ok());
  for (size_t n = 0; n < confirm->size(); ++n)
    EXPECT_EQ(
        server_->HandleConfirm(ByteView(confirm->data(), n), PasswordAuthorizer()).status().code(),
        Code::kInvalidArgument)
        << n;

  auto dk = server_->HandleConfirm(*confirm, PasswordAuthorizer());
  ASSERT_TRUE(dk.ok());
  for (size_t n = 0; n < dk->size(); ++n)
    EXPECT_FALSE(client->OnDataKey(ByteView(dk->data(), n)).ok()) << n;
  EXPECT_TRUE(client->OnDataKey(*dk).ok());
}

TEST_F(ChannelTest, PendingExchangeBound) {
  ChannelOptions o;
  o.max_exchanges = 3;
  MakeServer(o);
  uint64_t before = RefusedCount("exchanges_full");
  std::vector<Bytes> confirms;
  std::vector<std::unique_ptr<ChannelClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(NewClient());
    confirms.push_back(StartAndConfirm(*clients.back()));
  }
  auto extra = NewClient();
  auto hello = extra->Start("movie-42/zed");
  auto r = server_->HandleHello(*hello);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(RefusedCount("exchanges_full"), before + 1);
  EXPECT_EQ(server_->stats().pending_exchanges, 3u);
  // Answering one frees its place.
  ASSERT_TRUE(server_->HandleConfirm(confirms[0], PasswordAuthorizer()).ok());
  EXPECT_TRUE(server_->HandleHello(*hello).ok());
  EXPECT_EQ(server_->HandleHello(*hello).status().code(), Code::kResourceExhausted);
  // Expiry with the session key frees the rest.
  clock_.Advance(4 * kL);
  EXPECT_TRUE(server_->HandleHello(*hello).ok());
  EXPECT_EQ(server_->stats().pending_exchanges, 1u);
}

TEST_F(ChannelTest, ClientInputChecksAndOrder) {
  auto client = NewClient();
  EXPECT_EQ(client->OnSessionKey(Bytes{}, Secret("x")).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(client->Start("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(client->Start(std::string(channel::kMaxSubjectBytes + 1, 's')).status().code(),
            Code::kInvalidArgument);
  auto hello = client->Start("movie-42/alice");
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(client->Start("again").status().code(), Code::kFailedPrecondition);
  auto sk = server_->HandleHello(*hello);
  ASSERT_TRUE(sk.ok());
  EXPECT_EQ(client->OnSessionKey(*sk, SecretBytes()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(
      client->OnSessionKey(*sk, SecretBytes(channel::kMaxSharedParamBytes + 1)).status().code(),
      Code::kInvalidArgument);
  EXPECT_EQ(client->OnDataKey(Bytes{}).status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(client->OnSessionKey(*sk, SecretBytes(channel::kMaxSharedParamBytes)).ok());
}

// Many threads of an HTTP pool running whole exchanges at once.
TEST_F(ChannelTest, ConcurrentExchanges) {
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ChannelClient client(verify_);
        auto hello = client.Start("subject-" + std::to_string(t));
        auto sk = server_->HandleHello(*hello);
        if (!sk.ok()) continue;
        auto confirm = client.OnSessionKey(*sk, Secret("pw-" + std::to_string(t)));
        if (!confirm.ok()) continue;
        auto dk = server_->HandleConfirm(*confirm, [t](ByteView p, std::string_view s) {
          if (AsString(p) != "pw-" + std::to_string(t) || s != "subject-" + std::to_string(t))
            return Result<SecretBytes>(PermissionDenied("mismatch"));
          return Result<SecretBytes>(SecretBytes(AsBytes(s)));
        });
        if (!dk.ok()) continue;
        auto d = client.OnDataKey(*dk);
        if (d.ok() && Str(d->payload) == "subject-" + std::to_string(t)) ++done;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(server_->stats().pending_exchanges, 0u);
}

}  // namespace
}  // namespace keycast
