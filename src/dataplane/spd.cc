#include "keycast/dataplane/spd.h"

#include <algorithm>

namespace keycast::dataplane {

Policy Policy::ProtectEvent(const SecurityAssociation& sa, Direction d) {
  Policy p;
  p.selector.direction = d;
  if (!sa.group.empty()) p.selector.destination = AddressPrefix::Exact(sa.group);
  p.selector.destination_port = sa.port == 0 ? PortRange::Any() : PortRange::Exact(sa.port);
  if (!sa.source.empty()) p.selector.source = AddressPrefix::Exact(sa.source);
  p.selector.protocol = kIpProtocolUdp;
  p.action = PolicyAction::kProtect;
  p.event = sa.event;
  return p;
}

Status Policy::Validate() const {
  KC_RETURN_IF_ERROR(selector.Validate());
  switch (action) {
    case PolicyAction::kProtect:
      if (!event.valid()) return InvalidArgument("a protect policy must name an event");
      return Status::Ok();
    case PolicyAction::kBypass:
    case PolicyAction::kDiscard:
      if (event.valid()) return InvalidArgument("only a protect policy names an event");
      return Status::Ok();
  }
  return InvalidArgument("unknown policy action");
}

Status SecurityPolicyDatabase::Add(Policy p) { return Insert(policies_.size(), std::move(p)); }

Status SecurityPolicyDatabase::Insert(size_t position, Policy p) {
  KC_RETURN_IF_ERROR(p.Validate());
  if (position > policies_.size())
    return InvalidArgument("policy position " + std::to_string(position) + " is past the end (" +
                           std::to_string(policies_.size()) + " policies)");
  if (policies_.size() >= kMaxPolicies)
    return ResourceExhausted("the SPD already holds " + std::to_string(kMaxPolicies) + " policies");
  policies_.insert(policies_.begin() + std::ptrdiff_t(position), std::move(p));
  return Status::Ok();
}

size_t SecurityPolicyDatabase::RemoveEvent(EventId event) {
  return std::erase_if(policies_, [&](const Policy& p) {
    return p.action == PolicyAction::kProtect && p.event == event;
  });
}

const Policy* SecurityPolicyDatabase::Lookup(Direction d, const Flow& flow) const {
  for (const Policy& p : policies_)
    if (p.selector.Matches(d, flow)) return &p;
  return nullptr;
}

}  // namespace keycast::dataplane
