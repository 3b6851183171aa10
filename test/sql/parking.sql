-- parking: an event whose tenant cannot be resolved yet is accepted, parked
-- durably, and applied once the missing piece appears (DESIGN §2,
-- invariant 4).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox_test.tenant(:org_a, 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

CREATE TEMP VIEW parked AS
SELECT event_type, payload #>> '{message,status}' AS status, vapi_call_id, vapi_assistant_id, vapi_phone_number_id,
       reason, attempts, delivery_id,
       last_attempt_at IS NOT NULL AS attempted, last_error
  FROM vox.parked_events ORDER BY received_at, id;

---------------------------------------------------------------------------
-- Unknown assistant: accepted and parked, once
---------------------------------------------------------------------------
-- Events of a call whose assistant nobody has registered yet, delivered out
-- of their natural order: the utterance first, then the status, then the
-- report.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-p1', 'asst-new'), 'user', 'Is anyone there?', 1763740802000));
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p1', 'asst-new', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                                               'in-progress', 1763740801000), 'msg_p1');
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-p1', 'asst-new'), 1763741012000)) ->> 'status';
-- Redelivered while parked: still parked, still one row each.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p1', 'asst-new', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                                               'in-progress', 1763740801000), 'msg_p1') ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-p1', 'asst-new'), 'user', 'Is anyone there?', 1763740802000)) ->> 'status';
SELECT * FROM parked;
-- The payload is kept as sent.
SELECT payload = vox_test.end_of_call_report(vox_test.call('call-p1', 'asst-new'), 1763741012000) AS report_payload_kept
  FROM vox.parked_events WHERE event_type = 'end-of-call-report';
-- Nothing else was written.
SELECT * FROM vox_test.counts;

-- A replay that still finds no tenant applies nothing and counts the attempt.
SELECT vox.replay_parked();
SELECT * FROM parked;

---------------------------------------------------------------------------
-- Registering the agent applies them, in the same transaction, in order
---------------------------------------------------------------------------
BEGIN;
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-new')::uuid, 'asst-new', 'Demo Clinic after-hours', 'after-hours');
-- Before commit: already applied and gone from parked_events.
SELECT * FROM parked;
-- Applied in the order received: transcript, status, report.
SELECT topic, vapi_call_id, payload ->> 'status' AS status, payload ->> 'role' AS role FROM vox.outbox ORDER BY id;
COMMIT;
SELECT vapi_call_id, status, started_at, ended_at, ended_reason, summary, agent_id = md5('asst-new')::uuid AS new_agent
  FROM vox.call_logs;
SELECT vapi_call_id, role, text FROM vox.call_transcripts;
-- The delivery id travelled with the parked event.
SELECT event_id, delivery_id FROM vox.processed_webhook_events ORDER BY event_id;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p1', 'asst-new'), 'in-progress', 1763740801000), 'msg_p1')
    ->> 'status' AS redelivered_after_replay;
SELECT * FROM vox_test.counts;

---------------------------------------------------------------------------
-- Unknown phone number, resolved by registering the number
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p2', NULL, '{"phoneNumberId": "pn-new"}'),
                                               'ringing', 1763740801000));
SELECT * FROM parked;
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES (:org_a, 'pn-new', '+14155550101', md5('asst-demo')::uuid);
SELECT * FROM parked;
-- The number's org and agent own the call.
SELECT org_id = :org_a AS org_a, vapi_call_id, status, agent_id = md5('asst-demo')::uuid AS demo_agent
  FROM vox.call_logs WHERE vapi_call_id = 'call-p2';

---------------------------------------------------------------------------
-- Re-activating an agent replays too (statement trigger on UPDATE)
---------------------------------------------------------------------------
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role, active)
VALUES (:org_a, md5('asst-sleep')::uuid, 'asst-sleep', 'Demo Clinic holidays', 'holidays', false);
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p3', 'asst-sleep'), 'in-progress', 1763740801000)) ->> 'reason';
SELECT * FROM parked;
UPDATE vox.agents SET active = true WHERE vapi_assistant_id = 'asst-sleep';
SELECT * FROM parked;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-p3';
-- Nothing left for an explicit replay.
SELECT vox.replay_parked();

---------------------------------------------------------------------------
-- vox.replay_parked() on its own
---------------------------------------------------------------------------
-- With the trigger off, registering the agent resolves nothing by itself ...
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p4', 'asst-late'), 'queued', 1763740800000)) ->> 'status';
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p4', 'asst-late'), 'ringing', 1763740800500)) ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-p4', 'asst-late'), 'assistant', 'Hello!', 1763740801500)) ->> 'status';
ALTER TABLE vox.agents DISABLE TRIGGER agents_replay_parked;
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-late')::uuid, 'asst-late', 'Demo Clinic overflow', 'overflow');
ALTER TABLE vox.agents ENABLE TRIGGER agents_replay_parked;
SELECT * FROM parked;
-- ... the explicit replay applies all three and says so.
SELECT vox.replay_parked();
SELECT * FROM parked;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-p4';
SELECT vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-p4';

---------------------------------------------------------------------------
-- Unknown call: resolvable once another event makes the call known
---------------------------------------------------------------------------
-- No assistant, no number, a call id nobody holds yet. The event that
-- creates the call applies it in the same transaction, so the explicit
-- replay afterwards finds nothing left to do.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-p5', NULL), 'user', 'Hello?', 1763740802000));
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p5', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status';
SELECT vox.replay_parked();
SELECT * FROM parked;
SELECT org_id = :org_a AS org_a, vapi_call_id, role, text FROM vox.call_transcripts WHERE vapi_call_id = 'call-p5';

---------------------------------------------------------------------------
-- Two unknown assistants, one call id: both events are kept
---------------------------------------------------------------------------
-- Call ids are only unique within an org: two orgs' not yet registered
-- assistants may report the same call id. Parking one must not swallow the
-- other.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p6', 'asst-org-c'), 'in-progress', 1763740801000)) ->> 'status';
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p6', 'asst-org-d'), 'in-progress', 1763740801000)) ->> 'status';
SELECT * FROM parked;
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000c', 'Clinic C', 'asst-org-c', 'pn-c', '+14155550300');
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000d', 'Clinic D', 'asst-org-d', 'pn-d', '+14155550400');
SELECT * FROM parked;
SELECT o.name, l.vapi_call_id, l.status FROM vox.call_logs l JOIN vox.organizations o ON o.id = l.org_id
 WHERE l.vapi_call_id = 'call-p6' ORDER BY 1;

---------------------------------------------------------------------------
-- A routing change replays only the events waiting for it
---------------------------------------------------------------------------
-- Replays run in the transaction of whoever changed routing: they must cost
-- in proportion to what became resolvable, not to the whole backlog, and
-- leave other events untouched (no attempt counted against them).
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p7', 'asst-not-yet'), 'ringing', 1763740800500)) ->> 'reason';
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES (:org_a, 'asst-unrelated', 'Unrelated', 'unrelated');
UPDATE vox.agents SET name = name || ' (renamed)' WHERE vapi_assistant_id = 'asst-demo';
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number) VALUES (:org_a, 'pn-unrelated', '+14155550102');
SELECT * FROM parked;
-- Its own assistant applies it.
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES (:org_a, 'asst-not-yet', 'Late', 'late');
SELECT * FROM parked;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-p7';

---------------------------------------------------------------------------
-- Sweeps are bounded, cost no transaction id per event, and end
---------------------------------------------------------------------------
DELETE FROM vox.parked_events;
SELECT count(*) FILTER (WHERE vox.handle_event(vox_test.status_update(vox_test.call('call-s' || n, 'asst-nobody'),
                                                                       'ringing', 1763740800000)) ->> 'status' = 'parked')
       AS parked
  FROM generate_series(1, 200) n;
-- An event that still cannot be applied writes nothing in its
-- subtransaction: the sweep takes one transaction id, not one per event.
SELECT pg_snapshot_xmax(pg_current_snapshot()) AS next_xid \gset
SELECT vox.replay_parked() AS applied;
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint - :'next_xid'::text::bigint <= 2 AS at_most_two_xids;
-- A bounded sweep tries at most max_events, and each event once per round
-- (attempted_before: the round's start).
SELECT now() AS round_start \gset
SELECT * FROM vox.replay_parked_batch(150, :'round_start');
SELECT * FROM vox.replay_parked_batch(150, :'round_start');
SELECT * FROM vox.replay_parked_batch(150, :'round_start');
SELECT attempts, count(*) FROM vox.parked_events GROUP BY 1;
-- After vox.parked_max_attempts an event is dead: counted, kept, passed
-- over by sweeps.
SET vox.parked_max_attempts = 3;
SELECT * FROM vox.replay_parked_batch(1000);
SELECT count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead, count(*) AS parked FROM vox.parked_events;
SELECT name, value FROM vox.stats WHERE section = 'parked';
SELECT * FROM vox.replay_parked_batch(1000);
SELECT vox.replay_parked() AS applied_by_full_sweep;
RESET vox.parked_max_attempts;
SELECT max(attempts) AS attempts FROM vox.parked_events;
-- Its assistant arriving still applies a dead event.
INSERT INTO vox.agents (org_id, vapi_assistant_id, name, role) VALUES (:org_a, 'asst-nobody', 'Somebody', 'somebody');
SELECT count(*) AS still_parked FROM vox.parked_events;
SELECT count(*) AS calls_applied FROM vox.call_logs WHERE vapi_call_id LIKE 'call-s%';
SELECT vox.replay_parked_batch(0);
