-- search_path: every privileged function of vox (SECURITY DEFINER, or C code
-- that runs vox's statements) pins its search_path to pg_catalog, pg_temp,
-- so no caller's schema can stand in for an operator or function it uses
-- while it runs with its owner's rights (DESIGN §2 invariant 5).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'shared', 'a-secret');

---------------------------------------------------------------------------
-- The catalog: which functions are privileged, and what they pin
---------------------------------------------------------------------------
CREATE TEMP VIEW privileged AS
SELECT p.oid::regprocedure::text AS function, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vox')
   AND (p.prosecdef OR p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c'));
-- Enough of them that the check below is not vacuous.
SELECT count(*) > 10 AS several_privileged_functions FROM privileged;
-- Any that does not pin exactly pg_catalog, pg_temp (pg_temp last, so a
-- temporary object cannot shadow either): none.
SELECT function, proconfig FROM privileged
 WHERE proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (proconfig)
 ORDER BY function;

---------------------------------------------------------------------------
-- Behaviour: an operator shadowed ahead of pg_catalog is never called
---------------------------------------------------------------------------
-- vox_shadow's = on text and on uuid answers like the real one, and counts
-- its calls in a sequence (outside any transaction, so a call counts even
-- where it ran in a rolled-back subtransaction).
CREATE SCHEMA vox_shadow;
CREATE SEQUENCE vox_shadow.calls;
CREATE FUNCTION vox_shadow.text_eq(a text, b text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('vox_shadow.calls'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION vox_shadow.uuid_eq(a uuid, b uuid) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('vox_shadow.calls'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR vox_shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = vox_shadow.text_eq);
CREATE OPERATOR vox_shadow.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = vox_shadow.uuid_eq);
SELECT vox_test.status_update(vox_test.call('call-sp-1', 'asst-a'), 'ringing', 1763740800000) AS unsigned \gset
SELECT vox_test.status_update(vox_test.call('call-sp-2', 'asst-a'), 'ringing', 1763740800000) AS signed \gset
-- The shadow works: in a plain query of this session it is the = used.
SET search_path = vox_shadow, pg_catalog, public;
SELECT count(*) AS secrets FROM vox.webhook_secrets WHERE org_id = '00000000-0000-4000-8000-00000000000a'::uuid;
RESET search_path;
SELECT nextval('vox_shadow.calls') > 1 AS shadow_called_by_plain_query;
ALTER SEQUENCE vox_shadow.calls RESTART;

-- A new session, so that vox prepares its statements under the shadowing
-- search_path (a statement prepared earlier would be re-planned anyway).
\c
SET search_path = vox_shadow, pg_catalog, public;
SELECT jsonb_array_length(vox.webhook_secrets_for('00000000-0000-4000-8000-00000000000a')) AS secrets;
SELECT vox.handle_event(:'unsigned'::jsonb) ->> 'status' AS unsigned_event;
SELECT vox.handle_event('00000000-0000-4000-8000-00000000000a', :'signed'::jsonb) ->> 'status' AS signed_event;
SELECT vox.register_outbound_call('00000000-0000-4000-8000-00000000000a', 'call-sp-3') ->> 'status' AS registration;
SELECT vox.replay_parked() AS replayed;
RESET search_path;
-- Never called: every one of them used pg_catalog's =.
SELECT is_called AS shadow_called FROM vox_shadow.calls;
SELECT vapi_call_id, status FROM vox.call_logs ORDER BY vapi_call_id;
SET client_min_messages = warning;
DROP SCHEMA vox_shadow CASCADE;
RESET client_min_messages;
