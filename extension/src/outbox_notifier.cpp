#include "outbox_notifier.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "maintenance.hpp"
#include "pg_bridge.hpp"
#include "settings.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"
}

namespace vox {

namespace {

constexpr const char* kChannel = "vox_outbox";
// Distinct orgs waiting in the queue (and in one transaction); beyond it,
// one NOTIFY for any org.
constexpr int kQueuedOrgs = 128;
// A notifier with nothing to send for this long leaves, so that it never
// keeps vox.database from being dropped or copied for long.
constexpr long kIdleExitMs = 2000;

struct NotifyQueue {
  slock_t lock;
  Oid database;     // the notifier's (vox.database); InvalidOid: none
  Latch* launcher;  // null while no launcher runs
  Latch* notifier;  // null while no notifier takes orgs
  bool any_org;     // overflowed: one NOTIFY for any org
  uint64 connected;  // notifiers that connected to their database, ever
  int count;
  pg_uuid_t orgs[kQueuedOrgs];
};

NotifyQueue* queue = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

// This transaction's orgs, published at its commit.
std::vector<Uuid> transaction_orgs;
bool transaction_any_org = false;

void request_memory() {
  if (previous_request_hook) previous_request_hook();
  RequestAddinShmemSpace(sizeof(NotifyQueue));
}

void attach_memory() {
  if (previous_startup_hook) previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  queue = static_cast<NotifyQueue*>(ShmemInitStruct("vox outbox notifications", sizeof(NotifyQueue), &found));
  if (!found) {
    SpinLockInit(&queue->lock);
    queue->database = InvalidOid;
    queue->launcher = nullptr;
    queue->notifier = nullptr;
    queue->any_org = false;
    queue->connected = 0;
    queue->count = 0;
  }
  LWLockRelease(AddinShmemInitLock);
}

bool queued(const pg_uuid_t& org) {
  for (int i = 0; i < queue->count; ++i)
    if (std::memcmp(queue->orgs[i].data, org.data, UUID_LEN) == 0) return true;
  return false;
}

// At commit the rows are visible to every new snapshot: hand the orgs to the
// notifier (or to the launcher, which starts one). Nothing here can fail.
void publish() {
  SpinLockAcquire(&queue->lock);
  queue->any_org = queue->any_org || transaction_any_org;
  for (const Uuid& org : transaction_orgs) {
    if (queue->any_org) break;
    pg_uuid_t entry;
    std::memcpy(entry.data, org.bytes.data(), UUID_LEN);
    if (queued(entry)) continue;
    if (queue->count == kQueuedOrgs)
      queue->any_org = true;
    else
      queue->orgs[queue->count++] = entry;
  }
  if (queue->any_org) queue->count = 0;
  Latch* wake = queue->notifier ? queue->notifier : queue->launcher;
  SpinLockRelease(&queue->lock);
  if (wake) SetLatch(wake);
}

void at_transaction_end(XactEvent event, void*) {
  if (transaction_orgs.empty() && !transaction_any_org) return;
  if (event == XACT_EVENT_COMMIT) publish();
  // A prepared transaction's orgs are dropped: consumers find its rows when
  // they poll after COMMIT PREPARED.
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE) {
    transaction_orgs.clear();
    transaction_any_org = false;
  }
}

// Whether this backend's commits can leave the NOTIFY to the notifier.
bool notifier_serves_this_database() {
  if (!queue) return false;
  SpinLockAcquire(&queue->lock);
  const bool served = queue->database == MyDatabaseId && queue->launcher != nullptr;
  SpinLockRelease(&queue->lock);
  return served;
}

// The launcher's latch leaves the queue with the launcher.
void launcher_leaves(int, Datum) {
  SpinLockAcquire(&queue->lock);
  queue->launcher = nullptr;
  SpinLockRelease(&queue->lock);
}

// In the launcher: the notifier it started, and queue->connected then.
BackgroundWorkerHandle* notifier_handle = nullptr;
uint64 connected_before_start = 0;

// --- The notifier --------------------------------------------------------------

// What one wake-up sends.
struct Batch {
  bool any_org = false;
  int count = 0;
  pg_uuid_t orgs[kQueuedOrgs];
};

// Takes what waits. Returns false (and stops taking orgs) when nothing has
// waited for kIdleExitMs: decided under the lock that committers read, so
// that from then on they wake the launcher instead.
bool take(Batch& batch, TimestampTz& last_sent) {
  const TimestampTz now = GetCurrentTimestamp();
  bool stay = true;
  SpinLockAcquire(&queue->lock);
  batch.any_org = queue->any_org;
  batch.count = queue->count;
  std::memcpy(batch.orgs, queue->orgs, sizeof(pg_uuid_t) * size_t(queue->count));
  queue->any_org = false;
  queue->count = 0;
  if (batch.any_org || batch.count > 0)
    last_sent = now;
  else if (TimestampDifferenceExceeds(last_sent, now, int(kIdleExitMs))) {
    if (queue->notifier == MyLatch) queue->notifier = nullptr;
    stay = false;
  }
  SpinLockRelease(&queue->lock);
  return stay;
}

// The payload of org: its id as uuid_out writes it.
void format_uuid(const pg_uuid_t& org, char (&out)[UUID_LEN * 2 + 5]) {
  static const char digits[] = "0123456789abcdef";
  char* p = out;
  for (int i = 0; i < UUID_LEN; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = digits[org.data[i] >> 4];
    *p++ = digits[org.data[i] & 0x0f];
  }
  *p = '\0';
}

// One transaction whose commit sends the batch's notifications.
void send(const Batch& batch) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  pgstat_report_activity(STATE_RUNNING, "vox notifier: NOTIFY vox_outbox");
  if (batch.any_org) {
    Async_Notify(kChannel, "");
  } else {
    char payload[UUID_LEN * 2 + 5];
    for (int i = 0; i < batch.count; ++i) {
      format_uuid(batch.orgs[i], payload);
      Async_Notify(kChannel, payload);
    }
  }
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

// However the notifier ends, committers stop setting its latch, and orgs it
// did not take go to the next one.
void notifier_leaves(int, Datum) {
  SpinLockAcquire(&queue->lock);
  if (queue->notifier == MyLatch) queue->notifier = nullptr;
  Latch* launcher = queue->any_org || queue->count > 0 ? queue->launcher : nullptr;
  SpinLockRelease(&queue->lock);
  if (launcher) SetLatch(launcher);
}

}  // namespace

void notify_outbox(const Uuid& org_id) {
  if (!setting_notify) return;
  if (!notifier_serves_this_database()) {
    const std::string org = org_id.to_string();
    pg_call([&]() { Async_Notify(kChannel, org.c_str()); });
    return;
  }
  if (transaction_any_org || std::find(transaction_orgs.begin(), transaction_orgs.end(), org_id) !=
                                 transaction_orgs.end())
    return;
  if (transaction_orgs.size() == size_t(kQueuedOrgs)) {
    transaction_orgs.clear();
    transaction_any_org = true;
    return;
  }
  transaction_orgs.reserve(kQueuedOrgs);
  transaction_orgs.push_back(org_id);
}

void init_outbox_notifier(bool preloading) {
  RegisterXactCallback(at_transaction_end, nullptr);
  if (!preloading) return;
  previous_request_hook = shmem_request_hook;
  shmem_request_hook = request_memory;
  previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = attach_memory;
}

void notifier_serve(Oid database) {
  static bool registered = false;
  SpinLockAcquire(&queue->lock);
  queue->database = database;
  queue->launcher = MyLatch;
  SpinLockRelease(&queue->lock);
  if (!registered) before_shmem_exit(launcher_leaves, 0);
  registered = true;
}

void tend_notifier() {
  if (notifier_handle) {
    pid_t pid;
    if (GetBackgroundWorkerPid(notifier_handle, &pid) != BGWH_STOPPED) return;
    pfree(notifier_handle);
    notifier_handle = nullptr;
    // It never connected (its database dropped or not taking connections):
    // starting another would fail alike until the launcher looks the
    // database up again. Until then committers notify themselves, and what
    // waits is dropped: consumers find it when they poll.
    SpinLockAcquire(&queue->lock);
    const bool never_connected = queue->connected == connected_before_start;
    if (never_connected) {
      queue->database = InvalidOid;
      queue->any_org = false;
      queue->count = 0;
    }
    SpinLockRelease(&queue->lock);
    if (never_connected) ereport(LOG, errmsg("vox notifier: could not connect; committers notify themselves"));
  }
  SpinLockAcquire(&queue->lock);
  // A notifier that an earlier launcher started may still be taking orgs.
  const bool waiting = (queue->any_org || queue->count > 0) && queue->notifier == nullptr;
  const Oid database = queue->database;
  connected_before_start = queue->connected;
  SpinLockRelease(&queue->lock);
  if (!waiting || !OidIsValid(database)) return;
  notifier_handle = start_database_worker("vox_notifier_main", "vox notifier", database);
  if (!notifier_handle) {
    static bool reported = false;
    if (!reported)
      ereport(LOG, errmsg("vox notifier: no background worker slot free (max_worker_processes); "
                          "outbox consumers wait for their poll"));
    reported = true;
  }
}

}  // namespace vox

// The notifier's loop: take what waits, send it in one transaction, wait on
// the latch; leave on SIGTERM or after kIdleExitMs with nothing to send. It
// runs no SQL and reads no table, only sends notifications, so it connects
// as the bootstrap superuser without running anyone's code.
extern "C" void vox_notifier_main(Datum database) {
  using namespace vox;
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(database), InvalidOid, 0);
  before_shmem_exit(notifier_leaves, 0);
  SpinLockAcquire(&queue->lock);
  queue->notifier = MyLatch;
  ++queue->connected;
  SpinLockRelease(&queue->lock);
  static Batch batch;
  TimestampTz last_sent = GetCurrentTimestamp();
  while (!ShutdownRequestPending) {
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    if (!take(batch, last_sent)) break;
    if (batch.any_org || batch.count > 0) send(batch);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kIdleExitMs, PG_WAIT_EXTENSION);
  }
  proc_exit(0);
}
