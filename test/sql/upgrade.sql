-- upgrade: ALTER EXTENSION vox UPDATE from 0.1.0 to 0.2.0 keeps every row,
-- gives old rows the new columns' defaults, adds the new functions, view,
-- policies and triggers, and leaves exactly the schema a fresh 0.2.0 install
-- has (compared through a digest of the catalogs).
-- Not the shared fixtures: they install 0.2.0, this test starts from 0.1.0.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vox CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';

CREATE EXTENSION vox VERSION '0.1.0';
\set ECHO none
\i test/fixtures/upgrade.sql
\set ECHO all
SELECT extversion FROM pg_extension WHERE extname = 'vox';
SELECT to_regproc('vox.claim_outbox') AS claim_outbox, to_regclass('vox.audit_log') AS audit_log;

---------------------------------------------------------------------------
-- Data written by 0.1.0
---------------------------------------------------------------------------
\set org_a '''00000000-0000-4000-8000-00000000000a'''
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0a01', 'asst-a', 'Front desk', 'inbound');
INSERT INTO vox.phone_numbers (org_id, id, vapi_phone_number_id, number, agent_id)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0b01', 'pn-a', '+14155550100', '00000000-0000-4000-8000-0000000a0a01');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'shared', 'upgrade-secret-1');
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
-- An event no org claims: parked.
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1763740800000, "call": {"id": "call-x", "assistantId": "asst-unknown"}}}'::jsonb)
    ->> 'status' AS unknown;
-- A 0.1.0 consumer marked the first outbox row delivered.
UPDATE vox.outbox SET delivered_at = now() WHERE id = 1;

-- Every row of every 0.1.0 table, in its 0.1.0 columns.
CREATE TEMP TABLE columns_0_1_0 AS SELECT * FROM pg_temp.vox_columns();
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.vox_rows('columns_0_1_0');
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact in their 0.1.0 columns, none is added, and the new
-- tables start empty.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.vox_rows('columns_0_1_0')) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.vox_rows('columns_0_1_0') EXCEPT SELECT * FROM before_upgrade) added;
SELECT count(*) AS audit_rows FROM vox.audit_log;
SELECT count(*) AS maintenance_runs FROM vox.maintenance_runs;
-- The new columns of old rows hold their defaults: nothing claimed yet,
-- claimable now.
SELECT id, attempts, available_at <= now() AS claimable, dead_at, delivered_at IS NOT NULL AS delivered
  FROM vox.outbox ORDER BY id;
SELECT id, status, attempts, available_at <= now() AS claimable, last_error, storage_path, completed_at
  FROM vox.recording_upload_queue;

---------------------------------------------------------------------------
-- What 0.2.0 adds is there
---------------------------------------------------------------------------
-- Functions: the entry points are closed to PUBLIC, and those that write
-- for a caller run as their owner.
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p WHERE p.pronamespace = 'vox'::regnamespace ORDER BY p.oid::regprocedure::text;
SELECT tablename, policyname, cmd, qual FROM pg_policies WHERE schemaname = 'vox' ORDER BY 1;
-- Row-level security is on for every table, policy or not.
SELECT relname FROM pg_class WHERE relnamespace = 'vox'::regnamespace AND relkind = 'r' AND NOT relrowsecurity;
SELECT tgrelid::regclass AS table_name, tgname, tgfoid::regproc AS function
  FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'vox.%' AND NOT tgisinternal ORDER BY tgrelid::regclass::text, tgname;
SELECT to_regclass('vox.stats') AS stats, to_regclass('vox.maintenance_runs') AS maintenance_runs;

-- Old rows work with the new functions: the undelivered outbox rows and the
-- recording are claimable, an audited change is recorded, without its
-- secret.
SELECT id, attempts FROM vox.claim_outbox(10, '1 minute') ORDER BY id;
SELECT vox.ack_outbox(ARRAY[2, 3]) AS acked;
SELECT id, vapi_call_id, attempts FROM vox.claim_recording_uploads(10, '1 minute');
SELECT vox.complete_recording_upload(1, 's3://recordings/call-1.wav') AS completed;
UPDATE vox.webhook_secrets SET secret = 'upgrade-secret-2', expires_at = '2025-12-01 00:00:00+00';
SELECT table_name, operation, new_row ->> 'expires_at' AS expires_at FROM vox.audit_log;
SELECT count(*) AS audit_rows_with_secret FROM vox.audit_log a WHERE a::text LIKE '%upgrade-secret%';
SELECT section, name, value FROM vox.stats WHERE section <> 'events';

---------------------------------------------------------------------------
-- The upgraded schema is a fresh 0.2.0 schema
---------------------------------------------------------------------------
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vox_schema();

SET client_min_messages = warning;
DROP EXTENSION vox CASCADE;
RESET client_min_messages;
CREATE EXTENSION vox VERSION '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vox_schema();

-- What the digest covers.
SELECT kind, count(*) FROM fresh GROUP BY 1 ORDER BY 1;
-- Expected: no difference.
SELECT * FROM pg_temp.differences('upgraded', 'fresh');
-- The comparison would see one: a comment and a SECURITY DEFINER gone.
BEGIN;
COMMENT ON COLUMN vox.outbox.dead_at IS NULL;
ALTER FUNCTION vox.ack_outbox(bigint[]) SECURITY INVOKER;
CREATE TEMP TABLE altered AS SELECT * FROM pg_temp.vox_schema();
SELECT only_in, kind, object FROM pg_temp.differences('upgraded', 'altered');
ROLLBACK;
