#include "stats.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace vox {

namespace {

constexpr const char* kTypes[] = {"status-update", "transcript", "end-of-call-report", "assistant-request", "other"};
// "noted" counts applied events that carried fields vox could not use (their
// notes are on the call's row), in addition to their outcome.
constexpr const char* kOutcomes[] = {"processed", "duplicate", "ignored", "parked", "invalid", "noted"};
constexpr int kTypeCount = sizeof kTypes / sizeof *kTypes;
constexpr int kOutcomeCount = sizeof kOutcomes / sizeof *kOutcomes;
constexpr int kMinutes = 60;

struct Counts {
  pg_atomic_uint64 value[kTypeCount][kOutcomeCount];
};

// One minute of the last hour, reused an hour later.
struct MinuteBucket {
  pg_atomic_uint64 minute;  // minutes since the epoch this bucket holds
  Counts counts;
};

struct StatsMemory {
  slock_t rotation;  // taken only to start a bucket's new minute
  Counts since_start;
  MinuteBucket minutes[kMinutes];
};

StatsMemory* stats = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

void zero(Counts& counts) {
  for (auto& by_type : counts.value)
    for (auto& value : by_type) pg_atomic_init_u64(&value, 0);
}

void request_memory() {
  if (previous_request_hook) previous_request_hook();
  RequestAddinShmemSpace(sizeof(StatsMemory));
}

void attach_memory() {
  if (previous_startup_hook) previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  stats = static_cast<StatsMemory*>(ShmemInitStruct("vox event counters", sizeof(StatsMemory), &found));
  if (!found) {
    SpinLockInit(&stats->rotation);
    zero(stats->since_start);
    for (MinuteBucket& bucket : stats->minutes) {
      pg_atomic_init_u64(&bucket.minute, 0);
      zero(bucket.counts);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}

int index_of(const char* const* names, int count, const std::string& name) {
  for (int i = 0; i < count; ++i)
    if (name == names[i]) return i;
  return -1;
}

uint64 current_minute() { return uint64(GetCurrentTimestamp() / USECS_PER_MINUTE); }

}  // namespace

void request_stats_memory() {
  previous_request_hook = shmem_request_hook;
  shmem_request_hook = request_memory;
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = attach_memory;
}

void count_event(const std::string& type, const std::string& outcome) {
  if (!stats) return;
  const int o = index_of(kOutcomes, kOutcomeCount, outcome);
  if (o < 0) return;
  int t = index_of(kTypes, kTypeCount, type);
  if (t < 0) t = kTypeCount - 1;  // other
  const uint64 minute = current_minute();
  MinuteBucket& bucket = stats->minutes[minute % kMinutes];
  if (pg_atomic_read_u64(&bucket.minute) != minute) {
    SpinLockAcquire(&stats->rotation);
    if (pg_atomic_read_u64(&bucket.minute) != minute) {
      zero(bucket.counts);
      pg_atomic_write_u64(&bucket.minute, minute);
    }
    SpinLockRelease(&stats->rotation);
  }
  pg_atomic_fetch_add_u64(&bucket.counts.value[t][o], 1);
  pg_atomic_fetch_add_u64(&stats->since_start.value[t][o], 1);
}

std::vector<EventCount> event_counts() {
  std::vector<EventCount> rows;
  if (!stats) return rows;
  const uint64 now = current_minute();
  for (int t = 0; t < kTypeCount; ++t) {
    for (int o = 0; o < kOutcomeCount; ++o) {
      uint64 last_hour = 0;
      for (MinuteBucket& bucket : stats->minutes)
        if (pg_atomic_read_u64(&bucket.minute) + kMinutes > now)
          last_hour += pg_atomic_read_u64(&bucket.counts.value[t][o]);
      rows.push_back({kTypes[t], kOutcomes[o], pg_atomic_read_u64(&stats->since_start.value[t][o]), last_hour});
    }
  }
  return rows;
}

}  // namespace vox
