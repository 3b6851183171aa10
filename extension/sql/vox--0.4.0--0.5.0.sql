-- vox 0.5.0: the recording archive (vox-relay copies each call's recording to
-- the clinic's object storage, serves it for playback, and deletes it after
-- the retention or with its org).

\echo Use "ALTER EXTENSION vox UPDATE TO '0.5.0'" to load this file. \quit

-- The archived object -------------------------------------------------------------
-- Its key stays in storage_path; what a completion records besides.
ALTER TABLE vox.recording_upload_queue
    ADD COLUMN object_size       bigint CHECK (object_size >= 0),
    ADD COLUMN content_type      text   CHECK (content_type ~ '^[ -~]{1,255}$'),
    ADD COLUMN sha256            text   CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN object_deleted_at timestamptz;
COMMENT ON COLUMN vox.recording_upload_queue.storage_path IS 'The archived object''s key in the bucket';
COMMENT ON COLUMN vox.recording_upload_queue.object_size IS 'The archived object''s size in bytes';
COMMENT ON COLUMN vox.recording_upload_queue.content_type IS 'The archived object''s content type';
COMMENT ON COLUMN vox.recording_upload_queue.sha256 IS 'SHA-256 of the archived object, 64 lowercase hex digits';
COMMENT ON COLUMN vox.recording_upload_queue.object_deleted_at IS
    'When the archived object was deleted from storage after the retention; the row stays';
-- Retention scans only what is archived and not deleted yet.
CREATE INDEX recording_upload_queue_archived_idx ON vox.recording_upload_queue (completed_at)
    WHERE status = 'done' AND object_deleted_at IS NULL;

-- The relay must know whether its object is the job's: a restarted relay, or
-- a second one, completes a job done already; a job whose org or row went
-- meanwhile leaves an object that nothing names, which the relay deletes.
DROP FUNCTION vox.complete_recording_upload(bigint, text);
CREATE FUNCTION vox.complete_recording_upload(id bigint, storage_path text, object_size bigint, content_type text,
                                              sha256 text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF storage_path IS NULL OR length(storage_path) NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'invalid storage_path: expected 1 to 4096 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF object_size IS NULL OR object_size < 0 THEN
        RAISE EXCEPTION 'invalid object_size: expected 0 or more bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF content_type IS NULL OR content_type !~ '^[ -~]{1,255}$' THEN
        RAISE EXCEPTION 'invalid content_type: expected 1 to 255 printable ASCII characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sha256 IS NULL OR sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invalid sha256: expected 64 lowercase hex digits' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vox.recording_upload_queue q
       SET status = 'done', storage_path = complete_recording_upload.storage_path,
           object_size = complete_recording_upload.object_size, content_type = complete_recording_upload.content_type,
           sha256 = complete_recording_upload.sha256, completed_at = now(), last_error = NULL
     WHERE q.id = complete_recording_upload.id AND q.status = 'pending';
    IF FOUND THEN
        RETURN 'done';
    END IF;
    -- The same object, still archived: keep it. Anything else (no such job,
    -- a dead one, another object, or this one deleted or being deleted)
    -- names no object the relay wrote.
    IF EXISTS (SELECT FROM vox.recording_upload_queue q
                WHERE q.id = complete_recording_upload.id AND q.status = 'done'
                  AND q.storage_path = complete_recording_upload.storage_path AND q.object_deleted_at IS NULL
                  AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                                   WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path)) THEN
        RETURN 'already done';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION vox.complete_recording_upload(bigint, text, bigint, text, text) IS
    'Records a claimed upload''s object (key, size, content type, SHA-256): ''done'', ''already done'' if the job already holds that object, NULL if no job holds it (the caller deletes the object)';

-- Retention ----------------------------------------------------------------------
-- vox.recording_retention is read as vox defined it (PGC_SIGHUP): a
-- session's placeholder set before vox's library loads must not count.
CREATE FUNCTION vox.recording_retention() RETURNS interval
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_recording_retention';
COMMENT ON FUNCTION vox.recording_retention() IS
    'How long archived recordings are kept (setting vox.recording_retention; 0: forever)';

-- Deletions ----------------------------------------------------------------------
-- Objects to delete from storage, queued like uploads. No foreign key: the
-- deletions of a deleted org's objects outlive it.
CREATE TABLE vox.recording_deletions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid        NOT NULL,
    vapi_call_id text        NOT NULL,
    storage_path text        NOT NULL CHECK (length(storage_path) BETWEEN 1 AND 4096),
    reason       text        NOT NULL CHECK (reason IN ('retention', 'deleted')),
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts     integer     NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
-- One deletion per object and reason: concurrent claims queue an expired
-- object once.
CREATE UNIQUE INDEX recording_deletions_object_key ON vox.recording_deletions (org_id, storage_path, reason);
CREATE INDEX recording_deletions_pending_idx ON vox.recording_deletions (available_at, id) WHERE status = 'pending';
ALTER TABLE vox.recording_deletions ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON vox.recording_deletions FOR SELECT USING (org_id = vox.current_org_id());
COMMENT ON POLICY org_isolation ON vox.recording_deletions IS 'Only the rows of the org named by vox.org_id';
COMMENT ON TABLE vox.recording_deletions IS
    'Archived recordings to delete from storage: expired, or their job deleted (with its org); kept after, as the record of the deletion';
COMMENT ON COLUMN vox.recording_deletions.org_id IS 'The org the object belonged to (it may be gone)';
COMMENT ON COLUMN vox.recording_deletions.storage_path IS 'The object''s key in the bucket';
COMMENT ON COLUMN vox.recording_deletions.reason IS 'retention: older than vox.recording_retention; deleted: its upload job was deleted';
COMMENT ON COLUMN vox.recording_deletions.attempts IS 'Claims so far';
COMMENT ON COLUMN vox.recording_deletions.available_at IS 'Claimable from then on: after its lease, or its backoff';
COMMENT ON COLUMN vox.recording_deletions.last_error IS 'What the last failed deletion reported';
COMMENT ON COLUMN vox.recording_deletions.completed_at IS 'When storage confirmed the deletion';
SELECT pg_catalog.pg_extension_config_dump('vox.recording_deletions', '');
SELECT pg_catalog.pg_extension_config_dump('vox.recording_deletions_id_seq', '');

-- A job that goes takes its object with it: deleting an org (its jobs
-- cascade) or a call's job, or truncating the queue, queues the deletion of
-- every object archived and not deleted yet. Two jobs may name one object.
CREATE FUNCTION vox.recording_upload_queue_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'vox' OR TG_TABLE_NAME <> 'recording_upload_queue' THEN
        RAISE EXCEPTION 'vox.recording_upload_queue_deleted() may only be a trigger of vox.recording_upload_queue'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason)
        SELECT q.org_id, q.vapi_call_id, q.storage_path, 'deleted' FROM vox.recording_upload_queue q
         WHERE q.storage_path IS NOT NULL AND q.object_deleted_at IS NULL
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    IF OLD.storage_path IS NOT NULL AND OLD.object_deleted_at IS NULL THEN
        INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason)
        VALUES (OLD.org_id, OLD.vapi_call_id, OLD.storage_path, 'deleted')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN OLD;
END
$$;
REVOKE ALL ON FUNCTION vox.recording_upload_queue_deleted() FROM PUBLIC;
COMMENT ON FUNCTION vox.recording_upload_queue_deleted() IS
    'Trigger of vox.recording_upload_queue: a deleted or truncated job''s archived object is queued in vox.recording_deletions';
CREATE TRIGGER recording_upload_queue_deleted BEFORE DELETE ON vox.recording_upload_queue
    FOR EACH ROW EXECUTE FUNCTION vox.recording_upload_queue_deleted();
CREATE TRIGGER recording_upload_queue_truncated BEFORE TRUNCATE ON vox.recording_upload_queue
    FOR EACH STATEMENT EXECUTE FUNCTION vox.recording_upload_queue_deleted();

CREATE FUNCTION vox.claim_recording_deletions(max_items integer, lease interval)
RETURNS SETOF vox.recording_deletions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    retention constant interval := vox.recording_retention();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    -- Expired objects first, as many as a claim takes: a long backlog (a
    -- retention just set) is queued over several claims.
    IF retention > interval '0' THEN
        INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason)
        SELECT q.org_id, q.vapi_call_id, q.storage_path, 'retention' FROM vox.recording_upload_queue q
         WHERE q.status = 'done' AND q.object_deleted_at IS NULL AND q.storage_path IS NOT NULL
           AND q.completed_at < now() - retention
           AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                            WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path)
         ORDER BY q.completed_at LIMIT max_items
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE vox.recording_deletions d
       SET status = 'dead', last_error = COALESCE(d.last_error, 'lease expired ' || d.attempts || ' times')
      FROM (SELECT id FROM vox.recording_deletions
             WHERE status = 'pending' AND available_at <= now() AND attempts >= max_attempts
             FOR UPDATE SKIP LOCKED) spent
     WHERE d.id = spent.id;
    RETURN QUERY
    UPDATE vox.recording_deletions d
       SET attempts = d.attempts + 1, available_at = now() + lease + vox.queue_backoff(d.attempts)
      FROM (SELECT id FROM vox.recording_deletions
             WHERE status = 'pending' AND available_at <= now() AND attempts < max_attempts
             ORDER BY available_at, id LIMIT max_items
             FOR UPDATE SKIP LOCKED) claimed
     WHERE d.id = claimed.id
    RETURNING d.*;
END
$$;
COMMENT ON FUNCTION vox.claim_recording_deletions(integer, interval) IS
    'Queues archived objects older than vox.recording_retention, then claims up to max_items pending deletions for lease (FOR UPDATE SKIP LOCKED); they come back after it';

CREATE FUNCTION vox.complete_recording_deletion(id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted vox.recording_deletions;
BEGIN
    UPDATE vox.recording_deletions d SET status = 'done', completed_at = now(), last_error = NULL
     WHERE d.id = complete_recording_deletion.id AND d.status = 'pending'
    RETURNING d.* INTO deleted;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- An expired object's job stays, as the record of the call's archive.
    UPDATE vox.recording_upload_queue q SET object_deleted_at = now()
     WHERE q.org_id = deleted.org_id AND q.vapi_call_id = deleted.vapi_call_id
       AND q.storage_path = deleted.storage_path AND q.object_deleted_at IS NULL;
    RETURN true;
END
$$;
COMMENT ON FUNCTION vox.complete_recording_deletion(bigint) IS
    'Marks a claimed deletion done, and its job''s object deleted if the job is still there; false if it was not pending';

CREATE FUNCTION vox.fail_recording_deletion(id bigint, error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    outcome text;
BEGIN
    UPDATE vox.recording_deletions d
       SET last_error = left(COALESCE(error, 'unknown error'), 1000),
           status = CASE WHEN d.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
           available_at = now() + vox.queue_backoff(d.attempts)
     WHERE d.id = fail_recording_deletion.id AND d.status = 'pending'
    RETURNING d.status INTO outcome;
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION vox.fail_recording_deletion(bigint, text) IS
    'Records a failed deletion: retried after a backoff, or dead after vox.queue_max_attempts; returns the new status (NULL if it was not pending)';

-- Playback and monitoring --------------------------------------------------------

CREATE FUNCTION vox.recording_object(org_id uuid, vapi_call_id text)
RETURNS TABLE (storage_path text, content_type text, object_size bigint)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT q.storage_path, q.content_type, q.object_size FROM vox.recording_upload_queue q
     WHERE q.org_id = recording_object.org_id AND q.vapi_call_id = recording_object.vapi_call_id
       AND q.status = 'done' AND q.storage_path IS NOT NULL AND q.object_deleted_at IS NULL
       AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                        WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path)
$$;
COMMENT ON FUNCTION vox.recording_object(uuid, text) IS
    'The archived object of that org''s call, for playback; none if not archived, or deleted or to be deleted';

CREATE FUNCTION vox.recording_queue_status()
RETURNS TABLE (waiting bigint, oldest_waiting_seconds double precision, dead bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FILTER (WHERE q.status = 'pending'),
           COALESCE(extract(epoch FROM now() - min(q.created_at) FILTER (WHERE q.status = 'pending'))::float8, 0),
           count(*) FILTER (WHERE q.status = 'dead')
      FROM vox.recording_upload_queue q WHERE q.status <> 'done'
$$;
COMMENT ON FUNCTION vox.recording_queue_status() IS
    'Recording uploads waiting (pending, leased or not), the age of the oldest in seconds (0 if none), and dead ones';

-- Who may call them --------------------------------------------------------------
REVOKE ALL ON FUNCTION vox.complete_recording_upload(bigint, text, bigint, text, text),
    vox.claim_recording_deletions(integer, interval), vox.complete_recording_deletion(bigint),
    vox.fail_recording_deletion(bigint, text), vox.recording_object(uuid, text), vox.recording_queue_status()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.claim_recording_uploads(integer, interval),
    vox.complete_recording_upload(bigint, text, bigint, text, text), vox.fail_recording_upload(bigint, text),
    vox.claim_recording_deletions(integer, interval), vox.complete_recording_deletion(bigint),
    vox.fail_recording_deletion(bigint, text), vox.recording_object(uuid, text), vox.recording_queue_status()
    TO vox_relay;
COMMENT ON ROLE vox_relay IS
    'vox-relay''s login role is granted this: it may only read feeds and archive recordings through vox''s functions';

-- Statistics: recording deletions ------------------------------------------------
CREATE OR REPLACE VIEW vox.stats AS
    SELECT 'events' AS section, c.event_type || ' ' || c.outcome AS name, c.since_start AS value,
           c.last_hour, NULL::timestamptz AS oldest
      FROM vox.event_counts() c WHERE c.since_start > 0
    UNION ALL
    SELECT 'events', CASE WHEN EXISTS (SELECT FROM vox.event_counts()) THEN 'none since the server started'
                          ELSE 'not counted: vox is not in shared_preload_libraries' END, NULL, NULL, NULL
     WHERE NOT EXISTS (SELECT FROM vox.event_counts() WHERE since_start > 0)
    UNION ALL
    SELECT 'parked', 'waiting', count(*), count(*) FILTER (WHERE received_at > now() - interval '1 hour'),
           min(received_at)
      FROM vox.parked_events WHERE dead_at IS NULL
    UNION ALL
    SELECT 'parked', 'failed to apply', count(*), NULL, min(received_at)
      FROM vox.parked_events WHERE last_error IS NOT NULL
    UNION ALL
    SELECT 'parked', 'dead', count(*), NULL, min(received_at)
      FROM vox.parked_events WHERE dead_at IS NOT NULL
    UNION ALL
    SELECT 'outbox', 'pending', count(*), NULL, min(created_at)
      FROM vox.outbox WHERE delivered_at IS NULL AND dead_at IS NULL
    UNION ALL
    SELECT 'outbox', 'dead', count(*), NULL, min(created_at) FROM vox.outbox WHERE dead_at IS NOT NULL
    UNION ALL
    SELECT 'recording uploads', 'pending', count(*), NULL, min(created_at)
      FROM vox.recording_upload_queue WHERE status = 'pending'
    UNION ALL
    SELECT 'recording uploads', 'dead', count(*), NULL, min(created_at)
      FROM vox.recording_upload_queue WHERE status = 'dead'
    UNION ALL
    SELECT 'recording deletions', 'pending', count(*), NULL, min(created_at)
      FROM vox.recording_deletions WHERE status = 'pending'
    UNION ALL
    SELECT 'recording deletions', 'dead', count(*), NULL, min(created_at)
      FROM vox.recording_deletions WHERE status = 'dead'
    UNION ALL
    SELECT 'maintenance', 'last run: ' || r.ran_by || COALESCE(' failed: ' || r.error, ''),
           r.removed_idempotency + r.removed_outbox, r.replayed, r.finished_at
      FROM (SELECT * FROM vox.maintenance_runs ORDER BY id DESC LIMIT 1) r;
