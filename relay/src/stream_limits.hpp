// How many feed streams may be open: in all (--max-streams: each holds a
// worker thread) and per org (--max-streams-per-org: one org cannot take all
// of them). Not thread-safe: the stream hub holds it under its lock.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

namespace relay {

enum class Admission { kAdmitted, kTooManyInAll, kTooManyForOrg };

class StreamLimits {
 public:
  StreamLimits(size_t max_streams, size_t max_per_org) : max_(max_streams), max_per_org_(max_per_org) {}

  // Counts a new stream of `org` when there is room for it.
  Admission admit(const std::string& org);
  // A stream of `org` admitted before has ended.
  void release(const std::string& org);

  size_t open() const { return open_; }
  size_t open_for(const std::string& org) const;

 private:
  const size_t max_, max_per_org_;
  size_t open_ = 0;
  std::unordered_map<std::string, size_t> per_org_;  // orgs with open streams only
};

}  // namespace relay
