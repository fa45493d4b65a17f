#include "channel/wire.h"

#include <gtest/gtest.h>

#include "keycast/crypto.h"

namespace keycast::channel {
namespace {

HelloMsg SampleHello() {
  HelloMsg m;
  crypto::RandomFill(m.client_public);
  crypto::RandomFill(m.client_nonce);
  m.subject = ToBytes("movie-42/alice");
  return m;
}

SessionKeyMsg SampleSessionKey() {
  SessionKeyMsg m;
  crypto::RandomFill(m.exchange_id.bytes);
  m.interval = 0x0102030405060708ULL;
  m.slot = 3;
  m.deadline = 1'700'000'000'000'000;
  crypto::RandomFill(m.server_public);
  crypto::RandomFill(m.sealed_session_key);
  crypto::RandomFill(m.signature);
  return m;
}

ConfirmMsg SampleConfirm() {
  ConfirmMsg m;
  crypto::RandomFill(m.exchange_id.bytes);
  m.sealed_shared_param = crypto::RandomBytes(kSealOverhead + 20);
  return m;
}

DataKeyMsg SampleDataKey() {
  DataKeyMsg m;
  crypto::RandomFill(m.exchange_id.bytes);
  m.data_key_index = 2;
  crypto::RandomFill(m.sealed_data_key);
  m.sealed_payload = crypto::RandomBytes(kSealOverhead + 100);
  return m;
}

TEST(ChannelWire, HelloRoundTrip) {
  HelloMsg m = SampleHello();
  Bytes b = EncodeHello(m);
  EXPECT_EQ(b.size(), kHeaderSize + kPublicKeySize + kNonceSize + 2 + m.subject.size());
  auto p = ParseHello(b);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->client_public, m.client_public);
  EXPECT_EQ(p->client_nonce, m.client_nonce);
  EXPECT_EQ(p->subject, m.subject);
  EXPECT_EQ(EncodeHello(*p), b);
}

TEST(ChannelWire, SessionKeyRoundTrip) {
  SessionKeyMsg m = SampleSessionKey();
  Bytes b = EncodeSessionKey(m);
  EXPECT_EQ(b.size(), kSessionKeyMsgSize);
  auto p = ParseSessionKey(b);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->exchange_id, m.exchange_id);
  EXPECT_EQ(p->interval, m.interval);
  EXPECT_EQ(p->slot, m.slot);
  EXPECT_EQ(p->deadline, m.deadline);
  EXPECT_EQ(p->server_public, m.server_public);
  EXPECT_EQ(p->sealed_session_key, m.sealed_session_key);
  EXPECT_EQ(p->signature, m.signature);
  EXPECT_EQ(EncodeSessionKey(*p), b);
}

TEST(ChannelWire, ConfirmRoundTrip) {
  ConfirmMsg m = SampleConfirm();
  Bytes b = EncodeConfirm(m);
  auto p = ParseConfirm(b);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->exchange_id, m.exchange_id);
  EXPECT_EQ(p->sealed_shared_param, m.sealed_shared_param);
  EXPECT_EQ(EncodeConfirm(*p), b);
}

TEST(ChannelWire, DataKeyRoundTrip) {
  DataKeyMsg m = SampleDataKey();
  Bytes b = EncodeDataKey(m);
  auto p = ParseDataKey(b);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->exchange_id, m.exchange_id);
  EXPECT_EQ(p->data_key_index, m.data_key_index);
  EXPECT_EQ(p->sealed_data_key, m.sealed_data_key);
  EXPECT_EQ(p->sealed_payload, m.sealed_payload);
  EXPECT_EQ(EncodeDataKey(*p), b);
}

// Each parser over every encoded message: every proper prefix, one trailing
// byte, a wrong version and a wrong type are all refused with a reason.
struct Case {
  const char* name;
  Bytes encoded;
  bool (*parse)(ByteView, std::string*);
};

template <typename F>
bool Run(F f, ByteView b, std::string* why) {
  auto r = f(b);
  if (!r.ok()) *why = r.status().message();
  return r.ok();
}

std::vector<Case> AllCases() {
  return {
      {"hello", EncodeHello(SampleHello()),
       [](ByteView b, std::string* w) { return Run(ParseHello, b, w); }},
      {"session_key", EncodeSessionKey(SampleSessionKey()),
       [](ByteView b, std::string* w) { return Run(ParseSessionKey, b, w); }},
      {"confirm", EncodeConfirm(SampleConfirm()),
       [](ByteView b, std::string* w) { return Run(ParseConfirm, b, w); }},
      {"data_key", EncodeDataKey(SampleDataKey()),
       [](ByteView b, std::string* w) { return Run(ParseDataKey, b, w); }},
  };
}

TEST(ChannelWire, TruncatedAtEveryLengthRefused) {
  for (const Case& c : AllCases()) {
    std::string why;
    ASSERT_TRUE(c.parse(c.encoded, &why)) << c.name;
    for (size_t n = 0; n < c.encoded.size(); ++n) {
      why.clear();
      EXPECT_FALSE(c.parse(ByteView(c.encoded.data(), n), &why)) << c.name << " len " << n;
      EXPECT_NE(why.find("malformed"), std::string::npos) << c.name << " len " << n;
    }
  }
}

TEST(ChannelWire, TrailingByteRefused) {
  for (const Case& c : AllCases()) {
    Bytes b = c.encoded;
    b.push_back(0);
    std::string why;
    EXPECT_FALSE(c.parse(b, &why)) << c.name;
    EXPECT_NE(why.find("trailing"), std::string::npos) << why;
  }
}

TEST(ChannelWire, WrongVersionAndTypeRefused) {
  for (const Case& c : AllCases()) {
    Bytes b = c.encoded;
    b[0] = 2;
    std::string why;
    EXPECT_FALSE(c.parse(b, &why)) << c.name;
    EXPECT_NE(why.find("unsupported version 2"), std::string::npos) << why;
    b = c.encoded;
    b[1] = 9;
    EXPECT_FALSE(c.parse(b, &why)) << c.name;
    EXPECT_NE(why.find("got type 9"), std::string::npos) << why;
  }
  // A message of one kind is not accepted as another.
  EXPECT_FALSE(ParseConfirm(EncodeHello(SampleHello())).ok());
}

TEST(ChannelWire, OversizedMessageRefused) {
  Bytes b = EncodeHello(SampleHello());
  b.resize(kMaxMessageBytes + 1);
  auto r = ParseHello(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds 4096"), std::string::npos);
}

TEST(ChannelWire, FieldBoundsRefused) {
  HelloMsg h = SampleHello();
  h.subject.clear();
  EXPECT_NE(ParseHello(EncodeHello(h)).status().message().find("empty subject"), std::string::npos);
  h.subject.assign(kMaxSubjectBytes + 1, 'x');
  EXPECT_NE(ParseHello(EncodeHello(h)).status().message().find("subject longer than"),
            std::string::npos);
  h.subject.assign(kMaxSubjectBytes, 'x');
  EXPECT_TRUE(ParseHello(EncodeHello(h)).ok());

  ConfirmMsg c = SampleConfirm();
  c.sealed_shared_param.resize(kSealOverhead);  // would hide an empty parameter
  EXPECT_FALSE(ParseConfirm(EncodeConfirm(c)).ok());
  c.sealed_shared_param.resize(kSealOverhead + kMaxSharedParamBytes + 1);
  EXPECT_FALSE(ParseConfirm(EncodeConfirm(c)).ok());
  c.sealed_shared_param.resize(kSealOverhead + kMaxSharedParamBytes);
  EXPECT_TRUE(ParseConfirm(EncodeConfirm(c)).ok());

  DataKeyMsg d = SampleDataKey();
  d.data_key_index = kDataKeysPerExchange;
  EXPECT_NE(ParseDataKey(EncodeDataKey(d)).status().message().find("out of range"),
            std::string::npos);
  d = SampleDataKey();
  d.sealed_payload.resize(kSealOverhead - 1);
  EXPECT_FALSE(ParseDataKey(EncodeDataKey(d)).ok());
  d.sealed_payload.resize(kSealOverhead);  // empty payload is allowed
  EXPECT_TRUE(ParseDataKey(EncodeDataKey(d)).ok());
  d.sealed_payload.resize(kSealOverhead + kMaxPayloadBytes + 1);
  EXPECT_FALSE(ParseDataKey(EncodeDataKey(d)).ok());
  d.sealed_payload.resize(kSealOverhead + kMaxPayloadBytes);
  EXPECT_TRUE(ParseDataKey(EncodeDataKey(d)).ok());
  EXPECT_LE(EncodeDataKey(d).size(), kMaxMessageBytes);
}

}  // namespace
}  // namespace keycast::channel
