#include "settings.hpp"

#include <climits>

extern "C" {
#include "postgres.h"

#include "utils/guc.h"
}

namespace vox {

char* setting_database = nullptr;
int setting_maintenance_interval = 60;
int setting_retention = 30 * 24 * 3600;
int setting_queue_max_attempts = 10;
bool setting_notify = true;

namespace {
char* setting_org_id = nullptr;
char* setting_app_user = nullptr;
}  // namespace

void define_settings(bool preloading) {
  // A postmaster setting can only be defined while preloading; the worker
  // exists only then anyway.
  if (preloading)
    DefineCustomStringVariable("vox.database", "Database the vox maintenance worker connects to.", nullptr,
                               &setting_database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("vox.maintenance_interval", "Time between two rounds of the vox maintenance worker.",
                          nullptr, &setting_maintenance_interval, 60, 1, 86400, PGC_SIGHUP, GUC_UNIT_S, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("vox.retention",
                          "Age after which idempotency records and delivered outbox rows are deleted; a redelivery "
                          "older than this is applied again.",
                          nullptr, &setting_retention, 30 * 24 * 3600, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("vox.queue_max_attempts", "Claims after which an outbox row or recording upload is dead.",
                          nullptr, &setting_queue_max_attempts, 10, 1, 1000, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("vox.notify", "Send NOTIFY vox_outbox when an event adds outbox rows.", nullptr,
                           &setting_notify, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  // Read by SQL (row-level security, the audit log), defined here so that
  // the vox prefix can be reserved against typos.
  DefineCustomStringVariable("vox.org_id", "The org whose rows this session may read (row-level security).", nullptr,
                             &setting_org_id, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("vox.app_user", "The application user behind this session, for the audit log.", nullptr,
                             &setting_app_user, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("vox");
}

}  // namespace vox
