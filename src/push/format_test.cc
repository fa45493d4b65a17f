// Push wire formats: round trips and one negative test per failure class.
#include "keycast/push/format.h"

#include <gtest/gtest.h>

#include "push/test_util.h"

namespace keycast::push {
namespace {

PushGrant SampleGrant(bool admitted) {
  PushGrant g;
  g.state = admitted ? GrantState::kAdmitted : GrantState::kPending;
  g.control_group = *IpAddress::Parse("239.5.6.7");
  g.control_port = 6001;
  g.lead_ms = 15000;
  g.member_until = 1'900'000'000'000'000;
  g.tree_id = 42;
  if (admitted) {
    lkh::MemberKeysInit init;
    init.event = EventId(5);
    init.degree = 4;
    init.height = 1;
    init.leaf = 2;
    init.seq = 3;
    init.path_keys = {crypto::RandomSecret(32), crypto::RandomSecret(32)};
    g.member_init = init.Encode();
  }
  return g;
}

TEST(PushGrant, RoundTrip) {
  for (bool admitted : {false, true}) {
    PushGrant g = SampleGrant(admitted);
    SecretBytes enc = g.Encode();
    auto d = PushGrant::Decode(enc.reveal());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->state, g.state);
    EXPECT_EQ(d->control_group, g.control_group);
    EXPECT_EQ(d->control_port, 6001);
    EXPECT_EQ(d->lead_ms, 15000u);
    EXPECT_EQ(d->member_until, g.member_until);
    EXPECT_EQ(d->tree_id, 42u);
    EXPECT_TRUE(d->member_init == g.member_init);
  }
  PushGrant v6 = SampleGrant(false);
  v6.control_group = *IpAddress::Parse("ff15::1234");
  EXPECT_TRUE(PushGrant::Decode(v6.Encode().reveal()).ok());
}

TEST(PushGrant, RejectsEachFailureClass) {
  SecretBytes enc = SampleGrant(true).Encode();
  Bytes good(enc.reveal().begin(), enc.reveal().end());
  auto bad = [&](auto edit, const char* want) {
    Bytes b = good;
    edit(b);
    auto d = PushGrant::Decode(b);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find(want), std::string::npos) << d.status().message();
  };
  bad([](Bytes& b) { b.resize(10); }, "push grant");  // truncated
  bad([](Bytes& b) { b.push_back(0); }, "trailing");  // trailing bytes
  bad([](Bytes& b) { b[0] = 9; }, "version");         // version
  bad([](Bytes& b) { b[1] = 7; }, "state");           // state
  bad([](Bytes& b) { b[2] = 5; }, "family");          // family
  bad([](Bytes& b) { b[3] = 10; }, "not multicast");  // group
  bad(
      [](Bytes& b) {
        b[7] = 0;
        b[8] = 0;
      },
      "port");  // port 0
  bad([](Bytes& b) { std::fill(b.begin() + 9, b.begin() + 13, 0); }, "lead");
  bad([](Bytes& b) { std::fill(b.begin() + 21, b.begin() + 29, 0); }, "tree id");
  bad([](Bytes& b) { b[1] = 1; }, "pending");  // pending with keys
  SecretBytes penc = SampleGrant(false).Encode();
  Bytes pending(penc.reveal().begin(), penc.reveal().end());
  pending[1] = 2;
  EXPECT_FALSE(PushGrant::Decode(pending).ok());  // admitted without keys
  Bytes huge(kMaxGrantBytes + 1, 1);
  EXPECT_FALSE(PushGrant::Decode(huge).ok());  // size bound
}

TEST(PushMessage, RoundTripAndEachFailureClass) {
  testing::MiniService svc;
  (void)svc.tree.Join(ClientId(1));
  Bytes msg = svc.Commit();
  auto vk = crypto::VerifyKey::FromBytes(svc.signer.public_key()).value();
  auto m = ParseMessage(msg);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(VerifyMessage(*m, vk));
  EXPECT_TRUE(ValidateMessage(*m).ok());
  EXPECT_EQ(m->seq, 1u);
  EXPECT_EQ(m->tree_id, svc.tree_id);

  bool truncated = false;
  EXPECT_FALSE(ParseMessage(ByteView(msg).subspan(0, 50), &truncated).ok());
  EXPECT_TRUE(truncated);
  EXPECT_FALSE(ParseMessage(ByteView(msg).subspan(0, msg.size() - 1), &truncated).ok());
  EXPECT_TRUE(truncated);
  Bytes longer = msg;
  longer.push_back(0);
  EXPECT_FALSE(ParseMessage(longer, &truncated).ok());
  EXPECT_FALSE(truncated);
  Bytes v2 = msg;
  v2[0] = 2;
  EXPECT_FALSE(ParseMessage(v2).ok());
  // A field flipped after signing: the signature fails.
  Bytes flipped = msg;
  flipped[40] ^= 1;
  auto fm = ParseMessage(flipped);
  ASSERT_TRUE(fm.ok());
  EXPECT_FALSE(VerifyMessage(*fm, vk));
  // Signed but invalid field values.
  auto invalid = [&](auto edit, const char* want) {
    PushMessage p = *m;
    edit(p);
    Bytes b = EncodeMessage(p, svc.signer);
    auto q = ParseMessage(b);
    ASSERT_TRUE(q.ok());
    Status s = ValidateMessage(*q);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
  };
  invalid([](PushMessage& p) { p.tree_id = 0; }, "tree id");
  invalid([](PushMessage& p) { p.algorithm = static_cast<crypto::AeadAlgorithm>(9); }, "algorithm");
  invalid([](PushMessage& p) { p.flags = 0x80; }, "flags");
  invalid([](PushMessage& p) { p.lifetime = 0; }, "lifetime");
  invalid([](PushMessage& p) { p.grace = -1; }, "grace");
  invalid([](PushMessage& p) { p.spi = Spi{5}; }, "reserved");
  invalid([](PushMessage& p) { p.flags = kFlagClear; }, "clear");
  invalid([](PushMessage& p) { p.seq = 2; }, "disagree");
  invalid([](PushMessage& p) { p.epoch = Epoch{3, 3}; }, "disagree");
}

TEST(PushFragment, RoundTripAndEachFailureClass) {
  Bytes msg(3000, 0xab);
  auto ds = Fragmentize(msg, EventId(4), 8, 9);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds[0].size(), kDatagramHeaderSize + kFragmentPayload);
  EXPECT_EQ(ds[2].size(), kDatagramHeaderSize + 600);
  auto f = ParseFragment(ds[2]);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->index, 2u);
  EXPECT_EQ(f->count, 3u);
  EXPECT_EQ(f->message_len, 3000u);
  EXPECT_EQ(f->seq, 9u);
  auto bad = [&](size_t i, auto edit, bool want_truncated) {
    Bytes b = ds[i];
    edit(b);
    bool truncated = !want_truncated;
    EXPECT_FALSE(ParseFragment(b, &truncated).ok());
    EXPECT_EQ(truncated, want_truncated);
  };
  bad(
      0, [](Bytes& b) { b.resize(30); }, true);  // short header
  bad(
      0, [](Bytes& b) { b.pop_back(); }, true);  // short payload
  bad(
      2, [](Bytes& b) { b.push_back(0); }, false);  // long payload
  bad(
      0, [](Bytes& b) { b[1] = 'X'; }, false);  // magic
  bad(
      0, [](Bytes& b) { b[3] = 2; }, false);  // version
  bad(
      0, [](Bytes& b) { b[4] = 2; }, false);  // type
  bad(
      0, [](Bytes& b) { std::fill(b.begin() + 5, b.begin() + 13, 0); }, false);  // event 0
  bad(
      0, [](Bytes& b) { StoreBe32(b.data() + 29, 100); }, false);  // length < min
  bad(
      0, [](Bytes& b) { StoreBe32(b.data() + 37, 4); }, false);  // count
  bad(
      0, [](Bytes& b) { StoreBe32(b.data() + 33, 3); }, false);  // index >= count
  Bytes big(kMaxDatagramBytes + 1, 0);
  EXPECT_FALSE(ParseFragment(big).ok());
}

}  // namespace
}  // namespace keycast::push
