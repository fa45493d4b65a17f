// Byte strings. Bytes is for public data; SecretBytes is for key material.
//
// SecretBytes wipes its buffer when destroyed or reassigned, compares in
// constant time, and has no stream operator or implicit conversion, so a key
// cannot end up in a log line by accident. Raw access is through reveal(),
// which is easy to grep for when auditing where key bytes go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keycast {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;
using MutableByteView = std::span<uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Overwrites memory in a way the compiler may not elide.
void SecureWipe(void* p, size_t n);

// Constant-time equality of two byte strings (length is not secret).
bool ConstantTimeEquals(ByteView a, ByteView b);

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n) : data_(n) {}
  explicit SecretBytes(ByteView b) : data_(b.begin(), b.end()) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes(SecretBytes&& o) noexcept : data_(std::move(o.data_)) { o.data_.clear(); }
  SecretBytes& operator=(const SecretBytes& o) {
    if (this != &o) {
      Wipe();
      data_ = o.data_;
    }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      Wipe();
      data_ = std::move(o.data_);
      o.data_.clear();
    }
    return *this;
  }
  ~SecretBytes() { Wipe(); }

  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

  // Raw access to the secret. Every call site is a place where key bytes leave
  // this type: keep them few.
  ByteView reveal() const { return {data_.data(), data_.size()}; }
  MutableByteView reveal_mutable() { return {data_.data(), data_.size()}; }

  // Constant-time.
  bool operator==(const SecretBytes& o) const { return ConstantTimeEquals(reveal(), o.reveal()); }

  void Wipe() {
    if (!data_.empty()) SecureWipe(data_.data(), data_.size());
    data_.clear();
  }

 private:
  std::vector<uint8_t> data_;
};

// Lower-case hex; FromHex accepts either case and fails on odd length or junk.
std::string ToHex(ByteView b);
bool FromHex(std::string_view hex, Bytes* out);

// Standard base64 with padding (RFC 4648 section 4); decoding rejects
// whitespace, bad characters and bad padding.
std::string Base64Encode(ByteView b);
bool Base64Decode(std::string_view s, Bytes* out);

}  // namespace keycast
