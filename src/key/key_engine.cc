// The key service's decision procedure: gather -> check -> issue.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "keycast/crypto.h"
#include "keycast/key_service.h"
#include "keycast/labels.h"
#include "keycast/limits.h"
#include "keycast/metrics.h"
#include "keycast/schedule.h"

namespace keycast {

std::string_view KeyOutcomeName(KeyOutcome o) {
  switch (o) {
    case KeyOutcome::kOk: return "ok";
    case KeyOutcome::kMalformed: return "malformed";
    case KeyOutcome::kUnknownKeyVersion: return "unknown_key_version";
    case KeyOutcome::kBadCredential: return "bad_credential";
    case KeyOutcome::kBadProof: return "bad_proof";
    case KeyOutcome::kTicketExpired: return "ticket_expired";
    case KeyOutcome::kClockSkew: return "clock_skew";
    case KeyOutcome::kReplay: return "replay";
    case KeyOutcome::kBadNonce: return "bad_nonce";
    case KeyOutcome::kNotInTicket: return "not_in_ticket";
    case KeyOutcome::kNotAuthorized: return "not_authorized";
    case KeyOutcome::kUnknownEvent: return "unknown_event";
    case KeyOutcome::kTooEarly: return "too_early";
    case KeyOutcome::kTooLate: return "too_late";
    case KeyOutcome::kUseTcp: return "use_tcp";
    case KeyOutcome::kInternal: return "internal";
    case KeyOutcome::kCount: break;
  }
  return "unknown";
}

namespace {

using keyproto::ReplyStatus;

// A set of 16-byte request tags seen within the skew window, sharded to keep
// lock contention low. A tag covers the client nonce and timestamp, so a
// replayed request has the same tag; a fresh request never does.
class ReplayCache {
 public:
  explicit ReplayCache(size_t capacity) : per_shard_(std::max<size_t>(capacity / kShards, 1024)) {}

  // True if the tag was new (and is now recorded); false for a replay.
  // `expires` is when the entry may be forgotten (the request's timestamp
  // plus the skew: after that, the timestamp check refuses it anyway).
  // Refuses (returns nullopt) when the shard is full of live entries.
  std::optional<bool> Insert(ByteView tag, Micros expires, Micros now) {
    Key k;
    std::memcpy(k.data(), tag.data(), 16);
    Shard& s = shards_[k[0] % kShards];
    std::lock_guard<std::mutex> l(s.mu);
    if (s.map.size() >= per_shard_) Purge(s, now);
    if (s.map.size() >= per_shard_) return std::nullopt;
    return s.map.emplace(k, expires).second;
  }

 private:
  using Key = std::array<uint8_t, 16>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t v;
      std::memcpy(&v, k.data() + 4, 8);
      return v;
    }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<Key, Micros, KeyHash> map;
  };
  static void Purge(Shard& s, Micros now) {
    for (auto it = s.map.begin(); it != s.map.end();) {
      if (it->second < now) it = s.map.erase(it);
      else ++it;
    }
  }
  static constexpr size_t kShards = 64;
  size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

struct Requester {
  TicketId ticket_id{};
  SecretBytes wakeup_key;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  Micros last_seen = 0;
};

struct IssuedNonce {
  ClientId client;
  EventId event;
  Micros expires = 0;
  bool used = false;
};

Micros Sec(int64_t s) { return s * kMicrosPerSecond; }

}  // namespace

struct KeyEngine::Impl {
  const Directory* directory;
  const ServiceKeys* keys;
  Store* store;
  const Sealer* sealer;
  const Clock* clock;
  KeyServiceOptions options;
  ReplayCache replay;
  std::array<Counter*, static_cast<size_t>(KeyOutcome::kCount)> counters{};
  Histogram* latency = nullptr;
  KeyEngine::GrantHook grant_hook;

  std::shared_mutex secrets_mu;
  std::unordered_map<int64_t, std::shared_ptr<const SecretBytes>> secrets;  // event -> secret

  std::mutex senders_mu;
  std::map<std::pair<int64_t, uint32_t>, ClientId> sender_owner;

  std::mutex requesters_mu;
  std::map<std::pair<int64_t, int64_t>, Requester> requesters;  // (event, client)

  std::mutex nonces_mu;
  std::unordered_map<uint64_t, IssuedNonce> nonces;

  Impl(const Directory* d, const ServiceKeys* k, Store* s, const Sealer* se, const Clock* c, KeyServiceOptions o)
      : directory(d), keys(k), store(s), sealer(se), clock(c), options(o), replay(o.replay_cache_entries) {
    for (size_t i = 0; i < counters.size(); ++i)
      counters[i] = &Metrics::Global().GetCounter(
          "keycast_key_requests_total", "Key requests by result.",
          "result=\"" + std::string(KeyOutcomeName(static_cast<KeyOutcome>(i))) + "\"");
    latency = &Metrics::Global().GetHistogram("keycast_key_request_seconds", "Key request handling time.",
                                              LatencyBuckets());
  }

  Result<std::shared_ptr<const SecretBytes>> EventSecret(EventId e) {
    {
      std::shared_lock<std::shared_mutex> l(secrets_mu);
      auto it = secrets.find(e.value);
      if (it != secrets.end()) return it->second;
    }
    KC_ASSIGN_OR_RETURN(Bytes sealed, store->GetEventSecret(e));
    KC_ASSIGN_OR_RETURN(SecretBytes secret, sealer->Open("event-secret", "event:" + std::to_string(e.value), sealed));
    auto p = std::make_shared<const SecretBytes>(std::move(secret));
    std::unique_lock<std::shared_mutex> l(secrets_mu);
    secrets[e.value] = p;
    return p;
  }

  Result<SenderId> SenderFor(EventId event, ClientId client, SenderId asked) {
    if (asked.value == 0) {
      KC_ASSIGN_OR_RETURN(SenderId id, store->AllocateSenderId(event, client, clock->NowSeconds()));
      std::lock_guard<std::mutex> l(senders_mu);
      sender_owner[{event.value, id.value}] = client;
      return id;
    }
    {
      std::lock_guard<std::mutex> l(senders_mu);
      auto it = sender_owner.find({event.value, asked.value});
      if (it != sender_owner.end()) {
        if (it->second != client) return PermissionDenied("sender id belongs to another client");
        return asked;
      }
    }
    auto owner = store->SenderOwner(event, asked);
    if (!owner.ok() || *owner != client) return PermissionDenied("sender id was not allocated to this client");
    std::lock_guard<std::mutex> l(senders_mu);
    sender_owner[{event.value, asked.value}] = client;
    return asked;
  }

  void Remember(EventId event, ClientId client, const TicketId& ticket, const keyproto::SessionKeys& sk,
                const sockaddr_storage& from, socklen_t from_len, Micros now) {
    if (from_len == 0) return;
    std::lock_guard<std::mutex> l(requesters_mu);
    Requester& r = requesters[{event.value, client.value}];
    if (r.ticket_id != ticket) {
      r.ticket_id = ticket;
      r.wakeup_key = sk.wakeup;
    }
    r.addr = from;
    r.addr_len = from_len;
    r.last_seen = now;
  }
};

KeyEngine::KeyEngine(const Directory* directory, const ServiceKeys* keys, Store* store, const Sealer* sealer,
                     const Clock* clock, KeyServiceOptions options)
    : impl_(new Impl(directory, keys, store, sealer, clock, options)) {}

KeyEngine::~KeyEngine() = default;

void KeyEngine::SetGrantHook(GrantHook hook) { impl_->grant_hook = std::move(hook); }

uint64_t KeyEngine::count(KeyOutcome o) const { return impl_->counters[static_cast<size_t>(o)]->value(); }

Result<SecurityAssociation> KeyEngine::DeriveSa(const Event& event, Epoch epoch, Role role, SenderId sender) {
  KC_ASSIGN_OR_RETURN(auto window, EpochWindow(event.schedule, event.interval_seconds, epoch));
  SecurityAssociation sa;
  sa.event = event.id;
  sa.epoch = epoch;
  sa.algorithm = event.algorithm;
  sa.initiation = Sec(window.first);
  sa.lifetime = Sec(window.second - window.first);
  sa.grace = Sec(impl_->options.grace_seconds);
  sa.role = role;
  sa.sender = role == Role::kSender ? sender : SenderId{};
  sa.group = event.group_address;
  sa.port = event.port;
  sa.source = event.source_address;
  if (epoch.index < event.clear_intervals) {
    sa.clear = true;  // seed 000 claim 18: the first intervals go unencrypted
    return sa;
  }
  KC_ASSIGN_OR_RETURN(auto secret, impl_->EventSecret(event.id));
  uint8_t ctx[16];
  StoreBe64(ctx, static_cast<uint64_t>(event.id.value));
  StoreBe64(ctx + 8, epoch.packed());
  // Key k is a PRF of the event secret: knowing key k says nothing of k+1.
  sa.key = crypto::Hkdf(secret->reveal(), {}, labels::kIntervalKey, ByteView(ctx, 16), 32);
  SecretBytes spi = crypto::Hkdf(secret->reveal(), {}, labels::kIntervalSpi, ByteView(ctx, 16), 4);
  // SPIs 0-255 are reserved (RFC 4303 section 2.1).
  sa.spi.value = std::max<uint32_t>(LoadBe32(spi.reveal().data()), 256);
  return sa;
}

Bytes KeyEngine::Handle(ByteView request, const sockaddr_storage& from, socklen_t from_len, bool over_tcp,
                        KeyOutcome* outcome_out) {
  Impl& x = *impl_;
  auto t0 = std::chrono::steady_clock::now();
  KeyOutcome outcome = KeyOutcome::kInternal;
  struct Finish {
    Impl& x;
    KeyOutcome& o;
    KeyOutcome* out;
    std::chrono::steady_clock::time_point t0;
    ~Finish() {
      x.counters[static_cast<size_t>(o)]->Inc();
      x.latency->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (out) *out = o;
    }
  } finish{x, outcome, outcome_out, t0};

  // ---- gather: structure, credential, proof. Failures here are dropped.
  auto parsed = keyproto::ParseRequest(request);
  if (!parsed.ok()) {
    outcome = KeyOutcome::kMalformed;
    return {};
  }
  const keyproto::Request& q = parsed->request;
  auto version = CredentialKeyVersion(q.credential);
  auto sealing = version.ok() ? x.keys->SealingKey(*version) : nullptr;
  if (!sealing) {
    outcome = KeyOutcome::kUnknownKeyVersion;
    return {};
  }
  auto cred = OpenCredential(q.credential, *sealing);
  if (!cred.ok()) {
    outcome = KeyOutcome::kBadCredential;
    return {};
  }
  keyproto::SessionKeys sk = keyproto::SessionKeys::Derive(cred->session_key, cred->ticket_id);
  if (!keyproto::VerifyRequestTag(*parsed, sk)) {
    outcome = KeyOutcome::kBadProof;
    return {};
  }

  // ---- check: from here the requester is authenticated.
  Micros now = x.clock->Now();
  keyproto::Reply reply;
  reply.client_nonce = q.client_nonce;
  reply.server_time = now;
  reply.event = q.event;
  auto refuse = [&](KeyOutcome o, ReplyStatus st, std::string reason) {
    outcome = o;
    reply.status = st;
    reply.reason = std::move(reason);
    return keyproto::EncodeReply(reply, sk);
  };

  Micros skew = Sec(x.options.clock_skew_seconds);
  if (now > Sec(cred->expires_at) + skew)
    return refuse(KeyOutcome::kTicketExpired, ReplyStatus::kNotAuthorized,
                  "ticket expired " + std::to_string((now - Sec(cred->expires_at)) / kMicrosPerSecond) + " s ago");
  Micros off = q.timestamp - now;
  if (off > skew || off < -skew)
    return refuse(KeyOutcome::kClockSkew, ReplyStatus::kClockSkew,
                  "request timestamp is " + std::to_string(off / kMicrosPerSecond) + " s off; the bound is " +
                      std::to_string(x.options.clock_skew_seconds) + " s");
  auto fresh = x.replay.Insert(parsed->tag, q.timestamp + skew, now);
  if (!fresh) return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "replay cache full; retry");
  if (!*fresh) {
    outcome = KeyOutcome::kReplay;  // the original was answered; the copy gets nothing
    return {};
  }
  if (q.server_nonce != keyproto::kClientInitiated) {
    // Seed 003: the answer to a wakeup must return a nonce this service
    // issued to this client for this event, unexpired and unused.
    std::lock_guard<std::mutex> l(x.nonces_mu);
    auto it = x.nonces.find(q.server_nonce);
    bool good = it != x.nonces.end() && !it->second.used && it->second.expires >= now &&
                it->second.client == cred->client && it->second.event == q.event;
    if (!good) {
      outcome = KeyOutcome::kBadNonce;  // disregarded (seed 003 claim 15)
      return {};
    }
    it->second.used = true;
  }
  auto ticket_role = cred->RoleFor(q.event);
  if (!ticket_role) return refuse(KeyOutcome::kNotInTicket, ReplyStatus::kNotAuthorized, "event is not in the ticket");
  Role role = *ticket_role;
  if (role == Role::kSender && !x.directory->IsAuthorized(cred->client, q.event, Role::kSender)) role = Role::kReceiver;
  if (!x.directory->IsAuthorized(cred->client, q.event, role))
    return refuse(KeyOutcome::kNotAuthorized, ReplyStatus::kNotAuthorized,
                  "not authorised for this event (revoked, disabled or deleted)");
  auto event = x.directory->FindEvent(q.event);
  if (!event) return refuse(KeyOutcome::kUnknownEvent, ReplyStatus::kNotAuthorized, "event does not exist");
  const Event& ev = *event;
  int64_t now_s = now / kMicrosPerSecond;

  Epoch epoch;
  if (q.kind == keyproto::RequestKind::kInitial) {
    auto occ = NextOccurrence(ev.schedule, now_s);
    if (!occ) return refuse(KeyOutcome::kTooLate, ReplyStatus::kTooLate, "the event is over");
    int64_t opens = occ->start - ev.initial_keying_seconds;
    if (now_s < opens) {
      reply.retry_after = Sec(opens);
      return refuse(KeyOutcome::kTooEarly, ReplyStatus::kTooEarly,
                    "the initial keying period opens in " + std::to_string(opens - now_s) + " s");
    }
    // Before the start: the first epoch. Later: the current one (late join).
    epoch = now_s < occ->start ? Epoch{occ->index, 0} : *EpochAt(ev.schedule, ev.interval_seconds, now_s);
  } else {
    auto window = EpochWindow(ev.schedule, ev.interval_seconds, q.epoch);
    if (!window.ok()) return refuse(KeyOutcome::kTooLate, ReplyStatus::kTooLate, "no such epoch");
    // The forward security window of epoch k is interval k-1 (seed 001
    // Figure 6), judged by this service's clock (agents align theirs with the
    // offset each reply reports), opened `grace` early; a late refresh is
    // allowed until k ends.
    Micros opens = Sec(window->first - ev.interval_seconds - x.options.grace_seconds);
    Micros closes = Sec(window->second) + Sec(x.options.grace_seconds);
    if (now < opens) {
      reply.retry_after = opens;
      return refuse(KeyOutcome::kTooEarly, ReplyStatus::kTooEarly,
                    "the forward security window of that epoch opens in " +
                        std::to_string((opens - now) / kMicrosPerSecond + 1) + " s");
    }
    if (now >= closes) return refuse(KeyOutcome::kTooLate, ReplyStatus::kTooLate, "that epoch is over");
    epoch = q.epoch;
  }

  SenderId sender;
  if (role == Role::kSender) {
    auto s = x.SenderFor(ev.id, cred->client, q.sender);
    if (!s.ok()) return refuse(KeyOutcome::kNotAuthorized, ReplyStatus::kNotAuthorized, s.status().message());
    sender = *s;
  }

  // ---- issue
  auto sa = DeriveSa(ev, epoch, role, sender);
  if (!sa.ok()) return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "cannot derive the key");
  reply.sas.push_back(std::move(sa).value());
  if (x.grant_hook) reply.extra = x.grant_hook(ev, cred->client, role, epoch);
  Bytes out = keyproto::EncodeReply(reply, sk);
  if (!over_tcp && out.size() > x.options.max_udp_reply) {
    reply.sas.clear();
    return refuse(KeyOutcome::kUseTcp, ReplyStatus::kUseTcp, "the answer does not fit a datagram; ask over TCP");
  }
  x.Remember(ev.id, cred->client, cred->ticket_id, sk, from, from_len, now);
  outcome = KeyOutcome::kOk;
  return out;
}

std::vector<KeyEngine::OutgoingWakeup> KeyEngine::MakeWakeups(EventId event) {
  Impl& x = *impl_;
  Micros now = x.clock->Now();
  std::vector<OutgoingWakeup> out;
  std::vector<std::pair<ClientId, Requester>> targets;
  {
    std::lock_guard<std::mutex> l(x.requesters_mu);
    for (auto it = x.requesters.lower_bound({event.value, 0});
         it != x.requesters.end() && it->first.first == event.value; ++it)
      targets.emplace_back(ClientId(it->first.second), it->second);
  }
  std::lock_guard<std::mutex> l(x.nonces_mu);
  for (auto it = x.nonces.begin(); it != x.nonces.end();) {
    if (it->second.expires < now) it = x.nonces.erase(it);
    else ++it;
  }
  for (auto& [client, r] : targets) {
    uint64_t nonce;
    do {
      nonce = crypto::RandomU64();  // never the reserved client-initiated value
    } while (nonce == keyproto::kClientInitiated || x.nonces.count(nonce));
    x.nonces[nonce] = IssuedNonce{client, event, now + Sec(x.options.wakeup_nonce_seconds), false};
    keyproto::SessionKeys keys;
    keys.wakeup = r.wakeup_key;
    keyproto::Wakeup w{r.ticket_id, event, nonce, now};
    out.push_back(OutgoingWakeup{r.addr, r.addr_len, keyproto::EncodeWakeup(w, keys), nonce});
  }
  return out;
}

}  // namespace keycast
