// The bridge from the client agent to the data plane (seed 001: "the
// database of selector / security association pairs is populated by a
// client when the client accesses the key server"): every SA the client
// Agent fetches is installed into the DataPlane's SAD as it arrives.
//
// A revocation leaves the SAs already installed in place: they were handed
// out legitimately and expire on their own (interval + grace), after which
// the event's policy drops its traffic (no_sa). Nothing is ever removed on a
// remote say-so, and nothing a member already holds is pretended away.
//
// Thread safety: safe for concurrent use (the client Agent calls it from its
// own thread; status readers from any).
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "keycast/client.h"
#include "keycast/dataplane/data_plane.h"

namespace keycast::agent {

class DataPlaneKeySink final : public KeySink {
 public:
  // REQUIRES: dp outlives the sink.
  DataPlaneKeySink(dataplane::DataPlane* dp, std::string event_name)
      : dp_(dp), name_(std::move(event_name)) {}

  void Install(const SecurityAssociation& sa) override;
  void Revoked(EventId event, const std::string& reason) override;
  bool TakeSignerHints(EventId event, Epoch* epoch, std::vector<SenderId>* senders) override;

  bool revoked() const { return revoked_.load(); }
  std::string revoked_reason() const;
  uint64_t installed() const { return installed_.load(); }
  uint64_t install_failures() const { return install_failures_.load(); }
  // Time the last SA was installed (0 = none yet).
  Micros last_install() const { return last_install_.load(); }

 private:
  dataplane::DataPlane* dp_;
  const std::string name_;
  std::atomic<bool> revoked_{false};
  std::atomic<uint64_t> installed_{0};
  std::atomic<uint64_t> install_failures_{0};
  std::atomic<Micros> last_install_{0};
  mutable std::mutex mu_;
  std::string reason_;  // GUARDED_BY(mu_)
};

}  // namespace keycast::agent
