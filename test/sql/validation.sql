-- validation: malformed input raises a documented SQLSTATE (class 22) with a
-- message naming the field, never crashes the backend and writes nothing
-- (DESIGN §2 invariant 6, §3).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Demo Clinic', 'asst-demo', 'pn-demo', '+14155550100');

-- Routing rows too: a rejected event must not create any.
CREATE TEMP VIEW counts AS
SELECT (SELECT count(*) FROM vox.organizations) AS orgs,
       (SELECT count(*) FROM vox.agents) AS agents,
       (SELECT count(*) FROM vox.phone_numbers) AS numbers,
       c.*
  FROM vox_test.counts c;

-- Valid messages; each case below breaks one field of one of them. Applied
-- here to show they are valid, then rolled back.
CREATE TEMP TABLE base AS
SELECT vox_test.status_update(vox_test.call('call-v', 'asst-demo'), 'in-progress', 1763740801000) AS status,
       vox_test.transcript(vox_test.call('call-v', 'asst-demo'), 'user', 'Hello?', 1763740802000) AS transcript,
       vox_test.end_of_call_report(vox_test.call('call-v', 'asst-demo'), 1763741012000) AS report;
BEGIN;
SELECT vox_test.attempt(status)::jsonb ->> 'status' AS status,
       vox_test.attempt(transcript)::jsonb ->> 'status' AS transcript,
       vox_test.attempt(report)::jsonb ->> 'status' AS report
  FROM base;
ROLLBACK;

-- As a client sees it.
SELECT vox.handle_event(status #- '{message,call,id}') FROM base;

---------------------------------------------------------------------------
-- The payload and its envelope
---------------------------------------------------------------------------
SELECT n, label, vox_test.attempt(payload) AS result
  FROM (VALUES
    (1, 'array',                '[]'::jsonb),
    (2, 'number',               '42'),
    (3, 'string',               '"status-update"'),
    (4, 'JSON null',            'null'),
    (5, 'SQL NULL',             NULL),
    (6, 'empty object',         '{}'),
    (7, 'message null',         '{"message": null}'),
    (8, 'message a string',     '{"message": "status-update"}'),
    (9, 'message an array',     '{"message": [{"type": "status-update"}]}'),
    (10, 'type missing',        '{"message": {"status": "queued"}}'),
    (11, 'type a number',       '{"message": {"type": 7}}'),
    (12, 'type an object',      '{"message": {"type": {"name": "status-update"}}}'),
    (13, 'flat type a number',  '{"type": 7}')
  ) AS cases(n, label, payload)
 ORDER BY n;

---------------------------------------------------------------------------
-- The call
---------------------------------------------------------------------------
SELECT n, label, vox_test.attempt(payload) AS result
  FROM base, LATERAL (VALUES
    (1, 'status-update without call',      status #- '{message,call}'),
    (2, 'transcript without call',         transcript #- '{message,call}'),
    (3, 'report without call',             report #- '{message,call}'),
    (4, 'call a string',                   jsonb_set(status, '{message,call}', '"call-v"')),
    (5, 'call.id missing',                 status #- '{message,call,id}'),
    (6, 'call.id empty',                   jsonb_set(status, '{message,call,id}', '""')),
    (7, 'call.id a number',                jsonb_set(status, '{message,call,id}', '12345')),
    (8, 'call.id 129 bytes',               jsonb_set(status, '{message,call,id}', to_jsonb(repeat('c', 129)))),
    (9, 'call.id with a space',            jsonb_set(status, '{message,call,id}', '"call v"')),
    (10, 'call.id with a newline',         jsonb_set(status, '{message,call,id}', '"call\nv"')),
    (11, 'call.id not ASCII',              jsonb_set(status, '{message,call,id}', '"call-é"')),
    (12, 'call.assistantId empty',         jsonb_set(status, '{message,call,assistantId}', '""')),
    (13, 'call.assistantId a number',      jsonb_set(status, '{message,call,assistantId}', '1')),
    (14, 'call.phoneNumberId with spaces', jsonb_set(status, '{message,call,phoneNumberId}', '"pn demo"')),
    (15, 'call.type unknown',              jsonb_set(status, '{message,call,type}', '"sipCall"')),
    (16, 'call.customer a string',         jsonb_set(status, '{message,call,customer}', '"+14155550123"')),
    (17, 'call.customer.number a number',  jsonb_set(status, '{message,call,customer,number}', '14155550123')),
    (18, 'call.customer.number 1001 bytes',
         jsonb_set(status, '{message,call,customer,number}', to_jsonb(repeat('1', 1001)))),
    (19, 'call.endedReason 1001 bytes',    jsonb_set(status, '{message,call,endedReason}', to_jsonb(repeat('x', 1001))))
  ) AS cases(n, label, payload)
 ORDER BY n;

---------------------------------------------------------------------------
-- Dates and numbers
---------------------------------------------------------------------------
-- (each case on a call of its own, so that one accepted by mistake cannot
-- turn the next into a duplicate)
SELECT n, label, vox_test.attempt(jsonb_set(payload, '{message,call,id}', to_jsonb('call-date-' || n))) AS result
  FROM base, LATERAL (VALUES
    (1, 'timestamp a string',              jsonb_set(status, '{message,timestamp}', '"2025-11-21T16:00:01Z"')),
    (2, 'timestamp in seconds',            jsonb_set(status, '{message,timestamp}', '1763740801')),
    (3, 'timestamp negative',              jsonb_set(status, '{message,timestamp}', '-1')),
    (4, 'timestamp in 2200',               jsonb_set(status, '{message,timestamp}', '7258118400000')),
    (5, 'call.startedAt a word',           jsonb_set(status, '{message,call,startedAt}', '"yesterday"')),
    (6, 'call.startedAt now',              jsonb_set(status, '{message,call,startedAt}', '"now"')),
    (7, 'call.startedAt infinity',         jsonb_set(status, '{message,call,startedAt}', '"infinity"')),
    (8, 'call.startedAt -infinity',        jsonb_set(status, '{message,call,startedAt}', '"-infinity"')),
    (9, 'call.startedAt month 13',         jsonb_set(status, '{message,call,startedAt}', '"2025-13-01T00:00:00Z"')),
    (10, 'call.startedAt a number',        jsonb_set(status, '{message,call,startedAt}', '1763740801000')),
    -- A date followed by a special word: still not an ISO 8601 date-time.
    (11, 'call.startedAt date + epoch',    jsonb_set(status, '{message,call,startedAt}', '"2025-11-21 epoch"')),
    (12, 'call.startedAt date + -infinity',
         jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T16:00:01Z -infinity"')),
    (13, 'call.endedAt date + infinity',
         jsonb_set(status, '{message,call,endedAt}', '"2025-11-21T16:03:31Z infinity"')),
    -- Read by DateStyle: November 12 under MDY, December 11 under DMY.
    (14, 'call.startedAt US format',       jsonb_set(status, '{message,call,startedAt}', '"11/12/2025 16:00:00"')),
    (15, 'report startedAt a word',        jsonb_set(report, '{message,startedAt}', '"soon"')),
    (16, 'report endedAt 65 bytes',        jsonb_set(report, '{message,endedAt}', to_jsonb('2025-11-21T16:03:31.5Z' || repeat(' ', 43)))),
    (17, 'cost negative',                  jsonb_set(report, '{message,cost}', '-0.01')),
    (18, 'cost 1e9',                       jsonb_set(report, '{message,cost}', '1e9')),
    (19, 'cost beyond double',             jsonb_set(report, '{message,cost}', '1e400')),
    (20, 'cost a string',                  jsonb_set(report, '{message,cost}', '"0.12"')),
    -- Strict RFC 3339: a zone is required, and the values must exist.
    (21, 'call.startedAt without zone',    jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T16:00:01"')),
    (22, 'call.startedAt February 30',     jsonb_set(status, '{message,call,startedAt}', '"2025-02-30T16:00:01Z"')),
    (23, 'call.startedAt hour 24',         jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T24:00:00Z"')),
    -- A call cannot end before it starts (the duration would be negative).
    (24, 'report endedAt before startedAt', jsonb_set(report, '{message,endedAt}', '"2025-11-21T15:00:00Z"')),
    (25, 'call.endedAt before startedAt',
         jsonb_set(jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T16:00:01Z"'),
                   '{message,call,endedAt}', '"2025-11-21T15:00:00Z"'))
  ) AS cases(n, label, payload)
 ORDER BY n;

---------------------------------------------------------------------------
-- Status, transcript and report fields
---------------------------------------------------------------------------
SELECT n, label, vox_test.attempt(payload) AS result
  FROM base, LATERAL (VALUES
    (1, 'status missing',                  status #- '{message,status}'),
    (2, 'status unknown',                  jsonb_set(status, '{message,status}', '"paused"')),
    (3, 'status a number',                 jsonb_set(status, '{message,status}', '4')),
    (4, 'status endedReason a list',       jsonb_set(status, '{message,endedReason}', '["customer-ended-call"]')),
    (5, 'transcript role missing',         transcript #- '{message,role}'),
    (6, 'transcript role bot',             jsonb_set(transcript, '{message,role}', '"bot"')),
    (7, 'transcriptType missing',          transcript #- '{message,transcriptType}'),
    (8, 'transcriptType interim',          jsonb_set(transcript, '{message,transcriptType}', '"interim"')),
    (9, 'transcript words missing',        transcript #- '{message,transcript}'),
    (10, 'transcript words a number',      jsonb_set(transcript, '{message,transcript}', '42')),
    (11, 'transcript words over 64 KiB',   jsonb_set(transcript, '{message,transcript}', to_jsonb(repeat('a', 65537)))),
    -- Nothing would tell a retry from the same words said again.
    (12, 'final transcript, no timestamp', transcript #- '{message,timestamp}'),
    (13, 'artifact a string',              jsonb_set(report, '{message,artifact}', '"https://storage.vapi.ai/x.wav"')),
    (14, 'artifact.recording a string',    jsonb_set(report, '{message,artifact,recording}', '"https://storage.vapi.ai/x.wav"')),
    (15, 'artifact.recording.mono a list', jsonb_set(report, '{message,artifact,recording,mono}', '[]')),
    (16, 'mono.combinedUrl over 4 KiB',
         jsonb_set(report, '{message,artifact,recording,mono,combinedUrl}', to_jsonb('https://x/' || repeat('a', 4096)))),
    (17, 'artifact.transcript a number',   jsonb_set(report, '{message,artifact,transcript}', '1')),
    (18, 'analysis a string',              jsonb_set(report, '{message,analysis}', '"booked"')),
    (19, 'analysis.summary an object',     jsonb_set(report, '{message,analysis,summary}', '{"text": "booked"}')),
    (20, 'analysis.successEvaluation true',jsonb_set(report, '{message,analysis,successEvaluation}', 'true'))
  ) AS cases(n, label, payload)
 ORDER BY n;

---------------------------------------------------------------------------
-- The delivery id
---------------------------------------------------------------------------
SELECT vox_test.attempt(status, '') AS empty_delivery_id FROM base;
SELECT vox_test.attempt(status, repeat('d', 257)) AS delivery_id_257_bytes FROM base;

-- An invalid event is refused even when its tenant is unknown: it is not
-- parked to fail later.
SELECT vox_test.attempt(jsonb_set(jsonb_set(status, '{message,call,assistantId}', '"asst-unknown"'),
                                 '{message,status}', '"paused"')) AS invalid_and_unknown
  FROM base;

-- Nothing was written by any of the above: only the routing rows exist.
SELECT * FROM counts;

-- A failed delivery leaves no idempotency mark behind: once fixed, the same
-- event is processed, not taken for a duplicate.
SELECT vox_test.attempt(jsonb_set(status, '{message,call,startedAt}', '"now"')) AS broken FROM base;
SELECT vox_test.attempt(jsonb_set(status, '{message,call,startedAt}', '"2025-11-21T16:00:01Z"'))::jsonb ->> 'status' AS fixed
  FROM base;
SELECT vapi_call_id, status, started_at FROM vox.call_logs ORDER BY vapi_call_id;

---------------------------------------------------------------------------
-- Odd but harmless input is accepted
---------------------------------------------------------------------------
-- 10000 levels of nested arrays under a key vox never reads.
SELECT vox_test.attempt(jsonb_set(vox_test.status_update(vox_test.call('call-deep', 'asst-demo'), 'ringing', 1763740801000),
                                 '{message,debug}', (repeat('[', 10000) || repeat(']', 10000))::jsonb))::jsonb ->> 'status'
       AS deeply_nested;
-- ... and inside the call object.
SELECT vox_test.attempt(jsonb_set(vox_test.status_update(vox_test.call('call-deep-2', 'asst-demo'), 'ringing', 1763740801000),
                                 '{message,call,assistantOverrides}',
                                 (repeat('{"a":', 5000) || '1' || repeat('}', 5000))::jsonb))::jsonb ->> 'status'
       AS deeply_nested_in_call;
-- A 10 MB string in a field vox does not store.
SELECT vox_test.attempt(jsonb_set(vox_test.status_update(vox_test.call('call-huge', 'asst-demo'), 'ringing', 1763740801000),
                                 '{message,call,assistant}',
                                 jsonb_build_object('firstMessage', repeat('Hello! ', 1500000))))::jsonb ->> 'status'
       AS huge_ignored_string;
-- An id of exactly 128 bytes is fine.
SELECT vox_test.attempt(vox_test.status_update(vox_test.call(repeat('c', 128), 'asst-demo'), 'ringing', 1763740801000))::jsonb
       ->> 'status' AS id_128_bytes;
SELECT left(vapi_call_id, 20) AS vapi_call_id, length(vapi_call_id), status FROM vox.call_logs ORDER BY 1;
