// libFuzzer target for source authentication's parsers and receive path
// (docs/packet-format.md, "Source authentication"): arbitrary manifest
// payloads into ParseManifest, and arbitrary manifests and packets into a
// receiver of a signed SA. Nobody without the sender's Ed25519 key can make
// a manifest verify, so whatever the input, nothing may open.
//
// Input: byte 0 = mode, the rest = body.
//   mode 0: body = seq(8) || manifest payload, into ParseManifest;
//   mode 1: body = sender_id(4) || seq(8) || plaintext, sealed under the
//           SA's key with a valid header (a member holding the key) and
//           opened by a receiver that vouches for senders 1 and 2;
//   mode 2: a genuine signed batch of 4 packets from sender 1; body bytes,
//           two at a time, choose a packet (index, bit flip) to deliver.
// Seeds: src/dataplane/corpus/manifest_fuzz.
//
//   scripts/fuzz --seconds 60 manifest_fuzz
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/fuzz_fixture.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::dataplane::fuzz {
namespace {

SecretBytes Seed(uint32_t sender) {
  SecretBytes seed(32);
  for (size_t i = 0; i < 32; ++i) seed.reveal_mutable()[i] = uint8_t(sender * 31 + i);
  return seed;
}

SecurityAssociation SignedSa(Role role) {
  SecurityAssociation sa = EventSa(kEncryptedEvent, role);
  sa.source_auth = true;
  if (role == Role::kSender) sa.signing_key = Seed(1);
  for (uint32_t id : {1u, 2u}) {
    static const Bytes keys[2] = {crypto::SigningKey::FromSeed(Seed(1)).value().public_key(),
                                  crypto::SigningKey::FromSeed(Seed(2)).value().public_key()};
    sa.signers.push_back(Signer{SenderId{id}, keys[id - 1]});
  }
  return sa;
}

std::unique_ptr<DataPlane> NewSigned(Role role) {
  DataPlaneOptions o;
  o.export_metrics = false;
  o.sign_batch_packets = 4;
  auto dp = std::move(DataPlane::Create(o)).value();
  SecurityAssociation sa = SignedSa(role);
  Policy p =
      Policy::ProtectEvent(sa, role == Role::kSender ? Direction::kOutbound : Direction::kInbound);
  if (!dp->AddPolicy(p).ok() || !dp->InstallSa(std::move(sa)).ok()) std::abort();
  return dp;
}

class Collect : public PacketSink {
 public:
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t i = 0; i < count; ++i) sent.emplace_back(packets[i].begin(), packets[i].end());
  }
  std::vector<Bytes> sent;
};

void ParseOnly(const uint8_t* body, size_t size) {
  if (size < 8) return;
  ManifestView m;
  const char* why = nullptr;
  const uint64_t seq = LoadBe64(body);
  ByteView payload(body + 8, size - 8);
  if (!ParseManifest(payload, seq, &m, &why)) {
    KC_FUZZ_CHECK(why != nullptr);
    return;
  }
  KC_FUZZ_CHECK(m.count >= 1 && m.count <= kMaxManifestCount && m.count < seq);
  KC_FUZZ_CHECK(m.hashes == payload.data() + 1);
  KC_FUZZ_CHECK(m.signature + kManifestSignatureSize == payload.data() + payload.size());
  uint8_t header[kHeaderSize] = {};
  uint8_t signed_bytes[kMaxManifestSignedSize];
  KC_FUZZ_CHECK(ManifestSignedBytes(header, m.count, m.hashes, signed_bytes) <=
                kMaxManifestSignedSize);
}

// A member holding the AEAD key seals anything under any sender id.
void Forge(const uint8_t* body, size_t size) {
  if (size < 12 || size > 2048) return;
  static auto rx = NewSigned(Role::kReceiver);
  const uint32_t sender = LoadBe32(body);
  const uint64_t seq = LoadBe64(body + 4);
  if (sender == 0 || seq == 0 || seq > kMaxSequence) return;
  const size_t plaintext = size - 12;
  if (plaintext < 4 || plaintext % 4 != 0) return;  // whole 4-byte blocks, as the grammar says
  Bytes packet(kHeaderSize + plaintext + kTagSize);
  WriteHeader(PacketHeader{kSpi, SenderId{sender}, seq}, packet.data());
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, Key()).value();
  std::memcpy(packet.data() + kHeaderSize, body + 12, plaintext);
  if (!aead.Seal(ByteView(packet.data() + kNonceOffset, kNonceSize),
                 ByteView(packet.data(), kHeaderSize),
                 ByteView(packet.data() + kHeaderSize, plaintext), packet.data() + kHeaderSize))
    return;
  OpenResult r = rx->Open(FlowFor(0), packet, kNow);
  KC_FUZZ_CHECK(r.verdict != Verdict::kOpened);
  KC_FUZZ_CHECK(rx->counters().count(Outcome::kManifestVerified) == 0);
}

// Genuine packets open once each, in any order after their manifest;
// any altered byte keeps a packet out.
void Tamper(const uint8_t* body, size_t size) {
  auto tx = NewSigned(Role::kSender);
  auto rx = NewSigned(Role::kReceiver);
  Bytes out(DataPlane::kMaxPacketSize);
  for (uint8_t i = 0; i < 4; ++i) {
    Bytes payload(40, i);
    if (tx->Protect(FlowFor(0), payload, out, kNow).verdict != Verdict::kQueued) std::abort();
  }
  Collect sink;
  tx->Flush(kEncryptedEvent, kNow, sink, /*all=*/true);
  KC_FUZZ_CHECK(sink.sent.size() == 6);  // 2 manifest copies, 4 packets
  bool opened[6] = {};
  for (size_t at = 0; at + 1 < size && at < 64; at += 2) {
    const size_t which = body[at] % 6;
    const uint8_t flip = body[at + 1];
    Bytes p = sink.sent[which];
    const bool altered = flip != 0;
    if (altered) p[flip % p.size()] ^= uint8_t(1u << (flip % 8));
    OpenResult r = rx->Open(FlowFor(0), p, kNow);
    if (r.verdict == Verdict::kOpened) {
      KC_FUZZ_CHECK(!altered && which >= 2 && !opened[which]);
      opened[which] = true;
      KC_FUZZ_CHECK(r.payload.size() == 40 && r.payload[0] == uint8_t(which - 2));
    }
  }
}

}  // namespace
}  // namespace keycast::dataplane::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast::dataplane::fuzz;
  if (size == 0) return 0;
  switch (data[0] % 3) {
    case 0:
      ParseOnly(data + 1, size - 1);
      break;
    case 1:
      Forge(data + 1, size - 1);
      break;
    default:
      Tamper(data + 1, size - 1);
      break;
  }
  return 0;
}
