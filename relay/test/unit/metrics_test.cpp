#include "metrics.hpp"

#include <gtest/gtest.h>

namespace relay {

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST(RelayMetrics, TheContractsFamiliesAreThereFromTheStart) {
  const Metrics metrics;
  const std::string text = metrics.render(0);
  for (const char* line :
       {"# TYPE vox_relay_streams_open gauge", "vox_relay_streams_open 0", "# TYPE vox_relay_events_sent_total counter",
        "vox_relay_events_sent_total 0", "# TYPE vox_relay_streams_refused_total counter",
        "# TYPE vox_relay_slow_clients_dropped_total counter", "vox_relay_slow_clients_dropped_total 0",
        "# TYPE vox_relay_reads_total counter", "vox_relay_reads_total 0"})
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
}

TEST(RelayMetrics, Counts) {
  Metrics metrics;
  metrics.count_events_sent(3);
  metrics.count_events_sent(2);
  metrics.count_stream_refused("org");
  metrics.count_stream_refused("org");
  metrics.count_stream_refused("global");
  metrics.count_slow_client_dropped();
  metrics.count_read();
  metrics.count_request("/healthz", 200);
  metrics.count_db_error("08006");
  const std::string text = metrics.render(7);
  for (const char* line :
       {"vox_relay_streams_open 7", "vox_relay_events_sent_total 5",
        R"(vox_relay_streams_refused_total{limit="global"} 1)", R"(vox_relay_streams_refused_total{limit="org"} 2)",
        "vox_relay_slow_clients_dropped_total 1", "vox_relay_reads_total 1",
        R"(vox_relay_requests_total{route="/healthz",status="200"} 1)", R"(vox_relay_db_errors_total{class="08"} 1)"})
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
}

TEST(RelayMetrics, CountsTheArchiver) {
  Metrics metrics;
  EXPECT_TRUE(has_line(metrics.render(0), "vox_relay_recordings_archived_total 0"));
  metrics.count_recording_archived(1000);
  metrics.count_recording_archived(24);
  metrics.count_recording_failed(false);
  metrics.count_recording_failed(true);
  metrics.count_recording_deleted();
  metrics.set_oldest_waiting_recording(42);
  const std::string text = metrics.render(0);
  for (const char* line :
       {"vox_relay_recordings_archived_total 2", "vox_relay_recording_bytes_total 1024",
        "vox_relay_recordings_failed_total 2", "vox_relay_recordings_dead_total 1",
        "vox_relay_recordings_deleted_total 1", "# TYPE vox_relay_recording_oldest_waiting_seconds gauge",
        "vox_relay_recording_oldest_waiting_seconds 42"})
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
}

}  // namespace relay
