-- drop_create: DROP EXTENSION removes everything vox made, and a new CREATE
-- EXTENSION in the same session works at once: the plans vox keeps per
-- backend re-resolve against the new tables.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''

-- Runs every statement vox prepares: tenant resolution, the idempotency mark,
-- the call upsert, utterances, parking, replay (by trigger and by hand), the
-- assistant lookup and the outbound registration. Returns what each answered.
CREATE FUNCTION pg_temp.exercise() RETURNS TABLE (step text, answer text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');
    step := 'status-update';
    answer := vox.handle_event(vox_test.status_update(vox_test.call('call-d1', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status';
    RETURN NEXT;
    step := 'status-update again';
    answer := vox.handle_event(vox_test.status_update(vox_test.call('call-d1', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status';
    RETURN NEXT;
    step := 'transcript';
    answer := vox.handle_event(vox_test.transcript(vox_test.call('call-d1', 'asst-demo'), 'user', 'Hello?', 1763740802000)) ->> 'status';
    RETURN NEXT;
    step := 'end-of-call-report';
    answer := vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-d1', 'asst-demo'), 1763741012000)) ->> 'status';
    RETURN NEXT;
    step := 'unknown assistant';
    answer := vox.handle_event(vox_test.status_update(vox_test.call('call-d2', 'asst-new'), 'ringing', 1763740800500)) ->> 'status';
    RETURN NEXT;
    step := 'replay, nothing resolvable';
    answer := vox.replay_parked();
    RETURN NEXT;
    INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
    VALUES ('00000000-0000-4000-8000-00000000000a', md5('asst-new')::uuid, 'asst-new', 'Demo Clinic after-hours', 'after-hours');
    step := 'parked left after agent insert';
    answer := (SELECT count(*) FROM vox.parked_events);
    RETURN NEXT;
    step := 'assistant-request';
    answer := vox.handle_event('{"message": {"type": "assistant-request", "phoneNumber": {"number": "+14155550100"}}}') ->> 'assistantId';
    RETURN NEXT;
    step := 'register outbound';
    answer := vox.register_outbound_call('00000000-0000-4000-8000-00000000000a', 'call-d3') ->> 'status';
    RETURN NEXT;
END
$$;

SELECT * FROM pg_temp.exercise();
SELECT vapi_call_id, status, summary FROM vox.call_logs ORDER BY 1;

-- The fixtures' view reads vox's tables; without it nothing outside vox
-- depends on vox, and a plain DROP (no CASCADE) must succeed.
DROP VIEW vox_test.counts;
DROP EXTENSION vox;
-- Schema, tables and functions are gone.
SELECT count(*) AS vox_schemas FROM pg_namespace WHERE nspname = 'vox';
SELECT to_regclass('vox.call_logs') AS call_logs, to_regprocedure('vox.handle_event(jsonb,text)') AS handle_event;

CREATE EXTENSION vox;
-- The new tables start empty.
SELECT (SELECT count(*) FROM vox.organizations) AS orgs, (SELECT count(*) FROM vox.agents) AS agents,
       (SELECT count(*) FROM vox.call_logs) AS logs, (SELECT count(*) FROM vox.call_transcripts) AS transcripts,
       (SELECT count(*) FROM vox.processed_webhook_events) AS processed, (SELECT count(*) FROM vox.parked_events) AS parked,
       (SELECT count(*) FROM vox.outbox) AS outbox;
-- Same session, same answers as the first time: nothing is taken for a
-- duplicate of the dropped tables' rows, nothing fails on a stale plan.
SELECT * FROM pg_temp.exercise();
SELECT vapi_call_id, status, summary FROM vox.call_logs ORDER BY 1;
SELECT vapi_call_id, role, text FROM vox.call_transcripts ORDER BY 1;
SELECT topic, vapi_call_id FROM vox.outbox ORDER BY id;

-- Dropping and creating again inside one transaction works too.
BEGIN;
DROP EXTENSION vox;
CREATE EXTENSION vox;
SELECT * FROM pg_temp.exercise();
COMMIT;
SELECT vapi_call_id, status, summary FROM vox.call_logs ORDER BY 1;
