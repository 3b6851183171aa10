-- vox 0.7.0: vox on Citus. vox.distribute() turns an installed vox, empty or
-- holding data, into a distributed one on a Citus coordinator: the routing
-- tables, parked events, secrets and feed credentials become reference tables
-- (every node holds them), the tenant tables are hash-distributed by org_id
-- and colocated, and vox.handle_event(org_id, ...) is delegated to the node
-- holding the org's shard. vox's triggers learn that on Citus they fire on a
-- shard, under the shard's name, on every node holding it. Nothing changes on
-- a single node.

\echo Use "ALTER EXTENSION vox UPDATE TO '0.7.0'" to load this file. \quit

-- A searched CASE: Citus deparses the simple form, inlined into an upsert it
-- sends to a shard, as a comparison of text with boolean.
CREATE OR REPLACE FUNCTION vox.call_status_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN status = 'scheduled'   THEN 1
    WHEN status = 'queued'      THEN 2
    WHEN status = 'ringing'     THEN 3
    WHEN status = 'in-progress' THEN 4
    WHEN status = 'forwarding'  THEN 5
    WHEN status = 'ended'       THEN 6
    ELSE 0
END;

-- Which vox table a trigger fired on: the relation itself, or on Citus the
-- table whose shard it is (a shard is named after its table and shard id).
-- NULL for a relation outside vox. By name, as a trigger knows it: Citus
-- hides shards from pg_class. Citus' catalog is read only when present.
CREATE FUNCTION vox.trigger_table(schema_name name, relation_name name) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    logical text;
BEGIN
    IF schema_name <> 'vox' THEN
        RETURN NULL;
    END IF;
    IF to_regclass('pg_catalog.pg_dist_shard') IS NOT NULL AND relation_name ~ '_[0-9]+$' THEN
        EXECUTE $sql$
            SELECT t.relname FROM pg_catalog.pg_dist_shard s
              JOIN pg_catalog.pg_class t ON t.oid = s.logicalrelid
             WHERE s.shardid = substring($1 FROM '_([0-9]+)$')::bigint
               AND t.relnamespace = 'vox'::regnamespace AND t.relname || '_' || s.shardid = $1
        $sql$ INTO logical USING relation_name;
    END IF;
    RETURN COALESCE(logical, relation_name);
END
$$;
REVOKE ALL ON FUNCTION vox.trigger_table(name, name) FROM PUBLIC;
COMMENT ON FUNCTION vox.trigger_table(name, name) IS
    'The vox table a trigger fired on (TG_TABLE_SCHEMA, TG_TABLE_NAME): the relation, or on Citus the table whose shard it is; NULL outside vox';

-- A change to a reference table fires its triggers on every node; what a
-- trigger records elsewhere, the coordinator records once.
CREATE FUNCTION vox.on_citus_worker() RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    worker boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid <> 0 FROM pg_catalog.pg_dist_local_group' INTO worker;
    RETURN COALESCE(worker, false);
END
$$;
-- Open to all: the notify triggers, which run as whoever changes a secret,
-- call it, and it tells nothing a catalog does not.
COMMENT ON FUNCTION vox.on_citus_worker() IS
    'Whether this node is a Citus worker (not the coordinator, not a single node)';

CREATE OR REPLACE FUNCTION vox.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    table_name text := vox.trigger_table(TG_TABLE_SCHEMA, TG_TABLE_NAME);
    org_column text := CASE table_name WHEN 'organizations' THEN 'id' ELSE 'org_id' END;
    old_row jsonb;
    new_row jsonb;
BEGIN
    -- The coordinator's copy of a reference table records the change.
    IF vox.on_citus_worker() THEN
        RETURN NULL;
    END IF;
    IF table_name IS NULL OR table_name NOT IN ('organizations', 'agents', 'phone_numbers', 'webhook_secrets') THEN
        RAISE EXCEPTION 'vox.audit_trigger() audits only vox''s routing tables and webhook secrets'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('INSERT INTO vox.audit_log (org_id, table_name, operation, old_row)
                        SELECT %I, %L, ''TRUNCATE'', jsonb_build_object(''rows'', count(*)) FROM %s GROUP BY 1',
                       org_column, table_name, TG_RELID::regclass);
        RETURN NULL;
    END IF;
    old_row := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'secret' END;
    new_row := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'secret' END;
    INSERT INTO vox.audit_log (org_id, table_name, operation, old_row, new_row)
    VALUES ((COALESCE(new_row, old_row) ->> org_column)::uuid, table_name, TG_OP, old_row, new_row);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vox.recording_upload_queue_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF vox.trigger_table(TG_TABLE_SCHEMA, TG_TABLE_NAME) IS DISTINCT FROM 'recording_upload_queue' THEN
        RAISE EXCEPTION 'vox.recording_upload_queue_deleted() may only be a trigger of vox.recording_upload_queue'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    -- On Citus this runs on the job's shard, and vox.recording_deletions is
    -- colocated with it: the rows go to the same node.
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason)
                        SELECT q.org_id, q.vapi_call_id, q.storage_path, ''deleted'' FROM %s q
                         WHERE q.storage_path IS NOT NULL AND q.object_deleted_at IS NULL
                        ON CONFLICT DO NOTHING', TG_RELID::regclass);
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

-- On Citus the event tables keep foreign keys to the organizations reference
-- table (vox.distribute() adds them back): each node's copy of an org's row
-- cascades to the shards it holds, and an event's key check is local.
CREATE OR REPLACE FUNCTION vox.organization_event_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF vox.trigger_table(TG_TABLE_SCHEMA, TG_TABLE_NAME) IS DISTINCT FROM 'organizations' THEN
        RAISE EXCEPTION 'vox.organization_event_rows() may only be a trigger of vox.organizations'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    IF TG_RELID <> 'vox.organizations'::regclass THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD WHEN 'UPDATE' THEN NEW END;
    END IF;
    -- DELETE, not TRUNCATE: TRUNCATE ... CASCADE already holds the call rows'
    -- tables (they reference agents), and truncating them again here fails.
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM vox.processed_webhook_events;
        DELETE FROM vox.call_transcripts;
        DELETE FROM vox.outbox;
        DELETE FROM vox.call_tracking;
        DELETE FROM vox.call_logs;
        DELETE FROM vox.calls;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.id = NEW.id THEN
        RETURN NEW;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'organizations are deleted or renumbered at READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'A snapshot taken before the org''s in-flight events committed would miss their rows.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT FROM vox.processed_webhook_events e WHERE e.org_id = OLD.id)
           OR EXISTS (SELECT FROM vox.call_transcripts u WHERE u.org_id = OLD.id)
           OR EXISTS (SELECT FROM vox.outbox o WHERE o.org_id = OLD.id)
           OR EXISTS (SELECT FROM vox.call_tracking t WHERE t.org_id = OLD.id)
           OR EXISTS (SELECT FROM vox.call_logs l WHERE l.org_id = OLD.id)
           OR EXISTS (SELECT FROM vox.calls c WHERE c.org_id = OLD.id) THEN
            RAISE EXCEPTION 'organization % has calls or events: its id cannot change', OLD.id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
    END IF;
    DELETE FROM vox.processed_webhook_events e WHERE e.org_id = OLD.id;
    DELETE FROM vox.call_transcripts u WHERE u.org_id = OLD.id;
    DELETE FROM vox.outbox o WHERE o.org_id = OLD.id;
    DELETE FROM vox.call_tracking t WHERE t.org_id = OLD.id;
    DELETE FROM vox.call_logs l WHERE l.org_id = OLD.id;
    DELETE FROM vox.calls c WHERE c.org_id = OLD.id;
    RETURN OLD;
END
$$;

-- vox.distribute() --------------------------------------------------------------
-- Citus converts a table together with every table a foreign key joins it to,
-- and the workers already hold vox's tables (CREATE EXTENSION is propagated):
-- converting with the keys in place fails on the workers' copies. So the keys
-- among vox's tables are dropped on every node, each table is converted, and
-- the keys are added back, which Citus then creates on every shard.
CREATE FUNCTION vox.distribute() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reference_tables regclass[] := ARRAY['vox.organizations', 'vox.agents', 'vox.phone_numbers',
                                         'vox.parked_events', 'vox.webhook_secrets', 'vox.feed_credentials',
                                         'vox.feed_horizons'];
    tenant_tables regclass[] := ARRAY['vox.leads', 'vox.call_tracking', 'vox.call_logs', 'vox.calls',
                                      'vox.call_transcripts', 'vox.processed_webhook_events', 'vox.outbox',
                                      'vox.recording_upload_queue', 'vox.recording_deletions'];
    -- The event tables' keys to their org, which vox 0.6.0 dropped for a lock
    -- per event: on Citus the key is what cascades an org's deletion.
    org_keyed regclass[] := ARRAY['vox.processed_webhook_events', 'vox.call_tracking', 'vox.call_logs',
                                  'vox.calls', 'vox.call_transcripts', 'vox.outbox'];
    converted jsonb := '{}';
    tbl regclass;
    key record;
    keys jsonb := '[]';
    delegated regprocedure[] := ARRAY['vox.handle_event(uuid, jsonb, text)',
                                      'vox.register_outbound_call(uuid, text, uuid, uuid, jsonb)',
                                      'vox.apply_resolved(uuid, jsonb, text)',
                                      'vox.feed_start(uuid, integer)', 'vox.feed_read(uuid, text, integer)',
                                      'vox.feed_transcript(uuid, text, integer)'];
    fn regprocedure;
    sequence_ranges text;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'vox.distribute() needs Citus in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'shared_preload_libraries = ''citus,vox'' on every node, then CREATE EXTENSION citus.';
    END IF;
    IF vox.on_citus_worker() THEN
        RAISE EXCEPTION 'vox.distribute() runs on the Citus coordinator'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    -- Triggers on distributed and reference tables are vox's own and know
    -- they run on shards; keys to reference tables need one connection per
    -- node for the whole transaction.
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

    FOR key IN
        SELECT c.conrelid::regclass AS rel, c.conname, pg_get_constraintdef(c.oid) AS definition
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.conrelid = ANY (reference_tables || tenant_tables)
           AND NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = c.conrelid)
         ORDER BY 1, 2
    LOOP
        keys := keys || jsonb_build_object('table', key.rel::text, 'name', key.conname, 'definition', key.definition);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', key.rel, key.conname);
        PERFORM run_command_on_workers(format('ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %I',
                                              key.rel, key.conname));
    END LOOP;
    FOREACH tbl IN ARRAY org_keyed LOOP
        IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = tbl)
           AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conrelid = tbl AND c.contype = 'f'
                              AND c.confrelid = 'vox.organizations'::regclass) THEN
            keys := keys || jsonb_build_object(
                'table', tbl::text, 'name', (SELECT relname FROM pg_class WHERE oid = tbl) || '_org_id_fkey',
                'definition', 'FOREIGN KEY (org_id) REFERENCES vox.organizations(id) ON DELETE CASCADE');
        END IF;
    END LOOP;

    -- Rows copied into shards did not change: no trigger fires for them.
    PERFORM set_config('session_replication_role', 'replica', true);
    FOREACH tbl IN ARRAY reference_tables LOOP
        IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = tbl) THEN
            PERFORM create_reference_table(tbl);
            converted := jsonb_set(converted, '{reference}', COALESCE(converted -> 'reference', '[]') || to_jsonb(tbl::text));
        END IF;
    END LOOP;
    -- A distributed table's keys include its distribution column.
    IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = 'vox.recording_deletions'::regclass) THEN
        ALTER TABLE vox.recording_deletions DROP CONSTRAINT recording_deletions_pkey,
            ADD CONSTRAINT recording_deletions_pkey PRIMARY KEY (org_id, id);
        PERFORM run_command_on_workers('ALTER TABLE vox.recording_deletions DROP CONSTRAINT recording_deletions_pkey, '
                                       'ADD CONSTRAINT recording_deletions_pkey PRIMARY KEY (org_id, id)');
    END IF;
    FOREACH tbl IN ARRAY tenant_tables LOOP
        IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = tbl) THEN
            PERFORM create_distributed_table(tbl, 'org_id',
                                             colocate_with => CASE WHEN tbl = tenant_tables[1] THEN 'none'
                                                                   ELSE tenant_tables[1]::text END);
            converted := jsonb_set(converted, '{distributed}', COALESCE(converted -> 'distributed', '[]') || to_jsonb(tbl::text));
        END IF;
    END LOOP;

    PERFORM set_config('session_replication_role', 'origin', true);
    FOR key IN SELECT * FROM jsonb_to_recordset(keys) AS k("table" text, name text, definition text) LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', key."table", key.name, key.definition);
    END LOOP;
    -- The coordinator's own copies of what now lives in shards, without
    -- triggers: the rows did not change, they moved.
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR tbl IN SELECT t FROM unnest(reference_tables || tenant_tables) t
                WHERE t::text IN (SELECT jsonb_array_elements_text(COALESCE(converted -> 'reference', '[]')
                                                                   || COALESCE(converted -> 'distributed', '[]'))) LOOP
        PERFORM truncate_local_data_after_distributing_table(tbl);
    END LOOP;
    PERFORM set_config('session_replication_role', 'origin', true);
    IF jsonb_array_length(keys) > 0 THEN
        converted := converted || jsonb_build_object('foreign_keys', jsonb_array_length(keys));
    END IF;

    -- A row's id comes from the sequence of the node that inserts it (an
    -- event applied on its org's worker, or through the coordinator), and
    -- every node's vox has its own sequences: a worker's take ids from
    -- groupid * 2^48 up, as Citus does for its own, so no two nodes hand out
    -- one id. Repeated for a worker added since.
    SELECT format($cmd$DO $do$ DECLARE base bigint := (SELECT groupid FROM pg_catalog.pg_dist_local_group)::bigint << 48;
                  BEGIN %s END $do$ $cmd$,
                  string_agg(format('IF (SELECT last_value FROM %s) < base THEN PERFORM pg_catalog.setval(%L, base); END IF;',
                                    c.oid::regclass, c.oid::regclass::text), ' '))
      INTO sequence_ranges
      FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'vox'::regnamespace;
    PERFORM run_command_on_workers(sequence_ranges);

    -- What applies an org's events runs on the org's node. Each org's rows
    -- then take their ids from one node's sequences, in the order they are
    -- written. apply_resolved is called from inside handle_event (its
    -- unsigned route, once the org is known), which Citus delegates only for
    -- a force-delegated function. The live feed reads an org's cursors
    -- with its node's snapshots.
    FOREACH fn IN ARRAY delegated LOOP
        IF NOT EXISTS (SELECT FROM pg_dist_object o WHERE o.classid = 'pg_proc'::regclass AND o.objid = fn
                          AND o.distribution_argument_index = 0) THEN
            PERFORM create_distributed_function(fn, '$1', colocate_with => tenant_tables[1]::text,
                                                force_delegation => fn = delegated[3]);
            converted := jsonb_set(converted, '{delegated}', COALESCE(converted -> 'delegated', '[]') || to_jsonb(fn::text));
        END IF;
    END LOOP;
    RETURN converted;
END
$$;
REVOKE ALL ON FUNCTION vox.distribute() FROM PUBLIC;
COMMENT ON FUNCTION vox.distribute() IS
    'On a Citus coordinator: makes vox''s routing tables and parked events reference tables, makes secrets and feed credentials reference tables, distributes the tenant tables by org_id (colocated), and delegates vox.handle_event, vox.register_outbound_call, vox.apply_resolved and the live feed''s feed_start, feed_read and feed_transcript to the org''s node (by their first argument, org_id); idempotent, returns what it converted ({} when nothing was left)';

-- The second half of applying an event on a Citus coordinator: vox resolves
-- the org and has this apply the event on the org's node. Called by
-- handle_event (as its owner: handle_event is SECURITY DEFINER) and by
-- replays, which run as whoever added the agent or called replay_parked. Open
-- to PUBLIC as replay_parked is: it runs with its caller's privileges, which
-- decide what it may write.
CREATE FUNCTION vox.apply_resolved(org_id uuid, payload jsonb, delivery_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_apply_resolved';
COMMENT ON FUNCTION vox.apply_resolved(uuid, jsonb, text) IS
    'On a Citus cluster: an event whose org vox.handle_event resolved on the coordinator, applied on the org''s node (vox.distribute() delegates it there); not resolving there is a lost race (40001)';

-- The org vox's planner hook writes where a call of a function
-- vox.distribute() delegates names none (handle_event's unsigned route):
-- volatile, so Citus does not try to delegate the call by a NULL org, which
-- crashes its backend.
-- PL/pgSQL: the planner inlines a SQL function's body, a constant.
CREATE FUNCTION vox.no_signer() RETURNS uuid
LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN NULL; END $$;
COMMENT ON FUNCTION vox.no_signer() IS
    'NULL, volatile: the org of a call naming none (vox.handle_event''s unsigned route), which Citus must not delegate';

-- On Citus a change to secrets or feed credentials fires their triggers on
-- every node's copy. vox-shim and vox-relay listen on the coordinator, and a
-- worker's part of the change is committed in two phases, which a
-- transaction that sent a NOTIFY cannot do: only the coordinator's copy
-- announces it.
CREATE OR REPLACE FUNCTION vox.webhook_secrets_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT vox.on_citus_worker() THEN
        PERFORM pg_notify('vox_webhook_secrets', (CASE WHEN TG_OP = 'DELETE' THEN OLD.org_id ELSE NEW.org_id END)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vox.feed_credentials_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT vox.on_citus_worker() THEN
        PERFORM pg_notify('vox_feed_credentials', OLD.org_id::text);
    END IF;
    RETURN NULL;
END
$$;

-- The queues' claims on Citus: a claim skips the rows another claim holds
-- (FOR UPDATE SKIP LOCKED), which Citus cannot do across shards. There each
-- claim re-checks a row as it updates it, so a row two claims pick is taken
-- by one; the other waits for it and passes it over. A claimed item's next
-- time is reckoned in UTC (a lease is a duration): Citus refuses a
-- timestamptz computed from a column with a STABLE operator.
-- PL/pgSQL: Citus' catalog is read only where it exists.
CREATE FUNCTION vox.claim_locking() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = 'vox.outbox'::regclass) THEN
            RETURN '';
        END IF;
    END IF;
    RETURN 'FOR UPDATE SKIP LOCKED';
END
$$;
COMMENT ON FUNCTION vox.claim_locking() IS
    'How a claim locks the rows it picks: FOR UPDATE SKIP LOCKED, or nothing where vox''s tables are distributed (Citus), where each claim re-checks the rows it updates';

CREATE OR REPLACE FUNCTION vox.claim_outbox(max_items integer, lease interval) RETURNS SETOF vox.outbox
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    claimed_at constant timestamptz := now();
    locking constant text := vox.claim_locking();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    EXECUTE format($q$
    WITH spent AS MATERIALIZED (
        SELECT org_id, id FROM vox.outbox
             WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= $1 AND attempts >= $2 %s
    )
    UPDATE vox.outbox o
       SET dead_at = $1
      FROM spent
     WHERE o.org_id = spent.org_id AND o.id = spent.id AND o.delivered_at IS NULL AND o.dead_at IS NULL$q$, locking)
    USING claimed_at, max_attempts;
    RETURN QUERY EXECUTE format($q$
    WITH claimed AS MATERIALIZED (
        SELECT org_id, id FROM vox.outbox
             WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= $1 AND attempts < $2
             ORDER BY available_at, id LIMIT $3 %s
    )
    UPDATE vox.outbox o
       SET attempts = o.attempts + 1, available_at = ($4 + vox.queue_backoff(o.attempts)) AT TIME ZONE 'UTC'
      FROM claimed
     WHERE o.org_id = claimed.org_id AND o.id = claimed.id
       AND o.delivered_at IS NULL AND o.dead_at IS NULL AND o.available_at <= $1 AND o.attempts < $2
    RETURNING o.*$q$, locking)
    USING claimed_at, max_attempts, max_items, (claimed_at AT TIME ZONE 'UTC') + lease;
END
$$;

CREATE OR REPLACE FUNCTION vox.claim_recording_uploads(max_items integer, lease interval)
RETURNS SETOF vox.recording_upload_queue
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    claimed_at constant timestamptz := now();
    locking constant text := vox.claim_locking();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    EXECUTE format($q$
    WITH spent AS MATERIALIZED (
        SELECT org_id, id FROM vox.recording_upload_queue
             WHERE status = 'pending' AND available_at <= $1 AND attempts >= $2 %s
    )
    UPDATE vox.recording_upload_queue q
       SET status = 'dead', last_error = COALESCE(q.last_error, 'lease expired ' || q.attempts::text || ' times')
      FROM spent
     WHERE q.org_id = spent.org_id AND q.id = spent.id AND q.status = 'pending'$q$, locking)
    USING claimed_at, max_attempts;
    RETURN QUERY EXECUTE format($q$
    WITH claimed AS MATERIALIZED (
        SELECT org_id, id FROM vox.recording_upload_queue
             WHERE status = 'pending' AND available_at <= $1 AND attempts < $2
             ORDER BY available_at, id LIMIT $3 %s
    )
    UPDATE vox.recording_upload_queue q
       SET attempts = q.attempts + 1, available_at = ($4 + vox.queue_backoff(q.attempts)) AT TIME ZONE 'UTC'
      FROM claimed
     WHERE q.org_id = claimed.org_id AND q.id = claimed.id
       AND q.status = 'pending' AND q.available_at <= $1 AND q.attempts < $2
    RETURNING q.*$q$, locking)
    USING claimed_at, max_attempts, max_items, (claimed_at AT TIME ZONE 'UTC') + lease;
END
$$;

CREATE OR REPLACE FUNCTION vox.claim_recording_deletions(max_items integer, lease interval)
RETURNS SETOF vox.recording_deletions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    retention constant interval := vox.recording_retention();
    claimed_at constant timestamptz := now();
    locking constant text := vox.claim_locking();
BEGIN
    PERFORM vox.check_claim(max_items, lease);
    -- Expired objects first, as many as a claim takes: a long backlog (a
    -- retention just set) is queued over several claims.
    IF retention > interval '0' THEN
        INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason)
        SELECT q.org_id, q.vapi_call_id, q.storage_path, 'retention' FROM vox.recording_upload_queue q
         WHERE q.status = 'done' AND q.object_deleted_at IS NULL AND q.storage_path IS NOT NULL
           AND q.completed_at < claimed_at - retention
           AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                            WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path)
         ORDER BY q.completed_at LIMIT max_items
        ON CONFLICT DO NOTHING;
    END IF;
    EXECUTE format($q$
    WITH spent AS MATERIALIZED (
        SELECT org_id, id FROM vox.recording_deletions
             WHERE status = 'pending' AND available_at <= $1 AND attempts >= $2 %s
    )
    UPDATE vox.recording_deletions d
       SET status = 'dead', last_error = COALESCE(d.last_error, 'lease expired ' || d.attempts::text || ' times')
      FROM spent
     WHERE d.org_id = spent.org_id AND d.id = spent.id AND d.status = 'pending'$q$, locking)
    USING claimed_at, max_attempts;
    RETURN QUERY EXECUTE format($q$
    WITH claimed AS MATERIALIZED (
        SELECT org_id, id FROM vox.recording_deletions
             WHERE status = 'pending' AND available_at <= $1 AND attempts < $2
             ORDER BY available_at, id LIMIT $3 %s
    )
    UPDATE vox.recording_deletions d
       SET attempts = d.attempts + 1, available_at = ($4 + vox.queue_backoff(d.attempts)) AT TIME ZONE 'UTC'
      FROM claimed
     WHERE d.org_id = claimed.org_id AND d.id = claimed.id
       AND d.status = 'pending' AND d.available_at <= $1 AND d.attempts < $2
    RETURNING d.*$q$, locking)
    USING claimed_at, max_attempts, max_items, (claimed_at AT TIME ZONE 'UTC') + lease;
END
$$;
-- A completion's outbox row locks its org where the org's rows are (one
-- node, or its worker). On a Citus coordinator it does not: a row lock on a
-- reference table taken there is a Share lock on the table's shard, which
-- the outbox's foreign key (vox.distribute() adds it back) then raises to
-- Row Exclusive, so two completions at once deadlock. The key holds the org
-- there instead.
CREATE OR REPLACE FUNCTION vox.recording_changed(org_id uuid, vapi_call_id text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF vox.org_is_local(org_id) THEN
        PERFORM FROM vox.organizations o WHERE o.id = recording_changed.org_id FOR KEY SHARE;
    ELSE
        PERFORM FROM vox.organizations o WHERE o.id = recording_changed.org_id;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
    VALUES (recording_changed.org_id, 'recording', recording_changed.vapi_call_id,
            jsonb_build_object('vapi_call_id', recording_changed.vapi_call_id, 'recording',
                               vox.recording_state(recording_changed.org_id, recording_changed.vapi_call_id)));
    IF vox.notify_enabled() THEN
        PERFORM pg_notify('vox_outbox', recording_changed.org_id::text);
    END IF;
END
$$;

-- The archive's completions and failures name a job or a deletion by its id.
-- On Citus a row found by its id alone is updated on every shard, by a
-- transaction committed in two phases on every worker: each first reads the
-- row's org, so that its writes go to that org's shard only. A failure's
-- next try is reckoned in UTC, as a claim's is.
CREATE OR REPLACE FUNCTION vox.complete_recording_upload(id bigint, storage_path text, object_size bigint,
                                                         content_type text, sha256 text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job_org_id uuid;
    job_call_id text;
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
    job_org_id := (SELECT q.org_id FROM vox.recording_upload_queue q WHERE q.id = complete_recording_upload.id);
    IF job_org_id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE vox.recording_upload_queue q
       SET status = 'done', storage_path = complete_recording_upload.storage_path,
           object_size = complete_recording_upload.object_size, content_type = complete_recording_upload.content_type,
           sha256 = complete_recording_upload.sha256, completed_at = now(), last_error = NULL
     WHERE q.org_id = job_org_id AND q.id = complete_recording_upload.id AND q.status = 'pending'
    RETURNING q.vapi_call_id INTO job_call_id;
    IF FOUND THEN
        PERFORM vox.recording_changed(job_org_id, job_call_id);
        RETURN 'done';
    END IF;
    -- The same object, still archived: keep it. Anything else (no such job,
    -- a dead one, another object, or this one deleted or being deleted)
    -- names no object the relay wrote.
    IF EXISTS (SELECT FROM vox.recording_upload_queue q
                WHERE q.org_id = job_org_id AND q.id = complete_recording_upload.id AND q.status = 'done'
                  AND q.storage_path = complete_recording_upload.storage_path AND q.object_deleted_at IS NULL
                  AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                                   WHERE d.org_id = job_org_id AND d.storage_path = q.storage_path)) THEN
        RETURN 'already done';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION vox.fail_recording_upload(id bigint, error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    failed_at constant timestamp := now() AT TIME ZONE 'UTC';
    job_org_id constant uuid := (SELECT q.org_id FROM vox.recording_upload_queue q WHERE q.id = fail_recording_upload.id);
    outcome text;
BEGIN
    IF job_org_id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE vox.recording_upload_queue q
       SET last_error = left(COALESCE(error, 'unknown error'), 1000),
           status = CASE WHEN q.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
           available_at = (failed_at + vox.queue_backoff(q.attempts)) AT TIME ZONE 'UTC'
     WHERE q.org_id = job_org_id AND q.id = fail_recording_upload.id AND q.status = 'pending'
    RETURNING q.status INTO outcome;
    RETURN outcome;
END
$$;

CREATE OR REPLACE FUNCTION vox.complete_recording_deletion(id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deletion_org_id constant uuid := (SELECT d.org_id FROM vox.recording_deletions d
                                       WHERE d.id = complete_recording_deletion.id);
    deleted vox.recording_deletions;
BEGIN
    IF deletion_org_id IS NULL THEN
        RETURN false;
    END IF;
    UPDATE vox.recording_deletions d SET status = 'done', completed_at = now(), last_error = NULL
     WHERE d.org_id = deletion_org_id AND d.id = complete_recording_deletion.id AND d.status = 'pending'
    RETURNING d.* INTO deleted;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- An expired object's job stays, as the record of the call's archive;
    -- its dashboards learn that the recording is gone.
    UPDATE vox.recording_upload_queue q SET object_deleted_at = now()
     WHERE q.org_id = deleted.org_id AND q.vapi_call_id = deleted.vapi_call_id
       AND q.storage_path = deleted.storage_path AND q.object_deleted_at IS NULL;
    IF FOUND THEN
        PERFORM vox.recording_changed(deleted.org_id, deleted.vapi_call_id);
    END IF;
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION vox.fail_recording_deletion(id bigint, error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts constant integer := vox.queue_max_attempts();
    failed_at constant timestamp := now() AT TIME ZONE 'UTC';
    deletion_org_id constant uuid := (SELECT d.org_id FROM vox.recording_deletions d
                                       WHERE d.id = fail_recording_deletion.id);
    outcome text;
BEGIN
    IF deletion_org_id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE vox.recording_deletions d
       SET last_error = left(COALESCE(error, 'unknown error'), 1000),
           status = CASE WHEN d.attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
           available_at = (failed_at + vox.queue_backoff(d.attempts)) AT TIME ZONE 'UTC'
     WHERE d.org_id = deletion_org_id AND d.id = fail_recording_deletion.id AND d.status = 'pending'
    RETURNING d.status INTO outcome;
    RETURN outcome;
END
$$;

-- PL/pgSQL, here and for the recording's state and object: Citus plans a
-- statement on its tables only with the values in hand, which a SQL
-- function's statement does not have.
CREATE OR REPLACE FUNCTION vox.ack_outbox(ids bigint[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    delivered bigint;
BEGIN
    UPDATE vox.outbox SET delivered_at = now()
     WHERE id = ANY (ids) AND delivered_at IS NULL AND dead_at IS NULL;
    GET DIAGNOSTICS delivered = ROW_COUNT;
    RETURN delivered;
END
$$;

CREATE OR REPLACE FUNCTION vox.recording_state(org_id uuid, vapi_call_id text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text;
BEGIN
    SELECT CASE q.status
               WHEN 'pending' THEN 'waiting'
               WHEN 'dead' THEN 'failed'
               WHEN 'done' THEN
                   CASE WHEN q.object_deleted_at IS NULL
                             AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                                              WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path)
                        THEN 'archived' ELSE 'deleted' END
           END
      INTO state
      FROM vox.recording_upload_queue q
     WHERE q.org_id = recording_state.org_id AND q.vapi_call_id = recording_state.vapi_call_id;
    IF state IS NULL AND EXISTS (SELECT FROM vox.recording_deletions d
                                  WHERE d.org_id = recording_state.org_id AND d.vapi_call_id = recording_state.vapi_call_id) THEN
        state := 'deleted';
    END IF;
    RETURN state;
END
$$;

CREATE OR REPLACE FUNCTION vox.recording_object(org_id uuid, vapi_call_id text)
RETURNS TABLE (storage_path text, content_type text, object_size bigint)
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT q.storage_path, q.content_type, q.object_size FROM vox.recording_upload_queue q
     WHERE q.org_id = recording_object.org_id AND q.vapi_call_id = recording_object.vapi_call_id
       AND q.status = 'done' AND q.storage_path IS NOT NULL AND q.object_deleted_at IS NULL
       AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                        WHERE d.org_id = q.org_id AND d.storage_path = q.storage_path);
END
$$;

COMMENT ON FUNCTION vox.claim_outbox(integer, interval) IS
    'Claims up to max_items pending outbox rows for lease (FOR UPDATE SKIP LOCKED; on Citus, each row re-checked as it is updated); unacknowledged rows come back after it';
COMMENT ON FUNCTION vox.claim_recording_uploads(integer, interval) IS
    'Claims up to max_items pending recording uploads for lease (FOR UPDATE SKIP LOCKED; on Citus, each row re-checked as it is updated); they come back after it';
COMMENT ON FUNCTION vox.claim_recording_deletions(integer, interval) IS
    'Queues archived objects older than vox.recording_retention, then claims up to max_items pending deletions for lease (FOR UPDATE SKIP LOCKED; on Citus, each row re-checked as it is updated); they come back after it';

-- On Citus a modifying CTE with a parameter cannot be planned.
CREATE OR REPLACE FUNCTION vox.revoke_feed_credential(credential_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE vox.feed_credentials SET revoked_at = now()
     WHERE id = revoke_feed_credential.credential_id AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now());
    RETURN FOUND;
END
$$;

-- vox.stats on Citus: each table's figures, and vox.event_counts()'
-- counters, come from a CTE of their own, which Citus runs as a subplan (a
-- table's over its shards); the view's rows are then put together on the
-- coordinator. Citus cannot place a record-returning function in a
-- subquery of a distributed query. The same rows as before on one node.
CREATE OR REPLACE VIEW vox.stats AS
    WITH counts AS MATERIALIZED (
        SELECT c.event_type, c.outcome, c.since_start, c.last_hour FROM vox.event_counts() c
    ), parked AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE dead_at IS NULL) AS waiting,
               count(*) FILTER (WHERE dead_at IS NULL AND received_at > now() - interval '1 hour') AS waiting_last_hour,
               min(received_at) FILTER (WHERE dead_at IS NULL) AS oldest_waiting,
               count(*) FILTER (WHERE last_error IS NOT NULL) AS failed,
               min(received_at) FILTER (WHERE last_error IS NOT NULL) AS oldest_failed,
               count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
               min(received_at) FILTER (WHERE dead_at IS NOT NULL) AS oldest_dead
          FROM vox.parked_events
    ), outbox AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
               min(created_at) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS oldest_pending,
               count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
               min(created_at) FILTER (WHERE dead_at IS NOT NULL) AS oldest_dead
          FROM vox.outbox WHERE delivered_at IS NULL OR dead_at IS NOT NULL
    ), uploads AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
               min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending,
               count(*) FILTER (WHERE status = 'dead') AS dead,
               min(created_at) FILTER (WHERE status = 'dead') AS oldest_dead
          FROM vox.recording_upload_queue WHERE status IN ('pending', 'dead')
    ), deletions AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
               min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending,
               count(*) FILTER (WHERE status = 'dead') AS dead,
               min(created_at) FILTER (WHERE status = 'dead') AS oldest_dead
          FROM vox.recording_deletions WHERE status IN ('pending', 'dead')
    )
    SELECT 'events' AS section, c.event_type || ' ' || c.outcome AS name, c.since_start AS value,
           c.last_hour, NULL::timestamptz AS oldest
      FROM counts c WHERE c.since_start > 0
    UNION ALL
    SELECT 'events', CASE WHEN EXISTS (SELECT FROM counts) THEN 'none since the server started'
                          ELSE 'not counted: vox is not in shared_preload_libraries' END, NULL, NULL, NULL
     WHERE NOT EXISTS (SELECT FROM counts WHERE since_start > 0)
    UNION ALL
    SELECT 'parked', 'waiting', waiting, waiting_last_hour, oldest_waiting FROM parked
    UNION ALL
    SELECT 'parked', 'failed to apply', failed, NULL, oldest_failed FROM parked
    UNION ALL
    SELECT 'parked', 'dead', dead, NULL, oldest_dead FROM parked
    UNION ALL
    SELECT 'outbox', 'pending', pending, NULL, oldest_pending FROM outbox
    UNION ALL
    SELECT 'outbox', 'dead', dead, NULL, oldest_dead FROM outbox
    UNION ALL
    SELECT 'recording uploads', 'pending', pending, NULL, oldest_pending FROM uploads
    UNION ALL
    SELECT 'recording uploads', 'dead', dead, NULL, oldest_dead FROM uploads
    UNION ALL
    SELECT 'recording deletions', 'pending', pending, NULL, oldest_pending FROM deletions
    UNION ALL
    SELECT 'recording deletions', 'dead', dead, NULL, oldest_dead FROM deletions
    UNION ALL
    SELECT 'maintenance', 'last run: ' || r.ran_by || COALESCE(' failed: ' || r.error, ''),
           r.removed_idempotency + r.removed_outbox, r.replayed, r.finished_at
      FROM (SELECT * FROM vox.maintenance_runs ORDER BY id DESC LIMIT 1) r;


-- The live feed on Citus --------------------------------------------------------
-- A feed cursor holds snapshots, and an outbox row the id of the transaction
-- that wrote it: both are the org's node's. vox.distribute() delegates
-- feed_start, feed_read and feed_transcript to that node, so that a cursor is
-- read where it was taken; each node's feed_origin is its own, so a cursor
-- taken to another node (after a shard move) is reset, not misread.
-- What Citus cannot run there: a function given a row of a distributed table
-- (the shard's row type is another), a SQL function's parameterized
-- statement, and a function that queries distributed tables called from
-- inside such a query. So each statement below reads tables with the org in
-- hand, and the feed's helpers take values.

-- Whether the org's rows are on this node: always without Citus; on Citus,
-- where its shard is placed.
CREATE FUNCTION vox.org_is_local(org_id uuid) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Two statements: Citus' catalog is looked up only where it exists.
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = 'vox.outbox'::regclass) THEN
        RETURN true;
    END IF;
    RETURN EXISTS (SELECT FROM pg_dist_placement p
                    WHERE p.shardid = get_shard_id_for_distribution_column('vox.outbox', org_is_local.org_id)
                      AND p.groupid = (SELECT g.groupid FROM pg_dist_local_group g));
END
$$;
REVOKE ALL ON FUNCTION vox.org_is_local(uuid) FROM PUBLIC;
COMMENT ON FUNCTION vox.org_is_local(uuid) IS
    'Whether the org''s rows are stored on this node: true without Citus, else whether its shard is placed here';

-- The cursors of a node other than the org's would compare another server's
-- transaction ids: refused, not misread. Citus delegates a call only outside
-- a transaction block.
CREATE FUNCTION vox.feed_check_node(org_id uuid) RETURNS void
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT vox.org_is_local(org_id) THEN
        RAISE EXCEPTION 'the live feed of an org is read on the Citus node that holds it'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Call vox.feed_start, vox.feed_read and vox.feed_transcript outside a transaction block, which Citus delegates to that node.';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION vox.feed_check_node(uuid) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_check_node(uuid) IS
    'Raises 0A000 unless the org''s rows are on this node, where its feed cursors are read';

DROP FUNCTION vox.feed_event(vox.outbox);
DROP FUNCTION vox.feed_call(vox.call_logs);
DROP FUNCTION vox.feed_utterance(vox.call_transcripts);

CREATE FUNCTION vox.feed_utterance(role text, words text, spoken_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT jsonb_build_object('role', feed_utterance.role, 'text', feed_utterance.words, 'at', feed_utterance.spoken_at) $$;
REVOKE ALL ON FUNCTION vox.feed_utterance(text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_utterance(text, text, timestamptz) IS
    'A transcript line as the feed shows it (spoken_at: when it was spoken, else when it was stored)';

CREATE FUNCTION vox.feed_recordings(org_id uuid, call_ids text[]) RETURNS TABLE (vapi_call_id text, state text)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
        SELECT q.vapi_call_id,
               CASE q.status
                   WHEN 'pending' THEN 'waiting'
                   WHEN 'dead' THEN 'failed'
                   ELSE CASE WHEN q.object_deleted_at IS NULL
                                  AND NOT EXISTS (SELECT FROM vox.recording_deletions d
                                                   WHERE d.org_id = feed_recordings.org_id
                                                     AND d.storage_path = q.storage_path)
                             THEN 'archived' ELSE 'deleted' END
               END
          FROM vox.recording_upload_queue q
         WHERE q.org_id = feed_recordings.org_id AND q.vapi_call_id = ANY (feed_recordings.call_ids);
    RETURN QUERY
        SELECT DISTINCT d.vapi_call_id, 'deleted'::text
          FROM vox.recording_deletions d
         WHERE d.org_id = feed_recordings.org_id AND d.vapi_call_id = ANY (feed_recordings.call_ids)
           AND NOT EXISTS (SELECT FROM vox.recording_upload_queue q
                            WHERE q.org_id = feed_recordings.org_id AND q.vapi_call_id = d.vapi_call_id);
END
$$;
REVOKE ALL ON FUNCTION vox.feed_recordings(uuid, text[]) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_recordings(uuid, text[]) IS
    'The state of each named call''s recording that has one: waiting, archived (playable), failed or deleted';

CREATE OR REPLACE FUNCTION vox.recording_state(org_id uuid, vapi_call_id text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT r.state FROM vox.feed_recordings(recording_state.org_id, ARRAY[recording_state.vapi_call_id]) r);
END
$$;

CREATE FUNCTION vox.feed_calls(org_id uuid, call_ids text[])
RETURNS TABLE (vapi_call_id text, updated_at timestamptz, call jsonb, report jsonb)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recordings jsonb := (SELECT jsonb_object_agg(r.vapi_call_id, r.state)
                           FROM vox.feed_recordings(feed_calls.org_id, feed_calls.call_ids) r);
BEGIN
    RETURN QUERY
        SELECT l.vapi_call_id, l.updated_at,
               jsonb_build_object(
                   'call_id', l.vapi_call_id, 'status', l.status, 'channel', l.channel, 'caller', l.customer_number,
                   'caller_name', (SELECT p.name FROM vox.leads p WHERE p.org_id = feed_calls.org_id AND p.id = l.lead_id),
                   'started_at', l.started_at, 'ended_at', l.ended_at, 'duration_seconds', l.duration_seconds,
                   'ended_reason', l.ended_reason, 'outcome', l.outcome, 'updated_at', l.updated_at,
                   'latest', (SELECT vox.feed_utterance(t.role, t.text, COALESCE(t.spoken_at, t.created_at))
                                FROM vox.call_transcripts t
                               WHERE t.org_id = feed_calls.org_id AND t.vapi_call_id = l.vapi_call_id
                               ORDER BY COALESCE(t.spoken_at, t.created_at) DESC, t.id DESC LIMIT 1),
                   'recording', recordings ->> l.vapi_call_id),
               jsonb_build_object('summary', l.summary, 'outcome', l.outcome, 'has_recording', l.recording_url IS NOT NULL)
          FROM vox.call_logs l
         WHERE l.org_id = feed_calls.org_id AND l.vapi_call_id = ANY (feed_calls.call_ids);
END
$$;
REVOKE ALL ON FUNCTION vox.feed_calls(uuid, text[]) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_calls(uuid, text[]) IS
    'The named calls as the feed shows them (state, caller, duration, latest transcript line, recording''s state), and each one''s report';

CREATE OR REPLACE FUNCTION vox.feed_start(org_id uuid, max_calls integer DEFAULT 50, OUT cursor text, OUT calls jsonb)
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recent text[];
BEGIN
    PERFORM vox.feed_check_node(org_id);
    cursor := vox.feed_cursor(pg_current_snapshot(), pg_current_snapshot(), 0);
    recent := ARRAY(SELECT l.vapi_call_id FROM vox.call_logs l WHERE l.org_id = feed_start.org_id
                     ORDER BY l.updated_at DESC LIMIT greatest(feed_start.max_calls, 0));
    SELECT COALESCE(jsonb_agg(c.call ORDER BY c.updated_at DESC, c.vapi_call_id), '[]')
      INTO calls FROM vox.feed_calls(org_id, recent) c;
END
$$;

CREATE OR REPLACE FUNCTION vox.feed_read(org_id uuid, after text, max_events integer DEFAULT 500)
RETURNS TABLE (cursor text, topic text, data jsonb)
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part text[] := string_to_array(after, '/');
    base pg_snapshot;
    upto pg_snapshot;
    after_id bigint;
    now_snapshot pg_snapshot := pg_current_snapshot();
    horizon xid8;
    -- The rows to send, in order: first (part 1) those between the
    -- cursor's two snapshots, then (part 2) those between its second and
    -- now. A row this node sees whose transaction id it has not reached was
    -- moved here with its shard (Citus keeps the old node's ids): it counts
    -- from when it has.
    page jsonb;
    calls jsonb;
    utterances jsonb;
    transcript_ids bigint[];
BEGIN
    PERFORM vox.feed_check_node(org_id);
    BEGIN
        IF cardinality(part) <> 5 OR part[1] <> '1' OR part[2] <> (SELECT o.id FROM vox.feed_origin o)
           OR part[5] !~ '^[0-9]{1,18}$' THEN
            RAISE invalid_text_representation;
        END IF;
        base := part[3]::pg_snapshot;
        upto := part[4]::pg_snapshot;
        after_id := part[5]::bigint;
    EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
        base := NULL;
    END;
    -- A cursor's snapshots follow each other and precede now; anything else
    -- was not made here.
    IF base IS NULL OR pg_snapshot_xmin(upto) < pg_snapshot_xmin(base)
       OR pg_snapshot_xmax(upto) < pg_snapshot_xmax(base)
       OR pg_snapshot_xmax(upto) > pg_snapshot_xmax(now_snapshot) THEN
        RETURN QUERY SELECT vox.feed_cursor(now_snapshot, now_snapshot, 0), 'reset'::text,
                            jsonb_build_object('reason', 'cursor_invalid');
        RETURN;
    END IF;
    SELECT h.removed_through INTO horizon FROM vox.feed_horizons h WHERE h.org_id = feed_read.org_id;
    IF horizon IS NOT NULL AND NOT pg_visible_in_snapshot(horizon, base) THEN
        RETURN QUERY SELECT vox.feed_cursor(now_snapshot, now_snapshot, 0), 'reset'::text,
                            jsonb_build_object('reason', 'cursor_expired');
        RETURN;
    END IF;
    SELECT COALESCE(jsonb_agg(jsonb_build_object('part', o.part, 'id', o.id, 'topic', o.topic, 'call_id', o.vapi_call_id,
                                                 'at', o.created_at, 'transcript_id', o.payload ->> 'transcript_id')
                              ORDER BY o.part, o.id), '[]')
      INTO page
      FROM (SELECT * FROM ((SELECT 1 AS part, o.* FROM vox.outbox o
                             WHERE o.org_id = feed_read.org_id AND o.committed_by >= pg_snapshot_xmin(base)
                               AND pg_visible_in_snapshot(o.committed_by, upto)
                               AND NOT pg_visible_in_snapshot(o.committed_by, base)
                               AND o.id > after_id
                             ORDER BY o.id LIMIT max_events)
                            UNION ALL
                            (SELECT 2, o.* FROM vox.outbox o
                              WHERE o.org_id = feed_read.org_id AND o.committed_by >= pg_snapshot_xmin(upto)
                                AND NOT pg_visible_in_snapshot(o.committed_by, upto)
                                AND pg_visible_in_snapshot(o.committed_by, now_snapshot)
                              ORDER BY o.id LIMIT max_events)) o
             ORDER BY o.part, o.id LIMIT max_events) o;
    -- What the events say, read when the feed is read, so that a call's
    -- state is never older than its event.
    SELECT jsonb_object_agg(c.vapi_call_id, jsonb_build_object('call', c.call, 'report', c.report))
      INTO calls
      FROM vox.feed_calls(org_id, ARRAY(SELECT DISTINCT e ->> 'call_id' FROM jsonb_array_elements(page) e
                                         WHERE e ->> 'call_id' IS NOT NULL)) c;
    transcript_ids := ARRAY(SELECT (e ->> 'transcript_id')::bigint FROM jsonb_array_elements(page) e
                             WHERE e ->> 'topic' = 'transcript');
    SELECT jsonb_object_agg(t.id, vox.feed_utterance(t.role, t.text, COALESCE(t.spoken_at, t.created_at)))
      INTO utterances
      FROM vox.call_transcripts t
     WHERE t.org_id = feed_read.org_id AND t.id = ANY (transcript_ids);
    RETURN QUERY
        SELECT CASE WHEN e.item ->> 'part' = '1' THEN vox.feed_cursor(base, upto, (e.item ->> 'id')::bigint)
                    ELSE vox.feed_cursor(upto, now_snapshot, (e.item ->> 'id')::bigint) END,
               e.item ->> 'topic',
               jsonb_strip_nulls(jsonb_build_object(
                   'topic', e.item -> 'topic', 'call_id', e.item -> 'call_id', 'committed_at', e.item -> 'at',
                   'utterance', CASE WHEN e.item ->> 'topic' = 'transcript' THEN utterances -> (e.item ->> 'transcript_id') END,
                   'report', CASE WHEN e.item ->> 'topic' = 'end-of-call-report'
                                  THEN calls -> (e.item ->> 'call_id') -> 'report' END))
               || jsonb_build_object('call', calls -> (e.item ->> 'call_id') -> 'call')
          FROM jsonb_array_elements(page) WITH ORDINALITY e(item, n)
         ORDER BY e.n;
END
$$;

CREATE OR REPLACE FUNCTION vox.feed_transcript(org_id uuid, vapi_call_id text, max_lines integer DEFAULT 500) RETURNS jsonb
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lines jsonb;
BEGIN
    PERFORM vox.feed_check_node(org_id);
    SELECT COALESCE(jsonb_agg(vox.feed_utterance(l.role, l.text, l.at) ORDER BY l.at, l.id), '[]')
      INTO lines
      FROM (SELECT t.role, t.text, COALESCE(t.spoken_at, t.created_at) AS at, t.id FROM vox.call_transcripts t
             WHERE t.org_id = feed_transcript.org_id AND t.vapi_call_id = feed_transcript.vapi_call_id
             ORDER BY at, t.id LIMIT greatest(feed_transcript.max_lines, 0)) l;
    RETURN jsonb_build_object('call_id', feed_transcript.vapi_call_id, 'lines', lines);
END
$$;

-- The nodes whose commits notify vox-relay besides the one it is connected
-- to: a signed event is applied, and its NOTIFY sent, on its org's worker.
CREATE FUNCTION vox.feed_nodes() RETURNS TABLE (host text, port integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_node') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT n.nodename::text, n.nodeport FROM pg_dist_node n
         WHERE n.isactive AND n.noderole = 'primary' AND n.groupid <> (SELECT g.groupid FROM pg_dist_local_group g)
         ORDER BY n.groupid;
END
$$;
REVOKE ALL ON FUNCTION vox.feed_nodes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_nodes() TO vox_relay;
COMMENT ON FUNCTION vox.feed_nodes() IS
    'The other Citus nodes (host, port) vox-relay also LISTENs on, since an event is applied and notified on its org''s node; none without Citus';
