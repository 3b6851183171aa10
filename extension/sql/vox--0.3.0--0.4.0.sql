-- vox 0.4.0: the live feed (vox-relay reads each org's committed outbox rows
-- in commit order, resumable by cursor, without claiming them) and the
-- credentials a dashboard reads it with.

\echo Use "ALTER EXTENSION vox UPDATE TO '0.4.0'" to load this file. \quit

-- Commit order ---------------------------------------------------------------------
-- An outbox id comes from a sequence: a transaction that took id 10 can commit
-- after one that took id 11. What a reader can rely on is visibility: a row
-- is new to a reader that saw snapshot S when its writer's transaction id is
-- not visible in S. Each row keeps that id; the feed's cursor keeps snapshots.
-- Existing rows get the upgrading transaction's id: committed, visible to
-- every later snapshot.
ALTER TABLE vox.outbox ADD COLUMN committed_by xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id();
COMMENT ON COLUMN vox.outbox.committed_by IS
    'The top-level transaction that wrote the row: the feed delivers a row to a cursor whose snapshot did not see it';
CREATE INDEX outbox_feed_idx ON vox.outbox (org_id, committed_by);

-- A restore copies rows under transaction ids of another server: they are
-- written again by the restoring transaction instead, so that they are
-- neither hidden from nor delivered twice to cursors taken after it.
CREATE FUNCTION vox.outbox_committed_by() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.committed_by := pg_current_xact_id();
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION vox.outbox_committed_by() FROM PUBLIC;
COMMENT ON FUNCTION vox.outbox_committed_by() IS
    'Row trigger: an outbox row inserted with another transaction''s id (a restore) gets the inserting transaction''s';
-- WHEN keeps the trigger off the webhook path: a row that took the default
-- never calls the function. ALWAYS: a restore runs with
-- session_replication_role = replica, which silences ordinary triggers.
CREATE TRIGGER outbox_committed_by BEFORE INSERT ON vox.outbox
    FOR EACH ROW WHEN (NEW.committed_by OPERATOR(pg_catalog.<>) pg_catalog.pg_current_xact_id())
    EXECUTE FUNCTION vox.outbox_committed_by();
ALTER TABLE vox.outbox ENABLE ALWAYS TRIGGER outbox_committed_by;

-- Which database a cursor belongs to. Not dumped on purpose: a restored
-- database gets a new origin, and cursors of the old one are reset rather
-- than read against transaction ids of another server.
CREATE TABLE vox.feed_origin (
    id   text NOT NULL DEFAULT pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 1, 12),
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row)
);
INSERT INTO vox.feed_origin DEFAULT VALUES;
ALTER TABLE vox.feed_origin ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE vox.feed_origin IS
    'This database''s feed origin, named in every cursor; not dumped, so a restore starts a new one and old cursors reset';

-- Per org, the newest transaction whose outbox rows maintenance deleted: a
-- cursor whose snapshot did not see it may have missed them.
CREATE TABLE vox.feed_horizons (
    org_id          uuid PRIMARY KEY REFERENCES vox.organizations ON DELETE CASCADE,
    removed_through xid8 NOT NULL
);
ALTER TABLE vox.feed_horizons ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE vox.feed_horizons IS
    'Per org, the newest committed_by of an outbox row deleted by maintenance: older cursors get a reset';
COMMENT ON COLUMN vox.feed_horizons.removed_through IS 'max(committed_by) of the org''s deleted outbox rows';

-- A dashboard lists an org's calls by last change.
CREATE INDEX call_logs_org_updated_idx ON vox.call_logs (org_id, updated_at DESC);

-- Credentials ----------------------------------------------------------------------
-- A browser's EventSource cannot send headers, so a credential is a bearer
-- token that also works in a URL: per org, random (244 bits from
-- gen_random_uuid's pg_strong_random), stored only as its SHA-256. With an
-- expiry of minutes it is a ticket an application's backend mints for one
-- page; without one it is a server's token, valid until revoked.
CREATE TABLE vox.feed_credentials (
    org_id      uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    label       text        NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    secret_hash bytea       NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (org_id, id)
);
ALTER TABLE vox.feed_credentials ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON vox.feed_credentials FOR SELECT USING (org_id = vox.current_org_id());
COMMENT ON POLICY org_isolation ON vox.feed_credentials IS 'Only the rows of the org named by vox.org_id';
COMMENT ON TABLE vox.feed_credentials IS
    'Who may read an org''s live feed through vox-relay: tokens stored as SHA-256, never in clear';
COMMENT ON COLUMN vox.feed_credentials.label IS 'What the credential is for (a server, a dashboard session)';
COMMENT ON COLUMN vox.feed_credentials.secret_hash IS 'SHA-256 of the token';
COMMENT ON COLUMN vox.feed_credentials.expires_at IS 'Invalid from then on; NULL: until revoked';
COMMENT ON COLUMN vox.feed_credentials.revoked_at IS 'Revoked then: vox-relay ends its open streams within a second';

SELECT pg_catalog.pg_extension_config_dump('vox.feed_credentials', '');
SELECT pg_catalog.pg_extension_config_dump('vox.feed_credentials_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vox.feed_horizons', '');

-- Revocation within a second: vox-relay LISTENs and rechecks its streams.
CREATE FUNCTION vox.feed_credentials_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('vox_feed_credentials', OLD.org_id::text);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION vox.feed_credentials_notify() FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_credentials_notify() IS
    'Row trigger: NOTIFY vox_feed_credentials with the org id when a credential changes or goes (never the token)';
CREATE TRIGGER feed_credentials_notify AFTER UPDATE OR DELETE ON vox.feed_credentials
    FOR EACH ROW EXECUTE FUNCTION vox.feed_credentials_notify();

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'vox_relay') THEN
        CREATE ROLE vox_relay NOLOGIN;
        COMMENT ON ROLE vox_relay IS 'vox-relay''s login role is granted this: it may only read feeds through vox''s feed functions';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'vox_feed_issuer') THEN
        CREATE ROLE vox_feed_issuer NOLOGIN;
        COMMENT ON ROLE vox_feed_issuer IS 'An application backend is granted this: it may mint and revoke feed credentials';
    END IF;
END
$$;
GRANT USAGE ON SCHEMA vox TO vox_relay, vox_feed_issuer;

CREATE FUNCTION vox.create_feed_credential(org_id uuid, label text, valid_for interval DEFAULT NULL,
                                           OUT credential_id bigint, OUT token text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF org_id IS NULL OR label IS NULL THEN
        RAISE EXCEPTION 'a feed credential needs an org and a label' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF valid_for <= interval '0' THEN
        RAISE EXCEPTION 'valid_for must be positive, got %', valid_for USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM vox.organizations o WHERE o.id = create_feed_credential.org_id) THEN
        RAISE EXCEPTION 'no organization %', org_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Tickets minted per page view must not pile up: the org's credentials
    -- expired for a day go.
    DELETE FROM vox.feed_credentials c
     WHERE c.org_id = create_feed_credential.org_id AND c.expires_at < now() - interval '1 day';
    token := 'vxf_' || rtrim(translate(encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'base64'),
                                       '+/', '-_'), '=');
    INSERT INTO vox.feed_credentials (org_id, label, secret_hash, expires_at)
    VALUES (create_feed_credential.org_id, create_feed_credential.label, sha256(convert_to(token, 'UTF8')),
            now() + valid_for)
    RETURNING id INTO credential_id;
END
$$;
REVOKE ALL ON FUNCTION vox.create_feed_credential(uuid, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.create_feed_credential(uuid, text, interval) TO vox_feed_issuer;
COMMENT ON FUNCTION vox.create_feed_credential(uuid, text, interval) IS
    'Mints a token that reads one org''s feed: valid_for NULL until revoked, or a ticket of minutes for a page URL; only its hash is kept';

CREATE FUNCTION vox.revoke_feed_credential(credential_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH revoked AS (
        UPDATE vox.feed_credentials SET revoked_at = now()
         WHERE id = revoke_feed_credential.credential_id AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM revoked)
$$;
REVOKE ALL ON FUNCTION vox.revoke_feed_credential(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.revoke_feed_credential(bigint) TO vox_feed_issuer;
COMMENT ON FUNCTION vox.revoke_feed_credential(bigint) IS
    'Revokes a feed credential (its open streams end within a second); false if it was already invalid';

CREATE FUNCTION vox.feed_authorize(org_id uuid, token text) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id FROM vox.feed_credentials c
     WHERE c.secret_hash = sha256(convert_to(feed_authorize.token, 'UTF8'))
       AND c.org_id = feed_authorize.org_id
       AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now())
$$;
REVOKE ALL ON FUNCTION vox.feed_authorize(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_authorize(uuid, text) TO vox_relay;
COMMENT ON FUNCTION vox.feed_authorize(uuid, text) IS
    'The credential id of a token valid now for that org, else NULL (another org''s token included)';

CREATE FUNCTION vox.feed_credentials_valid(credential_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id FROM vox.feed_credentials c
     WHERE c.id = ANY (feed_credentials_valid.credential_ids)
       AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now())
$$;
REVOKE ALL ON FUNCTION vox.feed_credentials_valid(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_credentials_valid(bigint[]) TO vox_relay;
COMMENT ON FUNCTION vox.feed_credentials_valid(bigint[]) IS
    'Those of the given credentials still valid now: vox-relay ends the streams of the others';

-- What the feed says ------------------------------------------------------------------
-- Enough for a dashboard to render without a second query; read when the
-- feed is read, so the state is never older than the event.

CREATE FUNCTION vox.feed_utterance(t vox.call_transcripts) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT jsonb_build_object('role', t.role, 'text', t.text, 'at', COALESCE(t.spoken_at, t.created_at)) $$;
REVOKE ALL ON FUNCTION vox.feed_utterance(vox.call_transcripts) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_utterance(vox.call_transcripts) IS 'A transcript line as the feed shows it';

CREATE FUNCTION vox.feed_call(l vox.call_logs) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'call_id', l.vapi_call_id, 'status', l.status, 'channel', l.channel, 'caller', l.customer_number,
        'caller_name', (SELECT p.name FROM vox.leads p WHERE p.org_id = l.org_id AND p.id = l.lead_id),
        'started_at', l.started_at, 'ended_at', l.ended_at, 'duration_seconds', l.duration_seconds,
        'ended_reason', l.ended_reason, 'outcome', l.outcome, 'updated_at', l.updated_at,
        'latest', (SELECT vox.feed_utterance(t) FROM vox.call_transcripts t
                    WHERE t.org_id = l.org_id AND t.vapi_call_id = l.vapi_call_id
                    ORDER BY COALESCE(t.spoken_at, t.created_at) DESC, t.id DESC LIMIT 1))
$$;
REVOKE ALL ON FUNCTION vox.feed_call(vox.call_logs) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_call(vox.call_logs) IS
    'A call as the feed shows it: state, caller, duration and its latest transcript line';

CREATE FUNCTION vox.feed_event(o vox.outbox) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'topic', o.topic, 'call_id', o.vapi_call_id, 'committed_at', o.created_at,
               'utterance', (SELECT vox.feed_utterance(t) FROM vox.call_transcripts t
                              WHERE o.topic = 'transcript' AND t.org_id = o.org_id
                                AND t.id = (o.payload ->> 'transcript_id')::bigint),
               'report', (SELECT jsonb_build_object('summary', l.summary, 'outcome', l.outcome,
                                                    'has_recording', l.recording_url IS NOT NULL)
                            FROM vox.call_logs l
                           WHERE o.topic = 'end-of-call-report' AND l.org_id = o.org_id
                             AND l.vapi_call_id = o.vapi_call_id)))
           || jsonb_build_object('call', (SELECT vox.feed_call(l) FROM vox.call_logs l
                                           WHERE l.org_id = o.org_id AND l.vapi_call_id = o.vapi_call_id))
$$;
REVOKE ALL ON FUNCTION vox.feed_event(vox.outbox) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_event(vox.outbox) IS
    'An outbox row as the feed sends it: topic, call, the call''s current state, and the utterance or report it is about';

-- Cursors ---------------------------------------------------------------------------
-- A cursor is "1/origin/B/S/id": every row whose transaction B saw has been
-- delivered, and of the rows S saw and B did not, those up to outbox id `id`
-- (a reader takes the rows between two snapshots in id order). Reading on
-- takes the rest of S, then the rows the reader's own snapshot sees and S did
-- not. Nothing committed after S is ever behind the cursor, whatever its id.

CREATE FUNCTION vox.feed_cursor(base pg_snapshot, upto pg_snapshot, id bigint) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT concat_ws('/', '1', (SELECT o.id FROM vox.feed_origin o), base, upto, id) $$;
REVOKE ALL ON FUNCTION vox.feed_cursor(pg_snapshot, pg_snapshot, bigint) FROM PUBLIC;
COMMENT ON FUNCTION vox.feed_cursor(pg_snapshot, pg_snapshot, bigint) IS 'Spells a feed cursor';

CREATE FUNCTION vox.feed_start(org_id uuid, max_calls integer DEFAULT 50, OUT cursor text, OUT calls jsonb)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT vox.feed_cursor(pg_current_snapshot(), pg_current_snapshot(), 0),
           COALESCE((SELECT jsonb_agg(vox.feed_call(l) ORDER BY l.updated_at DESC, l.vapi_call_id)
                       FROM (SELECT * FROM vox.call_logs l WHERE l.org_id = feed_start.org_id
                              ORDER BY l.updated_at DESC LIMIT greatest(feed_start.max_calls, 0)) l), '[]')
$$;
REVOKE ALL ON FUNCTION vox.feed_start(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_start(uuid, integer) TO vox_relay;
COMMENT ON FUNCTION vox.feed_start(uuid, integer) IS
    'Where a new reader starts: a cursor at now, and the org''s max_calls most recently changed calls';

CREATE FUNCTION vox.feed_read(org_id uuid, after text, max_events integer DEFAULT 500)
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
    taken integer := 0;
BEGIN
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
    -- The rest of what S saw and B did not, then what now sees and S did not.
    RETURN QUERY
        SELECT vox.feed_cursor(base, upto, o.id), o.topic, vox.feed_event(o)
          FROM vox.outbox o
         WHERE o.org_id = feed_read.org_id AND o.committed_by >= pg_snapshot_xmin(base)
           AND pg_visible_in_snapshot(o.committed_by, upto) AND NOT pg_visible_in_snapshot(o.committed_by, base)
           AND o.id > after_id
         ORDER BY o.id LIMIT max_events;
    GET DIAGNOSTICS taken = ROW_COUNT;
    IF taken < max_events THEN
        RETURN QUERY
            SELECT vox.feed_cursor(upto, now_snapshot, o.id), o.topic, vox.feed_event(o)
              FROM vox.outbox o
             WHERE o.org_id = feed_read.org_id AND o.committed_by >= pg_snapshot_xmin(upto)
               AND NOT pg_visible_in_snapshot(o.committed_by, upto)
             ORDER BY o.id LIMIT max_events - taken;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION vox.feed_read(uuid, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_read(uuid, text, integer) TO vox_relay;
COMMENT ON FUNCTION vox.feed_read(uuid, text, integer) IS
    'Up to max_events of the org''s outbox rows committed after the cursor, in commit order, each with the cursor after it; a cursor not made here or older than the retention gets one reset row';

CREATE FUNCTION vox.feed_transcript(org_id uuid, vapi_call_id text, max_lines integer DEFAULT 500) RETURNS jsonb
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('call_id', feed_transcript.vapi_call_id,
                              'lines', COALESCE(jsonb_agg(vox.feed_utterance(l.t) ORDER BY l.at, l.id), '[]'))
      FROM (SELECT t, COALESCE(t.spoken_at, t.created_at) AS at, t.id FROM vox.call_transcripts t
             WHERE t.org_id = feed_transcript.org_id AND t.vapi_call_id = feed_transcript.vapi_call_id
             ORDER BY at, t.id LIMIT greatest(feed_transcript.max_lines, 0)) l(t, at, id)
$$;
REVOKE ALL ON FUNCTION vox.feed_transcript(uuid, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vox.feed_transcript(uuid, text, integer) TO vox_relay;
COMMENT ON FUNCTION vox.feed_transcript(uuid, text, integer) IS
    'A call''s transcript lines, oldest first (at most max_lines), for a dashboard''s transcript pane';
