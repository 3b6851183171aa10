// The archiver's statements, on a pool of its own (uploads never take the
// feed's connections): vox's recording queue and deletion functions, which
// the vox_relay role may execute.
#pragma once

#include <cstdint>
#include <string>

#include "feed_db.hpp"

namespace relay {

vox::DbSettings archive_db_settings(const std::string& conninfo);

// vox.claim_recording_uploads: rows {id, org_id, vapi_call_id, recording_url}.
DbResult claim_uploads(DbConnection& db, int max_items, int lease_seconds);
// vox.complete_recording_upload: value 'done', 'already done' or "" (the job is gone).
DbResult complete_upload(DbConnection& db, int64_t id, const std::string& key, uint64_t size,
                         const std::string& content_type, const std::string& sha256_hex);
// vox.fail_recording_upload: value is the job's new status.
DbResult fail_upload(DbConnection& db, int64_t id, const std::string& error);
// vox.claim_recording_deletions: rows {id, storage_path}.
DbResult claim_deletions(DbConnection& db, int max_items, int lease_seconds);
DbResult complete_deletion(DbConnection& db, int64_t id);
// value is the deletion's new status.
DbResult fail_deletion(DbConnection& db, int64_t id, const std::string& error);
// vox.recording_object: at most one row {storage_path}.
DbResult recording_object(DbConnection& db, const std::string& org_id, const std::string& vapi_call_id);
// vox.recording_queue_status: one row {waiting, oldest_waiting_seconds, dead}.
DbResult queue_status(DbConnection& db);

}  // namespace relay
