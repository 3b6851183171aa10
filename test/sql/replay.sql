-- replay: how parked events come back (DESIGN §2 invariant 4): nested
-- replays, what an inactive agent leaves alone, which org's replay may take
-- a signed event, and a replay that hits a deadlock or a serialization
-- failure failing as a whole instead of blaming the event.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');

CREATE TEMP VIEW parked AS
SELECT event_type, vapi_call_id, vapi_assistant_id, reason, attempts, last_attempt_at IS NOT NULL AS attempted,
       last_error, signer_org_id = :org_a AS signed_by_a
  FROM vox.parked_events ORDER BY id;

---------------------------------------------------------------------------
-- A nested replay: the replayed event creates the call, which applies the
-- events parked for that call id alone
---------------------------------------------------------------------------
-- The status names an assistant nobody has registered; the transcript names
-- neither assistant nor number, and no org holds its call yet.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-nest', 'asst-nest'), 'in-progress', 1763740801000))
    ->> 'reason' AS status_parked;
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-nest', NULL), 'user', 'Hello?', 1763740802000))
    ->> 'reason' AS transcript_parked;
SELECT * FROM parked;
-- Registering the agent applies the status (a replay), whose new call
-- applies the transcript (a replay within it): both, at once.
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES (:org_a, 'asst-nest', 'Nest', 'nest');
SELECT count(*) AS still_parked FROM vox.parked_events;
SELECT org_id = :org_a AS org_a, vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-nest';
SELECT org_id = :org_a AS org_a, vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-nest';

---------------------------------------------------------------------------
-- An inactive agent replays nothing: its parked events stay as they were
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-sleep', 'asst-sleep'), 'ringing', 1763740800500))
    ->> 'reason' AS parked;
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role, active)
VALUES (:org_a, 'asst-sleep', 'Sleeping', 'sleeping', false);
-- Untouched: the reason it was parked for, no attempt counted.
SELECT * FROM parked;
-- Once it is switched on, the event applies.
UPDATE vox.agents SET active = true WHERE vapi_assistant_id = 'asst-sleep';
SELECT count(*) AS still_parked FROM vox.parked_events;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-sleep';

---------------------------------------------------------------------------
-- The signer filter: another org's new call leaves a signed event alone
---------------------------------------------------------------------------
-- Signed by A, naming only a call id that no org holds yet.
SELECT vox.handle_event(:org_a, vox_test.transcript(vox_test.call('call-signed', NULL), 'user', 'For A.', 1763740802000))
    ->> 'reason' AS parked;
-- B creates a call with that id: its replay may not take A's event, so not
-- even an attempt is counted against it.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-signed', 'asst-b'), 'ringing', 1763740800500))
    ->> 'status' AS b_call;
SELECT * FROM parked;
SELECT attempts = 0 AND last_attempt_at IS NULL AS untouched_by_b FROM vox.parked_events;
-- A's call with that id applies it, to A.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-signed', 'asst-a'), 'ringing', 1763740800500))
    ->> 'status' AS a_call;
SELECT count(*) AS still_parked FROM vox.parked_events;
SELECT org_id = :org_a AS org_a, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-signed';

---------------------------------------------------------------------------
-- A deadlock or a serialization failure during a replay fails the statement
---------------------------------------------------------------------------
-- They are not the event's fault: recording them against it (and carrying
-- on) would turn the caller's retry into a lost attempt. A test trigger
-- raises the SQLSTATE named by vox_test.fail_with when a call row is written.
CREATE FUNCTION vox_test.fail_on_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('vox_test.fail_with', true) <> '' THEN
        RAISE EXCEPTION 'test failure %', current_setting('vox_test.fail_with')
            USING ERRCODE = current_setting('vox_test.fail_with');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER fail_on_call BEFORE INSERT ON vox.call_logs FOR EACH ROW EXECUTE FUNCTION vox_test.fail_on_call();
-- The SQLSTATE a statement raises, or 'none'.
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'none';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-dead', 'asst-dead'), 'ringing', 1763740800500))
    ->> 'reason' AS parked;
-- Through the agent's trigger: the insert fails with the deadlock.
SET vox_test.fail_with = '40P01';
SELECT pg_temp.sqlstate_of($$INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role)
                             VALUES ('00000000-0000-4000-8000-00000000000a', 'asst-dead', 'Dead', 'dead')$$)
    AS agent_insert;
SELECT count(*) AS agents FROM vox.agents WHERE vapi_assistant_id = 'asst-dead';
-- Through vox.replay_parked(), the agent registered without its trigger:
-- a deadlock, then a serialization failure, each fails the replay.
ALTER TABLE vox.agents DISABLE TRIGGER agents_replay_parked;
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES (:org_a, 'asst-dead', 'Dead', 'dead');
ALTER TABLE vox.agents ENABLE TRIGGER agents_replay_parked;
SELECT pg_temp.sqlstate_of('SELECT vox.replay_parked()') AS replay_in_deadlock;
SET vox_test.fail_with = '40001';
SELECT pg_temp.sqlstate_of('SELECT vox.replay_parked()') AS replay_in_serialization_failure;
-- The event is left exactly as it was: parked, no attempt, no error.
SELECT * FROM parked;
SELECT count(*) AS call_rows FROM vox.call_logs WHERE vapi_call_id = 'call-dead';
-- An error that is the event's own is recorded against it, and the replay
-- carries on (the contrast the two above are checked against).
SET vox_test.fail_with = '22023';
SELECT vox.replay_parked() AS replayed_with_invalid_event;
SELECT reason, attempts, last_error FROM vox.parked_events;
-- Once the failure is gone, the retried replay applies it.
RESET vox_test.fail_with;
SELECT vox.replay_parked() AS replayed;
SELECT count(*) AS still_parked FROM vox.parked_events;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-dead';
DROP TRIGGER fail_on_call ON vox.call_logs;
