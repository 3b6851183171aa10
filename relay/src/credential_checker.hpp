// Revocation within a second: once a second, and at once when NOTIFY
// vox_feed_credentials says a credential changed, the credentials of all open
// streams are checked in one vox.feed_credentials_valid call, and the streams
// whose credential is no longer valid (revoked, expired, deleted) are ended.
// It has a database connection of its own, so a busy pool cannot delay it.
// While the database does not answer, streams stay open: a revocation is a
// write to that database, and is seen as soon as it answers again.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "db_pool.hpp"
#include "metrics.hpp"
#include "stream_hub.hpp"

namespace relay {

class CredentialChecker {
 public:
  CredentialChecker(vox::DbSettings settings, StreamHub& hub, Metrics& metrics);
  ~CredentialChecker();  // stops checking and joins the thread
  CredentialChecker(const CredentialChecker&) = delete;
  CredentialChecker& operator=(const CredentialChecker&) = delete;

  // Checks now rather than at the next second.
  void wake();

 private:
  void run();
  void check();

  const vox::DbSettings settings_;
  vox::DbConnection connection_;
  StreamHub& hub_;
  Metrics& metrics_;
  bool failing_ = false;  // logged once per outage
  std::mutex mutex_;
  std::condition_variable changed_;
  bool woken_ = false, stopping_ = false;
  std::thread thread_;  // last: it uses everything above
};

}  // namespace relay
