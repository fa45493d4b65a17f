// keycast_forge: the attacker of the `forge` e2e scenario (tests/e2e/README.md).
// A member authorised to receive an event logs in with its API key, fetches
// the receivers' key of the current interval (so every packet it makes
// authenticates under the event's AEAD key), and multicasts, under the id of
// a sender its SA vouches for:
//   - data packets with sequence numbers far ahead (up to 2^64 - 2),
//   - data packets with sequence numbers the genuine sender may use,
//   - manifests with a made-up signature naming its own packets,
// and data packets under invented sender ids. It refetches the key at each
// interval, stops after --duration seconds, and prints what it sent as JSON.
// Test tool only: built with the tests, never installed.
//
//   keycast_forge --addr http://10.77.0.1:7300 --api-key kca_... --event live
//                 --local 10.77.0.20 --port 5004 --duration 8 --rate 200
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "dataplane/source_auth.h"  // PacketHash
#include "keycast/agent/net.h"
#include "keycast/client.h"
#include "keycast/clock.h"
#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/dataplane/packet_format.h"

namespace keycast {
namespace {

using namespace dataplane;

struct Args {
  std::string addr, api_key, event, local;
  uint16_t port = 0;
  double duration = 5, rate = 200;
};

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "keycast_forge: %s\n", why.c_str());
  std::exit(1);
}

// header || AEAD(payload || padding || trailer) || tag, under sa's key.
Bytes Seal(const SecurityAssociation& sa, crypto::Aead& aead, SenderId sender, uint64_t seq,
           ByteView payload, NextHeader nh) {
  const size_t pad = PaddingFor(payload.size(), kMinPadBlock);
  const size_t plaintext = payload.size() + pad + kTrailerSize;
  Bytes p(kHeaderSize + plaintext + kTagSize);
  WriteHeader(PacketHeader{sa.spi, sender, seq}, p.data());
  std::memcpy(p.data() + kHeaderSize, payload.data(), payload.size());
  WritePaddingAndTrailer(pad, nh, p.data() + kHeaderSize + payload.size());
  if (!aead.Seal(ByteView(p.data() + kNonceOffset, kNonceSize), ByteView(p.data(), kHeaderSize),
                 ByteView(p.data() + kHeaderSize, plaintext), p.data() + kHeaderSize))
    Fail("seal failed");
  return p;
}

int Main(const Args& a) {
  TicketClient tickets(a.addr);
  auto session = tickets.Login(ClientCredentials{a.api_key, "", ""});
  if (!session.ok()) Fail("login: " + session.status().message());
  const TicketEvent* ev = nullptr;
  for (const auto& e : session->ticket.events)
    if (e.name == a.event) ev = &e;
  if (ev == nullptr) Fail("event " + a.event + " is not in the ticket");
  KeyClient keys(*session, KeyClient::Options{});

  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  in_addr local{};
  if (fd < 0 || ::inet_pton(AF_INET, a.local.c_str(), &local) != 1) Fail("socket / --local");
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &local, sizeof local);
  int ttl = 4;
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  auto to = agent::ToSocketAddress(ev->group_address, a.port);
  if (!to.ok()) Fail("group address: " + to.status().message());

  uint64_t far = 0, near = 0, manifests = 0, invented = 0, key_fetches = 0;
  uint32_t victim = 0;
  bool source_auth = false;
  SecurityAssociation sa;
  std::optional<crypto::Aead> aead;
  const auto t0 = std::chrono::steady_clock::now();
  const auto period = std::chrono::duration<double>(1.0 / a.rate);
  auto send = [&](const Bytes& p) { ::sendto(fd, p.data(), p.size(), 0, to->get(), to->length); };
  for (uint64_t i = 0;; ++i) {
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    if (elapsed > std::chrono::duration<double>(a.duration)) break;
    const Micros now = SystemClock::Get().Now();
    if (!aead || now >= sa.initiation + sa.lifetime) {
      auto rep = keys.Request(*ev, keyproto::RequestKind::kInitial, Epoch{}, SenderId{});
      if (rep.ok() && rep->status == keyproto::ReplyStatus::kOk && !rep->sas.empty() &&
          !rep->sas[0].clear && !rep->sas[0].signers.empty()) {
        sa = rep->sas[0];
        victim = sa.signers[0].sender.value;
        source_auth = sa.source_auth;
        aead.emplace(crypto::Aead::Create(sa.algorithm, sa.key).value());
        ++key_fetches;
      } else if (!aead) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
    }
    const SenderId sender{victim};
    Bytes payload = crypto::RandomBytes(64);
    switch (i % 4) {
      case 0: {  // far ahead: would push the genuine sender's window away
        uint64_t seq = kMaxSequence - (i / 4) % 1000;
        send(Seal(sa, *aead, sender, seq, payload, NextHeader::kUdpPayload));
        ++far;
        break;
      }
      case 1: {  // where the genuine sender is, or soon will be
        uint64_t seq = 1 + (i * 7) % 20000;
        send(Seal(sa, *aead, sender, seq, payload, NextHeader::kUdpPayload));
        ++near;
        break;
      }
      case 2: {  // a manifest naming 4 forged packets, with a made-up signature
        const uint64_t first = 1 + (i * 13) % 20000;
        Bytes packets[4];
        Bytes m(ManifestPayloadSize(4));
        m[0] = 4;
        for (size_t k = 0; k < 4; ++k) {
          packets[k] =
              Seal(sa, *aead, sender, first + k, crypto::RandomBytes(64), NextHeader::kUdpPayload);
          PacketHash(packets[k], m.data() + 1 + k * kPacketHashSize);
        }
        Bytes sig = crypto::RandomBytes(kManifestSignatureSize);
        std::memcpy(m.data() + 1 + 4 * kPacketHashSize, sig.data(), sig.size());
        send(Seal(sa, *aead, sender, first + 4, m, NextHeader::kManifest));
        for (const Bytes& p : packets) send(p);
        ++manifests;
        break;
      }
      default: {  // invented sender ids, to fill the sender table
        send(Seal(sa, *aead, SenderId{0x40000000u + uint32_t(i)}, 1 + i, payload,
                  NextHeader::kUdpPayload));
        ++invented;
        break;
      }
    }
    std::this_thread::sleep_until(t0 + period * double(i + 1));
  }
  std::printf(
      "{\"far_ahead\": %llu, \"near\": %llu, \"manifests\": %llu, \"invented\": %llu, "
      "\"key_fetches\": %llu, \"victim\": %u, \"source_auth\": %s}\n",
      (unsigned long long)far, (unsigned long long)near, (unsigned long long)manifests,
      (unsigned long long)invented, (unsigned long long)key_fetches, victim,
      source_auth ? "true" : "false");
  ::close(fd);
  return key_fetches > 0 ? 0 : 1;
}

}  // namespace
}  // namespace keycast

int main(int argc, char** argv) {
  keycast::Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--addr")
      a.addr = v;
    else if (k == "--api-key")
      a.api_key = v;
    else if (k == "--event")
      a.event = v;
    else if (k == "--local")
      a.local = v;
    else if (k == "--port")
      a.port = uint16_t(std::atoi(v.c_str()));
    else if (k == "--duration")
      a.duration = std::atof(v.c_str());
    else if (k == "--rate")
      a.rate = std::atof(v.c_str());
    else
      keycast::Fail("unknown option " + k);
  }
  if (a.addr.empty() || a.api_key.empty() || a.event.empty() || a.local.empty() || a.port == 0)
    keycast::Fail("needs --addr, --api-key, --event, --local and --port");
  return keycast::Main(a);
}
