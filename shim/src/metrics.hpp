// Prometheus counters, gauges and a latency histogram, rendered in the text
// exposition format (version 0.0.4). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shim {

struct PoolUsage {
  size_t in_use = 0;
  size_t size = 0;
  size_t waiting = 0;  // requests waiting for a connection
};

class Metrics {
 public:
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
  using Labels = std::vector<std::pair<std::string, std::string>>;
  struct Histogram {
    std::vector<uint64_t> bucket_counts;  // cumulative at render time, not here
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, Labels>, uint64_t> counters_;
  std::map<std::string, Histogram> latency_by_route_;
};

}  // namespace shim
