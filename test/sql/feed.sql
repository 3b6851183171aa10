-- feed: what vox-relay streams. vox.feed_start gives a cursor at now and the
-- org's calls; vox.feed_read gives the org's outbox rows committed after a
-- cursor, each with the cursor after it, and the call's state as of the read.
-- A cursor not made by this database, or older than what maintenance
-- deleted, gets one reset row. Feed credentials: tokens kept as hashes, one
-- org each, expiring or revoked.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all
SET timezone = 'UTC';

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
INSERT INTO vox.leads (org_id, phone, name) VALUES (:org_a, '+14155550123', 'Jane Roe');
-- The events of a cursor's reading, without the cursors themselves.
CREATE FUNCTION pg_temp.read(org uuid, after text, max_events integer DEFAULT 500)
RETURNS TABLE (topic text, call_id text, status text, detail text)
LANGUAGE sql AS $$
    SELECT r.topic, r.data ->> 'call_id', r.data -> 'call' ->> 'status',
           COALESCE(r.data -> 'utterance' ->> 'text', r.data -> 'report' ->> 'summary', r.data ->> 'reason')
      FROM vox.feed_read(org, after, max_events) r
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
-- The cursor after the last of a reading.
CREATE FUNCTION pg_temp.last_cursor(org uuid, after text, max_events integer DEFAULT 500) RETURNS text
LANGUAGE sql AS $$
    SELECT r.cursor FROM vox.feed_read(org, after, max_events) WITH ORDINALITY r(cursor, topic, data, n)
     ORDER BY n DESC LIMIT 1
$$;

---------------------------------------------------------------------------
-- Start, read, resume
---------------------------------------------------------------------------
SELECT cursor AS start_a FROM vox.feed_start(:org_a) \gset
SELECT cursor AS start_b FROM vox.feed_start(:org_b) \gset
SELECT calls FROM vox.feed_start(:org_a);
SELECT count(*) AS nothing_yet FROM vox.feed_read(:org_a, :'start_a');

\set call_1 'vox_test.call(''call-1'', ''asst-a'', ''{"startedAt": "2025-11-21T16:00:01.000Z"}'')'
SELECT vox_test.attempt(vox_test.status_update(:call_1, 'ringing', 1763740800000))::jsonb ->> 'status';
SELECT vox_test.attempt(vox_test.status_update(:call_1, 'in-progress', 1763740801000))::jsonb ->> 'status';
SELECT vox_test.attempt(vox_test.transcript(:call_1, 'assistant', 'Thanks for calling Clinic A.', 1763740802000))::jsonb ->> 'status';
SELECT vox_test.attempt(vox_test.transcript(:call_1, 'user', 'I need to book a cleaning.', 1763740803000))::jsonb ->> 'status';
-- A duplicate changes nothing and adds no event.
SELECT vox_test.attempt(vox_test.transcript(:call_1, 'user', 'I need to book a cleaning.', 1763740803000))::jsonb ->> 'status';
SELECT vox_test.attempt(vox_test.end_of_call_report(:call_1, 1763741011500))::jsonb ->> 'status';

-- Each event, in order, with the call as it is now (ended), the utterance
-- or the report.
SELECT * FROM pg_temp.read(:org_a, :'start_a');
-- The whole of one event.
SELECT jsonb_pretty(r.data - 'committed_at' #- '{call,updated_at}')
  FROM vox.feed_read(:org_a, :'start_a') r WHERE r.topic = 'end-of-call-report';
-- Another org's reader sees none of it.
SELECT count(*) AS org_b_events FROM vox.feed_read(:org_b, :'start_b');
-- Two at a time: each reading resumes after the previous one's last cursor.
SELECT pg_temp.last_cursor(:org_a, :'start_a', 2) AS page_1 \gset
SELECT * FROM pg_temp.read(:org_a, :'page_1', 2);
SELECT pg_temp.last_cursor(:org_a, :'page_1', 2) AS page_2 \gset
SELECT * FROM pg_temp.read(:org_a, :'page_2', 2);
SELECT pg_temp.last_cursor(:org_a, :'page_2', 2) AS page_3 \gset
SELECT count(*) AS after_the_last FROM vox.feed_read(:org_a, :'page_3');
-- Events committed later come after it, and only they.
\set call_2 'vox_test.call(''call-2'', ''asst-a'', ''{"customer": {"number": "+14155550999"}}'')'
SELECT vox_test.attempt(vox_test.status_update(:call_2, 'ringing', 1763740900000))::jsonb ->> 'status';
SELECT * FROM pg_temp.read(:org_a, :'page_3');
-- A new reader's snapshot: the calls, most recently changed first, each with
-- its caller (the lead's name when the number is a lead's) and latest line.
SELECT c ->> 'call_id' AS call_id, c ->> 'status' AS status, c ->> 'caller' AS caller, c ->> 'caller_name' AS caller_name,
       c ->> 'duration_seconds' AS duration, c -> 'latest' ->> 'text' AS latest
  FROM vox.feed_start(:org_a) s, jsonb_array_elements(s.calls) c;
SELECT jsonb_array_length(calls) AS at_most_one FROM vox.feed_start(:org_a, 1);
-- The transcript pane.
SELECT jsonb_pretty(vox.feed_transcript(:org_a, 'call-1'));
SELECT vox.feed_transcript(:org_b, 'call-1') AS other_org;

---------------------------------------------------------------------------
-- Cursors vox did not make
---------------------------------------------------------------------------
SELECT * FROM pg_temp.read(:org_a, 'garbage');
SELECT * FROM pg_temp.read(:org_a, '');
SELECT * FROM pg_temp.read(:org_a, replace(:'start_a', (SELECT id FROM vox.feed_origin), 'restoredfrom'));
SELECT * FROM pg_temp.read(:org_a, regexp_replace(:'start_a', '/[0-9]+$', '/x'));
SELECT * FROM pg_temp.read(:org_a, '1/' || (SELECT id FROM vox.feed_origin) || '/5:5:/not-a-snapshot/0');
-- Snapshots from the future (another server's transaction ids).
SELECT * FROM pg_temp.read(:org_a, '1/' || (SELECT id FROM vox.feed_origin) || '/900000000:900000000:/900000000:900000000:/0');
-- Snapshots out of order.
SELECT * FROM pg_temp.read(:org_a, '1/' || (SELECT id FROM vox.feed_origin) || '/' ||
                                   split_part(:'page_3', '/', 4) || '/' || split_part(:'start_a', '/', 3) || '/0');
-- The reset's cursor is a start: reading from it works.
SELECT count(*) AS from_reset FROM vox.feed_read(:org_a, (SELECT cursor FROM vox.feed_read(:org_a, 'garbage')));

---------------------------------------------------------------------------
-- Retention: a cursor that did not see rows maintenance deleted resets
---------------------------------------------------------------------------
SELECT cursor AS before_call_3 FROM vox.feed_start(:org_a) \gset
SELECT vox_test.attempt(vox_test.status_update(vox_test.call('call-3', 'asst-a'), 'ringing', 1763741000000))::jsonb ->> 'status';
SELECT cursor AS after_call_3 FROM vox.feed_start(:org_a) \gset
SELECT vox_test.attempt(vox_test.status_update(vox_test.call('call-4', 'asst-a'), 'ringing', 1763741000000))::jsonb ->> 'status';
SELECT cursor AS after_call_4 FROM vox.feed_start(:org_a) \gset
SELECT vox.ack_outbox(ARRAY(SELECT id FROM vox.claim_outbox(100, '1 minute'))) > 0 AS acknowledged;
UPDATE vox.outbox SET delivered_at = now() - interval '30 days' WHERE vapi_call_id IN ('call-3', 'call-4');
SET vox.retention = '1d';
SELECT vox.cleanup() ->> 'removed_outbox' AS removed_outbox;
RESET vox.retention;
-- Before either deleted row, and between them: both may have missed one.
SELECT * FROM pg_temp.read(:org_a, :'before_call_3');
SELECT * FROM pg_temp.read(:org_a, :'after_call_3');
SELECT count(*) AS after_both_still_fine FROM vox.feed_read(:org_a, :'after_call_4');
-- Another org's cursors are not affected.
SELECT count(*) AS org_b_fine FROM vox.feed_read(:org_b, :'start_b');

---------------------------------------------------------------------------
-- A restored row is written by the restoring transaction
---------------------------------------------------------------------------
SELECT cursor AS before_restore FROM vox.feed_start(:org_a) \gset
INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload, committed_by)
OVERRIDING SYSTEM VALUE VALUES (:org_a, 'status-update', 'call-2', '{}', '5');
SELECT count(*) AS rows_with_the_copied_id FROM vox.outbox WHERE committed_by = '5';
SELECT * FROM pg_temp.read(:org_a, :'before_restore');

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------
SELECT credential_id AS token_id, token FROM vox.create_feed_credential(:org_a, 'front desk screen') \gset
SELECT :'token' ~ '^vxf_[A-Za-z0-9_-]{43}$' AS token_shape;
-- Only the hash is kept.
SELECT count(*) AS token_in_clear FROM vox.feed_credentials WHERE position(convert_to(:'token', 'UTF8') IN secret_hash) > 0
    OR encode(secret_hash, 'escape') LIKE '%' || :'token' || '%';
SELECT secret_hash = sha256(convert_to(:'token', 'UTF8')) AS hashed FROM vox.feed_credentials WHERE id = :token_id;
SELECT vox.feed_authorize(:org_a, :'token') = :token_id AS valid_for_its_org;
SELECT vox.feed_authorize(:org_b, :'token') AS other_org;
SELECT vox.feed_authorize(:org_a, :'token' || 'x') AS altered;
SELECT vox.feed_authorize(:org_a, '') AS empty;
-- Two tokens never collide.
SELECT count(DISTINCT (vox.create_feed_credential(:org_b, 'many')).token) AS distinct_tokens FROM generate_series(1, 20);
-- A ticket expires.
SELECT credential_id AS ticket_id, token AS ticket FROM vox.create_feed_credential(:org_a, 'page', '1 hour') \gset
SELECT vox.feed_authorize(:org_a, :'ticket') = :ticket_id AS ticket_valid;
UPDATE vox.feed_credentials SET expires_at = now() - interval '1 second' WHERE id = :ticket_id;
SELECT vox.feed_authorize(:org_a, :'ticket') AS ticket_expired;
-- Revocation, and the recheck vox-relay makes every second.
SELECT array_agg(x ORDER BY x) = ARRAY[:token_id]::bigint[] AS still_valid
  FROM vox.feed_credentials_valid(ARRAY[:token_id, :ticket_id, 999999]) x;
SELECT vox.revoke_feed_credential(:token_id) AS revoked;
SELECT vox.revoke_feed_credential(:token_id) AS revoked_again;
SELECT vox.feed_authorize(:org_a, :'token') AS after_revocation;
SELECT count(*) AS none_valid FROM vox.feed_credentials_valid(ARRAY[:token_id, :ticket_id]);
-- Tickets expired for a day are forgotten when the org mints the next.
UPDATE vox.feed_credentials SET expires_at = now() - interval '2 days' WHERE id = :ticket_id;
SELECT count(*) AS minted FROM vox.create_feed_credential(:org_a, 'next page', '5 minutes');
SELECT count(*) AS forgotten FROM vox.feed_credentials WHERE id = :ticket_id;
-- Errors.
SELECT pg_temp.try('SELECT vox.create_feed_credential(''00000000-0000-4000-8000-0000000000ff'', ''x'')');
SELECT pg_temp.try('SELECT vox.create_feed_credential(''00000000-0000-4000-8000-00000000000a'', ''x'', ''-1 minute'')');
SELECT pg_temp.try('SELECT vox.create_feed_credential(''00000000-0000-4000-8000-00000000000a'', NULL)');
SELECT pg_temp.try('SELECT vox.create_feed_credential(''00000000-0000-4000-8000-00000000000a'', '''')');

---------------------------------------------------------------------------
-- One node: the org's rows are here, and vox-relay listens on no other.
---------------------------------------------------------------------------
SELECT vox.org_is_local(:org_a) AS org_is_local, (SELECT count(*) FROM vox.feed_nodes()) AS other_nodes;
-- A row whose transaction id this server has not reached yet (a Citus shard
-- moved here from a node ahead of it keeps its rows' ids) is not sent until
-- the server has: not at every read meanwhile.
SELECT cursor AS before_moved FROM vox.feed_start(:org_a) \gset
ALTER TABLE vox.outbox DISABLE TRIGGER outbox_committed_by;
INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload, committed_by)
VALUES (:org_a, 'status-update', 'call-1', '{}', (pg_current_xact_id()::text::bigint + 1000)::text::xid8);
ALTER TABLE vox.outbox ENABLE ALWAYS TRIGGER outbox_committed_by;
SELECT count(*) AS moved_row_sent FROM vox.feed_read(:org_a, :'before_moved');
SELECT count(*) AS moved_row_sent_again FROM vox.feed_read(:org_a, :'before_moved');
DELETE FROM vox.outbox WHERE committed_by > pg_current_xact_id();
