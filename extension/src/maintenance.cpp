#include "maintenance.hpp"

#include <string>

#include "distribution.hpp"
#include "handler.hpp"
#include "outbox_notifier.hpp"
#include "settings.hpp"
#include "spi.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PGDLLEXPORT void vox_maintenance_main(Datum);
PGDLLEXPORT void vox_maintenance_round_main(Datum);
}

namespace vox {

namespace {

// Deletes up to $2 rows of table whose age_column is more than $1 ago,
// oldest first. ORDER BY the age index, SKIP LOCKED: a batch never waits on,
// nor holds for long, anything a webhook needs. Operators and functions are
// pg_catalog's by name, whatever the search_path of a caller. On Citus
// (locking empty), which locks no rows across shards, a row two batches pick
// is deleted by one.
std::string expire_sql(const std::string& table, const std::string& age_column, const std::string& key,
                       const char* locking = "FOR UPDATE SKIP LOCKED") {
  return "WITH doomed AS (\n    SELECT org_id, " + key + " FROM " + table + "\n     WHERE " + age_column +
         " OPERATOR(pg_catalog.<) $1\n     ORDER BY " + age_column + " LIMIT $2\n     " + locking +
         "\n)\nDELETE FROM " + table + " t USING doomed d WHERE t.org_id OPERATOR(pg_catalog.=) d.org_id AND t." +
         key + " OPERATOR(pg_catalog.=) d." + key;
}

// From 0.4.0 on, a feed cursor that did not see a deleted outbox row may have
// missed it: each org's horizon moves past the rows deleted (vox.feed_read
// resets such cursors).
std::string expire_outbox_past_horizon_sql(const char* locking) {
  return "WITH removed AS (\n" + expire_sql("vox.outbox", "delivered_at", "id", locking) +
         "\n    RETURNING t.org_id, t.committed_by\n), horizon AS (\n"
         "    INSERT INTO vox.feed_horizons AS h (org_id, removed_through)\n"
         "    SELECT org_id, pg_catalog.max(committed_by) FROM removed GROUP BY org_id\n"
         "    ON CONFLICT (org_id) DO UPDATE SET removed_through = GREATEST(\n"
         "        h.removed_through, excluded.removed_through)\n)\n"
         "SELECT pg_catalog.count(*) FROM removed";
}

// The statements of one retention batch, for a single node or for Citus
// (planned with the values in hand, as Citus plans them).
struct Expiry {
  explicit Expiry(const char* locking, Statement::Planning planning)
      : idempotency(expire_sql("vox.processed_webhook_events", "received_at", "event_id", locking).c_str(),
                    {TIMESTAMPTZOID, INT8OID}, planning),
        outbox_past_horizon(expire_outbox_past_horizon_sql(locking).c_str(), {TIMESTAMPTZOID, INT8OID}, planning) {}
  Statement idempotency;
  Statement outbox_past_horizon;
};
Expiry local_expiry("FOR UPDATE SKIP LOCKED", Statement::Planning::kGeneric);
Expiry distributed_expiry("", Statement::Planning::kCustom);
// The library serves schemas older than 0.4.0, without horizons, until
// ALTER EXTENSION UPDATE: the statement follows the installed schema.
Statement remove_outbox(expire_sql("vox.outbox", "delivered_at", "id").c_str(), {TIMESTAMPTZOID, INT8OID});

Statement insert_run(R"SQL(
WITH forgotten AS (
    DELETE FROM vox.maintenance_runs WHERE finished_at OPERATOR(pg_catalog.<) $6
)
INSERT INTO vox.maintenance_runs (ran_by, started_at, removed_idempotency, removed_outbox, replayed, error)
VALUES ($1, $2, $3, $4, $5, $7)
)SQL",
                     {TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID});

// What a round runs, as the worker role: each step one call to a SECURITY
// DEFINER function of vox, which runs as vox's owner with its search_path
// pinned, in a transaction of its own.
Statement worker_remove_expired(
    "SELECT removed_idempotency, removed_outbox FROM vox.remove_expired($1::pg_catalog.int4)", {INT4OID});
Statement worker_replay("SELECT examined, applied FROM vox.replay_parked_batch($1::pg_catalog.int4, $2)",
                        {INT4OID, TIMESTAMPTZOID});
Statement worker_record_run("SELECT vox.record_maintenance_run($1, $2, $3, $4, $5)",
                            {TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, TEXTOID});
// vox at a version with the worker's functions (older ones wait for ALTER
// EXTENSION vox UPDATE).
Statement worker_functions_installed(
    "SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace "
    "WHERE n.nspname OPERATOR(pg_catalog.=) 'vox' AND p.proname OPERATOR(pg_catalog.=) 'record_maintenance_run'");

constexpr int kReplayBatch = 100;  // parked events per transaction of a round

volatile sig_atomic_t got_sigterm = false;
// Set once a round is connected: a cancel raised while it connects would
// escape the round's error handling, end it with an ERROR in the log and
// exit code 1.
volatile sig_atomic_t cancel_on_sigterm = false;

// In a round, also cancels what it is doing, a lock wait included, so the
// round leaves at once.
void handle_round_sigterm(SIGNAL_ARGS) {
  const int saved_errno = errno;
  got_sigterm = true;
  if (cancel_on_sigterm) {
    QueryCancelPending = true;
    InterruptPending = true;
  }
  SetLatch(MyLatch);
  errno = saved_errno;
}

void handle_launcher_sigterm(SIGNAL_ARGS) {
  const int saved_errno = errno;
  got_sigterm = true;
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

// Runs one step; a failure is logged, its transaction rolled back, and the
// round carries on. Returns the error, or an empty string.
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
      if (!got_sigterm)  // else the error is the cancel of the round's own SIGTERM
        pg_call([&]() { ereport(LOG, errmsg("vox maintenance: %s", error.c_str())); });
    } catch (const std::exception&) {
      // Nothing more to do about it here; the next round starts afresh.
    }
    return error;
  }
}

// Becomes the worker role (vox.maintenance_role) if vox is ready for a round: the
// server can write, and vox is installed at a version with the worker's
// functions. Until then the round was the bootstrap superuser's, reading
// catalogs only.
bool become_maintenance_role() {
  bool ready = false;
  std::string refusal;
  in_transaction("vox maintenance: starting a round", [&]() {
    Params none;
    if (RecoveryInProgress() || execute(worker_functions_installed, none, 1).count() == 0) return;
    pg_call([&]() {
      HeapTuple role = SearchSysCache1(AUTHNAME, CStringGetDatum(setting_maintenance_role));
      if (!HeapTupleIsValid(role)) {
        refusal = "role \"" + std::string(setting_maintenance_role) + "\" (vox.maintenance_role) does not exist";
        return;
      }
      const Form_pg_authid form = reinterpret_cast<Form_pg_authid>(GETSTRUCT(role));
      const Oid role_id = form->oid;
      const bool privileged = form->rolsuper || form->rolbypassrls;
      ReleaseSysCache(role);
      if (privileged) {
        refusal = "role \"" + std::string(setting_maintenance_role) +
                  "\" (vox.maintenance_role) is a superuser or bypasses row-level security";
        return;
      }
      SetSessionAuthorization(role_id, false);
      // pg_stat_activity shows the role a session started as, here the
      // bootstrap superuser: a DBA must see the role the round runs as.
      PGSTAT_BEGIN_WRITE_ACTIVITY(MyBEEntry);
      MyBEEntry->st_userid = role_id;
      PGSTAT_END_WRITE_ACTIVITY(MyBEEntry);
      ready = true;
    });
  });
  if (!refusal.empty())
    pg_call([&]() { ereport(LOG, errmsg("vox maintenance: no round: %s", refusal.c_str())); });
  return ready;
}

bool vox_dropped = false;  // during this round, which then ends quietly

// One step of a round on vox's objects, with vox's extension locked against
// DROP EXTENSION until the step commits: a DROP waits for the step, and the
// steps after it are skipped, instead of failing on vox's vanished objects.
template <typename Fn>
void vox_step(const char* activity, Fn&& step) {
  in_transaction(activity, [&]() {
    if (!vox_dropped)
      vox_dropped = !pg_call([]() {
        const Oid extension = get_extension_oid("vox", true);
        if (!OidIsValid(extension)) return false;
        LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
        return get_extension_oid("vox", true) == extension;  // not dropped while this waited
      });
    if (!vox_dropped) step();
  });
}

void run_round() {
  bool ready = false;
  if (!attempt([&]() { ready = become_maintenance_role(); }).empty() || !ready) return;
  const TimestampTz started_at = GetCurrentTimestamp();
  Removed removed;
  int64_t replayed = 0;
  std::string error = attempt([&]() {
    for (bool more = true; more && !got_sigterm && !vox_dropped;) {
      vox_step("vox maintenance: removing expired rows", [&]() {
        Params params;
        params.int8(kCleanupBatch);
        Rows rows = execute(worker_remove_expired, params);
        removed.idempotency += rows.int8(0, 1);
        removed.outbox += rows.int8(0, 2);
        more = rows.int8(0, 1) == kCleanupBatch || rows.int8(0, 2) == kCleanupBatch;
      });
    }
  });
  // Each batch tries events not tried since the round started, so the round
  // ends however many stay unresolvable.
  for (bool more = error.empty(); more && !got_sigterm && !vox_dropped;) {
    error = attempt([&]() {
      vox_step("vox maintenance: replaying parked events", [&]() {
        Params params;
        params.int8(kReplayBatch).timestamp(Timestamp(started_at));
        Rows rows = execute(worker_replay, params);
        replayed += rows.int8(0, 2);
        more = rows.int8(0, 1) == kReplayBatch;
      });
    });
    if (!error.empty()) break;
  }
  if (got_sigterm) return;
  attempt([&]() {
    vox_step("vox maintenance: recording the round", [&]() {
      Params params;
      params.timestamp(Timestamp(started_at))
          .int8(removed.idempotency)
          .int8(removed.outbox)
          .int8(replayed)
          .string(error.empty() ? std::nullopt : std::optional<std::string>(error));
      execute(worker_record_run, params);
    });
  });
}

// The database a round may connect to: vox.database, when it exists and
// takes connections (not a template being copied, not being dropped). Said
// in the log when that changes, not every round.
Oid database_for_round() {
  static bool reported_missing = false;
  Oid database = InvalidOid;
  pg_call([&]() {
    StartTransactionCommand();
    // A sequential scan: without a database of its own the launcher cannot
    // open pg_database's indexes.
    Relation databases = table_open(DatabaseRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum(setting_database));
    SysScanDesc scan = systable_beginscan(databases, InvalidOid, false, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    if (HeapTupleIsValid(tuple)) {
      const Form_pg_database form = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
      if (form->datallowconn && form->datconnlimit != DATCONNLIMIT_INVALID_DB) database = form->oid;
    }
    systable_endscan(scan);
    table_close(databases, AccessShareLock);
    CommitTransactionCommand();
  });
  if (!OidIsValid(database) && !reported_missing)
    pg_call([]() {
      ereport(LOG, errmsg("vox maintenance: database \"%s\" (vox.database) does not exist or takes no connections; "
                          "rounds wait for it",
                          setting_database));
    });
  reported_missing = !OidIsValid(database);
  return database;
}

// Starts a round in database, and waits until it ends. A SIGTERM to the
// launcher ends the round too.
void run_round_worker(Oid database) {
  BackgroundWorkerHandle* handle = start_database_worker("vox_maintenance_round_main", "vox maintenance round", database);
  if (!handle) {
    ereport(LOG, errmsg("vox maintenance: no background worker slot free for a round (max_worker_processes)"));
    return;
  }
  for (;;) {
    pid_t pid;
    if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED) break;
    if (got_sigterm) TerminateBackgroundWorker(handle);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    tend_notifier();
  }
  pfree(handle);
}

}  // namespace

BackgroundWorkerHandle* start_database_worker(const char* function, const char* type, Oid database) {
  BackgroundWorker worker = {};
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "vox");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(worker.bgw_name, BGW_MAXLEN, "%s", type);
  snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
  worker.bgw_main_arg = ObjectIdGetDatum(database);
  worker.bgw_notify_pid = MyProcPid;  // its start and its end set the launcher's latch
  BackgroundWorkerHandle* handle = nullptr;
  return RegisterDynamicBackgroundWorker(&worker, &handle) ? handle : nullptr;
}

Removed remove_expired(int64_t batch) {
  Removed removed;
  Params params;
  params.timestamp(Timestamp(GetCurrentTransactionStartTimestamp() - int64_t(setting_retention) * USECS_PER_SEC))
      .int8(batch);
  Expiry& expiry = tables_distributed() ? distributed_expiry : local_expiry;
  removed.idempotency = int64_t(execute(expiry.idempotency, params).count());
  const Oid vox_schema = pg_call([]() { return get_namespace_oid("vox", false); });
  const bool has_horizons = pg_call([&]() { return OidIsValid(get_relname_relid("feed_horizons", vox_schema)); });
  removed.outbox = has_horizons ? execute(expiry.outbox_past_horizon, params).int8(0, 1)
                                : int64_t(execute(remove_outbox, params).count());
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
      .timestamp(Timestamp(GetCurrentTransactionStartTimestamp() - int64_t(setting_retention) * USECS_PER_SEC))
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

// The launcher's loop, as pg_cron's: wait on the latch, reload on SIGHUP,
// leave on SIGTERM. It holds no database: each round is a worker of its own
// that connects to vox.database, runs, and exits, so the database can be
// dropped, renamed or copied between rounds. It exits with 1 on SIGTERM so
// that the postmaster starts it again (bgw_restart_time), except at shutdown.
extern "C" void vox_maintenance_main(Datum) {
  using namespace vox;
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, handle_launcher_sigterm);
  pqsignal(SIGINT, SIG_IGN);  // a cancel has nothing to cancel here: rounds are their own processes
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);  // shared catalogs only
  ereport(LOG, errmsg("vox maintenance worker started for database \"%s\"", setting_database));
  while (!got_sigterm) {
    const Oid database = database_for_round();
    notifier_serve(database);
    tend_notifier();
    if (OidIsValid(database)) run_round_worker(database);
    // The latch is also set when a round's worker stops: wait out the
    // interval, unless a SIGHUP changes it.
    const TimestampTz next_round = GetCurrentTimestamp() + int64_t(setting_maintenance_interval) * USECS_PER_SEC;
    for (TimestampTz now = GetCurrentTimestamp(); !got_sigterm && now < next_round; now = GetCurrentTimestamp()) {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, (next_round - now) / 1000 + 1,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      tend_notifier();
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
        break;
      }
    }
  }
  ereport(LOG, errmsg("vox maintenance worker stopping"));
  proc_exit(1);
}

// One round in one database. It connects as the bootstrap superuser only to
// read the catalogs, pins search_path over any ALTER DATABASE or ALTER ROLE
// setting, then runs as vox.maintenance_role, which may only execute vox's
// maintenance functions. Its statistics are reported when it exits.
extern "C" void vox_maintenance_round_main(Datum database) {
  using namespace vox;
  pqsignal(SIGTERM, handle_round_sigterm);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(database), InvalidOid, 0);
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
  cancel_on_sigterm = true;
  if (!got_sigterm) run_round();
  QueryCancelPending = false;  // the SIGTERM's cancel, if nothing consumed it
  proc_exit(0);
}
