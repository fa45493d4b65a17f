#include "keycast/fault_store.h"

namespace keycast {

// Forwards every slot; Commit may fail on purpose (rolling back).
class FaultTxn final : public StoreTxn {
 public:
  FaultTxn(FaultInjectingStore* s, std::unique_ptr<StoreTxn> t) : s_(s), t_(std::move(t)) {}
  Result<ClientId> InsertClient(const Client& c) override { return t_->InsertClient(c); }
  Status UpdateClient(const Client& c) override { return t_->UpdateClient(c); }
  Status DeleteClient(ClientId id) override { return t_->DeleteClient(id); }
  Result<GroupId> InsertGroup(const Group& g) override { return t_->InsertGroup(g); }
  Status UpdateGroup(const Group& g) override { return t_->UpdateGroup(g); }
  Status DeleteGroup(GroupId id) override { return t_->DeleteGroup(id); }
  Status InsertEdge(const Edge& e) override { return t_->InsertEdge(e); }
  Status DeleteEdge(const Edge& e) override { return t_->DeleteEdge(e); }
  Result<EventId> InsertEvent(const Event& e) override { return t_->InsertEvent(e); }
  Status UpdateEvent(const Event& e) override { return t_->UpdateEvent(e); }
  Status DeleteEvent(EventId id) override { return t_->DeleteEvent(id); }
  Status UpsertMembership(const Membership& m) override { return t_->UpsertMembership(m); }
  Status DeleteMembership(ClientId c, GroupId g) override { return t_->DeleteMembership(c, g); }
  Status InsertAssignment(const Assignment& a) override { return t_->InsertAssignment(a); }
  Status DeleteAssignment(EventId e, GroupId g) override { return t_->DeleteAssignment(e, g); }
  Status InsertApiKey(const ApiKey& k) override { return t_->InsertApiKey(k); }
  Status RevokeApiKey(const std::string& id, int64_t at) override {
    return t_->RevokeApiKey(id, at);
  }
  Status InsertAdminToken(const AdminToken& t) override { return t_->InsertAdminToken(t); }
  Status RevokeAdminToken(const std::string& id, int64_t at) override {
    return t_->RevokeAdminToken(id, at);
  }
  Status PutEventSecret(EventId e, uint32_t v, const Bytes& b, int64_t at) override {
    return t_->PutEventSecret(e, v, b, at);
  }
  Result<uint32_t> NextEventSecretVersion(EventId e) override {
    return t_->NextEventSecretVersion(e);
  }
  Result<int64_t> RetireEventSecrets(EventId e, uint32_t keep, uint32_t also, int64_t at) override {
    return t_->RetireEventSecrets(e, keep, also, at);
  }
  Result<std::pair<EventKeyState, EventKeyState>> AdvanceEventKeys(EventId e,
                                                                   const KeyChange& c) override {
    return t_->AdvanceEventKeys(e, c);
  }
  Status InsertServiceKey(const ServiceKey& k) override { return t_->InsertServiceKey(k); }
  Status RetireServiceKey(const std::string& k, KeyVersion v, int64_t at) override {
    return t_->RetireServiceKey(k, v, at);
  }
  Result<int64_t> AppendAudit(const AuditRecord& r) override { return t_->AppendAudit(r); }
  Result<ReservationId> InsertReservation(const Reservation& r) override {
    return t_->InsertReservation(r);
  }
  Status UpdateReservation(const Reservation& r) override { return t_->UpdateReservation(r); }
  Status ReplaceReservationReceivers(ReservationId id,
                                     const std::vector<ReservationReceiver>& l) override {
    return t_->ReplaceReservationReceivers(id, l);
  }
  Status ReplaceReservationGroups(ReservationId id, const std::vector<GroupId>& g) override {
    return t_->ReplaceReservationGroups(id, g);
  }
  Result<int64_t> InsertAccessGrant(const AccessGrant& g) override {
    return t_->InsertAccessGrant(g);
  }
  Status RevokeAccessGrant(int64_t id, int64_t at) override {
    return t_->RevokeAccessGrant(id, at);
  }
  Result<int64_t> InsertLedgerEntry(const LedgerEntry& e) override {
    return t_->InsertLedgerEntry(e);
  }
  Status UpdateLedgerEntry(const LedgerEntry& e) override { return t_->UpdateLedgerEntry(e); }
  Status Commit() override {
    if (s_->fail_commits_.load() > 0) {
      s_->fail_commits_.fetch_sub(1);
      return Unavailable("injected commit failure");
    }
    Status st = t_->Commit();
    if (st.ok()) s_->commits_.fetch_add(1);
    return st;
  }

 private:
  FaultInjectingStore* s_;
  std::unique_ptr<StoreTxn> t_;
};

Result<std::unique_ptr<StoreTxn>> FaultInjectingStore::Begin() {
  if (fail_begins_.load() > 0) {
    fail_begins_.fetch_sub(1);
    return Unavailable("injected begin failure");
  }
  KC_ASSIGN_OR_RETURN(auto t, inner_->Begin());
  return std::unique_ptr<StoreTxn>(new FaultTxn(this, std::move(t)));
}

}  // namespace keycast
