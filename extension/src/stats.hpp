// Event counters by type and outcome, since the server started and over the
// last hour, in shared memory (so only with vox in shared_preload_libraries).
// Counted when handle_event returns or fails, whether or not the caller's
// transaction later commits: a measure of traffic, not of stored rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vox {

// From _PG_init while shared_preload_libraries is being processed.
void request_stats_memory();

// type: a canonical message type (others count as "other"); outcome:
// processed, duplicate, ignored, parked or invalid. Does nothing without the
// shared memory.
void count_event(const std::string& type, const std::string& outcome);

struct EventCount {
  const char* type;
  const char* outcome;
  uint64_t since_start;
  uint64_t last_hour;
};
// Every (type, outcome) pair; empty without the shared memory.
std::vector<EventCount> event_counts();

}  // namespace vox
