-- vox 0.3.0: what a DBA needs (least-privilege worker, pg_dump keeps vox's
-- data, no forgeable audit, bounded replay).

\echo Use "ALTER EXTENSION vox UPDATE TO '0.3.0'" to load this file. \quit

-- Backups ------------------------------------------------------------------------
-- Every table holds user data, and pg_dump keeps it: tenants, routing,
-- secrets, calls, idempotency marks (a restored vox still knows what it
-- applied), parked events, queues, the audit log and the maintenance record.
-- Their identity sequences go with them, so that a restored database goes on
-- numbering after the restored rows.
DO $$
DECLARE
    relation text;
BEGIN
    FOREACH relation IN ARRAY ARRAY['organizations', 'agents', 'phone_numbers', 'leads', 'call_tracking', 'call_logs',
                                    'calls', 'call_transcripts', 'processed_webhook_events', 'parked_events',
                                    'outbox', 'recording_upload_queue', 'webhook_secrets', 'maintenance_runs',
                                    'audit_log',
                                    'call_transcripts_id_seq', 'parked_events_id_seq', 'outbox_id_seq',
                                    'recording_upload_queue_id_seq', 'webhook_secrets_id_seq',
                                    'maintenance_runs_id_seq', 'audit_log_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(('vox.' || relation)::regclass, '');
    END LOOP;
END
$$;

-- The maintenance worker's role ------------------------------------------------
-- A maintenance round runs as this role (setting vox.maintenance_role), which may
-- do nothing but execute the three functions below. It cannot log in; the
-- worker becomes it after connecting.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'vox_maintenance') THEN
        CREATE ROLE vox_maintenance NOLOGIN;
        COMMENT ON ROLE vox_maintenance IS 'vox maintenance rounds run as this role (vox.maintenance_role); it may only execute vox''s maintenance functions';
    END IF;
END
$$;
GRANT USAGE ON SCHEMA vox TO vox_maintenance;

CREATE FUNCTION vox.remove_expired(max_rows integer DEFAULT 1000,
                                   OUT removed_idempotency bigint, OUT removed_outbox bigint)
LANGUAGE c VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_remove_expired';
REVOKE ALL ON FUNCTION vox.remove_expired(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.remove_expired(integer) TO vox_maintenance;
COMMENT ON FUNCTION vox.remove_expired(integer) IS
    'One batch of vox.cleanup(): deletes up to max_rows expired idempotency records and as many delivered outbox rows';

ALTER TABLE vox.parked_events ADD COLUMN dead_at timestamptz;
COMMENT ON COLUMN vox.parked_events.dead_at IS
    'Set after vox.parked_max_attempts replays: sweeps pass over it; registering its agent or number, or its call''s creation, still applies it';

CREATE FUNCTION vox.replay_parked_batch(max_events integer, attempted_before timestamptz DEFAULT NULL,
                                        OUT examined bigint, OUT applied bigint)
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_replay_parked_batch';
REVOKE ALL ON FUNCTION vox.replay_parked_batch(integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.replay_parked_batch(integer, timestamptz) TO vox_maintenance;
COMMENT ON FUNCTION vox.replay_parked_batch(integer, timestamptz) IS
    'Replays up to max_events parked events that are not dead and not attempted since attempted_before, oldest first, skipping those another session holds; returns how many it tried and applied';

CREATE FUNCTION vox.record_maintenance_run(started_at timestamptz, removed_idempotency bigint, removed_outbox bigint,
                                           replayed bigint, error text)
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_record_maintenance_run';
REVOKE ALL ON FUNCTION vox.record_maintenance_run(timestamptz, bigint, bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.record_maintenance_run(timestamptz, bigint, bigint, bigint, text) TO vox_maintenance;
COMMENT ON FUNCTION vox.record_maintenance_run(timestamptz, bigint, bigint, bigint, text) IS
    'Records a maintenance worker round in vox.maintenance_runs and forgets rounds older than the retention';

-- Settings read as vox defined them ----------------------------------------------
-- vox.queue_max_attempts is a superuser's setting; read through
-- current_setting() without the preload, any session's placeholder counted.
CREATE OR REPLACE FUNCTION vox.queue_max_attempts() RETURNS integer
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_queue_max_attempts';

-- Triggers: vox's tables only, never open to PUBLIC --------------------------------
-- A trigger function runs for whoever writes; as SECURITY DEFINER it must not
-- be attachable to another table, nor callable by anyone.
ALTER TABLE vox.audit_log DROP CONSTRAINT audit_log_operation_check;
ALTER TABLE vox.audit_log ADD CONSTRAINT audit_log_operation_check
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'));
COMMENT ON COLUMN vox.audit_log.old_row IS
    'The row before (UPDATE, DELETE), without secret values; for TRUNCATE, how many of the org''s rows went';

CREATE OR REPLACE FUNCTION vox.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org_column text := CASE TG_TABLE_NAME WHEN 'organizations' THEN 'id' ELSE 'org_id' END;
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_TABLE_SCHEMA <> 'vox' OR TG_TABLE_NAME NOT IN ('organizations', 'agents', 'phone_numbers', 'webhook_secrets') THEN
        RAISE EXCEPTION 'vox.audit_trigger() audits only vox''s routing tables and webhook secrets'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('INSERT INTO vox.audit_log (org_id, table_name, operation, old_row)
                        SELECT %I, %L, ''TRUNCATE'', jsonb_build_object(''rows'', count(*)) FROM vox.%I GROUP BY 1',
                       org_column, TG_TABLE_NAME, TG_TABLE_NAME);
        RETURN NULL;
    END IF;
    old_row := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'secret' END;
    new_row := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'secret' END;
    INSERT INTO vox.audit_log (org_id, table_name, operation, old_row, new_row)
    VALUES ((COALESCE(new_row, old_row) ->> org_column)::uuid, TG_TABLE_NAME, TG_OP, old_row, new_row);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION vox.audit_trigger() FROM PUBLIC;
COMMENT ON FUNCTION vox.audit_trigger() IS
    'Trigger of vox''s routing tables and secrets: records each change in vox.audit_log, without any secret column, and a TRUNCATE as a row per org';

CREATE TRIGGER organizations_audit_truncate BEFORE TRUNCATE ON vox.organizations
    FOR EACH STATEMENT EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER agents_audit_truncate BEFORE TRUNCATE ON vox.agents
    FOR EACH STATEMENT EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER phone_numbers_audit_truncate BEFORE TRUNCATE ON vox.phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION vox.audit_trigger();
CREATE TRIGGER webhook_secrets_audit_truncate BEFORE TRUNCATE ON vox.webhook_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION vox.audit_trigger();

-- The replay trigger applies events into any org: it runs as vox's owner
-- whoever inserted the agent or number, like the webhook entry points.
ALTER FUNCTION vox.replay_parked_trigger() SECURITY DEFINER;
REVOKE ALL ON FUNCTION vox.replay_parked_trigger() FROM PUBLIC;

-- Statistics: dead parked events ---------------------------------------------------
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
    SELECT 'maintenance', 'last run: ' || r.ran_by || COALESCE(' failed: ' || r.error, ''),
           r.removed_idempotency + r.removed_outbox, r.replayed, r.finished_at
      FROM (SELECT * FROM vox.maintenance_runs ORDER BY id DESC LIMIT 1) r;
COMMENT ON VIEW vox.stats IS
    'What on-call reads first: events by type and outcome (value since start, last_hour), parked backlogs (waiting, failed, dead) and queue backlogs with their oldest item, dead items, the last maintenance run (value: rows removed, last_hour column: events replayed). A role reading it needs SELECT on it and EXECUTE on vox.event_counts()';

-- Secret revocation within a second ---------------------------------------------
-- Every committed change to an org's webhook secrets is announced on channel
-- vox_webhook_secrets with the org id as payload (never a secret); vox-shim
-- LISTENs and drops that org's cached secrets, so a deactivated secret is
-- refused at once instead of when the cache expires.
CREATE FUNCTION vox.webhook_secrets_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('vox_webhook_secrets', (CASE WHEN TG_OP = 'DELETE' THEN OLD.org_id ELSE NEW.org_id END)::text);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION vox.webhook_secrets_notify() FROM PUBLIC;
COMMENT ON FUNCTION vox.webhook_secrets_notify() IS
    'Row trigger: NOTIFY vox_webhook_secrets with the org id, so vox-shim drops its cached secrets on commit';
CREATE TRIGGER webhook_secrets_notify AFTER INSERT OR UPDATE OR DELETE ON vox.webhook_secrets
    FOR EACH ROW EXECUTE FUNCTION vox.webhook_secrets_notify();

-- What an assistant-request answers when vox has no assistant ----------------
-- Vapi ends a call whose assistant-request names no assistant, silently; an
-- org may name a fallback assistant, or a message Vapi speaks instead.
ALTER TABLE vox.organizations
    ADD COLUMN fallback_assistant_id text CHECK (fallback_assistant_id ~ '^[!-~]{1,128}$'),
    ADD COLUMN fallback_message text CHECK (length(fallback_message) BETWEEN 1 AND 1000);
COMMENT ON COLUMN vox.organizations.fallback_assistant_id IS
    'Vapi assistant that answers an assistant-request for one of the org''s numbers without an active agent (or, on the org''s signed route, an unknown number); NULL: fallback_message';
COMMENT ON COLUMN vox.organizations.fallback_message IS
    'What Vapi speaks (assistant-request answer {"error": …}) when no assistant answers the org''s number and fallback_assistant_id is NULL; NULL: vox''s default message';
