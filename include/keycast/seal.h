// Sealing secrets at rest under the key-encryption key (KEK).
//
// Every secret Keycast stores (event secrets, ticket-service signing keys, the
// key service's ticket key) is sealed with AES-256-GCM under the KEK before it
// reaches the store. The associated data binds the purpose and the record it
// belongs to, so a sealed value copied into another row fails to open.
//
// Sealed format: u8 version(1) || u32 kek_id || nonce[12] || ciphertext || tag[16].
//
// The KEK itself lives outside the database: a 32-byte file (mode 0600,
// `keycast kek generate`) or the KEYCAST_KEK environment variable (hex).
#pragma once

#include <string>
#include <string_view>

#include "keycast/bytes.h"
#include "keycast/status.h"

namespace keycast {

// Thread safety: Seal and Open are safe to call concurrently.
class Sealer {
 public:
  static Result<Sealer> FromKey(const SecretBytes& kek);
  // Reads a KEK file: exactly 32 raw bytes or 64 hex characters (+ newline).
  // Refuses files readable by group or others.
  static Result<Sealer> FromFile(const std::string& path);
  // Writes a new random KEK file with mode 0600; fails if it exists.
  static Status GenerateFile(const std::string& path);

  // kek_id: first 4 bytes of SHA-256(label || KEK); identifies the KEK
  // without revealing it, so a wrong KEK gives a clear error.
  uint32_t kek_id() const { return kek_id_; }

  Bytes Seal(std::string_view purpose, std::string_view record, const SecretBytes& secret) const;
  Result<SecretBytes> Open(std::string_view purpose, std::string_view record,
                           ByteView sealed) const;

 private:
  SecretBytes kek_;
  uint32_t kek_id_ = 0;
};

}  // namespace keycast
