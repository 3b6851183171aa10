-- upgrade_0_4_0: ALTER EXTENSION vox UPDATE from 0.3.0 to 0.4.0 on a
-- populated database keeps every row, gives old outbox rows a committed
-- transaction (the feed counts them as seen by any cursor made after), and
-- leaves exactly the schema a fresh 0.4.0 install has.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vox CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';

CREATE EXTENSION vox VERSION '0.3.0';
\set ECHO none
\i test/fixtures/upgrade.sql
\set ECHO all

---------------------------------------------------------------------------
-- Data written by 0.3.0
---------------------------------------------------------------------------
\set org_a '''00000000-0000-4000-8000-00000000000a'''
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0a01', 'asst-a', 'Front desk', 'inbound');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'hmac', 'upgrade-secret-1');
\set call '"call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "asst-a", "customer": {"number": "+14155550123"}}'
SELECT vox.handle_event(('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1763740801000, ' ||
                         :'call' || '}}')::jsonb) ->> 'status' AS in_progress;
SELECT vox.handle_event(('{"message": {"type": "transcript", "role": "user", "transcriptType": "final", ' ||
                         '"transcript": "Hello?", "timestamp": 1763740802000, ' || :'call' || '}}')::jsonb)
    ->> 'status' AS transcript;
SELECT vox.ack_outbox(ARRAY(SELECT id FROM vox.claim_outbox(1, '1 minute'))) AS acked;
SELECT vox.cleanup() AS cleanup;

CREATE TEMP TABLE columns_0_3_0 AS SELECT * FROM pg_temp.vox_columns();
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.vox_rows('columns_0_3_0');
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact in their 0.3.0 columns, and none is added.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.vox_rows('columns_0_3_0')) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.vox_rows('columns_0_3_0') EXCEPT SELECT * FROM before_upgrade) added;
-- Old outbox rows were written by a committed transaction: a new reader
-- starts after them, and sees only what comes next.
SELECT count(*) AS old_rows_with_committed_by FROM vox.outbox WHERE committed_by IS NOT NULL;
SELECT cursor AS start FROM vox.feed_start(:org_a) \gset
SELECT count(*) AS old_rows_in_feed FROM vox.feed_read(:org_a, :'start');
SELECT vox.handle_event(('{"message": {"type": "status-update", "status": "ended", "timestamp": 1763740901000, ' ||
                         :'call' || '}}')::jsonb) ->> 'status' AS ended;
SELECT topic, data -> 'call' ->> 'status' AS status FROM vox.feed_read(:org_a, :'start');

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
SELECT rolname, rolsuper, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname IN ('vox_relay', 'vox_feed_issuer') ORDER BY 1;
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
-- The upgraded schema is a fresh 0.4.0 schema
---------------------------------------------------------------------------
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vox_schema();
SET client_min_messages = warning;
DROP EXTENSION vox CASCADE;
RESET client_min_messages;
CREATE EXTENSION vox VERSION '0.4.0';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vox_schema();
SELECT kind, count(*) FROM fresh GROUP BY 1 ORDER BY 1;
-- Expected: no difference.
SELECT * FROM pg_temp.differences('upgraded', 'fresh');
