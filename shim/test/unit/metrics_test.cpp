#include "metrics.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

// A parsed text exposition. Records a test failure for anything the format
// forbids: a repeated HELP or TYPE, a sample outside its family's block, a
// repeated series, a malformed line.
struct Exposition {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<std::string> series;         // "name{labels}" in output order
  std::map<std::string, double> value_of;  // by series
};

std::string family_of(const std::string& sample_name, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (sample_name.size() > s.size() && sample_name.compare(sample_name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = sample_name.substr(0, sample_name.size() - s.size());
      const auto it = type.find(base);
      if (it != type.end() && it->second == "histogram") return base;
    }
  }
  return sample_name;
}

Exposition parse(const std::string& text) {
  Exposition out;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::istringstream in(text);
  std::string current_family;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool is_help = line[2] == 'H';
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      EXPECT_NE(space, std::string::npos) << line;
      const std::string name = rest.substr(0, space);
      auto& target = is_help ? out.help : out.type;
      EXPECT_EQ(target.count(name), 0u) << "repeated: " << line;
      target[name] = rest.substr(space + 1);
      current_family = name;
      continue;
    }
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    EXPECT_NE(space, 0u) << line;
    const std::string series = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(!value.empty() && *end == '\0') << "bad value: " << line;
    const std::string name = series.substr(0, series.find('{'));
    EXPECT_EQ(family_of(name, out.type), current_family) << "sample outside its family: " << line;
    EXPECT_EQ(out.value_of.count(series), 0u) << "repeated series: " << line;
    out.series.push_back(series);
    out.value_of[series] = number;
  }
  return out;
}

// The value of a series that must be present.
double value(const Exposition& e, const std::string& series) {
  const auto it = e.value_of.find(series);
  EXPECT_NE(it, e.value_of.end()) << "missing " << series;
  return it == e.value_of.end() ? -1 : it->second;
}

std::vector<std::string> series_of_family(const Exposition& e, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : e.series) {
    if (s.rfind(name + "{", 0) == 0 || s == name) out.push_back(s);
  }
  return out;
}

TEST(Metrics, EveryFamilyHasHelpAndTypeEvenWithoutSamples) {
  const shim::Metrics metrics;
  const Exposition e = parse(metrics.render({}));
  const std::map<std::string, std::string> expected = {
      {"vox_shim_requests_total", "counter"},     {"vox_shim_request_duration_seconds", "histogram"},
      {"vox_shim_events_total", "counter"},       {"vox_shim_db_errors_total", "counter"},
      {"vox_shim_rate_limited_total", "counter"}, {"vox_shim_auth_rejected_total", "counter"},
      {"vox_shim_db_pool_connections", "gauge"},  {"vox_shim_db_pool_size", "gauge"},
      {"vox_shim_db_pool_waiting", "gauge"},      {"vox_shim_secret_lookups_total", "counter"},
  };
  EXPECT_EQ(e.type, expected);
  ASSERT_EQ(e.help.size(), expected.size());
  for (const auto& [name, help] : e.help) {
    EXPECT_EQ(expected.count(name), 1u) << name;
    EXPECT_FALSE(help.empty()) << name;
  }
  const std::vector<std::string> gauges = {
      R"(vox_shim_db_pool_connections{state="idle"})",
      R"(vox_shim_db_pool_connections{state="in_use"})",
      "vox_shim_db_pool_size",
      "vox_shim_db_pool_waiting",
  };
  EXPECT_EQ(e.series, gauges) << "counters and the histogram have no samples yet";
}

TEST(Metrics, CountsRequestsByRouteAndStatus) {
  shim::Metrics metrics;
  metrics.count_request("/webhook", 200, 0.01);
  metrics.count_request("/webhook", 200, 0.02);
  metrics.count_request("/webhook", 401, 0.001);
  metrics.count_request("/healthz", 200, 0.0001);
  const Exposition e = parse(metrics.render({}));
  EXPECT_EQ(series_of_family(e, "vox_shim_requests_total"),
            (std::vector<std::string>{
                R"(vox_shim_requests_total{route="/healthz",status="200"})",
                R"(vox_shim_requests_total{route="/webhook",status="200"})",
                R"(vox_shim_requests_total{route="/webhook",status="401"})",
            }));
  EXPECT_EQ(value(e, R"(vox_shim_requests_total{route="/webhook",status="200"})"), 2);
  EXPECT_EQ(value(e, R"(vox_shim_requests_total{route="/webhook",status="401"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_requests_total{route="/healthz",status="200"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_count{route="/webhook"})"), 3);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_count{route="/healthz"})"), 1);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  shim::Metrics metrics;
  // 0.001 lies on a bound: le means "less than or equal".
  for (const double seconds : {0.0005, 0.001, 0.003, 0.2, 20.0}) metrics.count_request("/webhook", 200, seconds);
  const Exposition e = parse(metrics.render({}));
  const std::vector<std::pair<std::string, double>> expected = {
      {"0.001", 2}, {"0.0025", 2}, {"0.005", 3}, {"0.01", 3}, {"0.025", 3}, {"0.05", 3}, {"0.1", 3},
      {"0.25", 4},  {"0.5", 4},    {"1", 4},     {"2.5", 4},  {"5", 4},     {"10", 4},   {"+Inf", 5},
  };
  std::vector<std::string> buckets;
  for (const auto& [le, count] : expected) {
    const std::string series = R"(vox_shim_request_duration_seconds_bucket{route="/webhook",le=")" + le + "\"}";
    buckets.push_back(series);
    EXPECT_EQ(value(e, series), count) << series;
  }
  std::vector<std::string> output_buckets;
  for (const auto& s : e.series) {
    if (s.rfind("vox_shim_request_duration_seconds_bucket", 0) == 0) output_buckets.push_back(s);
  }
  EXPECT_EQ(output_buckets, buckets) << "buckets in ascending le order, nothing else";
  EXPECT_NEAR(value(e, R"(vox_shim_request_duration_seconds_sum{route="/webhook"})"), 20.2045, 1e-9);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_count{route="/webhook"})"), 5);
}

TEST(Metrics, NegativeDurationCountsAsZero) {
  shim::Metrics metrics;
  metrics.count_request("/webhook", 200, -3);
  const Exposition e = parse(metrics.render({}));
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_bucket{route="/webhook",le="0.001"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_sum{route="/webhook"})"), 0);
}

TEST(Metrics, ClassifiesDbErrorsBySqlstateClass) {
  shim::Metrics metrics;
  for (const char* sqlstate : {"23505", "23503", "40001", "4", ""}) metrics.count_db_error(sqlstate);
  const Exposition e = parse(metrics.render({}));
  EXPECT_EQ(series_of_family(e, "vox_shim_db_errors_total"), (std::vector<std::string>{
                                                                 R"(vox_shim_db_errors_total{class="23"})",
                                                                 R"(vox_shim_db_errors_total{class="40"})",
                                                                 R"(vox_shim_db_errors_total{class="unknown"})",
                                                             }));
  EXPECT_EQ(value(e, R"(vox_shim_db_errors_total{class="23"})"), 2);
  EXPECT_EQ(value(e, R"(vox_shim_db_errors_total{class="40"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_db_errors_total{class="unknown"})"), 2);
}

TEST(Metrics, CountsOutcomesRateLimitsAndAuthRejections) {
  shim::Metrics metrics;
  metrics.count_outcome("processed");
  metrics.count_outcome("processed");
  metrics.count_outcome("duplicate");
  metrics.count_rate_limited("ip");
  metrics.count_rate_limited("call");
  metrics.count_rate_limited("ip");
  metrics.count_auth_rejected("bad_signature");
  const Exposition e = parse(metrics.render({}));
  EXPECT_EQ(value(e, R"(vox_shim_events_total{outcome="processed"})"), 2);
  EXPECT_EQ(value(e, R"(vox_shim_events_total{outcome="duplicate"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_rate_limited_total{scope="ip"})"), 2);
  EXPECT_EQ(value(e, R"(vox_shim_rate_limited_total{scope="call"})"), 1);
  EXPECT_EQ(value(e, R"(vox_shim_auth_rejected_total{reason="bad_signature"})"), 1);
  EXPECT_EQ(e.series.size(), 5u + 4u) << "the five series above and the four pool gauges";
}

TEST(Metrics, EscapesLabelValues) {
  shim::Metrics metrics;
  metrics.count_outcome("a\"b\\c\nd");
  const std::string text = metrics.render({});
  EXPECT_NE(text.find("vox_shim_events_total{outcome=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
  parse(text);
}

TEST(Metrics, ReportsPoolGauges) {
  const shim::Metrics metrics;
  const Exposition e = parse(metrics.render(shim::PoolUsage{3, 10, 2}));
  EXPECT_EQ(value(e, R"(vox_shim_db_pool_connections{state="in_use"})"), 3);
  EXPECT_EQ(value(e, R"(vox_shim_db_pool_connections{state="idle"})"), 7);
  EXPECT_EQ(value(e, "vox_shim_db_pool_size"), 10);
  EXPECT_EQ(value(e, "vox_shim_db_pool_waiting"), 2);

  const Exposition over = parse(metrics.render(shim::PoolUsage{12, 10, 0}));
  EXPECT_EQ(value(over, R"(vox_shim_db_pool_connections{state="idle"})"), 0) << "idle never wraps below zero";
}

TEST(Metrics, OutputDoesNotDependOnArrivalOrder) {
  shim::Metrics forward;
  shim::Metrics backward;
  const std::vector<std::pair<std::string, int>> requests = {
      {"/webhook", 500}, {"/a", 200}, {"/webhook", 200}, {"/z", 404}, {"/webhook", 401}};
  for (auto it = requests.begin(); it != requests.end(); ++it) forward.count_request(it->first, it->second, 0.1);
  for (auto it = requests.rbegin(); it != requests.rend(); ++it) backward.count_request(it->first, it->second, 0.1);
  for (const char* outcome : {"processed", "ignored", "duplicate"}) forward.count_outcome(outcome);
  for (const char* outcome : {"duplicate", "processed", "ignored"}) backward.count_outcome(outcome);
  const std::string text = forward.render({});
  EXPECT_EQ(text, backward.render({}));
  const Exposition e = parse(text);
  const auto requests_series = series_of_family(e, "vox_shim_requests_total");
  EXPECT_TRUE(std::is_sorted(requests_series.begin(), requests_series.end()));
  EXPECT_EQ(requests_series.size(), 5u);
  const auto outcomes = series_of_family(e, "vox_shim_events_total");
  EXPECT_EQ(outcomes, (std::vector<std::string>{
                          R"(vox_shim_events_total{outcome="duplicate"})",
                          R"(vox_shim_events_total{outcome="ignored"})",
                          R"(vox_shim_events_total{outcome="processed"})",
                      }));
}

TEST(Metrics, ConcurrentCountsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  shim::Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // One method at a time, so that threads collide on the same counter.
    threads.emplace_back([&metrics] {
      for (int i = 0; i < kPerThread; ++i) metrics.count_outcome("processed");
      for (int i = 0; i < kPerThread; ++i) metrics.count_db_error("40001");
      for (int i = 0; i < kPerThread; ++i) metrics.count_request("/webhook", 200, 0.002);
    });
  }
  // Renders meanwhile, each one well formed; under TSan this also checks the locking.
  threads.emplace_back([&metrics] {
    for (int i = 0; i < 50; ++i) parse(metrics.render(shim::PoolUsage{1, 2, 0}));
  });
  for (auto& thread : threads) thread.join();
  const double total = kThreads * kPerThread;
  const Exposition e = parse(metrics.render({}));
  EXPECT_EQ(value(e, R"(vox_shim_requests_total{route="/webhook",status="200"})"), total);
  EXPECT_EQ(value(e, R"(vox_shim_events_total{outcome="processed"})"), total);
  EXPECT_EQ(value(e, R"(vox_shim_db_errors_total{class="40"})"), total);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_count{route="/webhook"})"), total);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_bucket{route="/webhook",le="0.001"})"), 0);
  EXPECT_EQ(value(e, R"(vox_shim_request_duration_seconds_bucket{route="/webhook",le="0.0025"})"), total);
  EXPECT_NEAR(value(e, R"(vox_shim_request_duration_seconds_sum{route="/webhook"})"), total * 0.002, 1e-6);
}

}  // namespace
