// The ticket and credential formats of docs/ticket-format.md.
#include <algorithm>
#include <tuple>

#include "keycast/labels.h"
#include "keycast/limits.h"
#include "keycast/ticket.h"
#include "ticket/ticket_encoding.h"

namespace keycast {
namespace {

constexpr uint8_t kMagic[3] = {'K', 'C', 'T'};

void PutAddress(Writer& w, const IpAddress& a) {
  w.U8(static_cast<uint8_t>(a.family));
  w.Raw(ByteView(a.bytes, a.size()));
}

bool GetAddress(Reader& r, IpAddress* a, const char* field) {
  uint8_t fam;
  if (!r.U8(&fam, field)) return false;
  ByteView b;
  switch (fam) {
    case 0:
      *a = IpAddress();
      return true;
    case 4:
      a->family = IpAddress::Family::kV4;
      break;
    case 6:
      a->family = IpAddress::Family::kV6;
      break;
    default:
      return r.Fail(std::string(field) + ": unknown address family " + std::to_string(fam));
  }
  if (!r.Raw(a->size(), &b, field)) return false;
  std::copy(b.begin(), b.end(), a->bytes);
  return true;
}

// One event of the list. E is a TicketEvent or a directory Event: both have
// the fields of the format under the same names; the role and the sender's
// name come apart because an Event names its sender by id.
template <typename E>
void PutEvent(Writer& w, const E& e, Role role, const std::string& sender_name) {
  w.U64(static_cast<uint64_t>(e.id.value));
  w.U64(e.version);
  w.U8(static_cast<uint8_t>(role));
  w.Opaque8(e.name);
  w.Opaque16(e.title);
  w.Opaque8(sender_name);
  PutAddress(w, e.source_address);
  PutAddress(w, e.group_address);
  w.U16(e.port);
  EncodeSchedule(e.schedule, w);
  w.U32(e.interval_seconds);
  w.U32(e.initial_keying_seconds);
  w.U16(e.clear_intervals);
  w.U8(static_cast<uint8_t>(e.algorithm));
  w.U8(static_cast<uint8_t>(e.delivery));
  w.U8(static_cast<uint8_t>(e.key_servers.size()));
  for (const auto& ks : e.key_servers) {
    w.Opaque8(ks.host);
    w.U16(ks.port);
  }
}

bool GetRole(Reader& r, Role* role) {
  uint8_t v;
  if (!r.U8(&v, "role")) return false;
  if (v != 1 && v != 2) return r.Fail("unknown role " + std::to_string(v));
  *role = static_cast<Role>(v);
  return true;
}

bool GetEvent(Reader& r, TicketEvent* e) {
  uint64_t id;
  if (!r.U64(&id, "event id") || !r.U64(&e->version, "event version") || !GetRole(r, &e->role))
    return false;
  if (id == 0 || id > INT64_MAX) return r.Fail("invalid event id");
  e->id = EventId(static_cast<int64_t>(id));
  if (!r.String8(&e->name, "event name", limits::kMaxNameLength) ||
      !r.String16(&e->title, "event title", limits::kMaxTitleLength) ||
      !r.String8(&e->sender_name, "sender name", limits::kMaxNameLength) ||
      !GetAddress(r, &e->source_address, "source address") ||
      !GetAddress(r, &e->group_address, "group address") || !r.U16(&e->port, "port") ||
      !DecodeSchedule(r, &e->schedule) || !r.U32(&e->interval_seconds, "interval") ||
      !r.U32(&e->initial_keying_seconds, "initial keying period") ||
      !r.U16(&e->clear_intervals, "clear intervals"))
    return false;
  if (e->interval_seconds < limits::kMinIntervalSeconds ||
      e->interval_seconds > limits::kMaxIntervalSeconds)
    return r.Fail("interval out of range");
  uint8_t alg, delivery, n;
  if (!r.U8(&alg, "algorithm") || !r.U8(&delivery, "delivery") || !r.U8(&n, "key server count"))
    return false;
  if (!crypto::IsKnownAead(alg)) return r.Fail("unknown algorithm " + std::to_string(alg));
  if (delivery < 1 || delivery > 3)
    return r.Fail("unknown delivery mode " + std::to_string(delivery));
  if (n == 0 || n > limits::kMaxKeyServersPerEvent) return r.Fail("key server count out of range");
  e->algorithm = static_cast<crypto::AeadAlgorithm>(alg);
  e->delivery = static_cast<KeyDelivery>(delivery);
  e->key_servers.resize(n);
  for (auto& ks : e->key_servers) {
    if (!r.String8(&ks.host, "key server host", limits::kMaxHostLength) ||
        !r.U16(&ks.port, "key server port"))
      return false;
    if (ks.host.empty() || ks.port == 0) return r.Fail("empty key server endpoint");
  }
  return true;
}

// Everything before the signature, and the length of that prefix.
bool DecodeBody(Reader& r, Ticket* t) {
  ByteView magic;
  uint8_t version;
  if (!r.Raw(3, &magic, "magic")) return false;
  if (!std::equal(magic.begin(), magic.end(), kMagic))
    return r.Fail("not a Keycast ticket (bad magic)");
  if (!r.U8(&version, "version")) return false;
  if (version != kTicketVersion)
    return r.Fail("unsupported ticket version " + std::to_string(version));
  ByteView id;
  uint64_t client;
  uint16_t ngroups, nevents;
  if (!r.U32(&t->signing_key.value, "signing key version") ||
      !r.U32(&t->sealing_key.value, "sealing key version") || !r.Raw(16, &id, "ticket id") ||
      !r.U64(&client, "client id") ||
      !r.String8(&t->client_name, "client name", limits::kMaxNameLength) ||
      !r.I64(&t->issued_at, "issued at") || !r.I64(&t->expires_at, "expires at") ||
      !r.U16(&ngroups, "group count"))
    return false;
  std::copy(id.begin(), id.end(), t->id.begin());
  if (client == 0 || client > INT64_MAX) return r.Fail("invalid client id");
  t->client = ClientId(static_cast<int64_t>(client));
  if (t->expires_at <= t->issued_at) return r.Fail("expiry is not after issue time");
  if (ngroups > limits::kMaxGroupsPerTicket) return r.Fail("too many groups");
  t->groups.resize(ngroups);
  for (auto& g : t->groups) {
    uint64_t v;
    if (!r.U64(&v, "group id")) return false;
    if (v == 0 || v > INT64_MAX) return r.Fail("invalid group id");
    g = GroupId(static_cast<int64_t>(v));
  }
  if (!r.U16(&nevents, "event count")) return false;
  if (nevents > limits::kMaxEventsPerTicket) return r.Fail("too many events");
  t->events.resize(nevents);
  for (auto& e : t->events)
    if (!GetEvent(r, &e)) return false;
  ByteView cred;
  if (!r.Opaque16(&cred, "credential", limits::kMaxSealedPartBytes)) return false;
  t->credential.assign(cred.begin(), cred.end());
  return true;
}

Bytes SignedMessage(ByteView body) {
  Bytes m;
  m.reserve(labels::kTicketSignature.size() + body.size());
  Writer w(&m);
  w.Raw(labels::kTicketSignature);
  w.Raw(body);
  return m;
}

Bytes CredentialAad(KeyVersion v) {
  Bytes aad(labels::kTicketSealedPart.begin(), labels::kTicketSealedPart.end());
  Writer w(&aad);
  w.U8(kCredentialVersion);
  w.U32(v.value);
  return aad;
}

}  // namespace

const TicketEvent* Ticket::FindEvent(std::string_view name) const {
  for (const auto& e : events)
    if (e.name == name) return &e;
  return nullptr;
}

const TicketEvent* Ticket::FindEvent(EventId event_id) const {
  for (const auto& e : events)
    if (e.id == event_id) return &e;
  return nullptr;
}

std::optional<Role> CredentialContents::RoleFor(EventId e) const {
  auto it = std::lower_bound(events.begin(), events.end(), e,
                             [](const auto& p, EventId x) { return p.first < x; });
  if (it == events.end() || it->first != e) return std::nullopt;
  return it->second;
}

namespace {

// Everything up to the event list.
void PutHead(Writer& w, const Ticket* t) {
  w.Raw(ByteView(kMagic, 3));
  w.U8(kTicketVersion);
  w.U32(t->signing_key.value);
  w.U32(t->sealing_key.value);
  w.Raw(ByteView(t->id.data(), t->id.size()));
  w.U64(static_cast<uint64_t>(t->client.value));
  w.Opaque8(t->client_name);
  w.I64(t->issued_at);
  w.I64(t->expires_at);
  w.U16(static_cast<uint16_t>(t->groups.size()));
  for (GroupId g : t->groups) w.U64(static_cast<uint64_t>(g.value));
}

// The credential and the signature over everything before it.
void PutTail(Writer& w, Bytes& out, Ticket* t, const crypto::SigningKey& key) {
  w.Opaque16(t->credential);
  t->signature = key.Sign(SignedMessage(out));
  w.Raw(t->signature);
}

// Cache hints for the encoder, which reads events scattered over the
// heap: the event's own lines first, then (once those are in) the
// key-server list they point to.
void PrefetchEvent(const Event& e) {
  const char* p = reinterpret_cast<const char*>(&e);
  for (size_t off = 0; off < sizeof(Event); off += 64) __builtin_prefetch(p + off);
}
void PrefetchEventHeap(const Event& e) { __builtin_prefetch(e.key_servers.data()); }

template <typename Events, typename Item>
std::string GrantDigest(const std::vector<GroupId>& groups, const Events& events, Item item) {
  Bytes b;
  b.reserve(groups.size() * 8 + 1 + events.size() * 17);
  Writer w(&b);
  for (GroupId g : groups) w.U64(static_cast<uint64_t>(g.value));
  w.U8(0xff);
  for (const auto& e : events) {
    auto [id, version, role] = item(e);
    w.U64(static_cast<uint64_t>(id.value));
    w.U64(version);
    w.U8(static_cast<uint8_t>(role));
  }
  auto d = crypto::Sha256(b);
  return ToHex(ByteView(d.data(), 16));
}

}  // namespace

Bytes EncodeAndSignTicket(Ticket* t, const crypto::SigningKey& key) {
  Bytes out;
  out.reserve(256 + t->events.size() * 160 + t->credential.size());
  Writer w(&out);
  PutHead(w, t);
  w.U16(static_cast<uint16_t>(t->events.size()));
  for (const auto& e : t->events) PutEvent(w, e, e.role, e.sender_name);
  PutTail(w, out, t, key);
  return out;
}

namespace internal {

Bytes EncodeAndSignTicketWithEvents(Ticket* t, const std::vector<SummaryEvent>& events,
                                    const crypto::SigningKey& key) {
  Bytes out;
  out.reserve(256 + events.size() * 160 + t->credential.size());
  Writer w(&out);
  PutHead(w, t);
  w.U16(static_cast<uint16_t>(events.size()));
  constexpr size_t kAhead = 4;
  const size_t n = events.size();
  for (size_t i = 0; i < std::min(n, kAhead); ++i) PrefetchEvent(*events[i].event);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) PrefetchEvent(*events[i + kAhead].event);
    if (i + kAhead / 2 < n) PrefetchEventHeap(*events[i + kAhead / 2].event);
    PutEvent(w, *events[i].event, events[i].role, events[i].sender_name);
  }
  PutTail(w, out, t, key);
  return out;
}

std::string GrantDigestOfEvents(const std::vector<GroupId>& groups,
                                const std::vector<SummaryEvent>& events) {
  return GrantDigest(groups, events, [](const SummaryEvent& e) {
    return std::tuple(e.event->id, e.event->version, e.role);
  });
}

}  // namespace internal

Result<Ticket> DecodeTicket(ByteView bytes) {
  if (bytes.size() > limits::kMaxTicketBytes)
    return InvalidArgument("ticket larger than " + std::to_string(limits::kMaxTicketBytes) +
                           " bytes");
  Ticket t;
  Reader r(bytes);
  ByteView sig;
  if (!DecodeBody(r, &t) || !r.Raw(crypto::kEd25519SignatureSize, &sig, "signature") || !r.Finish())
    return InvalidArgument("malformed ticket: " + r.error());
  t.signature.assign(sig.begin(), sig.end());
  return t;
}

Result<Ticket> VerifyTicket(ByteView bytes, const VerifyKeyLookup& keys, int64_t now,
                            int64_t skew) {
  KC_ASSIGN_OR_RETURN(Ticket t, DecodeTicket(bytes));
  const crypto::VerifyKey* vk = keys(t.signing_key);
  if (!vk)
    return Unauthenticated("ticket signed with unknown key version " +
                           std::to_string(t.signing_key.value));
  ByteView body = bytes.first(bytes.size() - crypto::kEd25519SignatureSize);
  if (!vk->Verify(SignedMessage(body), t.signature))
    return Unauthenticated("ticket signature is invalid");
  if (now > t.expires_at + skew)
    return FailedPrecondition("ticket expired " + std::to_string(now - t.expires_at) + " s ago");
  if (now + skew < t.issued_at)
    return FailedPrecondition("ticket is not valid for another " +
                              std::to_string(t.issued_at - now) + " s");
  return t;
}

Bytes SealCredential(const CredentialContents& c, KeyVersion v, const SecretBytes& key) {
  SecretBytes plain;
  {
    Bytes p;
    Writer w(&p);
    w.Raw(ByteView(c.ticket_id.data(), c.ticket_id.size()));
    w.U64(static_cast<uint64_t>(c.client.value));
    w.I64(c.issued_at);
    w.I64(c.expires_at);
    w.Raw(c.session_key.reveal());
    w.U16(static_cast<uint16_t>(c.events.size()));
    for (auto& [e, role] : c.events) {
      w.U64(static_cast<uint64_t>(e.value));
      w.U8(static_cast<uint8_t>(role));
    }
    plain = SecretBytes(p);
    SecureWipe(p.data(), p.size());
  }
  Bytes out;
  Writer w(&out);
  w.U8(kCredentialVersion);
  w.U32(v.value);
  w.Raw(crypto::SealOnce(crypto::AeadAlgorithm::kAes256Gcm, key, CredentialAad(v), plain.reveal()));
  return out;
}

Result<KeyVersion> CredentialKeyVersion(ByteView credential) {
  Reader r(credential);
  uint8_t version;
  KeyVersion v;
  if (!r.U8(&version, "credential version") || !r.U32(&v.value, "sealing key version"))
    return InvalidArgument("malformed credential: " + r.error());
  if (version != kCredentialVersion)
    return InvalidArgument("unsupported credential version " + std::to_string(version));
  return v;
}

Result<CredentialContents> OpenCredential(ByteView credential, const SecretBytes& key) {
  if (credential.size() > limits::kMaxSealedPartBytes)
    return InvalidArgument("credential too large");
  KC_ASSIGN_OR_RETURN(KeyVersion v, CredentialKeyVersion(credential));
  auto plain = crypto::OpenOnce(crypto::AeadAlgorithm::kAes256Gcm, key, CredentialAad(v),
                                credential.subspan(5));
  if (!plain.ok()) return Unauthenticated("credential does not authenticate");
  return DecodeCredentialPlaintext(plain->reveal());
}

Result<CredentialContents> DecodeCredentialPlaintext(ByteView plain) {
  CredentialContents c;
  Reader r(plain);
  ByteView id, sk;
  uint64_t client;
  uint16_t n;
  if (!r.Raw(16, &id, "ticket id") || !r.U64(&client, "client id") ||
      !r.I64(&c.issued_at, "issued at") || !r.I64(&c.expires_at, "expires at") ||
      !r.Raw(limits::kSessionKeySize, &sk, "session key") || !r.U16(&n, "event count"))
    return InvalidArgument("malformed credential: " + r.error());
  if (n > limits::kMaxEventsPerTicket || client == 0 || client > INT64_MAX)
    return InvalidArgument("malformed credential: bounds");
  std::copy(id.begin(), id.end(), c.ticket_id.begin());
  c.client = ClientId(static_cast<int64_t>(client));
  c.session_key = SecretBytes(sk);
  c.events.resize(n);
  for (auto& [e, role] : c.events) {
    uint64_t ev;
    if (!r.U64(&ev, "event id") || !GetRole(r, &role))
      return InvalidArgument("malformed credential: " + r.error());
    e = EventId(static_cast<int64_t>(ev));
  }
  if (!r.Finish()) return InvalidArgument("malformed credential: " + r.error());
  if (!std::is_sorted(c.events.begin(), c.events.end(),
                      [](auto& a, auto& b) { return a.first < b.first; }))
    return InvalidArgument("malformed credential: events not sorted");
  return c;
}

std::string TicketGrantDigest(const std::vector<GroupId>& groups,
                              const std::vector<TicketEvent>& events) {
  return GrantDigest(groups, events,
                     [](const TicketEvent& e) { return std::tuple(e.id, e.version, e.role); });
}

}  // namespace keycast
