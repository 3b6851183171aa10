#include "maintenance.hpp"

#include <string>

#include "handler.hpp"
#include "settings.hpp"
#include "spi.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void vox_maintenance_main(Datum);
}

namespace vox {

namespace {

// Deletes up to $2 rows of table whose age_column is more than $1 seconds
// ago, oldest first. ORDER BY the age index, SKIP LOCKED: a batch never waits
// on, nor holds for long, anything a webhook needs.
std::string expire_sql(const std::string& table, const std::string& age_column, const std::string& key) {
  return "WITH doomed AS (\n    SELECT org_id, " + key + " FROM " + table + "\n     WHERE " + age_column +
         " < now() - $1 * interval '1 second'\n     ORDER BY " + age_column +
         " LIMIT $2\n     FOR UPDATE SKIP LOCKED\n)\nDELETE FROM " + table +
         " t USING doomed d WHERE t.org_id = d.org_id AND t." + key + " = d." + key;
}
Statement remove_idempotency(expire_sql("vox.processed_webhook_events", "received_at", "event_id").c_str(),
                             {INT8OID, INT8OID});
Statement remove_outbox(expire_sql("vox.outbox", "delivered_at", "id").c_str(), {INT8OID, INT8OID});

Statement insert_run(R"SQL(
WITH forgotten AS (
    DELETE FROM vox.maintenance_runs WHERE finished_at < now() - $6 * interval '1 second'
)
INSERT INTO vox.maintenance_runs (ran_by, started_at, removed_idempotency, removed_outbox, replayed, error)
VALUES ($1, $2, $3, $4, $5, $7)
)SQL",
                     {TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID});

volatile sig_atomic_t got_sigterm = false;

// Also cancels what a round is doing, a lock wait included, so the worker
// leaves at once; the main loop never reaches CHECK_FOR_INTERRUPTS with the
// cancel still pending.
void handle_sigterm(SIGNAL_ARGS) {
  const int saved_errno = errno;
  got_sigterm = true;
  QueryCancelPending = true;
  InterruptPending = true;
  SetLatch(MyLatch);
  errno = saved_errno;
}

// One step of a round in a transaction of its own, so that a failure rolls
// back only that step and a batch never holds its locks past its own commit.
template <typename Fn>
void in_transaction(const char* activity, Fn&& step) {
  pg_call([&]() {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
  });
  spi_connect();
  step();
  spi_finish();
  pg_call([]() {
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
  });
}

// Whether vox is installed in this database at a version with the tables a
// round writes (an older one waits for ALTER EXTENSION vox UPDATE), and the
// server can write.
bool ready() {
  bool installed = false;
  pg_call([&]() {
    StartTransactionCommand();
    installed =
        !RecoveryInProgress() && OidIsValid(get_extension_oid("vox", true)) &&
        OidIsValid(RangeVarGetRelid(makeRangeVar(pstrdup("vox"), pstrdup("maintenance_runs"), -1), NoLock, true));
    CommitTransactionCommand();
  });
  return installed;
}

// Runs one step; a failure is logged, its transaction rolled back, and the
// worker carries on. Returns the error, or an empty string.
template <typename Fn>
std::string attempt(Fn&& step) {
  try {
    step();
    return "";
  } catch (const std::exception& e) {
    std::string error = e.what();
    try {
      pg_call([]() { AbortCurrentTransaction(); });
      forget_results();
      if (!got_sigterm)  // else the error is the cancel of the worker's own SIGTERM
        pg_call([&]() { ereport(LOG, errmsg("vox maintenance: %s", error.c_str())); });
    } catch (const std::exception&) {
      // Nothing more to do about it here; the next round starts afresh.
    }
    return error;
  }
}

void run_round() {
  bool installed = false;
  if (!attempt([&]() { installed = ready(); }).empty() || !installed) return;
  const TimestampTz started_at = GetCurrentTimestamp();
  Removed removed;
  int64_t replayed = 0;
  std::string error = attempt([&]() {
    for (bool more = true; more && !got_sigterm;) {
      in_transaction("vox maintenance: removing expired rows", [&]() {
        const Removed batch = remove_expired();
        removed.idempotency += batch.idempotency;
        removed.outbox += batch.outbox;
        more = batch.idempotency == kCleanupBatch || batch.outbox == kCleanupBatch;
      });
    }
  });
  if (error.empty() && !got_sigterm)
    error = attempt(
        [&]() { in_transaction("vox maintenance: replaying parked events", [&]() { replayed = replay_parked(); }); });
  if (got_sigterm) return;
  attempt([&]() {
    in_transaction("vox maintenance: recording the round", [&]() {
      record_maintenance_run("worker", started_at, removed, replayed, error.empty() ? nullptr : error.c_str());
    });
  });
}

}  // namespace

Removed remove_expired(int64_t batch) {
  Removed removed;
  Params params;
  params.int8(setting_retention).int8(batch);
  removed.idempotency = int64_t(execute(remove_idempotency, params).count());
  removed.outbox = int64_t(execute(remove_outbox, params).count());
  return removed;
}

void record_maintenance_run(const char* ran_by, int64_t started_at, const Removed& removed, int64_t replayed,
                            const char* error) {
  Params params;
  params.string(std::string(ran_by))
      .timestamp(Timestamp(started_at))
      .int8(removed.idempotency)
      .int8(removed.outbox)
      .int8(replayed)
      .int8(setting_retention)
      .string(error ? std::optional<std::string>(error) : std::nullopt);
  execute(insert_run, params);
}

void register_maintenance_worker() {
  BackgroundWorker worker = {};
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 5;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "vox");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "vox_maintenance_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "vox maintenance worker");
  snprintf(worker.bgw_type, BGW_MAXLEN, "vox maintenance worker");
  RegisterBackgroundWorker(&worker);
}

}  // namespace vox

// The worker's loop, as pg_cron's: wait on the latch, reload on SIGHUP, leave
// on SIGTERM, each round in transactions of its own and a memory context
// reset after it. It exits with 1 on SIGTERM so that the postmaster starts it
// again (bgw_restart_time), except at shutdown.
extern "C" void vox_maintenance_main(Datum) {
  using namespace vox;
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, handle_sigterm);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(setting_database, nullptr, 0);
  ereport(LOG, errmsg("vox maintenance worker started in database \"%s\"", setting_database));
  MemoryContext round_context =
      AllocSetContextCreate(TopMemoryContext, "vox maintenance round", ALLOCSET_DEFAULT_SIZES);
  while (!got_sigterm) {
    MemoryContext previous = MemoryContextSwitchTo(round_context);
    run_round();
    MemoryContextSwitchTo(previous);
    MemoryContextReset(round_context);
    if (got_sigterm) break;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                    long(setting_maintenance_interval) * 1000L, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    if (got_sigterm) break;
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
  }
  QueryCancelPending = false;  // the SIGTERM's cancel, if nothing consumed it
  ereport(LOG, errmsg("vox maintenance worker stopping"));
  proc_exit(1);
}
