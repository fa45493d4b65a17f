#include "keycast/agent/net.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "keycast/agent/daemon.h"
#include "keycast/crypto.h"

namespace keycast::agent {
namespace {

IpAddress Ip(const char* t) { return IpAddress::Parse(t).value(); }

TEST(Net, SocketAddressesRoundTrip) {
  for (const char* a : {"127.0.0.1", "239.1.2.3", "::1", "ff0e::1"}) {
    auto s = ToSocketAddress(Ip(a), 5004);
    ASSERT_TRUE(s.ok());
    uint16_t port = 0;
    EXPECT_EQ(FromSocketAddress(s->storage, &port), Ip(a)) << a;
    EXPECT_EQ(port, 5004);
  }
  EXPECT_FALSE(ToSocketAddress(IpAddress(), 1).ok());
}

TEST(Net, ParsesLocalAddresses) {
  auto v4 = ParseHostPort("127.0.0.1:5000", false);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->first, Ip("127.0.0.1"));
  EXPECT_EQ(v4->second, 5000);
  auto v6 = ParseHostPort("[::1]:6000", false);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, Ip("::1"));
  EXPECT_FALSE(ParseHostPort("localhost:5000", false).ok());  // literals only
  EXPECT_FALSE(ParseHostPort("127.0.0.1:0", false).ok());
  EXPECT_TRUE(ParseHostPort("127.0.0.1:0", true).ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1", false).ok());
}

TEST(Net, ParsesBindings) {
  auto b = Binding::Parse("live=127.0.0.1:5000", Binding::Kind::kSend);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->event, "live");
  EXPECT_EQ(b->kind, Binding::Kind::kSend);
  EXPECT_EQ(b->local_port, 5000);
  for (const char* bad :
       {"live", "=127.0.0.1:5000", "live=", "live=host:1", "live=127.0.0.1:99999"})
    EXPECT_FALSE(Binding::Parse(bad, Binding::Kind::kReceive).ok()) << bad;
}

TEST(Net, UnknownInterfaceIsAClearError) {
  auto r = InterfaceIndex("no-such-if0");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-if0"), std::string::npos);
  EXPECT_EQ(*InterfaceIndex(""), 0u);
  EXPECT_FALSE(OpenMulticastReceiver(Ip("10.0.0.1"), 5000, {}, {}).ok());  // not a group
}

// Multicast on the loopback interface: the receiver learns the group each
// datagram was sent to (IP_PKTINFO), and a socket bound to another group on
// the same port hears nothing of it.
TEST(Net, MulticastOverLoopbackCarriesTheDestination) {
  const uint16_t port = uint16_t(20000 + crypto::RandomU64() % 20000);
  const IpAddress group = Ip("239.255.77.1");
  MulticastOptions mo;
  mo.interface = "lo";
  auto rx = OpenMulticastReceiver(group, port, {}, mo);
  ASSERT_TRUE(rx.ok()) << rx.status().message();
  auto other = OpenMulticastReceiver(Ip("239.255.77.2"), port, {}, mo);
  ASSERT_TRUE(other.ok()) << other.status().message();
  auto tx = OpenMulticastSender(group, {}, mo);
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  auto to = ToSocketAddress(group, port);
  const char msg[] = "hello group";
  ASSERT_EQ(::sendto(tx->get(), msg, sizeof msg, 0, to->get(), to->length), ssize_t(sizeof msg));

  uint8_t buf[64];
  uint8_t control[64];
  sockaddr_storage from{};
  iovec iov{buf, sizeof buf};
  msghdr h{};
  h.msg_name = &from;
  h.msg_namelen = sizeof from;
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(rx->get(), &h, 0);
  ASSERT_EQ(n, ssize_t(sizeof msg));
  EXPECT_EQ(std::memcmp(buf, msg, sizeof msg), 0);
  EXPECT_EQ(PacketDestination(h), group);
  EXPECT_LT(::recv(other->get(), buf, sizeof buf, 0), 0);  // 200 ms timeout, nothing
}

}  // namespace
}  // namespace keycast::agent
