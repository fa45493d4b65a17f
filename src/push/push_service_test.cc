// PushService with a fake clock and captured datagrams: batching, revocation
// at logarithmic cost, backward secrecy for joiners and late joiners, expiry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "keycast/key_service.h"
#include "keycast/push.h"
#include "push/test_util.h"

namespace keycast {
namespace {

using push::PushGrant;
using push::PushMember;
using push::testing::AnyKeyUnwrapsAnything;
using push::testing::EntryCount;

const Actor kAdmin{"admin:test"};
constexpr int64_t kStart = 1'900'000'000;
Micros S(int64_t s) { return s * kMicrosPerSecond; }

class CaptureTransport : public PushTransport {
 public:
  Status Send(const IpAddress& group, uint16_t port, ByteView d) override {
    sent.emplace_back(group.ToString() + ":" + std::to_string(port), Bytes(d.begin(), d.end()));
    return Status::Ok();
  }
  std::vector<Bytes> Take() {
    std::vector<Bytes> out;
    for (auto& [to, d] : sent) out.push_back(std::move(d));
    sent.clear();
    return out;
  }
  std::vector<std::pair<std::string, Bytes>> sent;
};

class PushServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/push-test-" + std::to_string(::getpid()) + "-" +
           std::to_string(crypto::RandomU64() % 100000);
    ::mkdir(dir_.c_str(), 0700);
    store_ = OpenSqliteStore(dir_ + "/k.db").value();
    sealer_ = std::make_unique<Sealer>(Sealer::FromKey(crypto::RandomSecret(32)).value());
    directory_ = Directory::Open(store_.get(), sealer_.get(), &clock_,
                                 DirectoryOptions{PasswordCost::kTestOnly})
                     .value();
    keys_ = ServiceKeys::Open(store_.get(), sealer_.get(), &clock_, 3600, true).value();
    engine_ = std::make_unique<KeyEngine>(directory_.get(), keys_.get(), store_.get(),
                                          sealer_.get(), &clock_, KeyServiceOptions{});
    ASSERT_TRUE(directory_->CreateGroup(kAdmin, {"viewers", ""}).ok());
    vk_ = std::make_unique<crypto::VerifyKey>(
        crypto::VerifyKey::FromBytes(keys_->ActiveSigner(kRekeySigningKey).key->public_key())
            .value());
  }
  void TearDown() override {
    service_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  void MakeService(PushOptions o = {}) {
    o.repeats = 1;
    service_ = std::make_unique<PushService>(
        directory_.get(), keys_.get(), &clock_,
        [this](const Event& e, Epoch ep) {
          return engine_->DeriveSa(e, ep, Role::kReceiver, SenderId{});
        },
        &transport_, o);
  }
  std::shared_ptr<const Event> MakeEvent(KeyDelivery d = KeyDelivery::kPush, uint16_t clear = 0) {
    EventSpec e;
    e.name = "live";
    e.title = "Live";
    e.group_address = *IpAddress::Parse("239.7.7.7");
    e.port = 5000;
    e.schedule.start = kStart;
    e.schedule.duration = 3600;
    e.interval_seconds = 60;
    e.initial_keying_seconds = 300;
    e.clear_intervals = clear;
    e.delivery = d;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
    auto v = directory_->CreateEvent(kAdmin, e);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(directory_->AddAssignment(kAdmin, "live", "viewers").ok());
    return v->event;
  }
  ClientId Client(int i) {
    std::string name = "c" + std::to_string(i);
    auto v = directory_->CreateClient(kAdmin, ClientSpec{name, "", std::nullopt, true});
    EXPECT_TRUE(v.ok());
    EXPECT_TRUE(directory_->SetMembership(kAdmin, name, "viewers", Role::kReceiver, true).ok());
    return v->client.id;
  }
  PushGrant Grant(const Event& e, ClientId c, int64_t ticket_expiry = 0) {
    Bytes extra = service_->OnGrant(e, c, Role::kReceiver, Epoch{}, ticket_expiry);
    auto g = PushGrant::Decode(extra);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return std::move(g).value();
  }
  PushMember Member(const Event& e) {
    return PushMember(e.id, [this](KeyVersion) { return vk_.get(); });
  }
  // Runs the service at time t; returns the datagrams it sent.
  std::vector<Bytes> TickAt(Micros t) {
    clock_.Set(t);
    service_->Tick();
    return transport_.Take();
  }
  static std::optional<push::PushedKey> Feed(PushMember& m, const std::vector<Bytes>& ds) {
    std::optional<push::PushedKey> out;
    for (const Bytes& d : ds)
      if (auto k = m.OnDatagram(d)) out = std::move(k);
    return out;
  }
  SecretBytes KeyOf(const Event& e, Epoch ep) {
    return engine_->DeriveSa(e, ep, Role::kReceiver, SenderId{})->key;
  }
  // Push time of epoch index i (lead = 15 s for 60 s intervals).
  static Micros PushAt(uint32_t i) { return S(kStart + 60 * int64_t{i} - 15); }

  FakeClock clock_{S(kStart - 200)};
  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<ServiceKeys> keys_;
  std::unique_ptr<KeyEngine> engine_;
  std::unique_ptr<crypto::VerifyKey> vk_;
  CaptureTransport transport_;
  std::unique_ptr<PushService> service_;
};

TEST_F(PushServiceTest, PullEventsGetNoPush) {
  MakeService();
  auto ev = MakeEvent(KeyDelivery::kPull);
  EXPECT_TRUE(service_->OnGrant(*ev, Client(1), Role::kReceiver, Epoch{}).empty());
  EXPECT_TRUE(TickAt(PushAt(0)).empty());
}

TEST_F(PushServiceTest, ControlGroupAndLead) {
  auto ev = MakeEvent();
  auto cg = PushService::ControlGroup(*ev, PushOptions{});
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->first.ToString(), "239.7.7.7");
  EXPECT_EQ(cg->second, 5001);
  PushOptions shared;
  shared.control_group = *IpAddress::Parse("239.1.1.1");
  shared.control_port = 7000;
  EXPECT_EQ(PushService::ControlGroup(*ev, shared)->second, 7000);
  EXPECT_EQ(PushService::Lead(*ev, PushOptions{}), S(15));
  Event fast = *ev;
  fast.interval_seconds = 1;
  EXPECT_EQ(PushService::Lead(fast, PushOptions{}), 250'000);
}

// Joins before the first push are pending; the commit admits them; the next
// grant carries path keys as of that commit; every push after it opens.
TEST_F(PushServiceTest, JoinIsPendingUntilTheCommitThenFollowsPushes) {
  MakeService();
  auto ev = MakeEvent();
  ClientId a = Client(1), b = Client(2);
  PushGrant ga = Grant(*ev, a);
  EXPECT_EQ(ga.state, push::GrantState::kPending);
  EXPECT_TRUE(ga.member_init.empty());
  EXPECT_EQ(ga.control_port, 5001);
  EXPECT_EQ(ga.lead_ms, 15000u);
  Grant(*ev, b);
  EXPECT_TRUE(TickAt(PushAt(0) - 1).empty());  // not yet
  auto d0 = TickAt(PushAt(0));                 // epoch 0, admits a and b
  ASSERT_FALSE(d0.empty());
  auto st = service_->Inspect(ev->id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->members, 2u);
  EXPECT_EQ(st->seq, 1u);
  EXPECT_EQ(st->last_joins, 2u);
  EXPECT_TRUE(TickAt(PushAt(0) + S(1)).empty());  // once per epoch

  clock_.Set(S(kStart + 10));
  PushGrant ga2 = Grant(*ev, a);
  ASSERT_EQ(ga2.state, push::GrantState::kAdmitted);
  PushMember ma = Member(*ev);
  ASSERT_TRUE(ma.Install(ga2).ok());
  EXPECT_EQ(ma.last_seq(), 1u);
  for (uint32_t i = 1; i <= 3; ++i) {
    auto k = Feed(ma, TickAt(PushAt(i)));
    ASSERT_TRUE(k) << "epoch " << i;
    EXPECT_EQ(k->sa.epoch, (Epoch{0, i}));
    EXPECT_TRUE(k->sa.key == KeyOf(*ev, Epoch{0, i}));
    auto sa = engine_->DeriveSa(*ev, Epoch{0, i}, Role::kReceiver, SenderId{}).value();
    EXPECT_EQ(k->sa.spi, sa.spi);
    EXPECT_EQ(k->sa.initiation, sa.initiation);
    EXPECT_EQ(k->sa.lifetime, sa.lifetime);
  }
}

// Issue 5, deliverable 2: a removed member cannot recover the next interval
// key from the push; every remaining member can; the message grows with
// log(n), not n.
TEST_F(PushServiceTest, RevocationAtLogarithmicCost) {
  MakeService();
  auto ev = MakeEvent();
  constexpr int kMembers = 300;
  std::vector<ClientId> ids;
  for (int i = 1; i <= kMembers; ++i) {
    ids.push_back(Client(i));
    Grant(*ev, ids.back());
  }
  TickAt(PushAt(0));
  clock_.Set(S(kStart + 5));
  std::map<int64_t, PushMember> members;
  std::map<int64_t, std::vector<SecretBytes>> held;  // every path key each ever held
  for (ClientId c : ids) {
    PushGrant g = Grant(*ev, c);
    ASSERT_EQ(g.state, push::GrantState::kAdmitted);
    PushMember m = Member(*ev);
    ASSERT_TRUE(m.Install(g).ok());
    members.emplace(c.value, std::move(m));
    held[c.value] = lkh::MemberKeysInit::Decode(g.member_init.reveal())->path_keys;
  }
  // Revoke one member in the directory during interval 0.
  ClientId gone = ids[123];
  ASSERT_TRUE(directory_->RemoveMembership(kAdmin, "c124", "viewers").ok());
  auto ds = TickAt(PushAt(1));
  auto st = service_->Inspect(ev->id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->last_leaves, 1u);
  EXPECT_EQ(st->members, size_t{kMembers} - 1);
  unsigned d = lkh::kDefaultDegree, h = 5;  // 4^4 < 300 <= 4^5
  EXPECT_LE(EntryCount(st->last_message), (d - 1) + (h - 1) * d);
  SecretBytes want = KeyOf(*ev, Epoch{0, 1});
  for (auto& [c, m] : members) {
    auto k = Feed(m, ds);
    if (c == gone.value) {
      EXPECT_FALSE(k);
      EXPECT_EQ(m.last_reject(), push::PushReject::kNotRecoverable);
      EXPECT_TRUE(m.needs_pull());
    } else {
      ASSERT_TRUE(k) << "member " << c;
      EXPECT_TRUE(k->sa.key == want);
    }
  }
  // Nothing in this push or the next ones opens under any key it held.
  EXPECT_FALSE(AnyKeyUnwrapsAnything(st->last_message, held[gone.value]));
  for (uint32_t i = 2; i <= 3; ++i) {
    TickAt(PushAt(i));
    EXPECT_FALSE(AnyKeyUnwrapsAnything(service_->Inspect(ev->id)->last_message, held[gone.value]));
  }
  // And its pull is refused (the key service checks the directory).
  EXPECT_FALSE(directory_->IsAuthorized(gone, ev->id, Role::kReceiver));
}

// Issue 13: a rekey rotates. Once the new generation is in force, the key
// of the interval in progress is pushed again, new, to the members still
// authorised; a member removed before the rekey cannot recover it.
TEST_F(PushServiceTest, RekeyPushesANewKeyOfTheCurrentIntervalAtOnce) {
  MakeService();
  auto ev = MakeEvent();
  std::vector<ClientId> ids = {Client(1), Client(2), Client(3)};
  for (ClientId c : ids) Grant(*ev, c);
  TickAt(PushAt(0));
  clock_.Set(S(kStart + 5));
  std::map<int64_t, PushMember> members;
  for (ClientId c : ids) {
    PushGrant g = Grant(*ev, c);
    ASSERT_EQ(g.state, push::GrantState::kAdmitted);
    PushMember m = Member(*ev);
    ASSERT_TRUE(m.Install(g).ok());
    members.emplace(c.value, std::move(m));
  }
  SecretBytes old_key = KeyOf(*ev, Epoch{0, 0});
  ASSERT_TRUE(directory_->RemoveMembership(kAdmin, "c2", "viewers").ok());
  clock_.Set(S(kStart + 20));
  auto r = directory_->RekeyEvent(kAdmin, "live");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->members, 2u);
  EXPECT_TRUE(TickAt(S(kStart + 21)).empty()) << "not in force yet";
  auto ds = TickAt(S(kStart + 22));
  ASSERT_FALSE(ds.empty()) << "pushed when the new generation comes into force";
  auto now_ev = directory_->FindEvent(ev->id);
  SecretBytes new_key = KeyOf(*now_ev, Epoch{0, 0});
  EXPECT_FALSE(new_key == old_key);
  for (auto& [c, m] : members) {
    auto k = Feed(m, ds);
    if (c == ids[1].value) {
      EXPECT_FALSE(k) << "the removed member";
    } else {
      ASSERT_TRUE(k) << "member " << c;
      EXPECT_EQ(k->sa.epoch, (Epoch{0, 0}));
      EXPECT_TRUE(k->sa.key == new_key);
    }
  }
  EXPECT_EQ(service_->Inspect(ev->id)->last_leaves, 1u);
  EXPECT_TRUE(TickAt(S(kStart + 23)).empty()) << "once";
  // The next interval's push follows at its lead, with the new generation.
  auto next = TickAt(PushAt(1));
  ASSERT_FALSE(next.empty());
  auto k = Feed(members.at(ids[0].value), next);
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->sa.key == KeyOf(*now_ev, Epoch{0, 1}));
}

// Joins and leaves of an interval go out in one message.
TEST_F(PushServiceTest, BatchesJoinsAndLeavesIntoOneCommit) {
  MakeService();
  auto ev = MakeEvent();
  std::vector<ClientId> ids;
  for (int i = 1; i <= 40; ++i) {
    ids.push_back(Client(i));
    Grant(*ev, ids.back());
  }
  TickAt(PushAt(0));
  clock_.Set(S(kStart + 5));
  PushMember stay = Member(*ev);
  ASSERT_TRUE(stay.Install(Grant(*ev, ids[0])).ok());
  for (int i : {5, 6, 7})
    ASSERT_TRUE(directory_->RemoveMembership(kAdmin, "c" + std::to_string(i), "viewers").ok());
  for (int i = 41; i <= 45; ++i) Grant(*ev, Client(i));
  auto ds = TickAt(PushAt(1));
  auto st = service_->Inspect(ev->id);
  EXPECT_EQ(st->last_joins, 5u);
  EXPECT_EQ(st->last_leaves, 3u);
  EXPECT_EQ(st->seq, 2u);
  EXPECT_EQ(st->members, 42u);
  EXPECT_EQ(ds.size(), st->last_datagrams);
  EXPECT_TRUE(Feed(stay, ds));
}

// Backward secrecy: a member that joins later gets path keys fresh at the
// commit that admits it; no earlier push opens under any of them.
TEST_F(PushServiceTest, JoinerLearnsNoEarlierKey) {
  MakeService();
  auto ev = MakeEvent();
  for (int i = 1; i <= 30; ++i) Grant(*ev, Client(i));
  std::vector<Bytes> earlier;
  for (uint32_t i = 0; i <= 3; ++i) {
    TickAt(PushAt(i));
    earlier.push_back(service_->Inspect(ev->id)->last_message);
    if (i == 1) {
      ASSERT_TRUE(directory_->RemoveMembership(kAdmin, "c3", "viewers").ok());  // frees a leaf
    }
  }
  // The joiner's first grant (in interval 3) is pending and carries no keys.
  clock_.Set(S(kStart + 3 * 60 + 5));
  ClientId late = Client(99);
  PushGrant g1 = Grant(*ev, late);
  EXPECT_EQ(g1.state, push::GrantState::kPending);
  EXPECT_TRUE(g1.member_init.empty());
  TickAt(PushAt(4));  // admits it
  Bytes admitting = service_->Inspect(ev->id)->last_message;
  clock_.Set(S(kStart + 4 * 60 + 5));
  PushGrant g2 = Grant(*ev, late);
  ASSERT_EQ(g2.state, push::GrantState::kAdmitted);
  auto init = lkh::MemberKeysInit::Decode(g2.member_init.reveal()).value();
  EXPECT_EQ(init.seq, 5u);
  for (size_t i = 0; i < earlier.size(); ++i)
    EXPECT_FALSE(AnyKeyUnwrapsAnything(earlier[i], init.path_keys)) << "push " << i + 1;
  // The admitting push itself wraps for it only under keys that were fresh
  // then; it follows from the next push on.
  PushMember m = Member(*ev);
  ASSERT_TRUE(m.Install(g2).ok());
  auto k = Feed(m, TickAt(PushAt(5)));
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->sa.key == KeyOf(*ev, Epoch{0, 5}));
}

// Seed 000 claim 18 / Figure 7: the first interval is clear; a member that
// joins late gets pushes from the commit after its grant on, and no key of
// an interval before it joined.
TEST_F(PushServiceTest, LateJoinerWithClearFirstIntervalGetsNoEarlierKey) {
  MakeService();
  auto ev = MakeEvent(KeyDelivery::kPush, 1);
  ClientId early = Client(1);
  Grant(*ev, early);
  TickAt(PushAt(0));  // epoch 0 is clear: pushed with the flag and filler
  auto clear = push::ParseMessage(service_->Inspect(ev->id)->last_message).value();
  EXPECT_TRUE(clear.clear());
  EXPECT_EQ(clear.spi.value, 0u);
  std::vector<Bytes> before = {service_->Inspect(ev->id)->last_message};
  clock_.Set(S(kStart + 5));
  PushMember me = Member(*ev);
  ASSERT_TRUE(me.Install(Grant(*ev, early)).ok());
  for (uint32_t i = 1; i <= 2; ++i) {
    auto k = Feed(me, TickAt(PushAt(i)));
    ASSERT_TRUE(k);
    EXPECT_FALSE(k->sa.clear);
    EXPECT_TRUE(k->sa.key == KeyOf(*ev, Epoch{0, i}));
    before.push_back(service_->Inspect(ev->id)->last_message);
  }
  // Joins in interval 2 (late), admitted by the push of epoch 3.
  clock_.Set(S(kStart + 2 * 60 + 1));
  ClientId late = Client(2);
  EXPECT_EQ(Grant(*ev, late).state, push::GrantState::kPending);
  TickAt(PushAt(3));
  clock_.Set(S(kStart + 3 * 60 + 1));
  PushGrant g = Grant(*ev, late);
  ASSERT_EQ(g.state, push::GrantState::kAdmitted);
  auto init = lkh::MemberKeysInit::Decode(g.member_init.reveal()).value();
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_FALSE(AnyKeyUnwrapsAnything(before[i], init.path_keys)) << "push " << i + 1;
  PushMember ml = Member(*ev);
  ASSERT_TRUE(ml.Install(g).ok());
  auto k4 = Feed(ml, TickAt(PushAt(4)));
  ASSERT_TRUE(k4);
  EXPECT_EQ(k4->sa.epoch, (Epoch{0, 4}));
}

TEST_F(PushServiceTest, MembersWithoutRenewalExpire) {
  PushOptions o;
  o.member_lifetime_seconds = 100;
  MakeService(o);
  auto ev = MakeEvent();
  ClientId a = Client(1), b = Client(2);
  clock_.Set(S(kStart - 60));
  Grant(*ev, a);  // until kStart + 40
  Grant(*ev, b);
  TickAt(PushAt(0));
  EXPECT_EQ(service_->Inspect(ev->id)->members, 2u);
  clock_.Set(S(kStart + 30));
  Grant(*ev, b);      // b renews (a pull); a does not
  TickAt(PushAt(1));  // kStart + 45: a's membership is over
  auto st = service_->Inspect(ev->id);
  EXPECT_EQ(st->members, 1u);
  EXPECT_EQ(st->last_leaves, 1u);
}

TEST_F(PushServiceTest, MembershipEndsWithTheTicket) {
  PushOptions o;
  o.member_lifetime_seconds = 1000;
  MakeService(o);
  auto ev = MakeEvent();
  ClientId a = Client(1), b = Client(2);
  clock_.Set(S(kStart - 60));
  PushGrant ga = Grant(*ev, a, kStart + 20);  // a's ticket expires 20 s into the event
  EXPECT_EQ(ga.member_until, S(kStart + 20));
  Grant(*ev, b, kStart + 5000);  // b's lasts: the lifetime bounds it
  TickAt(PushAt(0));
  EXPECT_EQ(service_->Inspect(ev->id)->members, 2u);
  TickAt(PushAt(1));  // after a's ticket expired, well within the lifetime
  auto st = service_->Inspect(ev->id);
  EXPECT_EQ(st->members, 1u);
  EXPECT_EQ(st->last_leaves, 1u);
}

TEST_F(PushServiceTest, DeletedEventStopsPushing) {
  MakeService();
  auto ev = MakeEvent();
  Grant(*ev, Client(1));
  EXPECT_FALSE(TickAt(PushAt(0)).empty());
  ASSERT_TRUE(directory_->DeleteEvent(kAdmin, "live").ok());
  EXPECT_TRUE(TickAt(PushAt(1)).empty());
  EXPECT_FALSE(service_->Inspect(ev->id));
}

TEST_F(PushServiceTest, RepeatsEachPush) {
  PushOptions o;
  MakeService(o);
  service_ = std::make_unique<PushService>(
      directory_.get(), keys_.get(), &clock_,
      [this](const Event& e, Epoch ep) {
        return engine_->DeriveSa(e, ep, Role::kReceiver, SenderId{});
      },
      &transport_, PushOptions{});
  auto ev = MakeEvent();
  Grant(*ev, Client(1));
  auto first = TickAt(PushAt(0));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(TickAt(PushAt(0) + 1000).empty());
  auto second = TickAt(PushAt(0) + S(2));  // lead / 8 = 1.875 s later
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0], second[0]);
  EXPECT_TRUE(TickAt(PushAt(0) + S(5)).empty());
}

}  // namespace
}  // namespace keycast
