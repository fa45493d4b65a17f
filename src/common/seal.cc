#include "keycast/seal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/labels.h"

namespace keycast {
namespace {

constexpr uint8_t kSealVersion = 1;
constexpr size_t kHeader = 1 + 4;

Bytes Aad(uint32_t kek_id, std::string_view purpose, std::string_view record) {
  Bytes aad;
  aad.reserve(labels::kSealAtRest.size() + 9 + purpose.size() + record.size());
  Writer w(&aad);
  w.Raw(labels::kSealAtRest);
  w.U8(kSealVersion);
  w.U32(kek_id);
  w.Opaque16(purpose);
  w.Opaque16(record);
  return aad;
}

}  // namespace

Result<Sealer> Sealer::FromKey(const SecretBytes& kek) {
  if (kek.size() != crypto::kAeadKeySize) return InvalidArgument("KEK must be 32 bytes");
  Sealer s;
  s.kek_ = kek;
  Bytes in(labels::kSealAtRest.begin(), labels::kSealAtRest.end());
  in.insert(in.end(), kek.reveal().begin(), kek.reveal().end());
  auto d = crypto::Sha256(in);
  SecureWipe(in.data(), in.size());
  s.kek_id_ = LoadBe32(d.data());
  return s;
}

Result<Sealer> Sealer::FromFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return NotFound("KEK file " + path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return FailedPrecondition("KEK file " + path + " is readable by group or others; chmod 600 it");
  std::ifstream f(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SecretBytes key;
  if (text.size() == 32) {
    key = SecretBytes(AsBytes(text));
  } else {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    Bytes raw;
    if (text.size() != 64 || !FromHex(text, &raw)) {
      SecureWipe(text.data(), text.size());
      return InvalidArgument("KEK file " + path + " must hold 32 raw bytes or 64 hex characters");
    }
    key = SecretBytes(raw);
    SecureWipe(raw.data(), raw.size());
  }
  SecureWipe(text.data(), text.size());
  return FromKey(key);
}

Status Sealer::GenerateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return FailedPrecondition("cannot create KEK file " + path + ": " + std::strerror(errno));
  SecretBytes key = crypto::RandomSecret(crypto::kAeadKeySize);
  std::string hex = ToHex(key.reveal()) + "\n";
  ssize_t n = ::write(fd, hex.data(), hex.size());
  bool ok = n == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  SecureWipe(hex.data(), hex.size());
  ::close(fd);
  if (!ok) return Internal("writing KEK file " + path + " failed");
  return Status::Ok();
}

Bytes Sealer::Seal(std::string_view purpose, std::string_view record,
                   const SecretBytes& secret) const {
  Bytes out;
  Writer w(&out);
  w.U8(kSealVersion);
  w.U32(kek_id_);
  Bytes body = crypto::SealOnce(crypto::AeadAlgorithm::kAes256Gcm, kek_,
                                Aad(kek_id_, purpose, record), secret.reveal());
  w.Raw(body);
  return out;
}

Result<SecretBytes> Sealer::Open(std::string_view purpose, std::string_view record,
                                 ByteView sealed) const {
  if (sealed.size() < kHeader + crypto::kAeadNonceSize + crypto::kAeadTagSize)
    return DataLoss("sealed " + std::string(purpose) + " for " + std::string(record) +
                    " is truncated");
  if (sealed[0] != kSealVersion)
    return DataLoss("sealed " + std::string(purpose) + " has unknown version " +
                    std::to_string(sealed[0]));
  uint32_t id = LoadBe32(sealed.data() + 1);
  if (id != kek_id_)
    return FailedPrecondition("sealed " + std::string(purpose) + " for " + std::string(record) +
                              " was sealed under another KEK (id " + std::to_string(id) +
                              ", this KEK is " + std::to_string(kek_id_) + ")");
  auto r = crypto::OpenOnce(crypto::AeadAlgorithm::kAes256Gcm, kek_, Aad(id, purpose, record),
                            sealed.subspan(kHeader));
  if (!r.ok())
    return DataLoss("sealed " + std::string(purpose) + " for " + std::string(record) +
                    " failed its integrity check");
  return r;
}

}  // namespace keycast
