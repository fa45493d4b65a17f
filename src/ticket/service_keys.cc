#include "keycast/service_keys.h"

#include <map>
#include <nlohmann/json.hpp>

namespace keycast {
namespace {

bool IsSigningKind(std::string_view kind) {
  return kind == kTicketSigningKey || kind == kRekeySigningKey;
}

std::string Record(std::string_view kind, KeyVersion v) {
  return std::string(kind) + ":v" + std::to_string(v.value);
}

// The KEK check value: a row of its own kind in service_keys (both
// backends, no schema change), never loaded as a key.
constexpr std::string_view kKekCheckKind = "kek-check";
constexpr std::string_view kKekCheckRecord = "kek-check:v1";
constexpr std::string_view kKekCheckValue = "keycast KEK check value v1";

SecretBytes KekCheckValue() {
  return SecretBytes(
      ByteView(reinterpret_cast<const uint8_t*>(kKekCheckValue.data()), kKekCheckValue.size()));
}

// Ok(true) when the store holds a check value and it opens under this KEK.
Result<bool> VerifyKek(Store* store, const Sealer* sealer) {
  KC_ASSIGN_OR_RETURN(auto rows, store->LoadServiceKeys(std::string(kKekCheckKind)));
  if (rows.empty()) return false;
  auto v = sealer->Open("kek-check", kKekCheckRecord, rows.front().sealed_secret);
  if (!v.ok() || !(*v == KekCheckValue()))
    return FailedPrecondition(
        "this node's key-encryption key is not the cluster's: the store's KEK check value does "
        "not open under it (" +
        (v.ok() ? std::string("wrong value") : v.status().message()) +
        "). Give every node the KEK file `keycast init` created, or the same KEYCAST_KEK");
  return true;
}

Status WriteKekCheck(Store* store, const Sealer* sealer, const Clock* clock) {
  ServiceKey row;
  row.kind = std::string(kKekCheckKind);
  row.version = KeyVersion{1};
  row.created_at = clock->NowSeconds();
  row.sealed_secret = sealer->Seal("kek-check", kKekCheckRecord, KekCheckValue());
  KC_ASSIGN_OR_RETURN(auto txn, store->Begin());
  KC_RETURN_IF_ERROR(txn->InsertServiceKey(row));
  KC_RETURN_IF_ERROR(txn->AppendAudit(AuditRecord{0, row.created_at, "system", "service_key.create",
                                                  "service_key:kek-check", "{}"})
                         .status());
  return txn->Commit();
}

}  // namespace

struct ServiceKeys::State {
  struct Entry {
    KeyInfo info;
    std::shared_ptr<const crypto::SigningKey> signer;
    std::shared_ptr<const crypto::VerifyKey> verifier;
    std::shared_ptr<const SecretBytes> secret;
  };
  std::map<std::string, std::map<uint32_t, Entry>, std::less<>> kinds;

  const Entry* Active(std::string_view kind) const {
    auto it = kinds.find(kind);
    if (it == kinds.end()) return nullptr;
    for (auto r = it->second.rbegin(); r != it->second.rend(); ++r)
      if (r->second.info.retired_at == 0) return &r->second;
    return nullptr;
  }
  const Entry* Find(std::string_view kind, KeyVersion v, int64_t now) const {
    auto it = kinds.find(kind);
    if (it == kinds.end()) return nullptr;
    auto e = it->second.find(v.value);
    if (e == it->second.end()) return nullptr;
    if (e->second.info.usable_until != 0 && now > e->second.info.usable_until) return nullptr;
    return &e->second;
  }
};

ServiceKeys::ServiceKeys(Store* store, const Sealer* sealer, const Clock* clock, int64_t retention)
    : store_(store), sealer_(sealer), clock_(clock), retention_(retention) {}

Result<std::unique_ptr<ServiceKeys>> ServiceKeys::Open(Store* store, const Sealer* sealer,
                                                       const Clock* clock,
                                                       int64_t retention_seconds,
                                                       bool create_missing) {
  std::unique_ptr<ServiceKeys> k(new ServiceKeys(store, sealer, clock, retention_seconds));
  KC_ASSIGN_OR_RETURN(bool checked, VerifyKek(store, sealer));
  // Keys sealed before the check value existed vouch for the KEK first.
  KC_RETURN_IF_ERROR(k->Reload());
  if (create_missing && !checked) {
    Status st = WriteKekCheck(store, sealer, clock);
    if (st.code() == Code::kAlreadyExists) {
      KC_RETURN_IF_ERROR(VerifyKek(store, sealer).status());  // another node wrote it first
    } else {
      KC_RETURN_IF_ERROR(st);
    }
  }
  if (create_missing) {
    for (std::string_view kind : {kTicketSigningKey, kTicketSealingKey, kRekeySigningKey}) {
      if (!k->state()->Active(kind)) {
        auto r = k->Rotate(std::string(kind), Actor{"system"});
        if (!r.ok()) return r.status();
      }
    }
  }
  return k;
}

Result<std::shared_ptr<const ServiceKeys::State>> ServiceKeys::Load() const {
  auto st = std::make_shared<State>();
  for (std::string_view kind : {kTicketSigningKey, kTicketSealingKey, kRekeySigningKey}) {
    KC_ASSIGN_OR_RETURN(auto rows, store_->LoadServiceKeys(std::string(kind)));
    for (auto& row : rows) {
      KC_ASSIGN_OR_RETURN(
          SecretBytes secret,
          sealer_->Open("service-key", Record(kind, row.version), row.sealed_secret));
      State::Entry e;
      e.info =
          KeyInfo{row.kind,       row.version,    row.public_key,
                  row.created_at, row.retired_at, row.retired_at ? row.retired_at + retention_ : 0};
      if (IsSigningKind(kind)) {
        KC_ASSIGN_OR_RETURN(crypto::SigningKey sk, crypto::SigningKey::FromSeed(secret));
        if (sk.public_key() != row.public_key)
          return DataLoss(Record(kind, row.version) +
                          ": stored public key does not match the sealed seed");
        KC_ASSIGN_OR_RETURN(crypto::VerifyKey vk, crypto::VerifyKey::FromBytes(row.public_key));
        e.signer = std::make_shared<const crypto::SigningKey>(std::move(sk));
        e.verifier = std::make_shared<const crypto::VerifyKey>(std::move(vk));
      } else {
        e.secret = std::make_shared<const SecretBytes>(std::move(secret));
      }
      st->kinds[std::string(kind)][row.version.value] = std::move(e);
    }
  }
  return std::shared_ptr<const State>(std::move(st));
}

Status ServiceKeys::Reload() {
  KC_ASSIGN_OR_RETURN(auto st, Load());
  std::lock_guard<std::mutex> l(mu_);
  state_ = std::move(st);
  return Status::Ok();
}

std::shared_ptr<const ServiceKeys::State> ServiceKeys::state() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

Result<KeyVersion> ServiceKeys::Rotate(const std::string& kind, const Actor& actor) {
  if (kind != kTicketSigningKey && kind != kTicketSealingKey && kind != kRekeySigningKey)
    return InvalidArgument("unknown service key kind '" + kind +
                           "' (use ticket-signing, ticket-sealing or rekey-signing)");
  std::lock_guard<std::mutex> rl(rotate_mu_);
  KC_RETURN_IF_ERROR(Reload());
  auto cur = state();
  uint32_t next = 1;
  std::optional<KeyVersion> previous;
  if (auto it = cur->kinds.find(kind); it != cur->kinds.end() && !it->second.empty()) {
    next = it->second.rbegin()->first + 1;
    if (const auto* a = cur->Active(kind)) previous = a->info.version;
  }
  ServiceKey row;
  row.kind = kind;
  row.version = KeyVersion{next};
  row.created_at = clock_->NowSeconds();
  SecretBytes secret = crypto::RandomSecret(32);
  if (IsSigningKind(kind)) {
    KC_ASSIGN_OR_RETURN(crypto::SigningKey sk, crypto::SigningKey::FromSeed(secret));
    row.public_key = sk.public_key();
  }
  row.sealed_secret = sealer_->Seal("service-key", Record(kind, row.version), secret);
  nlohmann::json detail = {{"kind", kind}, {"version", next}};
  KC_ASSIGN_OR_RETURN(auto txn, store_->Begin());
  KC_RETURN_IF_ERROR(txn->InsertServiceKey(row));
  if (previous) KC_RETURN_IF_ERROR(txn->RetireServiceKey(kind, *previous, row.created_at));
  KC_RETURN_IF_ERROR(
      txn->AppendAudit(AuditRecord{0, row.created_at, actor.name, "service_key.rotate",
                                   "service_key:" + kind, detail.dump()})
          .status());
  KC_RETURN_IF_ERROR(txn->Commit());
  KC_RETURN_IF_ERROR(Reload());
  return row.version;
}

ServiceKeys::Signer ServiceKeys::ActiveSigner(std::string_view kind) const {
  auto st = state();
  const auto* e = st->Active(kind);
  if (!e) return Signer{};
  return Signer{e->info.version, e->signer};
}

ServiceKeys::SymmetricKey ServiceKeys::ActiveSealingKey() const {
  auto st = state();
  const auto* e = st->Active(kTicketSealingKey);
  if (!e) return SymmetricKey{};
  return SymmetricKey{e->info.version, e->secret};
}

std::shared_ptr<const crypto::VerifyKey> ServiceKeys::Verifier(std::string_view kind,
                                                               KeyVersion v) const {
  auto st = state();
  const auto* e = st->Find(kind, v, clock_->NowSeconds());
  return e ? e->verifier : nullptr;
}

std::shared_ptr<const SecretBytes> ServiceKeys::SealingKey(KeyVersion v) const {
  auto st = state();
  const auto* e = st->Find(kTicketSealingKey, v, clock_->NowSeconds());
  return e ? e->secret : nullptr;
}

std::vector<ServiceKeys::KeyInfo> ServiceKeys::List(std::string_view kind) const {
  auto st = state();
  std::vector<KeyInfo> out;
  auto it = st->kinds.find(kind);
  if (it == st->kinds.end()) return out;
  int64_t now = clock_->NowSeconds();
  for (auto& [v, e] : it->second)
    if (e.info.usable_until == 0 || now <= e.info.usable_until) out.push_back(e.info);
  return out;
}

}  // namespace keycast
