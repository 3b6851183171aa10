-- The tenants and the stream of events check.sh sends through both handlers.
-- Run after test/fixtures/vapi.sql (a fresh vox and the vox_test builders).
-- Deterministic: both databases get byte-identical payloads in the same order.
CREATE SCHEMA vox_check;

-- Org A: asst-a answering pn-a and pn-a2, a second agent asst-a2, and a lead
-- with the default caller's number. Org B: asst-b on pn-b, and an inactive
-- agent asst-off. asst-new and pn-new are unknown until check.sh's last step.
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000b', 'Other Clinic', 'asst-b', 'pn-b', '+14155550200');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES ('00000000-0000-4000-8000-00000000000a', md5('asst-a2')::uuid, 'asst-a2', 'Demo sales', 'sales');
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role, active)
VALUES ('00000000-0000-4000-8000-00000000000b', md5('asst-off')::uuid, 'asst-off', 'Old line', 'retired', false);
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES ('00000000-0000-4000-8000-00000000000a', 'pn-a2', '+14155550101', md5('asst-a')::uuid);
-- A number both orgs hold: an assistant-request naming only it is ambiguous.
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES ('00000000-0000-4000-8000-00000000000a', 'pn-a3', '+14155550300', md5('asst-a')::uuid),
       ('00000000-0000-4000-8000-00000000000b', 'pn-b3', '+14155550300', md5('asst-b')::uuid);
INSERT INTO vox.leads (org_id, id, phone, name)
VALUES ('00000000-0000-4000-8000-00000000000a', md5('lead-dana')::uuid, '+14155550123', 'Dana');

CREATE TABLE vox_check.events (seq integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text, payload jsonb);
CREATE TABLE vox_check.results (seq integer PRIMARY KEY, result text);

-- The handler's result as text, or its SQLSTATE and message.
CREATE FUNCTION vox_check.attempt(payload jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    -- Dynamic: only one of the two handlers exists in each database.
    EXECUTE format('SELECT %s($1)::text', CASE current_setting('vox_check.handler')
                       WHEN 'vox' THEN 'vox.handle_event' WHEN 'plpgsql' THEN 'vox_bench.handle_event' END)
       INTO message USING payload;
    RETURN message;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ' ' || message;
END
$$;

CREATE FUNCTION vox_check.add(note text, payload jsonb) RETURNS void
LANGUAGE sql AS $$ INSERT INTO vox_check.events (note, payload) VALUES (note, payload) $$;

-- Builders' shorthand: T is 2025-11-21T16:00:00Z in Unix milliseconds.
CREATE FUNCTION vox_check.t(offset_ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE RETURN 1763740800000 + offset_ms;

-- call-1 (org A): every status in order, transcripts, a partial, chatter,
-- then redeliveries of the status, the utterance and the report.
SELECT vox_check.add('c1 queued', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"phoneNumberId": "pn-a"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('c1 ringing', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"phoneNumberId": "pn-a"}'), 'ringing', vox_check.t(500)));
SELECT vox_check.add('c1 in-progress', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"phoneNumberId": "pn-a", "startedAt": "2025-11-21T16:00:01.000Z"}'), 'in-progress', vox_check.t(1000)));
SELECT vox_check.add('c1 user says', vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'user', 'Hi, I need a cleaning.', vox_check.t(2000)));
SELECT vox_check.add('c1 partial', vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'assistant', 'Sure, let', vox_check.t(2500), 'partial'));
SELECT vox_check.add('c1 assistant says', vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'assistant', 'Sure, let me check.', vox_check.t(3000)));
SELECT vox_check.add('c1 speech-update', jsonb_build_object('message', jsonb_build_object('type', 'speech-update', 'status', 'started', 'role', 'assistant', 'timestamp', vox_check.t(3100), 'call', vox_test.call('call-1', 'asst-a'))));
SELECT vox_check.add('c1 conversation-update', jsonb_build_object('message', jsonb_build_object('type', 'conversation-update', 'messages', '[]'::jsonb, 'timestamp', vox_check.t(3200), 'call', vox_test.call('call-1', 'asst-a'))));
SELECT vox_check.add('c1 tool-calls', jsonb_build_object('message', jsonb_build_object('type', 'tool-calls', 'toolCallList', '[]'::jsonb, 'timestamp', vox_check.t(3300), 'call', vox_test.call('call-1', 'asst-a'))));
SELECT vox_check.add('c1 user-interrupted', jsonb_build_object('message', jsonb_build_object('type', 'user-interrupted', 'timestamp', vox_check.t(3400), 'call', vox_test.call('call-1', 'asst-a'))));
SELECT vox_check.add('c1 forwarding', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"startedAt": "2025-11-21T16:00:01.000Z"}'), 'forwarding', vox_check.t(100000)));
SELECT vox_check.add('c1 in-progress again', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"phoneNumberId": "pn-a", "startedAt": "2025-11-21T16:00:01.000Z"}'), 'in-progress', vox_check.t(1000)));
SELECT vox_check.add('c1 user says again', vox_test.transcript(vox_test.call('call-1', 'asst-a'), 'user', 'Hi, I need a cleaning.', vox_check.t(2000)));
SELECT vox_check.add('c1 hang', jsonb_build_object('message', jsonb_build_object('type', 'hang', 'timestamp', vox_check.t(200000), 'call', vox_test.call('call-1', 'asst-a'))));
SELECT vox_check.add('c1 ended', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z"}'), 'ended', vox_check.t(211600), '{"endedReason": "customer-ended-call"}'));
SELECT vox_check.add('c1 report', vox_test.end_of_call_report(vox_test.call('call-1', 'asst-a'), vox_check.t(212000)));
SELECT vox_check.add('c1 report again', vox_test.end_of_call_report(vox_test.call('call-1', 'asst-a'), vox_check.t(212000)));
SELECT vox_check.add('c1 ended again, later', vox_test.status_update(vox_test.call('call-1', 'asst-a', '{"startedAt": "2025-11-21T16:00:01.000Z", "endedAt": "2025-11-21T16:03:31.500Z"}'), 'ended', vox_check.t(215000), '{"endedReason": "customer-ended-call"}'));

-- call-2 (org A): the end-of-call-report first, then a late in-progress, a
-- late ringing, ended (without endedAt: the message's timestamp), and a
-- transcript after it all; the same words said again later are a second
-- utterance. The report carries no recording, the summary at the top.
SELECT vox_check.add('c2 report first', vox_test.end_of_call_report(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null}'), vox_check.t(400000), '{"artifact": {"transcript": "AI: Hello."}, "analysis": null, "summary": "Short call.", "cost": 0.05}'));
SELECT vox_check.add('c2 in-progress late', vox_test.status_update(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null, "startedAt": "2025-11-21T15:59:59.000Z"}'), 'in-progress', vox_check.t(300000)));
SELECT vox_check.add('c2 ringing late', vox_test.status_update(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null}'), 'ringing', vox_check.t(299000)));
SELECT vox_check.add('c2 ended', vox_test.status_update(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null}'), 'ended', vox_check.t(399000), '{"endedReason": "assistant-ended-call"}'));
SELECT vox_check.add('c2 transcript after', vox_test.transcript(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null}'), 'user', 'Thanks, bye.', vox_check.t(350000)));
SELECT vox_check.add('c2 same words later', vox_test.transcript(vox_test.call('call-2', 'asst-a', '{"type": "webCall", "customer": null}'), 'user', 'Thanks, bye.', vox_check.t(351000)));

-- call-3 (org B, by phone number only): a caller id that is no number, and
-- the caller's object at the message level.
SELECT vox_check.add('c3 queued by number', vox_test.status_update(vox_test.call('call-3', NULL, '{"phoneNumberId": "pn-b", "customer": null}'), 'queued', vox_check.t(10000), '{"customer": {"number": "anonymous"}}'));
SELECT vox_check.add('c3 in-progress', vox_test.status_update(vox_test.call('call-3', NULL, '{"phoneNumberId": "pn-b", "customer": {"number": "Restricted"}, "startedAt": "2025-11-21T18:00:10+02:00"}'), 'in-progress', vox_check.t(11000)));
SELECT vox_check.add('c3 report', vox_test.end_of_call_report(vox_test.call('call-3', NULL, '{"phoneNumberId": "pn-b", "customer": {"number": "anonymous"}}'), vox_check.t(90000), '{"startedAt": "2025-11-21T16:00:10.123456789Z", "endedAt": "2025-11-21T16:01:20.5Z", "cost": 1.5e-3, "artifact": {"recordingUrl": "https://storage.vapi.ai/call-3.wav"}}'));

-- call-4: transcripts before the call is known (no assistant, no number:
-- parked as unknown_call), one naming an assistant nobody knows yet, then the
-- call appears (org B) and the unknown_call ones are replayed.
SELECT vox_check.add('c4 transcript, call unknown', vox_test.transcript(vox_test.call('call-4', NULL), 'user', 'Hello?', vox_check.t(20000)));
SELECT vox_check.add('c4 transcript again, call unknown', vox_test.transcript(vox_test.call('call-4', NULL), 'user', 'Hello?', vox_check.t(20000)));
SELECT vox_check.add('c4 second utterance, call unknown', vox_test.transcript(vox_test.call('call-4', NULL), 'assistant', 'Hi there.', vox_check.t(21000)));
SELECT vox_check.add('c4 ended, call unknown', vox_test.status_update(vox_test.call('call-4', NULL, '{"endedAt": "2025-11-21T16:05:00Z"}'), 'ended', vox_check.t(300000)));
SELECT vox_check.add('c4 naming an unknown assistant', vox_test.transcript(vox_test.call('call-4', 'asst-new'), 'user', 'Anyone?', vox_check.t(22000)));
SELECT vox_check.add('c4 ringing: the call appears', vox_test.status_update(vox_test.call('call-4', 'asst-b'), 'ringing', vox_check.t(19000)));
SELECT vox_check.add('c4 transcript now known', vox_test.transcript(vox_test.call('call-4', NULL), 'user', 'Still there?', vox_check.t(23000)));

-- call-5: an assistant registered only at the end (check.sh), redelivered
-- while parked. call-6: an inactive agent's new call.
SELECT vox_check.add('c5 in-progress, unknown assistant', vox_test.status_update(vox_test.call('call-5', 'asst-new'), 'in-progress', vox_check.t(30000)));
SELECT vox_check.add('c5 report, unknown assistant', vox_test.end_of_call_report(vox_test.call('call-5', 'asst-new'), vox_check.t(90000)));
SELECT vox_check.add('c5 in-progress again', vox_test.status_update(vox_test.call('call-5', 'asst-new'), 'in-progress', vox_check.t(30000)));
SELECT vox_check.add('c6 inactive agent', vox_test.status_update(vox_test.call('call-6', 'asst-off'), 'queued', vox_check.t(40000)));
SELECT vox_check.add('c6 unknown number', vox_test.status_update(vox_test.call('call-6b', NULL, '{"phoneNumberId": "pn-new"}'), 'queued', vox_check.t(40000)));

-- call-7: the seeds' flat form, report first.
SELECT vox_check.add('c7 flat report', '{"type": "end-of-call-report", "call": {"id": "call-7", "assistantId": "asst-a", "type": "outboundPhoneCall", "customer": {"number": "+14155550199"}}, "endedReason": "silence-timed-out", "summary": "Voicemail.", "transcript": "AI: Hi.", "recordingUrl": "https://storage.vapi.ai/call-7.wav", "cost": 0}');
SELECT vox_check.add('c7 flat started', '{"type": "call.started", "call": {"id": "call-7", "assistantId": "asst-a", "type": "outboundPhoneCall", "startedAt": "2025-11-21T16:10:00.000Z", "customer": {"number": "+14155550199"}}}');
SELECT vox_check.add('c7 flat transcribed', '{"type": "call.transcribed", "speaker": "assistant", "transcript": "Hi.", "timestamp": 1763741405000, "call": {"id": "call-7", "assistantId": "asst-a"}}');
SELECT vox_check.add('c7 flat ended', '{"type": "call.ended", "endedReason": "silence-timed-out", "call": {"id": "call-7", "assistantId": "asst-a", "startedAt": "2025-11-21T16:10:00.000Z", "endedAt": "2025-11-21T16:10:30.000Z"}}');
SELECT vox_check.add('c7 final-only type name', jsonb_set(vox_test.transcript(vox_test.call('call-7', 'asst-a'), 'user', 'Bye.', vox_check.t(606000)) #- '{message,transcriptType}', '{message,type}', '"transcript[transcriptType=\"final\"]"'));

-- call-8 (org A): first by number (pn-a2's agent, asst-a), then naming
-- asst-a2: the assistant's agent outranks the number's.
SELECT vox_check.add('c8 queued by number', vox_test.status_update(vox_test.call('call-8', NULL, '{"phoneNumberId": "pn-a2"}'), 'queued', vox_check.t(50000)));
SELECT vox_check.add('c8 in-progress by assistant', vox_test.status_update(vox_test.call('call-8', 'asst-a2', '{"phoneNumberId": "pn-a2"}'), 'in-progress', vox_check.t(51000)));
SELECT vox_check.add('c8 status not stored', vox_test.status_update(vox_test.call('call-8', 'asst-a2'), 'not-found', vox_check.t(52000)));

-- A call id held by both orgs, then an event naming neither: ambiguous.
SELECT vox_check.add('shared in A', vox_test.status_update(vox_test.call('call-shared', 'asst-a'), 'queued', vox_check.t(60000)));
SELECT vox_check.add('shared in B', vox_test.status_update(vox_test.call('call-shared', 'asst-b'), 'queued', vox_check.t(60000)));
SELECT vox_check.add('shared, naming neither', vox_test.status_update(vox_test.call('call-shared', NULL), 'ringing', vox_check.t(61000)));

-- assistant-request: by number id, by dialled number, unknown; other types.
SELECT vox_check.add('assistant-request by id', jsonb_build_object('message', jsonb_build_object('type', 'assistant-request', 'timestamp', vox_check.t(70000), 'call', vox_test.call('call-9', NULL, '{"phoneNumberId": "pn-b"}'), 'phoneNumber', jsonb_build_object('id', 'pn-b', 'number', '+14155550200'))));
SELECT vox_check.add('assistant-request by number', '{"message": {"type": "assistant-request", "phoneNumber": {"number": "+14155550101"}}}');
SELECT vox_check.add('assistant-request, number of two orgs', '{"message": {"type": "assistant-request", "phoneNumber": {"number": "+14155550300"}}}');
SELECT vox_check.add('assistant-request, formatted number', '{"message": {"type": "assistant-request", "phoneNumber": {"number": "not a number"}}}');
SELECT vox_check.add('assistant-request unknown', '{"message": {"type": "assistant-request", "phoneNumber": {"id": "pn-nobody", "number": "+14155550999"}}}');
SELECT vox_check.add('unknown type', '{"message": {"type": "brand-new-type", "timestamp": 1763740800000}}');
SELECT vox_check.add('empty type', '{"message": {"type": ""}}');

-- Invalid input: each must fail with vox's SQLSTATE and message.
SELECT vox_check.add('null payload', NULL);
SELECT vox_check.add('not an object', '[1, 2]');
SELECT vox_check.add('no message', '{"hello": 1}');
SELECT vox_check.add('message not an object', '{"message": "hi"}');
SELECT vox_check.add('type missing', '{"message": {"status": "queued"}}');
SELECT vox_check.add('type not a string', '{"message": {"type": 7}}');
SELECT vox_check.add('timestamp in seconds', '{"message": {"type": "hang", "timestamp": 1763740800}}');
SELECT vox_check.add('timestamp a string', '{"message": {"type": "hang", "timestamp": "now"}}');
SELECT vox_check.add('call missing', '{"message": {"type": "status-update", "status": "queued"}}');
SELECT vox_check.add('call id missing', '{"message": {"type": "status-update", "status": "queued", "call": {"assistantId": "asst-a"}}}');
SELECT vox_check.add('call id with a space', '{"message": {"type": "status-update", "status": "queued", "call": {"id": "call 1"}}}');
SELECT vox_check.add('call id empty', '{"message": {"type": "status-update", "status": "queued", "call": {"id": ""}}}');
SELECT vox_check.add('call id too long', jsonb_build_object('message', jsonb_build_object('type', 'status-update', 'status', 'queued', 'call', jsonb_build_object('id', repeat('x', 129)))));
SELECT vox_check.add('unknown call type', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"type": "pigeon"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('status unknown', vox_test.status_update(vox_test.call('call-x', 'asst-a'), 'exploded', vox_check.t(0)));
SELECT vox_check.add('status missing', '{"message": {"type": "status-update", "call": {"id": "call-x", "assistantId": "asst-a"}}}');
SELECT vox_check.add('startedAt malformed', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"startedAt": "2025-11-21 16:00"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('startedAt without zone', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"startedAt": "2025-11-21T16:00:00"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('startedAt Feb 30', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"startedAt": "2025-02-30T16:00:00Z"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('endedAt before startedAt', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"startedAt": "2025-11-21T16:00:00Z", "endedAt": "2025-11-21T15:00:00Z"}'), 'ended', vox_check.t(0)));
SELECT vox_check.add('report endedAt before startedAt', vox_test.end_of_call_report(vox_test.call('call-x', 'asst-a'), vox_check.t(0), '{"endedAt": "2025-11-21T15:00:00.000Z"}'));
SELECT vox_check.add('report cost negative', vox_test.end_of_call_report(vox_test.call('call-x', 'asst-a'), vox_check.t(0), '{"cost": -1}'));
SELECT vox_check.add('report cost a string', vox_test.end_of_call_report(vox_test.call('call-x', 'asst-a'), vox_check.t(0), '{"cost": "1"}'));
SELECT vox_check.add('report artifact not an object', vox_test.end_of_call_report(vox_test.call('call-x', 'asst-a'), vox_check.t(0), '{"artifact": []}'));
SELECT vox_check.add('transcript bad role', vox_test.transcript(vox_test.call('call-x', 'asst-a'), 'robot', 'Beep.', vox_check.t(0)));
SELECT vox_check.add('transcript without type', vox_test.transcript(vox_test.call('call-x', 'asst-a'), 'user', 'Hi.', vox_check.t(0)) #- '{message,transcriptType}');
SELECT vox_check.add('transcript bad type', vox_test.transcript(vox_test.call('call-x', 'asst-a'), 'user', 'Hi.', vox_check.t(0), 'draft'));
SELECT vox_check.add('transcript words missing', vox_test.transcript(vox_test.call('call-x', 'asst-a'), 'user', 'Hi.', vox_check.t(0)) #- '{message,transcript}');
SELECT vox_check.add('final transcript without timestamp', vox_test.transcript(vox_test.call('call-x', 'asst-a'), 'user', 'Hi.', vox_check.t(0)) #- '{message,timestamp}');
SELECT vox_check.add('customer not an object', vox_test.status_update(vox_test.call('call-x', 'asst-a', '{"customer": "+14155550123"}'), 'queued', vox_check.t(0)));
SELECT vox_check.add('flat form call id a number', '{"type": "call.started", "call": {"id": 12}}');

-- Fractions: of a millisecond in message.timestamp, an offset without colon.
SELECT vox_check.add('c8 fractional millisecond', jsonb_set(vox_test.transcript(vox_test.call('call-8', 'asst-a2'), 'user', 'One moment.', 0), '{message,timestamp}', '1763740851000.25'));
SELECT vox_check.add('c8 forwarding, offset without colon', vox_test.status_update(vox_test.call('call-8', 'asst-a2', '{"startedAt": "2025-11-21T11:00:50.5-0500"}'), 'forwarding', vox_check.t(53000)));
-- RFC 3339 edge cases, accepted or refused as vox's parser does.
SELECT vox_check.add('startedAt ' || v, vox_test.status_update(vox_test.call('call-ts-' || n, 'asst-a', jsonb_build_object('startedAt', v)), 'queued', vox_check.t(0)))
  FROM unnest(ARRAY['2025-11-21t16:00:01z', '2025-11-21 18:00:01+02:00', '2024-02-29T00:00:00Z', '2025-11-21T16:00:00.1234567+01:30',
                    '2099-12-31T23:59:59.999999Z', '2025-02-29T00:00:00Z', '2025-11-21T24:00:00Z', '2025-11-21T16:00:60Z',
                    '2025-11-21T16:00:00+24:00', '2025-11-21T16:00:00+02:60', '1999-12-31T23:59:59Z', '2025-11-21T16:00:00.Z',
                    '2025-11-21T16:00:00+02', '2025-11-21T16:00:00+2:00', '2025-1-21T16:00:00Z', ' 2025-11-21T16:00:00Z',
                    '2025-11-21T16:00:00Z ', '２025-11-21T16:00:00Z', 'now', '']) WITH ORDINALITY AS cases (v, n);

-- The last event goes with vox.notify off (check.sh): a change, no NOTIFY.
SELECT vox_check.add('c8 ended, vox.notify off', vox_test.status_update(vox_test.call('call-8', 'asst-a2'), 'ended', vox_check.t(54000)));
