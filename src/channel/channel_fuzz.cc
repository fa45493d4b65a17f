// libFuzzer target for the channel: arbitrary bytes into every parser, into
// ChannelServer::HandleHello / HandleConfirm, and into the client's
// OnSessionKey / OnDataKey. The first input byte picks the target; the rest is
// the message. Parsers must be canonical (Encode(Parse(b)) == b), nothing may
// crash, and no forged Confirm may ever reach the authorizer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "channel/wire.h"
#include "keycast/channel.h"

namespace keycast {
namespace {

constexpr Micros kL = 30 * kMicrosPerSecond;
constexpr Micros kT0 = 56'666'666 * kL;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "channel_fuzz: %s\n", what);
  std::abort();
}

// Long-lived objects are set up once; inputs that create server state use a
// server of their own, so nothing accumulates across inputs (and LeakSanitizer
// stays quiet).
struct State {
  FakeClock confirm_clock{kT0};  // fixed, so the pending exchange stays
  std::unique_ptr<ChannelServer> confirm_server;
  std::unique_ptr<ChannelClient> awaiting_session_key;
  std::unique_ptr<ChannelClient> awaiting_data_key;
  ChannelExchangeId pending;  // on confirm_server, and of awaiting_data_key
  bool authorized = false;
};

crypto::SigningKey Identity() {
  SecretBytes seed(crypto::kEd25519SeedSize);
  for (size_t i = 0; i < seed.size(); ++i) seed.reveal_mutable()[i] = uint8_t(i);
  return crypto::SigningKey::FromSeed(seed).value();
}

State* Init() {
  auto* s = new State;
  ChannelOptions o;
  o.max_exchanges = 256;
  s->confirm_server = ChannelServer::Create(o, Identity(), s->confirm_clock).value();
  auto verify = crypto::VerifyKey::FromBytes(Identity().public_key()).value();
  s->awaiting_session_key = std::make_unique<ChannelClient>(verify);
  if (!s->awaiting_session_key->Start("fuzz/b").ok()) Fail("start b");
  s->awaiting_data_key = std::make_unique<ChannelClient>(verify);
  auto hello = s->awaiting_data_key->Start("fuzz/a");
  if (!hello.ok()) Fail("start a");
  auto sk = s->confirm_server->HandleHello(*hello);
  if (!sk.ok()) Fail("hello a");
  if (!s->awaiting_data_key->OnSessionKey(*sk, SecretBytes(AsBytes("pw"))).ok()) Fail("sk a");
  s->pending = s->awaiting_data_key->exchange_id();
  return s;
}

template <typename Msg>
void CheckCanonical(const Result<Msg>& parsed, Bytes (*encode)(const Msg&), ByteView in) {
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) Fail("refusal without a reason");
    return;
  }
  Bytes again = encode(*parsed);
  if (again.size() != in.size() || std::memcmp(again.data(), in.data(), in.size()) != 0)
    Fail("parser is not canonical");
}

// Overwrites the exchange id (bytes 2..17) so lookups succeed and the
// fuzzer reaches the AEAD checks.
Bytes WithExchangeId(ByteView in, const ChannelExchangeId& id) {
  Bytes b(in.begin(), in.end());
  if (b.size() >= channel::kHeaderSize + channel::kExchangeIdSize)
    std::memcpy(b.data() + channel::kHeaderSize, id.bytes.data(), id.bytes.size());
  return b;
}

}  // namespace
}  // namespace keycast

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  static State* s = Init();
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const ByteView in(data + 1, size - 1);
  const ChannelAuthorizer authorize = [](ByteView, std::string_view) -> Result<SecretBytes> {
    Fail("a forged Confirm reached the authorizer");
  };

  switch (mode % 8) {
    case 0:
      CheckCanonical(channel::ParseHello(in), channel::EncodeHello, in);
      break;
    case 1:
      CheckCanonical(channel::ParseSessionKey(in), channel::EncodeSessionKey, in);
      break;
    case 2:
      CheckCanonical(channel::ParseConfirm(in), channel::EncodeConfirm, in);
      break;
    case 3:
      CheckCanonical(channel::ParseDataKey(in), channel::EncodeDataKey, in);
      break;
    case 4: {  // server: Hello, then a Confirm for it, then expiry
      FakeClock clock(kT0 + (mode >> 3) * kMicrosPerSecond);
      ChannelOptions o;
      o.retention_lifetimes = 1 + (mode >> 3) % channel::kMaxRetentionLifetimes;
      auto server = ChannelServer::Create(o, Identity(), clock).value();
      auto sk = server->HandleHello(in);
      if (!sk.ok()) break;
      auto m = channel::ParseSessionKey(*sk);
      if (!m.ok()) Fail("server sent an unparsable session key message");
      channel::ConfirmMsg c;
      c.exchange_id = m->exchange_id;
      c.sealed_shared_param.assign(in.begin(), in.end());
      c.sealed_shared_param.resize(channel::kSealOverhead + 1);
      if (server->HandleConfirm(channel::EncodeConfirm(c), authorize).ok())
        Fail("forged Confirm accepted");
      clock.Set(m->deadline);
      server->Purge();
      if (server->stats().pending_exchanges != 0 || server->stats().live_session_keys != 0)
        Fail("expired state survived Purge");
      if (server->HandleConfirm(channel::EncodeConfirm(c), authorize).status().code() !=
          Code::kDeadlineExceeded)
        Fail("late Confirm not refused as expired");
      break;
    }
    case 5: {  // server: Confirm, as sent or aimed at the pending exchange
      Bytes b = (mode & 0x80) ? WithExchangeId(in, s->pending) : Bytes(in.begin(), in.end());
      if (s->confirm_server->HandleConfirm(b, authorize).ok()) Fail("forged Confirm accepted");
      break;
    }
    case 6:  // client: SessionKeyMessage (no valid signature can be forged)
      if (s->awaiting_session_key->OnSessionKey(in, SecretBytes(AsBytes("pw"))).ok())
        Fail("forged session key message accepted");
      break;
    case 7: {  // client: DataKeyMessage, as sent or aimed at its exchange
      Bytes b = (mode & 0x80) ? WithExchangeId(in, s->pending) : Bytes(in.begin(), in.end());
      if (s->awaiting_data_key->OnDataKey(b).ok()) Fail("forged data key message accepted");
      break;
    }
  }
  return 0;
}
