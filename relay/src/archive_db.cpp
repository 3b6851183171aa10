#include "archive_db.hpp"

namespace relay {

namespace {

constexpr const char* kClaimUploads = "vox_claim_recording_uploads";
constexpr const char* kCompleteUpload = "vox_complete_recording_upload";
constexpr const char* kFailUpload = "vox_fail_recording_upload";
constexpr const char* kClaimDeletions = "vox_claim_recording_deletions";
constexpr const char* kCompleteDeletion = "vox_complete_recording_deletion";
constexpr const char* kFailDeletion = "vox_fail_recording_deletion";
constexpr const char* kRecordingObject = "vox_recording_object";
constexpr const char* kQueueStatus = "vox_recording_queue_status";

DbResult run(DbConnection& db, const char* statement, std::initializer_list<std::string> arguments) {
  std::vector<const char*> values;
  for (const std::string& argument : arguments) values.push_back(argument.c_str());
  return db.run(statement, int(values.size()), values.data(), call_deadline());
}

}  // namespace

vox::DbSettings archive_db_settings(const std::string& conninfo) {
  vox::DbSettings settings = relay_db_settings(conninfo);
  settings.application_name = "vox-relay archiver";
  settings.statements = {
      {kClaimUploads,
       "SELECT id, org_id, vapi_call_id, recording_url FROM vox.claim_recording_uploads($1::integer, "
       "make_interval(secs => $2::integer))"},
      {kCompleteUpload,
       "SELECT vox.complete_recording_upload($1::bigint, $2::text, $3::bigint, $4::text, $5::text)"},
      {kFailUpload, "SELECT vox.fail_recording_upload($1::bigint, $2::text)"},
      {kClaimDeletions,
       "SELECT id, storage_path FROM vox.claim_recording_deletions($1::integer, make_interval(secs => $2::integer))"},
      {kCompleteDeletion, "SELECT vox.complete_recording_deletion($1::bigint)"},
      {kFailDeletion, "SELECT vox.fail_recording_deletion($1::bigint, $2::text)"},
      {kRecordingObject, "SELECT storage_path FROM vox.recording_object($1::uuid, $2::text)"},
      {kQueueStatus, "SELECT waiting, oldest_waiting_seconds, dead FROM vox.recording_queue_status()"},
  };
  return settings;
}

DbResult claim_uploads(DbConnection& db, int max_items, int lease_seconds) {
  return run(db, kClaimUploads, {std::to_string(max_items), std::to_string(lease_seconds)});
}

DbResult complete_upload(DbConnection& db, int64_t id, const std::string& key, uint64_t size,
                         const std::string& content_type, const std::string& sha256_hex) {
  return run(db, kCompleteUpload, {std::to_string(id), key, std::to_string(size), content_type, sha256_hex});
}

DbResult fail_upload(DbConnection& db, int64_t id, const std::string& error) {
  return run(db, kFailUpload, {std::to_string(id), error});
}

DbResult claim_deletions(DbConnection& db, int max_items, int lease_seconds) {
  return run(db, kClaimDeletions, {std::to_string(max_items), std::to_string(lease_seconds)});
}

DbResult complete_deletion(DbConnection& db, int64_t id) { return run(db, kCompleteDeletion, {std::to_string(id)}); }

DbResult fail_deletion(DbConnection& db, int64_t id, const std::string& error) {
  return run(db, kFailDeletion, {std::to_string(id), error});
}

DbResult recording_object(DbConnection& db, const std::string& org_id, const std::string& vapi_call_id) {
  return run(db, kRecordingObject, {org_id, vapi_call_id});
}

DbResult queue_status(DbConnection& db) { return run(db, kQueueStatus, {}); }

}  // namespace relay
