// libFuzzer target for the push wire formats and the member side.
//
// Input: mode(1) || rest.
//   mode & 3 == 0  rest is one datagram for a member (built-in path keys).
//   mode & 3 == 1  rest is datagrams, each as len(2, big-endian) || bytes,
//                  fed in order to one member.
//   mode & 3 == 2  rest is a push message; it is re-signed with the fuzzer's
//                  own key when mode & 4, cut into datagrams and fed, so the
//                  fuzzer reaches everything after the signature check.
//   mode & 3 == 3  rest is a PushGrant.
// The whole input also goes to every decoder on its own.
// Seeds (src/push/corpus/push_fuzz) are real messages signed with that key.
#include <cstddef>
#include <cstdint>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/labels.h"
#include "keycast/lkh.h"
#include "keycast/push/format.h"
#include "keycast/push/member.h"

namespace {

using namespace keycast;

const crypto::SigningKey& FuzzSigner() {
  static const crypto::SigningKey* k = [] {
    SecretBytes seed(32);
    for (auto& b : seed.reveal_mutable()) b = 0x42;
    return new crypto::SigningKey(crypto::SigningKey::FromSeed(seed).value());
  }();
  return *k;
}

// Event 1, tree id 1, degree 4, height 2, leaf 0, seq 1, keys 1.., as the
// corpus was made.
push::PushGrant BuiltinGrant() {
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
  push::PushGrant g;
  g.state = push::GrantState::kAdmitted;
  g.control_group = *IpAddress::Parse("239.0.0.1");
  g.control_port = 1;
  g.lead_ms = 1;
  g.tree_id = 1;
  g.member_init = init.Encode();
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::VerifyKey vk =
      crypto::VerifyKey::FromBytes(FuzzSigner().public_key()).value();
  ByteView in(data, size);
  (void)push::PushGrant::Decode(in);
  (void)push::ParseFragment(in);
  if (auto m = push::ParseMessage(in); m.ok()) (void)push::ValidateMessage(*m);
  if (size < 1) return 0;
  uint8_t mode = data[0];
  ByteView rest = in.subspan(1);

  push::PushMember member(EventId(1), [](KeyVersion) { return &vk; });
  if (!member.Install(BuiltinGrant()).ok()) __builtin_trap();
  uint64_t seq = member.last_seq();
  auto check = [&](const std::optional<push::PushedKey>& k) {
    if (k) {
      if (member.last_seq() != seq + 1 || k->seq != member.last_seq()) __builtin_trap();
      if (!k->sa.clear && k->sa.key.size() != lkh::kIntervalKeySize) __builtin_trap();
      seq = member.last_seq();
    } else if (member.last_seq() != seq) {
      __builtin_trap();  // only a delivered key moves the state
    }
  };
  switch (mode & 3) {
    case 0:
      check(member.OnDatagram(rest));
      break;
    case 1: {
      Reader r(rest);
      ByteView d;
      while (r.remaining() >= 2 && r.Opaque16(&d, "datagram")) check(member.OnDatagram(d));
      break;
    }
    case 2: {
      Bytes msg(rest.begin(), rest.end());
      if ((mode & 4) && msg.size() >= push::kMessageSignatureSize) {
        msg.resize(msg.size() - push::kMessageSignatureSize);
        Bytes signed_input = ToBytes(labels::kRekeyPush);
        signed_input.insert(signed_input.end(), msg.begin(), msg.end());
        Bytes sig = FuzzSigner().Sign(signed_input);
        msg.insert(msg.end(), sig.begin(), sig.end());
      }
      if (msg.size() < push::kMinMessageBytes || msg.size() > (1u << 20)) break;
      for (const Bytes& d : push::Fragmentize(msg, EventId(1), 1, 2)) check(member.OnDatagram(d));
      break;
    }
    case 3: {
      auto g = push::PushGrant::Decode(rest);
      if (g.ok()) {
        push::PushMember other(EventId(1), [](KeyVersion) { return &vk; });
        (void)other.Install(*g);
        if (g->state == push::GrantState::kPending && other.has_keys()) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
