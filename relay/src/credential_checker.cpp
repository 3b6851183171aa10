#include "credential_checker.hpp"

#include <chrono>
#include <set>

#include "feed_db.hpp"
#include "log.hpp"

namespace relay {

namespace {

// Half the promise: a credential that expires (no NOTIFY tells of that) ends
// its streams within a second even when a check takes a while.
constexpr auto kInterval = std::chrono::milliseconds(500);
constexpr const char* kConnectionFailure = "08006";

}  // namespace

CredentialChecker::CredentialChecker(vox::DbSettings settings, StreamHub& hub, Metrics& metrics)
    : settings_(std::move(settings)), connection_(settings_), hub_(hub), metrics_(metrics) {
  thread_ = std::thread([this] { run(); });
}

CredentialChecker::~CredentialChecker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void CredentialChecker::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  changed_.notify_all();
}

void CredentialChecker::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait_for(lock, kInterval, [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    check();
  }
}

void CredentialChecker::check() {
  const std::vector<int64_t> ids = hub_.credential_ids();
  if (ids.empty()) return;
  vox::DbResult result = feed_credentials_valid(connection_, ids);
  // After a PostgreSQL restart the connection is found broken on first use:
  // the retry opens a new one.
  if (result.sqlstate == kConnectionFailure && !result.setup_failed) result = feed_credentials_valid(connection_, ids);
  if (!result.ok()) {
    metrics_.count_db_error(result.sqlstate);
    if (!failing_)
      vox::log("warning", "credential check failed; open streams stay open until it succeeds",
               {{"sqlstate", result.sqlstate}, {"error", result.message}});
    failing_ = true;
    return;
  }
  failing_ = false;
  std::set<int64_t> valid;
  for (const std::vector<std::string>& row : result.rows) valid.insert(std::stoll(row.at(0)));
  std::set<int64_t> revoked;
  for (const int64_t id : ids)
    if (!valid.count(id)) revoked.insert(id);
  if (revoked.empty()) return;
  const size_t ended = hub_.end_revoked(revoked);
  vox::log("info", "streams ended: their credential is no longer valid",
           {{"credential_ids", std::vector<int64_t>(revoked.begin(), revoked.end())}, {"streams", ended}});
}

}  // namespace relay
