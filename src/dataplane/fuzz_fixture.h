// The fixed world of the packet fuzzer (packet_fuzz.cc), shared with the test
// that keeps its seed corpus valid (corpus_test.cc): one encrypted event and
// one clear event with fixed keys, and a receiver that protects both.
//
// Input format: byte 0 = control, the rest = body.
//   control bits 0-1, mode:
//     0  body is one inbound packet, opened by a fresh receiver;
//     1  body = sender_id(4) || seq(8) || plaintext: sealed under the event's
//        key with a valid header, then opened (reaches the post-authentication
//        checks: replay, selector, trailer);
//     2  body drives a replay window against a reference model;
//     3  as 1, then the same packet is opened a second time (must not open).
//   control bits 2-3, where the packet arrived:
//     0  the encrypted event's group and port;  1  the clear event's group;
//     2  the encrypted event's group, another port;  3  an unprotected group.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/data_plane.h"
#include "keycast/dataplane/replay_window.h"

namespace keycast::dataplane::fuzz {

inline constexpr Micros kStart = 1'700'000'000LL * kMicrosPerSecond;
inline constexpr Micros kNow = kStart + kMicrosPerSecond;
inline constexpr EventId kEncryptedEvent{1};
inline constexpr EventId kClearEvent{2};
inline constexpr Spi kSpi{0x4b430001};
inline constexpr uint16_t kPort = 5004;

inline const SecretBytes& Key() {
  static const SecretBytes key = [] {
    SecretBytes k(32);
    for (size_t i = 0; i < 32; ++i) k.reveal_mutable()[i] = uint8_t(i);
    return k;
  }();
  return key;
}

inline IpAddress Addr(const char* s) { return IpAddress::Parse(s).value(); }

inline SecurityAssociation EventSa(EventId event, Role role) {
  SecurityAssociation sa;
  sa.event = event;
  sa.epoch = Epoch{1, 0};
  sa.initiation = kStart;
  sa.lifetime = 60 * kMicrosPerSecond;
  sa.grace = 2 * kMicrosPerSecond;
  sa.role = role;
  sa.sender = role == Role::kSender ? SenderId{1} : SenderId{};
  sa.port = kPort;
  if (event == kClearEvent) {
    sa.clear = true;
    sa.group = Addr("239.1.2.4");
  } else {
    sa.spi = kSpi;
    sa.key = Key();
    sa.group = Addr("239.1.2.3");
  }
  return sa;
}

inline Flow FlowFor(unsigned choice) {
  Flow f;
  f.source = Addr("10.0.0.1");
  f.source_port = 40000;
  f.destination_port = kPort;
  switch (choice & 3) {
    case 0:
      f.destination = Addr("239.1.2.3");
      break;
    case 1:
      f.destination = Addr("239.1.2.4");
      break;
    case 2:
      f.destination = Addr("239.1.2.3");
      f.destination_port = kPort + 1;
      break;
    default:
      f.destination = Addr("224.0.0.251");
      break;
  }
  return f;
}

// A receiver protecting both events; the encrypted event's policy covers any
// port, so wrong-port packets reach the selector check.
inline std::unique_ptr<DataPlane> NewReceiver() {
  DataPlaneOptions o;
  o.export_metrics = false;
  o.max_senders_per_sa = 4;
  auto dp = std::move(DataPlane::Create(o)).value();
  for (EventId e : {kEncryptedEvent, kClearEvent}) {
    SecurityAssociation sa = EventSa(e, Role::kReceiver);
    Policy p = Policy::ProtectEvent(sa, Direction::kInbound);
    p.selector.destination_port = PortRange::Any();
    if (!dp->AddPolicy(p).ok() || !dp->InstallSa(std::move(sa)).ok()) std::abort();
  }
  return dp;
}

inline std::unique_ptr<DataPlane> NewSender() {
  DataPlaneOptions o;
  o.export_metrics = false;
  auto dp = std::move(DataPlane::Create(o)).value();
  SecurityAssociation sa = EventSa(kEncryptedEvent, Role::kSender);
  if (!dp->AddPolicy(Policy::ProtectEvent(sa, Direction::kOutbound)).ok() ||
      !dp->InstallSa(std::move(sa)).ok())
    std::abort();
  return dp;
}

#define KC_FUZZ_CHECK(cond)    \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

// Mode 2: a replay window (64 packets, 4 senders) against a plain model.
inline void FuzzReplayModel(ByteView body) {
  constexpr uint64_t kWindow = 64;
  ReplayWindow windows[4] = {ReplayWindow(kWindow), ReplayWindow(kWindow), ReplayWindow(kWindow),
                             ReplayWindow(kWindow)};
  std::set<uint64_t> seen[4];
  uint64_t highest[4] = {};
  for (size_t i = 0; i + 3 <= body.size(); i += 3) {
    unsigned s = body[i] & 3;
    uint64_t delta = LoadBe16(body.data() + i + 1);
    uint64_t seq;
    switch ((body[i] >> 2) & 3) {
      case 0:
        seq = highest[s] + delta;
        break;  // forward
      case 1:
        seq = highest[s] > delta ? highest[s] - delta : 0;
        break;  // back
      case 2:
        seq = delta;
        break;  // absolute
      default:
        seq = kMaxSequence - delta;
        break;  // top of the space
    }
    bool model = seq != 0 && seq <= kMaxSequence && !seen[s].count(seq) &&
                 (seq > highest[s] || highest[s] - seq < kWindow);
    KC_FUZZ_CHECK(windows[s].Check(seq) == model);
    KC_FUZZ_CHECK(windows[s].Accept(seq) == model);
    if (model) {
      seen[s].insert(seq);
      highest[s] = std::max(highest[s], seq);
    }
  }
}

// Modes 1 and 3: seal body's plaintext with a valid header, then open.
// Returns the verdict of the first Open.
inline Verdict FuzzSealedPlaintext(ByteView body, const Flow& flow, bool twice) {
  if (body.size() < 12) return Verdict::kDrop;
  uint32_t sender = LoadBe32(body.data());
  uint64_t seq = LoadBe64(body.data() + 4);
  ByteView plaintext = body.subspan(12);
  size_t n = std::min(plaintext.size() / 4 * 4, kMaxCiphertextSize);
  Bytes packet(kHeaderSize + n + kTagSize);
  WriteHeader(PacketHeader{kSpi, SenderId{sender}, seq}, packet.data());
  std::memcpy(packet.data() + kHeaderSize, plaintext.data(), n);
  auto aead = crypto::Aead::Create(crypto::AeadAlgorithm::kAes256Gcm, Key());
  KC_FUZZ_CHECK(aead.ok());
  KC_FUZZ_CHECK(aead->Seal(ByteView(packet.data() + kNonceOffset, kNonceSize),
                           ByteView(packet.data(), kHeaderSize),
                           ByteView(packet.data() + kHeaderSize, n), packet.data() + kHeaderSize));
  auto rx = NewReceiver();
  Bytes copy = packet;
  OpenResult r = rx->Open(flow, copy, kNow);
  if (r.verdict == Verdict::kOpened) {
    // An opened payload is exactly the front of what was sealed.
    KC_FUZZ_CHECK(r.payload.size() + kTrailerSize <= n);
    KC_FUZZ_CHECK(std::equal(r.payload.begin(), r.payload.end(), plaintext.begin()));
    KC_FUZZ_CHECK(r.sender.value == sender && r.seq == seq);
  }
  if (twice) {
    copy = packet;
    OpenResult again = rx->Open(flow, copy, kNow);
    if (r.verdict == Verdict::kOpened) KC_FUZZ_CHECK(again.verdict != Verdict::kOpened);
  }
  return r.verdict;
}

// Returns the verdict of the (first) Open, kDrop for mode 2.
inline Verdict RunInput(const uint8_t* data, size_t size) {
  if (size == 0) return Verdict::kDrop;
  const unsigned mode = data[0] & 3;
  const Flow flow = FlowFor(data[0] >> 2);
  ByteView body(data + 1, size - 1);
  switch (mode) {
    case 0: {
      auto rx = NewReceiver();
      Bytes packet(body.begin(), body.end());
      OpenResult r = rx->Open(flow, packet, kNow);
      // Nobody without the key gets a forged packet through.
      if (r.verdict == Verdict::kOpened) KC_FUZZ_CHECK(r.payload.size() <= kMaxPayloadSize);
      if (r.verdict == Verdict::kClear) KC_FUZZ_CHECK(flow.destination == Addr("239.1.2.4"));
      if (r.verdict == Verdict::kBypass)
        KC_FUZZ_CHECK(r.payload.size() == body.size() &&
                      std::equal(r.payload.begin(), r.payload.end(), body.begin()));
      return r.verdict;
    }
    case 1:
      return FuzzSealedPlaintext(body, flow, false);
    case 2:
      FuzzReplayModel(body);
      return Verdict::kDrop;
    default:
      return FuzzSealedPlaintext(body, flow, true);
  }
}

}  // namespace keycast::dataplane::fuzz
