// A Store wrapper that fails on demand, for tests of "nothing acknowledged is
// lost, nothing refused is half-written": the directory must leave its
// in-memory state untouched when the store refuses a change.
#pragma once

#include <atomic>
#include <memory>

#include "keycast/store.h"

namespace keycast {

class FaultInjectingStore final : public Store {
 public:
  explicit FaultInjectingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  // The next N commits fail with Unavailable (the transaction rolls back).
  void FailNextCommits(int n) { fail_commits_.store(n); }
  // The next N Begin calls fail with Unavailable.
  void FailNextBegins(int n) { fail_begins_.store(n); }
  int commits() const { return commits_.load(); }

  Result<std::unique_ptr<StoreTxn>> Begin() override;
  Status LoadDirectory(DirectoryData* out) override { return inner_->LoadDirectory(out); }
  Result<Bytes> GetEventSecret(EventId e, uint32_t v) override {
    return inner_->GetEventSecret(e, v);
  }
  Result<std::vector<EventSecretInfo>> ListEventSecrets(EventId e) override {
    return inner_->ListEventSecrets(e);
  }
  Result<std::vector<ServiceKey>> LoadServiceKeys(const std::string& k) override {
    return inner_->LoadServiceKeys(k);
  }
  Result<std::vector<AuditRecord>> ReadAudit(int64_t after, size_t limit) override {
    return inner_->ReadAudit(after, limit);
  }
  Result<SenderId> AllocateSenderId(EventId e, ClientId c, int64_t now) override {
    return inner_->AllocateSenderId(e, c, now);
  }
  Result<ClientId> SenderOwner(EventId e, SenderId s) override { return inner_->SenderOwner(e, s); }
  Result<Reservation> GetReservation(ReservationId id) override {
    return inner_->GetReservation(id);
  }
  Result<Reservation> FindReservation(const std::string& name) override {
    return inner_->FindReservation(name);
  }
  Result<std::vector<Reservation>> ListReservations(ClientId sender, bool active_only,
                                                    const std::string& after,
                                                    size_t limit) override {
    return inner_->ListReservations(sender, active_only, after, limit);
  }
  Result<std::vector<ReservationReceiver>> LoadReservationReceivers(ReservationId id) override {
    return inner_->LoadReservationReceivers(id);
  }
  Result<std::vector<GroupId>> LoadReservationGroups(ReservationId id) override {
    return inner_->LoadReservationGroups(id);
  }
  Result<std::vector<AccessGrant>> LoadAccessGrants(ReservationId id) override {
    return inner_->LoadAccessGrants(id);
  }
  Result<std::vector<LedgerEntry>> LoadLedger(ReservationId id) override {
    return inner_->LoadLedger(id);
  }
  Result<LedgerEntry> FindLedgerEntry(const std::string& key) override {
    return inner_->FindLedgerEntry(key);
  }
  std::string Describe() const override { return "fault-injecting " + inner_->Describe(); }

 private:
  friend class FaultTxn;
  std::unique_ptr<Store> inner_;
  std::atomic<int> fail_commits_{0};
  std::atomic<int> fail_begins_{0};
  std::atomic<int> commits_{0};
};

}  // namespace keycast
