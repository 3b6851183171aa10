// Latencies of a run and the printed table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct RunResult {
  std::string mode;
  int concurrency = 0;
  bool synchronous_commit = true;
  int64_t events = 0;
  double seconds = 0;
  bool capped = false;                 // stopped at the time limit before the workload's end
  std::vector<uint32_t> latencies_us;  // one per event
  double server_cpu_seconds = 0;       // CPU of the processes that did the work: backends (and the shim)

  double events_per_second() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double cpu_us_per_event() const { return events > 0 ? server_cpu_seconds * 1e6 / static_cast<double>(events) : 0; }
  // q in [0, 1], in milliseconds.
  double percentile_ms(double q) const;
};

// Adds a later round of the same run.
void merge_round(RunResult& total, const RunResult& round);

// The run of `mode` at the same concurrency and synchronous_commit, if any.
const RunResult* find_run(const std::vector<RunResult>& runs, const std::string& mode, int concurrency, bool sync);

// mode, concurrency, sync commit, events/s, p50, p99, server CPU per event,
// ratio to floor and vox.
void print_table(const std::vector<RunResult>& runs);

}  // namespace bench
