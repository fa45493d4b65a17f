#include <gtest/gtest.h>

#include "keycast/crypto.h"
#include "keycast/key_protocol.h"
#include "keycast/limits.h"

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

// An SA of event 4 for `role` (sender 7 when sending).
SecurityAssociation PlainSa(Role role) {
  SecurityAssociation sa;
  sa.event = EventId(4);
  sa.epoch = Epoch{0, 1};
  sa.spi = Spi{0x1234};
  sa.key = crypto::RandomSecret(32);
  sa.initiation = 1000;
  sa.lifetime = 2000;
  sa.grace = 10;
  sa.role = role;
  sa.sender = role == Role::kSender ? SenderId{7} : SenderId{};
  sa.group = *IpAddress::Parse("239.1.2.3");
  sa.port = 5000;
  return sa;
}

TEST(KeyProtocol, ReplyRoundTripTamperAndWrongNonce) {
  auto k = Keys();
  Reply r;
  crypto::RandomFill(r.client_nonce);
  r.status = ReplyStatus::kOk;
  r.server_time = 99;
  r.event = EventId(4);
  SecurityAssociation sa = PlainSa(Role::kSender);
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

Request SampleRequest() {
  Request q;
  q.credential = Bytes(64, 0xab);
  crypto::RandomFill(q.client_nonce);
  q.timestamp = 5;
  q.event = EventId(9);
  q.kind = RequestKind::kRefresh;
  q.epoch = Epoch{2, 5};
  return q;
}

TEST(KeyProtocol, SignerHintsRideUnderTheTag) {
  auto k = Keys();
  Request q = SampleRequest();
  q.signer_hints = {SenderId{4}, SenderId{900}};
  Bytes wire = EncodeRequest(q, k);
  EXPECT_EQ(wire[5], kRequestFlagHints);
  auto p = ParseRequest(wire);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->request.signer_hints, q.signer_hints);
  EXPECT_TRUE(VerifyRequestTag(*p, k));
  // The hints are authenticated: change one and the tag no longer verifies.
  Bytes changed = wire;
  changed[wire.size() - kTagSize - 1] ^= 1;
  auto pc = ParseRequest(changed);
  ASSERT_TRUE(pc.ok());
  EXPECT_FALSE(VerifyRequestTag(*pc, k));
  // Without hints the flag is clear and the request is as before.
  q.signer_hints.clear();
  Bytes plain = EncodeRequest(q, k);
  EXPECT_EQ(plain[5], 0);
  EXPECT_EQ(plain.size() + 1 + 8, wire.size());
  EXPECT_TRUE(ParseRequest(plain)->request.signer_hints.empty());
}

TEST(KeyProtocol, MalformedSignerHintsAreRefused) {
  auto k = Keys();
  auto refused = [&](std::vector<SenderId> hints, const char* why) {
    Request q = SampleRequest();
    q.signer_hints = std::move(hints);
    auto p = ParseRequest(EncodeRequest(q, k));
    ASSERT_FALSE(p.ok()) << why;
    EXPECT_NE(p.status().message().find("malformed key request"), std::string::npos);
  };
  refused({SenderId{0}}, "zero id");
  refused({SenderId{3}, SenderId{3}}, "duplicate");
  std::vector<SenderId> many;
  for (uint32_t i = 1; i <= limits::kMaxSignerHints + 1; ++i) many.push_back(SenderId{i});
  refused(many, "too many");
  // The flag with a zero count, and an unknown flag bit.
  Request q = SampleRequest();
  q.signer_hints = {SenderId{1}};
  Bytes wire = EncodeRequest(q, k);
  Bytes zero = wire;
  size_t count_at = wire.size() - kTagSize - 5;
  zero[count_at] = 0;
  EXPECT_FALSE(ParseRequest(zero).ok());
  Bytes flag = wire;
  flag[5] = 0x03;
  EXPECT_FALSE(ParseRequest(flag).ok());
}

SecurityAssociation AuthSa(Role role) {
  SecurityAssociation sa = PlainSa(role);
  sa.source_auth = true;
  if (role == Role::kSender) sa.signing_key = crypto::RandomSecret(32);
  sa.signers = {Signer{SenderId{3}, crypto::RandomBytes(32)},
                Signer{SenderId{7}, crypto::RandomBytes(32)}};
  return sa;
}

Result<Reply> RoundTrip(const SecurityAssociation& sa) {
  auto k = Keys();
  Reply r;
  crypto::RandomFill(r.client_nonce);
  r.event = sa.event;
  r.sas.push_back(sa);
  return OpenReply(EncodeReply(r, k), k, r.client_nonce);
}

TEST(KeyProtocol, SourceAuthenticationRoundTrips) {
  for (Role role : {Role::kSender, Role::kReceiver}) {
    SecurityAssociation sa = AuthSa(role);
    auto back = RoundTrip(sa);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    const SecurityAssociation& b = back->sas.at(0);
    EXPECT_TRUE(b.source_auth);
    EXPECT_TRUE(b.signing_key == sa.signing_key);
    EXPECT_EQ(b.signing_key.size(), role == Role::kSender ? 32u : 0u);
    EXPECT_EQ(b.signers, sa.signers);
  }
  // Without source authentication the signers are vouched ids only.
  SecurityAssociation plain = AuthSa(Role::kReceiver);
  plain.source_auth = false;
  for (Signer& s : plain.signers) s.public_key.clear();
  auto back = RoundTrip(plain);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_FALSE(back->sas[0].source_auth);
  EXPECT_EQ(back->sas[0].signers, plain.signers);
}

TEST(KeyProtocol, InconsistentSourceAuthenticationIsRefused) {
  auto refused = [](SecurityAssociation sa, const char* why) {
    auto r = RoundTrip(sa);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_NE(r.status().message().find("malformed key reply"), std::string::npos) << why;
  };
  SecurityAssociation s = AuthSa(Role::kSender);
  s.signing_key = SecretBytes();
  refused(s, "a signing sender without its key");
  s = AuthSa(Role::kReceiver);
  s.signing_key = crypto::RandomSecret(32);
  refused(s, "a receiver with a signing key");
  s = AuthSa(Role::kReceiver);
  s.signers[0].public_key.resize(31);
  refused(s, "a short public key");
  s = AuthSa(Role::kReceiver);
  s.source_auth = false;
  refused(s, "public keys on an SA without source authentication");
  s = AuthSa(Role::kReceiver);
  std::swap(s.signers[0], s.signers[1]);
  refused(s, "signers out of order");
  s = AuthSa(Role::kReceiver);
  s.signers[1].sender = s.signers[0].sender;
  refused(s, "a duplicate signer");
  s = AuthSa(Role::kReceiver);
  s.signers.clear();
  for (uint32_t i = 1; i <= limits::kMaxSignersPerSa + 1; ++i)
    s.signers.push_back(Signer{SenderId{i}, crypto::RandomBytes(32)});
  refused(s, "too many signers");
  s = AuthSa(Role::kReceiver);
  s.clear = true;
  s.key = SecretBytes();
  s.signers.clear();
  refused(s, "a clear SA with source authentication");
}

}  // namespace
}  // namespace keycast::keyproto
