#include "metrics_registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace vox {

namespace {

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

const char* type_name(MetricsRegistry::Kind kind) {
  switch (kind) {
    case MetricsRegistry::Kind::kCounter:
      return "counter";
    case MetricsRegistry::Kind::kGauge:
      return "gauge";
    case MetricsRegistry::Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void append_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
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

void append_sample(std::string& out, std::string_view name, const MetricLabels& labels, const std::string& value) {
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

MetricLabels with(MetricLabels labels, const char* name, std::string value) {
  labels.emplace_back(name, std::move(value));
  return labels;
}

}  // namespace

void MetricsRegistry::declare(std::string name, std::string help, Kind kind, std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mutex_);
  families_.push_back(Family{std::move(name), std::move(help), kind, std::move(bounds), {}, {}});
}

// A family that was never declared is a programming error, not a metric.
MetricsRegistry::Family& MetricsRegistry::family(std::string_view name) {
  for (Family& f : families_)
    if (f.name == name) return f;
  throw std::logic_error("undeclared metric family " + std::string(name));
}

void MetricsRegistry::add(std::string_view name, const MetricLabels& labels, uint64_t amount) {
  std::lock_guard<std::mutex> lock(mutex_);
  family(name).counters[labels] += amount;
}

void MetricsRegistry::observe(std::string_view name, const MetricLabels& labels, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  Family& f = family(name);
  const size_t bucket = std::lower_bound(f.bounds.begin(), f.bounds.end(), value) - f.bounds.begin();
  Histogram& histogram = f.histograms[labels];
  histogram.bucket_counts.resize(f.bounds.size());
  if (bucket < f.bounds.size()) ++histogram.bucket_counts[bucket];
  ++histogram.count;
  histogram.sum += value;
}

std::string MetricsRegistry::render(const std::vector<Gauge>& gauges) const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Family& f : families_) {
    append_header(out, f.name, f.help, type_name(f.kind));
    for (const auto& [labels, value] : f.counters) append_sample(out, f.name, labels, std::to_string(value));
    for (const auto& [labels, histogram] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += histogram.bucket_counts[i];
        append_sample(out, f.name + "_bucket", with(labels, "le", format_double(f.bounds[i])),
                      std::to_string(cumulative));
      }
      append_sample(out, f.name + "_bucket", with(labels, "le", "+Inf"), std::to_string(histogram.count));
      append_sample(out, f.name + "_sum", labels, format_double(histogram.sum));
      append_sample(out, f.name + "_count", labels, std::to_string(histogram.count));
    }
    for (const Gauge& gauge : gauges)
      if (gauge.family == f.name) append_sample(out, f.name, gauge.labels, std::to_string(gauge.value));
  }
  return out;
}

}  // namespace vox
