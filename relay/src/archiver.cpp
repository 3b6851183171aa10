#include "archiver.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

#include "archive_db.hpp"
#include "log.hpp"
#include "object_key.hpp"
#include "object_upload.hpp"

namespace relay {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPoolWait = std::chrono::milliseconds(2000);
constexpr int kDeletionBatch = 16;

// The response's media type without parameters, when it is a plain type/subtype.
std::string media_type(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  type.erase(0, type.find_first_not_of(" \t"));
  type.erase(type.find_last_not_of(" \t") + 1);
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const bool plain = type.size() <= 100 && std::count(type.begin(), type.end(), '/') == 1 &&
                     std::all_of(type.begin(), type.end(), [](unsigned char c) {
                       return std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '+';
                     });
  return plain ? type : "application/octet-stream";
}

double seconds_since(Clock::time_point start) {
  return std::round(std::chrono::duration<double>(Clock::now() - start).count() * 1000) / 1000;
}

}  // namespace

Archiver::Archiver(ArchiverSettings settings, StoreSettings store, Metrics& metrics)
    : settings_(std::move(settings)),
      store_(std::move(store)),
      fence_(settings_.download_hosts, settings_.allow_loopback),
      metrics_(metrics),
      pool_(archive_db_settings(settings_.conninfo), size_t(settings_.workers)) {
  for (int i = 0; i < settings_.workers; ++i) workers_.emplace_back([this, i] { work(size_t(i)); });
}

Archiver::~Archiver() {
  stop();
  for (std::thread& worker : workers_) worker.join();
}

void Archiver::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

bool Archiver::pause() {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, settings_.poll_interval, [this] { return stopping_.load(); });
  return !stopping_;
}

void Archiver::work(size_t index) {
  while (!stopping_) {
    bool busy = archive_next();
    // One worker keeps the bucket's deletions.
    if (index == 0) busy = delete_queued() || busy;
    // Every worker reads the queue's age, so the gauge moves while some
    // are held by long downloads.
    read_queue_status();
    if (!busy && !pause()) return;
  }
}

bool Archiver::archive_next() {
  const DbResult claimed = with_connection(
      pool_, kPoolWait, [&](DbConnection& db) { return claim_uploads(db, 1, settings_.lease_seconds); });
  if (!claimed.ok()) {
    metrics_.count_db_error(claimed.sqlstate);
    vox::log("error", "cannot claim recording jobs", {{"sqlstate", claimed.sqlstate}, {"error", claimed.message}});
    return false;
  }
  if (claimed.rows.empty()) return false;
  const std::vector<std::string>& row = claimed.rows.front();
  archive(Job{std::stoll(row[0]), row[1], row[2], row[3]});
  return true;
}

void Archiver::archive(const Job& job) {
  const auto start = Clock::now();
  const std::string key = object_key(settings_.key_prefix, job.org_id, job.vapi_call_id, job.id, job.recording_url);
  std::optional<ObjectUpload> upload;
  std::string content_type;
  const Downloaded downloaded = download_recording(
      job.recording_url, fence_, settings_.download,
      [&](const std::string& response_type, const char* data, size_t size, std::string& error) {
        if (stopping_) {
          error = "the relay is stopping";
          return false;
        }
        if (!upload) {
          content_type = media_type(response_type);
          upload.emplace(store_, key, content_type);
        }
        return upload->add(data, size, error);
      });
  std::string error = downloaded.error;
  if (error.empty()) {
    // An empty recording is stored too: the job is done either way.
    if (!upload) upload.emplace(store_, key, content_type = media_type(downloaded.content_type));
    error = upload->finish().error;
  }
  const nlohmann::json where = {{"org_id", job.org_id}, {"call_id", job.vapi_call_id}, {"job", job.id}};
  if (!error.empty() && stopping_) {
    // Not the job's fault: it is taken again, without an attempt counted
    // against it, once its lease ends.
    upload.reset();
    vox::log("info", "recording left for the next relay: stopping", where);
    return;
  }
  if (!error.empty()) {
    upload.reset();  // aborts a multipart upload before the job can be taken again
    const DbResult failed =
        with_connection(pool_, kPoolWait, [&](DbConnection& db) { return fail_upload(db, job.id, error); });
    const bool dead = failed.ok() && failed.value == "dead";
    metrics_.count_recording_failed(dead);
    nlohmann::json fields = where;
    fields["error"] = error;
    fields["status"] = failed.ok() ? failed.value : "unknown: " + failed.message;
    vox::log(dead ? "error" : "warn", "recording failed", fields);
    return;
  }
  const DbResult completed = with_connection(pool_, kPoolWait, [&](DbConnection& db) {
    return complete_upload(db, job.id, key, upload->bytes(), content_type, upload->sha256_hex());
  });
  nlohmann::json fields = where;
  const nlohmann::json shown = {{"key", loggable_key(key)}};
  fields["bytes"] = upload->bytes();
  fields["seconds"] = seconds_since(start);
  if (!completed.ok()) {
    // The object stays: when the lease ends the job is taken again and
    // overwrites it under the same key.
    metrics_.count_db_error(completed.sqlstate);
    fields["error"] = completed.message;
    vox::log("error", "recording stored but not recorded in vox; it will be redone", fields, shown);
    return;
  }
  if (completed.value.empty()) {
    // The org or the call was deleted while this ran: keep nothing of it.
    const StoreResult removed = store_.remove(key);
    if (!removed.ok()) fields["error"] = removed.error;
    vox::log(removed.ok() ? "info" : "error", "recording discarded: its job was deleted meanwhile", fields, shown);
    return;
  }
  metrics_.count_recording_archived(upload->bytes());
  fields["result"] = completed.value;
  vox::log("info", "recording archived", fields, shown);
}

bool Archiver::delete_queued() {
  const DbResult claimed = with_connection(pool_, kPoolWait, [&](DbConnection& db) {
    return claim_deletions(db, kDeletionBatch, settings_.lease_seconds);
  });
  if (!claimed.ok()) {
    metrics_.count_db_error(claimed.sqlstate);
    vox::log("error", "cannot claim recording deletions", {{"sqlstate", claimed.sqlstate}, {"error", claimed.message}});
    return false;
  }
  for (const std::vector<std::string>& row : claimed.rows) {
    const int64_t id = std::stoll(row[0]);
    const std::string& key = row[1];
    const StoreResult removed = store_.remove(key);
    const DbResult recorded = with_connection(pool_, kPoolWait, [&](DbConnection& db) {
      return removed.ok() ? complete_deletion(db, id) : fail_deletion(db, id, removed.error);
    });
    if (removed.ok()) metrics_.count_recording_deleted();
    nlohmann::json fields = {{"deletion", id}};
    if (!removed.ok()) fields["error"] = removed.error;
    if (!recorded.ok()) fields["db_error"] = recorded.message;
    vox::log(removed.ok() && recorded.ok() ? "info" : "error",
             removed.ok() ? "recording deleted from storage" : "recording deletion failed", fields,
             {{"key", loggable_key(key)}});
  }
  return !claimed.rows.empty();
}

void Archiver::read_queue_status() {
  const DbResult status = with_connection(pool_, kPoolWait, [](DbConnection& db) { return queue_status(db); });
  if (!status.ok() || status.rows.empty()) return;
  const std::string& oldest = status.rows.front()[1];
  metrics_.set_oldest_waiting_recording(oldest.empty() ? 0 : int64_t(std::stod(oldest)));
}

vox::DbResult Archiver::playback_url(const std::string& org_id, const std::string& vapi_call_id) {
  DbResult result = with_connection(
      pool_, kPoolWait, [&](DbConnection& db) { return recording_object(db, org_id, vapi_call_id); });
  if (result.ok()) result.value = result.rows.empty() ? "" : store_.presigned_get(result.rows.front()[0], settings_.playback_url_seconds);
  return result;
}

}  // namespace relay
