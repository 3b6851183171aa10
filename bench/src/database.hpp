// The bench database: tenants, resets between runs, the rows events leave
// (for the equality check), the million stored calls of the scale check.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "db.hpp"

namespace bench {

// Creates vox, the floor table, the orgs with their agents, numbers, leads
// and HMAC secrets, and the shim's role. Idempotent, on one node and on a
// Citus coordinator after vox.distribute().
void set_up(Connection& db);

// The HMAC secret of each org, by org index.
std::vector<std::string> org_secrets(Connection& db);

// Empties every table events write (tenants kept), then a checkpoint, so each
// run starts from the same state. With keep_past_calls, the calls stored by
// store_past_calls stay (what a run added is deleted and vacuumed away).
void reset_event_tables(Connection& db, bool keep_past_calls = false);

// Every row events wrote, one text line per row tagged with its table, in a
// canonical order, without generated ids and processing times.
using Dump = std::vector<std::pair<std::string, std::string>>;
Dump dump_event_rows(Connection& db);

// Lines saying how two dumps differ (per-table counts and the first rows
// found on one side only, phone numbers masked); empty when equal.
std::vector<std::string> compare_dumps(const Dump& a, const std::string& a_name, const Dump& b,
                                       const std::string& b_name);

// Stores `calls` finished calls (tracking, log, summary, two idempotency
// marks each) with ids no workload uses ('past-…'), then VACUUM ANALYZE and
// a checkpoint.
void store_past_calls(Connection& db, long calls);

void create_database(Connection& db, const std::string& name);

long count_rows(Connection& db, const std::string& table);

}  // namespace bench
