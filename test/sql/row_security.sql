-- row_security: a role granted SELECT on vox's tenant tables reads the rows
-- of the org its session names with SET vox.org_id, and nothing else: no
-- other org's rows, nothing without an org, no write, no secret, no parked
-- event, and no vox function unless granted (README, "Row-level security
-- and roles").
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
-- Both orgs hold a row in every tenant table: the organization, agent and
-- phone number (and their audit rows), a lead, a call with a transcript and
-- its report (call rows, idempotency marks, outbox rows, a recording
-- upload), and a webhook secret.
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
INSERT INTO vox.leads (org_id, phone, name) VALUES (:org_a, '+14155550123', 'Dana'), (:org_b, '+14155550123', 'Dee');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'shared', 'secret-of-a'),
                                                                (:org_b, 'shared', 'secret-of-b');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-' || org, 'asst-' || org), 'in-progress', 1763740801000))
           ->> 'status' AS call,
       vox.handle_event(vox_test.transcript(vox_test.call('call-' || org, 'asst-' || org), 'user', 'Hello?', 1763740802000))
           ->> 'status' AS transcript,
       vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-' || org, 'asst-' || org), 1763741000000))
           ->> 'status' AS report
  FROM (VALUES ('a'), ('b')) AS o(org);
-- And an event no org claims yet (parked), and a maintenance run.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-x', 'asst-unknown'), 'ringing', 1763740800000))
    ->> 'status' AS unknown;
SELECT vox.cleanup();

-- Rows of A and of B in each tenant table, as the current role and session
-- see them.
CREATE FUNCTION pg_temp.visible_rows(a uuid, b uuid) RETURNS TABLE (tbl text, rows_of_a bigint, rows_of_b bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOREACH tbl IN ARRAY ARRAY['organizations', 'agents', 'phone_numbers', 'leads', 'call_tracking', 'call_logs',
                               'calls', 'call_transcripts', 'processed_webhook_events', 'outbox',
                               'recording_upload_queue', 'audit_log'] LOOP
        EXECUTE format('SELECT count(*) FILTER (WHERE %1$I = $1), count(*) FILTER (WHERE %1$I = $2) FROM vox.%2$I',
                       CASE tbl WHEN 'organizations' THEN 'id' ELSE 'org_id' END, tbl)
           INTO rows_of_a, rows_of_b USING a, b;
        RETURN NEXT;
    END LOOP;
END
$$;
-- The SQLSTATE and message a statement raises, or how many rows it returned
-- or changed.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    n bigint;
BEGIN
    EXECUTE statement;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN format('%s row(s)', n);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ' ' || message;
END
$$;

-- The table owner (a superuser) sees both orgs everywhere.
SELECT * FROM pg_temp.visible_rows(:org_a, :org_b);

-- The dashboard role, granted what the README tells operators to grant a
-- dashboard: USAGE on the schema and SELECT on the tenant tables.
CREATE ROLE vox_test_dashboard NOLOGIN;
GRANT USAGE ON SCHEMA vox TO vox_test_dashboard;
GRANT SELECT ON vox.organizations, vox.agents, vox.phone_numbers, vox.leads, vox.call_tracking, vox.call_logs,
      vox.calls, vox.call_transcripts, vox.outbox, vox.recording_upload_queue, vox.audit_log TO vox_test_dashboard;
-- Not in the README's list, granted here to check its policy as well.
GRANT SELECT ON vox.processed_webhook_events TO vox_test_dashboard;
-- The test's payload builders.
GRANT USAGE ON SCHEMA vox_test TO vox_test_dashboard;
SET ROLE vox_test_dashboard;

---------------------------------------------------------------------------
-- Reads: the named org's rows only
---------------------------------------------------------------------------
SET vox.org_id = :org_a;
SELECT vox.current_org_id();
SELECT * FROM pg_temp.visible_rows(:org_a, :org_b);
SELECT name FROM vox.organizations;
SELECT vapi_call_id, status FROM vox.call_logs;
SELECT table_name, operation, org_id FROM vox.audit_log ORDER BY id;
SET vox.org_id = :org_b;
SELECT * FROM pg_temp.visible_rows(:org_a, :org_b);
-- No org named, an empty one or an unknown one: nothing at all.
RESET vox.org_id;
SELECT vox.current_org_id(), sum(rows_of_a + rows_of_b) AS visible FROM pg_temp.visible_rows(:org_a, :org_b);
SET vox.org_id = '';
SELECT vox.current_org_id(), sum(rows_of_a + rows_of_b) AS visible FROM pg_temp.visible_rows(:org_a, :org_b);
SET vox.org_id = '00000000-0000-4000-8000-0000000000ff';
SELECT count(*) AS visible FROM vox.organizations;
-- Not an org id: SET refuses it, and the session still sees no row.
SET vox.org_id = 'clinic-a';
SELECT pg_temp.try('SELECT * FROM vox.call_logs') AS not_a_uuid;
-- Per transaction: SET LOCAL ends with it.
RESET vox.org_id;
BEGIN;
SET LOCAL vox.org_id = :org_a;
SELECT count(*) AS in_transaction FROM vox.call_logs;
COMMIT;
SELECT count(*) AS after_commit FROM vox.call_logs;

---------------------------------------------------------------------------
-- Writes: none, not even to the named org's rows
---------------------------------------------------------------------------
SET vox.org_id = :org_a;
SELECT pg_temp.try($$UPDATE vox.call_logs SET summary = 'rewritten' WHERE org_id = '00000000-0000-4000-8000-00000000000b'$$)
    AS update_b;
SELECT pg_temp.try($$UPDATE vox.call_logs SET summary = 'rewritten'$$) AS update_a;
SELECT pg_temp.try($$DELETE FROM vox.organizations$$) AS delete_a;
SELECT pg_temp.try($$INSERT INTO vox.outbox (org_id, topic, payload)
                     VALUES ('00000000-0000-4000-8000-00000000000b', 'forged', '{}')$$) AS insert_b;
SELECT pg_temp.try($$UPDATE vox.outbox SET delivered_at = now()$$) AS ack_by_update;
SELECT pg_temp.try($$INSERT INTO vox.audit_log (org_id, table_name, operation)
                     VALUES ('00000000-0000-4000-8000-00000000000a', 'agents', 'DELETE')$$) AS forge_audit;

---------------------------------------------------------------------------
-- Secrets, parked events, maintenance runs: never readable
---------------------------------------------------------------------------
SELECT pg_temp.try('SELECT * FROM vox.webhook_secrets') AS webhook_secrets,
       pg_temp.try('SELECT * FROM vox.parked_events') AS parked_events,
       pg_temp.try('SELECT * FROM vox.maintenance_runs') AS maintenance_runs;

---------------------------------------------------------------------------
-- Functions: only those granted
---------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-a', 'asst-a'), 'ended', 1763740900000))$$)
    AS handle_event;
SELECT pg_temp.try($$SELECT vox.webhook_secrets_for('00000000-0000-4000-8000-00000000000a')$$) AS webhook_secrets_for;
SELECT pg_temp.try('SELECT vox.claim_outbox(10, ''1 minute'')') AS claim_outbox,
       pg_temp.try('SELECT vox.ack_outbox(ARRAY[1::bigint])') AS ack_outbox;
SELECT pg_temp.try('SELECT vox.claim_recording_uploads(10, ''1 minute'')') AS claim_recording_uploads,
       pg_temp.try('SELECT vox.cleanup()') AS cleanup,
       pg_temp.try('SELECT vox.replay_parked()') AS replay_parked;
SELECT pg_temp.try($$SELECT vox.register_outbound_call('00000000-0000-4000-8000-00000000000a', 'call-out')$$)
    AS register_outbound_call;
-- Once granted, handle_event writes as its owner: the role itself still
-- has no write privilege, and still sees only A.
RESET ROLE;
GRANT EXECUTE ON FUNCTION vox.handle_event(jsonb, text) TO vox_test_dashboard;
SET ROLE vox_test_dashboard;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b', 'asst-b'), 'ended', 1763740900000))
    ->> 'status' AS b_call_ended;
SELECT vapi_call_id, status FROM vox.call_logs;
RESET ROLE;
SELECT vapi_call_id, status FROM vox.call_logs ORDER BY 1;

---------------------------------------------------------------------------
-- A broader grant by mistake (SELECT on every table of the schema) still
-- reveals no secret, no parked event and no maintenance run: row-level
-- security has no policy letting an application role read them.
---------------------------------------------------------------------------
GRANT SELECT ON ALL TABLES IN SCHEMA vox TO vox_test_dashboard;
SET ROLE vox_test_dashboard;
SET vox.org_id = :org_a;
SELECT pg_temp.try('SELECT * FROM vox.webhook_secrets') AS webhook_secrets,
       pg_temp.try('SELECT * FROM vox.parked_events') AS parked_events,
       pg_temp.try('SELECT * FROM vox.maintenance_runs') AS maintenance_runs;
SELECT count(*) AS secrets_visible FROM vox.webhook_secrets WHERE secret LIKE 'secret-of-%';
-- B's rows stay out of reach through the broad grant as well.
SELECT * FROM pg_temp.visible_rows(:org_a, :org_b) WHERE rows_of_b <> 0;

RESET vox.org_id;
RESET ROLE;

-- Monitoring reads vox.stats with the two grants README names: SELECT on
-- the view, and EXECUTE on the event counters it calls (a function in a
-- view runs with the reader's privileges).
CREATE ROLE vox_test_monitor NOLOGIN;
GRANT USAGE ON SCHEMA vox TO vox_test_monitor;
GRANT SELECT ON vox.stats TO vox_test_monitor;
SET ROLE vox_test_monitor;
SELECT pg_temp.try('SELECT * FROM vox.stats') AS select_only;
RESET ROLE;
GRANT EXECUTE ON FUNCTION vox.event_counts() TO vox_test_monitor;
SET ROLE vox_test_monitor;
SELECT section, name FROM vox.stats WHERE section IN ('events', 'parked') ORDER BY 1, 2;
RESET ROLE;
DROP OWNED BY vox_test_dashboard, vox_test_monitor;
DROP ROLE vox_test_dashboard, vox_test_monitor;
