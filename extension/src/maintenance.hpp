// Bounded growth and parked-event replay without any caller: the maintenance
// background worker (with vox in shared_preload_libraries) and vox.cleanup().
#pragma once

#include <cstdint>

extern "C" {
#include "postgres.h"

#include "postmaster/bgworker.h"
}

namespace vox {

struct Removed {
  int64_t idempotency = 0;  // processed_webhook_events rows
  int64_t outbox = 0;       // delivered outbox rows
};

// Rows deleted per statement: small enough that no batch holds many locks.
constexpr int64_t kCleanupBatch = 1000;

// Deletes up to `batch` expired idempotency records and as many delivered
// outbox rows, in the current transaction (SPI connected).
Removed remove_expired(int64_t batch = kCleanupBatch);

// Records a maintenance round in vox.maintenance_runs and forgets rounds older
// than the retention (SPI connected).
void record_maintenance_run(const char* ran_by, int64_t started_at, const Removed& removed, int64_t replayed,
                            const char* error);

// From _PG_init while shared_preload_libraries is being processed.
void register_maintenance_worker();

// The launcher starts a worker of vox's (its entry point `function`, its
// backend_type `type`) in database; it is not restarted, and its start and
// end set the launcher's latch. nullptr when no slot is free.
BackgroundWorkerHandle* start_database_worker(const char* function, const char* type, Oid database);

}  // namespace vox
