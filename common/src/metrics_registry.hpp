// Prometheus counters, gauges and histograms, rendered in the text exposition
// format (version 0.0.4). Each program declares its families once, then
// counts from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vox {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  enum class Kind { kCounter, kGauge, kHistogram };

  // Families render in the order they are declared, each with its HELP and
  // TYPE even before it has samples. All are declared before any counting.
  // `bounds`: a histogram's finite bucket bounds (le), ascending.
  void declare(std::string name, std::string help, Kind kind, std::vector<double> bounds = {});

  // Counters: adds to the series; histograms: one observation.
  void add(std::string_view family, const MetricLabels& labels = {}, uint64_t amount = 1);
  void observe(std::string_view family, const MetricLabels& labels, double value);

  // A gauge's value, read by its owner when rendering.
  struct Gauge {
    std::string family;
    MetricLabels labels;
    int64_t value;
  };
  // Every family; a gauge family's samples are the `gauges` naming it, in order.
  std::string render(const std::vector<Gauge>& gauges = {}) const;

 private:
  struct Histogram {
    std::vector<uint64_t> bucket_counts;  // per bucket, cumulated at render time
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string name, help;
    Kind kind;
    std::vector<double> bounds;
    // Ordered by labels: the exposition lists a family's series sorted.
    std::map<MetricLabels, uint64_t> counters;
    std::map<MetricLabels, Histogram> histograms;
  };
  Family& family(std::string_view name);

  mutable std::mutex mutex_;
  std::vector<Family> families_;
};

}  // namespace vox
