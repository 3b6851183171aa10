-- apply_resolved: vox.apply_resolved(org_id, payload, delivery_id), what a
-- Citus coordinator calls on an org's node once it has resolved an event's
-- org (docs/scale-out.md). On any node it applies the event as the signed
-- route would, except that an event it cannot resolve is a lost race
-- (40001), never parked, and the parked events a new call unblocks are left
-- to the caller. It runs with its caller's privileges.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');

-- Applied as signed by A; a redelivery is a duplicate.
SELECT vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-a', 'asst-a'), 'ringing', 1763740800000), 'd1')
       ->> 'status' AS first,
       vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-a', 'asst-a'), 'ringing', 1763740800000), 'd1')
       ->> 'status' AS again;
SELECT org_id = :org_a AS of_a, status FROM vox.call_logs WHERE vapi_call_id = 'call-a';

-- An event that no longer resolves to the org: refused as a lost race
-- (serialization failure, which the shim retries), and nothing is parked.
\set VERBOSITY sqlstate
SELECT vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-x', 'asst-gone'), 'ringing', 1763740800000));
\set VERBOSITY default
SELECT count(*) AS parked FROM vox.parked_events;

-- An event parked for a call that does not exist yet, then the call applied
-- by apply_resolved: the parked event stays for its caller to replay.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-later', NULL), 'user', 'hello', 1763740805000))
       ->> 'reason' AS parked_as;
SELECT vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-later', 'asst-a'), 'ringing', 1763740800000))
       ->> 'status' AS applied;
SELECT reason FROM vox.parked_events WHERE vapi_call_id = 'call-later';
SELECT vox.replay_parked() AS replayed_by_the_caller;

-- Naming another org's assistant, as the signed route refuses it.
SELECT vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-b', 'asst-b'), 'ringing', 1763740800000));
-- No org: refused.
SELECT vox.apply_resolved(NULL, vox_test.status_update(vox_test.call('call-a', 'asst-a'), 'ringing', 1763740800000));

-- With its caller's privileges: a role that may write nothing writes nothing.
CREATE ROLE vox_test_nobody;
GRANT USAGE ON SCHEMA vox, vox_test TO vox_test_nobody;
SET ROLE vox_test_nobody;
SELECT vox.apply_resolved(:org_a, vox_test.status_update(vox_test.call('call-n', 'asst-a'), 'ringing', 1763740800000));
RESET ROLE;
SELECT count(*) AS written FROM vox.call_logs WHERE vapi_call_id = 'call-n';
DROP OWNED BY vox_test_nobody;
DROP ROLE vox_test_nobody;
