#include "handler.hpp"

#include <algorithm>
#include <vector>

#include "distribution.hpp"
#include "event_reader.hpp"
#include "outbox_notifier.hpp"
#include "phone.hpp"
#include "settings.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/resowner.h"
}

namespace vox {

namespace {

// --- Statements --------------------------------------------------------------

// The tenant of an event, from trusted records only, tried in this order:
//   1. the org owning call.assistantId, through its agent; an inactive agent
//      still routes a call its org already holds, and a new call to it parks
//      (the last column is false), never falling through to another org;
//   2. the org owning call.phoneNumberId;
//   3. the org already holding the call id (an outbound registration or an
//      earlier event), only for an event naming neither assistant nor number:
//      one naming an assistant or number vox does not know yet may belong to
//      an org not registered yet, whatever org holds a call with the same id.
//      LIMIT 2 detects a call id held by two.
// One small statement per route, rather than one union of all three, keeps
// the common case (an assistant vox knows) to a few index lookups.
// The agent and whether the org holds the call are two statements: on Citus
// the agent is in a reference table and the call in the org's shard, which a
// statement can only reach once the org is a parameter.
Statement tenant_by_assistant(R"SQL(
SELECT a.org_id, a.id, a.active
  FROM vox.agents a
 WHERE a.vapi_assistant_id = $1
)SQL",
                              {TEXTOID});

Statement org_holds_call(R"SQL(
SELECT 1 FROM vox.call_tracking t WHERE t.org_id = $1 AND t.vapi_call_id = $2
)SQL",
                         {UUIDOID, TEXTOID});

Statement tenant_by_phone_number(R"SQL(
SELECT p.org_id, p.agent_id
  FROM vox.phone_numbers p
 WHERE p.vapi_phone_number_id = $1
)SQL",
                                 {TEXTOID});

// With a signing org ($2), only that org's calls are candidates: a statement
// of its own, which Citus routes to the org's shard. Without one, every
// shard is asked, which Citus plans only with the value in hand.
Statement tenant_by_call(R"SQL(
SELECT t.org_id
  FROM vox.call_tracking t
 WHERE t.vapi_call_id = $1
 LIMIT 2
)SQL",
                         {TEXTOID}, Statement::Planning::kCustom);
Statement signer_call(R"SQL(
SELECT t.org_id
  FROM vox.call_tracking t
 WHERE t.vapi_call_id = $1 AND t.org_id = $2
)SQL",
                      {TEXTOID, UUIDOID});

// The org an event is applied to, locked until the transaction ends, and the
// region its national phone formats are read in. The event tables carry no
// foreign key to organizations (a check per row written cost a fifth of
// vox's throughput): this one lock per event is what keeps their org_id
// naming an org, since deleting an org waits for it (vox.organizations'
// delete trigger then removes the org's rows).
Statement lock_org(R"SQL(
SELECT default_region FROM vox.organizations WHERE id = $1 FOR KEY SHARE
)SQL",
                   {UUIDOID});

// ON CONFLICT DO NOTHING without a target: a clash on the event key or on the
// delivery id both mean this event was applied before.
Statement mark_processed(R"SQL(
INSERT INTO vox.processed_webhook_events (org_id, event_id, event_type, vapi_call_id, delivery_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
)SQL",
                         {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID});

// Where a call row's values come from: an event, the end-of-call-report
// (final for what it reports) or the app's outbound registration
// (authoritative for who the call belongs to).
enum class CallSource { kEvent, kReport, kRegistration };

// How a column merges on conflict, so that any order of a call's events gives
// the same row.
struct Merge {
  std::string column;
  std::string value;
};
Merge first_known(const char* column) {
  return {column, "COALESCE(t." + std::string(column) + ", excluded." + column + ")"};
}
Merge latest_known(const char* column) {
  return {column, "COALESCE(excluded." + std::string(column) + ", t." + column + ")"};
}
// The agent is whoever the most authoritative source names: agent_route says
// which (3 the app's registration, 2 the call's assistant, 1 the dialled
// number's agent); between two of the same rank the lower id wins, so the
// result does not depend on the order of events.
const Merge kAgentMerge{"agent_id",
                        "CASE WHEN excluded.agent_route > t.agent_route THEN excluded.agent_id "
                        "WHEN excluded.agent_route < t.agent_route THEN t.agent_id "
                        "ELSE LEAST(t.agent_id, excluded.agent_id) END"};
const Merge kAgentRouteMerge{"agent_route", "GREATEST(t.agent_route, excluded.agent_route)"};

Merge either(const char* column) { return {column, "t." + std::string(column) + " OR excluded." + column}; }
const Merge kStatusMerge{"status",
                         "CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status) "
                         "THEN excluded.status ELSE t.status END"};

// "SET col = merged, ... WHERE the row would change": an event that adds
// nothing writes nothing and, through RETURNING, emits no outbox entry.
std::string merge_clause(std::initializer_list<Merge> merges) {
  std::string set, changed;
  for (const Merge& merge : merges) {
    set += merge.column + " = " + merge.value + ",\n        ";
    changed += std::string(changed.empty() ? "" : "\n       OR ") + "t." + merge.column + " IS DISTINCT FROM (" +
               merge.value + ")";
  }
  // excluded.updated_at is the column's default, now(): Citus only takes
  // immutable functions in DO UPDATE SET.
  return set + "updated_at = excluded.updated_at\n    WHERE " + changed;
}

// The upsert of a call's rows for values from one source. Each source has a
// statement of its own, so the merge rules are fixed in its plan rather than
// decided per row.
//
// Each table's INSERT is written once and used in one of two shapes. On one
// node, one statement writes the three rows of the call, the recording job and
// the outbox entry: a single executor round per event. On Citus, a modifying
// CTE is planned as one distributed subplan per part, parameters unsupported,
// so each part is a statement of its own that Citus routes to the org's
// shard, where it runs as a local statement.
struct CallUpsertParts {
  std::string tracking, logs, summary, recording;
};
enum class Shape { kCombined, kSeparate };

CallUpsertParts call_upsert_parts(CallSource source, Shape shape) {
  // The call's lead: the combined statement's lookup, or $16 found before.
  const std::string lead = shape == Shape::kCombined ? "(SELECT lead_id FROM input)" : "$16";
  const bool report = source == CallSource::kReport;
  const bool registration = source == CallSource::kRegistration;
  // Values of the preferred source override; any other only fills gaps.
  auto preferred_from = [source](CallSource preferred, const char* column) {
    return source == preferred ? latest_known(column) : first_known(column);
  };
  // Top-level keys merge shallowly, except vox_notes, whose notes (one per
  // field) accumulate across the call's events. jsonb_set, not the stable
  // jsonb_build_object: Citus only takes immutable functions in DO UPDATE SET.
  const std::string weaker = registration ? "t" : "excluded", stronger = registration ? "excluded" : "t";
  const Merge metadata{"metadata", weaker + ".metadata || " + stronger +
                                       ".metadata || CASE WHEN t.metadata ? 'vox_notes' AND excluded.metadata ? "
                                       "'vox_notes' THEN jsonb_set('{}', '{vox_notes}', (" +
                                       weaker + ".metadata -> 'vox_notes') || (" + stronger +
                                       ".metadata -> 'vox_notes')) ELSE '{}' END"};
  const std::string tracking = merge_clause(
      {kAgentMerge, kAgentRouteMerge, preferred_from(CallSource::kRegistration, "lead_id"),
       preferred_from(CallSource::kRegistration, "channel"), kStatusMerge, first_known("registered_at"), metadata});
  const std::string logs = merge_clause(
      {preferred_from(CallSource::kRegistration, "channel"), either("is_test_call"), kStatusMerge,
       first_known("customer_number"), preferred_from(CallSource::kReport, "started_at"),
       preferred_from(CallSource::kReport, "ended_at"), preferred_from(CallSource::kReport, "ended_reason"),
       preferred_from(CallSource::kReport, "outcome"), preferred_from(CallSource::kReport, "summary"),
       preferred_from(CallSource::kReport, "transcript"), preferred_from(CallSource::kReport, "recording_url"),
       preferred_from(CallSource::kReport, "cost"), preferred_from(CallSource::kRegistration, "lead_id"),
       kAgentMerge, kAgentRouteMerge, metadata, either("report_received")});
  const std::string calls =
      merge_clause({kStatusMerge, first_known("customer_number"), preferred_from(CallSource::kReport, "started_at"),
                    preferred_from(CallSource::kReport, "ended_at"), preferred_from(CallSource::kReport, "cost")});
  CallUpsertParts parts;
  // xmax = 0 marks a row inserted rather than updated: the call is new.
  parts.tracking = R"SQL(INSERT INTO vox.call_tracking AS t (org_id, vapi_call_id, agent_id, agent_route, lead_id, channel,
                                    status, registered_at, metadata)
    VALUES ($1, $2, $15, $19, )SQL" +
                   lead + ", $4, $3, " + (registration ? "now()" : "NULL") + R"SQL(, COALESCE($17, '{}'))
    ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
        )SQL" + tracking + R"SQL(
    RETURNING xmax = 0 AS created)SQL";
  parts.logs = R"SQL(INSERT INTO vox.call_logs AS t (org_id, vapi_call_id, channel, is_test_call, status, customer_number,
                                started_at, ended_at, ended_reason, outcome, summary, transcript, recording_url, cost,
                                lead_id, agent_id, agent_route, metadata, report_received)
    VALUES ($1, $2, $4, $5, $3, $6, $7, $8, $9, $10, $11, $12, $13, $14::numeric, )SQL" +
               lead + ", $15, $19, COALESCE($17, '{}'), " + (report ? "true" : "false") + R"SQL()
    ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
        )SQL" + logs + R"SQL(
    RETURNING status)SQL";
  parts.summary = R"SQL(INSERT INTO vox.calls AS t (org_id, vapi_call_id, status, customer_number, started_at, ended_at, cost)
    VALUES ($1, $2, $3, $6, $7, $8, $14::numeric)
    ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
        )SQL" + calls;
  // A report without a recording leaves no job: the combined statement
  // selects no row then, and the separate one is not run.
  if (report)
    parts.recording = std::string("INSERT INTO vox.recording_upload_queue (org_id, vapi_call_id, recording_url)\n    ") +
                      (shape == Shape::kSeparate ? "VALUES ($1, $2, $13)" : "SELECT $1, $2, $13 WHERE $13 IS NOT NULL") +
                      "\n    ON CONFLICT (org_id, vapi_call_id) DO NOTHING";
  return parts;
}

// The lead a call without one is linked to: the org's first lead with the
// caller's number.
constexpr const char* kLeadByPhone =
    "SELECT l.id FROM vox.leads l WHERE l.org_id = $1 AND l.phone = $6 ORDER BY l.created_at, l.id LIMIT 1";

// The outbox entry of a call's change, named by the call row's status.
constexpr const char* kCallOutboxValues =
    "INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)\n"
    "    VALUES ($1, $18, $2, jsonb_build_object('vapi_call_id', $2, 'status', $20::text))";

// One node: the parts as one statement. It returns whether the call was new
// and whether an outbox entry was written.
std::string upsert_call_sql(CallSource source) {
  const CallUpsertParts parts = call_upsert_parts(source, Shape::kCombined);
  return "WITH input AS (\n    SELECT COALESCE($16, (" + std::string(kLeadByPhone) + ")) AS lead_id\n" +
         "), tracking AS (\n    " + parts.tracking + "\n), logs AS (\n    " + parts.logs + "\n), summary AS (\n    " +
         parts.summary + "\n)" + (parts.recording.empty() ? "" : ", recording AS (\n    " + parts.recording + "\n)") +
         R"SQL(, outbox AS (
    INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
    SELECT $1, $18, $2, jsonb_build_object('vapi_call_id', $2, 'status', l.status) FROM logs l
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM tracking WHERE created), EXISTS (SELECT 1 FROM outbox)
)SQL";
}

// $1 org, $2 call id, $3 status, $4 channel, $5 is_test_call, $6 customer
// number, $7 started_at, $8 ended_at, $9 ended_reason, $10 outcome, $11
// summary, $12 transcript, $13 recording_url, $14 cost, $15 agent, $16 lead,
// $17 metadata, $18 outbox topic, $19 agent_route; $20 the call row's status,
// for the outbox entry written by a statement of its own.
constexpr Oid kUpsertCallTypes[] = {UUIDOID,        TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, TIMESTAMPTZOID,
                                    TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                                    UUIDOID,        UUIDOID, JSONBOID, TEXTOID, INT2OID, TEXTOID};

// A call's statements for one source, in both shapes.
struct CallUpsert {
  explicit CallUpsert(CallSource source)
      : CallUpsert(upsert_call_sql(source), call_upsert_parts(source, Shape::kSeparate)) {}
  Statement combined, tracking, logs, summary;
  std::optional<Statement> recording;  // a report's

 private:
  CallUpsert(const std::string& combined_sql, const CallUpsertParts& parts)
      : combined(combined_sql.c_str(), kUpsertCallTypes),
        tracking(parts.tracking.c_str(), kUpsertCallTypes),
        logs(parts.logs.c_str(), kUpsertCallTypes),
        summary(parts.summary.c_str(), kUpsertCallTypes) {
    if (!parts.recording.empty()) recording.emplace(parts.recording.c_str(), kUpsertCallTypes);
  }
};
CallUpsert upsert_call_from_event(CallSource::kEvent);
CallUpsert upsert_call_from_report(CallSource::kReport);
CallUpsert upsert_call_from_registration(CallSource::kRegistration);
Statement lead_by_phone(kLeadByPhone, kUpsertCallTypes);
Statement call_outbox_entry(kCallOutboxValues, kUpsertCallTypes);

CallUpsert& upsert_call(CallSource source) {
  switch (source) {
    case CallSource::kReport:
      return upsert_call_from_report;
    case CallSource::kRegistration:
      return upsert_call_from_registration;
    case CallSource::kEvent:
      break;
  }
  return upsert_call_from_event;
}

// An utterance and its outbox entry; on Citus the entry is a statement of its
// own, as a call's are.
constexpr const char* kInsertUtterance = R"SQL(INSERT INTO vox.call_transcripts (org_id, vapi_call_id, role, text, spoken_at, content_key)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (org_id, vapi_call_id, content_key) DO NOTHING
    RETURNING id)SQL";
constexpr Oid kUtteranceTypes[] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID};
Statement insert_transcript((std::string("WITH utterance AS (\n    ") + kInsertUtterance + R"SQL(
), outbox AS (
    INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
    SELECT $1, 'transcript', $2, jsonb_build_object('vapi_call_id', $2, 'transcript_id', u.id, 'role', $3)
      FROM utterance u
)
SELECT id FROM utterance
)SQL")
                                .c_str(),
                            kUtteranceTypes);
Statement insert_utterance_alone(kInsertUtterance, kUtteranceTypes);
Statement utterance_outbox_entry(R"SQL(
INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
VALUES ($1, 'transcript', $2, jsonb_build_object('vapi_call_id', $2, 'transcript_id', $7, 'role', $3))
)SQL",
                                 kUtteranceTypes);

Statement park_event(R"SQL(
INSERT INTO vox.parked_events (event_key, event_type, vapi_call_id, vapi_assistant_id, vapi_phone_number_id,
                               reason, payload, delivery_id, signer_org_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (event_key) DO NOTHING
)SQL",
                     {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, UUIDOID});

Statement assistant_for_number(R"SQL(
SELECT assistant, org_id, route FROM (
    SELECT a.vapi_assistant_id AS assistant, p.org_id, 1 AS route
      FROM vox.phone_numbers p JOIN vox.agents a ON a.org_id = p.org_id AND a.id = p.agent_id
     WHERE p.vapi_phone_number_id = $1 AND a.active AND ($3::uuid IS NULL OR p.org_id = $3)
    UNION ALL
    SELECT a.vapi_assistant_id, p.org_id, 2
      FROM vox.phone_numbers p JOIN vox.agents a ON a.org_id = p.org_id AND a.id = p.agent_id
     WHERE p.number = $2 AND a.active AND ($3::uuid IS NULL OR p.org_id = $3)
) routes ORDER BY route LIMIT 2
)SQL",
                               {TEXTOID, TEXTOID, UUIDOID});

// The region a signing org reads national phone formats in.
Statement org_region(R"SQL(
SELECT default_region FROM vox.organizations WHERE id = $1
)SQL",
                     {UUIDOID});

// The parked events a call just created by an org may resolve: those naming
// no assistant or number (parked as unknown_call), or naming one of that
// org's assistants (an inactive agent's: a call its org holds is routed to
// it), and signed by no other org. Other orgs' events that merely share the
// call id are left alone: waiting for their locks could deadlock with that
// org creating its own call with the same id.
std::string new_call_filter(int call_param, int org_param) {
  const std::string call = "$" + std::to_string(call_param), org = "$" + std::to_string(org_param);
  return "vapi_call_id = " + call + " AND (reason = 'unknown_call' OR vapi_assistant_id IN " +
         "(SELECT a.vapi_assistant_id FROM vox.agents a WHERE a.org_id = " + org + "))" +
         " AND (signer_org_id IS NULL OR signer_org_id = " + org + ")";
}

// The next parked events to replay, oldest first, optionally only those
// a filter on $3 (and $4) selects. A full sweep skips rows another replay
// holds (it will see them next time); a scoped replay waits for them, since
// nothing else would come back for exactly these events.
std::string next_parked_sql(const std::string& filter) {
  std::string sql = "SELECT id, received_at FROM vox.parked_events WHERE (received_at, id) > ($1, $2)";
  if (!filter.empty()) sql += " AND " + filter;
  sql += " ORDER BY received_at, id LIMIT 100 FOR UPDATE";
  if (filter.find("last_attempt_at") != std::string::npos) sql += " SKIP LOCKED";  // a sweep
  return sql;
}
// A sweep passes over dead events, and over those attempted since $3 (a
// bounded sweep's start: each event is tried once per round of batches).
// vox.so may meet a 0.2.0 schema until ALTER EXTENSION vox UPDATE, where
// parked events cannot die yet.
const char* const kSweepFilter =
    "($3::timestamptz IS NULL OR last_attempt_at IS NULL OR last_attempt_at < $3)";
Statement next_parked_all(next_parked_sql(std::string("dead_at IS NULL AND ") + kSweepFilter).c_str(),
                          {TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID});
Statement next_parked_all_0_2(next_parked_sql(kSweepFilter).c_str(), {TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID});
Statement next_parked_for_new_call(next_parked_sql(new_call_filter(3, 4)).c_str(),
                                   {TIMESTAMPTZOID, INT8OID, TEXTOID, UUIDOID});
Statement next_parked_by_assistant(next_parked_sql("vapi_assistant_id = $3").c_str(),
                                   {TIMESTAMPTZOID, INT8OID, TEXTOID});
Statement next_parked_by_phone_number(next_parked_sql("vapi_phone_number_id = $3").c_str(),
                                      {TIMESTAMPTZOID, INT8OID, TEXTOID});

// Read, and deleted only once applied: an event that still cannot be applied
// writes nothing in its subtransaction, which so takes no transaction id.
Statement read_parked("SELECT payload, delivery_id, signer_org_id FROM vox.parked_events WHERE id = $1", {INT8OID});
Statement remove_parked("DELETE FROM vox.parked_events WHERE id = $1", {INT8OID});

// After $4 attempts an event is dead: sweeps pass over it, while a scoped
// replay (its agent, number or call arriving) still applies it.
// $5 is the transaction's start, now(), passed in: Citus takes no STABLE
// function inside a CASE of a statement on its tables.
std::string note_parked_attempt_sql(bool can_die) {
  return std::string("UPDATE vox.parked_events SET attempts = attempts + 1, last_attempt_at = $5, ") +
         "reason = COALESCE($2, reason), last_error = $3" +
         (can_die ? ", dead_at = CASE WHEN dead_at IS NULL AND attempts + 1 >= $4 THEN $5 ELSE dead_at END" : "") +
         " WHERE id = $1";
}
Statement note_parked_attempt(note_parked_attempt_sql(true).c_str(),
                              {INT8OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID});
Statement note_parked_attempt_0_2(note_parked_attempt_sql(false).c_str(),
                                  {INT8OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID});

// Whether the installed schema is 0.3.0's, where parked events can die.
bool parked_events_can_die() {
  return pg_call([]() {
    const Oid table = get_relname_relid("parked_events", get_namespace_oid("vox", false));
    return OidIsValid(table) && get_attnum(table, "dead_at") != InvalidAttrNumber;
  });
}

Statement new_call_has_parked_events(("SELECT 1 FROM vox.parked_events WHERE " + new_call_filter(1, 2) + " LIMIT 1").c_str(),
                                     {TEXTOID, UUIDOID});

// How deep replays are nested: a replayed event that creates a call replays
// that call's events (depth 2), which cannot create further calls.
int replay_depth = 0;
constexpr int kMaxReplayDepth = 2;

// The parked events being applied right now, outermost first: a replay nested
// in one's application must not apply it a second time.
std::vector<int64_t> replaying;

// Events applied by replays so far in this backend, nested ones included, so
// that the outermost replay reports everything it caused.
int64_t replays_applied = 0;

void replay_parked_for_new_call(const std::string& vapi_call_id, const Uuid& org_id);

// --- Tenant resolution -------------------------------------------------------

// How an agent was learned, in increasing authority (agent_route column).
enum AgentRoute : int16_t { kNoAgent = 0, kByPhoneNumber = 1, kByAssistant = 2, kByRegistration = 3 };

struct Tenant {
  Uuid org_id;
  std::optional<Uuid> agent_id;
  AgentRoute agent_route;
  std::string region;  // set by lock_tenant_org
};

struct Resolution {
  std::optional<Tenant> tenant;
  const char* reason = nullptr;  // why there is none
};

// A signed event may only name its signer's assistant or number: naming
// another org's is invalid for this signer (22023), not worth a retry.
void check_signer(const std::optional<Uuid>& signer, const Uuid& org_id, const char* field, const char* what) {
  if (signer && !(org_id == *signer)) throw invalid_field(field, what);
}

Resolution resolve(const CallFields& call, const std::optional<Uuid>& signer) {
  if (call.assistant_id) {
    Params params;
    params.string(call.assistant_id);
    Rows rows = execute(tenant_by_assistant, params, 1);
    if (rows.count() > 0) {
      const Uuid org_id = *rows.uuid(0, 1);
      check_signer(signer, org_id, "call.assistantId", "an assistant of another organization than the signer's");
      const std::optional<Uuid> agent_id = rows.uuid(0, 2);
      if (!rows.boolean(0, 3)) {
        Params held;
        held.uuid(org_id).string(call.id);
        if (execute(org_holds_call, held, 1).count() == 0) return {std::nullopt, "inactive_assistant"};
      }
      return {Tenant{org_id, agent_id, kByAssistant, {}}, nullptr};
    }
  }
  if (call.phone_number_id) {
    Params params;
    params.string(call.phone_number_id);
    Rows rows = execute(tenant_by_phone_number, params, 1);
    if (rows.count() > 0) {
      const Uuid org_id = *rows.uuid(0, 1);
      check_signer(signer, org_id, "call.phoneNumberId", "a phone number of another organization than the signer's");
      std::optional<Uuid> agent_id = rows.uuid(0, 2);
      return {Tenant{org_id, agent_id, agent_id ? kByPhoneNumber : kNoAgent, {}}, nullptr};
    }
  }
  if (call.assistant_id) return {std::nullopt, "unknown_assistant"};
  if (call.phone_number_id) return {std::nullopt, "unknown_phone_number"};
  // By call id, the call already holds its agent: nothing new to say.
  Params params;
  params.string(call.id);
  if (signer) params.uuid(*signer);
  Rows rows = execute(signer ? signer_call : tenant_by_call, params, 2);
  if (rows.count() == 0) return {std::nullopt, "unknown_call"};
  if (rows.count() == 2) return {std::nullopt, "ambiguous_call"};
  return {Tenant{*rows.uuid(0, 1), std::nullopt, kNoAgent, {}}, nullptr};
}

// On Citus the event tables keep their foreign keys to organizations, a
// reference table, and a row lock on it would take every node's copy: the
// keys, checked on the org's node, stand for the lock there.
Statement& org_lock() { return tables_distributed() ? org_region : lock_org; }

// Locks the resolved org (org_lock) and returns its region. An org deleted
// since the route was read is a lost race, not the event's fault: retried, the
// event parks or resolves again.
std::string lock_tenant_org(const Uuid& org_id) {
  Params params;
  params.uuid(org_id);
  Rows rows = execute(org_lock(), params, 1);
  if (rows.count() == 0)
    throw SqlError(sqlstate::kSerializationFailure, "organization " + org_id.to_string() +
                                                        " was deleted while this event was applied");
  return *rows.string(0, 1);
}

// A registration names its org itself: one that does not exist is the
// caller's error, as an agent or lead of another org is (their foreign keys).
void lock_registered_org(const Uuid& org_id) {
  Params params;
  params.uuid(org_id);
  if (execute(org_lock(), params, 1).count() == 0)
    throw SqlError(sqlstate::kForeignKeyViolation, "organization " + org_id.to_string() + " does not exist");
}

// --- Effects -----------------------------------------------------------------

// Everything the call-row upsert needs, whatever its source.
struct CallRow {
  CallSource source;
  std::string event_type;
  std::optional<std::string> status;
  std::optional<std::string> channel;
  bool is_test_call = false;
  std::optional<std::string> customer_number;
  std::optional<Timestamp> started_at, ended_at;
  std::optional<std::string> ended_reason, outcome, summary, transcript, recording_url, cost;
  std::optional<Uuid> agent_id, lead_id;
  AgentRoute agent_route = kNoAgent;
  Jsonb* metadata = nullptr;  // none: {}
};

// Whether this backend applies an event for a coordinator that resolved its
// org (vox.apply_resolved): its transaction is then part of the
// coordinator's, which Citus may commit in two phases, and a prepared
// transaction cannot have sent NOTIFY. The coordinator notifies instead.
bool applying_for_coordinator = false;

void notify_outbox_here(const Uuid& org_id) {
  if (!applying_for_coordinator) notify_outbox(org_id);
}

// Returns whether the call was seen for the first time.
bool upsert_call_row(const Uuid& org_id, const std::string& vapi_call_id, const CallRow& row) {
  Params params;
  params.uuid(org_id)
      .string(vapi_call_id)
      .string(row.status)
      .string(row.channel)
      .boolean(row.is_test_call)
      .string(row.customer_number)
      .timestamp(row.started_at)
      .timestamp(row.ended_at)
      .string(row.ended_reason)
      .string(row.outcome)
      .string(row.summary)
      .string(row.transcript)
      .string(row.recording_url)
      .string(row.cost)
      .uuid(row.agent_id)
      .uuid(row.lead_id)
      .jsonb(row.metadata)
      .string(row.event_type)
      .int2(row.agent_route)
      .string(std::nullopt);  // $20, set for the separate outbox entry
  CallUpsert& upsert = upsert_call(row.source);
  if (!tables_distributed()) {
    Rows rows = execute(upsert.combined, params);
    if (rows.boolean(0, 2)) notify_outbox(org_id);
    return rows.boolean(0, 1);
  }
  if (!row.lead_id && row.customer_number) {
    Rows lead = execute(lead_by_phone, params, 1);
    if (lead.count() > 0) params.set<const std::optional<Uuid>&>(15, &Params::uuid, lead.uuid(0, 1));
  }
  bool created = false;  // no row: the tracking row had nothing to change
  {
    Rows tracked = execute(upsert.tracking, params);
    created = tracked.count() > 0 && tracked.boolean(0, 1);
  }
  std::optional<std::string> status;
  {
    Rows logged = execute(upsert.logs, params);
    if (logged.count() > 0) status = logged.string(0, 1);
  }
  execute(upsert.summary, params);
  if (upsert.recording && row.recording_url) execute(*upsert.recording, params);
  if (status) {
    params.set<const std::optional<std::string>&>(19, &Params::string, status);
    execute(call_outbox_entry, params);
    notify_outbox_here(org_id);
  }
  return created;
}

// What a call's row keeps beside its columns: a caller id that is no number,
// a SIP caller's URI, and the notes on fields vox could not use.
Jsonb* call_metadata(const Event& event, bool caller_id_is_number) {
  std::string metadata;
  auto add = [&metadata](const char* key) {
    metadata += metadata.empty() ? "{\"" : ",\"";
    metadata += key;
    metadata += "\":";
  };
  if (event.call.customer_number && !caller_id_is_number) {
    add("caller_id_raw");
    append_json_string(metadata, *event.call.customer_number);
  }
  if (event.call.customer_sip_uri) {
    add("customer_sip_uri");
    append_json_string(metadata, *event.call.customer_sip_uri);
  }
  if (!event.notes.empty()) {
    add("vox_notes");
    for (size_t i = 0; i < event.notes.size(); ++i) {
      const Note& note = event.notes[i];
      metadata += i == 0 ? "{" : ",";
      append_json_string(metadata, note.field);
      metadata += ":{\"problem\":";
      append_json_string(metadata, note.problem);
      metadata += ",\"value\":" + note.value + "}";
    }
    metadata += "}";
  }
  if (metadata.empty()) return nullptr;
  return jsonb_from_text(metadata + "}");
}

// The caller's number in E.164; a caller id that is no number is kept aside
// in metadata and the call is still recorded. A call type vox does not know
// leaves the channel unknown (NULL); its note keeps the type.
CallRow call_row_from(const Event& event, const Tenant& tenant) {
  CallRow row;
  row.source = event.kind == EventKind::kEndOfCallReport ? CallSource::kReport : CallSource::kEvent;
  row.event_type = canonical_type(event.kind);
  if (event.call.type) row.channel = channel_of_call_type(*event.call.type);
  if (event.call.customer_number) row.customer_number = to_e164(*event.call.customer_number, tenant.region);
  row.metadata = call_metadata(event, row.customer_number.has_value());
  row.agent_id = tenant.agent_id;
  row.agent_route = tenant.agent_route;
  row.started_at = event.call.started_at;
  if (event.kind == EventKind::kStatusUpdate) {
    row.status = event.status;
    // Only the end of a call says how it ended: a live call's snapshot may
    // carry stale end fields.
    if (event.status == "ended") {
      row.ended_at = event.call.ended_at ? event.call.ended_at : event.timestamp;
      row.ended_reason = event.call.ended_reason;
    }
  } else {  // end-of-call-report: the final record
    row.status = "ended";
    row.ended_at = event.call.ended_at;
    row.ended_reason = event.call.ended_reason;
    row.outcome = event.outcome;
    row.summary = event.summary;
    row.transcript = event.transcript;
    row.recording_url = event.recording_url;
    row.cost = event.cost;
  }
  return row;
}

bool insert_utterance(const Uuid& org_id, const Event& event, const std::optional<std::string>& delivery_id) {
  Params params;
  params.uuid(org_id)
      .string(event.call.id)
      .string(event.role)
      .string(event.text)
      .timestamp(event.timestamp)
      .string(transcript_content_key(event, delivery_id))
      .int8(0);  // $7, set for the separate outbox entry
  if (!tables_distributed()) {
    const bool inserted = execute(insert_transcript, params).count() == 1;
    if (inserted) notify_outbox(org_id);
    return inserted;
  }
  Rows utterance = execute(insert_utterance_alone, params);
  if (utterance.count() == 0) return false;
  params.set<int64_t>(6, &Params::int8, utterance.int8(0, 1));
  execute(utterance_outbox_entry, params);
  notify_outbox_here(org_id);
  return true;
}

// The region a dialled number in national format is read in: the signer's,
// as for callers' numbers; without a signer no region is known, so only the
// international form ("ZZ") matches.
std::string dialled_number_region(const std::optional<Uuid>& signer) {
  if (!signer) return "ZZ";
  Params params;
  params.uuid(*signer);
  Rows rows = execute(org_region, params, 1);
  if (rows.count() == 0) return "ZZ";
  return rows.string(0, 1).value_or("ZZ");
}

// Vapi's answer naming an assistant, or a message Vapi speaks before ending
// the call (its assistant-request response's "error").
std::string assistant_response(const char* key, const std::string& value) {
  std::string out = std::string("{\"") + key + "\":";
  append_json_string(out, value);
  return out + "}";
}

constexpr const char* kDefaultFallbackMessage =
    "Sorry, this number cannot take your call right now. Please try again later.";

// An assistant-request vox has no active agent for: the org holding the
// number (or, on its signed route, the signer) answers with its fallback
// assistant or message; anyone else hears the default message. Columns read
// through to_jsonb: vox.so may meet a 0.2.0 schema without them.
Statement fallback_for_number(R"SQL(
SELECT r.org_id, r.held, to_jsonb(o) ->> 'fallback_assistant_id', to_jsonb(o) ->> 'fallback_message'
  FROM (SELECT DISTINCT p.org_id, true AS held FROM vox.phone_numbers p
         WHERE (p.vapi_phone_number_id = $1 OR p.number = $2) AND ($3::uuid IS NULL OR p.org_id = $3)
        UNION ALL
        SELECT $3::uuid, false WHERE $3::uuid IS NOT NULL) r
  JOIN vox.organizations o ON o.id = r.org_id
 ORDER BY r.held DESC LIMIT 2
)SQL",
                              {TEXTOID, TEXTOID, UUIDOID});

// The assistant answering the dialled number: by its Vapi id, else by the
// number itself, which two orgs may both hold (then nobody is chosen).
Outcome answer_assistant_request(const Event& event, const std::optional<Uuid>& signer) {
  Outcome outcome{"ignored", event.type};
  std::optional<std::string> number;
  if (event.dialled_number) number = to_e164(*event.dialled_number, dialled_number_region(signer));
  Params params;
  params.string(event.call.phone_number_id).string(number).uuid(signer);
  Rows rows = execute(assistant_for_number, params, 2);
  if (rows.count() > 0 && !(rows.int4(0, 3) == 2 && rows.count() == 2)) {
    outcome.status = "processed";
    outcome.assistant_id = rows.string(0, 1);
    outcome.org_id = rows.uuid(0, 2);
    outcome.response = assistant_response("assistantId", *outcome.assistant_id);
    return outcome;
  }
  std::optional<std::string> fallback_assistant, fallback_message;
  if (rows.count() > 0) {
    outcome.reason = "ambiguous_phone_number";
  } else {
    Rows fallback = execute(fallback_for_number, params, 2);
    // One org holds the number (two: nobody's fallback is chosen), else the signer.
    const bool held = fallback.count() > 0 && fallback.boolean(0, 2);
    const bool one = fallback.count() == 1 || (fallback.count() == 2 && !fallback.boolean(1, 2));
    outcome.reason = held ? "no_active_agent" : "unknown_phone_number";
    if (fallback.count() > 0 && (one || !held)) {
      outcome.org_id = fallback.uuid(0, 1);
      fallback_assistant = fallback.string(0, 3);
      fallback_message = fallback.string(0, 4);
    }
  }
  outcome.response = fallback_assistant ? assistant_response("assistantId", *fallback_assistant)
                                        : assistant_response("error", fallback_message.value_or(kDefaultFallbackMessage));
  return outcome;
}

// vox runs no tools, transfers nowhere and holds no knowledge base: it says
// so in the form Vapi waits for, so that the model is told at once.
std::optional<std::string> answer_for_unserved_request(const Event& event) {
  if (event.type == "tool-calls") {
    std::string out = "{\"results\":[";
    for (size_t i = 0; i < event.tool_call_ids.size(); ++i) {
      out += i == 0 ? "{\"toolCallId\":" : ",{\"toolCallId\":";
      append_json_string(out, event.tool_call_ids[i]);
      out += ",\"error\":\"vox does not run tools\"}";
    }
    return out + "]}";
  }
  if (event.type == "transfer-destination-request")
    return assistant_response("error", "vox does not choose transfer destinations");
  if (event.type == "knowledge-base-request") return std::string("{\"documents\":[]}");
  return std::nullopt;
}

}  // namespace

std::string Outcome::to_json() const {
  std::string out = "{\"status\":";
  append_json_string(out, status);
  auto field = [&out](const char* name, const std::optional<std::string>& value) {
    if (!value) return;
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, *value);
  };
  field("event_type", event_type.empty() ? std::nullopt : std::optional<std::string>(event_type));
  field("event_id", event_id);
  field("org_id", org_id ? std::optional<std::string>(org_id->to_string()) : std::nullopt);
  field("vapi_call_id", vapi_call_id);
  field("reason", reason);
  field("assistantId", assistant_id);
  if (response) out += ",\"response\":" + *response;
  out += "}";
  return out;
}

// On a Citus coordinator (the unsigned route, a replay, a signed call inside
// a transaction block, which Citus does not delegate), an event whose org is
// resolved is applied by vox.apply_resolved, which vox.distribute() delegates
// to the org's node: every row of the org, outbox ids and committing xids
// among them, then comes from that node, whichever route its events took. A
// call in FROM: Citus delegates a nested call only in that form.
Statement resolved_apply(R"SQL(SELECT applied ->> 'status', applied ->> 'reason' FROM vox.apply_resolved($1, $2, $3) applied)SQL",
                         {UUIDOID, JSONBOID, TEXTOID}, Statement::Planning::kCustom);

Outcome apply_on_org_node(Outcome outcome, const Uuid& org_id, Jsonb* payload,
                          const std::optional<std::string>& delivery_id) {
  Params params;
  params.uuid(org_id).jsonb(payload).string(delivery_id);
  Rows rows = execute(resolved_apply, params, 1);
  outcome.org_id = org_id;
  outcome.status = *rows.string(0, 1);
  outcome.reason = rows.string(0, 2);
  return outcome;
}

Outcome apply_event(Jsonb* payload, const std::optional<std::string>& delivery_id, const std::optional<Uuid>& signer,
                    Unresolved unresolved) {
  struct ForCoordinator {  // restored even when an error unwinds the event
    explicit ForCoordinator(bool on) : was(applying_for_coordinator) { applying_for_coordinator = on; }
    ~ForCoordinator() { applying_for_coordinator = was; }
    bool was;
  } for_coordinator(unresolved == Unresolved::kRetry);
  const Event event = read_event(payload);
  Outcome outcome{"ignored", event.type};
  outcome.notes = event.notes.size();
  switch (event.kind) {
    case EventKind::kAcknowledged:
      // Every ignored answer says why: a type vox knows but does not store,
      // or one it does not know (Vapi adds types; refusing would only retry).
      outcome.reason = kind_of_type(event.type).known ? "message_type_not_stored" : "unknown_message_type";
      outcome.response = answer_for_unserved_request(event);
      return outcome;
    case EventKind::kAssistantRequest:
      return answer_assistant_request(event, signer);
    case EventKind::kTranscript:
      if (!event.final_transcript) {
        outcome.vapi_call_id = event.call.id;
        outcome.reason = "partial_transcript";
        return outcome;
      }
      break;
    case EventKind::kStatusUpdate:
      if (status_rank(event.status) == 0) {
        if (event.has_call) outcome.vapi_call_id = event.call.id;
        outcome.reason = "status_not_stored";
        return outcome;
      }
      break;
    case EventKind::kEndOfCallReport:
      break;
  }

  outcome.vapi_call_id = event.call.id;
  outcome.event_id = event_key(event, delivery_id);
  const Resolution resolution = resolve(event.call, signer);
  if (!resolution.tenant) {
    if (unresolved == Unresolved::kRetry)
      throw SqlError(sqlstate::kSerializationFailure, "the routing of call " + event.call.id +
                                                          " changed while the event was applied on its org's node");
    outcome.status = "parked";
    outcome.reason = resolution.reason;
    if (unresolved == Unresolved::kPark) {
      // Keyed by the event, what it names and who signed it: the same call id
      // parked for two different assistants (colliding ids), or sent to two
      // orgs' URLs, is two events, not a redelivery.
      const std::string parked_key = *outcome.event_id + "|" + event.call.assistant_id.value_or("") + "|" +
                                     event.call.phone_number_id.value_or("") + "|" +
                                     (signer ? signer->to_string() : "");
      Params params;
      params.string(parked_key)
          .string(event.type)
          .string(event.call.id)
          .string(event.call.assistant_id)
          .string(event.call.phone_number_id)
          .string(std::string(resolution.reason))
          .jsonb(payload)
          .string(delivery_id)
          .uuid(signer);
      execute(park_event, params);
    }
    return outcome;
  }
  Tenant tenant = *resolution.tenant;
  if (tables_distributed() && !on_citus_worker()) {
    outcome = apply_on_org_node(outcome, tenant.org_id, payload, delivery_id);
    if (outcome.status == "processed") {
      notify_outbox(tenant.org_id);
      if (event.kind != EventKind::kTranscript) replay_parked_for_new_call(event.call.id, tenant.org_id);
    }
    return outcome;
  }
  tenant.region = lock_tenant_org(tenant.org_id);
  outcome.org_id = tenant.org_id;

  // A final transcript's event key is its utterance's unique key, so the
  // utterance is its own idempotency mark (one row and two index entries
  // fewer per utterance). A delivery id still needs a mark: a second message
  // under it is a redelivery, whatever it says.
  const bool utterance_is_mark = event.kind == EventKind::kTranscript && !delivery_id;
  if (!utterance_is_mark) {
    Params mark;
    mark.uuid(tenant.org_id)
        .string(outcome.event_id)
        .string(std::string(canonical_type(event.kind)))
        .string(event.call.id)
        .string(delivery_id);
    if (execute(mark_processed, mark).count() == 0) {
      outcome.status = "duplicate";
      return outcome;
    }
  }

  if (event.kind == EventKind::kTranscript) {
    // Stored already, under another delivery id or none.
    outcome.status = insert_utterance(tenant.org_id, event, delivery_id) ? "processed" : "duplicate";
    return outcome;
  }
  const bool new_call = upsert_call_row(tenant.org_id, event.call.id, call_row_from(event, tenant));
  outcome.status = "processed";
  // Events parked as unknown_call wait for exactly this: apply them now.
  if (new_call && unresolved != Unresolved::kRetry) replay_parked_for_new_call(event.call.id, tenant.org_id);
  return outcome;
}

Outcome register_outbound_call(const OutboundCall& call) {
  CallRow row;
  row.source = CallSource::kRegistration;
  row.event_type = "outbound-registration";
  row.status = "queued";
  row.channel = "outbound";
  row.is_test_call = call.is_test_call;
  row.agent_id = call.agent_id;
  row.agent_route = call.agent_id ? kByRegistration : kNoAgent;
  row.lead_id = call.lead_id;
  row.metadata = call.metadata;
  lock_registered_org(call.org_id);
  if (upsert_call_row(call.org_id, call.vapi_call_id, row)) replay_parked_for_new_call(call.vapi_call_id, call.org_id);
  Outcome outcome{"registered", ""};
  outcome.org_id = call.org_id;
  outcome.vapi_call_id = call.vapi_call_id;
  return outcome;
}

namespace {

// PostgreSQL errors that are not the event's fault (cancel, timeout,
// deadlock, serialization, shutdown, resources): a replay must fail with them,
// not record them against the event and carry on.
bool is_operational_error(int sqlerrcode) {
  const int category = ERRCODE_TO_CATEGORY(sqlerrcode);
  for (int operational : {ERRCODE_CONNECTION_EXCEPTION, ERRCODE_TRANSACTION_ROLLBACK, ERRCODE_INSUFFICIENT_RESOURCES,
                          ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, ERRCODE_OPERATOR_INTERVENTION, ERRCODE_SYSTEM_ERROR,
                          ERRCODE_INTERNAL_ERROR})
    if (category == ERRCODE_TO_CATEGORY(operational)) return true;
  return false;
}

enum class ReplayResult { kApplied, kUnresolved, kFailed, kGone };

// Takes one parked event and applies it, in a subtransaction that is rolled
// back (returning the event to the table) unless it was applied. Sets reason
// or error when it was not.
ReplayResult replay_one(int64_t id, std::optional<std::string>& reason, std::optional<std::string>& error) {
  MemoryContext outer_context = CurrentMemoryContext;
  ResourceOwner outer_owner = CurrentResourceOwner;
  pg_call([]() { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(outer_context);
  auto end_subtransaction = [&](bool commit) {
    if (commit) {
      pg_call([]() { ReleaseCurrentSubTransaction(); });
    } else {
      pg_call([]() { RollbackAndReleaseCurrentSubTransaction(); });
      forget_results();  // freed with the subtransaction
    }
    MemoryContextSwitchTo(outer_context);
    CurrentResourceOwner = outer_owner;
  };
  struct Replaying {  // popped even when an error unwinds the replay
    explicit Replaying(int64_t id) { replaying.push_back(id); }
    ~Replaying() { replaying.pop_back(); }
  } replaying_this(id);
  try {
    Params by_id;
    by_id.int8(id);
    Rows rows = execute(read_parked, by_id);
    if (rows.count() == 0) {  // a nested replay applied it already
      end_subtransaction(true);
      return ReplayResult::kGone;
    }
    bool is_null = false;
    Datum payload = rows.datum(0, 1, is_null);
    Jsonb* copy = pg_call([&]() { return DatumGetJsonbPCopy(payload); });
    const std::optional<std::string> delivery_id = rows.string(0, 2);
    Outcome outcome = apply_event(copy, delivery_id, rows.uuid(0, 3), Unresolved::kReport);
    const bool applied = outcome.status != "parked";
    if (applied) {
      execute(remove_parked, by_id);
    } else {
      reason = outcome.reason;
    }
    end_subtransaction(applied);
    return applied ? ReplayResult::kApplied : ReplayResult::kUnresolved;
  } catch (const PgError& e) {
    end_subtransaction(false);
    if (is_operational_error(e.sqlerrcode())) throw;
    error = std::string(e.what());
    return ReplayResult::kFailed;
  } catch (const SqlError& e) {
    end_subtransaction(false);
    error = std::string(e.what());
    return ReplayResult::kFailed;
  } catch (...) {
    end_subtransaction(false);
    throw;
  }
}

Statement& next_parked_statement(ReplayScope scope) {
  switch (scope) {
    case ReplayScope::kNewCall:
      return next_parked_for_new_call;
    case ReplayScope::kAssistant:
      return next_parked_by_assistant;
    case ReplayScope::kPhoneNumber:
      return next_parked_by_phone_number;
    case ReplayScope::kAll:
      break;
  }
  return parked_events_can_die() ? next_parked_all : next_parked_all_0_2;
}

}  // namespace

int64_t replay_parked(ReplayScope scope, const std::string& key, const std::optional<Uuid>& org_id) {
  return replay_parked(scope, key, org_id, Sweep{}).applied;
}

Replayed replay_parked(ReplayScope scope, const std::string& key, const std::optional<Uuid>& org_id,
                       const Sweep& sweep) {
  Replayed replayed;
  if (replay_depth >= kMaxReplayDepth) return replayed;
  struct Depth {  // restored even when an error unwinds the replay
    Depth() { ++replay_depth; }
    ~Depth() { --replay_depth; }
  } depth;
  Statement& next_parked = next_parked_statement(scope);
  const int64_t applied_before = replays_applied;
  Timestamp after_time = DT_NOBEGIN;
  int64_t after_id = 0;
  // Each event's payload, parameters and results live in this context, reset
  // after the event: memory stays flat however many events are replayed.
  MemoryContext event_context =
      pg_call([]() { return AllocSetContextCreate(CurrentMemoryContext, "vox replay event", ALLOCSET_DEFAULT_SIZES); });
  for (bool more = true; more;) {
    std::vector<int64_t> batch;
    {
      Params params;
      params.timestamp(after_time).int8(after_id);
      if (scope == ReplayScope::kAll) params.timestamp(sweep.attempted_before);
      if (scope != ReplayScope::kAll) params.string(key);
      if (scope == ReplayScope::kNewCall) params.uuid(org_id);
      Rows rows = execute(next_parked, params);
      for (uint64 i = 0; i < rows.count(); ++i) batch.push_back(rows.int8(i, 1));
      if (!batch.empty()) after_time = rows.timestamp(rows.count() - 1, 2);
    }
    if (batch.empty()) break;
    after_id = batch.back();
    for (int64_t id : batch) {
      if (sweep.max_events > 0 && replayed.examined == sweep.max_events) {
        more = false;
        break;
      }
      if (std::find(replaying.begin(), replaying.end(), id) != replaying.end()) continue;
      ++replayed.examined;
      MemoryContext previous = MemoryContextSwitchTo(event_context);
      std::optional<std::string> reason, error;
      const int64_t applied_before_event = replays_applied;
      const ReplayResult result = replay_one(id, reason, error);
      if (result == ReplayResult::kApplied) {
        ++replays_applied;
      } else {
        replays_applied = applied_before_event;  // nested replays were rolled back with it
      }
      if (result == ReplayResult::kUnresolved || result == ReplayResult::kFailed) {
        Params params;
        params.int8(id).string(reason).string(error).int8(setting_parked_max_attempts)
            .timestamp(GetCurrentTransactionStartTimestamp());
        execute(parked_events_can_die() ? note_parked_attempt : note_parked_attempt_0_2, params);
      }
      MemoryContextSwitchTo(previous);
      pg_call([&]() { MemoryContextReset(event_context); });
    }
  }
  pg_call([&]() { MemoryContextDelete(event_context); });
  replayed.applied = replays_applied - applied_before;
  return replayed;
}

namespace {

void replay_parked_for_new_call(const std::string& vapi_call_id, const Uuid& org_id) {
  Params params;
  params.string(vapi_call_id).uuid(org_id);
  if (execute(new_call_has_parked_events, params, 1).count() > 0)
    replay_parked(ReplayScope::kNewCall, vapi_call_id, org_id);
}

}  // namespace

}  // namespace vox
