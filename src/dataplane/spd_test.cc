#include "keycast/dataplane/spd.h"

#include <gtest/gtest.h>

#include "dataplane/test_util.h"

namespace keycast::dataplane {
namespace {

using testing::Ip;

AddressPrefix Prefix(const char* addr, uint8_t len) {
  auto p = AddressPrefix::Make(Ip(addr), len);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.value();
}

Flow To(const char* dst, uint16_t port, const char* src = "10.0.0.1", uint8_t proto = 17) {
  Flow f;
  f.destination = Ip(dst);
  f.destination_port = port;
  f.source = Ip(src);
  f.protocol = proto;
  return f;
}

Selector Out(AddressPrefix dst, PortRange ports = PortRange::Any()) {
  Selector s;
  s.direction = Direction::kOutbound;
  s.destination = dst;
  s.destination_port = ports;
  return s;
}

TEST(AddressPrefix, ContainsV4) {
  AddressPrefix p = Prefix("239.1.0.0", 16);
  EXPECT_TRUE(p.Contains(Ip("239.1.0.0")));
  EXPECT_TRUE(p.Contains(Ip("239.1.255.255")));
  EXPECT_FALSE(p.Contains(Ip("239.2.0.0")));
  EXPECT_FALSE(p.Contains(Ip("::ffff:239.1.0.1")));  // other family
  AddressPrefix odd = Prefix("239.1.2.0", 23);       // not byte-aligned
  EXPECT_TRUE(odd.Contains(Ip("239.1.3.9")));
  EXPECT_FALSE(odd.Contains(Ip("239.1.4.0")));
  AddressPrefix exact = AddressPrefix::Exact(Ip("239.1.2.3"));
  EXPECT_EQ(exact.length(), 32);
  EXPECT_TRUE(exact.Contains(Ip("239.1.2.3")));
  EXPECT_FALSE(exact.Contains(Ip("239.1.2.4")));
  EXPECT_TRUE(Prefix("0.0.0.0", 0).Contains(Ip("1.2.3.4")));
}

TEST(AddressPrefix, ContainsV6) {
  AddressPrefix p = Prefix("ff3e::", 16);
  EXPECT_TRUE(p.Contains(Ip("ff3e::1234")));
  EXPECT_FALSE(p.Contains(Ip("ff3f::1")));
  EXPECT_FALSE(p.Contains(Ip("239.1.2.3")));
  AddressPrefix exact = AddressPrefix::Exact(Ip("ff3e::8000:1"));
  EXPECT_EQ(exact.length(), 128);
  EXPECT_TRUE(exact.Contains(Ip("ff3e::8000:1")));
  EXPECT_FALSE(exact.Contains(Ip("ff3e::8000:2")));
  EXPECT_TRUE(Prefix("ff3e::8000:0", 113).Contains(Ip("ff3e::8000:7fff")));
  EXPECT_FALSE(Prefix("ff3e::8000:0", 113).Contains(Ip("ff3e::8000:8000")));
}

TEST(AddressPrefix, RejectsBadPrefixes) {
  EXPECT_FALSE(AddressPrefix::Make(IpAddress(), 0).ok());       // no address
  EXPECT_FALSE(AddressPrefix::Make(Ip("239.1.2.3"), 33).ok());  // too long for v4
  EXPECT_FALSE(AddressPrefix::Make(Ip("ff3e::"), 129).ok());    // too long for v6
  auto host_bits = AddressPrefix::Make(Ip("239.1.2.3"), 16);    // host bits set
  ASSERT_FALSE(host_bits.ok());
  EXPECT_NE(host_bits.status().message().find("host bits"), std::string::npos);
  EXPECT_FALSE(AddressPrefix().Contains(Ip("0.0.0.0")));  // empty matches nothing
}

TEST(Selector, MatchesEachField) {
  Selector s = Out(Prefix("239.1.0.0", 16), PortRange{5000, 5010});
  s.source = Prefix("10.0.0.0", 8);
  EXPECT_TRUE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5000)));
  EXPECT_TRUE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5010)));
  EXPECT_FALSE(s.Matches(Direction::kInbound, To("239.1.2.3", 5000)));               // direction
  EXPECT_FALSE(s.Matches(Direction::kOutbound, To("239.2.2.3", 5000)));              // destination
  EXPECT_FALSE(s.Matches(Direction::kOutbound, To("239.1.2.3", 4999)));              // port below
  EXPECT_FALSE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5011)));              // port above
  EXPECT_FALSE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5000, "11.0.0.1")));  // source
  EXPECT_FALSE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5000, "10.0.0.1", 6)));  // TCP
  s.protocol.reset();  // any protocol
  EXPECT_TRUE(s.Matches(Direction::kOutbound, To("239.1.2.3", 5000, "10.0.0.1", 6)));
}

TEST(Selector, ValidateRejects) {
  Selector none;  // no destination
  EXPECT_FALSE(none.Validate().ok());
  Selector range = Out(Prefix("239.1.0.0", 16), PortRange{10, 9});
  EXPECT_FALSE(range.Validate().ok());
  Selector mixed = Out(Prefix("239.1.0.0", 16));
  mixed.source = Prefix("::", 0);
  EXPECT_FALSE(mixed.Validate().ok());
  Selector direction = Out(Prefix("239.1.0.0", 16));
  direction.direction = Direction(9);
  EXPECT_FALSE(direction.Validate().ok());
  EXPECT_TRUE(Out(Prefix("239.1.0.0", 16)).Validate().ok());
}

TEST(Spd, FirstMatchWins) {
  SecurityPolicyDatabase spd;
  Policy discard{Out(AddressPrefix::Exact(Ip("239.1.2.3")), PortRange::Exact(9)),
                 PolicyAction::kDiscard, EventId()};
  Policy protect{Out(Prefix("239.1.0.0", 16)), PolicyAction::kProtect, EventId(5)};
  Policy bypass{Out(Prefix("239.0.0.0", 8)), PolicyAction::kBypass, EventId()};
  ASSERT_TRUE(spd.Add(discard).ok());
  ASSERT_TRUE(spd.Add(protect).ok());
  ASSERT_TRUE(spd.Add(bypass).ok());

  const Policy* p = spd.Lookup(Direction::kOutbound, To("239.1.2.3", 9));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->action, PolicyAction::kDiscard);
  p = spd.Lookup(Direction::kOutbound, To("239.1.2.3", 10));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->action, PolicyAction::kProtect);
  EXPECT_EQ(p->event, EventId(5));
  p = spd.Lookup(Direction::kOutbound, To("239.9.9.9", 10));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->action, PolicyAction::kBypass);
  EXPECT_EQ(spd.Lookup(Direction::kOutbound, To("224.0.0.1", 10)), nullptr);  // no match
  EXPECT_EQ(spd.Lookup(Direction::kInbound, To("239.1.2.3", 10)), nullptr);   // other direction

  // Inserting at the front overrides the rest.
  Policy bypass_all{Out(Prefix("0.0.0.0", 0)), PolicyAction::kBypass, EventId()};
  ASSERT_TRUE(spd.Insert(0, bypass_all).ok());
  EXPECT_EQ(spd.Lookup(Direction::kOutbound, To("239.1.2.3", 9))->action, PolicyAction::kBypass);
}

TEST(Spd, ValidatesPolicies) {
  SecurityPolicyDatabase spd;
  Policy no_event{Out(Prefix("239.1.0.0", 16)), PolicyAction::kProtect, EventId()};
  EXPECT_FALSE(spd.Add(no_event).ok());
  Policy stray_event{Out(Prefix("239.1.0.0", 16)), PolicyAction::kBypass, EventId(3)};
  EXPECT_FALSE(spd.Add(stray_event).ok());
  Policy bad_action{Out(Prefix("239.1.0.0", 16)), PolicyAction(0), EventId()};
  EXPECT_FALSE(spd.Add(bad_action).ok());
  Policy ok{Out(Prefix("239.1.0.0", 16)), PolicyAction::kBypass, EventId()};
  EXPECT_FALSE(spd.Insert(1, ok).ok());  // past the end
  EXPECT_EQ(spd.size(), 0u);
}

TEST(Spd, IsBounded) {
  SecurityPolicyDatabase spd;
  Policy p{Out(Prefix("239.1.0.0", 16)), PolicyAction::kBypass, EventId()};
  for (size_t i = 0; i < SecurityPolicyDatabase::kMaxPolicies; ++i) ASSERT_TRUE(spd.Add(p).ok());
  Status s = spd.Add(p);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
}

TEST(Spd, RemoveEvent) {
  SecurityPolicyDatabase spd;
  ASSERT_TRUE(spd.Add({Out(Prefix("239.1.0.0", 16)), PolicyAction::kProtect, EventId(1)}).ok());
  ASSERT_TRUE(spd.Add({Out(Prefix("239.2.0.0", 16)), PolicyAction::kProtect, EventId(2)}).ok());
  ASSERT_TRUE(spd.Add({Out(Prefix("239.3.0.0", 16)), PolicyAction::kProtect, EventId(1)}).ok());
  EXPECT_EQ(spd.RemoveEvent(EventId(1)), 2u);
  EXPECT_EQ(spd.size(), 1u);
  EXPECT_EQ(spd.Lookup(Direction::kOutbound, To("239.1.0.1", 1)), nullptr);
  EXPECT_NE(spd.Lookup(Direction::kOutbound, To("239.2.0.1", 1)), nullptr);
}

TEST(Spd, ProtectEventUsesTheSaSelector) {
  SecurityAssociation sa = testing::MakeSa(0, SecretBytes());
  sa.source = Ip("10.0.0.1");
  Policy p = Policy::ProtectEvent(sa, Direction::kInbound);
  ASSERT_TRUE(p.Validate().ok());
  EXPECT_TRUE(p.selector.Matches(Direction::kInbound, To("239.1.2.3", testing::kPort)));
  EXPECT_FALSE(p.selector.Matches(Direction::kInbound, To("239.1.2.3", testing::kPort + 1)));
  EXPECT_FALSE(p.selector.Matches(Direction::kInbound, To("239.1.2.4", testing::kPort)));
  EXPECT_FALSE(
      p.selector.Matches(Direction::kInbound, To("239.1.2.3", testing::kPort, "10.0.0.2")));
  sa.port = 0;
  p = Policy::ProtectEvent(sa, Direction::kOutbound);
  EXPECT_TRUE(p.selector.Matches(Direction::kOutbound, To("239.1.2.3", 1)));
}

}  // namespace
}  // namespace keycast::dataplane
