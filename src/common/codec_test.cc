#include "keycast/codec.h"

#include <gtest/gtest.h>

namespace keycast {
namespace {

TEST(Codec, RoundTrip) {
  Bytes buf;
  Writer w(&buf);
  w.U8(7);
  w.U16(0x1234);
  w.U32(0xdeadbeef);
  w.U64(0x0102030405060708ull);
  w.I64(-5);
  w.Opaque8(std::string_view("hi"));
  w.Opaque16(std::string_view("there"));
  Reader r(buf);
  uint8_t a;
  uint16_t b;
  uint32_t c;
  uint64_t d;
  int64_t e;
  std::string s1, s2;
  ASSERT_TRUE(r.U8(&a, "a") && r.U16(&b, "b") && r.U32(&c, "c") && r.U64(&d, "d") &&
              r.I64(&e, "e") && r.String8(&s1, "s1") && r.String16(&s2, "s2"));
  EXPECT_TRUE(r.Finish());
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 0x1234);
  EXPECT_EQ(c, 0xdeadbeefu);
  EXPECT_EQ(d, 0x0102030405060708ull);
  EXPECT_EQ(e, -5);
  EXPECT_EQ(s1, "hi");
  EXPECT_EQ(s2, "there");
}

TEST(Codec, TruncationNamesFieldAndOffset) {
  Bytes buf = {0, 5, 'a', 'b'};
  Reader r(buf);
  std::string s;
  EXPECT_FALSE(r.String16(&s, "title"));
  EXPECT_EQ(r.error(), "truncated: title at offset 2");
  uint8_t x;
  EXPECT_FALSE(r.U8(&x, "later"));  // sticky
}

TEST(Codec, LengthBoundIsEnforced) {
  Bytes buf = {0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  Reader r(buf);
  std::string s;
  EXPECT_FALSE(r.String16(&s, "name", 4));
  EXPECT_NE(r.error().find("name longer than 4"), std::string::npos);
}

TEST(Codec, TrailingBytesRejected) {
  Bytes buf = {1, 2};
  Reader r(buf);
  uint8_t x;
  ASSERT_TRUE(r.U8(&x, "x"));
  EXPECT_FALSE(r.Finish());
  EXPECT_NE(r.error().find("1 trailing bytes"), std::string::npos);
}

}  // namespace
}  // namespace keycast
