// A security association (SA): what the key service hands a member for one
// interval of an event, and what the data plane uses to protect or open that
// interval's datagrams. Seed 000 claim 8 (key, initiation time, lifetime);
// seed 001 Fig. 12 (selector / security association pairs).
#pragma once

#include <cstdint>
#include <vector>

#include "keycast/bytes.h"
#include "keycast/clock.h"
#include "keycast/crypto.h"
#include "keycast/types.h"

namespace keycast {

// A sender the key service vouches for on one SA: its id and, when the
// event has source authentication, its Ed25519 public key for the SA's
// interval (docs/key-protocol.md, "Senders").
struct Signer {
  SenderId sender;
  Bytes public_key;  // 32 bytes with source authentication, else empty
  bool operator==(const Signer&) const = default;
};

struct SecurityAssociation {
  EventId event;
  Epoch epoch;
  Spi spi;  // unique per (event, epoch); never 0 unless clear
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kAes256Gcm;
  SecretBytes key;              // 32 bytes; empty when clear
  Micros initiation = 0;        // start of the interval (claim 8: initiation time)
  Micros lifetime = 0;          // interval length (claim 8: lifetime)
  Micros grace = 0;             // accepted this long after initiation + lifetime
  bool clear = false;           // interval the event leaves unencrypted (claim 18)
  Role role = Role::kReceiver;  // senders encrypt, receivers decrypt
  SenderId sender;              // for senders: the nonce prefix to use
  // Selector: the event's multicast destination, port and optional source.
  IpAddress group;
  uint16_t port = 0;
  IpAddress source;  // empty = any source
  // Source authentication (docs/packet-format.md): packets must be covered
  // by a manifest signed by their sender's key. Never set on a clear SA.
  bool source_auth = false;
  SecretBytes signing_key;      // senders with source_auth: the Ed25519 seed for this interval
  std::vector<Signer> signers;  // the senders vouched for, ascending ids (at most
                                // limits::kMaxSignersPerSa)

  Micros expires() const { return initiation + lifetime + grace; }
  bool UsableAt(Micros t) const { return t >= initiation && t < expires(); }
};

}  // namespace keycast
