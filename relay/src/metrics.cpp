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
  // The counters without labels exist from the start, at 0.
  for (const char* counter : {kEventsSent, kSlowClients, kReads}) registry_.add(counter, {}, 0);
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

std::string Metrics::render(size_t open_streams) const {
  return registry_.render({{kStreamsOpen, {}, int64_t(open_streams)}});
}

}  // namespace relay
