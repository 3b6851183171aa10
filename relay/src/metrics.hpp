// vox-relay's Prometheus metrics. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "metrics_registry.hpp"

namespace relay {

class Metrics {
 public:
  Metrics();
  // vox_relay_requests_total{route,status}: answered requests, a stream as
  // soon as its headers are sent.
  void count_request(std::string_view route, int status);
  // vox_relay_events_sent_total: outbox events written to streams.
  void count_events_sent(uint64_t events);
  // vox_relay_streams_refused_total{limit="global"|"org"}.
  void count_stream_refused(std::string_view limit);
  // vox_relay_slow_clients_dropped_total.
  void count_slow_client_dropped();
  // vox_relay_reads_total: calls of vox.feed_read.
  void count_read();
  // vox_relay_db_errors_total{class}: the SQLSTATE's first two characters.
  void count_db_error(std::string_view sqlstate);
  // The archiver: vox_relay_recordings_{archived,failed,dead,deleted}_total
  // and vox_relay_recording_bytes_total (bytes stored).
  void count_recording_archived(uint64_t bytes);
  void count_recording_failed(bool dead);
  void count_recording_deleted();
  // vox_relay_recording_oldest_waiting_seconds: the age of the oldest
  // recording waiting to be archived, as the archiver last read it.
  void set_oldest_waiting_recording(int64_t seconds);
  // Everything above, and the gauge vox_relay_streams_open.
  std::string render(size_t open_streams) const;

 private:
  vox::MetricsRegistry registry_;
  std::atomic<int64_t> oldest_waiting_recording_{0};
};

}  // namespace relay
