#include "feed_stream.hpp"

#include <algorithm>
#include <utility>

#include "feed_db.hpp"
#include "log.hpp"
#include "sse.hpp"

namespace relay {

namespace {

// How long the browser waits before reconnecting after the stream drops.
constexpr int kClientRetryMs = 2000;
// Output is written in pieces of about this size, so what the relay holds
// unsent for one client stays small whatever a read returns.
constexpr size_t kFlushBytes = 64 * 1024;
// The longest a step waits: httplib checks between steps that the client is
// still connected, so a closed stream frees its place within this.
constexpr auto kLongestWait = std::chrono::seconds(1);
constexpr auto kPoolWait = std::chrono::milliseconds(2000);

}  // namespace

FeedStream::FeedStream(StreamHub::Handle subscription, std::optional<std::string> resume, vox::DbPool& pool,
                       Metrics& metrics, StreamSettings settings)
    : subscription_(std::move(subscription)),
      pool_(pool),
      metrics_(metrics),
      settings_(settings),
      opened_(Clock::now()),
      cursor_(std::move(resume)),
      last_write_(opened_),
      last_step_end_(opened_) {
  vox::log("info", "stream opened",
           {{"stream", subscription_->id},
            {"org_id", subscription_->org_id},
            {"credential_id", subscription_->credential_id},
            {"resumed", cursor_.has_value()}});
}

FeedStream::~FeedStream() {
  vox::log("info", "stream closed",
           {{"stream", subscription_->id},
            {"org_id", subscription_->org_id},
            {"reason", end_reason_ ? end_reason_ : "client_gone"},
            {"events", events_sent_},
            {"seconds", std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - opened_).count()}});
}

bool FeedStream::step(httplib::DataSink& sink) {
  const bool ok = [&] {
    if (!started_) {
      started_ = true;
      out_ = sse_retry(kClientRetryMs);
      return read(sink) && flush(sink);
    }
    bool read_now = more_pending_;
    if (!read_now && !subscription_->ended()) {
      const auto until = std::min({next_read_, last_write_ + settings_.heartbeat, Clock::now() + kLongestWait});
      read_now = subscription_->wait_until(until) || Clock::now() >= next_read_;
    }
    if (const std::optional<StreamEnd> end = subscription_->ended()) {
      end_reason_ = *end == StreamEnd::kRevoked ? "revoked" : "shutdown";
      sink.done();
      return true;
    }
    if (read_now && !read(sink)) return false;
    if (out_.empty() && Clock::now() - last_write_ >= settings_.heartbeat) out_ = sse_comment("keepalive");
    return flush(sink);
  }();
  last_step_end_ = Clock::now();
  return ok;
}

void FeedStream::finished(bool complete) {
  // httplib waits up to the write timeout for the socket to take more before
  // each step: a stream it gave up on between steps had a client too slow.
  if (!complete && !end_reason_ && Clock::now() - last_step_end_ >= settings_.write_timeout) {
    end_reason_ = "slow_client";
    metrics_.count_slow_client_dropped();
  }
}

bool FeedStream::read(httplib::DataSink& sink) {
  next_read_ = Clock::now() + settings_.poll_interval;
  more_pending_ = false;
  if (!cursor_) {
    snapshot();
    return true;
  }
  const std::string& org = subscription_->org_id;
  const std::string after = *cursor_;
  metrics_.count_read();
  const vox::DbResult result = with_connection(
      pool_, kPoolWait, [&](DbConnection& db) { return feed_read(db, org, after, settings_.read_batch); });
  if (!result.ok()) {
    note_db_failure(result, "feed read failed; the stream waits for the database");
    return true;
  }
  db_failing_ = false;
  for (const std::vector<std::string>& row : result.rows) {
    const std::string& cursor = row.at(0);
    const std::string& topic = row.at(1);
    const std::string& data = row.at(2);
    if (topic == "reset") {
      // The resume point was not made here or is past the retention: start over.
      vox::log("info", "stream reset", {{"stream", subscription_->id}, {"org_id", org}});
      out_ += sse_event("reset", "", data);
      cursor_.reset();
      snapshot();
      return true;
    }
    out_ += sse_event("", cursor, data);
    cursor_ = cursor;
    ++events_unsent_;
    if (out_.size() >= kFlushBytes && !flush(sink)) return false;
  }
  more_pending_ = result.rows.size() >= size_t(settings_.read_batch);
  return true;
}

bool FeedStream::snapshot() {
  const std::string& org = subscription_->org_id;
  const vox::DbResult result = with_connection(
      pool_, kPoolWait, [&](DbConnection& db) { return feed_start(db, org, settings_.snapshot_calls); });
  if (!result.ok() || result.rows.empty()) {
    note_db_failure(result, "feed start failed; the stream waits for the database");
    return false;
  }
  db_failing_ = false;
  const std::string& cursor = result.rows[0].at(0);
  out_ += sse_event("snapshot", cursor, "{\"calls\":" + result.rows[0].at(1) + "}");
  cursor_ = cursor;
  return true;
}

bool FeedStream::flush(httplib::DataSink& sink) {
  if (out_.empty()) return true;
  const auto start = Clock::now();
  const bool written = sink.write(out_.data(), out_.size());
  const auto took = Clock::now() - start;
  out_.clear();
  const uint64_t events = std::exchange(events_unsent_, 0);
  if (written && took < settings_.write_timeout) {
    last_write_ = Clock::now();
    metrics_.count_events_sent(events);
    events_sent_ += events;
    return true;
  }
  // httplib gives a write up after the write timeout without progress; one
  // that progresses a little at a time is bounded here, as a whole.
  if (took >= settings_.write_timeout) {
    end_reason_ = "slow_client";
    metrics_.count_slow_client_dropped();
  }
  return false;
}

void FeedStream::note_db_failure(const vox::DbResult& result, const char* what) {
  metrics_.count_db_error(result.sqlstate);
  if (db_failing_) return;
  db_failing_ = true;
  vox::log("warning", what,
           {{"stream", subscription_->id},
            {"org_id", subscription_->org_id},
            {"sqlstate", result.sqlstate},
            {"error", result.message}});
}

}  // namespace relay
