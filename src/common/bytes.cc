#include "keycast/bytes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace keycast {

void SecureWipe(void* p, size_t n) { OPENSSL_cleanse(p, n); }

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string ToHex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 15]);
  }
  return s;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool FromHex(std::string_view hex, Bytes* out) {
  if (hex.size() % 2 != 0) return false;
  Bytes r(hex.size() / 2);
  for (size_t i = 0; i < r.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    r[i] = uint8_t(hi << 4 | lo);
  }
  *out = std::move(r);
  return true;
}

std::string Base64Encode(ByteView b) {
  std::string s(4 * ((b.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(s.data()), b.data(),
                          static_cast<int>(b.size()));
  s.resize(static_cast<size_t>(n));
  return s;
}

bool Base64Decode(std::string_view s, Bytes* out) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/';
    if (c == '=') {
      // Padding only in the last two positions, and only at the end.
      if (i + 2 < s.size()) return false;
      ++pad;
    } else if (!alnum || pad > 0) {
      return false;
    }
  }
  if (pad > 2) return false;
  Bytes r(s.size() / 4 * 3);
  int n = EVP_DecodeBlock(r.data(), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return false;
  r.resize(static_cast<size_t>(n) - pad);
  // Reject non-canonical encodings (stray bits in the last symbol).
  if (Base64Encode(r) != s) return false;
  *out = std::move(r);
  return true;
}

}  // namespace keycast
