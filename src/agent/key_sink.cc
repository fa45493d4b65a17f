#include "keycast/agent/key_sink.h"

#include <spdlog/spdlog.h>

namespace keycast::agent {

void DataPlaneKeySink::Install(const SecurityAssociation& sa) {
  Status st = dp_->InstallSa(sa);
  if (!st.ok()) {
    install_failures_.fetch_add(1);
    spdlog::error("{}: cannot install the SA of epoch {}.{}: {}", name_, sa.epoch.occurrence,
                  sa.epoch.index, st.message());
    return;
  }
  installed_.fetch_add(1);
  last_install_.store(SystemClock::Get().Now());
  spdlog::info("{}: installed {} SA for epoch {}.{}{}", name_, RoleName(sa.role),
               sa.epoch.occurrence, sa.epoch.index,
               sa.clear ? " (clear interval)" : fmt::format(", SPI 0x{:08x}", sa.spi.value));
}

void DataPlaneKeySink::Revoked(EventId, const std::string& reason) {
  {
    std::lock_guard<std::mutex> l(mu_);
    reason_ = reason;
  }
  if (!revoked_.exchange(true))
    spdlog::warn("{}: no more keys ({}); traffic stops when the keys held expire", name_, reason);
}

bool DataPlaneKeySink::TakeSignerHints(EventId event, Epoch* epoch,
                                       std::vector<SenderId>* senders) {
  std::optional<dataplane::SignerLookup> l = dp_->TakeSignerLookups(event);
  if (!l) return false;
  *epoch = l->epoch;
  *senders = std::move(l->senders);
  return true;
}

std::string DataPlaneKeySink::revoked_reason() const {
  std::lock_guard<std::mutex> l(mu_);
  return reason_;
}

}  // namespace keycast::agent
