#include "metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace shim {

namespace {

constexpr char kRequests[] = "vox_shim_requests_total";
constexpr char kDuration[] = "vox_shim_request_duration_seconds";
constexpr char kEvents[] = "vox_shim_events_total";
constexpr char kDbErrors[] = "vox_shim_db_errors_total";
constexpr char kRateLimited[] = "vox_shim_rate_limited_total";
constexpr char kAuthRejected[] = "vox_shim_auth_rejected_total";
constexpr char kSecretLookups[] = "vox_shim_secret_lookups_total";

// Upper bounds (le) of the finite latency buckets, in seconds.
constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct CounterFamily {
  const char* name;
  const char* help;
};

constexpr CounterFamily kCounterFamilies[] = {
    {kEvents, "Webhook events handled, by outcome."},
    {kDbErrors, "Database errors, by SQLSTATE class."},
    {kRateLimited, "Requests refused by the rate limiter, by scope."},
    {kAuthRejected, "Requests refused by webhook authentication, by reason."},
    {kSecretLookups, "Reads of an org's secrets from the database (the cache missed)."},
};

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Shortest text that reads back as the same double, spelled as Prometheus does.
std::string format_double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

void append_header(std::string& out, const char* name, const char* help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name,
                   const std::vector<std::pair<std::string, std::string>>& labels, const std::string& value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i].first;
      out += "=\"";
      out += escape_label_value(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

void Metrics::count_request(std::string_view route, int status, double seconds) {
  // A negative or NaN duration would make the histogram's sum decrease.
  if (!(seconds >= 0)) seconds = 0;
  const size_t bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kRequests, {{"route", std::string(route)}, {"status", std::to_string(status)}}}];
  Histogram& histogram = latency_by_route_[std::string(route)];
  histogram.bucket_counts.resize(kBounds.size());
  if (bucket < kBounds.size()) ++histogram.bucket_counts[bucket];
  ++histogram.count;
  histogram.sum += seconds;
}

void Metrics::count_outcome(std::string_view outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kEvents, {{"outcome", std::string(outcome)}}}];
}

void Metrics::count_db_error(std::string_view sqlstate) {
  const std::string sqlstate_class = sqlstate.size() >= 2 ? std::string(sqlstate.substr(0, 2)) : "unknown";
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kDbErrors, {{"class", sqlstate_class}}}];
}

void Metrics::count_rate_limited(std::string_view scope) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kRateLimited, {{"scope", std::string(scope)}}}];
}

void Metrics::count_auth_rejected(std::string_view reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kAuthRejected, {{"reason", std::string(reason)}}}];
}

void Metrics::count_secret_lookup() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_[{kSecretLookups, {}}];
}

std::string Metrics::render(const PoolUsage& pool) const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);

  // counters_ is ordered by name, then labels: a family's samples are contiguous and sorted.
  const auto append_counters = [&](const char* name) {
    for (auto it = counters_.lower_bound({name, Labels{}}); it != counters_.end() && it->first.first == name; ++it) {
      append_sample(out, name, it->first.second, std::to_string(it->second));
    }
  };

  append_header(out, kRequests, "HTTP requests handled, by route and status.", "counter");
  append_counters(kRequests);

  append_header(out, kDuration, "HTTP request latency in seconds, by route.", "histogram");
  for (const auto& [route, histogram] : latency_by_route_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      cumulative += histogram.bucket_counts[i];
      append_sample(out, std::string(kDuration) + "_bucket", {{"route", route}, {"le", format_double(kBounds[i])}},
                    std::to_string(cumulative));
    }
    append_sample(out, std::string(kDuration) + "_bucket", {{"route", route}, {"le", "+Inf"}},
                  std::to_string(histogram.count));
    append_sample(out, std::string(kDuration) + "_sum", {{"route", route}}, format_double(histogram.sum));
    append_sample(out, std::string(kDuration) + "_count", {{"route", route}}, std::to_string(histogram.count));
  }

  for (const auto& family : kCounterFamilies) {
    append_header(out, family.name, family.help, "counter");
    append_counters(family.name);
  }

  // Read from the pool without one lock, in_use may briefly exceed size.
  const size_t idle = pool.size > pool.in_use ? pool.size - pool.in_use : 0;
  append_header(out, "vox_shim_db_pool_connections", "Database pool connections, by state.", "gauge");
  append_sample(out, "vox_shim_db_pool_connections", {{"state", "idle"}}, std::to_string(idle));
  append_sample(out, "vox_shim_db_pool_connections", {{"state", "in_use"}}, std::to_string(pool.in_use));
  append_header(out, "vox_shim_db_pool_size", "Database pool capacity in connections.", "gauge");
  append_sample(out, "vox_shim_db_pool_size", {}, std::to_string(pool.size));
  append_header(out, "vox_shim_db_pool_waiting", "Requests waiting for a database connection.", "gauge");
  append_sample(out, "vox_shim_db_pool_waiting", {}, std::to_string(pool.waiting));
  return out;
}

}  // namespace shim
