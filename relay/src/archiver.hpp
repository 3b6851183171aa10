// The recording archiver: workers that claim recording jobs from vox, stream
// each recording from its URL (through the download fence) into the bucket,
// and record the object in vox; one of them also deletes what retention or
// a deletion queued. Each reads the queue's age for the metrics. Each worker
// holds at most one multipart part in memory, whatever the recording's size.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "db_pool.hpp"
#include "download_fence.hpp"
#include "metrics.hpp"
#include "object_store.hpp"
#include "recording_download.hpp"

namespace relay {

struct ArchiverSettings {
  std::string conninfo;
  int workers;
  std::chrono::milliseconds poll_interval;
  int lease_seconds;
  DownloadLimits download;
  std::string download_hosts;
  bool allow_loopback;
  std::string key_prefix;
  int playback_url_seconds;
};

class Archiver {
 public:
  // Starts the workers.
  Archiver(ArchiverSettings settings, StoreSettings store, Metrics& metrics);
  ~Archiver();
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;

  // Ends the workers after the job each is on.
  void stop();

  // A presigned URL of the org's archived recording of the call; an empty
  // value when there is none. A database error is the result's.
  vox::DbResult playback_url(const std::string& org_id, const std::string& vapi_call_id);

 private:
  struct Job {
    int64_t id;
    std::string org_id, vapi_call_id, recording_url;
  };
  void work(size_t index);
  // One claimed job, or none; false when there was nothing to do.
  bool archive_next();
  void archive(const Job& job);
  // Deletions queued by retention or by deleted rows.
  bool delete_queued();
  void read_queue_status();
  // Sleeps up to the poll interval; false once stopping.
  bool pause();

  const ArchiverSettings settings_;
  const ObjectStore store_;
  const DownloadFence fence_;
  Metrics& metrics_;
  vox::DbPool pool_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;  // last: they use everything above
};

}  // namespace relay
