// vox-shim's Prometheus metrics: counters, gauges and a latency histogram.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "db_pool.hpp"
#include "metrics_registry.hpp"

namespace shim {

using vox::PoolUsage;

class Metrics {
 public:
  Metrics();
  // vox_shim_requests_total{route,status} and
  // vox_shim_request_duration_seconds{route} (histogram).
  void count_request(std::string_view route, int status, double seconds);
  // vox_shim_events_total{outcome}: processed, duplicate, ignored, parked, ...
  void count_outcome(std::string_view outcome);
  // vox_shim_db_errors_total{class}: the SQLSTATE's first two characters.
  void count_db_error(std::string_view sqlstate);
  // vox_shim_rate_limited_total{scope}: ip or call.
  void count_rate_limited(std::string_view scope);
  // vox_shim_auth_rejected_total{reason}.
  void count_auth_rejected(std::string_view reason);
  // vox_shim_secret_lookups_total: org secrets read from the database.
  void count_secret_lookup();
  // Everything above plus vox_shim_db_pool_connections{state="in_use"|"idle"},
  // vox_shim_db_pool_size and vox_shim_db_pool_waiting.
  std::string render(const PoolUsage& pool) const;

 private:
  vox::MetricsRegistry registry_;
};

}  // namespace shim
