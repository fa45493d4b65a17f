// Encoding and decoding of the key protocol (docs/key-protocol.md).
//
// HMAC-SHA256 runs on OpenSSL's SHA-256 block functions (SHA256_Init/Update/
// Final, deprecated in OpenSSL 3 in favour of EVP but kept, and using the
// same SHA-NI / AVX2 code): the keyed inner and outer states are plain
// structs copied per message, where EVP_MAC re-initialises provider
// contexts and looks up parameters by name on every key and message. The
// equivalence with crypto::HmacSha256 is tested (src/bench/keys/hot_path_test.cc).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "keycast/codec.h"
#include "keycast/crypto.h"
#include "keycast/key_protocol.h"
#include "keycast/labels.h"
#include "keycast/limits.h"

namespace keycast::keyproto {
namespace {

constexpr uint8_t kMagic[3] = {'K', 'C', 'K'};

void PutHeader(Writer& w, MessageType t, uint8_t flags = 0) {
  w.Raw(ByteView(kMagic, 3));
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(t));
  w.U8(flags);  // reserved (0) except for a request's kRequestFlagHints
}

// `allowed`: the flag bits this message type defines; *flags_out gets them.
bool GetHeader(Reader& r, MessageType want, uint8_t allowed = 0, uint8_t* flags_out = nullptr) {
  ByteView magic;
  uint8_t version, type, flags;
  if (!r.Raw(3, &magic, "magic")) return false;
  if (magic[0] != 'K' || magic[1] != 'C' || magic[2] != 'K')
    return r.Fail("not a Keycast key message");
  if (!r.U8(&version, "version") || !r.U8(&type, "type") || !r.U8(&flags, "flags")) return false;
  if (version != kVersion) return r.Fail("unsupported version " + std::to_string(version));
  if (type != static_cast<uint8_t>(want))
    return r.Fail("unexpected message type " + std::to_string(type));
  if ((flags & ~allowed) != 0) return r.Fail("unknown flags");
  if (flags_out) *flags_out = flags;
  return true;
}

void PutAddress(Writer& w, const IpAddress& a) {
  w.U8(static_cast<uint8_t>(a.family));
  w.Raw(ByteView(a.bytes, a.size()));
}

bool GetAddress(Reader& r, IpAddress* a, const char* field) {
  uint8_t fam;
  if (!r.U8(&fam, field)) return false;
  if (fam == 0) {
    *a = IpAddress();
    return true;
  }
  if (fam != 4 && fam != 6) return r.Fail(std::string(field) + ": unknown family");
  a->family = static_cast<IpAddress::Family>(fam);
  ByteView b;
  if (!r.Raw(a->size(), &b, field)) return false;
  std::copy(b.begin(), b.end(), a->bytes);
  return true;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "keycast: fatal crypto failure: %s\n", what);
  std::abort();
}

// Fetched once per process: an implicit fetch on every init is part of what
// makes OpenSSL 3's one-shot calls slow.
EVP_CIPHER* GcmAlgorithm() {
  static EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (!c) Die("EVP_CIPHER_fetch(AES-256-GCM)");
    return c;
  }();
  return cipher;
}

// One of each per thread for the free functions, whose keys change with
// every call.
HmacSha256& ThreadHmac() {
  thread_local HmacSha256 h;
  return h;
}
AesGcm& ThreadGcm() {
  thread_local AesGcm g;
  return g;
}

// Random AEAD nonces for replies, drawn from OpenSSL's CSPRNG 4 KiB at a
// time per thread (one RAND_bytes call per 341 replies instead of one each).
// A fork bumps the generation, so a child never reuses its parent's pool.
std::atomic<uint64_t> g_fork_generation{0};

void RandomNonce(uint8_t* out) {
  struct Pool {
    uint8_t buf[4096 - 4096 % crypto::kAeadNonceSize];
    size_t pos = sizeof buf;
    uint64_t generation = 0;
  };
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  thread_local Pool pool;
  uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (pool.pos + crypto::kAeadNonceSize > sizeof pool.buf || pool.generation != gen) {
    crypto::RandomFill(MutableByteView(pool.buf, sizeof pool.buf));
    pool.pos = 0;
    pool.generation = gen;
  }
  std::memcpy(out, pool.buf + pool.pos, crypto::kAeadNonceSize);
  pool.pos += crypto::kAeadNonceSize;
}

crypto::Digest Mac(const SecretBytes& key, ByteView data) {
  HmacSha256& h = ThreadHmac();
  h.SetKey(key.reveal());
  return h.Mac(data);
}

Bytes EncodeRequestWith(const Request& q, HmacSha256& auth) {
  Bytes out;
  out.reserve(kHeaderSize + 2 + q.credential.size() + kNonceSize + 45 + 1 +
              4 * q.signer_hints.size() + kTagSize);
  Writer w(&out);
  PutHeader(w, MessageType::kRequest, q.signer_hints.empty() ? 0 : kRequestFlagHints);
  w.Opaque16(q.credential);
  w.Raw(ByteView(q.client_nonce.data(), q.client_nonce.size()));
  w.I64(q.timestamp);
  w.U64(q.server_nonce);
  w.U64(static_cast<uint64_t>(q.event.value));
  w.U8(static_cast<uint8_t>(q.kind));
  w.U64(q.epoch.packed());
  w.U32(q.sender.value);
  if (!q.signer_hints.empty()) {
    // REQUIRES (checked by ParseRequest on the other side): 1..4 distinct nonzero ids.
    w.U8(static_cast<uint8_t>(q.signer_hints.size()));
    for (SenderId s : q.signer_hints) w.U32(s.value);
  }
  auto tag = auth.Mac(out);
  w.Raw(ByteView(tag.data(), kTagSize));
  return out;
}

Result<Reply> OpenReplyWith(ByteView bytes, AesGcm& reply_key, const Nonce& expected) {
  if (bytes.size() > kMaxMessageBytes) return InvalidArgument("reply too large");
  Reader r(bytes);
  ByteView nonce;
  if (!GetHeader(r, MessageType::kReply) || !r.Raw(kNonceSize, &nonce, "client nonce"))
    return InvalidArgument("malformed key reply: " + r.error());
  if (!std::equal(nonce.begin(), nonce.end(), expected.begin()))
    return InvalidArgument("reply answers another request");
  ByteView aad = bytes.first(kHeaderSize + kNonceSize);
  ByteView sealed = r.rest();
  if (sealed.size() < crypto::kAeadNonceSize + crypto::kAeadTagSize)
    return Unauthenticated("key reply does not authenticate");
  SecretBytes plain(sealed.size() - crypto::kAeadNonceSize - crypto::kAeadTagSize);
  if (!reply_key.Open(sealed.first(crypto::kAeadNonceSize), aad,
                      sealed.subspan(crypto::kAeadNonceSize), plain.reveal_mutable().data()))
    return Unauthenticated("key reply does not authenticate");
  KC_ASSIGN_OR_RETURN(Reply rep, DecodeReplyBody(plain.reveal()));
  rep.client_nonce = expected;
  return rep;
}

}  // namespace

// ---- hot-path primitives

struct HmacSha256::Ctx {
  SHA256_CTX inner, outer;  // after the key XOR ipad / opad block
  ~Ctx() { OPENSSL_cleanse(this, sizeof *this); }
};

HmacSha256::HmacSha256() : ctx_(new Ctx) { SetKey({}); }

HmacSha256::~HmacSha256() = default;

void HmacSha256::SetKey(ByteView key) {
  // RFC 2104: a key longer than the block is hashed; a shorter one (the empty
  // key included) is padded with zeros.
  constexpr size_t kBlock = 64;
  uint8_t k[kBlock] = {};
  if (key.size() > kBlock)
    SHA256(key.data(), key.size(), k);
  else if (!key.empty())
    std::memcpy(k, key.data(), key.size());
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  if (SHA256_Init(&ctx_->inner) != 1 || SHA256_Update(&ctx_->inner, pad, kBlock) != 1)
    Die("HMAC key");
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  if (SHA256_Init(&ctx_->outer) != 1 || SHA256_Update(&ctx_->outer, pad, kBlock) != 1)
    Die("HMAC key");
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}

crypto::Digest HmacSha256::Mac(ByteView a, ByteView b, ByteView c) {
  SHA256_CTX h = ctx_->inner;
  crypto::Digest inner, d;
  if ((!a.empty() && SHA256_Update(&h, a.data(), a.size()) != 1) ||
      (!b.empty() && SHA256_Update(&h, b.data(), b.size()) != 1) ||
      (!c.empty() && SHA256_Update(&h, c.data(), c.size()) != 1) ||
      SHA256_Final(inner.data(), &h) != 1)
    Die("HMAC");
  h = ctx_->outer;
  if (SHA256_Update(&h, inner.data(), inner.size()) != 1 || SHA256_Final(d.data(), &h) != 1)
    Die("HMAC");
  OPENSSL_cleanse(&h, sizeof h);
  OPENSSL_cleanse(inner.data(), inner.size());
  return d;
}

HkdfSha256::HkdfSha256(HmacSha256* hmac, ByteView ikm, ByteView salt) : hmac_(hmac) {
  hmac_->SetKey(salt);
  crypto::Digest prk = hmac_->Mac(ikm);
  hmac_->SetKey(ByteView(prk.data(), prk.size()));
  OPENSSL_cleanse(prk.data(), prk.size());
}

void HkdfSha256::Expand(std::string_view label, ByteView context, MutableByteView out) {
  if (out.empty() || out.size() > crypto::kSha256Size) Die("HKDF output length");
  static const uint8_t kCounter = 1;
  crypto::Digest t = hmac_->Mac(AsBytes(label), context, ByteView(&kCounter, 1));
  std::memcpy(out.data(), t.data(), out.size());
  OPENSSL_cleanse(t.data(), t.size());
}

SecretBytes HkdfSha256::Expand(std::string_view label, ByteView context, size_t length) {
  SecretBytes out(length);
  Expand(label, context, out.reveal_mutable());
  return out;
}

struct AesGcm::Ctx {
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  // Each direction runs its key schedule on first use after SetKey: the key
  // service seals under a reply key it never opens with.
  uint8_t key[crypto::kAeadKeySize] = {};
  bool enc_keyed = false, dec_keyed = false;
  ~Ctx() {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    OPENSSL_cleanse(key, sizeof key);
  }
};

AesGcm::AesGcm() : ctx_(new Ctx) {
  ctx_->enc = EVP_CIPHER_CTX_new();
  ctx_->dec = EVP_CIPHER_CTX_new();
  if (!ctx_->enc || !ctx_->dec ||
      EVP_EncryptInit_ex(ctx_->enc, GcmAlgorithm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx_->dec, GcmAlgorithm(), nullptr, nullptr, nullptr) != 1)
    Die("AES-GCM context");
}

AesGcm::~AesGcm() = default;

void AesGcm::SetKey(ByteView key) {
  if (key.size() != crypto::kAeadKeySize) Die("AES-GCM key size");
  std::memcpy(ctx_->key, key.data(), sizeof ctx_->key);
  ctx_->enc_keyed = ctx_->dec_keyed = false;
}

bool AesGcm::Seal(ByteView nonce, ByteView aad, ByteView plaintext, uint8_t* out) {
  if (nonce.size() != crypto::kAeadNonceSize) return false;
  EVP_CIPHER_CTX* c = ctx_->enc;
  int n = 0, len = 0, fin = 0;
  if (!ctx_->enc_keyed) {
    if (EVP_EncryptInit_ex(c, nullptr, nullptr, ctx_->key, nonce.data()) != 1) return false;
    ctx_->enc_keyed = true;
  } else if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1) {
    return false;
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(c, out, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    return false;
  if (EVP_EncryptFinal_ex(c, out + len, &fin) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, crypto::kAeadTagSize,
                             out + plaintext.size()) == 1;
}

bool AesGcm::Open(ByteView nonce, ByteView aad, ByteView ct, uint8_t* out) {
  if (nonce.size() != crypto::kAeadNonceSize || ct.size() < crypto::kAeadTagSize) return false;
  EVP_CIPHER_CTX* c = ctx_->dec;
  size_t body = ct.size() - crypto::kAeadTagSize;
  uint8_t tag[crypto::kAeadTagSize];  // first: out may alias ct
  std::memcpy(tag, ct.data() + body, sizeof tag);
  int n = 0, len = 0, fin = 0;
  if (!ctx_->dec_keyed) {
    if (EVP_DecryptInit_ex(c, nullptr, nullptr, ctx_->key, nonce.data()) != 1) return false;
    ctx_->dec_keyed = true;
  } else if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1) {
    return false;
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (body > 0 && EVP_DecryptUpdate(c, out, &len, ct.data(), static_cast<int>(body)) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) != 1) return false;
  return EVP_DecryptFinal_ex(c, out + len, &fin) == 1;
}

struct SessionContext::Impl {
  HmacSha256 auth;
  AesGcm reply;
};

SessionContext::SessionContext(const SessionKeys& keys) : impl_(new Impl) {
  impl_->auth.SetKey(keys.auth.reveal());
  impl_->reply.SetKey(keys.reply.reveal());
}
SessionContext::~SessionContext() = default;
SessionContext::SessionContext(SessionContext&&) noexcept = default;
SessionContext& SessionContext::operator=(SessionContext&&) noexcept = default;

Bytes SessionContext::EncodeRequest(const Request& r) { return EncodeRequestWith(r, impl_->auth); }

Result<Reply> SessionContext::OpenReply(ByteView bytes, const Nonce& expected) {
  return OpenReplyWith(bytes, impl_->reply, expected);
}

// ---- messages

std::string_view ReplyStatusName(ReplyStatus s) {
  switch (s) {
    case ReplyStatus::kOk:
      return "ok";
    case ReplyStatus::kNotAuthorized:
      return "not_authorized";
    case ReplyStatus::kTooEarly:
      return "too_early";
    case ReplyStatus::kTooLate:
      return "too_late";
    case ReplyStatus::kBadNonce:
      return "bad_nonce";
    case ReplyStatus::kUseTcp:
      return "use_tcp";
    case ReplyStatus::kUnavailable:
      return "unavailable";
    case ReplyStatus::kClockSkew:
      return "clock_skew";
  }
  return "unknown";
}

SessionKeys SessionKeys::Derive(const SecretBytes& session_key, const TicketId& ticket_id) {
  // One Extract, three Expands: the same keys as three crypto::Hkdf calls.
  HkdfSha256 kdf(&ThreadHmac(), session_key.reveal(), ByteView(ticket_id.data(), ticket_id.size()));
  SessionKeys k;
  k.auth = kdf.Expand(labels::kKeyRequestAuth, {}, 32);
  k.reply = kdf.Expand(labels::kKeyReply, {}, 32);
  k.wakeup = kdf.Expand(labels::kWakeup, {}, 32);
  return k;
}

std::optional<MessageType> PeekType(ByteView b) {
  if (b.size() < kHeaderSize || b[0] != 'K' || b[1] != 'C' || b[2] != 'K' || b[3] != kVersion)
    return std::nullopt;
  if (b[4] < 1 || b[4] > 3) return std::nullopt;
  return static_cast<MessageType>(b[4]);
}

Bytes EncodeRequest(const Request& q, const SessionKeys& keys) {
  HmacSha256& h = ThreadHmac();
  h.SetKey(keys.auth.reveal());
  return EncodeRequestWith(q, h);
}

Result<ParsedRequest> ParseRequest(ByteView bytes) {
  if (bytes.size() > limits::kMaxTcpMessageBytes) return InvalidArgument("request too large");
  ParsedRequest p;
  Request& q = p.request;
  Reader r(bytes);
  ByteView cred, nonce, tag;
  uint64_t event, epoch;
  uint8_t kind, flags = 0;
  if (!GetHeader(r, MessageType::kRequest, kRequestFlagHints, &flags) ||
      !r.Opaque16(&cred, "credential", limits::kMaxSealedPartBytes) ||
      !r.Raw(kNonceSize, &nonce, "client nonce") || !r.I64(&q.timestamp, "timestamp") ||
      !r.U64(&q.server_nonce, "server nonce") || !r.U64(&event, "event") || !r.U8(&kind, "kind") ||
      !r.U64(&epoch, "epoch") || !r.U32(&q.sender.value, "sender"))
    return InvalidArgument("malformed key request: " + r.error());
  if (flags & kRequestFlagHints) {
    uint8_t n;
    if (!r.U8(&n, "hint count")) return InvalidArgument("malformed key request: " + r.error());
    if (n == 0 || n > limits::kMaxSignerHints)
      return InvalidArgument("malformed key request: 1 to " +
                             std::to_string(limits::kMaxSignerHints) + " sender hints");
    for (uint8_t i = 0; i < n; ++i) {
      SenderId s;
      if (!r.U32(&s.value, "sender hint"))
        return InvalidArgument("malformed key request: " + r.error());
      if (s.value == 0 ||
          std::find(q.signer_hints.begin(), q.signer_hints.end(), s) != q.signer_hints.end())
        return InvalidArgument("malformed key request: sender hints must be nonzero and distinct");
      q.signer_hints.push_back(s);
    }
  }
  size_t signed_len = r.offset();
  if (!r.Raw(kTagSize, &tag, "tag") || !r.Finish())
    return InvalidArgument("malformed key request: " + r.error());
  if (kind != 1 && kind != 2) return InvalidArgument("malformed key request: unknown kind");
  if (event == 0 || event > INT64_MAX)
    return InvalidArgument("malformed key request: invalid event id");
  q.credential.assign(cred.begin(), cred.end());
  std::copy(nonce.begin(), nonce.end(), q.client_nonce.begin());
  q.event = EventId(static_cast<int64_t>(event));
  q.kind = static_cast<RequestKind>(kind);
  q.epoch = Epoch::FromPacked(epoch);
  p.signed_part = bytes.first(signed_len);
  p.tag = tag;
  return p;
}

bool VerifyRequestTag(const ParsedRequest& p, const SessionKeys& keys) {
  auto tag = Mac(keys.auth, p.signed_part);
  return p.tag.size() == kTagSize && CRYPTO_memcmp(tag.data(), p.tag.data(), kTagSize) == 0;
}

Bytes EncodeReply(const Reply& rep, const SessionKeys& keys) {
  // The body is written straight after the header and the AEAD nonce and
  // encrypted in place, so the plaintext keys exist nowhere else; the
  // reservation means no reallocation leaves a copy behind.
  constexpr size_t kPrefix = kHeaderSize + kNonceSize + crypto::kAeadNonceSize;
  Bytes out;
  size_t signer_bytes = 0;
  for (const auto& sa : rep.sas) signer_bytes += 34 + sa.signers.size() * (5 + 32);
  out.reserve(kPrefix + 64 + rep.sas.size() * 128 + signer_bytes + rep.extra.size() +
              crypto::kAeadTagSize);
  Writer w(&out);
  PutHeader(w, MessageType::kReply);
  w.Raw(ByteView(rep.client_nonce.data(), rep.client_nonce.size()));
  out.resize(kPrefix);
  RandomNonce(out.data() + kHeaderSize + kNonceSize);
  w.U8(static_cast<uint8_t>(rep.status));
  w.Opaque8(std::string_view(rep.reason).substr(0, kMaxReasonLength));
  w.I64(rep.server_time);
  w.I64(rep.retry_after);
  w.U64(static_cast<uint64_t>(rep.event.value));
  w.U8(static_cast<uint8_t>(rep.sas.size()));
  for (const auto& sa : rep.sas) {
    w.U64(sa.epoch.packed());
    w.U32(sa.spi.value);
    w.U8(static_cast<uint8_t>(sa.algorithm));
    w.U8(static_cast<uint8_t>((sa.clear ? kSaFlagClear : 0) |
                              (sa.role == Role::kSender ? kSaFlagSender : 0) |
                              (sa.source_auth ? kSaFlagSourceAuth : 0)));
    w.I64(sa.initiation);
    w.I64(sa.lifetime);
    w.I64(sa.grace);
    w.U32(sa.sender.value);
    w.Opaque8(sa.key.reveal());
    PutAddress(w, sa.group);
    w.U16(sa.port);
    PutAddress(w, sa.source);
    w.Opaque8(sa.signing_key.reveal());
    w.U8(static_cast<uint8_t>(sa.signers.size()));
    for (const Signer& s : sa.signers) {
      w.U32(s.sender.value);
      w.Opaque8(s.public_key);
    }
  }
  w.Opaque16(rep.extra);
  size_t body = out.size() - kPrefix;
  out.resize(out.size() + crypto::kAeadTagSize);
  AesGcm& gcm = ThreadGcm();
  gcm.SetKey(keys.reply.reveal());
  uint8_t* p = out.data();
  if (!gcm.Seal(ByteView(p + kHeaderSize + kNonceSize, crypto::kAeadNonceSize),
                ByteView(p, kHeaderSize + kNonceSize), ByteView(p + kPrefix, body), p + kPrefix))
    Die("AES-GCM seal");
  return out;
}

Result<Reply> DecodeReplyBody(ByteView plain) {
  Reply rep;
  Reader r(plain);
  uint8_t status, n;
  uint64_t event;
  if (!r.U8(&status, "status") || !r.String8(&rep.reason, "reason", kMaxReasonLength) ||
      !r.I64(&rep.server_time, "server time") || !r.I64(&rep.retry_after, "retry after") ||
      !r.U64(&event, "event") || !r.U8(&n, "SA count"))
    return InvalidArgument("malformed key reply: " + r.error());
  if (status > static_cast<uint8_t>(ReplyStatus::kClockSkew))
    return InvalidArgument("malformed key reply: status");
  if (n > kMaxSasPerReply) return InvalidArgument("malformed key reply: too many SAs");
  if (event > INT64_MAX) return InvalidArgument("malformed key reply: event");
  rep.status = static_cast<ReplyStatus>(status);
  rep.event = EventId(static_cast<int64_t>(event));
  rep.sas.resize(n);
  for (auto& sa : rep.sas) {
    uint64_t epoch;
    uint8_t alg, flags;
    ByteView key;
    if (!r.U64(&epoch, "epoch") || !r.U32(&sa.spi.value, "spi") || !r.U8(&alg, "algorithm") ||
        !r.U8(&flags, "flags") || !r.I64(&sa.initiation, "initiation") ||
        !r.I64(&sa.lifetime, "lifetime") || !r.I64(&sa.grace, "grace") ||
        !r.U32(&sa.sender.value, "sender") || !r.Opaque8(&key, "key", 32) ||
        !GetAddress(r, &sa.group, "group") || !r.U16(&sa.port, "port") ||
        !GetAddress(r, &sa.source, "source"))
      return InvalidArgument("malformed key reply: " + r.error());
    constexpr uint8_t kKnownFlags = kSaFlagClear | kSaFlagSender | kSaFlagSourceAuth;
    if (!crypto::IsKnownAead(alg) || (flags & ~kKnownFlags) != 0)
      return InvalidArgument("malformed key reply: SA fields");
    sa.event = rep.event;
    sa.epoch = Epoch::FromPacked(epoch);
    sa.algorithm = static_cast<crypto::AeadAlgorithm>(alg);
    sa.clear = flags & kSaFlagClear;
    sa.role = (flags & kSaFlagSender) ? Role::kSender : Role::kReceiver;
    sa.source_auth = flags & kSaFlagSourceAuth;
    if (sa.clear != key.empty() || (!sa.clear && key.size() != 32) || sa.lifetime <= 0 ||
        sa.grace < 0)
      return InvalidArgument("malformed key reply: SA key does not match its kind");
    if (sa.clear && sa.source_auth)
      return InvalidArgument("malformed key reply: a clear SA has no source authentication");
    sa.key = SecretBytes(key);
    // Source authentication: a sender's SA carries its signing key, and every
    // SA lists the senders it vouches for (with their public keys).
    ByteView seed;
    uint8_t signers;
    if (!r.Opaque8(&seed, "signing key", crypto::kEd25519SeedSize) ||
        !r.U8(&signers, "signer count"))
      return InvalidArgument("malformed key reply: " + r.error());
    bool wants_seed = sa.source_auth && sa.role == Role::kSender;
    if (seed.size() != (wants_seed ? crypto::kEd25519SeedSize : 0))
      return InvalidArgument("malformed key reply: signing key does not match the SA");
    if (signers > limits::kMaxSignersPerSa)
      return InvalidArgument("malformed key reply: too many signers");
    sa.signing_key = SecretBytes(seed);
    sa.signers.resize(signers);
    uint32_t last = 0;
    for (Signer& s : sa.signers) {
      ByteView pk;
      if (!r.U32(&s.sender.value, "signer") ||
          !r.Opaque8(&pk, "signer key", crypto::kEd25519PublicKeySize))
        return InvalidArgument("malformed key reply: " + r.error());
      if (s.sender.value <= last)
        return InvalidArgument("malformed key reply: signers must be ascending and nonzero");
      last = s.sender.value;
      if (pk.size() != (sa.source_auth ? crypto::kEd25519PublicKeySize : 0))
        return InvalidArgument("malformed key reply: signer key does not match the SA");
      s.public_key.assign(pk.begin(), pk.end());
    }
  }
  ByteView extra;
  if (!r.Opaque16(&extra, "extra", kMaxExtraBytes) || !r.Finish())
    return InvalidArgument("malformed key reply: " + r.error());
  rep.extra.assign(extra.begin(), extra.end());
  return rep;
}

Result<Reply> OpenReply(ByteView bytes, const SessionKeys& keys, const Nonce& expected) {
  AesGcm& gcm = ThreadGcm();
  gcm.SetKey(keys.reply.reveal());
  return OpenReplyWith(bytes, gcm, expected);
}

Bytes EncodeWakeup(const Wakeup& wk, const SessionKeys& keys) {
  Bytes out;
  Writer w(&out);
  PutHeader(w, MessageType::kWakeup);
  w.Raw(ByteView(wk.ticket_id.data(), wk.ticket_id.size()));
  w.U64(static_cast<uint64_t>(wk.event.value));
  w.U64(wk.server_nonce);
  w.I64(wk.issued_at);
  auto tag = Mac(keys.wakeup, out);
  w.Raw(ByteView(tag.data(), kTagSize));
  return out;
}

Result<Wakeup> ParseWakeup(ByteView bytes) {
  Wakeup wk;
  Reader r(bytes);
  ByteView id, tag;
  uint64_t event;
  if (!GetHeader(r, MessageType::kWakeup) || !r.Raw(16, &id, "ticket id") ||
      !r.U64(&event, "event") || !r.U64(&wk.server_nonce, "server nonce") ||
      !r.I64(&wk.issued_at, "issued at") || !r.Raw(kTagSize, &tag, "tag") || !r.Finish())
    return InvalidArgument("malformed wakeup: " + r.error());
  if (event == 0 || event > INT64_MAX) return InvalidArgument("malformed wakeup: event");
  if (wk.server_nonce == kClientInitiated)
    return InvalidArgument("wakeup carries the reserved nonce");
  std::copy(id.begin(), id.end(), wk.ticket_id.begin());
  wk.event = EventId(static_cast<int64_t>(event));
  return wk;
}

bool VerifyWakeup(ByteView bytes, const SessionKeys& keys) {
  if (bytes.size() < kTagSize) return false;
  auto tag = Mac(keys.wakeup, bytes.first(bytes.size() - kTagSize));
  return CRYPTO_memcmp(tag.data(), bytes.data() + bytes.size() - kTagSize, kTagSize) == 0;
}

}  // namespace keycast::keyproto
