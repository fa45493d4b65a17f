// ChannelClient: the second station of seed 004. Each step verifies the
// server's message completely before it changes any state.
#include <string>

#include "channel/key_schedule.h"
#include "channel/wire.h"
#include "keycast/channel.h"

namespace keycast {

struct ChannelClient::Impl {
  enum class State { kNew, kAwaitingSessionKey, kAwaitingDataKey, kDone };

  explicit Impl(crypto::VerifyKey key) : server_identity(std::move(key)) {}

  const crypto::VerifyKey server_identity;
  State state = State::kNew;

  // After Start.
  SecretBytes private_key;  // wiped once the session key is opened
  Bytes hello;

  // After OnSessionKey.
  ChannelExchangeId exchange_id;
  uint64_t interval = 0;
  uint8_t slot = 0;
  Micros deadline = 0;
  SecretBytes session_key;
  SecretBytes exchange_secret;
  crypto::Digest th3{};
};

ChannelClient::ChannelClient(crypto::VerifyKey server_identity)
    : impl_(std::make_unique<Impl>(std::move(server_identity))) {}
ChannelClient::~ChannelClient() = default;

Result<Bytes> ChannelClient::Start(std::string_view subject) {
  using namespace channel;
  Impl& c = *impl_;
  if (c.state != Impl::State::kNew) return FailedPrecondition("exchange already started");
  if (subject.empty() || subject.size() > kMaxSubjectBytes)
    return InvalidArgument("subject must be 1.." + std::to_string(kMaxSubjectBytes) +
                           " bytes, got " + std::to_string(subject.size()));
  X25519KeyPair kp = GenerateX25519();
  HelloMsg m;
  m.client_public = kp.public_key;
  crypto::RandomFill(m.client_nonce);
  m.subject = ToBytes(subject);
  c.hello = EncodeHello(m);
  c.private_key = std::move(kp.private_key);
  c.state = Impl::State::kAwaitingSessionKey;
  return c.hello;
}

Result<Bytes> ChannelClient::OnSessionKey(ByteView message, const SecretBytes& shared_param) {
  using namespace channel;
  Impl& c = *impl_;
  if (c.state != Impl::State::kAwaitingSessionKey)
    return FailedPrecondition("not awaiting a session key message");
  if (shared_param.empty() || shared_param.size() > kMaxSharedParamBytes)
    return InvalidArgument("shared parameter must be 1.." + std::to_string(kMaxSharedParamBytes) +
                           " bytes, got " + std::to_string(shared_param.size()));
  KC_ASSIGN_OR_RETURN(SessionKeyMsg m, ParseSessionKey(message));
  const ByteView prefix = message.first(kSessionKeyPrefixSize);

  // The server's identity vouches for its key share and for our Hello.
  const crypto::Digest th1 = Th1(c.hello, prefix);
  if (!c.server_identity.Verify(SignatureInput(th1, m.sealed_session_key), m.signature))
    return Unauthenticated("session key message is not signed by the pinned server key");
  KC_ASSIGN_OR_RETURN(SecretBytes dh, X25519(c.private_key, m.server_public));
  SecretBytes exchange_secret = DeriveExchangeSecret(dh, th1);
  dh.Wipe();
  SecretBytes session_key;
  if (!Open(DeriveSessionKeyWrapKey(exchange_secret, th1), prefix, m.sealed_session_key,
            &session_key))
    return Unauthenticated("session key does not open under this exchange's key");

  // Confirm: the shared parameter, sealed under the session key bound to
  // this exchange (proves receipt of the session key).
  const crypto::Digest th2 = Th2(th1, m.sealed_session_key, m.signature);
  ConfirmMsg confirm;
  confirm.exchange_id = m.exchange_id;
  Bytes aad = EncodeConfirm(confirm);
  aad.resize(kConfirmPrefixSize);
  confirm.sealed_shared_param =
      Seal(DeriveConfirmKey(session_key, exchange_secret, th2), aad, shared_param.reveal());
  Bytes out = EncodeConfirm(confirm);

  c.exchange_id = m.exchange_id;
  c.interval = m.interval;
  c.slot = m.slot;
  c.deadline = m.deadline;
  c.session_key = std::move(session_key);
  c.exchange_secret = std::move(exchange_secret);
  c.th3 = Th3(th2, out);
  c.private_key.Wipe();
  c.state = Impl::State::kAwaitingDataKey;
  return out;
}

Result<ChannelDelivery> ChannelClient::OnDataKey(ByteView message) {
  using namespace channel;
  Impl& c = *impl_;
  if (c.state != Impl::State::kAwaitingDataKey)
    return FailedPrecondition("not awaiting a data key message");
  KC_ASSIGN_OR_RETURN(DataKeyMsg m, ParseDataKey(message));
  if (m.exchange_id != c.exchange_id)
    return InvalidArgument("data key message is for exchange " + m.exchange_id.ToHex() + ", not " +
                           c.exchange_id.ToHex());
  ChannelDelivery d;
  d.data_key_index = m.data_key_index;
  if (!Open(DeriveDataKeyWrapKey(c.session_key, c.exchange_secret, c.th3),
            message.first(kDataKeyPrefixSize), m.sealed_data_key, &d.data_key))
    return Unauthenticated("data key does not open under this exchange's keys");
  if (!Open(DerivePayloadKey(d.data_key, c.th3), message.first(kPayloadPrefixSize),
            m.sealed_payload, &d.payload))
    return Unauthenticated("payload does not open under the released data key");
  c.session_key.Wipe();
  c.exchange_secret.Wipe();
  c.state = Impl::State::kDone;
  return d;
}

const ChannelExchangeId& ChannelClient::exchange_id() const { return impl_->exchange_id; }
uint64_t ChannelClient::interval() const { return impl_->interval; }
uint8_t ChannelClient::slot() const { return impl_->slot; }
Micros ChannelClient::deadline() const { return impl_->deadline; }
const SecretBytes& ChannelClient::session_key_for_testing() const { return impl_->session_key; }

}  // namespace keycast
