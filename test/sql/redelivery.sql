-- redelivery: at-least-once delivery gives exactly-once effects (DESIGN §2,
-- invariant 2). Each delivery below is its own transaction, as a retry is.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');


---------------------------------------------------------------------------
-- Every event type three times: processed, duplicate, duplicate
---------------------------------------------------------------------------
SELECT vox_test.status_update(vox_test.call('call-r1', 'asst-demo'), 'queued', 1763740800000) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS queued_1;
SELECT vox.handle_event(:'p') ->> 'status' AS queued_2;
SELECT vox.handle_event(:'p') ->> 'status' AS queued_3;
SELECT vox_test.status_update(vox_test.call('call-r1', 'asst-demo'), 'ringing', 1763740800500) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS ringing_1;
SELECT vox.handle_event(:'p') ->> 'status' AS ringing_2;
SELECT vox.handle_event(:'p') ->> 'status' AS ringing_3;
SELECT vox_test.status_update(vox_test.call('call-r1', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                              'in-progress', 1763740801000) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS in_progress_1;
SELECT vox.handle_event(:'p') ->> 'status' AS in_progress_2;
SELECT vox.handle_event(:'p') ->> 'status' AS in_progress_3;
SELECT vox_test.status_update(vox_test.call('call-r1', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
                              'forwarding', 1763740900000) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS forwarding_1;
SELECT vox.handle_event(:'p') ->> 'status' AS forwarding_2;
SELECT vox.handle_event(:'p') ->> 'status' AS forwarding_3;
SELECT vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'user', 'I need to book a cleaning.', 1763740805000) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS transcript_1;
SELECT vox.handle_event(:'p') ->> 'status' AS transcript_2;
SELECT vox.handle_event(:'p') ->> 'status' AS transcript_3;
SELECT vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'user', 'Tuesday', 1763740806000, 'partial') AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS partial_1;
SELECT vox.handle_event(:'p') ->> 'status' AS partial_2;
SELECT vox.handle_event(:'p') ->> 'status' AS partial_3;
SELECT vox_test.status_update(vox_test.call('call-r1', 'asst-demo',
                                            '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z"}'),
                              'ended', 1763741011600, '{"endedReason": "customer-ended-call"}') AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS ended_1;
SELECT vox.handle_event(:'p') ->> 'status' AS ended_2;
SELECT vox.handle_event(:'p') ->> 'status' AS ended_3;
SELECT vox_test.end_of_call_report(vox_test.call('call-r1', 'asst-demo'), 1763741012000) AS p \gset
SELECT vox.handle_event(:'p') ->> 'status' AS report_1;
SELECT vox.handle_event(:'p') ->> 'status' AS report_2;
SELECT vox.handle_event(:'p') ->> 'status' AS report_3;
-- An assistant-request has no effect to repeat: the same answer each time.
SELECT '{"message": {"type": "assistant-request", "timestamp": 1763740799000,
                     "call": {"id": "call-r1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                              "createdAt": "2025-11-21T15:59:59.000Z", "updatedAt": "2025-11-21T15:59:59.000Z",
                              "type": "inboundPhoneCall", "phoneNumberId": "pn-demo",
                              "customer": {"number": "+14155550123"}},
                     "phoneNumber": {"provider": "twilio", "number": "+14155550100"}}}' AS p \gset
SELECT vox.handle_event(:'p') ->> 'assistantId' AS assistant_1;
SELECT vox.handle_event(:'p') ->> 'assistantId' AS assistant_2;
SELECT vox.handle_event(:'p') ->> 'assistantId' AS assistant_3;

-- One row per table, one mark and one outbox entry per applied event (five
-- statuses, one utterance, one report), one recording job.
SELECT * FROM vox_test.counts;
SELECT topic, payload ->> 'status' AS status, payload ->> 'role' AS role FROM vox.outbox ORDER BY id;
SELECT tbl, row_data - 'org_id' - 'agent_id' AS row_data
  FROM vox_test.call_rows('00000000-0000-4000-8000-00000000000a', 'call-r1') ORDER BY tbl;

---------------------------------------------------------------------------
-- Keys are stable across retries that differ in what Vapi recomputes
---------------------------------------------------------------------------
-- An end-of-call-report retried with another cost and other timings is the
-- same report: nothing changes.
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-r1', 'asst-demo'), 1763741099000,
    '{"cost": 0.2, "endedAt": "2025-11-21T16:04:00.000Z"}')) ->> 'status';
-- A status ended retried with another endedAt (so another duration) too.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-r1', 'asst-demo',
                                               '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:05:00.000Z"}'),
                                               'ended', 1763741100000, '{"endedReason": "customer-ended-call"}')) ->> 'status';
SELECT vapi_call_id, cost, ended_at, duration_seconds FROM vox.call_logs;
SELECT vapi_call_id, cost, ended_at, duration_seconds FROM vox.calls;
SELECT * FROM vox_test.counts;

---------------------------------------------------------------------------
-- Utterances: a retry collides, the same words said again do not
---------------------------------------------------------------------------
-- Same role and words at another moment: another utterance.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'user',
                                            'I need to book a cleaning.', 1763740809000)) ->> 'status';
-- Same words and moment, other speaker: another utterance.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'assistant',
                                            'I need to book a cleaning.', 1763740809000)) ->> 'status';
-- Retries of both.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'user',
                                            'I need to book a cleaning.', 1763740809000)) ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r1', 'asst-demo'), 'assistant',
                                            'I need to book a cleaning.', 1763740809000)) ->> 'status';
SELECT role, text, spoken_at FROM vox.call_transcripts ORDER BY spoken_at, role;

---------------------------------------------------------------------------
-- The sender's delivery id (webhook-id header)
---------------------------------------------------------------------------
-- The same delivery twice: a duplicate.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-r2', 'asst-demo'), 'queued', 1763740800000),
                        'msg_2a1b3c') ->> 'status';
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-r2', 'asst-demo'), 'queued', 1763740800000),
                        'msg_2a1b3c') ->> 'status';
-- The same event under another delivery id is still the same event.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-r2', 'asst-demo'), 'queued', 1763740800000),
                        'msg_9z8y7x') ->> 'status';
-- A delivery id names one delivery: a second message under it is taken as a
-- redelivery (column comment on processed_webhook_events.delivery_id).
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-r2', 'asst-demo'), 'ringing', 1763740800500),
                        'msg_2a1b3c') ->> 'status';
-- A transcript too, though it has no mark of its own without a delivery id.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r2', 'asst-demo'), 'user', 'Anyone there?', 1763740800600),
                        'msg_2a1b3c') ->> 'status';
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id = 'call-r2';
-- A final transcript without its timestamp is told apart by its delivery id:
-- the same delivery is a duplicate, another delivery another utterance.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r2', 'asst-demo'), 'user', 'Hello?', NULL),
                        'msg_t1') ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r2', 'asst-demo'), 'user', 'Hello?', NULL),
                        'msg_t1') ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-r2', 'asst-demo'), 'user', 'Hello?', NULL),
                        'msg_t2') ->> 'status';
SELECT role, text, spoken_at FROM vox.call_transcripts WHERE vapi_call_id = 'call-r2' ORDER BY id;
SELECT event_type, event_id, delivery_id FROM vox.processed_webhook_events
 WHERE vapi_call_id = 'call-r2' ORDER BY delivery_id;
SELECT topic, payload ->> 'status' AS status, payload ->> 'role' AS role FROM vox.outbox
 WHERE vapi_call_id = 'call-r2' ORDER BY id;
