-- legacy: the seeds' flat form ({"type": "call.started", "call": {...}} and
-- friends, no "message" envelope) maps onto the same handlers and the same
-- rows as Vapi's envelope (DESIGN §2).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

-- A call's rows with its id masked, so two calls' rows can be compared.
-- Rows in which two calls differ (none when they converged to the same rows).

---------------------------------------------------------------------------
-- A whole call in the flat form
---------------------------------------------------------------------------
-- call.started is the in-progress status.
SELECT vox.handle_event('{"type": "call.started",
    "call": {"id": "call-legacy", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "startedAt": "2025-11-21T16:00:01.000Z",
             "customer": {"number": "+14155550123", "name": "Dana"}}}');
SELECT vapi_call_id, status, channel, customer_number, started_at, agent_id = md5('asst-demo')::uuid AS demo_agent
  FROM vox.call_logs;
-- call.transcribed: the words in "transcript", the speaker in "speaker" (or
-- "role"), the utterance's time in "timestamp".
SELECT vox.handle_event('{"type": "call.transcribed", "speaker": "assistant",
    "transcript": "Thanks for calling Demo Clinic.", "timestamp": 1763740802000,
    "call": {"id": "call-legacy", "type": "inboundPhoneCall", "assistantId": "asst-demo",
             "customer": {"number": "+14155550123"}}}');
SELECT vox.handle_event('{"type": "call.transcribed", "role": "user",
    "transcript": "I need to book a cleaning.", "timestamp": 1763740805000,
    "call": {"id": "call-legacy", "type": "inboundPhoneCall", "assistantId": "asst-demo",
             "customer": {"number": "+14155550123"}}}') ->> 'status';
SELECT vapi_call_id, role, text, spoken_at FROM vox.call_transcripts ORDER BY spoken_at;
-- call.ended is the ended status; the seeds' call.duration is not trusted,
-- the duration comes from the timestamps.
SELECT vox.handle_event('{"type": "call.ended", "endedReason": "customer-ended-call",
    "call": {"id": "call-legacy", "type": "inboundPhoneCall", "status": "ended", "assistantId": "asst-demo",
             "startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z", "duration": 999,
             "customer": {"number": "+14155550123"}}}') ->> 'status';
SELECT vapi_call_id, status, started_at, ended_at, duration_seconds, ended_reason FROM vox.call_logs;
-- The flat end-of-call-report carried summary, transcript and recordingUrl at
-- the top level.
SELECT vox.handle_event('{"type": "end-of-call-report", "endedReason": "customer-ended-call", "cost": 0.1234,
    "startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z",
    "summary": "Caller booked a cleaning for Tuesday.",
    "transcript": "AI: Thanks for calling Demo Clinic. User: I need to book a cleaning.",
    "recordingUrl": "https://storage.vapi.ai/call-legacy-mono.wav",
    "call": {"id": "call-legacy", "type": "inboundPhoneCall", "status": "ended", "assistantId": "asst-demo",
             "customer": {"number": "+14155550123"}}}') ->> 'status';
SELECT vapi_call_id, status, summary, transcript, cost, recording_url, report_received FROM vox.call_logs;
SELECT vapi_call_id, recording_url, status FROM vox.recording_upload_queue;

-- The same call told through Vapi's envelope gives the same rows.
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-envelope', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
    'in-progress', 1763740801000)) ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-envelope', 'asst-demo'), 'assistant',
                                            'Thanks for calling Demo Clinic.', 1763740802000)) ->> 'status';
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-envelope', 'asst-demo'), 'user',
                                            'I need to book a cleaning.', 1763740805000)) ->> 'status';
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-envelope', 'asst-demo',
                  '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z"}'),
    'ended', 1763741011600, '{"endedReason": "customer-ended-call"}')) ->> 'status';
-- (no successEvaluation: the flat report above had none)
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-envelope', 'asst-demo'), 1763741012000,
    '{"analysis": {"summary": "Caller booked a cleaning for Tuesday."}}')) ->> 'status';
SELECT * FROM vox_test.differences('call-legacy', 'call-envelope');
SELECT count(*) AS compared_tables FROM vox_test.masked_rows('call-legacy') WHERE row_data IS NOT NULL;

-- A flat end-of-call-report may also carry Vapi's artifact and analysis
-- objects: the message object without its envelope.
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-flat-report', 'asst-demo'), 1763741012000)
                        -> 'message') ->> 'status';
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-enveloped-report', 'asst-demo'), 1763741012000))
    ->> 'status';
SELECT * FROM vox_test.differences('call-flat-report', 'call-enveloped-report');
SELECT vapi_call_id, summary, outcome, recording_url FROM vox.call_logs
 WHERE vapi_call_id IN ('call-flat-report', 'call-enveloped-report') ORDER BY vapi_call_id;

---------------------------------------------------------------------------
-- A legacy name and its envelope counterpart are one event
---------------------------------------------------------------------------
-- call.started then status-update in-progress: the second is a duplicate.
SELECT vox.handle_event('{"type": "call.started",
    "call": {"id": "call-mixed-1", "type": "inboundPhoneCall", "assistantId": "asst-demo",
             "customer": {"number": "+14155550123"}}}');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-mixed-1', 'asst-demo'), 'in-progress', 1763740801000));
-- And the other way round, for ended.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-mixed-2', 'asst-demo'), 'ended', 1763741011600)) ->> 'status';
SELECT vox.handle_event('{"type": "call.ended",
    "call": {"id": "call-mixed-2", "type": "inboundPhoneCall", "assistantId": "asst-demo",
             "customer": {"number": "+14155550123"}}}') ->> 'status';
-- call.transcribed and transcript with the same words and timestamp.
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-mixed-1', 'asst-demo'), 'user', 'Hello?', 1763740803000))
    ->> 'status';
SELECT vox.handle_event('{"type": "call.transcribed", "speaker": "user", "transcript": "Hello?", "timestamp": 1763740803000,
    "call": {"id": "call-mixed-1", "type": "inboundPhoneCall", "assistantId": "asst-demo"}}') ->> 'status';
SELECT vapi_call_id, count(*) AS rows FROM vox.call_transcripts WHERE vapi_call_id = 'call-mixed-1' GROUP BY 1;
SELECT topic, vapi_call_id, payload FROM vox.outbox WHERE vapi_call_id LIKE 'call-mixed-%' ORDER BY id;
SELECT vapi_call_id, status FROM vox.call_logs WHERE vapi_call_id LIKE 'call-mixed-%' ORDER BY 1;
