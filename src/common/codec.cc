#include "keycast/codec.h"

#include <cstdlib>

namespace keycast {

void Writer::U16(uint16_t v) {
  uint8_t b[2];
  StoreBe16(b, v);
  Raw(ByteView(b, 2));
}
void Writer::U32(uint32_t v) {
  uint8_t b[4];
  StoreBe32(b, v);
  Raw(ByteView(b, 4));
}
void Writer::U64(uint64_t v) {
  uint8_t b[8];
  StoreBe64(b, v);
  Raw(ByteView(b, 8));
}
void Writer::Opaque8(ByteView b) {
  if (b.size() > 0xff) std::abort();
  U8(uint8_t(b.size()));
  Raw(b);
}
void Writer::Opaque16(ByteView b) {
  if (b.size() > 0xffff) std::abort();
  U16(uint16_t(b.size()));
  Raw(b);
}
void Writer::Opaque32(ByteView b) {
  if (b.size() > 0xffffffffu) std::abort();
  U32(uint32_t(b.size()));
  Raw(b);
}

bool Reader::Fail(const std::string& reason) {
  if (error_.empty()) error_ = reason + " at offset " + std::to_string(pos_);
  return false;
}

bool Reader::Need(size_t n, const char* field) {
  if (!error_.empty()) return false;
  if (in_.size() - pos_ < n) return Fail(std::string("truncated: ") + field);
  return true;
}

bool Reader::U8(uint8_t* v, const char* field) {
  if (!Need(1, field)) return false;
  *v = in_[pos_++];
  return true;
}
bool Reader::U16(uint16_t* v, const char* field) {
  if (!Need(2, field)) return false;
  *v = LoadBe16(in_.data() + pos_);
  pos_ += 2;
  return true;
}
bool Reader::U32(uint32_t* v, const char* field) {
  if (!Need(4, field)) return false;
  *v = LoadBe32(in_.data() + pos_);
  pos_ += 4;
  return true;
}
bool Reader::U64(uint64_t* v, const char* field) {
  if (!Need(8, field)) return false;
  *v = LoadBe64(in_.data() + pos_);
  pos_ += 8;
  return true;
}
bool Reader::I64(int64_t* v, const char* field) {
  uint64_t u;
  if (!U64(&u, field)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}
bool Reader::Raw(size_t n, ByteView* v, const char* field) {
  if (!Need(n, field)) return false;
  *v = in_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool Reader::Opaque8(ByteView* v, const char* field, size_t max) {
  uint8_t n;
  if (!U8(&n, field)) return false;
  if (n > max) return Fail(std::string(field) + " longer than " + std::to_string(max));
  return Raw(n, v, field);
}
bool Reader::Opaque16(ByteView* v, const char* field, size_t max) {
  uint16_t n;
  if (!U16(&n, field)) return false;
  if (n > max) return Fail(std::string(field) + " longer than " + std::to_string(max));
  return Raw(n, v, field);
}
bool Reader::Opaque32(ByteView* v, const char* field, size_t max) {
  uint32_t n;
  if (!U32(&n, field)) return false;
  if (n > max) return Fail(std::string(field) + " longer than " + std::to_string(max));
  return Raw(n, v, field);
}
bool Reader::String8(std::string* v, const char* field, size_t max) {
  ByteView b;
  if (!Opaque8(&b, field, max)) return false;
  v->assign(AsString(b));
  return true;
}
bool Reader::String16(std::string* v, const char* field, size_t max) {
  ByteView b;
  if (!Opaque16(&b, field, max)) return false;
  v->assign(AsString(b));
  return true;
}
bool Reader::Finish() {
  if (!error_.empty()) return false;
  if (pos_ != in_.size()) return Fail(std::to_string(in_.size() - pos_) + " trailing bytes");
  return true;
}

}  // namespace keycast
