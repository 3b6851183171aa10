#include "feed_db.hpp"

namespace relay {

namespace {

constexpr const char* kAuthorize = "vox_feed_authorize";
constexpr const char* kCredentialsValid = "vox_feed_credentials_valid";
constexpr const char* kStart = "vox_feed_start";
constexpr const char* kRead = "vox_feed_read";
constexpr const char* kTranscript = "vox_feed_transcript";

constexpr int kStatementTimeoutMs = 5000;
constexpr const char* kConnectionFailure = "08006";

}  // namespace

vox::DbSettings relay_db_settings(const std::string& conninfo) {
  return vox::DbSettings{
      conninfo,
      "vox-relay",
      {
          {kAuthorize, "SELECT vox.feed_authorize($1::uuid, $2::text)"},
          {kCredentialsValid, "SELECT vox.feed_credentials_valid($1::bigint[])"},
          {kStart, "SELECT cursor, calls FROM vox.feed_start($1::uuid, $2::integer)"},
          {kRead, "SELECT cursor, topic, data FROM vox.feed_read($1::uuid, $2::text, $3::integer)"},
          {kTranscript, "SELECT vox.feed_transcript($1::uuid, $2::text, $3::integer)"},
      },
      2,                    // connect_timeout, seconds
      kStatementTimeoutMs,  // statement_timeout
      2000,                 // lock_timeout
      10000,                // idle_in_transaction_session_timeout
  };
}

DbResult with_connection(vox::DbPool& pool, std::chrono::milliseconds pool_wait,
                         const std::function<DbResult(DbConnection&)>& operation) {
  const size_t attempts = pool.usage().size + 1;
  DbResult result;
  for (size_t attempt = 0; attempt < attempts; ++attempt) {
    std::optional<vox::DbPool::Lease> connection = pool.acquire(pool_wait);
    if (!connection) return DbResult{"", "53300", "no database connection free", true, {}};
    result = operation(**connection);
    if (result.sqlstate != kConnectionFailure || result.setup_failed) break;
  }
  return result;
}

DbConnection::Clock::time_point call_deadline() {
  return DbConnection::Clock::now() + std::chrono::milliseconds(kStatementTimeoutMs + 1000);
}

DbResult feed_authorize(DbConnection& db, const std::string& org_id, const std::string& token) {
  const char* values[] = {org_id.c_str(), token.c_str()};
  return db.run(kAuthorize, 2, values, call_deadline());
}

DbResult feed_credentials_valid(DbConnection& db, const std::vector<int64_t>& credential_ids) {
  const std::string ids = bigint_array_literal(credential_ids);
  const char* values[] = {ids.c_str()};
  return db.run(kCredentialsValid, 1, values, call_deadline());
}

DbResult feed_start(DbConnection& db, const std::string& org_id, int max_calls) {
  const std::string max = std::to_string(max_calls);
  const char* values[] = {org_id.c_str(), max.c_str()};
  return db.run(kStart, 2, values, call_deadline());
}

DbResult feed_read(DbConnection& db, const std::string& org_id, const std::string& after, int max_events) {
  const std::string max = std::to_string(max_events);
  const char* values[] = {org_id.c_str(), after.c_str(), max.c_str()};
  return db.run(kRead, 3, values, call_deadline());
}

DbResult feed_transcript(DbConnection& db, const std::string& org_id, const std::string& call_id, int max_lines) {
  const std::string max = std::to_string(max_lines);
  const char* values[] = {org_id.c_str(), call_id.c_str(), max.c_str()};
  return db.run(kTranscript, 3, values, call_deadline());
}

std::string bigint_array_literal(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) out += (i > 0 ? "," : "") + std::to_string(values[i]);
  return out + "}";
}

}  // namespace relay
