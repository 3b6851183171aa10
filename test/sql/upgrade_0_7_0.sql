-- upgrade_0_7_0: ALTER EXTENSION vox UPDATE from 0.6.0 to 0.7.0 on a
-- populated database keeps every row; what changes is the status rank's
-- form (not one rank), the triggers' guards, and vox.distribute() with its
-- helpers; the guards still refuse a trigger on another table; and the
-- result is exactly the schema a fresh 0.7.0 install has.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vox CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';

CREATE EXTENSION vox VERSION '0.6.0';
\set ECHO none
\i test/fixtures/upgrade.sql
\set ECHO all

---------------------------------------------------------------------------
-- Data written by 0.6.0: two orgs, each a call with a transcript and a
-- report, one recording archived
---------------------------------------------------------------------------
\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A'), (:org_b, 'Clinic B');
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role)
VALUES (:org_a, 'asst-a', 'Front desk', 'inbound'), (:org_b, 'asst-b', 'Front desk', 'inbound');
SELECT asst,
       vox.handle_event(('{"message": {"type": "transcript", "role": "user", "transcriptType": "final", ' ||
                         '"transcript": "Hello", "timestamp": 1763740850000, ' ||
                         '"call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "' || asst || '"}}}')::jsonb)
           ->> 'status' AS transcript,
       vox.handle_event(('{"message": {"type": "end-of-call-report", "timestamp": 1763740900000, ' ||
                         '"artifact": {"recordingUrl": "https://storage.vapi.ai/call-1.wav"}, ' ||
                         '"call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "' || asst || '", ' ||
                         '"status": "ended", "customer": {"number": "+14155550123"}}}}')::jsonb) ->> 'status' AS report
  FROM (VALUES ('asst-a'), ('asst-b')) v(asst);
SELECT count(*) AS claimed FROM vox.claim_recording_uploads(1, '1 minute');
SELECT vox.complete_recording_upload(1, 'recordings/call-1.wav', 10, 'audio/wav', repeat('0', 64)) AS completed;

CREATE TEMP TABLE ranks_0_6_0 AS
SELECT s, vox.call_status_rank(s) AS rank
  FROM unnest(ARRAY['scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended', 'bogus', NULL]) s;
CREATE TEMP TABLE columns_0_6_0 AS SELECT * FROM pg_temp.vox_columns();
CREATE TEMP TABLE before_upgrade AS SELECT * FROM pg_temp.vox_rows('columns_0_6_0');
SELECT tbl, count(*) FROM before_upgrade GROUP BY 1 ORDER BY 1;
CREATE TEMP TABLE schema_0_6_0 AS SELECT * FROM pg_temp.vox_schema();

---------------------------------------------------------------------------
-- The upgrade
---------------------------------------------------------------------------
ALTER EXTENSION vox UPDATE TO '0.7.0';
SELECT extversion FROM pg_extension WHERE extname = 'vox';

-- Old rows are intact, and none is added.
SELECT 'lost' AS change, * FROM (SELECT * FROM before_upgrade EXCEPT SELECT * FROM pg_temp.vox_rows('columns_0_6_0')) lost
UNION ALL
SELECT 'new', * FROM (SELECT * FROM pg_temp.vox_rows('columns_0_6_0') EXCEPT SELECT * FROM before_upgrade) added;
-- What changed in the schema.
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.vox_schema();
SELECT only_in, kind, object, left(replace(definition, E'\n', ' '), 60) AS definition
  FROM pg_temp.differences('schema_0_6_0', 'upgraded');
-- Every status keeps its rank.
SELECT r.s, r.rank, vox.call_status_rank(r.s) AS now FROM ranks_0_6_0 r
 WHERE r.rank IS DISTINCT FROM vox.call_status_rank(r.s);

---------------------------------------------------------------------------
-- After the upgrade
---------------------------------------------------------------------------
-- Events apply as before, and a call's status still only moves forward.
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1763741000000,
                          "call": {"id": "call-2", "type": "inboundPhoneCall", "assistantId": "asst-a"}}}') ->> 'status'
       AS after_upgrade;
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1763741000500,
                          "call": {"id": "call-2", "type": "inboundPhoneCall", "assistantId": "asst-a"}}}') ->> 'status'
       AS late_ringing;
SELECT status FROM vox.call_logs WHERE vapi_call_id = 'call-2';
-- Changes are audited under the table's own name, as before.
UPDATE vox.agents SET name = 'Reception' WHERE vapi_assistant_id = 'asst-b';
SELECT table_name, operation, new_row ->> 'name' AS name FROM vox.audit_log ORDER BY id DESC LIMIT 1;
-- The guards still refuse vox's triggers on a table of another schema.
CREATE TABLE public.organizations (id uuid PRIMARY KEY);
CREATE TRIGGER forged BEFORE DELETE ON public.organizations
    FOR EACH ROW EXECUTE FUNCTION vox.organization_event_rows();
INSERT INTO public.organizations VALUES (:org_a);
DELETE FROM public.organizations;
DROP TABLE public.organizations;
-- vox.distribute() without Citus says what it needs.
SELECT vox.distribute();
-- Deleting A still takes every row of A and no row of B.
DELETE FROM vox.organizations WHERE id = :org_a;
SELECT tbl, count(*) AS rows,
       count(*) FILTER (WHERE row_data ->> 'org_id' = :org_a) AS rows_of_a
  FROM pg_temp.vox_rows('columns_0_6_0')
 WHERE tbl NOT IN ('audit_log', 'recording_deletions', 'maintenance_runs', 'feed_origin')
 GROUP BY 1 ORDER BY 1;

---------------------------------------------------------------------------
-- The upgraded schema is a fresh 0.7.0 schema
---------------------------------------------------------------------------
SET client_min_messages = warning;
DROP EXTENSION vox CASCADE;
RESET client_min_messages;
CREATE EXTENSION vox VERSION '0.7.0';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.vox_schema();
SELECT kind, count(*) FROM fresh GROUP BY 1 ORDER BY 1;
-- Expected: no difference.
SELECT * FROM pg_temp.differences('upgraded', 'fresh');
