-- validation: input vox cannot act on raises a documented SQLSTATE (class 22)
-- with a message naming the field, never crashes the backend and writes
-- nothing (DESIGN §2 invariant 6, §3). Optional fields vox can do without
-- are noted, not refused: test/sql/conformance.sql.
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
    (14, 'call.phoneNumberId with spaces', jsonb_set(status, '{message,call,phoneNumberId}', '"pn demo"'))
  ) AS cases(n, label, payload)
 ORDER BY n;

---------------------------------------------------------------------------
-- The message timestamp (part of a transcript's key)
---------------------------------------------------------------------------
-- (each case on a call of its own, so that one accepted by mistake cannot
-- turn the next into a duplicate)
SELECT n, label, vox_test.attempt(jsonb_set(payload, '{message,call,id}', to_jsonb('call-date-' || n))) AS result
  FROM base, LATERAL (VALUES
    (1, 'timestamp a string',              jsonb_set(status, '{message,timestamp}', '"2025-11-21T16:00:01Z"')),
    (2, 'timestamp in seconds',            jsonb_set(status, '{message,timestamp}', '1763740801')),
    (3, 'timestamp negative',              jsonb_set(status, '{message,timestamp}', '-1')),
    (4, 'timestamp in 2200',               jsonb_set(status, '{message,timestamp}', '7258118400000'))
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
    (4, 'transcript role missing',         transcript #- '{message,role}'),
    (5, 'transcript role bot',             jsonb_set(transcript, '{message,role}', '"bot"')),
    (6, 'transcriptType missing',          transcript #- '{message,transcriptType}'),
    (7, 'transcriptType interim',          jsonb_set(transcript, '{message,transcriptType}', '"interim"')),
    (8, 'transcript words missing',        transcript #- '{message,transcript}'),
    (9, 'transcript words a number',       jsonb_set(transcript, '{message,transcript}', '42')),
    (10, 'transcript words over 64 KiB',   jsonb_set(transcript, '{message,transcript}', to_jsonb(repeat('a', 65537))))
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
SELECT vox_test.attempt(jsonb_set(status, '{message,status}', '"In Progress"')) AS broken FROM base;
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
