// vox-relay's statements, prepared by each pooled session, and the calls
// that run them: only the feed functions the vox_relay role may execute.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "db_pool.hpp"

namespace relay {

using vox::DbConnection;
using vox::DbResult;

// What each session runs with: the settings below are not flags (the feed
// functions are short reads; a stuck one must not hold a stream for long).
vox::DbSettings relay_db_settings(const std::string& conninfo);

// Runs `operation` on a pooled connection, waiting up to `pool_wait` for a
// free one (else 53300). A connection found broken (PostgreSQL restarted
// since it was last used) is reopened by the next attempt, so operations are
// tried again, up to once per pooled connection, while that is what failed.
DbResult with_connection(vox::DbPool& pool, std::chrono::milliseconds pool_wait,
                         const std::function<DbResult(DbConnection&)>& operation);

// The deadline of one call, a little past the session's statement_timeout.
DbConnection::Clock::time_point call_deadline();

// vox.feed_authorize: value is the credential id, or "" (NULL) when the
// token is not valid for the org.
DbResult feed_authorize(DbConnection& db, const std::string& org_id, const std::string& token);
// vox.feed_credentials_valid: one row per id still valid.
DbResult feed_credentials_valid(DbConnection& db, const std::vector<int64_t>& credential_ids);
// vox.feed_start: one row {cursor, calls (a JSON array)}.
DbResult feed_start(DbConnection& db, const std::string& org_id, int max_calls);
// vox.feed_read: rows {cursor, topic, data (JSON)}, in commit order.
DbResult feed_read(DbConnection& db, const std::string& org_id, const std::string& after, int max_events);
// vox.feed_transcript: value is the JSON object.
DbResult feed_transcript(DbConnection& db, const std::string& org_id, const std::string& call_id, int max_lines);

// The array literal of vox.feed_credentials_valid's parameter: {1,2,3}.
std::string bigint_array_literal(const std::vector<int64_t>& values);

}  // namespace relay
