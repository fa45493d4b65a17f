// Test helpers for the data plane: SAs, flows and a sender/receiver pair.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "keycast/crypto.h"
#include "keycast/dataplane/data_plane.h"
#include "keycast/sa.h"

namespace keycast::dataplane::testing {

inline constexpr Micros kSecond = kMicrosPerSecond;
inline constexpr Micros kT0 = 1'700'000'000 * kSecond;  // start of epoch 0
inline constexpr Micros kInterval = 10 * kSecond;
inline constexpr Micros kGrace = 2 * kSecond;
inline constexpr uint16_t kPort = 5004;
inline constexpr EventId kEvent{7};

inline IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

inline const IpAddress& Group() {
  static const IpAddress g = Ip("239.1.2.3");
  return g;
}

// Interval `index` of kEvent: SPI derived from the index, key given.
inline SecurityAssociation MakeSa(uint32_t index, const SecretBytes& key,
                                  Role role = Role::kReceiver, SenderId sender = SenderId{},
                                  crypto::AeadAlgorithm alg = crypto::AeadAlgorithm::kAes256Gcm) {
  SecurityAssociation sa;
  sa.event = kEvent;
  sa.epoch = Epoch{1, index};
  sa.spi = Spi{0x1000 + index};
  sa.algorithm = alg;
  sa.key = key;
  sa.initiation = kT0 + Micros(index) * kInterval;
  sa.lifetime = kInterval;
  sa.grace = kGrace;
  sa.role = role;
  sa.sender = sender;
  sa.group = Group();
  sa.port = kPort;
  return sa;
}

inline SecurityAssociation MakeSenderSa(
    uint32_t index, const SecretBytes& key, uint32_t sender = 1,
    crypto::AeadAlgorithm alg = crypto::AeadAlgorithm::kAes256Gcm) {
  return MakeSa(index, key, Role::kSender, SenderId{sender}, alg);
}

inline SecurityAssociation MakeClearSa(uint32_t index, Role role = Role::kReceiver,
                                       SenderId sender = SenderId{}) {
  SecurityAssociation sa = MakeSa(index, SecretBytes(), role, sender);
  sa.clear = true;
  sa.spi = Spi{0};
  return sa;
}

inline Flow EventFlow(const IpAddress& group = Group(), uint16_t port = kPort) {
  Flow f;
  f.source = Ip("10.0.0.1");
  f.destination = group;
  f.source_port = 40000;
  f.destination_port = port;
  return f;
}

inline std::unique_ptr<DataPlane> NewDataPlane(DataPlaneOptions o = {}) {
  o.export_metrics = false;
  auto dp = DataPlane::Create(o);
  EXPECT_TRUE(dp.ok()) << dp.status().ToString();
  return std::move(dp).value();
}

// A data plane with inbound and outbound protect policies for kEvent.
inline std::unique_ptr<DataPlane> NewEventDataPlane(DataPlaneOptions o = {}) {
  auto dp = NewDataPlane(o);
  SecurityAssociation selector_only = MakeSa(0, SecretBytes());
  EXPECT_TRUE(dp->AddPolicy(Policy::ProtectEvent(selector_only, Direction::kOutbound)).ok());
  EXPECT_TRUE(dp->AddPolicy(Policy::ProtectEvent(selector_only, Direction::kInbound)).ok());
  return dp;
}

inline Bytes Payload(size_t n, uint8_t seed = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}

// Protects payload on `dp` at `now` and returns the packet bytes (empty on drop).
inline Bytes Seal(DataPlane& dp, ByteView payload, Micros now, const Flow& flow = EventFlow()) {
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = dp.Protect(flow, payload, out, now);
  if (r.verdict != Verdict::kProtected && r.verdict != Verdict::kClear) return {};
  return Bytes(r.packet.begin(), r.packet.end());
}

// Opens a copy of packet; returns the result and, through *payload, the bytes.
inline OpenResult OpenCopy(DataPlane& dp, ByteView packet, Micros now, Bytes* payload = nullptr,
                           const Flow& flow = EventFlow()) {
  Bytes buf(packet.begin(), packet.end());
  OpenResult r = dp.Open(flow, buf, now);
  if (payload) payload->assign(r.payload.begin(), r.payload.end());
  r.payload = {};  // points into buf, which dies here
  return r;
}

// ---- source authentication ----

// A fixed Ed25519 seed per sender id (tests only).
inline SecretBytes SigningSeed(uint32_t sender) {
  SecretBytes seed(32);
  for (size_t i = 0; i < 32; ++i) seed.reveal_mutable()[i] = uint8_t(sender * 31 + i);
  return seed;
}

inline Bytes PublicKeyOf(uint32_t sender) {
  return crypto::SigningKey::FromSeed(SigningSeed(sender)).value().public_key();
}

// Interval `index` with source authentication, vouching for `signers`
// (ascending); a sender's SA holds its signing key.
inline SecurityAssociation MakeSignedSa(uint32_t index, const SecretBytes& key, Role role,
                                        uint32_t sender, std::vector<uint32_t> signers) {
  SecurityAssociation sa =
      MakeSa(index, key, role, role == Role::kSender ? SenderId{sender} : SenderId{});
  sa.source_auth = true;
  if (role == Role::kSender) sa.signing_key = SigningSeed(sender);
  for (uint32_t id : signers) sa.signers.push_back(Signer{SenderId{id}, PublicKeyOf(id)});
  return sa;
}

// Collects what Flush sends, in order.
class CollectSink : public PacketSink {
 public:
  void Send(EventId, const ByteView* packets, size_t count) override {
    for (size_t i = 0; i < count; ++i) sent.emplace_back(packets[i].begin(), packets[i].end());
  }
  std::vector<Bytes> sent;
};

}  // namespace keycast::dataplane::testing
