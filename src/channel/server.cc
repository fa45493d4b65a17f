// ChannelServer: the first station of seed 004. Each handler reads
// gather -> check -> issue; every refusal goes through Refuse(), which counts
// it by reason and returns a Status that names the cause.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "channel/key_schedule.h"
#include "channel/session_key_ring.h"
#include "channel/wire.h"
#include "keycast/channel.h"
#include "keycast/metrics.h"

namespace keycast {

std::string ChannelExchangeId::ToHex() const { return keycast::ToHex(bytes); }

namespace {

using channel::SessionKeyRing;

struct IdHash {
  // Exchange ids are server-chosen random bytes, so any 8 of them hash well.
  size_t operator()(const ChannelExchangeId& id) const noexcept {
    uint64_t v;
    std::memcpy(&v, id.bytes.data(), sizeof v);
    return static_cast<size_t>(v);
  }
};

Counter& RefusedCounter(std::string_view reason) {
  return Metrics::Global().GetCounter(
      "keycast_channel_refused_total",
      "Secure unicast channel messages refused (nothing released), by reason.",
      "reason=\"" + std::string(reason) + "\"");
}

Counter& HellosCounter() {
  static Counter& c = Metrics::Global().GetCounter("keycast_channel_hellos_total",
                                                   "Secure unicast channel exchanges started.");
  return c;
}

Counter& ReleasedCounter() {
  static Counter& c =
      Metrics::Global().GetCounter("keycast_channel_data_keys_released_total",
                                   "Intermediate data keys released after a verified Confirm.");
  return c;
}

std::string FormatMicros(Micros us) {
  if (us % kMicrosPerSecond == 0) return std::to_string(us / kMicrosPerSecond) + " s";
  return std::to_string(us) + " us";
}

Micros SaturatingAdd(Micros a, Micros b) {
  if (b > 0 && a > std::numeric_limits<Micros>::max() - b)
    return std::numeric_limits<Micros>::max();
  return a + b;
}

Status ValidateOptions(const ChannelOptions& o) {
  using namespace channel;
  if (o.session_key_lifetime < kMinSessionKeyLifetime)
    return InvalidArgument("session_key_lifetime of " + FormatMicros(o.session_key_lifetime) +
                           " is below the minimum of " + FormatMicros(kMinSessionKeyLifetime));
  if (o.session_key_lifetime >= kMaxSessionKeyLifetime)
    return InvalidArgument("session_key_lifetime of " + FormatMicros(o.session_key_lifetime) +
                           " is not below " + FormatMicros(kMaxSessionKeyLifetime) +
                           " (seed 004 claim 7)");
  if (o.retention_lifetimes < 1 || o.retention_lifetimes > kMaxRetentionLifetimes)
    return InvalidArgument("retention_lifetimes (M) is " + std::to_string(o.retention_lifetimes) +
                           "; it must lie in 1.." + std::to_string(kMaxRetentionLifetimes) +
                           " (seed 004 claim 6)");
  if (o.max_exchanges < 1 || o.max_exchanges > kMaxMaxExchanges)
    return InvalidArgument("max_exchanges is " + std::to_string(o.max_exchanges) +
                           "; it must lie in 1.." + std::to_string(kMaxMaxExchanges));
  if (o.exchange_timeout < 0) return InvalidArgument("exchange_timeout is negative");
  return Status::Ok();
}

}  // namespace

struct ChannelServer::Impl {
  Impl(const ChannelOptions& o, crypto::SigningKey id, const Clock& c)
      : options(o),
        identity(std::move(id)),
        clock(c),
        ring(o.session_key_lifetime, o.retention_lifetimes) {}

  // One exchange awaiting its Confirm. Its secrets are wiped when it is
  // destroyed (answered, expired or evicted).
  struct Exchange {
    uint64_t interval = 0;
    Micros deadline = 0;
    std::string subject;
    SecretBytes exchange_secret;
    crypto::Digest th2{};
    std::array<SecretBytes, channel::kDataKeysPerExchange> data_keys;  // claims 1, 3
    std::multimap<Micros, ChannelExchangeId>::iterator by_deadline;
  };

  // What became of an exchange that is gone, so a late or repeated Confirm
  // gets the right reason instead of "unknown".
  enum class Outcome : uint8_t { kAnswered, kExchangeExpired, kSessionKeyExpired };
  struct Tombstone {
    Outcome outcome = Outcome::kAnswered;
    Micros forget_at = 0;
  };

  const ChannelOptions options;
  const crypto::SigningKey identity;
  const Clock& clock;

  std::atomic<uint64_t> hellos{0}, released{0}, refused{0};

  mutable std::mutex mu;
  SessionKeyRing ring;                                                // guarded by mu
  std::unordered_map<ChannelExchangeId, Exchange, IdHash> exchanges;  // guarded by mu
  std::multimap<Micros, ChannelExchangeId> deadlines;                 // guarded by mu
  size_t reserved = 0;  // Hellos between admission and insertion; guarded by mu
  std::unordered_map<ChannelExchangeId, Tombstone, IdHash> tombstones;  // guarded by mu
  std::deque<ChannelExchangeId> tombstone_order;  // oldest first; guarded by mu

  Status Refuse(std::string_view reason, Status status) {
    refused.fetch_add(1, std::memory_order_relaxed);
    RefusedCounter(reason).Inc();
    return status;
  }

  // Tombstones live one retention window (M lifetimes) and are bounded by
  // max_exchanges; the oldest is forgotten first (a replay of it then gets
  // NotFound: still refused).
  void BuryLocked(const ChannelExchangeId& id, Outcome outcome, Micros now) {
    while (tombstones.size() >= options.max_exchanges && !tombstone_order.empty()) {
      tombstones.erase(tombstone_order.front());
      tombstone_order.pop_front();
    }
    const Micros window = options.session_key_lifetime * options.retention_lifetimes;
    tombstones[id] = Tombstone{outcome, SaturatingAdd(now, window)};
    tombstone_order.push_back(id);
  }

  void PurgeLocked(Micros now) {
    ring.Purge(now);
    while (!deadlines.empty() && deadlines.begin()->first <= now) {
      const ChannelExchangeId id = deadlines.begin()->second;
      deadlines.erase(deadlines.begin());
      auto it = exchanges.find(id);
      if (it == exchanges.end()) continue;
      const bool key_gone = now >= ring.ExpiryOf(it->second.interval);
      exchanges.erase(it);  // wipes its secrets
      BuryLocked(id, key_gone ? Outcome::kSessionKeyExpired : Outcome::kExchangeExpired, now);
    }
    while (!tombstone_order.empty()) {
      auto it = tombstones.find(tombstone_order.front());
      if (it != tombstones.end() && it->second.forget_at > now) break;
      if (it != tombstones.end()) tombstones.erase(it);
      tombstone_order.pop_front();
    }
  }

  // The refusal for a Confirm whose exchange is not pending.
  Status RefuseMissingLocked(const ChannelExchangeId& id) {
    auto t = tombstones.find(id);
    if (t == tombstones.end())
      return Refuse("unknown_exchange", NotFound("unknown exchange " + id.ToHex()));
    switch (t->second.outcome) {
      case Outcome::kAnswered:
        return Refuse("replay", FailedPrecondition("exchange " + id.ToHex() +
                                                   " was already answered: Confirm replayed"));
      case Outcome::kExchangeExpired:
        return Refuse("exchange_expired",
                      DeadlineExceeded("exchange " + id.ToHex() + " timed out"));
      case Outcome::kSessionKeyExpired:
        break;
    }
    return Refuse("session_key_expired", DeadlineExceeded("session key of exchange " + id.ToHex() +
                                                          " expired and was purged"));
  }
};

ChannelServer::ChannelServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChannelServer::~ChannelServer() = default;

Result<std::unique_ptr<ChannelServer>> ChannelServer::Create(const ChannelOptions& options,
                                                             crypto::SigningKey identity,
                                                             const Clock& clock) {
  KC_RETURN_IF_ERROR(ValidateOptions(options));
  return std::unique_ptr<ChannelServer>(
      new ChannelServer(std::make_unique<Impl>(options, std::move(identity), clock)));
}

Result<Bytes> ChannelServer::HandleHello(ByteView in) {
  using namespace channel;
  Impl& s = *impl_;

  // ---- gather ----
  auto hello = ParseHello(in);
  if (!hello.ok()) return s.Refuse("malformed", hello.status());
  X25519KeyPair ours = GenerateX25519();
  auto dh = X25519(ours.private_key, hello->client_public);
  ours.private_key.Wipe();  // forward secrecy: only the derived secrets stay
  if (!dh.ok()) return s.Refuse("bad_public_key", dh.status());

  // ---- check, and assign the interval's session key (claims 2, 4) ----
  SessionKeyRing::Assignment key;
  ChannelExchangeId id;
  Micros now = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    now = s.clock.Now();
    s.PurgeLocked(now);
    if (s.exchanges.size() + s.reserved >= s.options.max_exchanges)
      return s.Refuse("exchanges_full",
                      ResourceExhausted(std::to_string(s.options.max_exchanges) +
                                        " exchanges pending (max_exchanges); retry later"));
    auto assigned = s.ring.Assign(now);
    if (!assigned.ok()) return s.Refuse("clock", assigned.status());
    key = std::move(assigned).value();
    do {
      crypto::RandomFill(id.bytes);
    } while (s.exchanges.contains(id) || s.tombstones.contains(id));
    ++s.reserved;
  }

  // ---- issue ----
  Micros deadline = key.expires_at;  // expires with its session key
  if (s.options.exchange_timeout > 0)
    deadline = std::min(deadline, SaturatingAdd(now, s.options.exchange_timeout));

  SessionKeyMsg m;
  m.exchange_id = id;
  m.interval = key.interval;
  m.slot = static_cast<uint8_t>(key.slot);
  m.deadline = deadline;
  m.server_public = ours.public_key;
  const Bytes prefix_buf = EncodeSessionKey(m);
  const ByteView prefix(prefix_buf.data(), kSessionKeyPrefixSize);

  const crypto::Digest th1 = Th1(in, prefix);
  Impl::Exchange ex;
  ex.interval = key.interval;
  ex.deadline = deadline;
  ex.subject.assign(AsString(hello->subject));
  ex.exchange_secret = DeriveExchangeSecret(dh.value(), th1);
  const Bytes sealed =
      Seal(DeriveSessionKeyWrapKey(ex.exchange_secret, th1), prefix, key.key.reveal());
  std::copy(sealed.begin(), sealed.end(), m.sealed_session_key.begin());
  const Bytes signature = s.identity.Sign(SignatureInput(th1, m.sealed_session_key));
  std::copy(signature.begin(), signature.end(), m.signature.begin());
  ex.th2 = Th2(th1, m.sealed_session_key, m.signature);
  for (SecretBytes& k : ex.data_keys) k = crypto::RandomSecret(kDataKeySize);
  Bytes out = EncodeSessionKey(m);

  {
    std::lock_guard<std::mutex> lock(s.mu);
    --s.reserved;
    ex.by_deadline = s.deadlines.emplace(deadline, id);
    s.exchanges.emplace(id, std::move(ex));
  }
  s.hellos.fetch_add(1, std::memory_order_relaxed);
  HellosCounter().Inc();
  return out;
}

Result<Bytes> ChannelServer::HandleConfirm(ByteView in, const ChannelAuthorizer& authorize) {
  using namespace channel;
  Impl& s = *impl_;

  // ---- gather ----
  auto confirm = ParseConfirm(in);
  if (!confirm.ok()) return s.Refuse("malformed", confirm.status());
  const ChannelExchangeId id = confirm->exchange_id;

  SecretBytes session_key, exchange_secret;
  crypto::Digest th2{};
  {
    std::lock_guard<std::mutex> lock(s.mu);
    const Micros now = s.clock.Now();
    s.PurgeLocked(now);  // expires the exchange if its deadline passed
    auto it = s.exchanges.find(id);
    if (it == s.exchanges.end()) return s.RefuseMissingLocked(id);
    const SecretBytes* k = s.ring.Find(it->second.interval, now);
    if (k == nullptr)  // unreachable while deadline <= key expiry; kept as a guard
      return s.Refuse("session_key_expired",
                      DeadlineExceeded("session key of exchange " + id.ToHex() + " is gone"));
    session_key = *k;
    exchange_secret = it->second.exchange_secret;
    th2 = it->second.th2;
  }

  // ---- check: receipt of the session key (claim 1) ----
  SecretBytes shared_param;
  if (!Open(DeriveConfirmKey(session_key, exchange_secret, th2), in.first(kConfirmPrefixSize),
            confirm->sealed_shared_param, &shared_param))
    return s.Refuse("bad_confirm",
                    Unauthenticated("confirm for exchange " + id.ToHex() +
                                    " is not sealed under its session key and transcript"));

  // Claim the exchange: one authentic Confirm per exchange, even when two
  // arrive concurrently.
  Impl::Exchange ex;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.exchanges.find(id);
    if (it == s.exchanges.end()) return s.RefuseMissingLocked(id);
    ex = std::move(it->second);
    s.deadlines.erase(ex.by_deadline);
    s.exchanges.erase(it);
    s.BuryLocked(id, Impl::Outcome::kAnswered, s.clock.Now());
  }

  // ---- check: the shared parameter (password, billing credential) ----
  Result<SecretBytes> payload = authorize(shared_param.reveal(), ex.subject);
  shared_param.Wipe();
  if (!payload.ok()) return s.Refuse("authorize_refused", payload.status());
  if (payload->size() > kMaxPayloadBytes)
    return s.Refuse("payload_too_large",
                    InvalidArgument("payload of " + std::to_string(payload->size()) +
                                    " bytes exceeds " + std::to_string(kMaxPayloadBytes)));

  // ---- issue: one of the exchange's data keys (claim 1, last step) ----
  const crypto::Digest th3 = Th3(th2, in);
  DataKeyMsg m;
  m.exchange_id = id;
  m.data_key_index = static_cast<uint8_t>(crypto::RandomBelow(kDataKeysPerExchange));
  const SecretBytes& data_key = ex.data_keys[m.data_key_index];
  Bytes aad = EncodeDataKey(m);
  aad.resize(kDataKeyPrefixSize);
  const Bytes sealed_key =
      Seal(DeriveDataKeyWrapKey(session_key, ex.exchange_secret, th3), aad, data_key.reveal());
  std::copy(sealed_key.begin(), sealed_key.end(), m.sealed_data_key.begin());
  aad.insert(aad.end(), sealed_key.begin(), sealed_key.end());
  m.sealed_payload = Seal(DerivePayloadKey(data_key, th3), aad, payload->reveal());

  s.released.fetch_add(1, std::memory_order_relaxed);
  ReleasedCounter().Inc();
  return EncodeDataKey(m);
}

void ChannelServer::Purge() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->PurgeLocked(impl_->clock.Now());
}

ChannelStats ChannelServer::stats() const {
  ChannelStats st;
  st.hellos_accepted = impl_->hellos.load(std::memory_order_relaxed);
  st.data_keys_released = impl_->released.load(std::memory_order_relaxed);
  st.refused = impl_->refused.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(impl_->mu);
  st.pending_exchanges = impl_->exchanges.size();
  st.live_session_keys = impl_->ring.live();
  return st;
}

const ChannelOptions& ChannelServer::options() const { return impl_->options; }

const Bytes& ChannelServer::identity_public_key() const { return impl_->identity.public_key(); }

std::vector<ChannelServer::SlotView> ChannelServer::SlotsForTesting() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<SlotView> out;
  const auto& slots = impl_->ring.slots();
  for (size_t i = 0; i < slots.size(); ++i)
    out.push_back(SlotView{i, slots[i].live, slots[i].interval, slots[i].expires_at});
  return out;
}

std::optional<SecretBytes> ChannelServer::SessionKeyForTesting(uint64_t interval) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto& slot = impl_->ring.slots()[impl_->ring.SlotOf(interval)];
  if (!slot.live || slot.interval != interval) return std::nullopt;
  return slot.key;
}

}  // namespace keycast
