#include "stats.hpp"

#include <algorithm>
#include <cstdio>

namespace bench {

double RunResult::percentile_ms(double q) const {
  if (latencies_us.empty()) return 0;
  std::vector<uint32_t> sorted = latencies_us;
  const size_t rank = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank), sorted.end());
  return sorted[rank] / 1000.0;
}

void merge_round(RunResult& total, const RunResult& round) {
  if (total.mode.empty()) {
    total = round;
    return;
  }
  total.events += round.events;
  total.seconds += round.seconds;
  total.server_cpu_seconds += round.server_cpu_seconds;
  total.capped = total.capped || round.capped;
  total.latencies_us.insert(total.latencies_us.end(), round.latencies_us.begin(), round.latencies_us.end());
}

const RunResult* find_run(const std::vector<RunResult>& runs, const std::string& mode, int concurrency, bool sync) {
  for (const RunResult& run : runs)
    if (run.mode == mode && run.concurrency == concurrency && run.synchronous_commit == sync) return &run;
  return nullptr;
}

namespace {

std::string ratio(const RunResult& run, const RunResult* base) {
  if (!base || base->events_per_second() <= 0) return "-";
  char out[32];
  std::snprintf(out, sizeof out, "%.2f", run.events_per_second() / base->events_per_second());
  return out;
}

}  // namespace

void print_table(const std::vector<RunResult>& runs) {
  std::printf("%-10s %5s %5s %10s %9s %9s %10s %8s %8s\n", "mode", "conc", "sync", "events/s", "p50 ms", "p99 ms",
              "cpu us/ev", "xfloor", "xvox");
  for (const RunResult& run : runs) {
    const RunResult* floor = find_run(runs, "floor", run.concurrency, run.synchronous_commit);
    const RunResult* vox = find_run(runs, "vox", run.concurrency, run.synchronous_commit);
    std::printf("%-10s %5d %5s %10.0f %9.2f %9.2f %10.0f %8s %8s%s\n", run.mode.c_str(), run.concurrency,
                run.synchronous_commit ? "on" : "off", run.events_per_second(), run.percentile_ms(0.50),
                run.percentile_ms(0.99), run.cpu_us_per_event(), ratio(run, floor).c_str(), ratio(run, vox).c_str(),
                run.capped ? "  (time limit: part of the workload)" : "");
  }
  std::printf(
      "cpu us/ev: CPU time of the processes doing the work per event: the connections' backends; for http,\n"
      "vox-shim and its pool's backends; for vox-notify, also vox's notifier (not the WAL writer, not the\n"
      "load generator)\n");
}

}  // namespace bench
