-- ordering: any permutation of a call's events, with duplicates, converges to
-- the same rows; status only moves forward (DESIGN §2, invariant 3).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox_test.tenant(:org_a, 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

CREATE TEMP VIEW state AS
SELECT l.vapi_call_id, t.status AS tracking, l.status AS logs, c.status AS calls, l.started_at, l.ended_at,
       l.duration_seconds, l.ended_reason, l.summary, l.cost, l.report_received
  FROM vox.call_logs l
  JOIN vox.call_tracking t USING (org_id, vapi_call_id)
  JOIN vox.calls c USING (org_id, vapi_call_id)
 ORDER BY l.vapi_call_id;

-- One call's events, each numbered: the whole life of an inbound call.
CREATE FUNCTION pg_temp.events(call_id text) RETURNS TABLE (n int, payload jsonb)
LANGUAGE sql AS $$
    VALUES
    (1, vox_test.status_update(vox_test.call(call_id, 'asst-demo'), 'queued', 1763740800000)),
    (2, vox_test.status_update(vox_test.call(call_id, 'asst-demo'), 'ringing', 1763740800500)),
    (3, vox_test.status_update(vox_test.call(call_id, 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                               'in-progress', 1763740801000)),
    (4, vox_test.transcript(vox_test.call(call_id, 'asst-demo'), 'user', 'Hi, I need a cleaning.', 1763740805000)),
    (5, vox_test.transcript(vox_test.call(call_id, 'asst-demo'), 'assistant', 'Sure, does Tuesday work?', 1763740807000)),
    (6, vox_test.status_update(vox_test.call(call_id, 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                               'forwarding', 1763740900000)),
    -- No call.endedAt: this status ends the call at its own timestamp, with
    -- its own reason; the report below says otherwise and is final.
    (7, vox_test.status_update(vox_test.call(call_id, 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                               'ended', 1763741011600, '{"endedReason": "assistant-forwarded-call"}')),
    (8, vox_test.end_of_call_report(vox_test.call(call_id, 'asst-demo'), 1763741012000))
$$;
-- Delivers the numbered events of a call in the given order, one call each;
-- returns what each delivery answered.
CREATE FUNCTION pg_temp.deliver(call_id text, seq int[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    answers text[] := '{}';
BEGIN
    FOREACH i IN ARRAY seq LOOP
        answers := answers || (i || ':' || (vox.handle_event((SELECT payload FROM pg_temp.events(call_id) WHERE n = i)) ->> 'status'));
    END LOOP;
    RETURN array_to_string(answers, ' ');
END
$$;
-- A call's rows with its id masked, so two calls' rows can be compared.

---------------------------------------------------------------------------
-- ended is terminal
---------------------------------------------------------------------------
-- ended first, then in-progress, then ringing: still ended, nothing lost.
SELECT pg_temp.deliver('call-o1', '{7}');
SELECT * FROM state;
SELECT pg_temp.deliver('call-o1', '{3,2}');
SELECT * FROM state;
-- Only the ended status changed anything.
SELECT topic, payload ->> 'status' AS status FROM vox.outbox WHERE vapi_call_id = 'call-o1' ORDER BY id;

---------------------------------------------------------------------------
-- The end-of-call-report first
---------------------------------------------------------------------------
-- It creates the call with its full data ...
SELECT pg_temp.deliver('call-o2', '{8}');
SELECT * FROM state WHERE vapi_call_id = 'call-o2';
SELECT vapi_call_id, channel, customer_number, agent_id = md5('asst-demo')::uuid AS demo_agent, outcome, recording_url
  FROM vox.call_logs WHERE vapi_call_id = 'call-o2';
CREATE TEMP TABLE o2_after_report AS SELECT * FROM vox_test.call_rows(:org_a, 'call-o2');
-- ... and the status updates arriving after it change none of it.
SELECT pg_temp.deliver('call-o2', '{1,2,3,6,7}');
(SELECT 'changed' AS side, * FROM vox_test.call_rows(:org_a, 'call-o2') EXCEPT SELECT 'changed', * FROM o2_after_report)
UNION ALL
(SELECT 'lost', * FROM o2_after_report EXCEPT SELECT 'lost', * FROM vox_test.call_rows(:org_a, 'call-o2'));

---------------------------------------------------------------------------
-- A transcript before the call is known
---------------------------------------------------------------------------
-- Kept, not dropped, though no call row exists yet ...
SELECT pg_temp.deliver('call-o3', '{4}');
SELECT vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-o3';
SELECT count(*) AS call_rows FROM vox.call_logs WHERE vapi_call_id = 'call-o3';
-- ... and the status updates that follow create the call.
SELECT pg_temp.deliver('call-o3', '{1,3}');
SELECT * FROM state WHERE vapi_call_id = 'call-o3';
SELECT vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-o3';

---------------------------------------------------------------------------
-- Forward, reverse, shuffled with duplicates: the same rows
---------------------------------------------------------------------------
SELECT pg_temp.deliver('call-forward', '{1,2,3,4,5,6,7,8}');
SELECT pg_temp.deliver('call-reverse', '{8,7,6,5,4,3,2,1}');
SELECT pg_temp.deliver('call-shuffled', '{5,8,2,7,5,1,3,8,6,4,2}');
SELECT * FROM vox_test.differences('call-forward', 'call-reverse');
SELECT * FROM vox_test.differences('call-forward', 'call-shuffled');
SELECT vapi_call_id, count(*) AS rows_compared
  FROM (VALUES ('call-forward'), ('call-reverse'), ('call-shuffled')) AS c(vapi_call_id),
       LATERAL vox_test.masked_rows(vapi_call_id) WHERE row_data IS NOT NULL
 GROUP BY 1 ORDER BY 1;
-- What they all converged to: the report's timings and reason won over the
-- ended status's.
SELECT * FROM state WHERE vapi_call_id IN ('call-forward', 'call-reverse', 'call-shuffled');
SELECT tbl, row_data FROM vox_test.masked_rows('call-forward') WHERE tbl IN ('call_transcripts', 'recording_upload_queue')
 ORDER BY tbl;

---------------------------------------------------------------------------
-- The agent does not depend on the order either
---------------------------------------------------------------------------
-- One event names only the dialled number (whose agent is the receptionist),
-- another the assistant that took the call over: the assistant is the more
-- specific source and wins in both orders.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-billing')::uuid, 'asst-billing', 'Billing', 'billing');
CREATE TEMP TABLE agent_events AS
SELECT vox_test.status_update(vox_test.call(id, NULL, '{"phoneNumberId": "pn-demo"}'), 'ringing', 1763740800500) AS by_number,
       vox_test.end_of_call_report(vox_test.call(id, 'asst-billing'), 1763741012000) AS by_assistant, id
  FROM (VALUES ('call-agent-1'), ('call-agent-2')) AS c(id);
SELECT vox.handle_event(by_number) ->> 'status', vox.handle_event(by_assistant) ->> 'status'
  FROM agent_events WHERE id = 'call-agent-1';
SELECT vox.handle_event(by_assistant) ->> 'status', vox.handle_event(by_number) ->> 'status'
  FROM agent_events WHERE id = 'call-agent-2';
SELECT l.vapi_call_id, a.role AS log_agent, l.agent_route, ta.role AS tracking_agent, t.agent_route AS tracking_route
  FROM vox.call_logs l JOIN vox.call_tracking t USING (org_id, vapi_call_id)
  JOIN vox.agents a ON a.org_id = l.org_id AND a.id = l.agent_id
  JOIN vox.agents ta ON ta.org_id = t.org_id AND ta.id = t.agent_id
 WHERE l.vapi_call_id LIKE 'call-agent-%' ORDER BY 1;

