-- tenant_isolation: the tenant comes from a trusted record, and a payload can
-- never touch another org's rows, even when call ids collide (DESIGN §2,
-- invariant 5).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
-- B's former outbound assistant, switched off.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role, active)
VALUES (:org_b, md5('asst-b-old')::uuid, 'asst-b-old', 'Clinic B outbound', 'outbound', false);

-- Which org (A or B) a row belongs to, and which agent it names.
CREATE TEMP VIEW logs AS
SELECT CASE l.org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, l.vapi_call_id, l.status,
       a.vapi_assistant_id AS agent, l.ended_reason, l.summary
  FROM vox.call_logs l LEFT JOIN vox.agents a ON a.org_id = l.org_id AND a.id = l.agent_id
 ORDER BY 2, 1;
CREATE TEMP VIEW rows_per_org AS
SELECT org, vapi_call_id, count(*) FILTER (WHERE tbl = 'tracking') AS tracking,
       count(*) FILTER (WHERE tbl = 'logs') AS logs, count(*) FILTER (WHERE tbl = 'calls') AS calls,
       count(*) FILTER (WHERE tbl = 'transcripts') AS transcripts
  FROM (SELECT 'tracking' AS tbl, org_id, vapi_call_id FROM vox.call_tracking
        UNION ALL SELECT 'logs', org_id, vapi_call_id FROM vox.call_logs
        UNION ALL SELECT 'calls', org_id, vapi_call_id FROM vox.calls
        UNION ALL SELECT 'transcripts', org_id, vapi_call_id FROM vox.call_transcripts) r,
       LATERAL (SELECT CASE r.org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org) o
 GROUP BY 1, 2 ORDER BY 2, 1;

---------------------------------------------------------------------------
-- One call id, two orgs: two separate sets of rows
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-shared', 'asst-a'), 'in-progress', 1763740801000));
-- The same event key in B is B's first sight of its call, not a duplicate of
-- A's event.
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-shared', 'asst-b', '{"customer": {"number": "+14155550999"}}'), 'in-progress', 1763740801000));
SELECT * FROM logs;
SELECT CASE org_id WHEN :org_a THEN 'A' ELSE 'B' END AS org, event_id FROM vox.processed_webhook_events ORDER BY 1, 2;

-- A's later events never change B's rows.
CREATE TEMP TABLE b_before AS SELECT * FROM vox_test.call_rows(:org_b, 'call-shared');
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-shared', 'asst-a'), 'user', 'Hi, is this Clinic A?', 1763740802000)) ->> 'org_id' = :org_a AS applied_to_a;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-shared', 'asst-a'), 'ended', 1763740861000,
                                               '{"endedReason": "customer-ended-call"}')) ->> 'org_id' = :org_a AS applied_to_a;
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-shared', 'asst-a'), 1763740862000)) ->> 'org_id' = :org_a AS applied_to_a;
SELECT * FROM logs;
(SELECT 'changed in B' AS side, * FROM vox_test.call_rows(:org_b, 'call-shared') EXCEPT SELECT 'changed in B', * FROM b_before)
UNION ALL
(SELECT 'lost from B', * FROM b_before EXCEPT SELECT 'lost from B', * FROM vox_test.call_rows(:org_b, 'call-shared'));
SELECT count(*) AS b_rows_compared FROM b_before WHERE row_data IS NOT NULL;
-- The recording job and the outbox entries are A's alone.
SELECT CASE org_id WHEN :org_a THEN 'A' ELSE 'B' END AS org, vapi_call_id, recording_url FROM vox.recording_upload_queue;
SELECT CASE org_id WHEN :org_a THEN 'A' ELSE 'B' END AS org, topic, payload ->> 'status' AS status
  FROM vox.outbox ORDER BY id;

---------------------------------------------------------------------------
-- Transcripts are scoped by org
---------------------------------------------------------------------------
-- The same words at the same moment in both orgs' calls: one utterance each.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-shared', 'asst-b'), 'user', 'Hi, is this Clinic A?', 1763740802000)) ->> 'status' AS in_b;
-- A retry in A is a duplicate in A only.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-shared', 'asst-a'), 'user', 'Hi, is this Clinic A?', 1763740802000)) ->> 'status' AS retry_in_a;
SELECT CASE org_id WHEN :org_a THEN 'A' ELSE 'B' END AS org, vapi_call_id, role, text, spoken_at
  FROM vox.call_transcripts ORDER BY 1;
SELECT * FROM rows_per_org;

---------------------------------------------------------------------------
-- The assistant decides the org, not the call id
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-a-only', 'asst-a'), 'in-progress', 1763740801000)) ->> 'status';
CREATE TEMP TABLE a_before AS SELECT * FROM vox_test.call_rows(:org_a, 'call-a-only');
-- A call id only A holds, named by B's assistant: B's call, created in B.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-a-only', 'asst-b'), 'ended', 1763740861000,
                                               '{"endedReason": "silence-timed-out"}'));
-- B's assistant with A's phone number: still B's (the assistant outranks the number).
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b-via-a-number', 'asst-b', '{"phoneNumberId": "pn-a"}'),
                                               'ringing', 1763740801000)) ->> 'org_id' = :org_b AS landed_in_b;
-- An inactive agent resolves no tenant: B's switched-off assistant on a new
-- call is parked ...
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b-old', 'asst-b-old'), 'in-progress', 1763740801000));
-- ... and on a call id only A holds it must not fall through to A's call:
-- the assistant names B, it is just not active.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-a-solo', 'asst-a'), 'in-progress', 1763740801000)) ->> 'status';
CREATE TEMP TABLE a_solo_before AS SELECT * FROM vox_test.call_rows(:org_a, 'call-a-solo');
SELECT r ->> 'status' AS status, r ->> 'reason' AS reason, r ->> 'org_id' AS org_id
  FROM vox.handle_event(vox_test.status_update(vox_test.call('call-a-solo', 'asst-b-old'), 'ended', 1763740861000,
                                               '{"endedReason": "silence-timed-out"}')) AS r;
SELECT * FROM logs WHERE vapi_call_id LIKE 'call-a-%' OR vapi_call_id LIKE 'call-b-%';
(SELECT 'changed in A' AS side, * FROM vox_test.call_rows(:org_a, 'call-a-only') EXCEPT SELECT 'changed in A', * FROM a_before)
UNION ALL
(SELECT 'lost from A', * FROM a_before EXCEPT SELECT 'lost from A', * FROM vox_test.call_rows(:org_a, 'call-a-only'))
UNION ALL
(SELECT 'changed in A', * FROM vox_test.call_rows(:org_a, 'call-a-solo') EXCEPT SELECT 'changed in A', * FROM a_solo_before)
UNION ALL
(SELECT 'lost from A', * FROM a_solo_before EXCEPT SELECT 'lost from A', * FROM vox_test.call_rows(:org_a, 'call-a-solo'))
ORDER BY 1, 2;
SELECT event_type, payload #>> '{message,status}' AS status, vapi_call_id, vapi_assistant_id, reason
  FROM vox.parked_events ORDER BY vapi_call_id, status;
-- A creating a call with that id leaves B's parked event alone; B's own call
-- with it (its app registers the call) routes the switched-off assistant's
-- event there: a call its org holds.
SELECT vox.register_outbound_call(:org_a, 'call-b-old') ->> 'status' AS registered_in_a;
SELECT count(*) AS parked_for_call_b_old FROM vox.parked_events WHERE vapi_call_id = 'call-b-old';
SELECT vox.register_outbound_call(:org_b, 'call-b-old') ->> 'status' AS registered_in_b;
SELECT count(*) AS parked_for_call_b_old FROM vox.parked_events WHERE vapi_call_id = 'call-b-old';
SELECT CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, status
  FROM vox.call_logs WHERE vapi_call_id = 'call-b-old' ORDER BY 1;

---------------------------------------------------------------------------
-- A call id held by two orgs and no assistant or number: ambiguous
---------------------------------------------------------------------------
CREATE TEMP TABLE shared_before AS
SELECT * FROM vox_test.call_rows(:org_a, 'call-shared') UNION ALL SELECT * FROM vox_test.call_rows(:org_b, 'call-shared');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-shared', NULL), 'forwarding', 1763740830000));
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-shared', NULL), 'user', 'Hello?', 1763740803000));
SELECT event_type, payload #>> '{message,status}' AS status, reason, vapi_assistant_id, vapi_phone_number_id
  FROM vox.parked_events WHERE vapi_call_id = 'call-shared' ORDER BY event_type;
SELECT count(*) AS shared_rows_changed FROM (
    (SELECT * FROM vox_test.call_rows(:org_a, 'call-shared') UNION ALL SELECT * FROM vox_test.call_rows(:org_b, 'call-shared'))
    EXCEPT SELECT * FROM shared_before) changed;
-- Held by one org only, the call id is enough (outbound calls rely on it).
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b-via-a-number', NULL), 'in-progress', 1763740831000)) ->> 'org_id' = :org_b AS landed_in_b;
