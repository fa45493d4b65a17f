// Versioned service keys, sealed at rest under the KEK:
//  - ticket-signing (Ed25519): the ticket service signs tickets;
//  - ticket-sealing (AES-256-GCM): the ticket service seals credentials for
//    the key service, which opens them;
//  - rekey-signing (Ed25519): the key service signs multicast rekey pushes.
//
// Rotate() makes a new version active without a flag day: the previous
// versions stay usable (to verify, to open) until `retention` seconds after
// they were retired — set it to at least the longest ticket lifetime, so no
// unexpired ticket is invalidated.
//
// Thread safety: all methods are safe to call concurrently. Accessors return
// shared snapshots that stay valid across a concurrent Rotate or Reload.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/directory.h"
#include "keycast/model.h"
#include "keycast/seal.h"
#include "keycast/store.h"

namespace keycast {

class ServiceKeys {
 public:
  struct KeyInfo {
    std::string kind;
    KeyVersion version;
    Bytes public_key;  // empty for symmetric keys
    int64_t created_at = 0;
    int64_t retired_at = 0;    // 0 = active
    int64_t usable_until = 0;  // 0 = while active
  };
  struct Signer {
    KeyVersion version;
    std::shared_ptr<const crypto::SigningKey> key;
  };
  struct SymmetricKey {
    KeyVersion version;
    std::shared_ptr<const SecretBytes> key;
  };

  // Loads every key; with create_missing, generates version 1 of any kind
  // that has none (first start). First checks the KEK against the store's
  // KEK check value (a known value sealed under the KEK of the node that
  // opened the store first; written with create_missing when missing): a
  // node given another KEK fails with FailedPrecondition saying so, before
  // it seals anything.
  static Result<std::unique_ptr<ServiceKeys>> Open(Store* store, const Sealer* sealer,
                                                   const Clock* clock, int64_t retention_seconds,
                                                   bool create_missing);

  Result<KeyVersion> Rotate(const std::string& kind, const Actor& actor);
  // Re-reads the store (another process may have rotated).
  Status Reload();

  Signer ActiveSigner(std::string_view kind) const;
  SymmetricKey ActiveSealingKey() const;
  // nullptr when unknown or past its retention.
  std::shared_ptr<const crypto::VerifyKey> Verifier(std::string_view kind, KeyVersion v) const;
  std::shared_ptr<const SecretBytes> SealingKey(KeyVersion v) const;
  std::vector<KeyInfo> List(std::string_view kind) const;

 private:
  struct State;
  ServiceKeys(Store* store, const Sealer* sealer, const Clock* clock, int64_t retention);
  Result<std::shared_ptr<const State>> Load() const;
  std::shared_ptr<const State> state() const;

  Store* store_;
  const Sealer* sealer_;
  const Clock* clock_;
  int64_t retention_;
  std::mutex rotate_mu_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;
};

}  // namespace keycast
