// One client's feed: what its worker thread runs, a step at a time, as
// httplib's chunked content provider (httplib checks between steps that the
// client is still there). A step waits for a wake-up (a notification for the
// org), the poll tick or the heartbeat, whichever comes first, then reads
// what is new with vox.feed_read and writes it. The pooled connection is
// given back before anything is written: a slow client never holds one.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <httplib.h>

#include "db_pool.hpp"
#include "metrics.hpp"
#include "stream_hub.hpp"

namespace relay {

struct StreamSettings {
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::seconds heartbeat{15};
  std::chrono::seconds write_timeout{10};
  int read_batch = 500;
  int snapshot_calls = 50;  // calls in a snapshot
};

class FeedStream {
 public:
  using Clock = std::chrono::steady_clock;
  // `resume`: the client's Last-Event-ID, or nothing for a new reader (who
  // gets a snapshot first).
  FeedStream(StreamHub::Handle subscription, std::optional<std::string> resume, vox::DbPool& pool, Metrics& metrics,
             StreamSettings settings);
  ~FeedStream();  // logs how the stream ended

  // One step; false drops the connection (the client is gone or too slow).
  bool step(httplib::DataSink& sink);
  // httplib is done with the stream: `complete` when it ended it cleanly.
  void finished(bool complete);

 private:
  // Reads what is new (or a snapshot) into out_, writing it out whenever it
  // grows large. False when such a write failed; a database that does not
  // answer leaves the stream as it is, to try again at the next tick.
  bool read(httplib::DataSink& sink);
  // Appends a snapshot to out_ and moves the cursor to it; false when the
  // database did not answer.
  bool snapshot();
  // Writes out_ (and empties it); false, with the reason, when the client
  // did not take it within the write timeout or is gone.
  bool flush(httplib::DataSink& sink);
  void note_db_failure(const vox::DbResult& result, const char* what);

  const StreamHub::Handle subscription_;
  vox::DbPool& pool_;
  Metrics& metrics_;
  const StreamSettings settings_;
  const Clock::time_point opened_;

  std::optional<std::string> cursor_;  // the last event written; none: a snapshot comes first
  std::string out_;                    // written at the next flush
  bool started_ = false;
  bool more_pending_ = false;  // the last read was full: read again at once
  bool db_failing_ = false;    // logged once per outage
  Clock::time_point next_read_{};
  Clock::time_point last_write_;
  Clock::time_point last_step_end_;
  uint64_t events_unsent_ = 0;  // in out_
  uint64_t events_sent_ = 0;
  const char* end_reason_ = nullptr;
};

}  // namespace relay
