#include "keycast/ticket.h"

#include <gtest/gtest.h>

#include <thread>

#include "keycast/ticket_service.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};
constexpr int64_t kT0 = 1'800'000'000;

class TicketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    dir_ =
        std::move(Directory::Open(store_.get(), sealer_.get(), &clock_, {PasswordCost::kTestOnly}))
            .value();
    auto keys = ServiceKeys::Open(store_.get(), sealer_.get(), &clock_, 7 * 24 * 3600, true);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();
    svc_ = std::make_unique<TicketService>(dir_.get(), keys_.get(), &clock_,
                                           TicketServiceOptions{3600});
    for (auto g : {"root", "mid", "leaf"}) ASSERT_TRUE(dir_->CreateGroup(kAdmin, {g, ""}).ok());
    ASSERT_TRUE(dir_->AddEdge(kAdmin, "root", "mid").ok());
    ASSERT_TRUE(dir_->AddEdge(kAdmin, "mid", "leaf").ok());
    ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{"alice", "", std::nullopt, true}).ok());
    ASSERT_TRUE(dir_->SetMembership(kAdmin, "alice", "leaf", Role::kReceiver, true).ok());
    AddEvent("news", "root");
    AddEvent("sports", "mid");
    alice_ = AuthenticatedClient{*dir_->FindClient("alice"), "alice", "test"};
  }
  void AddEvent(const std::string& name, const std::string& group) {
    EventSpec e;
    e.name = name;
    e.title = "The " + name + " channel";
    e.group_address = *IpAddress::Parse("239.10.0.1");
    e.port = 6000;
    e.source_address = *IpAddress::Parse("192.0.2.7");
    e.schedule.start = kT0 + 600;
    e.schedule.duration = 7200;
    e.schedule.rule = *ParseRrule("FREQ=DAILY;COUNT=5");
    e.interval_seconds = 30;
    e.clear_intervals = 1;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7400"), *Endpoint::Parse("keys.example.net:7400")};
    ASSERT_TRUE(dir_->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(dir_->AddAssignment(kAdmin, name, group).ok());
  }
  VerifyKeyLookup Lookup() {
    return [this](KeyVersion v) -> const crypto::VerifyKey* {
      held_ = keys_->Verifier(kTicketSigningKey, v);
      return held_.get();
    };
  }

  FakeClock clock_{kT0 * kMicrosPerSecond};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<TicketService> svc_;
  AuthenticatedClient alice_;
  std::shared_ptr<const crypto::VerifyKey> held_;
};

TEST_F(TicketTest, IssuedTicketVerifiesAndListsInheritedEvents) {
  auto issued = svc_->Issue(alice_);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  auto t = VerifyTicket(issued->ticket, Lookup(), kT0, 0);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->client_name, "alice");
  EXPECT_EQ(t->expires_at, kT0 + 3600);
  EXPECT_EQ(t->issued_at, kT0);
  ASSERT_EQ(t->events.size(), 2u);
  const TicketEvent* news = t->FindEvent("news");
  ASSERT_NE(news, nullptr);
  EXPECT_EQ(news->title, "The news channel");
  EXPECT_EQ(news->group_address.ToString(), "239.10.0.1");
  EXPECT_EQ(news->source_address.ToString(), "192.0.2.7");
  EXPECT_EQ(news->port, 6000);
  EXPECT_EQ(news->schedule.rule->ToString(), "FREQ=DAILY;COUNT=5");
  EXPECT_EQ(news->key_servers.size(), 2u);
  EXPECT_EQ(news->clear_intervals, 1);
  EXPECT_EQ(news->role, Role::kReceiver);
  ASSERT_EQ(t->groups.size(), 1u);
  EXPECT_EQ(t->groups[0], dir_->GetGroup("leaf")->group.id);
  // The credential opens only with the sealing key and holds the session key.
  auto sealing = keys_->SealingKey(t->sealing_key);
  ASSERT_NE(sealing, nullptr);
  auto cred = OpenCredential(t->credential, *sealing);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  EXPECT_TRUE(cred->session_key == issued->session_key);
  EXPECT_EQ(cred->client, alice_.id);
  EXPECT_EQ(cred->expires_at, t->expires_at);
  EXPECT_EQ(cred->RoleFor(news->id), Role::kReceiver);
  EXPECT_FALSE(OpenCredential(t->credential, crypto::RandomSecret(32)).ok());
}

TEST_F(TicketTest, EveryByteFlipIsRejected) {
  auto issued = svc_->Issue(alice_);
  ASSERT_TRUE(issued.ok());
  const Bytes& good = issued->ticket;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80}) {
      Bytes bad = good;
      bad[i] ^= mask;
      EXPECT_FALSE(VerifyTicket(bad, Lookup(), kT0, 0).ok()) << "flip at byte " << i;
    }
  }
}

TEST_F(TicketTest, TruncationAndTrailingBytesAreRejected) {
  auto issued = svc_->Issue(alice_);
  const Bytes& good = issued->ticket;
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(DecodeTicket(ByteView(good.data(), n)).ok()) << n;
  Bytes longer = good;
  longer.push_back(0);
  auto r = DecodeTicket(longer);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos);
  EXPECT_FALSE(DecodeTicket(Bytes(limits::kMaxTicketBytes + 1, 0)).ok());
}

TEST_F(TicketTest, ExpiredAndNotYetValid) {
  auto issued = svc_->Issue(alice_);
  auto late = VerifyTicket(issued->ticket, Lookup(), kT0 + 3601, 0);
  EXPECT_EQ(late.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  EXPECT_TRUE(VerifyTicket(issued->ticket, Lookup(), kT0 + 3601, 5).ok());  // within skew
  EXPECT_EQ(VerifyTicket(issued->ticket, Lookup(), kT0 - 100, 30).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(TicketTest, DisabledClientGetsNoTicket) {
  ClientPatch off;
  off.enabled = false;
  ASSERT_TRUE(dir_->UpdateClient(kAdmin, "alice", off).ok());
  EXPECT_EQ(svc_->Issue(alice_).status().code(), Code::kFailedPrecondition);
}

TEST_F(TicketTest, DeletedEventLeavesTheNextTicket) {
  ASSERT_TRUE(dir_->DeleteEvent(kAdmin, "sports").ok());
  auto t = VerifyTicket(svc_->Issue(alice_)->ticket, Lookup(), kT0, 0);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->events.size(), 1u);
  EXPECT_EQ(t->events[0].name, "news");
}

TEST_F(TicketTest, SigningKeyRotationKeepsUnexpiredTicketsValid) {
  auto old_ticket = svc_->Issue(alice_);
  ASSERT_TRUE(keys_->Rotate(std::string(kTicketSigningKey), kAdmin).ok());
  ASSERT_TRUE(keys_->Rotate(std::string(kTicketSealingKey), kAdmin).ok());
  auto new_ticket = svc_->Issue(alice_);
  auto o = VerifyTicket(old_ticket->ticket, Lookup(), kT0, 0);
  auto n = VerifyTicket(new_ticket->ticket, Lookup(), kT0, 0);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(o->signing_key.value, 1u);
  EXPECT_EQ(n->signing_key.value, 2u);
  EXPECT_EQ(n->sealing_key.value, 2u);
  // The old credential still opens under the retired sealing key.
  EXPECT_TRUE(OpenCredential(o->credential, *keys_->SealingKey(o->sealing_key)).ok());
  // Two published verification keys.
  EXPECT_EQ(keys_->List(kTicketSigningKey).size(), 2u);
  // After the retention, the retired key is gone.
  clock_.Advance(8LL * 24 * 3600 * kMicrosPerSecond);
  auto gone = VerifyTicket(old_ticket->ticket, Lookup(), kT0, 0);
  EXPECT_EQ(gone.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(keys_->List(kTicketSigningKey).size(), 1u);
}

TEST_F(TicketTest, KeysSurviveRestartSealed) {
  auto t = svc_->Issue(alice_);
  auto reopened = ServiceKeys::Open(store_.get(), sealer_.get(), &clock_, 3600, false);
  ASSERT_TRUE(reopened.ok());
  auto v = (*reopened)->Verifier(kTicketSigningKey, KeyVersion{1});
  ASSERT_NE(v, nullptr);
  auto parsed = DecodeTicket(t->ticket);
  EXPECT_TRUE(VerifyTicket(
                  t->ticket, [&](KeyVersion) { return v.get(); }, kT0, 0)
                  .ok());
  // A different KEK cannot open the stored keys.
  auto other = Sealer::FromKey(crypto::RandomSecret(32));
  EXPECT_FALSE(ServiceKeys::Open(store_.get(), &*other, &clock_, 3600, false).ok());
}

TEST_F(TicketTest, AnotherKekIsRefusedByTheKekCheckValue) {
  // The check value written at first open makes the refusal say what is
  // wrong, and comes before anything is sealed under the wrong KEK.
  auto other = Sealer::FromKey(crypto::RandomSecret(32));
  auto before = store_->LoadServiceKeys(std::string(kTicketSigningKey));
  ASSERT_TRUE(before.ok());
  auto r = ServiceKeys::Open(store_.get(), &*other, &clock_, 3600, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("is not the cluster's"), std::string::npos)
      << r.status().message();
  auto after = store_->LoadServiceKeys(std::string(kTicketSigningKey));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());
  // A fresh store: the first KEK writes the check value, a second one is refused
  // even though it could not be caught by any sealed key yet.
  auto fresh = std::move(OpenSqliteStore(":memory:")).value();
  ASSERT_TRUE(fresh->LoadServiceKeys("kek-check")->empty());
  ASSERT_TRUE(ServiceKeys::Open(fresh.get(), sealer_.get(), &clock_, 3600, true).ok());
  EXPECT_EQ(fresh->LoadServiceKeys("kek-check")->size(), 1u);
  EXPECT_TRUE(ServiceKeys::Open(fresh.get(), sealer_.get(), &clock_, 3600, true).ok());
  EXPECT_EQ(ServiceKeys::Open(fresh.get(), &*other, &clock_, 3600, false).status().code(),
            Code::kFailedPrecondition);
}

TEST_F(TicketTest, WaitForNewTicketWakesOnChange) {
  auto first = svc_->Issue(alice_);
  auto none =
      svc_->WaitForNewTicket(alice_, first->grant_digest,
                             std::chrono::steady_clock::now() + std::chrono::milliseconds(30));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    AddEvent("late", "leaf");
  });
  auto fresh = svc_->WaitForNewTicket(alice_, first->grant_digest,
                                      std::chrono::steady_clock::now() + std::chrono::seconds(10));
  t.join();
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(fresh->has_value());
  EXPECT_EQ((*fresh)->events, 3u);
  EXPECT_NE((*fresh)->grant_digest, first->grant_digest);
}

TEST_F(TicketTest, EventChangeChangesDigest) {
  auto d1 = svc_->CurrentGrantDigest(alice_.id);
  EventPatch p;
  p.port = 6001;
  ASSERT_TRUE(dir_->UpdateEvent(kAdmin, "news", p).ok());
  auto d2 = svc_->CurrentGrantDigest(alice_.id);
  EXPECT_NE(*d1, *d2);
}

// Issue encodes straight from the directory's events; the bytes must be
// those of the public encoder for the ticket they decode to (Ed25519 is
// deterministic, so the signatures match too), and the digest that of
// TicketGrantDigest.
TEST_F(TicketTest, IssuedBytesMatchThePublicEncoder) {
  ASSERT_TRUE(dir_->CreateClient(kAdmin, ClientSpec{"studio", "", std::nullopt, true}).ok());
  ASSERT_TRUE(dir_->SetMembership(kAdmin, "alice", "mid", Role::kSender, true).ok());
  AddEvent("live", "leaf");
  EventPatch p;
  p.sender = "studio";
  p.source_address = IpAddress();
  p.schedule = Schedule{kT0 + 60, 600, std::nullopt};
  ASSERT_TRUE(dir_->UpdateEvent(kAdmin, "live", p).ok());
  auto issued = svc_->Issue(alice_);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  auto decoded = DecodeTicket(issued->ticket);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->events.size(), 3u);
  EXPECT_EQ(decoded->FindEvent("live")->sender_name, "studio");
  EXPECT_EQ(decoded->FindEvent("live")->role, Role::kReceiver);
  EXPECT_EQ(decoded->FindEvent("sports")->role, Role::kSender);
  EXPECT_EQ(decoded->FindEvent("news")->role, Role::kSender);
  Ticket again = *decoded;
  auto signer = keys_->ActiveSigner(kTicketSigningKey);
  EXPECT_EQ(EncodeAndSignTicket(&again, *signer.key), issued->ticket);
  EXPECT_EQ(TicketGrantDigest(decoded->groups, decoded->events), issued->grant_digest);
  EXPECT_EQ(*svc_->CurrentGrantDigest(alice_.id), issued->grant_digest);
}

}  // namespace
}  // namespace keycast
