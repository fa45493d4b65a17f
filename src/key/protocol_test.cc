#include <gtest/gtest.h>

#include "keycast/crypto.h"
#include "keycast/key_protocol.h"

namespace keycast::keyproto {
namespace {

SessionKeys Keys() {
  TicketId id{};
  id[0] = 7;
  return SessionKeys::Derive(crypto::RandomSecret(32), id);
}

TEST(KeyProtocol, RequestRoundTripAndTag) {
  auto k = Keys();
  Request q;
  q.credential = Bytes(100, 0xab);
  crypto::RandomFill(q.client_nonce);
  q.timestamp = 123456789;
  q.server_nonce = 42;
  q.event = EventId(9);
  q.kind = RequestKind::kRefresh;
  q.epoch = Epoch{2, 5};
  q.sender = SenderId{3};
  Bytes wire = EncodeRequest(q, k);
  auto p = ParseRequest(wire);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->request.credential, q.credential);
  EXPECT_EQ(p->request.epoch, q.epoch);
  EXPECT_EQ(p->request.sender.value, 3u);
  EXPECT_EQ(p->request.server_nonce, 42u);
  EXPECT_TRUE(VerifyRequestTag(*p, k));
  EXPECT_FALSE(VerifyRequestTag(*p, Keys()));
  for (size_t n = 0; n < wire.size(); ++n)
    EXPECT_FALSE(ParseRequest(ByteView(wire.data(), n)).ok()) << n;
  Bytes longer = wire;
  longer.push_back(1);
  EXPECT_FALSE(ParseRequest(longer).ok());
}

TEST(KeyProtocol, ReplyRoundTripTamperAndWrongNonce) {
  auto k = Keys();
  Reply r;
  crypto::RandomFill(r.client_nonce);
  r.status = ReplyStatus::kOk;
  r.server_time = 99;
  r.event = EventId(4);
  SecurityAssociation sa;
  sa.event = EventId(4);
  sa.epoch = Epoch{0, 1};
  sa.spi = Spi{0x1234};
  sa.key = crypto::RandomSecret(32);
  sa.initiation = 1000;
  sa.lifetime = 2000;
  sa.grace = 10;
  sa.role = Role::kSender;
  sa.sender = SenderId{7};
  sa.group = *IpAddress::Parse("239.1.2.3");
  sa.port = 5000;
  r.sas.push_back(sa);
  r.extra = Bytes{1, 2, 3};
  Bytes wire = EncodeReply(r, k);
  auto back = OpenReply(wire, k, r.client_nonce);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->sas.size(), 1u);
  EXPECT_TRUE(back->sas[0].key == sa.key);
  EXPECT_EQ(back->sas[0].sender.value, 7u);
  EXPECT_EQ(back->sas[0].role, Role::kSender);
  EXPECT_EQ(back->extra, (Bytes{1, 2, 3}));
  Nonce other = r.client_nonce;
  other[0] ^= 1;
  EXPECT_FALSE(OpenReply(wire, k, other).ok());
  for (size_t i = 0; i < wire.size(); ++i) {
    Bytes bad = wire;
    bad[i] ^= 4;
    EXPECT_FALSE(OpenReply(bad, k, r.client_nonce).ok()) << i;
  }
}

TEST(KeyProtocol, WakeupVerifiesAndRejectsReservedNonce) {
  auto k = Keys();
  Wakeup w;
  w.ticket_id[3] = 1;
  w.event = EventId(5);
  w.server_nonce = 77;
  w.issued_at = 5;
  Bytes wire = EncodeWakeup(w, k);
  auto p = ParseWakeup(wire);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->server_nonce, 77u);
  EXPECT_TRUE(VerifyWakeup(wire, k));
  EXPECT_FALSE(VerifyWakeup(wire, Keys()));
  Bytes forged = wire;
  forged[30] ^= 1;
  EXPECT_FALSE(VerifyWakeup(forged, k));
  w.server_nonce = kClientInitiated;
  EXPECT_FALSE(ParseWakeup(EncodeWakeup(w, k)).ok());
}

TEST(KeyProtocol, ReplyBodyDecoderRejectsInconsistentSas) {
  // A clear SA must carry no key; a keyed one exactly 32 bytes.
  Reply r;
  SecurityAssociation sa;
  sa.clear = true;
  sa.key = crypto::RandomSecret(32);
  sa.lifetime = 1;
  r.sas.push_back(sa);
  auto k = Keys();
  crypto::RandomFill(r.client_nonce);
  EXPECT_FALSE(OpenReply(EncodeReply(r, k), k, r.client_nonce).ok());
}

}  // namespace
}  // namespace keycast::keyproto
