// The key service's decision procedure: gather -> check -> issue.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <limits>
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
    case KeyOutcome::kOk:
      return "ok";
    case KeyOutcome::kMalformed:
      return "malformed";
    case KeyOutcome::kUnknownKeyVersion:
      return "unknown_key_version";
    case KeyOutcome::kBadCredential:
      return "bad_credential";
    case KeyOutcome::kBadProof:
      return "bad_proof";
    case KeyOutcome::kTicketExpired:
      return "ticket_expired";
    case KeyOutcome::kClockSkew:
      return "clock_skew";
    case KeyOutcome::kReplay:
      return "replay";
    case KeyOutcome::kBadNonce:
      return "bad_nonce";
    case KeyOutcome::kNotInTicket:
      return "not_in_ticket";
    case KeyOutcome::kNotAuthorized:
      return "not_authorized";
    case KeyOutcome::kUnknownEvent:
      return "unknown_event";
    case KeyOutcome::kTooEarly:
      return "too_early";
    case KeyOutcome::kTooLate:
      return "too_late";
    case KeyOutcome::kUseTcp:
      return "use_tcp";
    case KeyOutcome::kInternal:
      return "internal";
    case KeyOutcome::kCount:
      break;
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
      if (it->second < now)
        it = s.map.erase(it);
      else
        ++it;
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

// What the interval key, its SPI and the senders' signing keys of one
// interval are bound to (docs/key-protocol.md, "Keys"): the event and the
// epoch. Every per-interval derivation from the event secret uses it.
std::array<uint8_t, 16> IntervalContext(EventId event, Epoch epoch) {
  std::array<uint8_t, 16> ctx;
  StoreBe64(ctx.data(), static_cast<uint64_t>(event.value));
  StoreBe64(ctx.data() + 8, epoch.packed());
  return ctx;
}

// A sender's Ed25519 seed for one interval: a PRF of the event secret, so
// nobody without the secret (receivers included) can sign for a sender, and
// one interval's key says nothing of another's.
//   seed = HKDF-SHA256(E, info = "keycast v1 sender signing key" || u64(ev) || u64(epoch) ||
//   u32(sender))
SecretBytes SigningSeed(keyproto::HmacSha256* hmac, const SecretBytes& secret, EventId event,
                        Epoch epoch, SenderId sender) {
  uint8_t ctx[20];
  auto ic = IntervalContext(event, epoch);
  std::memcpy(ctx, ic.data(), ic.size());
  StoreBe32(ctx + 16, sender.value);
  keyproto::HkdfSha256 kdf(hmac, secret.reveal(), {});
  return kdf.Expand(labels::kSenderSigningKey, ByteView(ctx, sizeof ctx), crypto::kEd25519SeedSize);
}

// A sender id the service vouches for. `listed_until`: it is listed with
// the SAs that start before this (its last key's interval end plus grace,
// plus one more interval, since it refreshes ahead of the boundary).
struct SenderRecord {
  ClientId client;
  Micros listed_until = 0;
};

std::atomic<uint64_t> g_engine_serial{0};

// What one thread keeps for one engine (docs/bench-keys.md, "the hot path").
// Everything here is a pure function of its key, so a hit answers exactly
// what the uncached path would:
//  - the AES-GCM context keyed with the ticket-sealing key (the key schedule
//    runs when the key changes, not per request);
//  - Directory::IsAuthorized and FindEvent answers, stamped with the
//    directory generation read *before* asking; any directory change bumps
//    the generation after it is applied, so a stamp never outlives the state
//    it was computed from and a revocation takes effect at once;
//  - interval keys and SPIs per (event snapshot, epoch); the snapshot is
//    immutable and held, so its address cannot be reused while cached.
// Direct-mapped and fixed-size: a miss evicts one slot, memory stays bounded.
struct ThreadCache {
  static constexpr size_t kAuthSlots = 16384;
  static constexpr size_t kEventSlots = 256;
  static constexpr size_t kSaSlots = 512;

  uint64_t engine = 0;
  keyproto::HmacSha256 hmac;
  keyproto::AesGcm credential_gcm;
  std::shared_ptr<const SecretBytes> credential_key;  // what credential_gcm is keyed with

  struct Auth {
    uint64_t generation = 0;  // 0 = empty (generations start at 1)
    int64_t client = 0, event = 0;
    Role role = Role::kReceiver;
    bool allowed = false;
  };
  struct EventSlot {
    uint64_t generation = 0;
    int64_t id = 0;
    std::shared_ptr<const Event> event;
  };
  struct SaSlot {
    std::shared_ptr<const Event> event;  // held: its address stays unique
    uint64_t epoch = 0;
    KeyEngine::KeysInForce keys;
    SecurityAssociation sa;  // role-independent fields
  };
  std::array<Auth, kAuthSlots> auth;
  std::array<EventSlot, kEventSlots> events;
  std::array<SaSlot, kSaSlots> sas;

  static size_t Mix(uint64_t a, uint64_t b) {
    uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2));
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

// The thread's cache for `engine`; a thread serving another engine since
// starts afresh.
ThreadCache& CacheFor(uint64_t engine) {
  thread_local std::unique_ptr<ThreadCache> cache;
  if (!cache || cache->engine != engine) {
    cache = std::make_unique<ThreadCache>();
    cache->engine = engine;
  }
  return *cache;
}

// OpenCredential on this thread's keyed context. The credential is
//   u8 version || u32 key_version || nonce[12] || ciphertext || tag[16]
// sealed with aad = label || u8 version || u32 key_version
// (docs/ticket-format.md, "Credential"); the result is the same.
Result<CredentialContents> OpenCredentialCached(ThreadCache& t, ByteView credential, KeyVersion v,
                                                const std::shared_ptr<const SecretBytes>& key) {
  if (credential.size() > limits::kMaxSealedPartBytes)
    return InvalidArgument("credential too large");
  constexpr size_t kPrefix = 5;
  if (credential.size() < kPrefix + crypto::kAeadNonceSize + crypto::kAeadTagSize)
    return Unauthenticated("credential does not authenticate");
  if (t.credential_key != key) {
    t.credential_gcm.SetKey(key->reveal());
    t.credential_key = key;
  }
  uint8_t aad[labels::kTicketSealedPart.size() + kPrefix];
  std::memcpy(aad, labels::kTicketSealedPart.data(), labels::kTicketSealedPart.size());
  aad[labels::kTicketSealedPart.size()] = kCredentialVersion;
  StoreBe32(aad + labels::kTicketSealedPart.size() + 1, v.value);
  ByteView sealed = credential.subspan(kPrefix);
  SecretBytes plain(sealed.size() - crypto::kAeadNonceSize - crypto::kAeadTagSize);
  if (!t.credential_gcm.Open(sealed.first(crypto::kAeadNonceSize), ByteView(aad, sizeof aad),
                             sealed.subspan(crypto::kAeadNonceSize), plain.reveal_mutable().data()))
    return Unauthenticated("credential does not authenticate");
  return DecodeCredentialPlaintext(plain.reveal());
}

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
  // (event, secret version) -> secret
  std::map<std::pair<int64_t, uint32_t>, std::shared_ptr<const SecretBytes>> secrets;

  std::shared_mutex senders_mu;
  std::map<std::pair<int64_t, uint32_t>, SenderRecord> sender_owner;  // (event, sender id)

  // Public signing keys already derived, by (secret, event, epoch, sender):
  // a derivation is an Ed25519 key generation, far costlier than the rest
  // of a request. Bounded: cleared when it reaches kMaxPublicKeys.
  struct PublicKeyKey {
    const SecretBytes* secret;
    int64_t event;
    uint64_t epoch;
    uint32_t sender;
    bool operator==(const PublicKeyKey&) const = default;
  };
  struct PublicKeyHash {
    size_t operator()(const PublicKeyKey& k) const {
      return ThreadCache::Mix(
          static_cast<uint64_t>(k.event) ^ reinterpret_cast<uintptr_t>(k.secret),
          k.epoch * 0x100000001b3ULL + k.sender);
    }
  };
  struct PublicKeyEntry {
    std::shared_ptr<const SecretBytes> secret;  // held: its address stays unique
    Bytes public_key;
  };
  static constexpr size_t kMaxPublicKeys = 1 << 16;
  std::mutex public_keys_mu;
  std::unordered_map<PublicKeyKey, PublicKeyEntry, PublicKeyHash> public_keys;

  // Recent requesters per (event, client), for wakeups. Sharded: every
  // granted request updates its entry, from every worker thread.
  struct RequesterShard {
    std::mutex mu;
    std::map<std::pair<int64_t, int64_t>, Requester> map;  // (event, client)
    size_t inserts_since_sweep = 0;
  };
  void SweepLocked(RequesterShard& shard, Micros now) {
    Micros horizon = now - Sec(options.requester_ttl_seconds);
    std::erase_if(shard.map, [horizon](const auto& kv) { return kv.second.last_seen < horizon; });
  }
  static constexpr size_t kRequesterShards = 16;
  std::array<RequesterShard, kRequesterShards> requesters;

  std::mutex nonces_mu;
  std::unordered_map<uint64_t, IssuedNonce> nonces;

  const uint64_t serial = g_engine_serial.fetch_add(1) + 1;

  // Directory::IsAuthorized through the thread's generation-stamped cache.
  bool Authorized(ThreadCache& t, ClientId client, EventId event, Role role) {
    uint64_t gen = directory->generation();  // before asking: see ThreadCache
    auto& a =
        t.auth[ThreadCache::Mix(static_cast<uint64_t>(client.value),
                                static_cast<uint64_t>(event.value) * 2 + (role == Role::kSender)) %
               ThreadCache::kAuthSlots];
    if (a.generation == gen && a.client == client.value && a.event == event.value && a.role == role)
      return a.allowed;
    bool allowed = directory->IsAuthorized(client, event, role);
    a = ThreadCache::Auth{gen, client.value, event.value, role, allowed};
    return allowed;
  }

  // Directory::FindEvent through the same cache.
  std::shared_ptr<const Event> FindEvent(ThreadCache& t, EventId id) {
    uint64_t gen = directory->generation();
    auto& e =
        t.events[ThreadCache::Mix(static_cast<uint64_t>(id.value), 0) % ThreadCache::kEventSlots];
    if (e.generation == gen && e.id == id.value) return e.event;
    auto ev = directory->FindEvent(id);
    e.generation = gen;
    e.id = id.value;
    e.event = ev;
    return ev;
  }

  Impl(const Directory* d, const ServiceKeys* k, Store* s, const Sealer* se, const Clock* c,
       KeyServiceOptions o)
      : directory(d),
        keys(k),
        store(s),
        sealer(se),
        clock(c),
        options(o),
        replay(o.replay_cache_entries) {
    for (size_t i = 0; i < counters.size(); ++i)
      counters[i] = &Metrics::Global().GetCounter(
          "keycast_key_requests_total", "Key requests by result.",
          "result=\"" + std::string(KeyOutcomeName(static_cast<KeyOutcome>(i))) + "\"");
    latency = &Metrics::Global().GetHistogram("keycast_key_request_seconds",
                                              "Key request handling time.", LatencyBuckets());
  }

  Result<std::shared_ptr<const SecretBytes>> EventSecret(EventId e, uint32_t version) {
    {
      std::shared_lock<std::shared_mutex> l(secrets_mu);
      auto it = secrets.find({e.value, version});
      if (it != secrets.end()) return it->second;
    }
    KC_ASSIGN_OR_RETURN(Bytes sealed, store->GetEventSecret(e, version));
    KC_ASSIGN_OR_RETURN(SecretBytes secret,
                        sealer->Open(kEventSecretPurpose, EventSecretRecord(e, version), sealed));
    auto p = std::make_shared<const SecretBytes>(std::move(secret));
    std::unique_lock<std::shared_mutex> l(secrets_mu);
    // Versions other than the two an event's state names are no longer
    // handed out: forget them (bounded to two per event).
    std::erase_if(secrets, [&](const auto& kv) {
      return kv.first.first == e.value && kv.first.second + 1 < version;
    });
    secrets[{e.value, version}] = p;
    return p;
  }

  Result<SenderId> SenderFor(EventId event, ClientId client, SenderId asked) {
    if (asked.value == 0) {
      KC_ASSIGN_OR_RETURN(SenderId id, store->AllocateSenderId(event, client, clock->NowSeconds()));
      std::unique_lock<std::shared_mutex> l(senders_mu);
      SweepSendersLocked();
      sender_owner[{event.value, id.value}].client = client;
      return id;
    }
    {
      std::shared_lock<std::shared_mutex> l(senders_mu);
      auto it = sender_owner.find({event.value, asked.value});
      if (it != sender_owner.end()) {
        if (it->second.client != client)
          return PermissionDenied("sender id belongs to another client");
        return asked;
      }
    }
    auto owner = store->SenderOwner(event, asked);
    if (!owner.ok() || *owner != client)
      return PermissionDenied("sender id was not allocated to this client");
    std::unique_lock<std::shared_mutex> l(senders_mu);
    sender_owner[{event.value, asked.value}].client = client;
    return asked;
  }

  // Lists `sender` with the SAs that start before `until`.
  void ListSender(EventId event, SenderId sender, ClientId client, Micros until) {
    std::unique_lock<std::shared_mutex> l(senders_mu);
    SenderRecord& r = sender_owner[{event.value, sender.value}];
    r.client = client;
    r.listed_until = std::max(r.listed_until, until);
  }

  // Forgets sender ids not listed for a day (restarted senders leave theirs
  // behind), so the table stays bounded by the senders active lately.
  void SweepSendersLocked() {
    Micros horizon = clock->Now() - Sec(options.requester_ttl_seconds);
    std::erase_if(sender_owner, [horizon](const auto& kv) {
      return kv.second.listed_until != 0 && kv.second.listed_until < horizon;
    });
  }

  // The senders an SA of `ev` vouches for (docs/key-protocol.md, "Senders"):
  // those listed for it (they fetched a key of the interval before, or of
  // this one), and those of `hints` the store says were allocated to a
  // client; each only while its client may still send. At most
  // kMaxSignersPerSa, the newest ids, ascending; with the public key of each
  // for this interval when the event has source authentication.
  Result<std::vector<Signer>> SignersFor(ThreadCache& t, const Event& ev,
                                         const SecurityAssociation& sa,
                                         const std::vector<SenderId>& hints) {
    std::vector<std::pair<SenderId, ClientId>> found;
    std::vector<SenderId> unknown;
    {
      std::shared_lock<std::shared_mutex> l(senders_mu);
      for (auto it = sender_owner.lower_bound({ev.id.value, 0});
           it != sender_owner.end() && it->first.first == ev.id.value; ++it)
        if (it->second.listed_until > sa.initiation)
          found.emplace_back(SenderId{it->first.second}, it->second.client);
      for (SenderId h : hints) {
        auto it = sender_owner.find({ev.id.value, h.value});
        if (it == sender_owner.end())
          unknown.push_back(h);
        else if (it->second.listed_until <= sa.initiation)
          found.emplace_back(h, it->second.client);
      }
    }
    // A hint this service has not seen (a sender that asked another key
    // server, or this one before a restart): the store knows its owner. An
    // invented id has none and is not vouched for.
    for (SenderId h : unknown) {
      auto owner = store->SenderOwner(ev.id, h);
      if (!owner.ok()) continue;
      ListSender(ev.id, h, *owner, sa.expires());
      found.emplace_back(h, *owner);
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first.value > b.first.value; });
    found.erase(std::unique(found.begin(), found.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                found.end());
    std::vector<Signer> out;
    std::shared_ptr<const SecretBytes> secret;
    if (sa.source_auth) {
      KC_ASSIGN_OR_RETURN(secret, EventSecret(ev.id, ev.keys.InForce(clock->Now()).secret_version));
    }
    for (const auto& [id, client] : found) {
      if (out.size() == limits::kMaxSignersPerSa) break;
      if (!Authorized(t, client, ev.id, Role::kSender)) continue;
      Signer s{id, {}};
      if (sa.source_auth) s.public_key = PublicKey(t, secret, ev.id, sa.epoch, id);
      out.push_back(std::move(s));
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  Bytes PublicKey(ThreadCache& t, const std::shared_ptr<const SecretBytes>& secret, EventId event,
                  Epoch epoch, SenderId sender) {
    PublicKeyKey k{secret.get(), event.value, epoch.packed(), sender.value};
    {
      std::lock_guard<std::mutex> l(public_keys_mu);
      auto it = public_keys.find(k);
      if (it != public_keys.end()) return it->second.public_key;
    }
    SecretBytes seed = SigningSeed(&t.hmac, *secret, event, epoch, sender);
    auto key = crypto::SigningKey::FromSeed(seed);
    if (!key.ok()) return {};  // cannot happen for a 32-byte seed
    Bytes pk = key->public_key();
    std::lock_guard<std::mutex> l(public_keys_mu);
    if (public_keys.size() >= kMaxPublicKeys) public_keys.clear();
    public_keys.emplace(k, PublicKeyEntry{secret, pk});
    return pk;
  }

  void Remember(EventId event, ClientId client, const TicketId& ticket,
                const keyproto::SessionKeys& sk, const sockaddr_storage& from, socklen_t from_len,
                Micros now) {
    if (from_len == 0) return;
    RequesterShard& shard = requesters[ThreadCache::Mix(static_cast<uint64_t>(event.value),
                                                        static_cast<uint64_t>(client.value)) %
                                       kRequesterShards];
    std::lock_guard<std::mutex> l(shard.mu);
    // Forget requesters silent for longer than the TTL, a sweep per 4,096
    // new entries, so the table stays bounded by the clients active lately.
    if (++shard.inserts_since_sweep >= 4096) {
      shard.inserts_since_sweep = 0;
      SweepLocked(shard, now);
    }
    Requester& r = shard.map[{event.value, client.value}];
    if (r.ticket_id != ticket) {
      r.ticket_id = ticket;
      r.wakeup_key = sk.wakeup;
    }
    r.addr = from;
    r.addr_len = from_len;
    r.last_seen = now;
  }
};

KeyEngine::KeyEngine(const Directory* directory, const ServiceKeys* keys, Store* store,
                     const Sealer* sealer, const Clock* clock, KeyServiceOptions options)
    : impl_(new Impl(directory, keys, store, sealer, clock, options)) {}

KeyEngine::~KeyEngine() = default;

void KeyEngine::SetGrantHook(GrantHook hook) { impl_->grant_hook = std::move(hook); }

uint64_t KeyEngine::count(KeyOutcome o) const {
  return impl_->counters[static_cast<size_t>(o)]->value();
}

Result<SecurityAssociation> KeyEngine::DeriveSa(const Event& event, Epoch epoch, Role role,
                                                SenderId sender) {
  return DeriveSaFor(event, epoch, role, sender, InForce(event.keys, impl_->clock->Now()));
}

Result<SecurityAssociation> KeyEngine::DeriveSaFor(const Event& event, Epoch epoch, Role role,
                                                   SenderId sender, KeysInForce keys) {
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
  sa.source_auth = event.source_auth;
  KC_ASSIGN_OR_RETURN(auto secret, impl_->EventSecret(event.id, keys.secret_version));
  // u64 event || u32 occurrence || u32 interval || u32 secret version ||
  // u32 generation || u32 schedule version (docs/key-protocol.md): a key is
  // never the key of another generation, schedule or secret.
  uint8_t ctx[28];
  auto ic = IntervalContext(event.id, epoch);
  std::memcpy(ctx, ic.data(), ic.size());
  StoreBe32(ctx + 16, keys.secret_version);
  StoreBe32(ctx + 20, keys.generation.number);
  StoreBe32(ctx + 24, keys.generation.schedule);
  // Key k is a PRF of the event secret: knowing key k says nothing of k+1.
  // One HKDF Extract of the secret, two Expands (docs/key-protocol.md).
  keyproto::HmacSha256& hmac = CacheFor(impl_->serial).hmac;
  {
    keyproto::HkdfSha256 kdf(&hmac, secret->reveal(), {});
    sa.key = kdf.Expand(labels::kIntervalKey, ByteView(ctx, sizeof ctx), 32);
    uint8_t spi[4];
    kdf.Expand(labels::kIntervalSpi, ByteView(ctx, sizeof ctx), MutableByteView(spi, 4));
    // SPIs 0-255 are reserved (RFC 4303 section 2.1).
    sa.spi.value = std::max<uint32_t>(LoadBe32(spi), 256);
  }
  if (sa.source_auth && role == Role::kSender)
    sa.signing_key = SigningSeed(&hmac, *secret, event.id, epoch, sender);
  return sa;
}

Bytes KeyEngine::Handle(ByteView request, const sockaddr_storage& from, socklen_t from_len,
                        bool over_tcp, KeyOutcome* outcome_out) {
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
      x.latency->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
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
  ThreadCache& tc = CacheFor(x.serial);
  auto cred = OpenCredentialCached(tc, q.credential, *version, sealing);
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
                  "ticket expired " +
                      std::to_string((now - Sec(cred->expires_at)) / kMicrosPerSecond) + " s ago");
  Micros off = q.timestamp - now;
  if (off > skew || off < -skew)
    return refuse(KeyOutcome::kClockSkew, ReplyStatus::kClockSkew,
                  "request timestamp is " + std::to_string(off / kMicrosPerSecond) +
                      " s off; the bound is " + std::to_string(x.options.clock_skew_seconds) +
                      " s");
  auto fresh = x.replay.Insert(parsed->tag, q.timestamp + skew, now);
  if (!fresh)
    return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "replay cache full; retry");
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
  if (!ticket_role)
    return refuse(KeyOutcome::kNotInTicket, ReplyStatus::kNotAuthorized,
                  "event is not in the ticket");
  Role role = *ticket_role;
  if (role == Role::kSender && !x.Authorized(tc, cred->client, q.event, Role::kSender))
    role = Role::kReceiver;
  if (!x.Authorized(tc, cred->client, q.event, role))
    return refuse(KeyOutcome::kNotAuthorized, ReplyStatus::kNotAuthorized,
                  "not authorised for this event (revoked, disabled or deleted)");
  auto event = x.FindEvent(tc, q.event);
  if (!event)
    return refuse(KeyOutcome::kUnknownEvent, ReplyStatus::kNotAuthorized, "event does not exist");
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
    epoch = now_s < occ->start ? Epoch{occ->index, 0}
                               : *EpochAt(ev.schedule, ev.interval_seconds, now_s);
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
    if (now >= closes)
      return refuse(KeyOutcome::kTooLate, ReplyStatus::kTooLate, "that epoch is over");
    epoch = q.epoch;
  }

  SenderId sender;
  if (role == Role::kSender) {
    // A sender joining (an initial request: a start, a restart, a wakeup)
    // gets a fresh sender id, so it never sends again under an id it may
    // have used with the same key: its sequence numbers restart at 1, and
    // (key, sender id, seq) is the nonce (docs/packet-format.md).
    SenderId asked = q.kind == keyproto::RequestKind::kInitial ? SenderId{} : q.sender;
    auto s = x.SenderFor(ev.id, cred->client, asked);
    if (!s.ok())
      return refuse(KeyOutcome::kNotAuthorized, ReplyStatus::kNotAuthorized, s.status().message());
    sender = *s;
  }

  // ---- issue
  KeysInForce keys = InForce(ev.keys, now);
  auto& slot = tc.sas[ThreadCache::Mix(reinterpret_cast<uintptr_t>(event.get()),
                                       epoch.packed() ^ keys.generation.packed()) %
                      ThreadCache::kSaSlots];
  if (slot.event != event || slot.epoch != epoch.packed() || !(slot.keys == keys)) {
    auto sa = DeriveSaFor(ev, epoch, Role::kReceiver, SenderId{}, keys);
    if (!sa.ok())
      return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "cannot derive the key");
    slot.event = event;
    slot.epoch = epoch.packed();
    slot.keys = keys;
    slot.sa = std::move(sa).value();
  }
  reply.sas.push_back(slot.sa);
  SecurityAssociation& sa = reply.sas.back();
  sa.role = role;
  sa.sender = role == Role::kSender ? sender : SenderId{};
  if (!sa.clear) {
    // Senders: listed for this interval and the next, and handed their
    // signing key. Everyone: the senders vouched for (docs/key-protocol.md).
    if (role == Role::kSender) {
      x.ListSender(ev.id, sender, cred->client, sa.expires() + sa.lifetime);
      if (sa.source_auth) {
        auto secret = x.EventSecret(ev.id, keys.secret_version);
        if (!secret.ok())
          return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "cannot derive the key");
        sa.signing_key = SigningSeed(&tc.hmac, **secret, ev.id, epoch, sender);
      }
    }
    auto signers = x.SignersFor(tc, ev, sa, q.signer_hints);
    if (!signers.ok())
      return refuse(KeyOutcome::kInternal, ReplyStatus::kUnavailable, "cannot derive the keys");
    sa.signers = std::move(signers).value();
  }
  if (x.grant_hook) reply.extra = x.grant_hook(ev, cred->client, role, epoch, cred->expires_at);
  Bytes out = keyproto::EncodeReply(reply, sk);
  if (!over_tcp && out.size() > x.options.max_udp_reply) {
    reply.sas.clear();
    return refuse(KeyOutcome::kUseTcp, ReplyStatus::kUseTcp,
                  "the answer does not fit a datagram; ask over TCP");
  }
  x.Remember(ev.id, cred->client, cred->ticket_id, sk, from, from_len, now);
  outcome = KeyOutcome::kOk;
  return out;
}

size_t KeyEngine::RecentClients(EventId event, Micros since) {
  Impl& x = *impl_;
  size_t n = 0;
  for (auto& shard : x.requesters) {
    std::lock_guard<std::mutex> l(shard.mu);
    for (auto it = shard.map.lower_bound({event.value, std::numeric_limits<int64_t>::min()});
         it != shard.map.end() && it->first.first == event.value; ++it)
      if (it->second.last_seen >= since) ++n;
  }
  return n;
}

std::vector<KeyEngine::OutgoingWakeup> KeyEngine::MakeWakeups(EventId event) {
  Impl& x = *impl_;
  Micros now = x.clock->Now();
  std::vector<OutgoingWakeup> out;
  std::vector<std::pair<ClientId, Requester>> targets;
  {
    for (auto& shard : x.requesters) {
      std::lock_guard<std::mutex> l(shard.mu);
      x.SweepLocked(shard, now);
      for (auto it = shard.map.lower_bound({event.value, 0});
           it != shard.map.end() && it->first.first == event.value; ++it)
        targets.emplace_back(ClientId(it->first.second), it->second);
    }
  }
  std::sort(targets.begin(), targets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::lock_guard<std::mutex> l(x.nonces_mu);
  for (auto it = x.nonces.begin(); it != x.nonces.end();) {
    if (it->second.expires < now)
      it = x.nonces.erase(it);
    else
      ++it;
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
