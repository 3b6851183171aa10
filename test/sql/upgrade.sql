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
CREATE TEMP TABLE columns_0_1_0 AS
SELECT c.relname, a.attname, a.attnum FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'vox'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped;
CREATE FUNCTION pg_temp.rows_0_1_0() RETURNS TABLE (tbl text, row_data jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    FOR tbl, columns IN SELECT relname, string_agg(quote_ident(attname), ', ' ORDER BY attnum)
                          FROM columns_0_1_0 GROUP BY relname ORDER BY 1 LOOP
        RETURN QUERY EXECUTE format('SELECT %L, to_jsonb(t) FROM (SELECT %s FROM vox.%I) t', tbl, columns, tbl);
    END LOOP;
END
$$;
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.rows_0_1_0();
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact in their 0.1.0 columns, none is added, and the new
-- tables start empty.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.rows_0_1_0()) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.rows_0_1_0() EXCEPT SELECT * FROM before_upgrade) added;
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
-- Everything of vox's schema a database's behaviour depends on, one line
-- per object or column: kind, object, definition.
CREATE FUNCTION pg_temp.vox_schema() RETURNS TABLE (kind text, object text, definition text)
LANGUAGE sql STABLE AS $$
    WITH rel AS (
        SELECT c.* FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vox'
    )
    SELECT 'relation', relname,
           concat_ws(' ', relkind, relpersistence, 'rls=' || relrowsecurity, 'force=' || relforcerowsecurity,
                     'acl=' || relacl::text, 'options=' || reloptions::text)
      FROM rel
    UNION ALL
    SELECT 'column', format('%s.%s', c.relname, a.attname),
           concat_ws(' ', a.attnum, format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 'not null' END,
                     'default ' || pg_get_expr(d.adbin, d.adrelid), 'identity ' || NULLIF(a.attidentity, '')::text,
                     'generated ' || NULLIF(a.attgenerated, '')::text, 'collation ' || NULLIF(a.attcollation, 0)::regcollation,
                     'acl ' || a.attacl::text)
      FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint', format('%s.%s', COALESCE(c.relname, t.typname), k.conname), pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
      LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
     WHERE n.nspname = 'vox'
    UNION ALL
    SELECT 'index', relname, pg_get_indexdef(oid) FROM rel WHERE relkind = 'i'
    UNION ALL
    SELECT 'sequence', c.relname,
           concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
      FROM rel c JOIN pg_sequence s ON s.seqrelid = c.oid
    UNION ALL
    SELECT 'view', relname, pg_get_viewdef(oid) FROM rel WHERE relkind = 'v'
    UNION ALL
    SELECT 'type', t.typname, concat_ws(' ', t.typtype, t.typbasetype::regtype, t.typnotnull, t.typdefault)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'vox' AND t.typtype IN ('d', 'e', 'c') AND t.typrelid = 0
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text,
           concat_ws(' ', pg_get_functiondef(p.oid), 'acl=' || p.proacl::text)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'vox'
    UNION ALL
    SELECT 'policy', format('%s.%s', tablename, policyname),
           concat_ws(' ', permissive, roles::text, cmd, 'using ' || qual, 'check ' || with_check)
      FROM pg_policies WHERE schemaname = 'vox'
    UNION ALL
    SELECT 'trigger', format('%s.%s', c.relname, g.tgname), concat_ws(' ', pg_get_triggerdef(g.oid), g.tgenabled)
      FROM pg_trigger g JOIN rel c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal
    UNION ALL
    SELECT 'comment', format('%s %s', o.type, o.identity), d.description
      FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
     WHERE o.schema = 'vox' OR o.identity = 'vox' OR o.identity LIKE '% on vox.%'
    UNION ALL
    SELECT 'member', format('%s %s', o.type, o.identity), NULL
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid,
           LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'vox'
    UNION ALL
    SELECT 'extension', extname, concat_ws(' ', extversion, extrelocatable, extnamespace::regnamespace, extconfig::text)
      FROM pg_extension WHERE extname = 'vox'
$$;
-- Differences between two digests, both ways.
CREATE FUNCTION pg_temp.differences(a regclass, b regclass) RETURNS TABLE (only_in text, kind text, object text, definition text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('(SELECT %1$L, * FROM %1$s EXCEPT SELECT %1$L, * FROM %2$s)
                                 UNION ALL
                                 (SELECT %2$L, * FROM %2$s EXCEPT SELECT %2$L, * FROM %1$s)
                                 ORDER BY 3, 4, 1', a, b);
END
$$;
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
