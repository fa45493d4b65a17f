// Parsing and signing of the LKH rekey message (internal). The grammar is in
// docs/lkh.md and its constants in keycast/lkh/format.h.
//
// Parsing runs in two stages so the signature is checked before any field is
// believed: ParseRekeyFraming finds the fields and the signature from the
// lengths alone; after VerifyRekeySignature, ValidateRekeyFields checks the
// values (shape, node ids, entry order).
#pragma once

#include <cstdint>
#include <string>

#include "keycast/bytes.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/lkh.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::lkh::internal {

struct RekeyEntry {
  uint32_t target = 0;
  uint32_t wrapper = 0;
  ByteView wrapped;  // kWrappedKeySize bytes
};

// A view into the bytes it was parsed from; valid while they are.
struct RekeyMessage {
  uint8_t version = 0;
  uint8_t degree = 0;
  uint8_t height = 0;
  EventId event;
  Epoch epoch;
  uint64_t seq = 0;
  uint32_t entry_count = 0;
  ByteView entries;               // entry_count * kRekeyEntrySize bytes
  ByteView wrapped_interval_key;  // kWrappedKeySize bytes
  ByteView signed_part;           // every byte before the signature
  ByteView signature;             // kRekeySignatureSize bytes

  // REQUIRES: i < entry_count.
  RekeyEntry entry(size_t i) const {
    const uint8_t* p = entries.data() + i * kRekeyEntrySize;
    return {LoadBe32(p), LoadBe32(p + 4), ByteView(p + 8, kWrappedKeySize)};
  }
};

// Stage 1. On failure *reject is kTruncated or kMalformed.
Result<RekeyMessage> ParseRekeyFraming(ByteView in, RekeyReject* reject);
// Ed25519 over labels::kLkhRekeySignature || signed_part.
bool VerifyRekeySignature(const RekeyMessage& m, const crypto::VerifyKey& key);
// Stage 2. Every failure is kMalformed.
Status ValidateRekeyFields(const RekeyMessage& m);

// Writes the header of a rekey message; entry_count is patched by
// FinishRekeyMessage.
void WriteRekeyHeader(Writer& w, uint8_t degree, uint8_t height, EventId event, Epoch epoch,
                      uint64_t seq);
// Sets entry_count, appends the wrapped interval key and signs.
// REQUIRES: msg holds a header, entry_count entries, nothing else.
void FinishRekeyMessage(Bytes* msg, uint32_t entry_count, ByteView wrapped_interval_key,
                        const crypto::SigningKey& signer);

}  // namespace keycast::lkh::internal
