#include "database.hpp"

#include <map>
#include <regex>

#include "workload.hpp"

namespace bench {

namespace {

// The same formulas as workload.cpp's org_uuid, assistant_id, phone_number_id
// and customer_number.
const char* const kSetupSql = R"SQL(
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vox;
CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO vox.organizations (id, name, default_region)
SELECT format('b0000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, 'Bench org ' || i, 'US'
  FROM generate_series(0, :orgs - 1) i
ON CONFLICT DO NOTHING;
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role)
SELECT format('b0000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, 'asst_bench_' || i,
       'Receptionist ' || i, 'inbound'
  FROM generate_series(0, :orgs - 1) i
ON CONFLICT DO NOTHING;
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
SELECT a.org_id, 'pn_bench_' || i, '+1212' || (3000000 + i), a.id
  FROM generate_series(0, :orgs - 1) i JOIN vox.agents a ON a.vapi_assistant_id = 'asst_bench_' || i
ON CONFLICT DO NOTHING;
INSERT INTO vox.leads (org_id, phone, name)
SELECT format('b0000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid, '+1415' || (2000000 + i * 20000 + k),
       'Lead ' || k
  FROM generate_series(0, :orgs - 1) i, generate_series(0, :leads - 1) k
 WHERE NOT EXISTS (SELECT 1 FROM vox.leads);
-- An anti-join rather than a correlated NOT EXISTS, which Citus refuses over
-- reference tables: the citus mode sets up a distributed vox with this too.
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
SELECT o.id, 'hmac', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
  FROM vox.organizations o LEFT JOIN vox.webhook_secrets s ON s.org_id = o.id
 WHERE s.org_id IS NULL;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vox_shim') THEN CREATE ROLE vox_shim LOGIN; END IF;
END $$;
GRANT USAGE ON SCHEMA vox TO vox_shim;
GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text), vox.webhook_secrets_for(uuid) TO vox_shim;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_relay') THEN CREATE ROLE bench_relay LOGIN; END IF;
END $$;
GRANT vox_relay TO bench_relay;
-- README: at high volume, turn NOTIFY off (notifying commits queue on one
-- lock). Every mode runs so, the shim's sessions too; the vox-notify mode
-- turns it back on for its own sessions to show what it costs.
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET vox.notify = off', current_database()); END $$;
ANALYZE;
)SQL";

const char* const kEventTables =
    "vox.call_tracking, vox.call_logs, vox.calls, vox.call_transcripts, vox.processed_webhook_events, "
    "vox.parked_events, vox.outbox, vox.recording_upload_queue, bench_floor";
// store_past_calls writes these; the others hold no past rows.
const char* const kPastCallTables[] = {"vox.call_tracking", "vox.call_logs", "vox.calls",
                                       "vox.processed_webhook_events"};
const char* const kEventTablesWithoutPast =
    "vox.call_transcripts, vox.parked_events, vox.outbox, vox.recording_upload_queue, bench_floor";

// What an implementation decides, without what it cannot: identity values
// (the outbox's transcript_id becomes the utterance's content key, and the
// outbox keeps its order as a position), now()-based times and the writing
// transaction (committed_by).
const char* const kDumpSql = R"SQL(
SELECT tbl, line FROM (
    SELECT 'call_tracking' AS tbl, (to_jsonb(t) - 'created_at' - 'updated_at')::text AS line FROM vox.call_tracking t
    UNION ALL
    SELECT 'call_logs', (to_jsonb(t) - 'created_at' - 'updated_at')::text FROM vox.call_logs t
    UNION ALL
    SELECT 'calls', (to_jsonb(t) - 'created_at' - 'updated_at')::text FROM vox.calls t
    UNION ALL
    SELECT 'call_transcripts', (to_jsonb(t) - 'id' - 'created_at')::text FROM vox.call_transcripts t
    UNION ALL
    SELECT 'processed_webhook_events', (to_jsonb(t) - 'received_at')::text FROM vox.processed_webhook_events t
    UNION ALL
    SELECT 'outbox', (to_jsonb(o) - 'id' - 'created_at' - 'available_at' - 'committed_by'
                      || jsonb_build_object('position', row_number() OVER (ORDER BY o.id),
                                            'payload', o.payload - 'transcript_id'
                                                       || jsonb_build_object('transcript', x.content_key)))::text
      FROM vox.outbox o
      LEFT JOIN vox.call_transcripts x ON x.org_id = o.org_id AND x.id = (o.payload ->> 'transcript_id')::bigint
    UNION ALL
    SELECT 'recording_upload_queue', (to_jsonb(t) - 'id' - 'created_at' - 'available_at')::text
      FROM vox.recording_upload_queue t
    UNION ALL
    SELECT 'parked_events', (to_jsonb(t) - 'id' - 'received_at' - 'last_attempt_at')::text FROM vox.parked_events t
) rows ORDER BY tbl COLLATE "C", line COLLATE "C"
)SQL";

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Phone numbers in a printed row show only their last four digits.
std::string masked(const std::string& line) {
  static const std::regex number(R"(\+[0-9]{3,11}([0-9]{4}))");
  std::string out = std::regex_replace(line, number, "***$1");
  return out.size() > 400 ? out.substr(0, 400) + "..." : out;
}

}  // namespace

void set_up(Connection& db) {
  std::string sql = replace_all(kSetupSql, ":orgs", std::to_string(kOrgs));
  db.exec(replace_all(sql, ":leads", std::to_string(kLeadsPerOrg)));
}

std::vector<std::string> org_secrets(Connection& db) {
  Result rows = db.exec("SELECT org_id::text, secret FROM vox.webhook_secrets WHERE scheme = 'hmac' AND active");
  std::map<std::string, std::string> by_org;
  for (int i = 0; i < rows.rows(); ++i) by_org[rows.text(i, 0)] = rows.text(i, 1);
  std::vector<std::string> secrets;
  for (int org = 0; org < kOrgs; ++org) secrets.push_back(by_org.at(org_uuid(org)));
  return secrets;
}

void reset_event_tables(Connection& db, bool keep_past_calls) {
  if (keep_past_calls) {
    for (const char* table : kPastCallTables)
      db.exec(std::string("DELETE FROM ") + table + " WHERE vapi_call_id NOT LIKE 'past-%'");
    db.exec(std::string("TRUNCATE ") + kEventTablesWithoutPast + " RESTART IDENTITY");
    db.exec(std::string("VACUUM ") + kPastCallTables[0] + ", " + kPastCallTables[1] + ", " + kPastCallTables[2] + ", " +
            kPastCallTables[3]);
  } else {
    db.exec(std::string("TRUNCATE ") + kEventTables + " RESTART IDENTITY");
  }
  db.exec("CHECKPOINT");
}

Dump dump_event_rows(Connection& db) {
  Result rows = db.exec(kDumpSql);
  Dump dump;
  dump.reserve(static_cast<size_t>(rows.rows()));
  for (int i = 0; i < rows.rows(); ++i) dump.emplace_back(rows.text(i, 0), rows.text(i, 1));
  return dump;
}

std::vector<std::string> compare_dumps(const Dump& a, const std::string& a_name, const Dump& b,
                                       const std::string& b_name) {
  std::vector<std::string> lines;
  std::map<std::string, std::pair<long, long>> counts;
  for (const auto& row : a) ++counts[row.first].first;
  for (const auto& row : b) ++counts[row.first].second;
  for (const auto& [table, count] : counts)
    if (count.first != count.second)
      lines.push_back(table + ": " + std::to_string(count.first) + " rows from " + a_name + ", " +
                      std::to_string(count.second) + " from " + b_name);
  // Both are sorted the same way: walk them together.
  size_t i = 0, j = 0, shown = 0;
  while ((i < a.size() || j < b.size()) && shown < 6) {
    if (j == b.size() || (i < a.size() && a[i] < b[j])) {
      lines.push_back("only " + a_name + ": " + a[i].first + " " + masked(a[i].second));
      ++i, ++shown;
    } else if (i == a.size() || b[j] < a[i]) {
      lines.push_back("only " + b_name + ": " + b[j].first + " " + masked(b[j].second));
      ++j, ++shown;
    } else {
      ++i, ++j;
    }
  }
  return lines;
}

void store_past_calls(Connection& db, long calls) {
  const std::string n = std::to_string(calls);
  // Call ids are UUIDs like Vapi's, marked so that no workload call is one of
  // them and reset_event_tables can keep them.
  const std::string past_calls = R"SQL(
WITH orgs AS (SELECT (row_number() OVER (ORDER BY o.id) - 1)::int AS i, o.id, a.id AS agent
                FROM vox.organizations o JOIN vox.agents a ON a.org_id = o.id),
past AS (SELECT n, (n % )SQL" + std::to_string(kOrgs) +
                                 R"SQL()::int AS org, 'past-' || md5(n::text)::uuid AS call_id,
                timestamptz '2025-01-01 00:00:00+00' + n * interval '20 seconds' AS started_at
           FROM generate_series(1, )SQL" +
                                 n + R"SQL() n)
)SQL";
  db.exec(past_calls + R"SQL(
INSERT INTO vox.call_tracking (org_id, vapi_call_id, agent_id, agent_route, channel, status)
SELECT o.id, p.call_id, o.agent, 2, 'inbound', 'ended' FROM past p JOIN orgs o ON o.i = p.org
)SQL");
  db.exec(past_calls + R"SQL(
INSERT INTO vox.call_logs (org_id, vapi_call_id, channel, status, customer_number, started_at, ended_at, ended_reason,
                           outcome, summary, transcript, recording_url, cost, agent_id, agent_route, report_received)
SELECT o.id, p.call_id, 'inbound', 'ended', '+1415' || (2000000 + p.org * 20000 + p.n % 4000), p.started_at,
       p.started_at + interval '3 minutes', 'customer-ended-call', 'true',
       'The caller asked about an appointment; the assistant offered two slots and booked one.',
       repeat('AI: Thanks for calling, how can I help? User: I would like to book a cleaning. ', 6),
       'https://storage.vapi.ai/' || p.call_id || '-mono.wav', 0.1234, o.agent, 2, true
  FROM past p JOIN orgs o ON o.i = p.org
)SQL");
  db.exec(past_calls + R"SQL(
INSERT INTO vox.calls (org_id, vapi_call_id, status, customer_number, started_at, ended_at, cost)
SELECT o.id, p.call_id, 'ended', '+1415' || (2000000 + p.org * 20000 + p.n % 4000), p.started_at,
       p.started_at + interval '3 minutes', 0.1234
  FROM past p JOIN orgs o ON o.i = p.org
)SQL");
  db.exec(past_calls + R"SQL(
INSERT INTO vox.processed_webhook_events (org_id, event_id, event_type, vapi_call_id)
SELECT o.id, k.prefix || p.call_id || k.suffix, k.type, p.call_id
  FROM past p JOIN orgs o ON o.i = p.org,
       (VALUES ('status-update:', ':ended', 'status-update'), ('end-of-call-report:', '', 'end-of-call-report')) k (prefix, suffix, type)
)SQL");
  db.exec("VACUUM ANALYZE vox.call_tracking, vox.call_logs, vox.calls, vox.processed_webhook_events");
  db.exec("CHECKPOINT");
}

void create_database(Connection& db, const std::string& name) {
  if (db.exec("SELECT 1 FROM pg_database WHERE datname = $1", {name}).rows() == 0)
    db.exec("CREATE DATABASE \"" + name + "\"");
}

long count_rows(Connection& db, const std::string& table) {
  return static_cast<long>(db.exec("SELECT count(*) FROM " + table).integer(0, 0));
}

}  // namespace bench
