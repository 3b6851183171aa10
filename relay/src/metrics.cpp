#include "metrics.hpp"

namespace relay {

namespace {

constexpr char kStreamsOpen[] = "vox_relay_streams_open";
constexpr char kEventsSent[] = "vox_relay_events_sent_total";
constexpr char kStreamsRefused[] = "vox_relay_streams_refused_total";
constexpr char kSlowClients[] = "vox_relay_slow_clients_dropped_total";
constexpr char kReads[] = "vox_relay_reads_total";
constexpr char kRequests[] = "vox_relay_requests_total";
constexpr char kDbErrors[] = "vox_relay_db_errors_total";
constexpr char kRecordingsArchived[] = "vox_relay_recordings_archived_total";
constexpr char kRecordingsFailed[] = "vox_relay_recordings_failed_total";
constexpr char kRecordingsDead[] = "vox_relay_recordings_dead_total";
constexpr char kRecordingsDeleted[] = "vox_relay_recordings_deleted_total";
constexpr char kRecordingBytes[] = "vox_relay_recording_bytes_total";
constexpr char kOldestWaitingRecording[] = "vox_relay_recording_oldest_waiting_seconds";

}  // namespace

Metrics::Metrics() {
  using Kind = vox::MetricsRegistry::Kind;
  registry_.declare(kStreamsOpen, "Feed streams open now.", Kind::kGauge);
  registry_.declare(kEventsSent, "Outbox events written to feed streams.", Kind::kCounter);
  registry_.declare(kStreamsRefused, "Feed streams refused with 503, by the limit reached.", Kind::kCounter);
  registry_.declare(kSlowClients, "Feed streams dropped because the client did not take their output in time.",
                    Kind::kCounter);
  registry_.declare(kReads, "Calls of vox.feed_read.", Kind::kCounter);
  registry_.declare(kRequests, "HTTP requests answered, by route and status (a stream when it starts).",
                    Kind::kCounter);
  registry_.declare(kDbErrors, "Database errors, by SQLSTATE class.", Kind::kCounter);
  registry_.declare(kRecordingsArchived, "Recordings archived to object storage.", Kind::kCounter);
  registry_.declare(kRecordingsFailed, "Recording archive attempts that failed (each is retried, or dead).",
                    Kind::kCounter);
  registry_.declare(kRecordingsDead, "Recordings given up after vox.queue_max_attempts failed attempts.",
                    Kind::kCounter);
  registry_.declare(kRecordingsDeleted, "Archived recordings deleted from object storage (retention, deletions).",
                    Kind::kCounter);
  registry_.declare(kRecordingBytes, "Bytes of recordings archived.", Kind::kCounter);
  registry_.declare(kOldestWaitingRecording, "Age of the oldest recording waiting to be archived, in seconds.",
                    Kind::kGauge);
  // The counters without labels exist from the start, at 0.
  for (const char* counter : {kEventsSent, kSlowClients, kReads, kRecordingsArchived, kRecordingsFailed,
                              kRecordingsDead, kRecordingsDeleted, kRecordingBytes})
    registry_.add(counter, {}, 0);
}

void Metrics::count_request(std::string_view route, int status) {
  registry_.add(kRequests, {{"route", std::string(route)}, {"status", std::to_string(status)}});
}

void Metrics::count_events_sent(uint64_t events) { registry_.add(kEventsSent, {}, events); }

void Metrics::count_stream_refused(std::string_view limit) {
  registry_.add(kStreamsRefused, {{"limit", std::string(limit)}});
}

void Metrics::count_slow_client_dropped() { registry_.add(kSlowClients); }

void Metrics::count_read() { registry_.add(kReads); }

void Metrics::count_db_error(std::string_view sqlstate) {
  registry_.add(kDbErrors, {{"class", sqlstate.size() >= 2 ? std::string(sqlstate.substr(0, 2)) : "unknown"}});
}

void Metrics::count_recording_archived(uint64_t bytes) {
  registry_.add(kRecordingsArchived);
  registry_.add(kRecordingBytes, {}, bytes);
}

void Metrics::count_recording_failed(bool dead) {
  registry_.add(kRecordingsFailed);
  if (dead) registry_.add(kRecordingsDead);
}

void Metrics::count_recording_deleted() { registry_.add(kRecordingsDeleted); }

void Metrics::set_oldest_waiting_recording(int64_t seconds) { oldest_waiting_recording_ = seconds; }

std::string Metrics::render(size_t open_streams) const {
  return registry_.render({{kStreamsOpen, {}, int64_t(open_streams)},
                           {kOldestWaitingRecording, {}, oldest_waiting_recording_.load()}});
}

}  // namespace relay
