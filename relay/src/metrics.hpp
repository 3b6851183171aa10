// vox-relay's Prometheus metrics. Thread-safe.
#pragma once

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
  // Everything above, and the gauge vox_relay_streams_open.
  std::string render(size_t open_streams) const;

 private:
  vox::MetricsRegistry registry_;
};

}  // namespace relay
