-- outbound: vox.register_outbound_call announces a call the app placed; it
-- converges with the call's webhooks in either order and makes its parked
-- events resolvable (DESIGN §2, invariants 1, 3, 4).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Demo Clinic', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Other Clinic', 'asst-b', 'pn-b', '+14155550200');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-a-out')::uuid, 'asst-a-out', 'Demo Clinic recalls', 'outbound');
-- The callee is on file twice in A; the oldest lead would be linked by phone.
INSERT INTO vox.leads (org_id, id, phone, name, created_at) VALUES
    (:org_a, '00000000-0000-4000-8000-0000000a0001', '+14155550123', 'Dana (old)', '2025-01-01'),
    (:org_a, '00000000-0000-4000-8000-0000000a0002', '+14155550123', 'Dana', '2025-03-01'),
    (:org_b, '00000000-0000-4000-8000-0000000b0001', '+14155550123', 'Dana at B', '2024-01-01');

-- Names instead of ids, for reading.
CREATE TEMP VIEW tracking AS
SELECT t.vapi_call_id, t.status, t.channel, a.vapi_assistant_id AS agent, ld.name AS lead,
       t.registered_at IS NOT NULL AS registered, t.metadata
  FROM vox.call_tracking t
  LEFT JOIN vox.agents a ON a.org_id = t.org_id AND a.id = t.agent_id
  LEFT JOIN vox.leads ld ON ld.org_id = t.org_id AND ld.id = t.lead_id
 ORDER BY 1;
CREATE TEMP VIEW logs AS
SELECT l.vapi_call_id, l.status, l.channel, l.is_test_call, a.vapi_assistant_id AS agent, ld.name AS lead,
       l.customer_number, l.metadata
  FROM vox.call_logs l
  LEFT JOIN vox.agents a ON a.org_id = l.org_id AND a.id = l.agent_id
  LEFT JOIN vox.leads ld ON ld.org_id = l.org_id AND ld.id = l.lead_id
 ORDER BY 1;
-- The webhooks of an outbound call placed with A's assistant asst-a.
CREATE FUNCTION pg_temp.webhooks(call_id text) RETURNS TABLE (n int, payload jsonb)
LANGUAGE sql AS $$
    SELECT n, p FROM (VALUES
        (1, vox_test.status_update(vox_test.call(call_id, 'asst-a', '{"type": "outboundPhoneCall"}'), 'queued', 1763740800000)),
        (2, vox_test.status_update(vox_test.call(call_id, 'asst-a', '{"type": "outboundPhoneCall"}'), 'ringing', 1763740800500)),
        (3, vox_test.status_update(vox_test.call(call_id, 'asst-a', '{"type": "outboundPhoneCall", "startedAt": "2025-11-21T16:00:01.000Z"}'),
                                   'in-progress', 1763740801000)),
        (4, vox_test.transcript(vox_test.call(call_id, 'asst-a', '{"type": "outboundPhoneCall"}'), 'assistant',
                                'Hi Dana, this is Demo Clinic calling about your cleaning.', 1763740802000)),
        (5, vox_test.end_of_call_report(vox_test.call(call_id, 'asst-a', '{"type": "outboundPhoneCall"}'), 1763741012000))
    ) AS w(n, p)
$$;
CREATE FUNCTION pg_temp.deliver_webhooks(call_id text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    answers text[] := '{}';
BEGIN
    FOR r IN SELECT * FROM pg_temp.webhooks(call_id) ORDER BY n LOOP
        answers := answers || (vox.handle_event(r.payload) ->> 'status');
    END LOOP;
    RETURN array_to_string(answers, ' ');
END
$$;
-- The SQLSTATE and message a registration raises, or its result.
CREATE FUNCTION pg_temp.try_register(org uuid, call_id text, agent uuid DEFAULT NULL, lead uuid DEFAULT NULL,
                                     metadata jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    RETURN vox.register_outbound_call(org, call_id, agent, lead, metadata)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ' ' || message;
END
$$;

---------------------------------------------------------------------------
-- Registration before the first webhook
---------------------------------------------------------------------------
SELECT vox.register_outbound_call(:org_a, 'call-out-1', md5('asst-a-out')::uuid, '00000000-0000-4000-8000-0000000a0002',
                                  '{"is_test_call": true, "campaign": "recall-2025"}');
SELECT * FROM tracking;
SELECT * FROM logs;
SELECT vapi_call_id, status FROM vox.calls;
-- The webhooks converge onto the same rows. The registration is the app's
-- word on who the call belongs to: its agent and lead stay, though the call
-- ran on asst-a and the callee's number matches an older lead.
SELECT pg_temp.deliver_webhooks('call-out-1');
SELECT * FROM tracking;
SELECT * FROM logs;
SELECT (SELECT count(*) FROM vox.call_tracking WHERE vapi_call_id = 'call-out-1') AS tracking,
       (SELECT count(*) FROM vox.call_logs WHERE vapi_call_id = 'call-out-1') AS logs,
       (SELECT count(*) FROM vox.calls WHERE vapi_call_id = 'call-out-1') AS calls;
-- Registering again changes nothing.
SELECT registered_at AS first_registered_at FROM vox.call_tracking WHERE vapi_call_id = 'call-out-1' \gset
SELECT vox.register_outbound_call(:org_a, 'call-out-1', md5('asst-a-out')::uuid, '00000000-0000-4000-8000-0000000a0002',
                                  '{"is_test_call": true, "campaign": "recall-2025"}') ->> 'status';
SELECT registered_at = :'first_registered_at' AS registered_at_kept, status
  FROM vox.call_tracking WHERE vapi_call_id = 'call-out-1';

---------------------------------------------------------------------------
-- Webhooks first, registration after: the same final rows
---------------------------------------------------------------------------
SELECT pg_temp.deliver_webhooks('call-out-2');
-- Before the registration the webhooks decide: asst-a's agent, the oldest lead.
SELECT * FROM tracking WHERE vapi_call_id = 'call-out-2';
SELECT vox.register_outbound_call(:org_a, 'call-out-2', md5('asst-a-out')::uuid, '00000000-0000-4000-8000-0000000a0002',
                                  '{"is_test_call": true, "campaign": "recall-2025"}') ->> 'status';
SELECT * FROM tracking;
SELECT * FROM logs;
(SELECT 'only in call-out-1' AS side, * FROM vox_test.masked_rows('call-out-1')
 EXCEPT SELECT 'only in call-out-1', * FROM vox_test.masked_rows('call-out-2'))
UNION ALL
(SELECT 'only in call-out-2', * FROM vox_test.masked_rows('call-out-2')
 EXCEPT SELECT 'only in call-out-2', * FROM vox_test.masked_rows('call-out-1'));
SELECT count(*) AS rows_compared FROM vox_test.masked_rows('call-out-2') WHERE row_data IS NOT NULL;

---------------------------------------------------------------------------
-- Registration resolves parked events of its call
---------------------------------------------------------------------------
-- Webhooks naming neither assistant nor number, for a call nobody holds yet.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-out-3', NULL, '{"type": "outboundPhoneCall"}'),
                                               'ringing', 1763740800500));
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-out-3', NULL, '{"type": "outboundPhoneCall"}'),
                                            'user', 'Hello?', 1763740802000)) ->> 'reason';
SELECT event_type, vapi_call_id, reason FROM vox.parked_events ORDER BY id;
SELECT vox.register_outbound_call(:org_a, 'call-out-3', md5('asst-a-out')::uuid);
SELECT event_type, vapi_call_id, reason FROM vox.parked_events ORDER BY id;
SELECT * FROM tracking WHERE vapi_call_id = 'call-out-3';
SELECT org_id = :org_a AS org_a, vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-out-3';

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------
SELECT n, label, result FROM (VALUES
    (1, 'org NULL',               pg_temp.try_register(NULL, 'call-bad-1')),
    (2, 'call id NULL',           pg_temp.try_register(:org_a, NULL)),
    (3, 'call id empty',          pg_temp.try_register(:org_a, '')),
    (4, 'call id with a space',   pg_temp.try_register(:org_a, 'call bad')),
    (5, 'call id 129 bytes',      pg_temp.try_register(:org_a, repeat('c', 129))),
    (6, 'metadata an array',      pg_temp.try_register(:org_a, 'call-bad-6', NULL, NULL, '[]')),
    (7, 'metadata a string',      pg_temp.try_register(:org_a, 'call-bad-7', NULL, NULL, '"test"')),
    (8, 'is_test_call a string',  pg_temp.try_register(:org_a, 'call-bad-8', NULL, NULL, '{"is_test_call": "yes"}')),
    (9, 'agent of another org',   pg_temp.try_register(:org_a, 'call-bad-9', md5('asst-b')::uuid)),
    (10, 'lead of another org',   pg_temp.try_register(:org_a, 'call-bad-10', NULL, '00000000-0000-4000-8000-0000000b0001')),
    (11, 'unknown org',           pg_temp.try_register('00000000-0000-4000-8000-0000000000ff', 'call-bad-11'))
) AS cases(n, label, result) ORDER BY n;
SELECT count(*) AS rows_for_bad_calls FROM vox.call_tracking WHERE vapi_call_id LIKE 'call-bad-%' OR org_id <> :org_a;
-- A NULL metadata is an empty one.
SELECT vox.register_outbound_call(:org_a, 'call-out-4', NULL, NULL, NULL) ->> 'status';
SELECT * FROM logs WHERE vapi_call_id = 'call-out-4';
