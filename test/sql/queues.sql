-- queues: the durable queues of 0.2.0. vox.claim_outbox and
-- vox.claim_recording_uploads lease items: a claimed item is invisible until
-- its available_at and comes back then unless acknowledged (ack_outbox) or
-- completed (complete_recording_upload). Every claim counts an attempt and
-- the next lease adds vox.queue_backoff; an item claimed
-- vox.queue_max_attempts times without success is dead: kept, never claimed
-- again.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
-- Three claims make an item dead, to keep the test short.
SET vox.queue_max_attempts = 3;
SELECT vox.queue_max_attempts();

-- Stands for time passing: every lease and backoff has ended. A worker that
-- crashed holding a lease is one whose available_at is in the past.
CREATE PROCEDURE pg_temp.time_passes()
LANGUAGE sql AS $$
    UPDATE vox.outbox SET available_at = now() - interval '1 second'
     WHERE delivered_at IS NULL AND dead_at IS NULL;
    UPDATE vox.recording_upload_queue SET available_at = now() - interval '1 second' WHERE status = 'pending';
$$;
-- The SQLSTATE and message a statement raises, or 'ok'.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    RETURN state || ' ' || message;
END
$$;
-- The outbox without volatile timestamps: leased means claimed and its lease
-- (or backoff) not over yet.
CREATE TEMP VIEW outbox AS
SELECT id, topic, attempts, available_at > now() AS leased, delivered_at IS NOT NULL AS delivered,
       dead_at IS NOT NULL AS dead
  FROM vox.outbox ORDER BY id;

---------------------------------------------------------------------------
-- Outbox rows come from applied changes only
---------------------------------------------------------------------------
\set call_1 'vox_test.call(''call-1'', ''asst-a'')'
SELECT vox.handle_event(vox_test.status_update(:call_1, 'ringing', 1763740800000)) ->> 'status' AS ringing;
-- A redelivery is a duplicate: no second row.
SELECT vox.handle_event(vox_test.status_update(:call_1, 'ringing', 1763740800000)) ->> 'status' AS ringing_again;
SELECT vox.handle_event(vox_test.status_update(:call_1, 'in-progress', 1763740801000)) ->> 'status' AS in_progress;
SELECT vox.handle_event(vox_test.transcript(:call_1, 'user', 'I need a cleaning.', 1763740802000)) ->> 'status'
    AS transcript;
SELECT vox.handle_event(vox_test.transcript(:call_1, 'user', 'I need a cleaning.', 1763740802000)) ->> 'status'
    AS transcript_again;
-- A late "queued" is applied but changes nothing (status only moves
-- forward): nothing to broadcast.
SELECT vox.handle_event(vox_test.status_update(:call_1, 'queued', 1763740799000)) ->> 'status' AS stale_queued;
SELECT topic, payload FROM vox.outbox ORDER BY id;
-- Everything is pending and claimable at once.
SELECT * FROM outbox;

---------------------------------------------------------------------------
-- Claims lease rows; a leased row is not claimed again
---------------------------------------------------------------------------
-- The oldest two, for 30 seconds; the first claim adds no backoff.
SELECT id, topic, attempts, available_at - now() AS leased_for FROM vox.claim_outbox(2, '30 seconds') ORDER BY id;
-- Only the third is left.
SELECT id, topic, attempts, available_at - now() AS leased_for FROM vox.claim_outbox(10, '30 seconds') ORDER BY id;
SELECT count(*) AS claimed_while_leased FROM vox.claim_outbox(10, '30 seconds');
SELECT * FROM outbox;

---------------------------------------------------------------------------
-- Acknowledgement, and leases that run out
---------------------------------------------------------------------------
SELECT vox.ack_outbox(ARRAY[1]) AS acked;
SELECT vox.ack_outbox(ARRAY[1]) AS acked_again;
SELECT vox.ack_outbox(ARRAY[999]) AS unknown_id, vox.ack_outbox(NULL) AS no_ids;
-- The worker holding rows 2 and 3 never acknowledges them: once their leases
-- end they come back, the delivered row does not. The second claim waits 10
-- seconds more (vox.queue_backoff(1)).
CALL pg_temp.time_passes();
SELECT id, attempts, available_at - now() AS leased_for FROM vox.claim_outbox(10, '30 seconds') ORDER BY id;
SELECT vox.queue_backoff(0) AS first, vox.queue_backoff(1) AS second, vox.queue_backoff(2) AS third,
       vox.queue_backoff(100) AS at_most;

---------------------------------------------------------------------------
-- Dead rows: claimed vox.queue_max_attempts times without acknowledgement
---------------------------------------------------------------------------
CALL pg_temp.time_passes();
SELECT id, attempts, available_at - now() AS leased_for FROM vox.claim_outbox(10, '30 seconds') ORDER BY id;
-- The third lease runs out too: the next claim sets them aside instead.
CALL pg_temp.time_passes();
SELECT count(*) AS claimed_after_max FROM vox.claim_outbox(10, '30 seconds');
SELECT * FROM outbox;
CALL pg_temp.time_passes();
SELECT count(*) AS dead_claimed_again FROM vox.claim_outbox(10, '30 seconds');
-- A late acknowledgement of a dead row: ack_outbox returns how many rows
-- were pending, and a dead row is not (vox.stats counts it as dead). It stays
-- dead and undelivered: a delivered row would be deleted by vox.cleanup(),
-- and dead rows are never deleted.
SELECT vox.ack_outbox(ARRAY[2]) AS acked_dead;
SELECT * FROM outbox;
-- A new event's row is claimable as usual.
SELECT vox.handle_event(vox_test.status_update(:call_1, 'ended', 1763740900000)) ->> 'status' AS ended;
SELECT id, topic, attempts FROM vox.claim_outbox(10, '30 seconds') ORDER BY id;

---------------------------------------------------------------------------
-- Claim arguments
---------------------------------------------------------------------------
CALL pg_temp.time_passes();
SELECT pg_temp.try($$SELECT vox.claim_outbox(0, '30 seconds')$$) AS max_0,
       pg_temp.try($$SELECT vox.claim_outbox(10001, '30 seconds')$$) AS max_10001,
       pg_temp.try($$SELECT vox.claim_outbox(NULL, '30 seconds')$$) AS max_null;
SELECT pg_temp.try($$SELECT vox.claim_outbox(1, '0')$$) AS lease_0,
       pg_temp.try($$SELECT vox.claim_outbox(1, '-1 second')$$) AS lease_negative,
       pg_temp.try($$SELECT vox.claim_outbox(1, '2 days')$$) AS lease_2_days,
       pg_temp.try($$SELECT vox.claim_outbox(1, NULL)$$) AS lease_null;
SELECT pg_temp.try($$SELECT vox.claim_recording_uploads(0, '30 seconds')$$) AS max_0,
       pg_temp.try($$SELECT vox.claim_recording_uploads(1, '0')$$) AS lease_0;
-- A refused claim claimed nothing: row 4 is still not leased.
SELECT * FROM outbox;
-- The bounds themselves are accepted.
SELECT id, attempts, available_at - now() AS leased_for FROM vox.claim_outbox(10000, '1 day');
SELECT count(*) AS uploads_claimed FROM vox.claim_recording_uploads(10000, '1 day');

---------------------------------------------------------------------------
-- Recording uploads
---------------------------------------------------------------------------
CREATE TEMP VIEW uploads AS
SELECT id, vapi_call_id, status, attempts, CASE status WHEN 'pending' THEN available_at > now() END AS waiting,
       last_error, storage_path, completed_at IS NOT NULL AS completed
  FROM vox.recording_upload_queue ORDER BY id;
-- An end-of-call-report enqueues its recording once, a redelivery does not.
SELECT vox.handle_event(vox_test.end_of_call_report(:call_1, 1763741000000)) ->> 'status' AS report;
SELECT vox.handle_event(vox_test.end_of_call_report(:call_1, 1763741000000)) ->> 'status' AS report_again;
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-2', 'asst-a'), 1763741000000)) ->> 'status'
    AS report_2;
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-3', 'asst-a'), 1763741000000)) ->> 'status'
    AS report_3;
SELECT id, vapi_call_id, recording_url, status, attempts FROM vox.recording_upload_queue ORDER BY id;

-- Three workers claim one upload each, for five minutes, oldest first.
SELECT id, vapi_call_id, attempts, available_at - now() AS leased_for FROM vox.claim_recording_uploads(1, '5 minutes');
SELECT id, vapi_call_id, attempts, available_at - now() AS leased_for FROM vox.claim_recording_uploads(1, '5 minutes');
SELECT id, vapi_call_id, attempts, available_at - now() AS leased_for FROM vox.claim_recording_uploads(1, '5 minutes');
-- call-2's worker succeeds: done, with where it stored it. A second
-- completion with another object changes nothing (recordings.sql has the
-- rest).
\set sha '''e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'''
SELECT vox.complete_recording_upload(2, 's3://recordings/clinic-a/call-2.wav', 0, 'audio/wav', :sha) AS completed;
SELECT vox.complete_recording_upload(2, 's3://elsewhere/call-2.wav', 0, 'audio/wav', :sha) AS completed_again;
SELECT pg_temp.try($$SELECT vox.complete_recording_upload(1, NULL, 0, 'audio/wav', repeat('0', 64))$$) AS no_path,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, '', 0, 'audio/wav', repeat('0', 64))$$) AS empty_path;
-- call-1's worker fails: pending again after vox.queue_backoff(1), with the
-- error (one transaction, so that now() is the failure's time).
BEGIN;
SELECT vox.fail_recording_upload(1, 'storage unavailable') AS outcome;
SELECT available_at - now() AS retry_in, vox.queue_backoff(1) AS backoff
  FROM vox.recording_upload_queue WHERE id = 1;
COMMIT;
SELECT * FROM uploads;
-- Nothing to claim: call-1 is backing off, call-2 is done, call-3 is leased.
SELECT count(*) AS claimable FROM vox.claim_recording_uploads(10, '5 minutes');

-- Later: call-1, and call-3 whose worker vanished, come back; call-2 never.
CALL pg_temp.time_passes();
SELECT id, vapi_call_id, attempts, available_at - now() AS leased_for
  FROM vox.claim_recording_uploads(10, '5 minutes') ORDER BY id;
BEGIN;
SELECT vox.fail_recording_upload(1, 'timeout') AS outcome;
SELECT available_at - now() AS retry_in FROM vox.recording_upload_queue WHERE id = 1;
COMMIT;
CALL pg_temp.time_passes();
SELECT id, vapi_call_id, attempts, available_at - now() AS leased_for
  FROM vox.claim_recording_uploads(10, '5 minutes') ORDER BY id;
-- The third failure is the last: dead, kept with its error.
SELECT vox.fail_recording_upload(1, 'timeout again') AS outcome;
SELECT vox.fail_recording_upload(1, 'once more') AS fail_dead,
       vox.complete_recording_upload(1, 's3://x', 0, 'audio/wav', :sha) AS complete_dead;
-- call-3's third lease runs out: the next claim sets it aside.
CALL pg_temp.time_passes();
SELECT count(*) AS claimable FROM vox.claim_recording_uploads(10, '5 minutes');
SELECT * FROM uploads;
CALL pg_temp.time_passes();
SELECT count(*) AS claimable FROM vox.claim_recording_uploads(10, '5 minutes');
SELECT count(*) AS uploads_kept FROM vox.recording_upload_queue;
