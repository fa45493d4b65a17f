// The key service's decision procedure: every check and refusal.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>
#include <set>
#include <tuple>

#include "keycast/key_service.h"
#include "keycast/limits.h"
#include "keycast/ticket_service.h"

namespace keycast {
namespace {

using keyproto::ReplyStatus;
using keyproto::RequestKind;

const Actor kAdmin{"admin:test"};
constexpr int64_t kStart = 1'900'000'000;  // event start, Unix seconds

class KeyEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ =
        std::move(Directory::Open(store_.get(), sealer_.get(), &clock_, {PasswordCost::kTestOnly}))
            .value();
    keys_ = std::move(ServiceKeys::Open(store_.get(), sealer_.get(), &clock_, 3600, true)).value();
    tickets_ = std::make_unique<TicketService>(dir_.get(), keys_.get(), &clock_,
                                               TicketServiceOptions{3600});
    KeyServiceOptions o;
    o.clock_skew_seconds = 30;
    o.grace_seconds = 2;
    engine_ = std::make_unique<KeyEngine>(dir_.get(), keys_.get(), store_.get(), sealer_.get(),
                                          &clock_, o);
    ASSERT_TRUE(dir_->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(dir_->CreateGroup(kAdmin, {"studio", ""}).ok());
    EventSpec e;
    e.name = "show";
    e.title = "The show";
    e.group_address = *IpAddress::Parse("239.5.5.5");
    e.port = 5000;
    e.schedule.start = kStart;
    e.schedule.duration = 600;
    e.interval_seconds = 10;
    e.initial_keying_seconds = 120;
    e.clear_intervals = 1;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    ASSERT_TRUE(dir_->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, "show", "viewers").ok());
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, "show", "studio").ok());
    for (auto c : {"alice", "bob", "cam1", "cam2"})
      ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{c, "", std::nullopt, true}).ok());
    for (auto c : {"alice", "bob"})
      ASSERT_TRUE(dir_->SetMembership(kAdmin, c, "viewers", Role::kReceiver, true).ok());
    for (auto c : {"cam1", "cam2"})
      ASSERT_TRUE(dir_->SetMembership(kAdmin, c, "studio", Role::kSender, true).ok());
    clock_.Set((kStart - 60) * kMicrosPerSecond);  // inside the initial keying period
  }

  struct Session {
    IssuedTicket issued;
    Ticket ticket;
    keyproto::SessionKeys keys;
  };
  Session Login(const std::string& name) {
    auto id = *dir_->FindClient(name);
    auto t = tickets_->Issue(AuthenticatedClient{id, name, "test"});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    Session s{std::move(t).value(), {}, {}};
    s.ticket = *DecodeTicket(s.issued.ticket);
    s.keys = keyproto::SessionKeys::Derive(s.issued.session_key, s.ticket.id);
    return s;
  }
  keyproto::Request Req(const Session& s, RequestKind kind, Epoch epoch = {},
                        SenderId sender = {}) {
    keyproto::Request q;
    q.credential = s.ticket.credential;
    crypto::RandomFill(q.client_nonce);
    q.timestamp = clock_.Now();
    q.event = s.ticket.events.at(0).id;
    q.kind = kind;
    q.epoch = epoch;
    q.sender = sender;
    return q;
  }
  // Sends; returns the opened reply, or nullopt if the engine dropped it.
  std::optional<keyproto::Reply> Send(const Session& s, const keyproto::Request& q,
                                      KeyOutcome* outcome = nullptr, bool tcp = false) {
    Bytes wire = keyproto::EncodeRequest(q, s.keys);
    last_request_size_ = wire.size();
    sockaddr_storage from{};
    from.ss_family = AF_INET;
    Bytes out = engine_->Handle(wire, from, sizeof(sockaddr_in), tcp, outcome);
    last_reply_size_ = out.size();
    if (out.empty()) return std::nullopt;
    auto r = keyproto::OpenReply(out, s.keys, q.client_nonce);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::optional(std::move(r).value()) : std::nullopt;
  }
  void At(int64_t seconds_from_start) {
    clock_.Set((kStart + seconds_from_start) * kMicrosPerSecond);
  }

  FakeClock clock_{0};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> tickets_;
  std::unique_ptr<KeyEngine> engine_;
  size_t last_request_size_ = 0, last_reply_size_ = 0;
};

TEST_F(KeyEngineTest, InitialRequestInTheKeyingPeriodGetsTheFirstEpoch) {
  auto s = Login("alice");
  auto r = Send(s, Req(s, RequestKind::kInitial));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, ReplyStatus::kOk) << r->reason;
  ASSERT_EQ(r->sas.size(), 1u);
  const auto& sa = r->sas[0];
  EXPECT_EQ(sa.epoch, (Epoch{0, 0}));
  EXPECT_TRUE(sa.clear);  // clear_intervals = 1 (seed 000 claim 18)
  EXPECT_EQ(sa.initiation, kStart * kMicrosPerSecond);
  EXPECT_EQ(sa.lifetime, 10 * kMicrosPerSecond);
  EXPECT_EQ(sa.group.ToString(), "239.5.5.5");
  EXPECT_EQ(sa.role, Role::kReceiver);
}

TEST_F(KeyEngineTest, TooEarlyBeforeTheKeyingPeriodSaysWhen) {
  At(-121);
  auto s = Login("alice");
  auto r = Send(s, Req(s, RequestKind::kInitial));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReplyStatus::kTooEarly);
  EXPECT_EQ(r->retry_after, (kStart - 120) * kMicrosPerSecond);
  EXPECT_TRUE(r->sas.empty());
}

TEST_F(KeyEngineTest, LateJoinGetsTheCurrentEpochAndKeysFollowTheServerClock) {
  At(35);
  auto s = Login("alice");
  auto q = Req(s, RequestKind::kInitial);
  q.timestamp -= 20 * kMicrosPerSecond;  // a client clock 20 s slow: the server's clock decides
  auto r = Send(s, q);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, ReplyStatus::kOk) << r->reason;
  EXPECT_EQ(r->sas[0].epoch, (Epoch{0, 3}));
  EXPECT_FALSE(r->sas[0].clear);
  EXPECT_EQ(r->sas[0].key.size(), 32u);
}

TEST_F(KeyEngineTest, RefreshOnlyInsideTheForwardSecurityWindow) {
  At(35);  // in epoch 3
  auto s = Login("alice");
  auto next = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 4}));
  ASSERT_EQ(next->status, ReplyStatus::kOk) << next->reason;
  auto far = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 6}));
  EXPECT_EQ(far->status, ReplyStatus::kTooEarly);
  EXPECT_GT(far->retry_after, clock_.Now());
  auto past = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 1}));
  EXPECT_EQ(past->status, ReplyStatus::kTooLate);
  auto none = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 999}));
  EXPECT_EQ(none->status, ReplyStatus::kTooLate);
}

TEST_F(KeyEngineTest, ForwardSecurityEachEpochHasItsOwnKeyAndSpi) {
  At(35);
  auto s = Login("alice");
  auto e3 = Send(s, Req(s, RequestKind::kInitial))->sas[0];
  auto e4 = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 4}))->sas[0];
  EXPECT_FALSE(e3.key == e4.key);
  EXPECT_NE(e3.spi.value, e4.spi.value);
  EXPECT_GE(e3.spi.value, 256u);
  // Deterministic: another member gets the same key for the same epoch.
  auto b = Login("bob");
  auto b3 = Send(b, Req(b, RequestKind::kInitial))->sas[0];
  EXPECT_TRUE(b3.key == e3.key);
  EXPECT_EQ(b3.spi.value, e3.spi.value);
}

TEST_F(KeyEngineTest, OnlyTheRequesterCanReadTheAnswer) {
  At(35);
  auto a = Login("alice");
  auto b = Login("bob");
  auto q = Req(a, RequestKind::kInitial);
  Bytes wire = keyproto::EncodeRequest(q, a.keys);
  sockaddr_storage from{};
  Bytes out = engine_->Handle(wire, from, 0, false);
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(keyproto::OpenReply(out, a.keys, q.client_nonce).ok());
  EXPECT_EQ(keyproto::OpenReply(out, b.keys, q.client_nonce).status().code(),
            Code::kUnauthenticated);
}

TEST_F(KeyEngineTest, ForgedRequestsAreDroppedWithoutAnAnswer) {
  At(35);
  auto s = Login("alice");
  Bytes good = keyproto::EncodeRequest(Req(s, RequestKind::kInitial), s.keys);
  sockaddr_storage from{};
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x20;
    KeyOutcome o;
    EXPECT_TRUE(engine_->Handle(bad, from, 0, false, &o).empty()) << "byte " << i;
    EXPECT_NE(o, KeyOutcome::kOk);
  }
  // Truncated at every length.
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_TRUE(engine_->Handle(ByteView(good.data(), n), from, 0, false).empty()) << n;
  // A request made with a guessed session key.
  keyproto::SessionKeys wrong =
      keyproto::SessionKeys::Derive(crypto::RandomSecret(32), s.ticket.id);
  KeyOutcome o;
  EXPECT_TRUE(engine_
                  ->Handle(keyproto::EncodeRequest(Req(s, RequestKind::kInitial), wrong), from, 0,
                           false, &o)
                  .empty());
  EXPECT_EQ(o, KeyOutcome::kBadProof);
  EXPECT_GT(engine_->count(KeyOutcome::kBadProof), 0u);
  EXPECT_GT(engine_->count(KeyOutcome::kBadCredential), 0u);
  EXPECT_GT(engine_->count(KeyOutcome::kMalformed), 0u);
}

TEST_F(KeyEngineTest, ReplayGetsNothing) {
  At(35);
  auto s = Login("alice");
  Bytes wire = keyproto::EncodeRequest(Req(s, RequestKind::kInitial), s.keys);
  sockaddr_storage from{};
  KeyOutcome o;
  EXPECT_FALSE(engine_->Handle(wire, from, 0, false, &o).empty());
  EXPECT_EQ(o, KeyOutcome::kOk);
  EXPECT_TRUE(engine_->Handle(wire, from, 0, false, &o).empty());
  EXPECT_EQ(o, KeyOutcome::kReplay);
  // Replayed from elsewhere, later (still within the skew): nothing either.
  clock_.Advance(20 * kMicrosPerSecond);
  sockaddr_storage elsewhere{};
  elsewhere.ss_family = AF_INET6;
  EXPECT_TRUE(engine_->Handle(wire, elsewhere, sizeof(sockaddr_in6), false, &o).empty());
  EXPECT_EQ(o, KeyOutcome::kReplay);
  // After the skew window the timestamp check refuses it.
  clock_.Advance(40 * kMicrosPerSecond);
  auto bytes = engine_->Handle(wire, from, 0, false, &o);
  EXPECT_EQ(o, KeyOutcome::kClockSkew);
  EXPECT_TRUE(keyproto::OpenReply(bytes, s.keys, keyproto::ParseRequest(wire)->request.client_nonce)
                  ->sas.empty());
}

TEST_F(KeyEngineTest, ClockSkewBound) {
  At(35);
  auto s = Login("alice");
  auto q = Req(s, RequestKind::kInitial);
  q.timestamp += 31 * kMicrosPerSecond;
  KeyOutcome o;
  auto r = Send(s, q, &o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReplyStatus::kClockSkew);
  EXPECT_EQ(r->server_time, clock_.Now());
  EXPECT_TRUE(r->sas.empty());
}

TEST_F(KeyEngineTest, ExpiredTicketIsRefused) {
  auto s = Login("alice");
  clock_.Advance((3600 + 31) * kMicrosPerSecond);
  auto r = Send(s, Req(s, RequestKind::kInitial));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReplyStatus::kNotAuthorized);
  EXPECT_NE(r->reason.find("expired"), std::string::npos);
  EXPECT_TRUE(r->sas.empty());
}

TEST_F(KeyEngineTest, RevocationIsLiveWhateverTheTicketSays) {
  At(35);
  auto s = Login("alice");
  ASSERT_EQ(Send(s, Req(s, RequestKind::kInitial))->status, ReplyStatus::kOk);
  ASSERT_TRUE(dir_->RemoveMembership(kAdmin, "alice", "viewers").ok());
  auto r = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 4}));
  EXPECT_EQ(r->status, ReplyStatus::kNotAuthorized);
  EXPECT_TRUE(r->sas.empty());
  // Disabled client.
  auto b = Login("bob");
  ClientPatch off;
  off.enabled = false;
  ASSERT_TRUE(dir_->UpdateClient(kAdmin, "bob", off).ok());
  EXPECT_EQ(Send(b, Req(b, RequestKind::kInitial))->status, ReplyStatus::kNotAuthorized);
  // Deleted event: nobody gets keys.
  auto c = Login("cam1");
  ASSERT_TRUE(dir_->DeleteEvent(kAdmin, "show").ok());
  EXPECT_EQ(Send(c, Req(c, RequestKind::kInitial))->status, ReplyStatus::kNotAuthorized);
  EXPECT_GE(engine_->count(KeyOutcome::kNotAuthorized), 3u);
}

TEST_F(KeyEngineTest, EventNotInTheTicketIsRefused) {
  At(35);
  auto s = Login("alice");
  auto q = Req(s, RequestKind::kInitial);
  q.event = EventId(q.event.value + 100);
  KeyOutcome o;
  auto r = Send(s, q, &o);
  EXPECT_EQ(r->status, ReplyStatus::kNotAuthorized);
  EXPECT_EQ(o, KeyOutcome::kNotInTicket);
}

TEST_F(KeyEngineTest, SendersGetDistinctSenderIdsAndCannotUseOthers) {
  At(35);
  auto c1 = Login("cam1");
  auto c2 = Login("cam2");
  auto r1 = Send(c1, Req(c1, RequestKind::kInitial));
  auto r2 = Send(c2, Req(c2, RequestKind::kInitial));
  ASSERT_EQ(r1->status, ReplyStatus::kOk);
  EXPECT_EQ(r1->sas[0].role, Role::kSender);
  EXPECT_NE(r1->sas[0].sender.value, 0u);
  EXPECT_NE(r1->sas[0].sender.value, r2->sas[0].sender.value);
  // Refresh keeps the sender id.
  auto again = Send(c1, Req(c1, RequestKind::kRefresh, Epoch{0, 4}, r1->sas[0].sender));
  EXPECT_EQ(again->sas[0].sender.value, r1->sas[0].sender.value);
  // Using another sender's id is refused.
  auto stolen = Send(c2, Req(c2, RequestKind::kRefresh, Epoch{0, 4}, r1->sas[0].sender));
  EXPECT_EQ(stolen->status, ReplyStatus::kNotAuthorized);
  // A receiver asking is not given a sender id.
  auto a = Login("alice");
  EXPECT_EQ(Send(a, Req(a, RequestKind::kInitial))->sas[0].sender.value, 0u);
}

TEST_F(KeyEngineTest, ServerInitiatedRekeyNonces) {
  At(35);
  auto s = Login("alice");
  ASSERT_EQ(Send(s, Req(s, RequestKind::kInitial))->status, ReplyStatus::kOk);
  auto wakeups = engine_->MakeWakeups(s.ticket.events[0].id);
  ASSERT_EQ(wakeups.size(), 1u);
  auto w = keyproto::ParseWakeup(wakeups[0].message);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(keyproto::VerifyWakeup(wakeups[0].message, s.keys));
  EXPECT_NE(w->server_nonce, keyproto::kClientInitiated);
  // Answer with the nonce: accepted once.
  auto q = Req(s, RequestKind::kInitial);
  q.server_nonce = w->server_nonce;
  auto r = Send(s, q);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReplyStatus::kOk);
  // Reused nonce: disregarded.
  KeyOutcome o;
  auto q2 = Req(s, RequestKind::kInitial);
  q2.server_nonce = w->server_nonce;
  EXPECT_FALSE(Send(s, q2, &o));
  EXPECT_EQ(o, KeyOutcome::kBadNonce);
  // Forged nonce: disregarded.
  auto q3 = Req(s, RequestKind::kInitial);
  q3.server_nonce = w->server_nonce ^ 1;
  EXPECT_FALSE(Send(s, q3, &o));
  EXPECT_EQ(o, KeyOutcome::kBadNonce);
  // Stale nonce: disregarded.
  auto w2 = keyproto::ParseWakeup(engine_->MakeWakeups(s.ticket.events[0].id)[0].message);
  clock_.Advance(31 * kMicrosPerSecond);
  auto q4 = Req(s, RequestKind::kRefresh, Epoch{0, 7});
  q4.server_nonce = w2->server_nonce;
  EXPECT_FALSE(Send(s, q4, &o));
  EXPECT_EQ(o, KeyOutcome::kBadNonce);
  // Another client cannot use alice's nonce.
  auto b = Login("bob");
  ASSERT_EQ(Send(b, Req(b, RequestKind::kRefresh, Epoch{0, 7}))->status, ReplyStatus::kOk);
  auto both = engine_->MakeWakeups(s.ticket.events[0].id);
  ASSERT_EQ(both.size(), 2u);
  uint64_t alices = 0;
  for (auto& wk : both)
    if (keyproto::VerifyWakeup(wk.message, s.keys)) alices = wk.nonce;
  ASSERT_NE(alices, 0u);
  auto q5 = Req(b, RequestKind::kRefresh, Epoch{0, 7});
  q5.server_nonce = alices;
  EXPECT_FALSE(Send(b, q5, &o));
  EXPECT_EQ(o, KeyOutcome::kBadNonce);
  // The client-initiated marker is never issued.
  for (int i = 0; i < 200; ++i)
    for (auto& wk : engine_->MakeWakeups(s.ticket.events[0].id))
      EXPECT_NE(wk.nonce, keyproto::kClientInitiated);
}

TEST_F(KeyEngineTest, RecentClientsCountsGrantedRequestersAndForgetsOldOnes) {
  KeyServiceOptions o;
  o.requester_ttl_seconds = 60;
  engine_ =
      std::make_unique<KeyEngine>(dir_.get(), keys_.get(), store_.get(), sealer_.get(), &clock_, o);
  At(35);
  auto a = Login("alice"), b = Login("bob");
  EventId ev = a.ticket.events[0].id;
  EXPECT_EQ(engine_->RecentClients(ev, 0), 0u);
  ASSERT_EQ(Send(a, Req(a, RequestKind::kInitial))->status, ReplyStatus::kOk);
  ASSERT_EQ(Send(b, Req(b, RequestKind::kInitial))->status, ReplyStatus::kOk);
  ASSERT_EQ(Send(b, Req(b, RequestKind::kInitial))->status, ReplyStatus::kOk);  // counted once
  EXPECT_EQ(engine_->RecentClients(ev, clock_.Now() - 10 * kMicrosPerSecond), 2u);
  EXPECT_EQ(engine_->RecentClients(EventId(ev.value + 1), 0), 0u);
  // A revoked client's refused request is not a grant.
  At(50);
  ASSERT_TRUE(dir_->RemoveMembership(kAdmin, "alice", "viewers").ok());
  EXPECT_EQ(Send(a, Req(a, RequestKind::kInitial))->status, ReplyStatus::kNotAuthorized);
  ASSERT_EQ(Send(b, Req(b, RequestKind::kInitial))->status, ReplyStatus::kOk);
  EXPECT_EQ(engine_->RecentClients(ev, clock_.Now() - 10 * kMicrosPerSecond), 1u);
  EXPECT_EQ(engine_->RecentClients(ev, 0), 2u);
  // Past the TTL, a wakeup round forgets alice: only bob is woken.
  At(50 + 61);
  ASSERT_EQ(Send(b, Req(b, RequestKind::kInitial))->status, ReplyStatus::kOk);
  EXPECT_EQ(engine_->MakeWakeups(ev).size(), 1u);
  EXPECT_EQ(engine_->RecentClients(ev, 0), 1u);
}

TEST_F(KeyEngineTest, NoAmplification) {
  At(35);
  auto s = Login("alice");
  // Authenticated refusals are never larger than the request.
  auto r = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 9}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, ReplyStatus::kTooEarly);
  EXPECT_LE(last_reply_size_, last_request_size_);
}

TEST_F(KeyEngineTest, OversizedAnswerSaysUseTcp) {
  KeyServiceOptions o;
  o.max_udp_reply = 100;
  engine_ =
      std::make_unique<KeyEngine>(dir_.get(), keys_.get(), store_.get(), sealer_.get(), &clock_, o);
  At(35);
  auto s = Login("alice");
  KeyOutcome out;
  auto udp = Send(s, Req(s, RequestKind::kInitial), &out, false);
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->status, ReplyStatus::kUseTcp);
  EXPECT_TRUE(udp->sas.empty());
  auto tcp = Send(s, Req(s, RequestKind::kInitial), &out, true);
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->status, ReplyStatus::kOk);
  EXPECT_EQ(tcp->sas.size(), 1u);
}

TEST_F(KeyEngineTest, UnknownSealingKeyVersionIsDropped) {
  At(35);
  auto s = Login("alice");
  auto q = Req(s, RequestKind::kInitial);
  q.credential[4] ^= 0x7f;  // the sealing-key version field
  KeyOutcome o;
  EXPECT_FALSE(Send(s, q, &o));
  EXPECT_EQ(o, KeyOutcome::kUnknownKeyVersion);
}

// ---- source authentication (docs/key-protocol.md, "Senders") ----

const Signer* FindSigner(const SecurityAssociation& sa, SenderId id) {
  for (const Signer& s : sa.signers)
    if (s.sender == id) return &s;
  return nullptr;
}

class SourceAuthTest : public KeyEngineTest {
 protected:
  void SetUp() override {
    KeyEngineTest::SetUp();
    EventPatch on;
    on.source_auth = true;
    ASSERT_TRUE(dir_->UpdateEvent(kAdmin, "show", on).ok());
    At(35);  // epoch 3, encrypted
  }
  // A key for `name` at the current epoch (initial request).
  SecurityAssociation Key(const std::string& name, std::vector<SenderId> hints = {},
                          SenderId sender = {}) {
    auto s = Login(name);
    auto q = Req(s, RequestKind::kInitial, {}, sender);
    q.signer_hints = std::move(hints);
    auto r = Send(s, q);
    EXPECT_TRUE(r && r->status == ReplyStatus::kOk) << (r ? r->reason : "dropped");
    return r && !r->sas.empty() ? r->sas[0] : SecurityAssociation{};
  }
};

TEST_F(SourceAuthTest, SendersGetTheirSigningKeyAndReceiversTheirPublicKey) {
  SecurityAssociation cam = Key("cam1");
  ASSERT_TRUE(cam.source_auth);
  ASSERT_EQ(cam.signing_key.size(), 32u);
  auto signing = crypto::SigningKey::FromSeed(cam.signing_key);
  ASSERT_TRUE(signing.ok());
  const Signer* self = FindSigner(cam, cam.sender);
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->public_key, signing->public_key());

  SecurityAssociation rx = Key("alice");
  EXPECT_TRUE(rx.source_auth);
  EXPECT_TRUE(rx.signing_key.empty());  // a receiver never holds a signing key
  const Signer* seen = FindSigner(rx, cam.sender);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->public_key, signing->public_key());
  // What the receiver holds verifies the sender's signatures, and only its.
  auto vk = crypto::VerifyKey::FromBytes(seen->public_key);
  ASSERT_TRUE(vk.ok());
  Bytes sig = signing->Sign(AsBytes(std::string_view("manifest")));
  EXPECT_TRUE(vk->Verify(AsBytes(std::string_view("manifest")), sig));
  EXPECT_FALSE(vk->Verify(AsBytes(std::string_view("forged")), sig));
}

TEST_F(SourceAuthTest, SigningKeysAreBoundToSenderAndInterval) {
  SecurityAssociation a = Key("cam1");
  SecurityAssociation b = Key("cam2");
  EXPECT_NE(a.sender, b.sender);
  EXPECT_FALSE(a.signing_key == b.signing_key);
  // The same sender, the same interval: the same key (it is derived). A
  // refresh keeps the sender id (an initial request would get a fresh one,
  // docs/key-protocol.md "Generations").
  auto s0 = Login("cam1");
  auto refetch = Send(s0, Req(s0, RequestKind::kRefresh, a.epoch, a.sender));
  ASSERT_TRUE(refetch && refetch->status == ReplyStatus::kOk);
  SecurityAssociation again = refetch->sas[0];
  EXPECT_EQ(again.sender, a.sender);
  EXPECT_TRUE(again.signing_key == a.signing_key);
  // The next interval: another key, and the signers list it.
  auto s = Login("cam1");
  auto next = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 4}, a.sender));
  ASSERT_TRUE(next && next->status == ReplyStatus::kOk);
  EXPECT_FALSE(next->sas[0].signing_key == a.signing_key);
  const Signer* n = FindSigner(next->sas[0], a.sender);
  ASSERT_NE(n, nullptr);
  EXPECT_NE(n->public_key, FindSigner(a, a.sender)->public_key);
  // Neither interval key nor signing key is derivable from the other.
  EXPECT_FALSE(a.signing_key == a.key);
}

TEST_F(SourceAuthTest, ALateSenderIsVouchedForOnAskingAndInventedIdsNever) {
  SecurityAssociation early = Key("alice");  // before any sender fetched a key
  EXPECT_TRUE(early.signers.empty());
  SecurityAssociation cam = Key("cam1");
  // The receiver saw cam1's packets and an invented id; it asks about both.
  SecurityAssociation looked = Key("alice", {cam.sender, SenderId{4242}});
  ASSERT_EQ(looked.signers.size(), 1u);
  EXPECT_EQ(looked.signers[0].sender, cam.sender);
  EXPECT_EQ(looked.signers[0].public_key, FindSigner(cam, cam.sender)->public_key);
  // A key server that never saw cam1 (another node on the same store, or
  // this one after a restart) vouches for it from the store, and only then.
  KeyServiceOptions o;
  o.grace_seconds = 2;
  engine_ =
      std::make_unique<KeyEngine>(dir_.get(), keys_.get(), store_.get(), sealer_.get(), &clock_, o);
  EXPECT_TRUE(Key("bob").signers.empty());
  SecurityAssociation hinted = Key("bob", {cam.sender, SenderId{4242}});
  ASSERT_EQ(hinted.signers.size(), 1u);
  EXPECT_EQ(hinted.signers[0], looked.signers[0]);
  // Once vouched for, it is listed without asking.
  EXPECT_EQ(Key("alice").signers.size(), 1u);
}

TEST_F(SourceAuthTest, ARevokedSenderIsNoLongerVouchedFor) {
  SecurityAssociation cam = Key("cam1");
  ASSERT_NE(FindSigner(Key("alice"), cam.sender), nullptr);
  ASSERT_TRUE(dir_->RemoveMembership(kAdmin, "cam1", "studio").ok());  // still a viewer
  EXPECT_EQ(FindSigner(Key("alice"), cam.sender), nullptr);
  EXPECT_EQ(FindSigner(Key("alice", {cam.sender}), cam.sender), nullptr);
}

TEST_F(SourceAuthTest, WithoutTheOptionSendersAreVouchedForWithoutKeys) {
  EventPatch off;
  off.source_auth = false;
  ASSERT_TRUE(dir_->UpdateEvent(kAdmin, "show", off).ok());
  SecurityAssociation cam = Key("cam1");
  EXPECT_FALSE(cam.source_auth);
  EXPECT_TRUE(cam.signing_key.empty());
  SecurityAssociation rx = Key("alice");
  ASSERT_EQ(rx.signers.size(), 1u);
  EXPECT_EQ(rx.signers[0].sender, cam.sender);
  EXPECT_TRUE(rx.signers[0].public_key.empty());
}

TEST_F(SourceAuthTest, AClearIntervalCarriesNoSignatureKeys) {
  At(5);  // epoch 0 is clear
  SecurityAssociation cam = Key("cam1");
  EXPECT_TRUE(cam.clear);
  EXPECT_FALSE(cam.source_auth);
  EXPECT_TRUE(cam.signing_key.empty());
  EXPECT_TRUE(cam.signers.empty());
}

// Key generations (docs/key-protocol.md, "Generations"). A recorded run of
// the senders' packets across a restart of a sender, a schedule edit in the
// middle of an interval, a restart of the key service, a rekey and a secret
// rotation: the nonce of a packet is (sender id, seq); seq counts from 1 per
// (key, sender id) within a process (the data plane keeps it across
// re-installs, docs/packet-format.md) and from 1 again after a restart. No
// (key, nonce) pair may repeat.
TEST_F(KeyEngineTest, NoKeyAndNoncePairRepeatsAcrossEditsRestartsAndRejoins) {
  std::set<std::tuple<std::string, uint32_t, uint64_t>> sent;  // (key, sender, seq)
  size_t packets = 0;
  // One sender process: its sequence counters.
  struct Process {
    std::map<std::pair<std::string, uint32_t>, uint64_t> next_seq;
  };
  std::map<std::string, Process> procs;
  auto send = [&](const std::string& who, const SecurityAssociation& sa) {
    ASSERT_FALSE(sa.clear);
    std::string key(sa.key.reveal().begin(), sa.key.reveal().end());
    uint64_t& seq = procs[who].next_seq[{key, sa.sender.value}];
    for (int i = 0; i < 3; ++i) {
      ++packets;
      EXPECT_TRUE(sent.emplace(key, sa.sender.value, ++seq).second)
          << who << " reused a nonce: sender " << sa.sender.value << " seq " << seq;
    }
  };
  auto join = [&](const std::string& who, SenderId had = {}) {
    auto s = Login(who);
    auto r = Send(s, Req(s, RequestKind::kInitial, {}, had));
    EXPECT_TRUE(r && r->status == ReplyStatus::kOk && r->sas.size() == 1u);
    return r ? r->sas.at(0) : SecurityAssociation{};
  };

  At(35);
  SecurityAssociation a1 = join("cam1"), b1 = join("cam2");
  EXPECT_EQ(a1.epoch, (Epoch{0, 3}));
  send("cam1", a1);
  send("cam2", b1);
  // cam1 restarts mid-interval and asks for its old sender id: a new one.
  procs.erase("cam1");
  SecurityAssociation a2 = join("cam1", a1.sender);
  EXPECT_EQ(a2.epoch, a1.epoch);
  EXPECT_NE(a2.sender.value, a1.sender.value) << "a re-join never gets an id used with this key";
  send("cam1", a2);
  // Its refresh of the next epoch keeps the id it has.
  At(39);
  {
    auto s = Login("cam1");
    auto r = Send(s, Req(s, RequestKind::kRefresh, Epoch{0, 4}, a2.sender));
    ASSERT_TRUE(r && r->status == ReplyStatus::kOk) << (r ? r->reason : "dropped");
    EXPECT_EQ(r->sas[0].sender.value, a2.sender.value);
    send("cam1", r->sas[0]);
  }

  // A schedule edit in the middle of interval 4: 12 s intervals map epoch
  // (0, 3) onto [36, 48). Then the key service restarts.
  At(41);
  EventPatch p;
  p.interval_seconds = 12;
  auto edited = dir_->UpdateEvent(kAdmin, "show", p);
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  EXPECT_EQ(edited->event->keys.generation, (KeyGeneration{1, 2}));
  // The new schedule and its keys are in force at once: epoch (0, 3) now
  // means [36, 48), and its key is not the one of [30, 40).
  clock_.Advance(1 * kMicrosPerSecond);
  SecurityAssociation edited_join = join("cam2");
  EXPECT_EQ(edited_join.epoch, (Epoch{0, 3}));
  EXPECT_FALSE(edited_join.key == a1.key) << "no key is used for two time windows";
  send("cam2", edited_join);
  At(43);
  KeyServiceOptions o;
  o.clock_skew_seconds = 30;
  o.grace_seconds = 2;
  engine_ =
      std::make_unique<KeyEngine>(dir_.get(), keys_.get(), store_.get(), sealer_.get(), &clock_, o);
  procs.clear();  // every sender restarts with it
  SecurityAssociation a3 = join("cam1");
  EXPECT_EQ(a3.epoch, a1.epoch) << "the same epoch number, another time window";
  EXPECT_FALSE(a3.key == a1.key) << "the key of an epoch is bound to the schedule version";
  EXPECT_NE(a3.spi.value, a1.spi.value);
  EXPECT_EQ(a3.initiation, (kStart + 36) * kMicrosPerSecond);
  send("cam1", a3);
  send("cam2", join("cam2"));

  // A rekey: in force after the lead; the old keys until then.
  ASSERT_TRUE(dir_->RekeyEvent(kAdmin, "show").ok());
  SecurityAssociation still_old = join("cam1");
  EXPECT_TRUE(still_old.key == a3.key) << "senders cut over at activates_at, not before";
  send("cam1", still_old);
  clock_.Advance(2 * kMicrosPerSecond);
  SecurityAssociation a4 = join("cam1");
  EXPECT_EQ(a4.epoch, a3.epoch);
  EXPECT_FALSE(a4.key == a3.key) << "a rekey gives a new key";
  EXPECT_NE(a4.spi.value, a3.spi.value) << "and a new SPI";
  send("cam1", a4);

  // A secret rotation.
  ASSERT_TRUE(dir_->RotateEventSecret(kAdmin, "show").ok());
  clock_.Advance(2 * kMicrosPerSecond);
  SecurityAssociation a5 = join("cam1"), b5 = join("cam2");
  EXPECT_FALSE(a5.key == a4.key);
  send("cam1", a5);
  send("cam2", b5);
  // A receiver joining now gets the sender's key, not an older one.
  auto al = Login("alice");
  auto ra = Send(al, Req(al, RequestKind::kInitial));
  ASSERT_TRUE(ra && ra->status == ReplyStatus::kOk);
  EXPECT_TRUE(ra->sas[0].key == a5.key);
  EXPECT_EQ(ra->sas[0].spi.value, a5.spi.value);

  EXPECT_EQ(sent.size(), packets);
  EXPECT_GE(packets, 30u);
}

// Once a rotated-out secret is retired, keys of the state it belonged to are
// no longer derivable; the state in force still is.
TEST_F(KeyEngineTest, RetiredSecretsDeriveNothing) {
  At(35);
  auto ev = dir_->FindEvent(dir_->GetEvent("show")->event->id);
  auto old_keys = KeyEngine::InForce(ev->keys, clock_.Now());
  auto before = engine_->DeriveSaFor(*ev, Epoch{0, 3}, Role::kReceiver, {}, old_keys);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(dir_->RotateEventSecret(kAdmin, "show").ok());
  ev = dir_->FindEvent(ev->id);
  clock_.Advance(10 * kMicrosPerSecond);
  ASSERT_EQ(*dir_->RetireOldSecrets(5), 1u);
  // A key service started after the retirement (no cached secret).
  KeyEngine fresh(dir_.get(), keys_.get(), store_.get(), sealer_.get(), &clock_, {});
  EXPECT_EQ(fresh.DeriveSaFor(*ev, Epoch{0, 3}, Role::kReceiver, {}, old_keys).status().code(),
            Code::kNotFound);
  auto now_keys = KeyEngine::InForce(ev->keys, clock_.Now());
  EXPECT_EQ(now_keys.secret_version, 2u);
  auto after = fresh.DeriveSa(*ev, Epoch{0, 3}, Role::kReceiver, {});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_FALSE(after->key == before->key);
}

}  // namespace
}  // namespace keycast
