// Directory::CatchUp: a second index over the same store follows the first
// one's changes record by record (removals and disables in place, anything
// else by one reload), and ends equal to it.
#include <gtest/gtest.h>

#include "keycast/crypto.h"
#include "keycast/directory.h"

namespace keycast {
namespace {

const Actor kAdmin{"admin:test"};

class CatchUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(":memory:");
    ASSERT_TRUE(s.ok());
    store_ = std::move(s).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    a_ = Open();
    ASSERT_TRUE(a_->CreateGroup(kAdmin, {"all", ""}).ok());
    ASSERT_TRUE(a_->CreateGroup(kAdmin, {"viewers", ""}).ok());
    ASSERT_TRUE(a_->AddEdge(kAdmin, "all", "viewers").ok());
    ASSERT_TRUE(a_->CreateClient(kAdmin, ClientSpec{"v1", "", std::nullopt, true}).ok());
    ASSERT_TRUE(a_->SetMembership(kAdmin, "v1", "viewers", Role::kReceiver, true).ok());
    EventSpec e;
    e.name = "live";
    e.title = "Live";
    e.group_address = *IpAddress::Parse("239.0.0.1");
    e.port = 5000;
    e.schedule.start = 1'900'000'000;
    e.schedule.duration = 3600;
    e.key_servers = {*Endpoint::Parse("127.0.0.1:7000")};
    ASSERT_TRUE(a_->CreateEvent(kAdmin, e).ok());
    ASSERT_TRUE(a_->AddAssignment(kAdmin, "live", "all").ok());
    auto token = a_->CreateApiKey(kAdmin, "v1", "");
    ASSERT_TRUE(token.ok());
    token_ = token->Encode();
    b_ = Open();
    ASSERT_TRUE(Authorized(*b_));
  }
  std::unique_ptr<Directory> Open() {
    auto d = Directory::Open(store_.get(), sealer_.get(), &clock_,
                             DirectoryOptions{PasswordCost::kTestOnly});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : nullptr;
  }
  static bool Authorized(const Directory& d) {
    auto c = d.FindClient("v1");
    auto e = d.GetEvent("live");
    return c && e.ok() && d.IsAuthorized(*c, e->event->id, Role::kReceiver);
  }
  Directory::CatchUpResult CatchUp() {
    auto r = b_->CatchUp();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Directory::CatchUpResult{};
  }
  // B's index answers as A's does.
  void ExpectSameAsA() {
    auto ca = a_->counts(), cb = b_->counts();
    EXPECT_EQ(ca.clients, cb.clients);
    EXPECT_EQ(ca.groups, cb.groups);
    EXPECT_EQ(ca.edges, cb.edges);
    EXPECT_EQ(ca.events, cb.events);
    EXPECT_EQ(ca.memberships, cb.memberships);
    EXPECT_EQ(ca.assignments, cb.assignments);
    EXPECT_EQ(a_->ListEdgeNames(), b_->ListEdgeNames());
    EXPECT_EQ(a_->ListMemberships("", "").size(), b_->ListMemberships("", "").size());
    EXPECT_EQ(Authorized(*a_), Authorized(*b_));
    EXPECT_EQ(b_->audit_seq(), *store_->LastAuditSeq());
  }
  Status Append(const std::string& action, const std::string& target, const std::string& detail) {
    KC_ASSIGN_OR_RETURN(auto t, store_->Begin());
    KC_RETURN_IF_ERROR(t->AppendAudit(AuditRecord{0, 1, "test", action, target, detail}).status());
    return t->Commit();
  }

  FakeClock clock_{1'900'000'000LL * kMicrosPerSecond};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Directory> a_, b_;
  std::string token_;
};

TEST_F(CatchUpTest, NothingNewReadsNothing) {
  auto r = CatchUp();
  EXPECT_EQ(r.records, 0u);
  EXPECT_FALSE(r.reloaded);
}

TEST_F(CatchUpTest, RevocationIsAppliedInPlace) {
  ASSERT_TRUE(a_->RemoveMembership(kAdmin, "v1", "viewers").ok());
  EXPECT_TRUE(Authorized(*b_));  // not yet followed
  uint64_t gen = b_->generation();
  auto r = CatchUp();
  EXPECT_EQ(r.records, 1u);
  EXPECT_FALSE(r.reloaded);
  EXPECT_FALSE(Authorized(*b_));
  EXPECT_NE(b_->generation(), gen);  // waiters (the key service's push) wake
  ExpectSameAsA();
}

TEST_F(CatchUpTest, AdditionReloadsOnce) {
  ASSERT_TRUE(a_->RemoveMembership(kAdmin, "v1", "viewers").ok());
  ASSERT_TRUE(a_->SetMembership(kAdmin, "v1", "viewers", Role::kSender, true).ok());
  auto r = CatchUp();
  EXPECT_EQ(r.records, 2u);
  EXPECT_TRUE(r.reloaded);
  EXPECT_TRUE(Authorized(*b_));
  auto c = b_->FindClient("v1");
  auto e = b_->GetEvent("live");
  EXPECT_TRUE(b_->IsAuthorized(*c, e->event->id, Role::kSender));
  ExpectSameAsA();
}

TEST_F(CatchUpTest, DisableAndEnableAreAppliedInPlace) {
  ClientPatch off;
  off.enabled = false;
  ASSERT_TRUE(a_->UpdateClient(kAdmin, "v1", off).ok());
  auto r = CatchUp();
  EXPECT_FALSE(r.reloaded);
  EXPECT_FALSE(Authorized(*b_));
  EXPECT_FALSE(b_->AuthenticateApiKey(token_).ok());
  ClientPatch on;
  on.enabled = true;
  on.description = "back";
  ASSERT_TRUE(a_->UpdateClient(kAdmin, "v1", on).ok());
  r = CatchUp();
  EXPECT_FALSE(r.reloaded);
  EXPECT_TRUE(Authorized(*b_));
  EXPECT_EQ(b_->GetClient("v1")->client.description, "back");
  ExpectSameAsA();
}

TEST_F(CatchUpTest, RenameNeedsTheRowAndReloads) {
  ClientPatch p;
  p.name = "v2";
  ASSERT_TRUE(a_->UpdateClient(kAdmin, "v1", p).ok());
  auto r = CatchUp();
  EXPECT_TRUE(r.reloaded);
  EXPECT_TRUE(b_->FindClient("v2").has_value());
  EXPECT_FALSE(b_->FindClient("v1").has_value());
}

TEST_F(CatchUpTest, ApiKeyRevocationIsAppliedInPlace) {
  ASSERT_TRUE(b_->AuthenticateApiKey(token_).ok());
  std::string id = a_->ListApiKeys("v1").at(0).id;
  ASSERT_TRUE(a_->RevokeApiKey(kAdmin, "v1", id).ok());
  auto r = CatchUp();
  EXPECT_FALSE(r.reloaded);
  EXPECT_FALSE(b_->AuthenticateApiKey(token_).ok());
}

TEST_F(CatchUpTest, EveryKindOfRemovalInOneBatch) {
  ASSERT_TRUE(a_->RemoveAssignment(kAdmin, "live", "all").ok());
  ASSERT_TRUE(a_->RemoveEdge(kAdmin, "all", "viewers").ok());
  ASSERT_TRUE(a_->DeleteEvent(kAdmin, "live").ok());
  ASSERT_TRUE(a_->DeleteGroup(kAdmin, "viewers").ok());
  ASSERT_TRUE(a_->DeleteClient(kAdmin, "v1").ok());
  ASSERT_TRUE(a_->DeleteGroup(kAdmin, "all").ok());
  auto r = CatchUp();
  EXPECT_EQ(r.records, 6u);
  EXPECT_FALSE(r.reloaded);
  ExpectSameAsA();
  EXPECT_EQ(b_->counts().groups, 0u);
  EXPECT_FALSE(b_->AuthenticateApiKey(token_).ok());
}

TEST_F(CatchUpTest, OwnChangesAfterAnotherWriterAreNotAppliedTwice) {
  // B writes after A: B's own record leaves a gap, so CatchUp reads A's
  // record and B's own (already applied) again.
  ASSERT_TRUE(a_->RemoveMembership(kAdmin, "v1", "viewers").ok());
  ASSERT_TRUE(b_->RemoveEdge(kAdmin, "all", "viewers").ok());
  auto r = CatchUp();
  EXPECT_EQ(r.records, 2u);
  EXPECT_FALSE(r.reloaded);
  ASSERT_TRUE(a_->CatchUp().ok());  // A follows B's change the same way
  ExpectSameAsA();
  EXPECT_EQ(b_->counts().edges, 0u);
}

TEST_F(CatchUpTest, OtherPartsLeaveTheIndexAlone) {
  ASSERT_TRUE(Append("resv.create", "reservation:r1", "{}").ok());
  auto r = CatchUp();
  EXPECT_EQ(r.records, 1u);
  EXPECT_FALSE(r.reloaded);
  EXPECT_FALSE(r.service_keys);
  ASSERT_TRUE(Append("service_key.rotate", "service_key:ticket", "{}").ok());
  r = CatchUp();
  EXPECT_TRUE(r.service_keys);
  ExpectSameAsA();
}

TEST_F(CatchUpTest, MalformedRecordsNeverCrash) {
  // Bad details: a removal whose names are missing is a no-op; an update
  // whose detail is not understood reloads.
  ASSERT_TRUE(Append("membership.delete", "membership:x", "not json").ok());
  ASSERT_TRUE(Append("edge.delete", "edge", "[1,2]").ok());
  ASSERT_TRUE(Append("api_key.revoke", "client:", "{\"key_id\":7}").ok());
  auto r = CatchUp();
  EXPECT_EQ(r.records, 3u);
  EXPECT_FALSE(r.reloaded);
  EXPECT_TRUE(Authorized(*b_));
  ASSERT_TRUE(Append("client.update", "client:v1", "{\"enabled\":\"no\"}").ok());
  ASSERT_TRUE(Append("no.such.action", "?", "").ok());
  r = CatchUp();
  EXPECT_TRUE(r.reloaded);
  ExpectSameAsA();
}

}  // namespace
}  // namespace keycast
