// Key wrapping of the LKH rekey message (internal).
//
// A key K is wrapped under a node key W as AES-256-KW(KEK, K) (RFC 3394 with
// its default integrity IV), where KEK = HMAC-SHA256(W, label || context):
//   node keys:    label = labels::kLkhWrap,
//                 context = event_id(8) || seq(8) || target(4) || wrapper(4)
//   interval key: label = labels::kLkhIntervalWrap,
//                 context = event_id(8) || seq(8) || epoch(8)
// The derivation separates LKH wrapping from every other use of a key and
// binds each wrap to its slot in one message; unwrapping under any other key
// or context fails the 64-bit integrity check. docs/lkh.md says why AES-KW.
//
// Thread safety: a KeyWrapper is not safe for concurrent use.
#pragma once

#include <cstdint>

#include "keycast/bytes.h"
#include "keycast/types.h"

struct evp_cipher_st;
struct evp_cipher_ctx_st;
struct evp_mac_st;
struct evp_mac_ctx_st;

namespace keycast::lkh::internal {

struct NodeSlot {
  EventId event;
  uint64_t seq = 0;
  uint32_t target = 0;   // heap id of the node whose key is wrapped
  uint32_t wrapper = 0;  // heap id of the child whose key wraps it
};

class KeyWrapper {
 public:
  KeyWrapper();  // aborts if OpenSSL lacks AES-256-WRAP or HMAC
  ~KeyWrapper();
  KeyWrapper(const KeyWrapper&) = delete;
  KeyWrapper& operator=(const KeyWrapper&) = delete;

  // REQUIRES: wrapping_key and key are kNodeKeySize bytes; out has
  // kWrappedKeySize bytes.
  void WrapNodeKey(ByteView wrapping_key, const NodeSlot& slot, ByteView key, uint8_t* out);
  // False, with out wiped, unless `wrapped` was made by WrapNodeKey with the
  // same wrapping key and slot. out has kNodeKeySize bytes.
  bool UnwrapNodeKey(ByteView wrapping_key, const NodeSlot& slot, ByteView wrapped, uint8_t* out);

  void WrapIntervalKey(ByteView root_key, EventId event, uint64_t seq, Epoch epoch, ByteView key,
                       uint8_t* out);
  bool UnwrapIntervalKey(ByteView root_key, EventId event, uint64_t seq, Epoch epoch,
                         ByteView wrapped, uint8_t* out);

 private:
  void DeriveKek(ByteView key, ByteView info, uint8_t* kek);
  void Wrap(const uint8_t* kek, ByteView key, uint8_t* out);
  bool Unwrap(const uint8_t* kek, ByteView wrapped, uint8_t* out);

  evp_cipher_st* cipher_ = nullptr;
  evp_cipher_ctx_st* ctx_ = nullptr;
  evp_mac_st* mac_ = nullptr;
  evp_mac_ctx_st* mac_ctx_ = nullptr;
};

}  // namespace keycast::lkh::internal
