#include "metrics.hpp"

#include <array>

namespace shim {

namespace {

constexpr char kRequests[] = "vox_shim_requests_total";
constexpr char kDuration[] = "vox_shim_request_duration_seconds";
constexpr char kEvents[] = "vox_shim_events_total";
constexpr char kDbErrors[] = "vox_shim_db_errors_total";
constexpr char kRateLimited[] = "vox_shim_rate_limited_total";
constexpr char kAuthRejected[] = "vox_shim_auth_rejected_total";
constexpr char kSecretLookups[] = "vox_shim_secret_lookups_total";
constexpr char kPoolConnections[] = "vox_shim_db_pool_connections";
constexpr char kPoolSize[] = "vox_shim_db_pool_size";
constexpr char kPoolWaiting[] = "vox_shim_db_pool_waiting";

// Upper bounds (le) of the finite latency buckets, in seconds.
constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

Metrics::Metrics() {
  using Kind = vox::MetricsRegistry::Kind;
  registry_.declare(kRequests, "HTTP requests handled, by route and status.", Kind::kCounter);
  registry_.declare(kDuration, "HTTP request latency in seconds, by route.", Kind::kHistogram,
                    {kBounds.begin(), kBounds.end()});
  registry_.declare(kEvents, "Webhook events handled, by outcome.", Kind::kCounter);
  registry_.declare(kDbErrors, "Database errors, by SQLSTATE class.", Kind::kCounter);
  registry_.declare(kRateLimited, "Requests refused by the rate limiter, by scope.", Kind::kCounter);
  registry_.declare(kAuthRejected, "Requests refused by webhook authentication, by reason.", Kind::kCounter);
  registry_.declare(kSecretLookups, "Reads of an org's secrets from the database (the cache missed).", Kind::kCounter);
  registry_.declare(kPoolConnections, "Database pool connections, by state.", Kind::kGauge);
  registry_.declare(kPoolSize, "Database pool capacity in connections.", Kind::kGauge);
  registry_.declare(kPoolWaiting, "Requests waiting for a database connection.", Kind::kGauge);
}

void Metrics::count_request(std::string_view route, int status, double seconds) {
  // A negative or NaN duration would make the histogram's sum decrease.
  if (!(seconds >= 0)) seconds = 0;
  registry_.add(kRequests, {{"route", std::string(route)}, {"status", std::to_string(status)}});
  registry_.observe(kDuration, {{"route", std::string(route)}}, seconds);
}

void Metrics::count_outcome(std::string_view outcome) { registry_.add(kEvents, {{"outcome", std::string(outcome)}}); }

void Metrics::count_db_error(std::string_view sqlstate) {
  const std::string sqlstate_class = sqlstate.size() >= 2 ? std::string(sqlstate.substr(0, 2)) : "unknown";
  registry_.add(kDbErrors, {{"class", sqlstate_class}});
}

void Metrics::count_rate_limited(std::string_view scope) {
  registry_.add(kRateLimited, {{"scope", std::string(scope)}});
}

void Metrics::count_auth_rejected(std::string_view reason) {
  registry_.add(kAuthRejected, {{"reason", std::string(reason)}});
}

void Metrics::count_secret_lookup() { registry_.add(kSecretLookups); }

std::string Metrics::render(const PoolUsage& pool) const {
  // Read from the pool without one lock, in_use may briefly exceed size.
  const size_t idle = pool.size > pool.in_use ? pool.size - pool.in_use : 0;
  return registry_.render({{kPoolConnections, {{"state", "idle"}}, int64_t(idle)},
                           {kPoolConnections, {{"state", "in_use"}}, int64_t(pool.in_use)},
                           {kPoolSize, {}, int64_t(pool.size)},
                           {kPoolWaiting, {}, int64_t(pool.waiting)}});
}

}  // namespace shim
