-- vox 0.2.0: maintenance (retention, replay), durable queues with leases,
-- row-level security, audit log, statistics.

\echo Use "ALTER EXTENSION vox UPDATE TO '0.2.0'" to load this file. \quit

-- Durable queues ----------------------------------------------------------------
-- An item is claimed with a lease: it is invisible until available_at, and
-- comes back then unless acknowledged or completed. Each claim counts an
-- attempt and pushes the next one further out; an item claimed too often is
-- kept aside as dead, never deleted.

ALTER TABLE vox.outbox
    ADD COLUMN attempts     integer     NOT NULL DEFAULT 0,
    ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN dead_at      timestamptz;
DROP INDEX vox.outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON vox.outbox (available_at, id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_delivered_idx ON vox.outbox (delivered_at) WHERE delivered_at IS NOT NULL;
COMMENT ON COLUMN vox.outbox.attempts IS 'Claims so far';
COMMENT ON COLUMN vox.outbox.available_at IS 'Claimable from then on: after its lease, or its backoff';
COMMENT ON COLUMN vox.outbox.dead_at IS 'Set aside after too many claims without acknowledgement; never deleted by vox';

ALTER TABLE vox.recording_upload_queue
    ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error   text,
    ADD COLUMN storage_path text,
    ADD COLUMN completed_at timestamptz;
DROP INDEX vox.recording_upload_queue_pending_idx;
CREATE INDEX recording_upload_queue_pending_idx ON vox.recording_upload_queue (available_at, id)
    WHERE status = 'pending';
COMMENT ON COLUMN vox.recording_upload_queue.attempts IS 'Claims so far';
COMMENT ON COLUMN vox.recording_upload_queue.available_at IS 'Claimable from then on: after its lease, or its backoff';
COMMENT ON COLUMN vox.recording_upload_queue.last_error IS 'What the last failed upload reported';
COMMENT ON COLUMN vox.recording_upload_queue.storage_path IS 'Where the recording was stored';

-- Exponential backoff after failed attempts: 0 for the first, then 10 s
-- doubling up to an hour.
CREATE FUNCTION vox.queue_backoff(attempts integer) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN attempts <= 0 THEN interval '0'
                ELSE least(interval '1 hour', interval '10 seconds' * power(2, least(attempts - 1, 20)))
           END
$$;
COMMENT ON FUNCTION vox.queue_backoff(integer) IS 'Delay added after the given number of failed attempts';

-- vox.queue_max_attempts, also where vox's library is not loaded yet.
CREATE FUNCTION vox.queue_max_attempts() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT COALESCE(NULLIF(current_setting('vox.queue_max_attempts', true), '')::integer, 10) $$;
COMMENT ON FUNCTION vox.queue_max_attempts() IS 'Claims after which a queue item is dead (setting vox.queue_max_attempts, default 10)';

CREATE FUNCTION vox.check_claim(max_items integer, lease interval) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_items IS NULL OR max_items NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'invalid max_items: expected 1 to 10000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lease IS NULL OR lease <= interval '0' OR lease > interval '1 day' THEN
        RAISE EXCEPTION 'invalid lease: expected more than 0 and at most 1 day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION vox.check_claim(integer, interval) IS 'Validates the arguments of the claim functions';

CREATE FUNCTION vox.claim_outbox(max_items integer, lease interval) RETURNS SETOF vox.outbox
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    UPDATE vox.outbox o SET dead_at = now()
      FROM (SELECT org_id, id FROM vox.outbox
             WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= now() AND attempts >= max_attempts
             FOR UPDATE SKIP LOCKED) spent
     WHERE o.org_id = spent.org_id AND o.id = spent.id;
    RETURN QUERY
    UPDATE vox.outbox o
       SET attempts = o.attempts + 1, available_at = now() + lease + vox.queue_backoff(o.attempts)
      FROM (SELECT org_id, id FROM vox.outbox
             WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= now() AND attempts < max_attempts
             ORDER BY available_at, id LIMIT max_items
             FOR UPDATE SKIP LOCKED) claimed
     WHERE o.org_id = claimed.org_id AND o.id = claimed.id
    RETURNING o.*;
END
$$;
COMMENT ON FUNCTION vox.claim_outbox(integer, interval) IS
    'Claims up to max_items pending outbox rows for lease (FOR UPDATE SKIP LOCKED); unacknowledged rows come back after it';

CREATE FUNCTION vox.ack_outbox(ids bigint[]) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH delivered AS (
        UPDATE vox.outbox SET delivered_at = now()
         WHERE id = ANY (ids) AND delivered_at IS NULL AND dead_at IS NULL
        RETURNING 1
    )
    SELECT count(*) FROM delivered
$$;
COMMENT ON FUNCTION vox.ack_outbox(bigint[]) IS 'Marks claimed outbox rows delivered (dead ones stay dead); returns how many were pending';

CREATE FUNCTION vox.claim_recording_uploads(max_items integer, lease interval)
RETURNS SETOF vox.recording_upload_queue
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    UPDATE vox.recording_upload_queue q
       SET status = 'dead', last_error = COALESCE(q.last_error, 'lease expired ' || q.attempts || ' times')
      FROM (SELECT org_id, id FROM vox.recording_upload_queue
             WHERE status = 'pending' AND available_at <= now() AND attempts >= max_attempts
             FOR UPDATE SKIP LOCKED) spent
     WHERE q.org_id = spent.org_id AND q.id = spent.id;
    RETURN QUERY
    UPDATE vox.recording_upload_queue q
       SET attempts = q.attempts + 1, available_at = now() + lease + vox.queue_backoff(q.attempts)
      FROM (SELECT org_id, id FROM vox.recording_upload_queue
             WHERE status = 'pending' AND available_at <= now() AND attempts < max_attempts
             ORDER BY available_at, id LIMIT max_items
             FOR UPDATE SKIP LOCKED) claimed
     WHERE q.org_id = claimed.org_id AND q.id = claimed.id
    RETURNING q.*;
END
$$;
COMMENT ON FUNCTION vox.claim_recording_uploads(integer, interval) IS
    'Claims up to max_items pending recording uploads for lease (FOR UPDATE SKIP LOCKED); they come back after it';

CREATE FUNCTION vox.complete_recording_upload(id bigint, storage_path text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF storage_path IS NULL OR length(storage_path) NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'invalid storage_path: expected 1 to 4096 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vox.recording_upload_queue q
       SET status = 'done', storage_path = complete_recording_upload.storage_path, completed_at = now(),
           last_error = NULL
     WHERE q.id = complete_recording_upload.id AND q.status = 'pending';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION vox.complete_recording_upload(bigint, text) IS
    'Marks a claimed upload done with where it was stored; false if it was not pending';

CREATE FUNCTION vox.fail_recording_upload(id bigint, error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    outcome text;
BEGIN
    UPDATE vox.recording_upload_queue q
       SET last_error = left(COALESCE(error, 'unknown error'), 1000),
           status = CASE WHEN q.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
           available_at = now() + vox.queue_backoff(q.attempts)
     WHERE q.id = fail_recording_upload.id AND q.status = 'pending'
    RETURNING q.status INTO outcome;
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION vox.fail_recording_upload(bigint, text) IS
    'Records a failed upload: retried after a backoff, or dead after vox.queue_max_attempts; returns the new status (NULL if it was not pending)';

-- Maintenance -------------------------------------------------------------------

CREATE TABLE vox.maintenance_runs (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ran_by              text        NOT NULL CHECK (ran_by IN ('worker', 'cleanup')),
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    removed_idempotency bigint      NOT NULL DEFAULT 0,
    removed_outbox      bigint      NOT NULL DEFAULT 0,
    replayed            bigint      NOT NULL DEFAULT 0,
    error               text
);
CREATE INDEX maintenance_runs_finished_idx ON vox.maintenance_runs (finished_at);
COMMENT ON TABLE vox.maintenance_runs IS
    'One row per maintenance round (the worker''s, or a vox.cleanup() call), kept for the retention period';

CREATE FUNCTION vox.cleanup() RETURNS jsonb
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_cleanup';
COMMENT ON FUNCTION vox.cleanup() IS
    'Deletes idempotency records and delivered outbox rows older than vox.retention, in batches; returns what it removed';

-- Row-level security ------------------------------------------------------------
-- An application role reads the rows of the org it names with
-- SET vox.org_id = '...' and nothing else; it has no write privilege, so it
-- writes only through vox's SECURITY DEFINER functions.

CREATE FUNCTION vox.current_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NULLIF(current_setting('vox.org_id', true), '')::uuid $$;
COMMENT ON FUNCTION vox.current_org_id() IS 'The org the session named with SET vox.org_id, or NULL';

ALTER TABLE vox.organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON vox.organizations FOR SELECT USING (id = vox.current_org_id());
COMMENT ON POLICY org_isolation ON vox.organizations IS 'Only the org named by vox.org_id';

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['agents', 'phone_numbers', 'leads', 'call_tracking', 'call_logs', 'calls',
                                        'call_transcripts', 'processed_webhook_events', 'outbox',
                                        'recording_upload_queue'] LOOP
        EXECUTE format('ALTER TABLE vox.%I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('CREATE POLICY org_isolation ON vox.%I FOR SELECT USING (org_id = vox.current_org_id())',
                       tenant_table);
        EXECUTE format('COMMENT ON POLICY org_isolation ON vox.%I IS %L', tenant_table,
                       'Only the rows of the org named by vox.org_id');
    END LOOP;
END
$$;
-- No policy, so no application role ever reads them, whatever it is
-- granted: secrets, events without an org yet, maintenance rounds.
ALTER TABLE vox.webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE vox.parked_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE vox.maintenance_runs ENABLE ROW LEVEL SECURITY;

-- The entry points write as their owner; nobody else may call them unless
-- granted.
ALTER FUNCTION vox.replay_parked() SECURITY DEFINER;
ALTER FUNCTION vox.register_outbound_call(uuid, text, uuid, uuid, jsonb) SECURITY DEFINER;
REVOKE ALL ON FUNCTION vox.replay_parked(), vox.register_outbound_call(uuid, text, uuid, uuid, jsonb),
    vox.cleanup(), vox.claim_outbox(integer, interval), vox.ack_outbox(bigint[]),
    vox.claim_recording_uploads(integer, interval), vox.complete_recording_upload(bigint, text),
    vox.fail_recording_upload(bigint, text) FROM PUBLIC;

-- Audit log ---------------------------------------------------------------------

CREATE TABLE vox.audit_log (
    org_id     uuid        NOT NULL,  -- no foreign key: the record of a deleted org stays
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    table_name text        NOT NULL,
    operation  text        NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    db_user    text        NOT NULL DEFAULT session_user,
    app_user   text        DEFAULT NULLIF(current_setting('vox.app_user', true), ''),
    old_row    jsonb,
    new_row    jsonb,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_log_changed_idx ON vox.audit_log (org_id, changed_at);
ALTER TABLE vox.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON vox.audit_log FOR SELECT USING (org_id = vox.current_org_id());
COMMENT ON TABLE vox.audit_log IS
    'Every insert, update and delete of organizations, agents, phone numbers and webhook secrets; secrets left out';
COMMENT ON COLUMN vox.audit_log.db_user IS 'The session''s login role';
COMMENT ON COLUMN vox.audit_log.app_user IS 'The application''s user, if it said who with SET vox.app_user';
COMMENT ON COLUMN vox.audit_log.old_row IS 'The row before (UPDATE, DELETE), without secret values';
COMMENT ON COLUMN vox.audit_log.new_row IS 'The row after (INSERT, UPDATE), without secret values';
COMMENT ON POLICY org_isolation ON vox.audit_log IS 'Only the rows of the org named by vox.org_id';

CREATE FUNCTION vox.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'secret' END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'secret' END;
    org uuid := COALESCE(new_row, old_row) ->> CASE TG_TABLE_NAME WHEN 'organizations' THEN 'id' ELSE 'org_id' END;
BEGIN
    INSERT INTO vox.audit_log (org_id, table_name, operation, old_row, new_row)
    VALUES (org, TG_TABLE_NAME, TG_OP, old_row, new_row);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION vox.audit_trigger() IS 'Row trigger: records the change in vox.audit_log, without any secret column';

CREATE TRIGGER organizations_audit AFTER INSERT OR UPDATE OR DELETE ON vox.organizations
    FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER agents_audit AFTER INSERT OR UPDATE OR DELETE ON vox.agents
    FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER phone_numbers_audit AFTER INSERT OR UPDATE OR DELETE ON vox.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER webhook_secrets_audit AFTER INSERT OR UPDATE OR DELETE ON vox.webhook_secrets
    FOR EACH ROW EXECUTE FUNCTION vox.audit_trigger();

-- Statistics --------------------------------------------------------------------

CREATE FUNCTION vox.event_counts(OUT event_type text, OUT outcome text, OUT since_start bigint, OUT last_hour bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_event_counts';
REVOKE ALL ON FUNCTION vox.event_counts() FROM PUBLIC;
COMMENT ON FUNCTION vox.event_counts() IS
    'Events handled by type and outcome since the server started and in the last hour (needs vox in shared_preload_libraries)';

CREATE VIEW vox.stats AS
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
      FROM vox.parked_events
    UNION ALL
    SELECT 'parked', 'failed to apply', count(*), NULL, min(received_at)
      FROM vox.parked_events WHERE last_error IS NOT NULL
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
    SELECT 'maintenance', 'last run: ' || r.ran_by || COALESCE(' failed: ' || r.error, ''),
           r.removed_idempotency + r.removed_outbox, r.replayed, r.finished_at
      FROM (SELECT * FROM vox.maintenance_runs ORDER BY id DESC LIMIT 1) r;
COMMENT ON VIEW vox.stats IS
    'What on-call reads first: events by type and outcome (value since start, last_hour), parked and queue backlogs with their oldest item, dead items, the last maintenance run (value: rows removed, last_hour column: events replayed)';
