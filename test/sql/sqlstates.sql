-- sqlstates: the SQLSTATE of each refusal the shim maps to 400, and what is
-- only noted instead (DESIGN §2
-- invariant 6, §3), asserted one by one as booleans, so that regenerating a
-- long expected table elsewhere (validation.out) cannot hide a change.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');

-- The SQLSTATE of an event, or its status if it raised none.
CREATE FUNCTION pg_temp.state_of(payload jsonb, signer uuid DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT split_part(vox_test.attempt(payload, NULL, signer), ' ', 1)
$$;

SELECT pg_temp.state_of(vox_test.status_update(vox_test.call('call-s3', 'asst-a'), 'ringing', 1763740800500)
                        #- '{message,call,id}') = '22023' AS call_id_missing,
       pg_temp.state_of('{"message": {"call": {"id": "call-s4"}}}') = '22023' AS message_type_missing,
       pg_temp.state_of(vox_test.status_update(vox_test.call('call-s5', 'asst-a'), 'ringing', 1763740800500),
                        :org_b) = '22023' AS signed_by_another_org,
       pg_temp.state_of(vox_test.status_update(vox_test.call('call-s7', 'asst-a'), 'ringing', 1763740800500)
                        #- '{message,status}') = '22023' AS status_missing;
-- None of them wrote anything.
SELECT * FROM vox_test.counts;

-- What vox only notes is not refused: an end before the start, a negative
-- cost. The events are applied and the oddity kept in the call's notes
-- (conformance.sql has the details).
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-s1', 'asst-a'), 1763741012000,
                                                    '{"endedAt": "2025-11-21T15:00:00.000Z"}')) ->> 'status' = 'processed'
           AS report_ends_before_it_starts,
       vox.handle_event(vox_test.status_update(
           vox_test.call('call-s2', 'asst-a', '{"startedAt": "2025-11-21T16:00:01.000Z",
                                                "endedAt": "2025-11-21T15:00:00.000Z"}'),
           'ended', 1763741012000)) ->> 'status' = 'processed' AS call_ends_before_it_starts,
       vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-s6', 'asst-a'), 1763741012000,
                                                    '{"cost": -1}')) ->> 'status' = 'processed' AS cost_out_of_range;
SELECT vapi_call_id, array(SELECT jsonb_object_keys(metadata -> 'vox_notes')) AS noted
  FROM vox.call_logs WHERE vapi_call_id IN ('call-s1', 'call-s2', 'call-s6') ORDER BY 1;
