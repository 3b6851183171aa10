-- upgrade_0_5_0: ALTER EXTENSION vox UPDATE from 0.4.0 to 0.5.0 on a
-- populated database keeps every row; an upload completed through 0.4.0's
-- two-argument completion is an archived object like any other (played,
-- deleted with its job); and the result is exactly the schema a fresh 0.5.0
-- install has.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vox CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';

CREATE EXTENSION vox VERSION '0.4.0';
\set ECHO none
\i test/fixtures/upgrade.sql
\set ECHO all

---------------------------------------------------------------------------
-- Data written by 0.4.0
---------------------------------------------------------------------------
\set org_a '''00000000-0000-4000-8000-00000000000a'''
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0a01', 'asst-a', 'Front desk', 'inbound');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'hmac', 'upgrade-secret-1');
SELECT count(*) AS feed_credentials FROM vox.create_feed_credential(:org_a, 'front desk');
-- Three calls end with a recording: one upload completed, one failed, one
-- waiting.
SELECT count(vox.handle_event(('{"message": {"type": "end-of-call-report", "timestamp": 1763740900000, ' ||
                               '"artifact": {"recordingUrl": "https://storage.vapi.ai/call-' || i || '.wav"}, ' ||
                               '"call": {"id": "call-' || i || '", "type": "inboundPhoneCall", "assistantId": "asst-a", ' ||
                               '"status": "ended", "customer": {"number": "+14155550123"}}}}')::jsonb)) AS reports
  FROM generate_series(1, 3) i;
SELECT count(*) AS claimed FROM vox.claim_recording_uploads(2, '1 minute');
SELECT vox.complete_recording_upload(1, 'recordings/call-1.wav') AS completed,
       vox.fail_recording_upload(2, 'storage unavailable') AS failed;

CREATE TEMP TABLE columns_0_4_0 AS SELECT * FROM pg_temp.vox_columns();
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.vox_rows('columns_0_4_0');
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact in their 0.4.0 columns, and none is added.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.vox_rows('columns_0_4_0')) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.vox_rows('columns_0_4_0') EXCEPT SELECT * FROM before_upgrade) added;
SELECT count(*) AS deletions FROM vox.recording_deletions;
SELECT id, status, storage_path, object_size, content_type, sha256, object_deleted_at
  FROM vox.recording_upload_queue ORDER BY id;
-- The old completion is gone; the new one completes the waiting upload.
SELECT vox.complete_recording_upload(3, 'recordings/call-3.wav');
SELECT vox.complete_recording_upload(3, 'recordings/call-3.wav', 10, 'audio/wav', repeat('0', 64)) AS completed;
-- The object 0.4.0 recorded is played, and deleted with its job.
SELECT * FROM vox.recording_object(:org_a, 'call-1');
DELETE FROM vox.recording_upload_queue WHERE id = 1;
SELECT vapi_call_id, storage_path, reason, status FROM vox.recording_deletions;

-- pg_dump keeps every table and identity sequence of vox but the feed's
-- origin, which a restore must renew.
SELECT c.relname AS not_dumped FROM pg_class c
 WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind IN ('r', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'vox')::oid[]);
-- The relay's and the issuer's roles may execute exactly their functions.
SELECT r.rolname, p.oid::regprocedure AS may_execute FROM pg_proc p, pg_roles r
 WHERE r.rolname IN ('vox_relay', 'vox_feed_issuer') AND p.pronamespace = 'vox'::regnamespace
   AND has_function_privilege(r.rolname, p.oid, 'EXECUTE') AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1, 2;
-- No SECURITY DEFINER function is open to PUBLIC, and each pins search_path.
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'vox'::regnamespace AND p.prosecdef
   AND (has_function_privilege('public', p.oid, 'EXECUTE')
        OR NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']);
-- Every object of vox has a comment.
SELECT p.oid::regprocedure AS uncommented_function FROM pg_proc p
 WHERE p.pronamespace = 'vox'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.relname AS uncommented_table FROM pg_class c
 WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;

---------------------------------------------------------------------------
-- The upgraded schema is a fresh 0.5.0 schema
---------------------------------------------------------------------------
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vox_schema();
SET client_min_messages = warning;
DROP EXTENSION vox CASCADE;
RESET client_min_messages;
CREATE EXTENSION vox VERSION '0.5.0';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vox_schema();
SELECT kind, count(*) FROM fresh GROUP BY 1 ORDER BY 1;
-- Expected: no difference.
SELECT * FROM pg_temp.differences('upgraded', 'fresh');
