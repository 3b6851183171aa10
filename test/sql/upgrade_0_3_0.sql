-- upgrade_0_3_0: ALTER EXTENSION vox UPDATE from 0.2.0 to 0.3.0 on a
-- populated database keeps every row, and leaves exactly the schema a fresh
-- 0.3.0 install has: pg_dump keeps every table and sequence, the maintenance
-- worker's role and functions, dead parked events, closed triggers.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vox CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';

CREATE EXTENSION vox VERSION '0.2.0';
\set ECHO none
\i test/fixtures/upgrade.sql
\set ECHO all

---------------------------------------------------------------------------
-- Data written by 0.2.0
---------------------------------------------------------------------------
\set org_a '''00000000-0000-4000-8000-00000000000a'''
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0a01', 'asst-a', 'Front desk', 'inbound');
INSERT INTO vox.phone_numbers (org_id, id, vapi_phone_number_id, number, agent_id)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0b01', 'pn-a', '+14155550100', '00000000-0000-4000-8000-0000000a0a01');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'hmac', 'upgrade-secret-1');
\set call '"call": {"id": "call-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "type": "inboundPhoneCall", "assistantId": "asst-a", "customer": {"number": "+14155550123"}}'
SELECT vox.handle_event(('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1763740801000, ' ||
                         :'call' || '}}')::jsonb) ->> 'status' AS in_progress;
SELECT vox.handle_event(('{"message": {"type": "transcript", "role": "user", "transcriptType": "final", ' ||
                         '"transcript": "Hello?", "timestamp": 1763740802000, ' || :'call' || '}}')::jsonb)
    ->> 'status' AS transcript;
SELECT vox.handle_event(('{"message": {"type": "end-of-call-report", "timestamp": 1763741000000, ' ||
                         '"endedReason": "customer-ended-call", "endedAt": "2025-11-21T16:03:31.500Z", ' ||
                         '"artifact": {"recording": {"mono": {"combinedUrl": "https://storage.vapi.ai/call-1-mono.wav"}}}, ' ||
                         :'call' || '}}')::jsonb) ->> 'status' AS report;
-- Two events no org claims yet: parked, one already tried once.
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1763740800000, "call": {"id": "call-x", "assistantId": "asst-later"}}}'::jsonb)
    ->> 'status' AS unknown;
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1763740800000, "call": {"id": "call-y", "assistantId": "asst-never"}}}'::jsonb)
    ->> 'status' AS unknown;
SELECT vox.replay_parked() AS replayed_by_0_2_0;
-- A consumer took and acknowledged the first outbox row; a maintenance round ran.
SELECT vox.ack_outbox(ARRAY(SELECT id FROM vox.claim_outbox(1, '1 minute'))) AS acked;
SELECT vox.cleanup() AS cleanup;

CREATE TEMP TABLE columns_0_2_0 AS SELECT * FROM pg_temp.vox_columns();
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.vox_rows('columns_0_2_0');
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact in their 0.2.0 columns, and none is added.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.vox_rows('columns_0_2_0')) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.vox_rows('columns_0_2_0') EXCEPT SELECT * FROM before_upgrade) added;
-- Old parked events are alive, whatever they went through.
SELECT vapi_call_id, attempts, dead_at FROM vox.parked_events ORDER BY id;

---------------------------------------------------------------------------
-- What 0.3.0 adds is there
---------------------------------------------------------------------------
-- pg_dump keeps every table and identity sequence of vox.
SELECT c.relname, c.relkind FROM pg_extension e, unnest(e.extconfig) r(oid) JOIN pg_class c ON c.oid = r.oid
 WHERE e.extname = 'vox' ORDER BY c.relkind, c.relname;
SELECT c.relname AS not_dumped FROM pg_class c
 WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind IN ('r', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'vox')::oid[]);
-- The worker's role may execute exactly its three functions.
SELECT rolname, rolsuper, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = 'vox_maintenance';
SELECT p.oid::regprocedure AS worker_may_execute FROM pg_proc p
 WHERE p.pronamespace = 'vox'::regnamespace AND has_function_privilege('vox_maintenance', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1;
-- No SECURITY DEFINER function is open to PUBLIC, and each pins search_path.
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'vox'::regnamespace AND p.prosecdef
   AND (has_function_privilege('public', p.oid, 'EXECUTE')
        OR NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']);
SELECT tgrelid::regclass AS table_name, tgname FROM pg_trigger
 WHERE tgrelid::regclass::text LIKE 'vox.%' AND NOT tgisinternal AND tgname LIKE '%truncate' ORDER BY 1;

-- Old rows work with the new functions: the parked event's agent arrives;
-- the other, tried past vox.parked_max_attempts, is dead and left alone by
-- sweeps.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0a02', 'asst-later', 'Night desk', 'outbound');
SELECT vapi_call_id, status FROM vox.call_logs ORDER BY vapi_call_id;
SET vox.parked_max_attempts = 2;
SELECT * FROM vox.replay_parked_batch(10);
SELECT * FROM vox.replay_parked_batch(10);
SELECT vapi_call_id, attempts, dead_at IS NOT NULL AS dead FROM vox.parked_events;
SELECT name, value FROM vox.stats WHERE section = 'parked';
RESET vox.parked_max_attempts;
SELECT * FROM vox.remove_expired(10);

---------------------------------------------------------------------------
-- The upgraded schema is a fresh 0.3.0 schema
---------------------------------------------------------------------------
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vox_schema();
SET client_min_messages = warning;
DROP EXTENSION vox CASCADE;
RESET client_min_messages;
CREATE EXTENSION vox VERSION '0.3.0';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vox_schema();
SELECT kind, count(*) FROM fresh GROUP BY 1 ORDER BY 1;
-- Expected: no difference.
SELECT * FROM pg_temp.differences('upgraded', 'fresh');
