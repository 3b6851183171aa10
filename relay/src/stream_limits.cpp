#include "stream_limits.hpp"

namespace relay {

Admission StreamLimits::admit(const std::string& org) {
  if (open_ >= max_) return Admission::kTooManyInAll;
  if (open_for(org) >= max_per_org_) return Admission::kTooManyForOrg;
  ++open_;
  ++per_org_[org];
  return Admission::kAdmitted;
}

void StreamLimits::release(const std::string& org) {
  const auto it = per_org_.find(org);
  if (it == per_org_.end()) return;
  --open_;
  if (--it->second == 0) per_org_.erase(it);
}

size_t StreamLimits::open_for(const std::string& org) const {
  const auto it = per_org_.find(org);
  return it == per_org_.end() ? 0 : it->second;
}

}  // namespace relay
