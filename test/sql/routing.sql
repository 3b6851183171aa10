-- routing: who answers and who owns a call (DESIGN §2 invariants 3 and 5),
-- each rule with an assertion of its own: an inactive agent answers no
-- assistant-request, by either route, and takes no new call, whatever
-- another org holds; a call id two orgs hold resolves to neither; a signed
-- event may not name another org's assistant or phone number; the app's
-- outbound registration names the agent, whichever arrives first.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
-- A's second number, answered by an agent that is switched off.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role, active)
VALUES (:org_a, md5('asst-off')::uuid, 'asst-off', 'Clinic A holidays', 'holidays', false);
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES (:org_a, 'pn-off', '+14155550101', md5('asst-off')::uuid);

---------------------------------------------------------------------------
-- assistant-request for a number whose agent is inactive: no assistant
---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.ask(phone_number jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT vox.handle_event(jsonb_build_object('message', jsonb_build_object(
        'type', 'assistant-request', 'timestamp', 1763740799000, 'phoneNumber', phone_number)))
$$;
SELECT pg_temp.ask('{"id": "pn-off"}') AS by_phone_number_id;
SELECT pg_temp.ask('{"number": "+14155550101"}') AS by_dialled_number;
SELECT pg_temp.ask('{"id": "pn-off"}') ->> 'assistantId' IS NULL AS no_assistant_by_id,
       pg_temp.ask('{"number": "+14155550101"}') ->> 'assistantId' IS NULL AS no_assistant_by_number;
-- Switched on, the same two requests are answered by it.
UPDATE vox.agents SET active = true WHERE vapi_assistant_id = 'asst-off';
SELECT pg_temp.ask('{"id": "pn-off"}') ->> 'assistantId' AS by_phone_number_id,
       pg_temp.ask('{"number": "+14155550101"}') ->> 'assistantId' AS by_dialled_number;
UPDATE vox.agents SET active = false WHERE vapi_assistant_id = 'asst-off';

---------------------------------------------------------------------------
-- A new call to an inactive agent parks; a call its org holds is routed
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-off-1', 'asst-off'), 'ringing', 1763740800500))
    ->> 'reason' AS new_call;
SELECT count(*) AS call_rows FROM vox.call_logs WHERE vapi_call_id = 'call-off-1';
-- B's new call with that id leaves A's parked event alone: not even an
-- attempt is counted against it.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-off-1', 'asst-b'), 'ringing', 1763740800500))
    ->> 'status' AS b_call;
SELECT reason, attempts, last_attempt_at IS NULL AS never_attempted FROM vox.parked_events
 WHERE vapi_call_id = 'call-off-1';
-- A's app registers call-off-2 first: the inactive agent's events for it
-- apply, to A.
SELECT vox.register_outbound_call(:org_a, 'call-off-2') ->> 'status' AS registered;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-off-2', 'asst-off'), 'ringing', 1763740800500))
    ->> 'status' AS held_call;
SELECT org_id = :org_a AS org_a, status, agent_id = md5('asst-off')::uuid AS inactive_agent
  FROM vox.call_logs WHERE vapi_call_id = 'call-off-2';

-- Another org holding a call with the same id changes nothing: B's
-- call-off-3 does not make A's inactive agent take A's new call-off-3.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-off-3', 'asst-b'), 'ringing', 1763740800500))
    ->> 'status' AS b_call;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-off-3', 'asst-off'), 'ringing', 1763740800500))
    ->> 'reason' AS a_new_call;
SELECT count(*) AS a_call_rows FROM vox.call_logs WHERE vapi_call_id = 'call-off-3' AND org_id = :org_a;

---------------------------------------------------------------------------
-- A call id two orgs hold: an event naming only the call id is parked
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-both', 'asst-a'), 'ringing', 1763740800500))
           ->> 'status' AS a_call,
       vox.handle_event(vox_test.status_update(vox_test.call('call-both', 'asst-b'), 'ringing', 1763740800500))
           ->> 'status' AS b_call;
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-both', NULL), 'user', 'Whose?', 1763740802000))
    ->> 'reason' AS neither_named;
SELECT count(*) AS transcripts FROM vox.call_transcripts WHERE vapi_call_id = 'call-both';

---------------------------------------------------------------------------
-- A signed event naming another org's assistant or phone number is refused
---------------------------------------------------------------------------
-- Signed by B, naming A's assistant: 22023, nothing written.
SELECT vox_test.attempt(vox_test.status_update(vox_test.call('call-as', 'asst-a'), 'ringing', 1763740800500),
                        NULL, :org_b) AS signed_by_b;
SELECT count(*) AS call_rows FROM vox.call_tracking WHERE vapi_call_id = 'call-as';
-- Signed by B, naming A's number (and no assistant): 22023, nothing written.
SELECT vox_test.attempt(vox_test.status_update(vox_test.call('call-pn', NULL, '{"phoneNumberId": "pn-a"}'),
                                               'ringing', 1763740800500), NULL, :org_b) AS signed_by_b;
SELECT count(*) AS call_rows FROM vox.call_tracking WHERE vapi_call_id = 'call-pn';
-- Signed by A, the same event is A's.
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-pn', NULL, '{"phoneNumberId": "pn-a"}'),
                                                       'ringing', 1763740800500)) ->> 'status' AS signed_by_a;
SELECT org_id = :org_a AS org_a FROM vox.call_tracking WHERE vapi_call_id = 'call-pn';

---------------------------------------------------------------------------
-- The outbound registration's agent wins over the call's assistant, in
-- either order
---------------------------------------------------------------------------
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-out')::uuid, 'asst-out', 'Clinic A outbound', 'outbound');
CREATE TEMP VIEW agents_of AS
SELECT t.vapi_call_id, at.vapi_assistant_id AS tracking_agent, al.vapi_assistant_id AS log_agent
  FROM vox.call_tracking t
  JOIN vox.call_logs l USING (org_id, vapi_call_id)
  LEFT JOIN vox.agents at ON at.org_id = t.org_id AND at.id = t.agent_id
  LEFT JOIN vox.agents al ON al.org_id = l.org_id AND al.id = l.agent_id
 WHERE t.vapi_call_id LIKE 'call-reg-%' ORDER BY 1;
-- Registered first, then the webhook naming asst-a.
SELECT vox.register_outbound_call(:org_a, 'call-reg-1', md5('asst-out')::uuid) ->> 'status' AS registered;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-reg-1', 'asst-a'), 'in-progress', 1763740801000))
    ->> 'status' AS webhook;
-- The webhook first, then the registration.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-reg-2', 'asst-a'), 'in-progress', 1763740801000))
    ->> 'status' AS webhook;
SELECT vox.register_outbound_call(:org_a, 'call-reg-2', md5('asst-out')::uuid) ->> 'status' AS registered;
SELECT * FROM agents_of;
SELECT bool_and(tracking_agent = 'asst-out' AND log_agent = 'asst-out') AS registration_agent_wins FROM agents_of;
