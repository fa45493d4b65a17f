// libFuzzer target for the member side of the LKH rekey message.
//
// Input: mode(1) || init_len(2, big-endian) || init(init_len) || message.
//   init     fed to MemberKeysInit::Decode; when it fails a built-in member
//            (event 1, degree 4, height 2, leaf 0, seq 1) is used instead.
//   message  fed to MemberKeys::Process. When mode is odd, the message is
//            first re-signed with the fuzzer's own key service key, so the
//            fuzzer also reaches everything after the signature check:
//            field validation, event and sequence checks, and unwrapping.
// The whole input is also fed to MemberKeysInit::Decode on its own.
// Seeds (src/lkh/corpus/rekey_fuzz) are real messages with matching inits.
#include <cstddef>
#include <cstdint>

#include "keycast/bytes.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/lkh.h"

namespace {

using namespace keycast;

const crypto::SigningKey& FuzzSigner() {
  // Fixed seed: the corpus was signed with it.
  static const crypto::SigningKey* k = [] {
    SecretBytes seed(32);
    for (auto& b : seed.reveal_mutable()) b = 0x42;
    return new crypto::SigningKey(crypto::SigningKey::FromSeed(seed).value());
  }();
  return *k;
}

lkh::MemberKeysInit BuiltinInit() {
  lkh::MemberKeysInit init;
  init.event = EventId(1);
  init.degree = 4;
  init.height = 2;
  init.leaf = 0;
  init.seq = 1;
  for (int i = 0; i <= 2; ++i) {
    SecretBytes k(lkh::kNodeKeySize);
    for (auto& b : k.reveal_mutable()) b = static_cast<uint8_t>(i + 1);
    init.path_keys.push_back(k);
  }
  return init;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::VerifyKey vk =
      crypto::VerifyKey::FromBytes(FuzzSigner().public_key()).value();
  ByteView in(data, size);
  (void)lkh::MemberKeysInit::Decode(in);
  if (size < 3) return 0;
  uint8_t mode = data[0];
  size_t init_len = LoadBe16(data + 1);
  if (init_len > size - 3) return 0;
  ByteView init_bytes = in.subspan(3, init_len);
  ByteView message = in.subspan(3 + init_len);

  auto init = lkh::MemberKeysInit::Decode(init_bytes);
  auto member = lkh::MemberKeys::FromInit(init.ok() ? *init : BuiltinInit());
  if (!member.ok()) __builtin_trap();  // Decode accepted what FromInit rejects

  Bytes msg(message.begin(), message.end());
  if ((mode & 1) && msg.size() >= lkh::kRekeySignatureSize) {
    msg.resize(msg.size() - lkh::kRekeySignatureSize);
    Bytes signed_input = ToBytes(lkh::labels::kLkhRekeySignature);
    signed_input.insert(signed_input.end(), msg.begin(), msg.end());
    Bytes sig = FuzzSigner().Sign(signed_input);
    msg.insert(msg.end(), sig.begin(), sig.end());
  }
  uint64_t seq = member->last_seq();
  auto got = member->Process(msg, vk);
  if (got.ok()) {
    if (got->size() != lkh::kIntervalKeySize || member->last_seq() != seq + 1) __builtin_trap();
    // A second delivery of the same message is always a replay.
    (void)member->Process(msg, vk);
    if (member->last_reject() != lkh::RekeyReject::kReplay) __builtin_trap();
  } else if (member->last_reject() == lkh::RekeyReject::kNone || member->last_seq() != seq) {
    __builtin_trap();  // every rejection has a reason and changes nothing
  }
  return 0;
}
