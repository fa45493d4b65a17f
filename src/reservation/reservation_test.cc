// The reservation platform: senders, admission policies, receiver requests,
// billing (idempotency, declines, refunds), edits, statistics.
#include "keycast/reservation.h"

#include <gtest/gtest.h>

#include "keycast/fault_store.h"
#include "reservation/test_fixture.h"

namespace keycast {
namespace {

using testing::Platform;

ReceiverEntry Entry(const std::string& name, const std::string& password) {
  return ReceiverEntry{name, password};
}

TEST(ReservationSenders, OnlyBroadcastersFile) {
  Platform p;
  EXPECT_EQ(p.platform->AuthenticateSender("anna", "wrong-password").status().code(),
            Code::kUnauthenticated);
  auto bob = p.platform->AuthenticateSender("bob", "bob-password");
  EXPECT_EQ(bob.status().code(), Code::kPermissionDenied);
  EXPECT_NE(bob.status().message().find("broadcasters"), std::string::npos);
  // anna is in "studio", a child of "broadcasters": allowed through the DAG.
  EXPECT_TRUE(p.platform->IsSender(p.sender.id));
  // Bob's reservations are refused even when he is handed an identity.
  auto s = p.Spec("bobs");
  s.price_cents = 100;
  EXPECT_EQ(p.platform->CreateReservation(SenderIdentity{*p.dir->FindClient("bob"), "bob"}, s)
                .status()
                .code(),
            Code::kPermissionDenied);
}

TEST(ReservationCreate, ValidatesEveryField) {
  Platform p;
  auto err = [&](ReservationSpec s) { return p.platform->CreateReservation(p.sender, s).status(); };
  auto s = p.Spec("show");
  EXPECT_NE(err(s).message().find("admission policy is empty"), std::string::npos);
  s.price_cents = 500;
  auto bad = s;
  bad.name = "bad name";
  EXPECT_NE(err(bad).message().find("may contain only"), std::string::npos);
  bad = s;
  bad.name = std::string(41, 'a');
  EXPECT_NE(err(bad).message().find("longer than 40"), std::string::npos);
  bad = s;
  bad.title = "";
  EXPECT_EQ(err(bad).code(), Code::kInvalidArgument);
  bad = s;
  bad.schedule.start = testing::kT0 - 10;
  EXPECT_NE(err(bad).message().find("future"), std::string::npos);
  bad = s;
  bad.group_address = *IpAddress::Parse("10.1.2.3");
  EXPECT_NE(err(bad).message().find("not a multicast address"), std::string::npos);
  bad = s;
  bad.port = 0;
  EXPECT_NE(err(bad).message().find("port"), std::string::npos);
  bad = s;
  bad.receivers = {Entry("alice", "short")};
  EXPECT_NE(err(bad).message().find("at least 8"), std::string::npos);
  bad = s;
  bad.receivers = {Entry("alice", "alice-secret"), Entry("alice", "alice-secret")};
  EXPECT_NE(err(bad).message().find("twice"), std::string::npos);
  bad = s;
  bad.groups = {"nope"};
  EXPECT_EQ(err(bad).code(), Code::kNotFound);
  bad = s;
  bad.price_cents = -1;
  EXPECT_EQ(err(bad).code(), Code::kInvalidArgument);
  bad = s;
  bad.sa = ProvidedSa{Spi{0}, crypto::AeadAlgorithm::kAes256Gcm, crypto::RandomSecret(32)};
  EXPECT_NE(err(bad).message().find("SPI 0"), std::string::npos);
  bad = s;
  bad.schedule.rule = *ParseRrule("FREQ=DAILY");
  bad.schedule.duration = 2 * 86400;
  EXPECT_NE(err(bad).message().find("schedule"), std::string::npos);
  // Nothing of the refused attempts was written.
  EXPECT_EQ(p.dir->counts().events, 0u);
  EXPECT_TRUE(p.platform->ListReservations(p.sender)->empty());

  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  EXPECT_EQ(err(s).code(), Code::kAlreadyExists);
  // Same group and port at an overlapping time.
  auto clash = s;
  clash.name = "other";
  clash.schedule.start += 600;
  EXPECT_NE(err(clash).message().find("reserved by transmission 'show'"), std::string::npos);
  clash.port = 5006;
  EXPECT_TRUE(p.platform->CreateReservation(p.sender, clash).ok());
}

TEST(ReservationCreate, GeneratedSaMakesEventGroupAndSender) {
  Platform p;
  auto s = p.Spec("news");
  s.receivers = {Entry("alice", "alice-secret")};
  s.groups = {"subscribers"};
  auto v = p.platform->CreateReservation(p.sender, s);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->event_name, "resv.news");
  EXPECT_EQ(v->receivers, std::vector<std::string>{"alice"});
  EXPECT_EQ(v->groups, std::vector<std::string>{"subscribers"});
  EXPECT_TRUE(v->editable);
  auto ev = p.dir->GetEvent("resv.news");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->sender_name, "anna");
  EXPECT_TRUE(p.dir->IsAuthorized(p.sender.id, ev->event->id, Role::kSender));
  // Subscribers are pre-approved: sue gets keys with no request.
  EXPECT_TRUE(p.dir->IsAuthorized(*p.dir->FindClient("sue"), ev->event->id, Role::kReceiver));
  auto st = p.platform->Stats(p.sender, "news");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->subscribers, 1u);
  EXPECT_EQ(st->listed_receivers, 1u);
  // Receiver passwords are stored as Argon2id hashes only.
  auto list = p.store->LoadReservationReceivers(v->reservation.id);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ((*list)[0].password_hash.find("alice-secret"), std::string::npos);
}

TEST(ReservationRequest, ListedReceiverGetsKeycastCredentials) {
  Platform p;
  auto s = p.Spec("news");
  s.receivers = {Entry("alice", "alice-secret"), Entry("carol", "carol-secret")};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  // Wrong password and unknown names get the same answer, and nothing.
  auto wrong = p.platform->RequestAccess("news", "alice", Platform::Param("alice-wrong"));
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
  auto stranger = p.platform->RequestAccess("news", "mallory", Platform::Param("alice-secret"));
  EXPECT_EQ(stranger.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(wrong.status().message().find("alice"), stranger.status().message().find("mallory"));
  EXPECT_FALSE(p.dir->FindClient("rx.1.mallory"));

  auto ok = p.platform->RequestAccess("news", "alice", Platform::Param("alice-secret"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->new_grant);
  EXPECT_FALSE(ok->charged);
  EXPECT_EQ(ok->config.mode, "keycast");
  EXPECT_EQ(ok->config.event, "resv.news");
  EXPECT_EQ(ok->config.client, "rx.1.alice");
  auto a = p.dir->AuthenticateApiKey(ok->config.api_key);
  ASSERT_TRUE(a.ok());
  auto ev = p.dir->GetEvent("resv.news");
  EXPECT_TRUE(p.dir->IsAuthorized(a->id, ev->event->id, Role::kReceiver));
  EXPECT_FALSE(p.dir->IsAuthorized(a->id, ev->event->id, Role::kSender));
  // Asking again returns the same credentials; no second client.
  auto again = p.platform->RequestAccess("news", "alice", Platform::Param("alice-secret"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->new_grant);
  EXPECT_EQ(again->config.api_key, ok->config.api_key);
  auto st = p.platform->Stats(p.sender, "news");
  EXPECT_EQ(st->approved_receivers, 1u);
  EXPECT_EQ(st->requests_refused, 2u);
  EXPECT_EQ(st->entitled_now, 0u);           // the initial keying period has not begun
  p.clock.Advance(3400 * kMicrosPerSecond);  // 200 s before the start: initial keying period
  EXPECT_EQ(p.platform->Stats(p.sender, "news")->entitled_now, 1u);
  EXPECT_FALSE(p.platform->Stats(p.sender, "news")->keyed_now.has_value());
}

TEST(ReservationRequest, PaidRequestChargesOnceAndDeclinesGrantNothing) {
  Platform p;
  auto s = p.Spec("fight");
  s.price_cents = 499;
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto id = p.store->FindReservation("fight")->id;

  // No card: refused, nothing charged.
  EXPECT_EQ(p.platform->RequestAccess("fight", "dan", Platform::Param("")).status().code(),
            Code::kInvalidArgument);
  // Declined card: no grant, a declined ledger row.
  auto declined =
      p.platform->RequestAccess("fight", "dan", Platform::Param("", "4000 0000 0000 0002"));
  EXPECT_EQ(declined.status().code(), Code::kPermissionDenied);
  EXPECT_NE(declined.status().message().find("card declined"), std::string::npos);
  EXPECT_FALSE(p.dir->FindClient("rx.1.dan"));
  // Approved card, retried with the same idempotency key: one charge.
  auto param = Platform::Param("", "4242424242424242", "idem-0000000000000001");
  auto ok = p.platform->RequestAccess("fight", "dan", param);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->charged);
  EXPECT_EQ(ok->config.charged_cents, 499);
  auto retry = p.platform->RequestAccess("fight", "dan", param);
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->charged);
  EXPECT_EQ(retry->config.api_key, ok->config.api_key);
  // A second submission with a fresh key (another tab) does not charge either.
  auto other_tab =
      p.platform->RequestAccess("fight", "dan", Platform::Param("", "4242424242424242"));
  ASSERT_TRUE(other_tab.ok());
  EXPECT_FALSE(other_tab->charged);
  // Someone else cannot take dan's access with another card.
  auto thief = p.platform->RequestAccess("fight", "dan", Platform::Param("", "5555555555554444"));
  EXPECT_EQ(thief.status().code(), Code::kAlreadyExists);
  // The idempotency key cannot be reused for another receiver.
  auto reuse = p.platform->RequestAccess("fight", "erin", param);
  EXPECT_NE(reuse.status().message().find("idempotency key"), std::string::npos);

  EXPECT_EQ(p.payments.charges(), 2u);  // the decline and the approval
  auto ledger = p.store->LoadLedger(id);
  ASSERT_EQ(ledger->size(), 2u);
  EXPECT_EQ((*ledger)[0].status, "declined");
  EXPECT_EQ((*ledger)[1].status, "approved");
  EXPECT_EQ((*ledger)[1].amount_cents, 499);
  EXPECT_EQ((*ledger)[1].card_last4, "4242");
  auto st = p.platform->Stats(p.sender, "fight");
  EXPECT_EQ(st->collected_cents, 499);
  EXPECT_EQ(st->charges_approved, 1u);
  EXPECT_EQ(st->charges_declined, 1u);
  EXPECT_EQ(st->approved_receivers, 1u);
}

TEST(ReservationRequest, ListAndPriceNeedBoth) {
  Platform p;
  auto s = p.Spec("gala");
  s.receivers = {Entry("alice", "alice-secret")};
  s.price_cents = 1000;
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  // The right card with the wrong password: not charged.
  EXPECT_EQ(
      p.platform->RequestAccess("gala", "alice", Platform::Param("nope-nope", "4242424242424242"))
          .status()
          .code(),
      Code::kUnauthenticated);
  EXPECT_EQ(p.payments.charges(), 0u);
  // The right password, no card: not granted.
  EXPECT_EQ(
      p.platform->RequestAccess("gala", "alice", Platform::Param("alice-secret")).status().code(),
      Code::kInvalidArgument);
  auto ok = p.platform->RequestAccess("gala", "alice",
                                      Platform::Param("alice-secret", "4242424242424242"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->charged);
  // Listed and paid: later requests need only the password.
  EXPECT_TRUE(p.platform->RequestAccess("gala", "alice", Platform::Param("alice-secret")).ok());
  EXPECT_EQ(p.payments.charges(), 1u);
}

TEST(ReservationRequest, ProviderFailureChargesNothingAndCanBeRetried) {
  Platform p;
  auto s = p.Spec("flaky");
  s.price_cents = 250;
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto r = p.platform->RequestAccess(
      "flaky", "dan", Platform::Param("", "4000000000000119", "idem-flaky-00000001"));
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  auto ledger = p.store->LoadLedger(p.store->FindReservation("flaky")->id);
  ASSERT_EQ(ledger->size(), 1u);
  EXPECT_EQ((*ledger)[0].status, "error");
  EXPECT_EQ(p.platform->Stats(p.sender, "flaky")->collected_cents, 0);
  EXPECT_FALSE(p.dir->FindClient("rx.1.dan"));
}

TEST(ReservationRequest, TooManyFailuresAreRefused) {
  ReservationOptions o;
  o.max_failures = 3;
  Platform p({}, o);
  auto s = p.Spec("quiz");
  s.receivers = {Entry("alice", "alice-secret")};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  for (int i = 0; i < 3; ++i)
    (void)p.platform->RequestAccess("quiz", "alice", Platform::Param("guess-guess"));
  EXPECT_EQ(
      p.platform->RequestAccess("quiz", "alice", Platform::Param("alice-secret")).status().code(),
      Code::kResourceExhausted);
  p.clock.Advance(601 * kMicrosPerSecond);
  EXPECT_TRUE(p.platform->RequestAccess("quiz", "alice", Platform::Param("alice-secret")).ok());
}

TEST(ReservationRequest, SubscriberOnlyTransmissionsNeedNoRequest) {
  Platform p;
  auto s = p.Spec("members");
  s.groups = {"subscribers"};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto t = p.platform->DescribeTransmission("members");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->accepts_requests);
  auto r = p.platform->RequestAccess("members", "sue", Platform::Param("sue-password"));
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("own Keycast credentials"), std::string::npos);
}

TEST(ReservationRequest, ProvidedSaIsHandedOutAsIs) {
  Platform p;
  auto s = p.Spec("static");
  Bytes key(32, 0x5a);
  s.sa = ProvidedSa{Spi{4242}, crypto::AeadAlgorithm::kChaCha20Poly1305, SecretBytes(key)};
  s.receivers = {Entry("alice", "alice-secret")};
  s.groups = {"subscribers"};
  auto v = p.platform->CreateReservation(p.sender, s);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->event_name, "");
  EXPECT_EQ(p.dir->counts().events, 0u);
  // The key is sealed at rest.
  auto stored = p.store->FindReservation("static");
  EXPECT_EQ(std::search(stored->sealed_sa_key.begin(), stored->sealed_sa_key.end(), key.begin(),
                        key.end()),
            stored->sealed_sa_key.end());
  auto a = p.platform->RequestAccess("static", "alice", Platform::Param("alice-secret"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->config.mode, "static");
  EXPECT_EQ(a->config.spi, 4242u);
  EXPECT_EQ(a->config.sa_key, key);
  // A subscriber proves itself with its directory password.
  auto sue = p.platform->RequestAccess("static", "sue", Platform::Param("sue-password"));
  ASSERT_TRUE(sue.ok()) << sue.status().ToString();
  EXPECT_EQ(p.store->LoadAccessGrants(stored->id)->back().via, "group");
  EXPECT_EQ(
      p.platform->RequestAccess("static", "bob", Platform::Param("bob-password")).status().code(),
      Code::kUnauthenticated);
}

TEST(ReservationEdit, EditableUntilStartAndRemovalRevokes) {
  Platform p;
  auto s = p.Spec("talk");
  s.receivers = {Entry("alice", "alice-secret"), Entry("carol", "carol-secret")};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto alice = p.platform->RequestAccess("talk", "alice", Platform::Param("alice-secret"));
  ASSERT_TRUE(alice.ok());
  ReservationPatch patch;
  patch.title = "A better title";
  patch.price_cents = 300;
  patch.receivers = std::vector<ReceiverEntry>{ReceiverEntry{"carol", std::nullopt},
                                               Entry("dave", "dave-secret")};
  auto v = p.platform->UpdateReservation(p.sender, "talk", patch);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->reservation.title, "A better title");
  EXPECT_EQ(v->reservation.version, 2u);
  EXPECT_EQ(p.dir->GetEvent("resv.talk")->event->title, "A better title");
  // alice was taken off the list: her client is gone, her key stops working.
  EXPECT_FALSE(p.dir->AuthenticateApiKey(alice->config.api_key).ok());
  // carol kept her password.
  EXPECT_TRUE(
      p.platform
          ->RequestAccess("talk", "carol", Platform::Param("carol-secret", "4242424242424242"))
          .ok());
  // A new name needs a password.
  ReservationPatch bad;
  bad.receivers = std::vector<ReceiverEntry>{ReceiverEntry{"erin", std::nullopt}};
  EXPECT_NE(p.platform->UpdateReservation(p.sender, "talk", bad)
                .status()
                .message()
                .find("give a password"),
            std::string::npos);
  // Other senders cannot see or edit it.
  ASSERT_TRUE(
      p.dir->CreateClient(Actor{"t"}, ClientSpec{"zed", "", std::string("zed-password"), true})
          .ok());
  ASSERT_TRUE(p.dir->SetMembership(Actor{"t"}, "zed", "broadcasters", Role::kSender, true).ok());
  auto zed = p.platform->AuthenticateSender("zed", "zed-password");
  ASSERT_TRUE(zed.ok());
  EXPECT_EQ(p.platform->UpdateReservation(*zed, "talk", patch).status().code(), Code::kNotFound);
  // Once started, no more edits.
  p.clock.Advance(3601 * kMicrosPerSecond);
  auto late = p.platform->UpdateReservation(p.sender, "talk", patch);
  EXPECT_EQ(late.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("can no longer be edited"), std::string::npos);
}

TEST(ReservationCancel, RefundsRevokesAndIsRetryable) {
  Platform p;
  auto s = p.Spec("concert");
  s.price_cents = 1500;
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto a = p.platform->RequestAccess("concert", "dan", Platform::Param("", "4242424242424242"));
  auto b = p.platform->RequestAccess("concert", "erin", Platform::Param("", "5555555555554444"));
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = p.platform->CancelReservation(p.sender, "concert");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->was_active);
  EXPECT_EQ(c->refunds, 2u);
  EXPECT_EQ(c->refunded_cents, 3000);
  EXPECT_EQ(c->grants_revoked, 2u);
  EXPECT_EQ(p.payments.refunds(), 2u);
  EXPECT_FALSE(p.dir->GetEvent("resv.concert").ok());
  EXPECT_FALSE(p.dir->AuthenticateApiKey(a->config.api_key).ok());
  auto st = p.platform->Stats(p.sender, "concert");
  EXPECT_EQ(st->collected_cents, 0);
  EXPECT_EQ(st->refunded_cents, 3000);
  EXPECT_EQ(st->approved_receivers, 0u);
  auto ledger = p.store->LoadLedger(p.store->FindReservation("concert")->id);
  ASSERT_EQ(ledger->size(), 4u);
  EXPECT_EQ((*ledger)[2].kind, "refund");
  EXPECT_EQ((*ledger)[2].amount_cents, -1500);
  // Nobody gets in any more; cancelling again refunds nothing twice.
  EXPECT_EQ(p.platform->RequestAccess("concert", "dan", Platform::Param("", "4242424242424242"))
                .status()
                .code(),
            Code::kFailedPrecondition);
  auto again = p.platform->CancelReservation(p.sender, "concert");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->was_active);
  EXPECT_EQ(again->refunds, 0u);
  EXPECT_EQ(p.payments.refunds(), 2u);
  EXPECT_TRUE(p.platform->FindTransmissions("", 10)->empty());
}

TEST(ReservationStore, FailedCommitLeavesNoReceiverClient) {
  auto inner = OpenSqliteStore(":memory:");
  ASSERT_TRUE(inner.ok());
  FaultInjectingStore store(std::move(inner).value());
  auto sealer = *Sealer::FromKey(crypto::RandomSecret(32));
  FakeClock clock(testing::kT0 * kMicrosPerSecond);
  auto dir = std::move(Directory::Open(&store, &sealer, &clock, {PasswordCost::kTestOnly})).value();
  Actor a{"t"};
  ASSERT_TRUE(dir->CreateGroup(a, GroupSpec{"broadcasters", ""}).ok());
  ASSERT_TRUE(
      dir->CreateClient(a, ClientSpec{"anna", "", std::string("anna-password"), true}).ok());
  ASSERT_TRUE(dir->SetMembership(a, "anna", "broadcasters", Role::kSender, true).ok());
  TestPaymentProvider pay;
  ReservationOptions o;
  o.password_cost = PasswordCost::kTestOnly;
  o.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
  auto platform = std::move(ReservationPlatform::Create(dir.get(), &store, &sealer, &clock, &pay,
                                                        crypto::RandomSecret(32), o))
                      .value();
  auto sender = *platform->AuthenticateSender("anna", "anna-password");
  ReservationSpec s;
  s.name = "x";
  s.title = "X";
  s.schedule.start = testing::kT0 + 3600;
  s.schedule.duration = 600;
  s.group_address = *IpAddress::Parse("239.1.1.1");
  s.port = 1234;
  s.receivers = {Entry("alice", "alice-secret")};
  ASSERT_TRUE(platform->CreateReservation(sender, s).ok());
  // A store that refuses a write in the middle of a grant leaves no receiver
  // client and no grant behind.
  auto orig = dir->counts().clients;
  store.FailNextCommits(1);
  auto r = platform->RequestAccess("x", "alice", Platform::Param("alice-secret"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(dir->counts().clients, orig);
  EXPECT_TRUE(store.LoadAccessGrants(store.FindReservation("x")->id)->empty());
  // The next attempt succeeds.
  EXPECT_TRUE(platform->RequestAccess("x", "alice", Platform::Param("alice-secret")).ok());
  EXPECT_EQ(dir->counts().clients, orig + 1);
}

TEST(ReservationChannel, InProcessExchangeDeliversTheConfig) {
  Platform p;
  auto s = p.Spec("radio");
  s.receivers = {Entry("alice", "alice-secret")};
  ASSERT_TRUE(p.platform->CreateReservation(p.sender, s).ok());
  auto cfg = RequestAccessInProcess(*p.channel, "radio", "alice", Platform::Param("alice-secret"),
                                    p.platform->Authorizer());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->event, "resv.radio");
  auto bad = RequestAccessInProcess(*p.channel, "radio", "alice",
                                    Platform::Param("not-her-password"), p.platform->Authorizer());
  EXPECT_EQ(bad.status().code(), Code::kUnauthenticated);
  auto garbage = p.platform->Authorize(AsBytes("junk"), "radio/alice");
  EXPECT_EQ(garbage.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(p.platform->Authorize(AsBytes("junk"), "no-slash").status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace keycast
