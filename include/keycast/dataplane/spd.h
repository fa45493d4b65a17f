// The security policy database (SPD): an ordered list of selector -> action
// policies, first match wins (as in RFC 4301 section 4.4.1). A datagram that
// matches no policy is bypassed: passed along unchanged (seed 001 Fig. 12,
// block 1270).
//
// Thread safety: not synchronised. Const methods may run concurrently with
// each other; mutators need exclusive access. DataPlane holds its lock around
// both, so applications normally go through DataPlane.
#pragma once

#include <cstddef>
#include <vector>

#include "keycast/dataplane/flow.h"
#include "keycast/dataplane/selector.h"
#include "keycast/sa.h"
#include "keycast/status.h"
#include "keycast/types.h"

namespace keycast::dataplane {

enum class PolicyAction : uint8_t {
  kProtect = 1,  // apply the event's SA (encrypt outbound, require and open inbound)
  kBypass = 2,   // pass unchanged
  kDiscard = 3,  // drop and count
};

struct Policy {
  Selector selector;
  PolicyAction action = PolicyAction::kBypass;
  EventId event;  // REQUIRES: valid() iff action == kProtect

  // The policy that protects one direction of an event's traffic, with the
  // SA's own selector: exact group, exact port (any when 0), exact source
  // when the SA names one, UDP.
  static Policy ProtectEvent(const SecurityAssociation& sa, Direction d);

  Status Validate() const;
};

class SecurityPolicyDatabase {
 public:
  static constexpr size_t kMaxPolicies = 4096;

  // Appends p (lowest priority so far). Fails when p is invalid or the
  // database holds kMaxPolicies.
  Status Add(Policy p);
  // Inserts p before position (0 = highest priority); position may equal size().
  Status Insert(size_t position, Policy p);
  // Removes every policy naming event; returns how many.
  size_t RemoveEvent(EventId event);
  void Clear() { policies_.clear(); }

  // The first policy whose selector matches, or nullptr (= bypass). The
  // pointer is valid until the next mutation. Does not allocate.
  const Policy* Lookup(Direction d, const Flow& flow) const;

  size_t size() const { return policies_.size(); }
  const std::vector<Policy>& policies() const { return policies_; }

 private:
  std::vector<Policy> policies_;
};

}  // namespace keycast::dataplane
