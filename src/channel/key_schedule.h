// Key schedule of the channel (docs/channel.md, "Key schedule"): X25519,
// the transcript hashes th1..th3, and one HKDF per derived key. Shared by
// the server, the client and the tests, so the three cannot drift apart.
#pragma once

#include "channel/wire.h"
#include "keycast/bytes.h"
#include "keycast/crypto.h"
#include "keycast/status.h"

namespace keycast::channel {

struct X25519KeyPair {
  SecretBytes private_key;  // 32 bytes
  PublicKey public_key{};
};
X25519KeyPair GenerateX25519();
// The 32-byte shared secret. Fails (InvalidArgument) on a low-order peer
// share, which would give an all-zero secret known to anyone.
Result<SecretBytes> X25519(const SecretBytes& private_key, const PublicKey& peer_public);

// th1 = SHA-256(kLabelTranscript || Hello || SessionKeyMessage prefix)
crypto::Digest Th1(ByteView hello, ByteView session_key_prefix);
// th2 = SHA-256(kLabelTranscript || th1 || sealed_session_key || signature)
crypto::Digest Th2(const crypto::Digest& th1, ByteView sealed_session_key, ByteView signature);
// th3 = SHA-256(kLabelTranscript || th2 || Confirm)
crypto::Digest Th3(const crypto::Digest& th2, ByteView confirm);

// What the server signs: kLabelServerSignature || th1 || sealed_session_key.
Bytes SignatureInput(const crypto::Digest& th1, ByteView sealed_session_key);

// exchange_secret = HKDF(ikm = X25519 secret, salt = th1, kLabelExchangeSecret)
SecretBytes DeriveExchangeSecret(const SecretBytes& dh, const crypto::Digest& th1);
// Seals the session key: HKDF(exchange_secret, -, kLabelSessionKeyWrap || th1)
SecretBytes DeriveSessionKeyWrapKey(const SecretBytes& exchange_secret, const crypto::Digest& th1);
// Seals the Confirm: HKDF(session_key || exchange_secret, th2, kChannelConfirm)
SecretBytes DeriveConfirmKey(const SecretBytes& session_key, const SecretBytes& exchange_secret,
                             const crypto::Digest& th2);
// Seals the data key: HKDF(session_key || exchange_secret, th3, kChannelDataKey)
SecretBytes DeriveDataKeyWrapKey(const SecretBytes& session_key, const SecretBytes& exchange_secret,
                                 const crypto::Digest& th3);
// Seals the payload: HKDF(data_key, th3, kLabelPayload)
SecretBytes DerivePayloadKey(const SecretBytes& data_key, const crypto::Digest& th3);

// AES-256-GCM, random nonce: nonce || ciphertext || tag.
Bytes Seal(const SecretBytes& key, ByteView aad, ByteView plaintext);
// false on any failure (wrong key, aad, tampering, length).
bool Open(const SecretBytes& key, ByteView aad, ByteView sealed, SecretBytes* plaintext);

}  // namespace keycast::channel
