// The reservation platform's own formats: one negative test per failure class.
#include "keycast/reservation/formats.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "keycast/reservation/billing.h"

namespace keycast::reservation {
namespace {

AccessParameter Sample() {
  AccessParameter p;
  p.idempotency_key = "0123456789abcdef-_AZ";
  p.password = SecretBytes(AsBytes("correct horse"));
  p.card_number = SecretBytes(AsBytes("4242 4242 4242 4242"));
  p.card_expiry = "12/34";
  p.card_cvc = SecretBytes(AsBytes("123"));
  return p;
}

TEST(AccessParameterTest, RoundTripsAndIsCanonical) {
  auto enc = EncodeAccessParameter(Sample());
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto dec = DecodeAccessParameter(enc->reveal());
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(dec->idempotency_key, "0123456789abcdef-_AZ");
  EXPECT_EQ(AsString(dec->password.reveal()), "correct horse");
  EXPECT_EQ(AsString(dec->card_number.reveal()), "4242 4242 4242 4242");
  EXPECT_EQ(dec->card_expiry, "12/34");
  EXPECT_EQ(AsString(dec->card_cvc.reveal()), "123");
  auto again = EncodeAccessParameter(*dec);
  EXPECT_TRUE(*again == *enc);
}

TEST(AccessParameterTest, EmptyFieldsAreAllowed) {
  AccessParameter p;
  p.password = SecretBytes(AsBytes("x"));
  auto enc = EncodeAccessParameter(p);
  ASSERT_TRUE(enc.ok());
  auto dec = DecodeAccessParameter(enc->reveal());
  ASSERT_TRUE(dec.ok());
  EXPECT_FALSE(dec->has_card());
}

TEST(AccessParameterTest, RefusesEveryMalformation) {
  SecretBytes encoded = *EncodeAccessParameter(Sample());
  Bytes good(encoded.reveal().begin(), encoded.reveal().end());
  // Truncated at every length.
  for (size_t n = 0; n < good.size(); ++n) {
    auto d = DecodeAccessParameter(ByteView(good.data(), n));
    EXPECT_FALSE(d.ok()) << "prefix " << n;
  }
  // Trailing byte.
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_NE(DecodeAccessParameter(longer).status().message().find("trailing"), std::string::npos);
  // Unknown version.
  Bytes v2 = good;
  v2[0] = 2;
  EXPECT_NE(DecodeAccessParameter(v2).status().message().find("version"), std::string::npos);
  // Idempotency key with a forbidden character.
  AccessParameter p = Sample();
  p.idempotency_key = "0123456789abcdef!";
  EXPECT_FALSE(EncodeAccessParameter(p).ok());
  Bytes bad = good;
  bad[2] = '!';
  EXPECT_FALSE(DecodeAccessParameter(bad).ok());
  // Field longer than its bound.
  AccessParameter big = Sample();
  big.password = SecretBytes(Bytes(kMaxReceiverPassword + 1, 'a'));
  EXPECT_FALSE(EncodeAccessParameter(big).ok());
  Bytes over = {1, 0, 0x01, 0x01};  // password length 257
  over.resize(over.size() + 257, 'a');
  over.insert(over.end(), {0, 0, 0});
  EXPECT_FALSE(DecodeAccessParameter(over).ok());
}

AgentConfig KeycastConfig() {
  AgentConfig c;
  c.transmission = "movie";
  c.title = "A movie";
  c.receiver = "alice";
  c.mode = "keycast";
  c.addr = "http://127.0.0.1:8200";
  c.client = "rx.1.alice";
  c.api_key = "kca_0123456789abcdef_" + std::string(64, 'a');
  c.event = "resv.movie";
  c.group = *IpAddress::Parse("239.1.2.3");
  c.port = 5004;
  c.start = 1893456000;
  c.duration = 3600;
  c.rrule = "FREQ=WEEKLY;BYDAY=MO;COUNT=4";
  c.charged_cents = 499;
  c.currency = "EUR";
  return c;
}

TEST(AgentConfigTest, RoundTripsBothModes) {
  auto j = AgentConfigToJson(KeycastConfig());
  auto c = ParseAgentConfig(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->api_key, KeycastConfig().api_key);
  EXPECT_EQ(c->event, "resv.movie");
  EXPECT_EQ(c->rrule, "FREQ=WEEKLY;BYDAY=MO;COUNT=4");
  EXPECT_EQ(AgentConfigToJson(*c), j);

  AgentConfig s = KeycastConfig();
  s.mode = "static";
  s.spi = 77;
  s.algorithm = crypto::AeadAlgorithm::kChaCha20Poly1305;
  s.sa_key = Bytes(32, 0xab);
  auto back = ParseAgentConfig(AgentConfigToJson(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->spi, 77u);
  EXPECT_EQ(back->sa_key, Bytes(32, 0xab));
  EXPECT_EQ(back->algorithm, crypto::AeadAlgorithm::kChaCha20Poly1305);
}

TEST(AgentConfigTest, StrictFields) {
  auto j = nlohmann::json::parse(AgentConfigToJson(KeycastConfig()));
  auto with = [&](const char* k, nlohmann::json v) {
    auto c = j;
    c[k] = v;
    return ParseAgentConfig(c.dump());
  };
  EXPECT_NE(with("extra", 1).status().message().find("extra"), std::string::npos);
  EXPECT_NE(with("port", 0).status().message().find("port"), std::string::npos);
  EXPECT_NE(with("group", "10.0.0.1").status().message().find("multicast"), std::string::npos);
  EXPECT_NE(with("mode", "other").status().message().find("mode"), std::string::npos);
  EXPECT_NE(with("version", 2).status().message().find("version"), std::string::npos);
  EXPECT_NE(with("rrule", "FREQ=HOURLY").status().message().find("rrule"), std::string::npos);
  auto c = j;
  c.erase("api_key");
  EXPECT_NE(ParseAgentConfig(c.dump()).status().message().find("api_key"), std::string::npos);
  EXPECT_FALSE(ParseAgentConfig("[1]").ok());
  EXPECT_FALSE(ParseAgentConfig(std::string(4000, ' ')).ok());
}

TEST(AgentConfigTest, EnvFileHasTheJoinCommand) {
  std::string env = AgentConfigToEnvFile(KeycastConfig());
  EXPECT_NE(env.find("KEYCAST_API_KEY=kca_"), std::string::npos);
  EXPECT_NE(env.find("KEYCAST_EVENT=resv.movie"), std::string::npos);
  EXPECT_NE(env.find("KEYCAST_ADDR=http://127.0.0.1:8200"), std::string::npos);
  EXPECT_NE(env.find("keycast client join"), std::string::npos);
}

TEST(ReceiverListTest, ParsesLinesAndNamesTheBadOne) {
  auto l = ParseReceiverList(
      "# comment\nalice  alice-secret\r\n\n  bob\tbob secret with spaces  \ncarol\n");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].name, "alice");
  EXPECT_EQ(*(*l)[0].password, "alice-secret");
  EXPECT_EQ(*(*l)[1].password, "bob secret with spaces");
  EXPECT_FALSE((*l)[2].password.has_value());
  EXPECT_NE(
      ParseReceiverList("alice alice-secret\nb@d x12345678").status().message().find("line 2"),
      std::string::npos);
  EXPECT_NE(ParseReceiverList("alice short").status().message().find("at least 8"),
            std::string::npos);
  EXPECT_NE(ParseReceiverList("alice aaaaaaaa\nalice bbbbbbbb").status().message().find("twice"),
            std::string::npos);
  EXPECT_TRUE(ParseReceiverList("")->empty());
}

TEST(FormTest, DecodesAndRefuses) {
  auto f = ParseForm("a=1&b=hello+world&c=%41%42&empty=&flag");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)["b"], "hello world");
  EXPECT_EQ((*f)["c"], "AB");
  EXPECT_EQ((*f)["empty"], "");
  EXPECT_EQ((*f)["flag"], "");
  EXPECT_NE(ParseForm("a=1&a=2").status().message().find("twice"), std::string::npos);
  EXPECT_NE(ParseForm("a=%4").status().message().find("%-escape"), std::string::npos);
  EXPECT_NE(ParseForm("a=%zz").status().message().find("%-escape"), std::string::npos);
  EXPECT_FALSE(ParseForm("b%3Cr=1").ok());
  EXPECT_FALSE(ParseForm(std::string(kMaxFormBytes + 1, 'a')).ok());
  std::string many;
  for (int i = 0; i < 70; ++i) many += "f" + std::to_string(i) + "=1&";
  EXPECT_FALSE(ParseForm(many).ok());
}

TEST(CookieTest, KeepsFirstAndSkipsJunk) {
  auto c = ParseCookies("a=1; b=\"two\"; junk; =x; a=3");
  EXPECT_EQ(c["a"], "1");
  EXPECT_EQ(c["b"], "two");
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(ParseCookies(std::string(kMaxCookieHeader + 1, 'a')).empty());
}

TEST(MoneyTest, ParsesAndFormats) {
  EXPECT_EQ(*ParseMoney("4.99"), 499);
  EXPECT_EQ(*ParseMoney("4.9"), 490);
  EXPECT_EQ(*ParseMoney("12"), 1200);
  EXPECT_EQ(*ParseMoney(""), 0);
  EXPECT_FALSE(ParseMoney("4.999").ok());
  EXPECT_FALSE(ParseMoney("-1").ok());
  EXPECT_FALSE(ParseMoney("1e3").ok());
  EXPECT_FALSE(ParseMoney("4.").ok());
  EXPECT_FALSE(ParseMoney("9999999999").ok());
  EXPECT_EQ(FormatMoney(499, "EUR"), "4.99 EUR");
  EXPECT_EQ(FormatMoney(-1205, "EUR"), "-12.05 EUR");
}

TEST(CardTest, ValidatesEveryField) {
  int64_t now = 1893456000;  // 2030-01-01
  auto c = ParseCard("4242 4242-4242 4242", "12/34", "123", now);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->number, "4242424242424242");
  EXPECT_EQ(c->last4(), "4242");
  EXPECT_EQ(c->exp_year, 2034);
  EXPECT_NE(
      ParseCard("4242424242424241", "12/34", "123", now).status().message().find("check digit"),
      std::string::npos);
  EXPECT_NE(ParseCard("42x2", "12/34", "123", now).status().message().find("digits"),
            std::string::npos);
  EXPECT_NE(ParseCard("4242", "12/34", "123", now).status().message().find("12-19"),
            std::string::npos);
  EXPECT_NE(ParseCard("4242424242424242", "13/34", "123", now).status().message().find("month"),
            std::string::npos);
  EXPECT_NE(ParseCard("4242424242424242", "12/29", "123", now).status().message().find("expired"),
            std::string::npos);
  EXPECT_NE(ParseCard("4242424242424242", "1234", "123", now).status().message().find("MM/YY"),
            std::string::npos);
  EXPECT_NE(
      ParseCard("4242424242424242", "12/34", "12", now).status().message().find("security code"),
      std::string::npos);
  EXPECT_TRUE(ParseCard("4242424242424242", "01/2030", "1234", now).ok());
}

TEST(TestProviderTest, ApprovesDeclinesAndIsIdempotent) {
  TestPaymentProvider p;
  int64_t now = 1893456000;
  ChargeRequest ok{"key-approve-000001", 499, "EUR",
                   *ParseCard("4242424242424242", "12/34", "123", now), "x"};
  auto a = p.Charge(ok);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->approved);
  auto again = p.Charge(ok);
  EXPECT_EQ(again->reference, a->reference);
  EXPECT_EQ(p.charges(), 1u);
  ChargeRequest no{"key-decline-000001", 499, "EUR",
                   *ParseCard("4000000000000002", "12/34", "123", now), "x"};
  auto d = p.Charge(no);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->approved);
  EXPECT_EQ(d->reason, "card declined");
  ChargeRequest err{"key-error-0000001", 499, "EUR",
                    *ParseCard("4000000000000119", "12/34", "123", now), "x"};
  EXPECT_EQ(p.Charge(err).status().code(), Code::kUnavailable);
  EXPECT_TRUE(p.Refund(a->reference, 499, "refund-1").ok());
  EXPECT_TRUE(p.Refund(a->reference, 499, "refund-1").ok());  // idempotent
  EXPECT_EQ(p.refunds(), 1u);
  EXPECT_FALSE(
      p.Refund(d->reference, 499, "refund-2").ok());  // declined charges are not refundable
}

}  // namespace
}  // namespace keycast::reservation
