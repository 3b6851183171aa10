// NOTIFY vox_outbox, off the committing backend when it can be.
//
// A transaction that sends NOTIFY holds a cluster-wide lock from before its
// commit record is written until it is flushed, so committers that notify
// commit one at a time. With vox preloaded, a backend in vox.database only
// records the orgs whose outbox moved; at commit it puts them in a small
// shared queue and sets the notifier's latch. The notifier, a background
// worker in that database that the maintenance launcher starts when orgs are
// waiting and that leaves after two idle seconds, sends one NOTIFY per org
// per wake-up. Anywhere else (no preload, another database, no launcher) the
// backend sends the NOTIFY in its own transaction, as before.
//
// The payload is the org's id; an empty payload means "any org" (the queue
// overflowed). NOTIFY stays a hint: consumers poll as well.
#pragma once

extern "C" {
#include "postgres.h"
}

#include "spi.hpp"

namespace vox {

// Consumers of org's outbox hear of it once the current transaction commits
// (vox.notify on); nothing if it aborts.
void notify_outbox(const Uuid& org_id);

// From _PG_init: the commit hook always, the shared queue only while
// shared_preload_libraries is being processed.
void init_outbox_notifier(bool preloading);

// The maintenance launcher's side, all in the launcher process.
// Serve database (InvalidOid: none) from now on; the launcher's latch is set
// when orgs wait and no notifier runs.
void notifier_serve(Oid database);
// Starts a notifier when orgs wait and none runs, and forgets one that has
// stopped; call whenever the launcher's latch is set.
void tend_notifier();

}  // namespace vox

extern "C" PGDLLEXPORT void vox_notifier_main(Datum database);
