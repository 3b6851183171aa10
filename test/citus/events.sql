-- The same events on one node and on the cluster: signed (delegated to the
-- org's worker), unsigned (resolved and applied through the coordinator), an
-- outbound registration, redeliveries, a call id both clinics use, events
-- parked for an agent that arrives, and one for a call two clinics hold.
\set ON_ERROR_STOP 1
\set a '''00000000-0000-4000-8000-00000000000a'''
\set b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox.handle_event(:a, vox_test.status_update(vox_test.call('call-1', 'asst-a'), 'queued', 1763740800000), 'd1');
SELECT vox.handle_event(:a, vox_test.status_update(vox_test.call('call-1', 'asst-a'), 'in-progress', 1763740802000), 'd2');
SELECT vox.handle_event(:a, vox_test.status_update(vox_test.call('call-1', 'asst-a'), 'ringing', 1763740801000), 'd3');
SELECT vox.handle_event(:a, vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'user', 'I need a cleaning', 1763740803000), NULL);
SELECT vox.handle_event(:a, vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'assistant', 'Tuesday works', 1763740804000), 'd4');
SELECT vox.handle_event(:a, vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'assistant', 'Tuesday works', 1763740804000), 'd4');
SELECT vox.handle_event(:a, vox_test.end_of_call_report(vox_test.call('call-1', 'asst-a'), 1763740900000), 'd5');
SELECT vox.handle_event(:a, vox_test.end_of_call_report(vox_test.call('call-1', 'asst-a'), 1763740900000), 'd5');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-2', 'asst-a'), 'ringing', 1763740800000), 'u1');
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-2', 'asst-a'), 1763740900000), 'u2');
SELECT vox.register_outbound_call(:b, 'call-3', md5('asst-b')::uuid);
SELECT vox.handle_event(:b, vox_test.status_update(vox_test.call('call-3', NULL, '{"type": "outboundPhoneCall"}'), 'in-progress', 1763740802000), 'd6');
SELECT vox.handle_event(:a, vox_test.status_update(vox_test.call('shared', 'asst-a'), 'ringing', 1763740800000), 'd7');
SELECT vox.handle_event(:b, vox_test.status_update(vox_test.call('shared', 'asst-b'), 'in-progress', 1763740802000), 'd7');
SELECT vox.handle_event(vox_test.transcript(vox_test.call('shared', NULL), 'user', 'whose call is this', 1763740805000), 'u3');
SELECT vox.handle_event(:b, vox_test.status_update(vox_test.call('call-4', 'asst-night'), 'ringing', 1763740800000), 'd8');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:b, md5('asst-night')::uuid, 'asst-night', 'Night shift', 'night'),
       (:a, md5('asst-later')::uuid, 'asst-later', 'Later', 'night');
UPDATE vox.agents SET name = 'Front desk' WHERE vapi_assistant_id = 'asst-a';
DELETE FROM vox.webhook_secrets WHERE org_id = :a;
