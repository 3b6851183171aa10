-- recordings: the archive of call recordings (0.5.0). vox-relay completes an
-- upload with its object's key, size, content type and SHA-256, and learns
-- whether the job holds that object ('done', 'already done', NULL: delete
-- it). Objects are deleted through vox.recording_deletions, queued when their
-- job goes (an org deleted, a job deleted, the queue truncated) and, by
-- vox.claim_recording_deletions, once older than vox.recording_retention;
-- deletions are leased, retried and die like uploads. Playback reads the
-- archived object of one org's call only.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

---------------------------------------------------------------------------
-- vox.recording_retention: a reload's, never a session's
---------------------------------------------------------------------------
SHOW vox.recording_retention;
SELECT vox.recording_retention() AS keep_forever;
ALTER SYSTEM SET vox.recording_retention = '1h';
SELECT pg_reload_conf();
-- A new session starts with the postmaster's reloaded configuration.
\c
-- A session's SET before vox's library loads is a placeholder; it does not
-- count once the library defines the setting, nor after.
SET vox.recording_retention = 0;
SELECT vox.recording_retention() AS retention;
SHOW vox.recording_retention;
\set VERBOSITY terse
SET vox.recording_retention = 0;
\set VERBOSITY default

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
\set sha '''e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
-- Three claims make an item dead, to keep the test short.
SET vox.queue_max_attempts = 3;

-- Stands for time passing: every lease and backoff has ended.
CREATE PROCEDURE pg_temp.time_passes()
LANGUAGE sql AS $$
    UPDATE vox.recording_upload_queue SET available_at = now() - interval '1 second' WHERE status = 'pending';
    UPDATE vox.recording_deletions SET available_at = now() - interval '1 second' WHERE status = 'pending';
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
CREATE TEMP VIEW uploads AS
SELECT id, CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, vapi_call_id, status, attempts,
       storage_path, object_size, content_type, left(sha256, 8) AS sha256, completed_at IS NOT NULL AS completed,
       object_deleted_at IS NOT NULL AS object_deleted
  FROM vox.recording_upload_queue ORDER BY id;
CREATE TEMP VIEW deletions AS
SELECT id, CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, vapi_call_id, storage_path, reason,
       status, attempts, CASE status WHEN 'pending' THEN available_at > now() END AS waiting, last_error,
       completed_at IS NOT NULL AS completed
  FROM vox.recording_deletions ORDER BY id;

-- Five calls of A and one of B (under the same call id as A's first) end
-- with a recording: jobs 1 to 6.
SELECT count(vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-' || i, 'asst-a'), 1763741000000)))
    AS reports_a
  FROM generate_series(1, 5) i;
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-1', 'asst-b'), 1763741000000)) ->> 'status'
    AS report_b;
SELECT * FROM uploads;
SELECT id, vapi_call_id, attempts FROM vox.claim_recording_uploads(10, '10 minutes') ORDER BY id;
-- The relay's gauge: six waiting (leased ones too), none dead.
SELECT waiting, oldest_waiting_seconds >= 0 AS has_age, dead FROM vox.recording_queue_status();

---------------------------------------------------------------------------
-- Completion
---------------------------------------------------------------------------
-- Every argument is checked before anything changes.
SELECT pg_temp.try($$SELECT vox.complete_recording_upload(1, NULL, 10, 'audio/wav', repeat('a', 64))$$) AS no_path,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, repeat('k', 4097), 10, 'audio/wav', repeat('a', 64))$$)
           AS long_path;
SELECT pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', -1, 'audio/wav', repeat('a', 64))$$) AS negative_size,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', NULL, 'audio/wav', repeat('a', 64))$$) AS no_size;
SELECT pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', 10, NULL, repeat('a', 64))$$) AS no_type,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', 10, E'audio/wav\n', repeat('a', 64))$$) AS bad_type;
SELECT pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', 10, 'audio/wav', repeat('A', 64))$$) AS upper_sha,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', 10, 'audio/wav', repeat('a', 63))$$) AS short_sha,
       pg_temp.try($$SELECT vox.complete_recording_upload(1, 'k', 10, 'audio/wav', NULL)$$) AS no_sha;
SELECT count(*) AS completed_by_refusals FROM vox.recording_upload_queue WHERE status = 'done';

-- The relay archived jobs 1, 2, 3 and 6; an empty recording is an object too.
\set key_1 '''recordings/00000000-0000-4000-8000-00000000000a/call-1/1.wav'''
\set key_2 '''recordings/00000000-0000-4000-8000-00000000000a/call-2/2.wav'''
\set key_3 '''recordings/00000000-0000-4000-8000-00000000000a/call-3/3.wav'''
\set key_6 '''recordings/00000000-0000-4000-8000-00000000000b/call-1/6.mp3'''
SELECT vox.complete_recording_upload(1, :key_1, 1048576, 'audio/wav', :sha) AS job_1,
       vox.complete_recording_upload(2, :key_2, 0, 'audio/wav', :sha) AS job_2,
       vox.complete_recording_upload(3, :key_3, 2048, 'audio/wav', :sha) AS job_3,
       vox.complete_recording_upload(6, :key_6, 4096, 'audio/mpeg', :sha) AS job_6;
-- A relay restarted after completing, or a second relay that took the job
-- once the lease ended, completes it again with the same object: kept.
SELECT vox.complete_recording_upload(1, :key_1, 1048576, 'audio/wav', :sha) AS same_object;
-- Another object for a done job, or for a job that does not exist: no job
-- holds it, the relay deletes it.
SELECT vox.complete_recording_upload(1, 'recordings/elsewhere/1.wav', 10, 'audio/wav', :sha) AS other_object,
       vox.complete_recording_upload(999, 'recordings/x/999.wav', 10, 'audio/wav', :sha) AS no_job;
SELECT * FROM uploads;
SELECT waiting, dead FROM vox.recording_queue_status();

---------------------------------------------------------------------------
-- Playback: the archived object of that org's call only
---------------------------------------------------------------------------
SELECT * FROM vox.recording_object(:org_a, 'call-1');
SELECT * FROM vox.recording_object(:org_b, 'call-1');
-- Not archived yet (call-4), no such call, another org's call, NULLs.
SELECT count(*) AS not_archived FROM vox.recording_object(:org_a, 'call-4');
SELECT count(*) AS no_call FROM vox.recording_object(:org_a, 'call-9');
SELECT count(*) AS other_org FROM vox.recording_object(:org_b, 'call-2');
SELECT count(*) AS nulls FROM vox.recording_object(NULL, 'call-1');

---------------------------------------------------------------------------
-- A failed upload ends dead; a late completion of a dead job holds nothing
---------------------------------------------------------------------------
CALL pg_temp.time_passes();
SELECT vox.fail_recording_upload(5, 'download refused: host not allowed') AS first;
CALL pg_temp.time_passes();
SELECT id, attempts FROM vox.claim_recording_uploads(10, '10 minutes') ORDER BY id;
SELECT vox.fail_recording_upload(5, 'download refused: host not allowed') AS second;
CALL pg_temp.time_passes();
SELECT id, attempts FROM vox.claim_recording_uploads(10, '10 minutes') ORDER BY id;
SELECT vox.fail_recording_upload(5, 'download refused: host not allowed') AS third;
SELECT vox.complete_recording_upload(5, 'recordings/late/5.wav', 10, 'audio/wav', :sha) AS late_completion;
SELECT id, vapi_call_id, status, attempts, last_error FROM vox.recording_upload_queue WHERE id = 5;
SELECT waiting, dead FROM vox.recording_queue_status();

---------------------------------------------------------------------------
-- A deleted job queues the deletion of its object
---------------------------------------------------------------------------
-- Deleting a call's job is how one recording is deleted before the
-- retention (a call's rows have no foreign key to the job). A job with no
-- object yet (call-4) queues nothing: its relay's completion returns NULL.
DELETE FROM vox.recording_upload_queue WHERE org_id = :org_a AND vapi_call_id IN ('call-2', 'call-4');
SELECT * FROM deletions;
SELECT vox.complete_recording_upload(4, 'recordings/a/call-4/4.wav', 10, 'audio/wav', :sha) AS job_gone;
SELECT count(*) AS playback_after_delete FROM vox.recording_object(:org_a, 'call-2');
-- vox.stats counts pending and dead deletions.
SELECT section, name, value, oldest IS NOT NULL AS has_oldest FROM vox.stats WHERE section LIKE 'recording%';

---------------------------------------------------------------------------
-- Retention: claims queue the expired objects first
---------------------------------------------------------------------------
-- call-3 was archived two hours ago, call-1 just now; the dead job and the
-- deleted ones are not archived objects.
UPDATE vox.recording_upload_queue SET completed_at = now() - interval '2 hours' WHERE id = 3;
-- Two relays claim one deletion each, oldest first.
SELECT id, vapi_call_id, storage_path, reason, attempts, available_at - now() AS leased_for
  FROM vox.claim_recording_deletions(1, '5 minutes');
SELECT id, vapi_call_id, storage_path, reason, attempts, available_at - now() AS leased_for
  FROM vox.claim_recording_deletions(1, '5 minutes');
SELECT count(*) AS claimed_while_leased FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT * FROM deletions;
-- Queued for deletion, call-3 is not played any more, nor is it kept by a
-- late completion.
SELECT count(*) AS playback_while_deleting FROM vox.recording_object(:org_a, 'call-3');
SELECT vox.complete_recording_upload(3, :key_3, 2048, 'audio/wav', :sha) AS completed_while_deleting;
-- Storage confirms: the job stays, its object marked deleted; again changes
-- nothing.
SELECT vox.complete_recording_deletion(2) AS deleted, vox.complete_recording_deletion(2) AS deleted_again,
       vox.complete_recording_deletion(999) AS no_deletion;
SELECT * FROM uploads WHERE id = 3;
-- A deleted object is never queued again; the unconfirmed deletion of
-- call-2 comes back.
CALL pg_temp.time_passes();
SELECT id, reason, attempts FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT count(*) AS retention_deletions FROM vox.recording_deletions WHERE reason = 'retention';

---------------------------------------------------------------------------
-- Failed deletions back off, then die; a dead one is not queued again
---------------------------------------------------------------------------
BEGIN;
SELECT vox.fail_recording_deletion(1, 'storage refused DeleteObject: HTTP 403 AccessDenied') AS outcome;
SELECT available_at - now() AS retry_in, vox.queue_backoff(2) AS backoff FROM vox.recording_deletions WHERE id = 1;
COMMIT;
CALL pg_temp.time_passes();
SELECT id, attempts FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT vox.fail_recording_deletion(1, 'storage refused DeleteObject: HTTP 403 AccessDenied') AS third;
SELECT vox.fail_recording_deletion(1, 'once more') AS fail_dead, vox.complete_recording_deletion(1) AS complete_dead;
SELECT * FROM deletions;
SELECT section, name, value FROM vox.stats WHERE section = 'recording deletions';
-- A lease that runs out as often kills a deletion too: call-1 expires, is
-- claimed three times and never confirmed.
UPDATE vox.recording_upload_queue SET completed_at = now() - interval '2 hours' WHERE id = 1;
SELECT id, vapi_call_id, reason, attempts FROM vox.claim_recording_deletions(10, '5 minutes');
CALL pg_temp.time_passes();
SELECT id, attempts FROM vox.claim_recording_deletions(10, '5 minutes');
CALL pg_temp.time_passes();
SELECT id, attempts FROM vox.claim_recording_deletions(10, '5 minutes');
CALL pg_temp.time_passes();
SELECT count(*) AS claimed_after_max FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT id, vapi_call_id, reason, status, attempts, last_error FROM vox.recording_deletions WHERE id = 3;
-- Dead, never queued again, and never played.
SELECT count(*) AS claimable FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT count(*) AS retention_deletions FROM vox.recording_deletions WHERE reason = 'retention';
SELECT count(*) AS playback_of_expired FROM vox.recording_object(:org_a, 'call-1');

---------------------------------------------------------------------------
-- Claim arguments
---------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT vox.claim_recording_deletions(0, '30 seconds')$$) AS max_0,
       pg_temp.try($$SELECT vox.claim_recording_deletions(10001, '30 seconds')$$) AS max_10001,
       pg_temp.try($$SELECT vox.claim_recording_deletions(1, '2 days')$$) AS lease_2_days,
       pg_temp.try($$SELECT vox.claim_recording_deletions(1, NULL)$$) AS lease_null;

---------------------------------------------------------------------------
-- Deleting an org queues the deletion of all its objects
---------------------------------------------------------------------------
-- B's job goes with B (ON DELETE CASCADE); its deletion stays, with B's id.
DELETE FROM vox.organizations WHERE id = :org_b;
SELECT * FROM deletions WHERE org = 'B';
SELECT count(*) AS jobs_of_b FROM vox.recording_upload_queue WHERE org_id = :org_b;
SELECT vox.complete_recording_upload(6, :key_6, 4096, 'audio/mpeg', :sha) AS org_gone;
SELECT id, vapi_call_id, reason FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT vox.complete_recording_deletion(4) AS deleted;

---------------------------------------------------------------------------
-- TRUNCATE queues every archived object not deleted yet
---------------------------------------------------------------------------
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-7', 'asst-a'), 1763741000000)) ->> 'status'
    AS report_7;
SELECT count(*) AS claimed FROM vox.claim_recording_uploads(10, '10 minutes');
SELECT vox.complete_recording_upload(7, 'recordings/a/call-7/7.wav', 100, 'audio/wav', :sha) AS job_7;
TRUNCATE vox.recording_upload_queue;
-- call-7's object, and call-1's again: its expiry's deletion is dead, the
-- job's going gets one of its own. Not call-3's (deleted), nor the dead
-- job's (no object).
SELECT id, org, vapi_call_id, storage_path, reason, status FROM deletions WHERE id > 4;

---------------------------------------------------------------------------
-- Rows of a tenant, functions of a role
---------------------------------------------------------------------------
-- Row-level security: a session sees its org's deletions only.
CREATE ROLE vox_test_reader NOLOGIN;
GRANT USAGE ON SCHEMA vox TO vox_test_reader;
GRANT SELECT ON vox.recording_deletions TO vox_test_reader;
SET ROLE vox_test_reader;
SELECT count(*) AS without_org FROM vox.recording_deletions;
SET vox.org_id = :org_b;
SELECT vapi_call_id, reason FROM vox.recording_deletions;
RESET vox.org_id;
RESET ROLE;
REVOKE ALL ON vox.recording_deletions FROM vox_test_reader;
REVOKE ALL ON SCHEMA vox FROM vox_test_reader;
DROP ROLE vox_test_reader;
-- The relay's role may execute these, PUBLIC none of them.
SELECT p.oid::regprocedure AS vox_relay_may_execute FROM pg_proc p
 WHERE p.pronamespace = 'vox'::regnamespace AND has_function_privilege('vox_relay', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
-- Every SECURITY DEFINER function pins search_path and is closed to PUBLIC.
SELECT p.oid::regprocedure AS open_definer FROM pg_proc p
 WHERE p.pronamespace = 'vox'::regnamespace AND p.prosecdef
   AND (has_function_privilege('public', p.oid, 'EXECUTE') OR NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']);
-- The trigger function refuses any table but the queue.
CREATE TEMP TABLE recording_upload_queue (org_id uuid, storage_path text, object_deleted_at timestamptz);
CREATE TRIGGER forged BEFORE DELETE ON recording_upload_queue
    FOR EACH ROW EXECUTE FUNCTION vox.recording_upload_queue_deleted();
INSERT INTO recording_upload_queue VALUES (:org_a, 'recordings/forged', NULL);
SELECT pg_temp.try($$DELETE FROM pg_temp.recording_upload_queue$$) AS forged_delete;
DROP TABLE recording_upload_queue;

---------------------------------------------------------------------------
-- vox.recording_retention = 0 keeps every object
---------------------------------------------------------------------------
ALTER SYSTEM RESET vox.recording_retention;
SELECT pg_reload_conf();
\c
SELECT vox.recording_retention() AS keep_forever;
\set org_a '''00000000-0000-4000-8000-00000000000a'''
SELECT vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-8', 'asst-a'), 1763741000000)) ->> 'status'
    AS report_8;
SELECT count(*) AS claimed FROM vox.claim_recording_uploads(10, '10 minutes');
SELECT vox.complete_recording_upload(8, 'recordings/a/call-8/8.wav', 100, 'audio/wav', repeat('0', 64)) AS job_8;
UPDATE vox.recording_upload_queue SET completed_at = now() - interval '10 years' WHERE id = 8;
SELECT count(*) AS claimed FROM vox.claim_recording_deletions(10, '5 minutes');
SELECT count(*) AS deletions_of_call_8 FROM vox.recording_deletions WHERE vapi_call_id = 'call-8';
SELECT storage_path, content_type, object_size FROM vox.recording_object(:org_a, 'call-8');
