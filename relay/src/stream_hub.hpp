// The open feed streams: admitted under the limits, woken by notifications
// (all of an org's, or all of them), and ended from outside (a revoked
// credential, shutdown). Each stream runs on its own worker thread and
// waits on its own Subscription; nothing here ever waits on a client.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "stream_limits.hpp"

namespace relay {

enum class StreamEnd { kRevoked, kShutdown };

class Subscription {
 public:
  using Clock = std::chrono::steady_clock;
  Subscription(std::string org_id, int64_t credential_id, uint64_t id)
      : org_id(std::move(org_id)), credential_id(credential_id), id(id) {}

  // Waits until woken or ended, or until `until`. True when it was woken
  // (since the previous wait), which it no longer is after this.
  bool wait_until(Clock::time_point until);
  // Why the stream must end, if it must.
  std::optional<StreamEnd> ended() const;

  void wake();
  void end(StreamEnd why);

  const std::string org_id;
  const int64_t credential_id;
  const uint64_t id;  // for logs

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool woken_ = false;
  std::optional<StreamEnd> ended_;
};

class StreamHub {
 public:
  StreamHub(size_t max_streams, size_t max_per_org) : limits_(max_streams, max_per_org) {}

  // A stream's place, released when the last copy goes.
  using Handle = std::shared_ptr<Subscription>;
  struct Opened {
    Handle stream;  // empty when refused
    Admission admission;
  };
  // After shut_down(), every stream is refused (kTooManyInAll).
  Opened open(const std::string& org_id, int64_t credential_id);

  void wake_org(const std::string& org_id);
  void wake_all();
  // The credentials the open streams use, each once.
  std::vector<int64_t> credential_ids() const;
  // Ends the streams whose credential is in `revoked`; how many.
  size_t end_revoked(const std::set<int64_t>& revoked);
  // Ends every stream and refuses new ones.
  void shut_down();
  size_t open_streams() const;

 private:
  void release(Subscription* stream);

  mutable std::mutex mutex_;
  StreamLimits limits_;
  std::vector<Subscription*> streams_;
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
};

}  // namespace relay
