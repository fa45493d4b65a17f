#include "keycast/bytes.h"

#include <gtest/gtest.h>

namespace keycast {
namespace {

TEST(Bytes, HexRoundTrip) {
  Bytes b = {0x00, 0x7f, 0xff, 0x10};
  EXPECT_EQ(ToHex(b), "007fff10");
  Bytes out;
  ASSERT_TRUE(FromHex("007FfF10", &out));
  EXPECT_EQ(out, b);
}

TEST(Bytes, HexRejectsOddLengthAndJunk) {
  Bytes out;
  EXPECT_FALSE(FromHex("abc", &out));
  EXPECT_FALSE(FromHex("zz", &out));
  EXPECT_FALSE(FromHex("0g", &out));
}

TEST(Bytes, Base64RoundTripAllLengths) {
  for (size_t n = 0; n < 40; ++n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 37 + 11);
    std::string s = Base64Encode(b);
    Bytes back;
    ASSERT_TRUE(Base64Decode(s, &back)) << s;
    EXPECT_EQ(back, b);
  }
}

TEST(Bytes, Base64RejectsMalformed) {
  Bytes out;
  EXPECT_FALSE(Base64Decode("abc", &out));   // length
  EXPECT_FALSE(Base64Decode("ab c", &out));  // whitespace
  EXPECT_FALSE(Base64Decode("a===", &out));  // too much padding
  EXPECT_FALSE(Base64Decode("ab=c", &out));  // padding in the middle
  EXPECT_FALSE(Base64Decode("QR==", &out));  // non-canonical trailing bits
  EXPECT_TRUE(Base64Decode("QQ==", &out));
  EXPECT_EQ(out, Bytes{'A'});
}

TEST(SecretBytes, ConstantTimeEqualityAndWipe) {
  SecretBytes a(Bytes{1, 2, 3}), b(Bytes{1, 2, 3}), c(Bytes{1, 2, 4}), d(Bytes{1, 2});
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(a == d);
  a.Wipe();
  EXPECT_TRUE(a.empty());
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  SecretBytes a(Bytes{9, 9});
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.size(), 2u);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented behaviour
}

}  // namespace
}  // namespace keycast
