-- audit: every insert, update and delete of organizations, agents,
-- phone_numbers and webhook_secrets leaves one vox.audit_log row with the
-- operation, the row before and after, the session's login role and the
-- application's user (SET vox.app_user); a secret value is never recorded,
-- and the record of a deleted org stays (README, "Audit log").
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
\set agent_a '''00000000-0000-4000-8000-0000000a0a01'''
-- The audit log without timestamps: which org, whether the rows before and
-- after are there, and what they say (for an update, only the columns it
-- changed).
CREATE TEMP VIEW audit AS
SELECT id, table_name, operation,
       CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' ELSE org_id::text END AS org,
       db_user = session_user AS by_session_user, app_user,
       old_row IS NOT NULL AS has_old, new_row IS NOT NULL AS has_new,
       CASE operation
           WHEN 'INSERT' THEN new_row - 'created_at' - 'org_id'
           WHEN 'DELETE' THEN old_row - 'created_at' - 'org_id'
           ELSE (SELECT COALESCE(jsonb_object_agg(n.key, n.value), '{}') FROM jsonb_each(new_row) n
                  WHERE n.value IS DISTINCT FROM old_row -> n.key)
       END AS row_data
  FROM vox.audit_log ORDER BY id;
-- Audit rows written by the statements that follow.
SELECT 0 AS seen \gset

---------------------------------------------------------------------------
-- Inserts, with the application's user
---------------------------------------------------------------------------
SET vox.app_user = 'alice@clinic-a';
INSERT INTO vox.organizations (id, name) VALUES (:org_a, 'Clinic A');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, :agent_a, 'asst-a', 'Front desk', 'inbound');
INSERT INTO vox.phone_numbers (org_id, id, vapi_phone_number_id, number, agent_id)
VALUES (:org_a, '00000000-0000-4000-8000-0000000a0b01', 'pn-a', '+14155550100', :agent_a);
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'standard-webhooks', 'whsec_topsecret1');
SELECT * FROM audit WHERE id > :seen;
SELECT max(id) AS seen FROM vox.audit_log \gset

---------------------------------------------------------------------------
-- Updates: one row each, what changed; none for a statement that changes
-- no row, nor for a rolled back one
---------------------------------------------------------------------------
SET vox.app_user = 'bob@clinic-a';
UPDATE vox.organizations SET name = 'Clinic A (Main St)' WHERE id = :org_a;
UPDATE vox.agents SET active = false WHERE org_id = :org_a;
UPDATE vox.phone_numbers SET number = '+14155550101' WHERE org_id = :org_a;
UPDATE vox.webhook_secrets SET expires_at = '2025-12-01 00:00:00+00' WHERE org_id = :org_a;
UPDATE vox.agents SET name = 'nobody' WHERE false;
BEGIN;
UPDATE vox.organizations SET name = 'Rolled back' WHERE id = :org_a;
ROLLBACK;
SELECT * FROM audit WHERE id > :seen;
SELECT max(id) AS seen FROM vox.audit_log \gset

---------------------------------------------------------------------------
-- Secrets are never recorded
---------------------------------------------------------------------------
-- Rotation rewrites the secret: the update is recorded, its value is not,
-- and no application user was named this time.
RESET vox.app_user;
UPDATE vox.webhook_secrets SET secret = 'whsec_topsecret2' WHERE org_id = :org_a;
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, algorithm, payload_format)
VALUES (:org_a, 'hmac', 'topsecret3-hmac-key', 'sha512', '{timestamp}:{body}');
DELETE FROM vox.webhook_secrets WHERE org_id = :org_a AND scheme = 'standard-webhooks';
SELECT * FROM audit WHERE id > :seen;
SELECT max(id) AS seen FROM vox.audit_log \gset
-- Nowhere in the log, in any column.
SELECT count(*) AS rows_with_a_secret FROM vox.audit_log a WHERE a::text LIKE '%topsecret%';
SELECT count(*) AS rows_with_a_secret_key FROM vox.audit_log WHERE old_row ? 'secret' OR new_row ? 'secret';
-- While the table still holds them.
SELECT count(*) AS secrets_stored FROM vox.webhook_secrets WHERE secret LIKE '%topsecret%';

---------------------------------------------------------------------------
-- Deletes, and the record of a deleted org
---------------------------------------------------------------------------
SET vox.app_user = 'alice@clinic-a';
DELETE FROM vox.phone_numbers WHERE org_id = :org_a;
SELECT * FROM audit WHERE id > :seen;
SELECT max(id) AS seen FROM vox.audit_log \gset
-- Org B with an agent, a number, a secret and a call, then deleted: its
-- cascade is recorded row by row, and everything recorded about B stays.
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_b, 'shared', 'topsecret-b');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b', 'asst-b'), 'ringing', 1763740800000)) ->> 'status'
    AS call_b;
-- Calls are not audited: no row for them.
SELECT table_name, operation FROM audit WHERE id > :seen;
DELETE FROM vox.organizations WHERE id = :org_b;
SELECT count(*) AS org_b_left FROM vox.organizations WHERE id = :org_b;
SELECT table_name, operation, app_user, has_old, has_new FROM audit WHERE id > :seen AND org = 'B'
 ORDER BY operation DESC, table_name;
SELECT count(*) AS rows_with_a_secret FROM vox.audit_log a WHERE a::text LIKE '%topsecret%';
-- Every operation on every audited table of A and B, once per row changed.
SELECT org, table_name, operation, count(*) FROM audit GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 DESC;

---------------------------------------------------------------------------
-- TRUNCATE leaves a trace; the trigger audits vox's tables only
---------------------------------------------------------------------------
SELECT max(id) AS seen FROM vox.audit_log \gset
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b2', 'pn-b2', '+14155550201');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
VALUES (:org_a, 'shared', 'truncated-a'), (:org_a, 'shared', 'truncated-a2'), (:org_b, 'shared', 'truncated-b');
SELECT max(id) AS seen FROM vox.audit_log \gset
TRUNCATE vox.webhook_secrets;
SELECT a.table_name, a.operation, a.org, l.old_row, l.new_row IS NULL AS no_new_row
  FROM audit a JOIN vox.audit_log l USING (id) WHERE id > :seen ORDER BY org;
SELECT max(id) AS seen FROM vox.audit_log \gset
-- Attached to any other table, even by a superuser, it refuses to write.
CREATE TEMP TABLE webhook_secrets (org_id uuid, secret text);
CREATE TRIGGER forged AFTER INSERT ON webhook_secrets FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger();
INSERT INTO webhook_secrets VALUES (:org_a, 'forged');
SELECT count(*) AS audit_rows_after_forgery FROM vox.audit_log WHERE id > :seen;
-- Nobody but vox's owner may attach it (or the replay trigger) at all.
SELECT p.oid::regprocedure AS trigger_function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.pronamespace = 'vox'::regnamespace AND p.prorettype = 'trigger'::regtype ORDER BY 1;
