-- conformance: vox reads Vapi's server messages as a careful receiver
-- (DESIGN §2 invariant 6, README "Refused or noted", docs/conformance.md).
-- Strict about what it acts on; an optional field that is missing, of an
-- unexpected type or out of range never costs the event: the event is
-- applied without it, and call_logs.metadata.vox_notes keeps the field, what
-- was wrong and its raw value. Payloads follow Vapi's schema
-- (ServerMessage*, Call, Artifact, Recording, Analysis, CreateCustomerDTO).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

-- What a call's log row holds of what this file checks.
CREATE TEMP VIEW logged AS
SELECT vapi_call_id, status, channel, started_at, ended_at, duration_seconds, outcome, cost, recording_url,
       metadata
  FROM vox.call_logs;
-- One row per note: the field, the problem and the raw value.
CREATE TEMP VIEW notes AS
SELECT l.vapi_call_id, n.key AS field, n.value ->> 'problem' AS problem, n.value -> 'value' AS raw
  FROM vox.call_logs l, jsonb_each(l.metadata -> 'vox_notes') n;

---------------------------------------------------------------------------
-- analysis.successEvaluation: Vapi's rubrics give numbers and booleans too
---------------------------------------------------------------------------
SELECT n, vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-eval-' || n, 'asst-demo'), 1763741012000,
                          jsonb_build_object('analysis', jsonb_build_object('summary', 'Booked.',
                                                                            'successEvaluation', evaluation))))
          ->> 'status' AS status
  FROM (VALUES (1, '"true"'::jsonb), (2, 'true'), (3, '8'), (4, '0.75'), (5, 'false'), (6, '{"score": 8}')) v(n, evaluation)
 ORDER BY n;
SELECT vapi_call_id, outcome, metadata FROM logged WHERE vapi_call_id LIKE 'call-eval-%' ORDER BY vapi_call_id;

---------------------------------------------------------------------------
-- An end 1 ms before the start: both kept, ended_at clamped to started_at
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-skew', 'asst-demo'), 1763741012000,
                        '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:00:00.999Z"}'))
       ->> 'status' AS report_ending_before_start;
SELECT started_at, ended_at, duration_seconds FROM logged WHERE vapi_call_id = 'call-skew';
SELECT started_at, ended_at, duration_seconds FROM vox.calls WHERE vapi_call_id = 'call-skew';
SELECT field, problem, raw FROM notes WHERE vapi_call_id = 'call-skew';
-- The same in the call object of a status-update.
SELECT vox.handle_event(vox_test.status_update(
           vox_test.call('call-skew-2', 'asst-demo', '{"startedAt": "2025-11-21T16:00:01.000Z",
                                                      "endedAt": "2025-11-21T16:00:00.999Z"}'),
           'ended', 1763741012000)) ->> 'status' AS status_ending_before_start;
SELECT started_at, ended_at, duration_seconds FROM logged WHERE vapi_call_id = 'call-skew-2';
SELECT field, problem, raw FROM notes WHERE vapi_call_id = 'call-skew-2';

---------------------------------------------------------------------------
-- A final transcript with neither timestamp nor delivery id
---------------------------------------------------------------------------
-- Keyed by its place in the call (how many messages its live
-- artifact.messages holds): a retry is a duplicate, the same words later in
-- the call are another utterance.
CREATE TEMP TABLE utterance AS
SELECT jsonb_build_object('message', jsonb_build_object(
           'type', 'transcript', 'role', 'user', 'transcriptType', 'final', 'transcript', 'Yes.',
           'call', vox_test.call('call-untimed', 'asst-demo'),
           'artifact', jsonb_build_object('messages', messages))) AS payload, n
  FROM (VALUES (1, '[{"role": "bot", "message": "Tuesday at ten?", "secondsFromStart": 4.1}]'::jsonb),
               (2, '[{"role": "bot", "message": "Tuesday at ten?", "secondsFromStart": 4.1},
                     {"role": "user", "message": "Yes.", "secondsFromStart": 5.2},
                     {"role": "bot", "message": "And your name?", "secondsFromStart": 6.0}]')) v(n, messages);
SELECT n, vox.handle_event(payload) ->> 'status' AS first, vox.handle_event(payload) ->> 'status' AS retry
  FROM utterance ORDER BY n;
-- Without an artifact either: the words alone, so the same words are stored once.
SELECT vox.handle_event(payload #- '{message,artifact}') ->> 'status' AS no_artifact,
       vox.handle_event(payload #- '{message,artifact}') ->> 'status' AS no_artifact_retry
  FROM utterance WHERE n = 1;
SELECT role, text, spoken_at FROM vox.call_transcripts WHERE vapi_call_id = 'call-untimed' ORDER BY id;

---------------------------------------------------------------------------
-- A status vox does not store needs no call
---------------------------------------------------------------------------
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "not-found", "timestamp": 1763741012000}}')
       AS not_found_without_call;
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "deletion-failed",
                                      "timestamp": 1763741012000}}') ->> 'reason' AS deletion_failed_without_call;
-- A status vox stores still needs its call.
SELECT vox_test.attempt('{"message": {"type": "status-update", "status": "ended", "timestamp": 1763741012000}}')
       AS ended_without_call;

---------------------------------------------------------------------------
-- A call.type vox does not know: channel unknown, the type kept
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-sip', 'asst-demo',
           '{"type": "vapi.sipCall", "customer": {"sipUri": "sip:+14155550123@sip.example.com", "name": "Ana"}}'),
           'in-progress', 1763740801000)) ->> 'status' AS unknown_call_type;
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-sip', 'asst-demo',
           '{"type": "vapi.sipCall", "customer": {"sipUri": "sip:+14155550123@sip.example.com", "name": "Ana"}}'),
           1763741012000)) ->> 'status' AS its_report;
SELECT channel, status, metadata FROM logged WHERE vapi_call_id = 'call-sip';
SELECT channel FROM vox.call_tracking WHERE vapi_call_id = 'call-sip';

---------------------------------------------------------------------------
-- Message types as Vapi spells them
---------------------------------------------------------------------------
SELECT type, vox.handle_event(jsonb_build_object('message', jsonb_build_object(
           'type', type, 'timestamp', 1763740801000, 'call', vox_test.call('call-types', 'asst-demo')))) AS result
  FROM (VALUES ('assistant.speechStarted'), ('call.endpointing.request'), ('call.artifact.upload'),
               ('campaign.predial'), ('assistant-speech')) v(type)
 ORDER BY type;
-- The final-only transcript type, as Vapi's schema and its web SDK spell it.
SELECT type, vox.handle_event(jsonb_build_object('message', jsonb_build_object(
           'type', type, 'role', 'assistant', 'transcript', 'See you Tuesday.', 'timestamp', ts,
           'call', vox_test.call('call-types', 'asst-demo')))) ->> 'status' AS status
  FROM (VALUES ('transcript[transcriptType="final"]', 1763740802000),
               ('transcript[transcriptType=''final'']', 1763740803000)) v(type, ts)
 ORDER BY type;
SELECT count(*) AS utterances FROM vox.call_transcripts WHERE vapi_call_id = 'call-types';

---------------------------------------------------------------------------
-- Cost, recording and caller from where Vapi also puts them
---------------------------------------------------------------------------
-- No top-level cost: the call's cost. A recording given only as
-- artifact.recording.stereoUrl is queued.
SELECT vox.handle_event(jsonb_set(
           vox_test.end_of_call_report(vox_test.call('call-alt', 'asst-demo', '{"cost": 0.4321}'), 1763741012000)
             #- '{message,cost}',
           '{message,artifact,recording}', '{"stereoUrl": "https://storage.vapi.ai/call-alt-stereo.wav"}'))
       ->> 'status' AS report_with_call_cost_and_stereo_url;
SELECT cost, recording_url FROM logged WHERE vapi_call_id = 'call-alt';
SELECT cost FROM vox.calls WHERE vapi_call_id = 'call-alt';
SELECT recording_url FROM vox.recording_upload_queue WHERE vapi_call_id = 'call-alt';

---------------------------------------------------------------------------
-- Optional fields of the wrong type, out of range or unreadable: noted
---------------------------------------------------------------------------
-- (each case on a call of its own; every one is processed and noted)
CREATE TEMP TABLE base AS
SELECT vox_test.status_update(vox_test.call('call-odd', 'asst-demo'), 'in-progress', 1763740801000) AS status,
       vox_test.end_of_call_report(vox_test.call('call-odd', 'asst-demo'), 1763741012000) AS report;
SELECT n, label, vox.handle_event(jsonb_set(payload, '{message,call,id}', to_jsonb('call-odd-' || n))) ->> 'status'
       AS status
  FROM base, LATERAL (VALUES
    (1, 'call.customer a string',          jsonb_set(status, '{message,call,customer}', '"+14155550123"')),
    (2, 'call.customer.number a number',   jsonb_set(status, '{message,call,customer,number}', '14155550123')),
    (3, 'call.customer.number 1001 bytes', jsonb_set(status, '{message,call,customer,number}', to_jsonb(repeat('1', 1001)))),
    (4, 'call.endedReason 1001 bytes',     jsonb_set(status, '{message,call,endedReason}', to_jsonb(repeat('x', 1001)))),
    (5, 'status endedReason a list',       jsonb_set(status, '{message,endedReason}', '["customer-ended-call"]')),
    (6, 'call.startedAt a word',           jsonb_set(status, '{message,call,startedAt}', '"yesterday"')),
    (7, 'call.startedAt now',              jsonb_set(status, '{message,call,startedAt}', '"now"')),
    (8, 'call.startedAt infinity',         jsonb_set(status, '{message,call,startedAt}', '"infinity"')),
    (9, 'call.startedAt -infinity',        jsonb_set(status, '{message,call,startedAt}', '"-infinity"')),
    (10, 'call.startedAt month 13',        jsonb_set(status, '{message,call,startedAt}', '"2025-13-01T00:00:00Z"')),
    (11, 'call.startedAt a number',        jsonb_set(status, '{message,call,startedAt}', '1763740801000')),
    (12, 'call.startedAt date + epoch',    jsonb_set(status, '{message,call,startedAt}', '"2025-11-21 epoch"')),
    (13, 'call.endedAt date + infinity',   jsonb_set(status, '{message,call,endedAt}', '"2025-11-21T16:03:31Z infinity"')),
    -- Read by DateStyle: November 12 under MDY, December 11 under DMY.
    (14, 'call.startedAt US format',       jsonb_set(status, '{message,call,startedAt}', '"11/12/2025 16:00:00"')),
    (15, 'call.startedAt without zone',    jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T16:00:01"')),
    (16, 'call.startedAt February 30',     jsonb_set(status, '{message,call,startedAt}', '"2025-02-30T16:00:01Z"')),
    (17, 'call.startedAt hour 24',         jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T24:00:00Z"')),
    (18, 'report startedAt a word',        jsonb_set(report, '{message,startedAt}', '"soon"')),
    (19, 'report endedAt 65 bytes',        jsonb_set(report, '{message,endedAt}', to_jsonb('2025-11-21T16:03:31.5Z' || repeat(' ', 43)))),
    (20, 'cost negative',                  jsonb_set(report, '{message,cost}', '-0.01')),
    (21, 'cost 1e9',                       jsonb_set(report, '{message,cost}', '1e9')),
    (22, 'cost beyond double',             jsonb_set(report, '{message,cost}', '1e400')),
    (23, 'cost a string',                  jsonb_set(report, '{message,cost}', '"0.12"')),
    (24, 'artifact a string',              jsonb_set(report, '{message,artifact}', '"https://storage.vapi.ai/x.wav"')),
    (25, 'artifact.recording a string',    jsonb_set(report, '{message,artifact,recording}', '"https://storage.vapi.ai/x.wav"')),
    (26, 'artifact.recording.mono a list', jsonb_set(report, '{message,artifact,recording,mono}', '[]')),
    (27, 'mono.combinedUrl over 4 KiB',
         jsonb_set(report, '{message,artifact,recording,mono,combinedUrl}', to_jsonb('https://x/' || repeat('a', 4096)))),
    (28, 'artifact.transcript a number',   jsonb_set(report, '{message,artifact,transcript}', '1')),
    (29, 'analysis a string',              jsonb_set(report, '{message,analysis}', '"booked"')),
    (30, 'analysis.summary an object',     jsonb_set(report, '{message,analysis,summary}', '{"text": "booked"}'))
  ) AS cases(n, label, payload)
 ORDER BY n;
-- What each noted (raw values cut to 256 bytes), and that no bad value was
-- stored in a column.
SELECT vapi_call_id, field, problem, left(raw::text, 60) AS raw, length(raw::text) AS raw_length
  FROM notes WHERE vapi_call_id LIKE 'call-odd-%'
 ORDER BY substr(vapi_call_id, 10)::int, field;
SELECT vapi_call_id, status, customer_number, started_at, ended_at, cost, outcome, left(summary, 10) AS summary,
       left(transcript, 10) AS transcript, recording_url
  FROM vox.call_logs WHERE vapi_call_id LIKE 'call-odd-%'
 ORDER BY substr(vapi_call_id, 10)::int;

-- Notes accumulate across a call's events, whatever their order.
SELECT vox.handle_event(jsonb_set(status, '{message,call,startedAt}', '"now"')) ->> 'status' AS noted_status,
       vox.handle_event(jsonb_set(report, '{message,analysis,successEvaluation}', '[8]')) ->> 'status' AS noted_report
  FROM base;
SELECT field, problem, raw FROM notes WHERE vapi_call_id = 'call-odd' ORDER BY field;

-- A note never carries more than 256 bytes of a value, and cuts it between
-- characters (here the cut falls inside a two-byte 'é').
SELECT vox.handle_event(jsonb_set(jsonb_set(report, '{message,call,id}', '"call-long-note"'),
                                  '{message,analysis,successEvaluation}', to_jsonb('x' || repeat('é', 1000))))
       ->> 'status' AS long_value
  FROM base;
SELECT field, octet_length(raw #>> '{}') AS bytes, left(raw #>> '{}', 3) AS start, right(raw #>> '{}', 3) AS ending
  FROM notes WHERE vapi_call_id = 'call-long-note';

---------------------------------------------------------------------------
-- Answers Vapi waits for
---------------------------------------------------------------------------
-- assistant-request: `response` is the HTTP body the shim sends, in Vapi's
-- ServerMessageResponseAssistantRequest shape and nothing else.
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000b', 'Quiet Clinic', 'asst-quiet', 'pn-quiet', '+14155550180');
UPDATE vox.agents SET active = false WHERE vapi_assistant_id = 'asst-quiet';
CREATE TEMP TABLE requests AS
SELECT n, label, jsonb_build_object('message', jsonb_build_object(
           'type', 'assistant-request', 'timestamp', 1763740800000,
           'call', jsonb_build_object('id', 'call-ar-' || n, 'orgId', '6f1c2a34-5b7d-4e8f-9a0b-1c2d3e4f5a6b',
                                      'type', 'inboundPhoneCall', 'phoneNumberId', number_id,
                                      'customer', jsonb_build_object('number', '+14155550123')),
           'phoneNumber', jsonb_build_object('id', number_id, 'number', number))) AS payload
  FROM (VALUES (1, 'active agent', 'pn-demo', '+14155550100'),
               (2, 'no active agent', 'pn-quiet', '+14155550180'),
               (3, 'unknown number', 'pn-nobody', '+14155550999')) v(n, label, number_id, number);
SELECT n, label, r ->> 'status' AS status, r ->> 'reason' AS reason, r -> 'response' AS response
  FROM requests, vox.handle_event(payload) r ORDER BY n;
-- Only keys Vapi's schema defines for that response.
SELECT DISTINCT k AS response_key
  FROM requests, jsonb_object_keys(vox.handle_event(payload) -> 'response') k
 WHERE k NOT IN ('destination', 'assistantId', 'assistant', 'assistantOverrides', 'squadId', 'squad',
                 'squadOverrides', 'workflowId', 'workflow', 'workflowOverrides', 'error');
-- The org's message, else its fallback assistant.
UPDATE vox.organizations SET fallback_message = 'Quiet Clinic is closed today. Please call again tomorrow.'
 WHERE name = 'Quiet Clinic';
SELECT vox.handle_event(payload) -> 'response' AS org_message FROM requests WHERE n = 2;
UPDATE vox.organizations SET fallback_assistant_id = 'asst-quiet-voicemail' WHERE name = 'Quiet Clinic';
SELECT vox.handle_event(payload) -> 'response' AS org_assistant FROM requests WHERE n = 2;
-- On an org's signed route, a number vox does not know gets that org's answer.
SELECT vox.handle_event('00000000-0000-4000-8000-00000000000b'::uuid, payload) - 'event_type' AS signed_unknown
  FROM requests WHERE n = 3;
-- ... and a number vox does not know on the unsigned route, the default message.
SELECT vox.handle_event(payload) -> 'response' AS unsigned_unknown FROM requests WHERE n = 3;

-- tool-calls: one error result per toolCallId, so that the model is told.
SELECT vox.handle_event(jsonb_build_object('message', jsonb_build_object(
           'type', 'tool-calls', 'timestamp', 1763740805000, 'call', vox_test.call('call-tools', 'asst-demo'),
           'toolCallList', '[{"id": "call_9f2c", "type": "function",
                              "function": {"name": "bookAppointment", "arguments": {"day": "Tuesday"}}},
                             {"id": "call_a71e", "type": "function",
                              "function": {"name": "lookupPatient", "arguments": "{\"phone\": \"+14155550123\"}"}}]'::jsonb)))
       -> 'response' AS tool_calls;
SELECT vox.handle_event(jsonb_build_object('message', jsonb_build_object(
           'type', type, 'timestamp', 1763740806000, 'call', vox_test.call('call-tools', 'asst-demo')))) -> 'response'
       AS response, type
  FROM (VALUES ('transfer-destination-request'), ('knowledge-base-request'), ('speech-update')) v(type)
 ORDER BY type;
