-- events: what each Vapi server message type does to the rows (DESIGN §2).
-- Each message type appears once as a literal payload in Vapi's real shape;
-- later steps use the fixture builders, which make the same shape.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

-- The three rows of each call side by side.
CREATE TEMP VIEW state AS
SELECT l.vapi_call_id, t.status AS tracking, l.status AS logs, c.status AS calls, l.channel,
       l.customer_number, l.started_at, l.ended_at, l.duration_seconds, l.ended_reason
  FROM vox.call_logs l
  JOIN vox.call_tracking t USING (org_id, vapi_call_id)
  JOIN vox.calls c USING (org_id, vapi_call_id)
 ORDER BY l.vapi_call_id;
-- How many rows each vox table holds.

---------------------------------------------------------------------------
-- status-update
---------------------------------------------------------------------------
-- First sight of a call (queued) creates its tracking, log and calls rows,
-- owned by the agent whose assistant the call names.
SELECT vox.handle_event('{"message": {
    "type": "status-update",
    "status": "queued",
    "timestamp": 1763740800000,
    "call": {
        "id": "call-ev-1",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T16:00:00.000Z",
        "updatedAt": "2025-11-21T16:00:00.000Z",
        "type": "inboundPhoneCall",
        "status": "queued",
        "assistantId": "asst-demo",
        "phoneNumberId": "pn-demo",
        "phoneCallProvider": "twilio",
        "phoneCallTransport": "pstn",
        "phoneCallProviderId": "CA5f0e1d2c3b4a596877665544332211",
        "customer": {"number": "+14155550123"}
    },
    "phoneNumber": {"provider": "twilio", "number": "+14155550100"},
    "customer": {"number": "+14155550123"}
}}');
SELECT * FROM state;
SELECT t.vapi_call_id, t.agent_id = md5('asst-demo')::uuid AS tracking_agent_is_demo,
       l.agent_id = md5('asst-demo')::uuid AS log_agent_is_demo, t.channel, t.registered_at, t.metadata
  FROM vox.call_tracking t JOIN vox.call_logs l USING (org_id, vapi_call_id);

-- Each later status advances all three rows.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-1', 'asst-demo'), 'ringing', 1763740800500)) ->> 'status';
SELECT * FROM state;
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-ev-1', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
    'in-progress', 1763740801000)) ->> 'status';
SELECT * FROM state;
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-ev-1', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
    'forwarding', 1763740900000)) ->> 'status';
SELECT * FROM state;

-- ended: records ended_at, ended_reason, and the duration endedAt - startedAt
-- (210.5 s; Vapi sends no duration of its own).
SELECT vox.handle_event('{"message": {
    "type": "status-update",
    "status": "ended",
    "endedReason": "customer-ended-call",
    "timestamp": 1763741011600,
    "call": {
        "id": "call-ev-1",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T16:00:00.000Z",
        "updatedAt": "2025-11-21T16:03:31.600Z",
        "type": "inboundPhoneCall",
        "status": "ended",
        "endedReason": "customer-ended-call",
        "startedAt": "2025-11-21T16:00:01.000Z",
        "endedAt": "2025-11-21T16:03:31.500Z",
        "assistantId": "asst-demo",
        "phoneNumberId": "pn-demo",
        "phoneCallProvider": "twilio",
        "phoneCallTransport": "pstn",
        "customer": {"number": "+14155550123"}
    },
    "phoneNumber": {"provider": "twilio", "number": "+14155550100"},
    "customer": {"number": "+14155550123"}
}}');
SELECT * FROM state;
SELECT vapi_call_id, status, started_at, ended_at, duration_seconds FROM vox.calls ORDER BY vapi_call_id;

-- An ended status-update whose call carries no endedAt ends at the message's
-- timestamp.
SELECT vox.handle_event(vox_test.status_update(
    vox_test.call('call-ev-2', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z"}'),
    'ended', 1763740861000, '{"endedReason": "assistant-ended-call"}')) ->> 'status';
SELECT * FROM state WHERE vapi_call_id = 'call-ev-2';

-- not-found and deletion-failed are statuses Vapi sends that describe no call
-- to store: acknowledged, nothing written.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-x', 'asst-demo'), 'not-found', 1763740801000));
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-x', 'asst-demo'), 'deletion-failed', 1763740801000));
SELECT count(*) AS rows_for_call_ev_x FROM vox.call_logs WHERE vapi_call_id = 'call-ev-x';

-- A late ringing after in-progress is a no-op: the row is not rewritten (same
-- xmin) and no outbox entry is made.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-3', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status';
SELECT xmin AS logs_xmin FROM vox.call_logs WHERE vapi_call_id = 'call-ev-3' \gset
SELECT xmin AS tracking_xmin FROM vox.call_tracking WHERE vapi_call_id = 'call-ev-3' \gset
SELECT xmin AS calls_xmin FROM vox.calls WHERE vapi_call_id = 'call-ev-3' \gset
SELECT count(*) AS outbox_before FROM vox.outbox WHERE vapi_call_id = 'call-ev-3';
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-3', 'asst-demo'), 'ringing', 1763740800500)) ->> 'status';
SELECT * FROM state WHERE vapi_call_id = 'call-ev-3';
SELECT (SELECT xmin::text FROM vox.call_logs WHERE vapi_call_id = 'call-ev-3') = :'logs_xmin' AS logs_untouched,
       (SELECT xmin::text FROM vox.call_tracking WHERE vapi_call_id = 'call-ev-3') = :'tracking_xmin' AS tracking_untouched,
       (SELECT xmin::text FROM vox.calls WHERE vapi_call_id = 'call-ev-3') = :'calls_xmin' AS calls_untouched,
       (SELECT count(*) FROM vox.outbox WHERE vapi_call_id = 'call-ev-3') AS outbox_after;
-- A redelivered status is a duplicate: no outbox entry either.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-ev-3', 'asst-demo'), 'in-progress', 1763740801000)) ->> 'status';
SELECT count(*) AS outbox_after_duplicate FROM vox.outbox WHERE vapi_call_id = 'call-ev-3';

---------------------------------------------------------------------------
-- transcript
---------------------------------------------------------------------------
-- A final utterance is stored with its role, words and own timestamp.
SELECT vox.handle_event('{"message": {
    "type": "transcript",
    "role": "user",
    "transcriptType": "final",
    "transcript": "Hi, I would like to book a cleaning.",
    "timestamp": 1763740805000,
    "call": {
        "id": "call-ev-1",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T16:00:00.000Z",
        "updatedAt": "2025-11-21T16:00:05.000Z",
        "type": "inboundPhoneCall",
        "status": "in-progress",
        "assistantId": "asst-demo",
        "phoneNumberId": "pn-demo",
        "customer": {"number": "+14155550123"}
    },
    "customer": {"number": "+14155550123"}
}}');
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-ev-1', 'asst-demo'), 'assistant',
                                            'Sure, which day works for you?', 1763740807000)) ->> 'status';
-- Vapi's alternative type name for final transcripts.
SELECT vox.handle_event(jsonb_set(
    vox_test.transcript(vox_test.call('call-ev-1', 'asst-demo'), 'user', 'Tuesday, please.', 1763740809000),
    '{message,type}', '"transcript[transcriptType=\"final\"]"')) ->> 'status';
-- A partial is acknowledged and not stored.
SELECT vox.handle_event('{"message": {
    "type": "transcript",
    "role": "user",
    "transcriptType": "partial",
    "transcript": "Tuesday, ple",
    "timestamp": 1763740808800,
    "call": {
        "id": "call-ev-1",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T16:00:00.000Z",
        "updatedAt": "2025-11-21T16:00:08.800Z",
        "type": "inboundPhoneCall",
        "status": "in-progress",
        "assistantId": "asst-demo",
        "customer": {"number": "+14155550123"}
    }
}}');
SELECT vapi_call_id, role, text, spoken_at FROM vox.call_transcripts ORDER BY spoken_at;
-- Utterances do not touch the call rows.
SELECT * FROM state WHERE vapi_call_id = 'call-ev-1';

---------------------------------------------------------------------------
-- end-of-call-report
---------------------------------------------------------------------------
-- The final record: summary, transcript, cost, outcome, timings and the mono
-- recording (artifact.recording.mono.combinedUrl wins over the deprecated
-- artifact.recordingUrl); the recording is queued for upload.
SELECT vox.handle_event('{"message": {
    "type": "end-of-call-report",
    "timestamp": 1763741012000,
    "endedReason": "customer-ended-call",
    "cost": 0.1234,
    "costs": [{"type": "model", "cost": 0.0534}, {"type": "transport", "cost": 0.07}],
    "startedAt": "2025-11-21T16:00:01.000Z",
    "endedAt": "2025-11-21T16:03:31.500Z",
    "artifact": {
        "messages": [
            {"role": "bot", "message": "Thanks for calling Demo Clinic.", "time": 1763740802000, "secondsFromStart": 1.0},
            {"role": "user", "message": "Hi, I would like to book a cleaning.", "time": 1763740805000, "secondsFromStart": 4.0}
        ],
        "transcript": "AI: Thanks for calling Demo Clinic.\nUser: Hi, I would like to book a cleaning.",
        "recordingUrl": "https://storage.vapi.ai/call-ev-1-legacy.wav",
        "stereoRecordingUrl": "https://storage.vapi.ai/call-ev-1-stereo.wav",
        "recording": {
            "stereoUrl": "https://storage.vapi.ai/call-ev-1-stereo.wav",
            "mono": {
                "combinedUrl": "https://storage.vapi.ai/call-ev-1-mono.wav",
                "assistantUrl": "https://storage.vapi.ai/call-ev-1-assistant.wav",
                "customerUrl": "https://storage.vapi.ai/call-ev-1-customer.wav"
            }
        }
    },
    "analysis": {
        "summary": "Caller booked a cleaning for Tuesday.",
        "structuredData": {"appointment_day": "Tuesday"},
        "successEvaluation": "true"
    },
    "call": {
        "id": "call-ev-1",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T16:00:00.000Z",
        "updatedAt": "2025-11-21T16:03:32.000Z",
        "type": "inboundPhoneCall",
        "status": "ended",
        "assistantId": "asst-demo",
        "phoneNumberId": "pn-demo",
        "customer": {"number": "+14155550123"}
    },
    "customer": {"number": "+14155550123"}
}}');
SELECT * FROM state WHERE vapi_call_id = 'call-ev-1';
SELECT vapi_call_id, summary, transcript, cost, outcome, recording_url, report_received
  FROM vox.call_logs WHERE vapi_call_id = 'call-ev-1';
SELECT vapi_call_id, cost FROM vox.calls WHERE vapi_call_id = 'call-ev-1';
SELECT vapi_call_id, recording_url, status, attempts FROM vox.recording_upload_queue ORDER BY vapi_call_id;

-- Without artifact.recording, the deprecated artifact.recordingUrl is the
-- recording.
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-ev-2', 'asst-demo'), 1763740862000,
    '{"artifact": {"transcript": "AI: Goodbye.", "recordingUrl": "https://storage.vapi.ai/call-ev-2.wav"}}')) ->> 'status';
-- Without any recording nothing is queued.
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-ev-3', 'asst-demo'), 1763740862000,
    '{"artifact": {"transcript": "AI: Goodbye."}}')) ->> 'status';
SELECT vapi_call_id, transcript, recording_url FROM vox.call_logs
 WHERE vapi_call_id IN ('call-ev-2', 'call-ev-3') ORDER BY vapi_call_id;
-- The report's timings and reason are final: call-ev-2 had ended at the
-- status-update's timestamp (16:01:01) with reason assistant-ended-call;
-- call-ev-3 had no start time at all.
SELECT * FROM state WHERE vapi_call_id IN ('call-ev-2', 'call-ev-3');
-- The recording is queued once, even when the report is delivered again.
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-ev-2', 'asst-demo'), 1763740862000,
    '{"artifact": {"transcript": "AI: Goodbye.", "recordingUrl": "https://storage.vapi.ai/call-ev-2.wav"}}')) ->> 'status';
SELECT vapi_call_id, recording_url, status FROM vox.recording_upload_queue ORDER BY vapi_call_id;

---------------------------------------------------------------------------
-- assistant-request: inbound routing, answered, nothing stored
---------------------------------------------------------------------------
SELECT * FROM vox_test.counts;
-- By call.phoneNumberId.
SELECT vox.handle_event('{"message": {
    "type": "assistant-request",
    "timestamp": 1763740799000,
    "call": {
        "id": "call-ev-4",
        "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "createdAt": "2025-11-21T15:59:59.000Z",
        "updatedAt": "2025-11-21T15:59:59.000Z",
        "type": "inboundPhoneCall",
        "status": "ringing",
        "phoneNumberId": "pn-demo",
        "phoneCallProvider": "twilio",
        "phoneCallTransport": "pstn",
        "customer": {"number": "+14155550123"}
    },
    "phoneNumber": {"provider": "twilio", "number": "+14155550100"},
    "customer": {"number": "+14155550123"}
}}');
-- By the dialled number when no phone number id is given.
SELECT vox.handle_event('{"message": {"type": "assistant-request", "timestamp": 1763740799000,
    "phoneNumber": {"provider": "twilio", "number": "+14155550100"},
    "customer": {"number": "+14155550123"}}}');
-- A number nobody owns gets no assistant.
SELECT vox.handle_event('{"message": {"type": "assistant-request", "timestamp": 1763740799000,
    "phoneNumber": {"provider": "twilio", "number": "+14155550199"},
    "customer": {"number": "+14155550123"}}}');
-- The dialled number is compared in E.164, however it is written.
SELECT vox.handle_event('{"message": {"type": "assistant-request", "timestamp": 1763740799000,
    "phoneNumber": {"provider": "twilio", "number": "+1 (415) 555-0100"}}}') ->> 'assistantId' AS by_spaced_number;
-- A number two orgs both hold answers for neither: routing a caller to
-- another org's assistant would be worse than no answer.
INSERT INTO vox.organizations (id, name) VALUES ('00000000-0000-4000-8000-00000000000e', 'Other clinic');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES ('00000000-0000-4000-8000-00000000000e', md5('asst-other')::uuid, 'asst-other', 'Other', 'inbound');
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES ('00000000-0000-4000-8000-00000000000e', 'pn-other', '+14155550100', md5('asst-other')::uuid);
SELECT vox.handle_event('{"message": {"type": "assistant-request", "timestamp": 1763740799000,
    "phoneNumber": {"provider": "twilio", "number": "+14155550100"}}}');
-- Its Vapi id still routes exactly.
SELECT vox.handle_event('{"message": {"type": "assistant-request", "timestamp": 1763740799000,
    "phoneNumber": {"id": "pn-other", "provider": "twilio", "number": "+14155550100"}}}') ->> 'assistantId' AS by_id;
DELETE FROM vox.phone_numbers WHERE org_id = '00000000-0000-4000-8000-00000000000e';
DELETE FROM vox.agents WHERE org_id = '00000000-0000-4000-8000-00000000000e';
DELETE FROM vox.organizations WHERE id = '00000000-0000-4000-8000-00000000000e';
SELECT * FROM vox_test.counts;

---------------------------------------------------------------------------
-- other known types: acknowledged, nothing stored
---------------------------------------------------------------------------
SELECT vox.handle_event('{"message": {"type": "speech-update", "status": "started", "role": "assistant", "turn": 2,
    "timestamp": 1763740806000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:06.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "customer": {"number": "+14155550123"}}}}');
SELECT vox.handle_event('{"message": {"type": "conversation-update",
    "messages": [{"role": "bot", "message": "Thanks for calling Demo Clinic.", "time": 1763740802000, "secondsFromStart": 1.0}],
    "messagesOpenAIFormatted": [{"role": "assistant", "content": "Thanks for calling Demo Clinic."}],
    "timestamp": 1763740806000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:06.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "customer": {"number": "+14155550123"}}}}');
SELECT vox.handle_event('{"message": {"type": "hang", "timestamp": 1763740806000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:06.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "customer": {"number": "+14155550123"}}}}');
SELECT vox.handle_event('{"message": {"type": "tool-calls",
    "toolWithToolCallList": [{"type": "function", "function": {"name": "book_appointment"},
        "toolCall": {"id": "toolu_01", "type": "function",
                     "function": {"name": "book_appointment", "arguments": {"day": "Tuesday"}}}}],
    "toolCallList": [{"id": "toolu_01", "type": "function",
                      "function": {"name": "book_appointment", "arguments": {"day": "Tuesday"}}}],
    "timestamp": 1763740810000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:10.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "customer": {"number": "+14155550123"}}}}');
SELECT vox.handle_event('{"message": {"type": "user-interrupted", "turnId": "turn-3", "timestamp": 1763740811000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:11.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo", "customer": {"number": "+14155550123"}}}}');
-- A type Vapi may add in the future is acknowledged too (refusing it would
-- only make Vapi retry), with a reason.
SELECT vox.handle_event('{"message": {"type": "voicemail-detected", "timestamp": 1763740812000,
    "call": {"id": "call-ev-1", "orgId": "6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "createdAt": "2025-11-21T16:00:00.000Z",
             "updatedAt": "2025-11-21T16:00:12.000Z", "type": "inboundPhoneCall", "status": "in-progress",
             "assistantId": "asst-demo"}}}');
SELECT * FROM vox_test.counts;

---------------------------------------------------------------------------
-- outbox: one entry per applied change, in order
---------------------------------------------------------------------------
SELECT topic, vapi_call_id, payload - 'transcript_id' AS payload, payload ? 'transcript_id' AS has_transcript_id,
       delivered_at
  FROM vox.outbox ORDER BY id;
-- Transcript entries point at their utterance.
SELECT count(*) AS transcript_entries_matching_rows
  FROM vox.outbox o JOIN vox.call_transcripts x
    ON x.org_id = o.org_id AND x.id = (o.payload ->> 'transcript_id')::bigint AND x.role = o.payload ->> 'role'
 WHERE o.topic = 'transcript';
-- Every applied event left its idempotency mark.
SELECT event_type, event_id, vapi_call_id, delivery_id FROM vox.processed_webhook_events ORDER BY event_id;
