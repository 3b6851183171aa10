#include "settings.hpp"

#include <cctype>
#include <climits>
#include <string>

extern "C" {
#include "postgres.h"

#include "utils/guc.h"
}

namespace vox {

char* setting_database = nullptr;
char* setting_maintenance_role = nullptr;
int setting_maintenance_interval = 60;
int setting_retention = 30 * 24 * 3600;
int setting_queue_max_attempts = 10;
int setting_parked_max_attempts = 1000;
int setting_recording_retention = 0;
bool setting_notify = true;

namespace {
char* setting_org_id = nullptr;
char* setting_app_user = nullptr;

// The spellings uuid_in accepts (32 hex digits, a hyphen after any group of
// four but the last, optionally in braces), or empty: a malformed vox.org_id
// is refused by SET instead of failing every row-level-security query later.
bool check_org_id(char** value, void**, GucSource) {
  std::string text = *value ? *value : "";
  if (text.empty()) return true;
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
  int digits = 0;
  char previous = '-';
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else if (c != '-' || previous == '-' || digits % 4 != 0 || digits == 32) {
      digits = -1;
      break;
    }
    previous = c;
  }
  if (digits == 32 && previous != '-') return true;
  GUC_check_errdetail("vox.org_id must be an organization's uuid, or empty.");
  return false;
}
}  // namespace

void define_settings(bool preloading) {
  // A postmaster setting can only be defined while preloading; the worker
  // exists only then anyway.
  // Defined without the preload too, so that a configuration naming them is
  // not reported as invalid; only a preloading postmaster reads them.
  const GucContext worker_context = preloading ? PGC_POSTMASTER : PGC_SIGHUP;
  DefineCustomStringVariable("vox.database", "Database the vox maintenance worker connects to.", nullptr,
                             &setting_database, "postgres", worker_context, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("vox.maintenance_role",
                             "Role a vox maintenance round runs as (not a superuser; vox creates vox_maintenance).",
                             nullptr, &setting_maintenance_role, "vox_maintenance", worker_context, 0, nullptr, nullptr,
                             nullptr);
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
  DefineCustomIntVariable("vox.parked_max_attempts",
                          "Replays after which a parked event is dead: sweeps pass over it, a scoped replay still "
                          "applies it.",
                          nullptr, &setting_parked_max_attempts, 1000, 1, INT_MAX, PGC_SUSET, 0, nullptr, nullptr,
                          nullptr);
  // Server-wide (a reload), never a session's: what clinics promise holds
  // whichever session claims the deletions.
  DefineCustomIntVariable(
      "vox.recording_retention", "Age after which archived call recordings are deleted from storage; 0 keeps them.",
      nullptr, &setting_recording_retention, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("vox.notify", "Send NOTIFY vox_outbox when an event adds outbox rows.", nullptr,
                           &setting_notify, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  // Read by SQL (row-level security, the audit log), defined here so that
  // the vox prefix can be reserved against typos.
  DefineCustomStringVariable("vox.org_id", "The org whose rows this session may read (row-level security).", nullptr,
                             &setting_org_id, "", PGC_USERSET, 0, check_org_id, nullptr, nullptr);
  DefineCustomStringVariable("vox.app_user", "The application user behind this session, for the audit log.", nullptr,
                             &setting_app_user, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("vox");
}

}  // namespace vox
