// Bounds-checked binary encoding for Keycast's wire and ticket formats.
//
// Conventions (see docs/wire-format.md): integers are big-endian; an
// opaque<N> field is a length prefix of N bits followed by that many bytes;
// a vector is a count prefix followed by its elements. Every format built on
// these is written down as a grammar in docs/ and decoded with Reader, which
// never reads past its input and records the first failure with the field name
// and offset, so every rejection has a reason.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "keycast/bytes.h"

namespace keycast {

class Writer {
 public:
  explicit Writer(Bytes* out) : out_(out) {}

  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  // resize + memcpy rather than insert: GCC 12 at -O3 reports a false
  // -Wstringop-overflow for vector::insert of a span.
  void Raw(ByteView b) {
    if (b.empty()) return;
    size_t at = out_->size();
    out_->resize(at + b.size());
    std::memcpy(out_->data() + at, b.data(), b.size());
  }
  void Raw(std::string_view s) { Raw(AsBytes(s)); }
  // Length-prefixed. REQUIRES: the data fits the prefix (callers validate
  // sizes before encoding; violating this is a bug and aborts).
  void Opaque8(ByteView b);
  void Opaque16(ByteView b);
  void Opaque32(ByteView b);
  void Opaque8(std::string_view s) { Opaque8(AsBytes(s)); }
  void Opaque16(std::string_view s) { Opaque16(AsBytes(s)); }

  size_t size() const { return out_->size(); }
  Bytes* buffer() { return out_; }

 private:
  Bytes* out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}

  // Each returns false on failure and records the first error; after a
  // failure every later call also returns false.
  bool U8(uint8_t* v, const char* field);
  bool U16(uint16_t* v, const char* field);
  bool U32(uint32_t* v, const char* field);
  bool U64(uint64_t* v, const char* field);
  bool I64(int64_t* v, const char* field);
  bool Raw(size_t n, ByteView* v, const char* field);
  bool Opaque8(ByteView* v, const char* field, size_t max = 0xff);
  bool Opaque16(ByteView* v, const char* field, size_t max = 0xffff);
  bool Opaque32(ByteView* v, const char* field, size_t max);
  bool String8(std::string* v, const char* field, size_t max = 0xff);
  bool String16(std::string* v, const char* field, size_t max = 0xffff);

  // Records a semantic error ("unknown role 7") at the current offset.
  bool Fail(const std::string& reason);
  // True when all input was consumed; otherwise records "trailing bytes".
  bool Finish();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t offset() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }
  ByteView rest() const { return in_.subspan(pos_); }

 private:
  bool Need(size_t n, const char* field);

  ByteView in_;
  size_t pos_ = 0;
  std::string error_;
};

// Big-endian helpers for fixed-layout hot paths (packet headers).
inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void StoreBe64(uint8_t* p, uint64_t v) {
  StoreBe32(p, uint32_t(v >> 32));
  StoreBe32(p + 4, uint32_t(v));
}
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t LoadBe64(const uint8_t* p) {
  return (uint64_t(LoadBe32(p)) << 32) | LoadBe32(p + 4);
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline uint16_t LoadBe16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }

}  // namespace keycast
