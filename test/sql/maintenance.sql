-- maintenance: vox.cleanup() deletes idempotency marks older than
-- vox.retention and outbox rows delivered longer ago than that, keeps
-- everything else, and records the run in vox.maintenance_runs; vox.stats
-- shows the backlogs and the last run (README, "Maintenance" and
-- "Statistics"). The regression server does not preload vox: no event
-- counters. NOTIFY vox_outbox is checked by the notify isolation spec, whose
-- output carries no backend PIDs.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SHOW vox.retention;
SET vox.retention = '1d';
SHOW vox.retention;
-- One claim without acknowledgement makes an outbox row dead.
SET vox.queue_max_attempts = 1;
\set call_old 'vox_test.call(''call-old'', ''asst-a'')'
\set call_new 'vox_test.call(''call-new'', ''asst-a'')'

-- Two days ago: call-old rang, was answered, and two things were said; of
-- its four outbox rows one was delivered, one is dead, two are pending.
SELECT vox.handle_event(vox_test.status_update(:call_old, 'ringing', 1763740800000)) ->> 'status' AS ringing,
       vox.handle_event(vox_test.status_update(:call_old, 'in-progress', 1763740801000)) ->> 'status' AS in_progress,
       vox.handle_event(vox_test.transcript(:call_old, 'user', 'Hi, it''s Dana.', 1763740802000)) ->> 'status'
           AS transcript;
-- A final transcript without a timestamp is known by its delivery id.
SELECT vox.handle_event(vox_test.transcript(:call_old, 'assistant', 'Hello Dana.', NULL) #- '{message,timestamp}',
                        'delivery-t2') ->> 'status' AS transcript_without_timestamp;
SELECT vox.ack_outbox(ARRAY[1]) AS delivered;
SELECT id AS claimed FROM vox.claim_outbox(1, '1 minute');
-- Its lease ends unacknowledged (time passing): the next claim sets it
-- aside and takes the next row.
UPDATE vox.outbox SET available_at = now() - interval '1 second' WHERE id = 2;
SELECT id AS claimed FROM vox.claim_outbox(1, '1 minute');
UPDATE vox.processed_webhook_events SET received_at = now() - interval '2 days';
UPDATE vox.outbox SET created_at = now() - interval '2 days',
                      delivered_at = CASE WHEN delivered_at IS NOT NULL THEN now() - interval '2 days' END;
-- Today: call-new rang, and its outbox row was delivered at once.
SELECT vox.handle_event(vox_test.status_update(:call_new, 'ringing', 1763740900000)) ->> 'status' AS ringing;
SELECT vox.ack_outbox(ARRAY(SELECT id FROM vox.outbox WHERE vapi_call_id = 'call-new')) AS delivered;
-- An event no org claims, parked two days ago: parking has no retention.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-x', 'asst-unknown'), 'ringing', 1763740800000))
    ->> 'status' AS unknown;
UPDATE vox.parked_events SET received_at = now() - interval '2 days';

CREATE TEMP VIEW kept AS
SELECT 'idempotency' AS what, vapi_call_id, event_type AS detail,
       received_at < now() - interval '1 day' AS older_than_retention
  FROM vox.processed_webhook_events
UNION ALL
SELECT 'outbox', vapi_call_id,
       CASE WHEN dead_at IS NOT NULL THEN 'dead' WHEN delivered_at IS NOT NULL THEN 'delivered' ELSE 'pending' END,
       COALESCE(delivered_at, created_at) < now() - interval '1 day'
  FROM vox.outbox
UNION ALL
SELECT 'parked', vapi_call_id, reason, received_at < now() - interval '1 day' FROM vox.parked_events
ORDER BY 1, 2, 3;
SELECT * FROM kept;

---------------------------------------------------------------------------
-- vox.cleanup()
---------------------------------------------------------------------------
-- Removed: call-old's four marks and its delivered outbox row. Kept: the
-- recent ones, the old pending and dead outbox rows, the parked event.
SELECT vox.cleanup();
SELECT * FROM kept;
SELECT ran_by, removed_idempotency, removed_outbox, replayed, error, started_at <= finished_at AS in_order
  FROM vox.maintenance_runs ORDER BY id;
-- Nothing left to remove: the second run removes nothing and is recorded
-- too.
SELECT vox.cleanup();
SELECT ran_by, removed_idempotency, removed_outbox FROM vox.maintenance_runs ORDER BY id;
-- Runs are kept for the retention period: a two-day-old run is forgotten by
-- the next one.
UPDATE vox.maintenance_runs SET finished_at = now() - interval '2 days' WHERE id = 1;
SELECT vox.cleanup();
SELECT id, ran_by FROM vox.maintenance_runs ORDER BY id;

---------------------------------------------------------------------------
-- What retention means: a redelivery older than it is applied again
---------------------------------------------------------------------------
-- call-old's "ringing" is no longer known as processed: applied again, not
-- a duplicate. The call has moved on, so it changes nothing and adds no
-- outbox row.
SELECT vox.handle_event(vox_test.status_update(:call_old, 'ringing', 1763740800000)) ->> 'status' AS old_ringing_again;
-- A transcript is still recognised by its content, whatever its age: by its
-- timestamp, or without one by its delivery id.
SELECT vox.handle_event(vox_test.transcript(:call_old, 'user', 'Hi, it''s Dana.', 1763740802000)) ->> 'status'
    AS old_transcript_again;
SELECT vox.handle_event(vox_test.transcript(:call_old, 'assistant', 'Hello Dana.', NULL) #- '{message,timestamp}',
                        'delivery-t2') ->> 'status' AS old_transcript_without_timestamp_again;
SELECT count(*) AS transcripts FROM vox.call_transcripts;
-- call-new's mark is recent: a duplicate as before.
SELECT vox.handle_event(vox_test.status_update(:call_new, 'ringing', 1763740900000)) ->> 'status' AS new_ringing_again;
SELECT count(*) AS outbox_rows FROM vox.outbox;
SELECT status FROM vox.call_logs WHERE vapi_call_id = 'call-old';

---------------------------------------------------------------------------
-- vox.retention: superuser only, at least one second
---------------------------------------------------------------------------
\set VERBOSITY terse
SET vox.retention = 0;
CREATE ROLE vox_test_app NOLOGIN;
SET ROLE vox_test_app;
SET vox.retention = '1s';
SET vox.queue_max_attempts = 1000;
SET vox.notify = off;
RESET ROLE;
DROP ROLE vox_test_app;
\set VERBOSITY default
SHOW vox.retention;

---------------------------------------------------------------------------
-- vox.stats and vox.event_counts()
---------------------------------------------------------------------------
-- A recording upload pending and one dead, as well.
SELECT vox.handle_event(vox_test.end_of_call_report(:call_old, 1763741000000)) ->> 'status' AS report_old,
       vox.handle_event(vox_test.end_of_call_report(:call_new, 1763741000000)) ->> 'status' AS report_new;
SELECT id FROM vox.claim_recording_uploads(1, '1 minute');
SELECT vox.fail_recording_upload(1, 'storage unavailable');
-- Without the preload, nothing is counted, and vox.stats says so.
SELECT count(*) AS event_counts FROM vox.event_counts();
-- The backlogs: the parked event (two days old, so not in the last hour),
-- the pending and dead outbox rows, the pending and dead uploads, no
-- recording deletions, and the last run (value: rows it removed).
SELECT section, name, value, last_hour, oldest IS NOT NULL AS has_oldest FROM vox.stats;
-- A parked event that failed to apply shows as well.
UPDATE vox.parked_events SET last_error = 'invalid call.assistantId';
SELECT name, value FROM vox.stats WHERE section = 'parked';

---------------------------------------------------------------------------
-- Retention is per org: two orgs holding the same event id
---------------------------------------------------------------------------
-- Both orgs have a call call-twin whose "ringing" has the same event id;
-- only A's mark is older than the retention. Cleaning up removes A's mark
-- alone: B's redelivery is still a duplicate.
SET vox.retention = '1d';
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-twin', 'asst-a'), 'ringing', 1763740800000))
           ->> 'event_id' AS a_event,
       vox.handle_event(vox_test.status_update(vox_test.call('call-twin', 'asst-b'), 'ringing', 1763740800000))
           ->> 'event_id' AS b_event;
UPDATE vox.processed_webhook_events SET received_at = now() - interval '2 days'
 WHERE org_id = :org_a AND vapi_call_id = 'call-twin';
SELECT vox.cleanup() ->> 'removed_idempotency' AS removed_idempotency;
SELECT o.name, p.event_id FROM vox.processed_webhook_events p JOIN vox.organizations o ON o.id = p.org_id
 WHERE p.vapi_call_id = 'call-twin' ORDER BY o.name;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-twin', 'asst-b'), 'ringing', 1763740800000))
    ->> 'status' AS b_redelivered;
