-- vox 0.1.0: schema, routing, call rows, idempotency, parking and queues.
-- Every tenant table carries org_id NOT NULL and every primary and unique key
-- of a tenant table includes it, so the schema can be distributed by org_id.

\echo Use "CREATE EXTENSION vox" to load this file. \quit

-- Created here, not by the control file, so that DROP EXTENSION removes it.
CREATE SCHEMA vox;
COMMENT ON SCHEMA vox IS 'vox: Vapi voice-call webhooks as tenant-scoped rows';

-- Routing -------------------------------------------------------------------

CREATE TABLE vox.organizations (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    default_region text        NOT NULL DEFAULT 'US' CHECK (default_region ~ '^[A-Z]{2}$'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vox.organizations IS 'Tenants. Every other tenant table references one.';
COMMENT ON COLUMN vox.organizations.default_region IS
    'ISO 3166-1 alpha-2 region used to read phone numbers written in national format';

CREATE TABLE vox.agents (
    org_id            uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    vapi_assistant_id text        NOT NULL,
    name              text        NOT NULL,
    role              text        NOT NULL,
    active            boolean     NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT agents_vapi_assistant_id_key UNIQUE (vapi_assistant_id),
    CONSTRAINT agents_org_role_key UNIQUE (org_id, role)
);
COMMENT ON TABLE vox.agents IS 'Vapi assistants owned by an org; the owner of call.assistantId is the tenant of a call';
COMMENT ON COLUMN vox.agents.vapi_assistant_id IS 'Vapi assistant id; globally unique because it routes events to one org';
COMMENT ON COLUMN vox.agents.role IS 'What the agent does for the org (inbound, outbound, ...); one agent per role';
COMMENT ON COLUMN vox.agents.active IS 'Inactive agents do not resolve a tenant; their events are parked';

CREATE TABLE vox.phone_numbers (
    org_id               uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    vapi_phone_number_id text        NOT NULL,
    number               text        NOT NULL CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    agent_id             uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT phone_numbers_vapi_phone_number_id_key UNIQUE (vapi_phone_number_id),
    CONSTRAINT phone_numbers_org_number_key UNIQUE (org_id, number),
    CONSTRAINT phone_numbers_agent_fk FOREIGN KEY (org_id, agent_id) REFERENCES vox.agents (org_id, id)
);
-- assistant-request may name the dialled number rather than its Vapi id.
CREATE INDEX phone_numbers_number_idx ON vox.phone_numbers (number);
COMMENT ON TABLE vox.phone_numbers IS 'Vapi phone numbers owned by an org and the agent that answers them';
COMMENT ON COLUMN vox.phone_numbers.number IS 'The number in E.164';
COMMENT ON COLUMN vox.phone_numbers.agent_id IS 'Agent whose assistant answers inbound calls (assistant-request)';

CREATE TABLE vox.leads (
    org_id     uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    phone      text        CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    name       text,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX leads_org_phone_idx ON vox.leads (org_id, phone, created_at);
COMMENT ON TABLE vox.leads IS 'Contacts of an org; calls are linked to the oldest lead with the caller''s number';
COMMENT ON COLUMN vox.leads.phone IS 'The number in E.164';

-- Calls ---------------------------------------------------------------------

CREATE FUNCTION vox.call_status_rank(status text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE status
    WHEN 'scheduled'   THEN 1
    WHEN 'queued'      THEN 2
    WHEN 'ringing'     THEN 3
    WHEN 'in-progress' THEN 4
    WHEN 'forwarding'  THEN 5
    WHEN 'ended'       THEN 6
    ELSE 0
END;
COMMENT ON FUNCTION vox.call_status_rank(text) IS
    'Position of a call status in its lifecycle; status only ever moves to a higher rank';

CREATE DOMAIN vox.call_status AS text
    CHECK (VALUE IN ('scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended'));
COMMENT ON DOMAIN vox.call_status IS 'Vapi call statuses that vox stores, in lifecycle order';

CREATE DOMAIN vox.call_channel AS text CHECK (VALUE IN ('inbound', 'outbound', 'web'));
COMMENT ON DOMAIN vox.call_channel IS 'How the call reached the caller: phone inbound, phone outbound, or web';

CREATE TABLE vox.call_tracking (
    org_id        uuid             NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    vapi_call_id  text             NOT NULL,
    agent_id      uuid,
    agent_route   smallint         NOT NULL DEFAULT 0 CHECK (agent_route BETWEEN 0 AND 3),
    lead_id       uuid,
    channel       vox.call_channel,
    status        vox.call_status,
    registered_at timestamptz,
    metadata      jsonb            NOT NULL DEFAULT '{}',
    created_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, vapi_call_id),
    CONSTRAINT call_tracking_agent_fk FOREIGN KEY (org_id, agent_id) REFERENCES vox.agents (org_id, id),
    CONSTRAINT call_tracking_lead_fk FOREIGN KEY (org_id, lead_id) REFERENCES vox.leads (org_id, id)
);
CREATE INDEX call_tracking_vapi_call_id_idx ON vox.call_tracking (vapi_call_id);
COMMENT ON TABLE vox.call_tracking IS
    'One row per call: who the call belongs to (agent, lead) and whether the app registered it';
COMMENT ON COLUMN vox.call_tracking.agent_route IS
    'Where agent_id came from: 3 the outbound registration, 2 the call''s assistant, 1 the dialled number, 0 none; a higher route overrides a lower one';
COMMENT ON COLUMN vox.call_tracking.registered_at IS
    'When the app announced this outbound call with vox.register_outbound_call; NULL for calls first seen by webhook';

CREATE TABLE vox.call_logs (
    org_id           uuid             NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    vapi_call_id     text             NOT NULL,
    channel          vox.call_channel,
    is_test_call     boolean          NOT NULL DEFAULT false,
    status           vox.call_status,
    customer_number  text             CHECK (customer_number ~ '^\+[1-9][0-9]{1,14}$'),
    started_at       timestamptz,
    ended_at         timestamptz,
    duration_seconds numeric GENERATED ALWAYS AS (extract(epoch FROM ended_at - started_at)) STORED,
    ended_reason     text,
    outcome          text,
    summary          text,
    transcript       text,
    recording_url    text,
    cost             numeric,
    lead_id          uuid,
    agent_id         uuid,
    agent_route      smallint         NOT NULL DEFAULT 0 CHECK (agent_route BETWEEN 0 AND 3),
    metadata         jsonb            NOT NULL DEFAULT '{}',
    report_received  boolean          NOT NULL DEFAULT false,
    created_at       timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, vapi_call_id),
    CONSTRAINT call_logs_agent_fk FOREIGN KEY (org_id, agent_id) REFERENCES vox.agents (org_id, id),
    CONSTRAINT call_logs_lead_fk FOREIGN KEY (org_id, lead_id) REFERENCES vox.leads (org_id, id)
);
CREATE INDEX call_logs_org_started_idx ON vox.call_logs (org_id, started_at DESC);
COMMENT ON TABLE vox.call_logs IS 'One row per call: the record the dashboard shows';
COMMENT ON COLUMN vox.call_logs.channel IS 'inbound, outbound or web, from call.type or the outbound registration';
COMMENT ON COLUMN vox.call_logs.is_test_call IS 'Set by the outbound registration''s metadata.is_test_call';
COMMENT ON COLUMN vox.call_logs.customer_number IS
    'Caller or callee in E.164; NULL when the caller id is not a number (raw value in metadata.caller_id_raw)';
COMMENT ON COLUMN vox.call_logs.duration_seconds IS 'ended_at - started_at; Vapi sends no duration';
COMMENT ON COLUMN vox.call_logs.outcome IS 'analysis.successEvaluation of the end-of-call-report';
COMMENT ON COLUMN vox.call_logs.agent_route IS
    'Where agent_id came from: 3 the outbound registration, 2 the call''s assistant, 1 the dialled number, 0 none';
COMMENT ON COLUMN vox.call_logs.report_received IS
    'The end-of-call-report was applied; its values take precedence over those of status updates';

CREATE TABLE vox.calls (
    org_id           uuid            NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    vapi_call_id     text            NOT NULL,
    status           vox.call_status,
    customer_number  text            CHECK (customer_number ~ '^\+[1-9][0-9]{1,14}$'),
    started_at       timestamptz,
    ended_at         timestamptz,
    duration_seconds numeric GENERATED ALWAYS AS (extract(epoch FROM ended_at - started_at)) STORED,
    cost             numeric,
    created_at       timestamptz     NOT NULL DEFAULT now(),
    updated_at       timestamptz     NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, vapi_call_id)
);
COMMENT ON TABLE vox.calls IS 'One row per call: the compact summary used for billing and reporting';

CREATE TABLE vox.call_transcripts (
    org_id       uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    vapi_call_id text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('assistant', 'user')),
    text         text        NOT NULL,
    spoken_at    timestamptz,
    content_key  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT call_transcripts_content_key UNIQUE (org_id, vapi_call_id, content_key)
);
COMMENT ON TABLE vox.call_transcripts IS
    'Final utterances, one row each; kept even when they arrive before the call is known';
COMMENT ON COLUMN vox.call_transcripts.spoken_at IS 'The transcript message''s own timestamp';
COMMENT ON COLUMN vox.call_transcripts.content_key IS
    'Hash of role, words and the utterance''s timestamp: a retry collides, the same words said again do not';

-- Idempotency and parking ---------------------------------------------------

CREATE TABLE vox.processed_webhook_events (
    org_id       uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    event_id     text        NOT NULL,
    event_type   text        NOT NULL,
    vapi_call_id text,
    delivery_id  text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, event_id),
    CONSTRAINT processed_webhook_events_delivery_key UNIQUE (org_id, delivery_id)
);
CREATE INDEX processed_webhook_events_received_idx ON vox.processed_webhook_events (received_at);
COMMENT ON TABLE vox.processed_webhook_events IS
    'Idempotency marks: written in the same transaction as the effects of the event they name';
COMMENT ON COLUMN vox.processed_webhook_events.event_id IS
    'Stable key derived from the event (type, call, status or utterance), identical across retries';
COMMENT ON COLUMN vox.processed_webhook_events.delivery_id IS
    'The sender''s delivery id (webhook-id header) when there was one; a second delivery with it is a duplicate';

CREATE TABLE vox.parked_events (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key            text        NOT NULL UNIQUE,
    event_type           text        NOT NULL,
    vapi_call_id         text,
    vapi_assistant_id    text,
    vapi_phone_number_id text,
    reason               text        NOT NULL,
    payload              jsonb       NOT NULL,
    delivery_id          text,
    signer_org_id        uuid,
    attempts             integer     NOT NULL DEFAULT 0,
    last_error           text,
    received_at          timestamptz NOT NULL DEFAULT now(),
    last_attempt_at      timestamptz
);
CREATE INDEX parked_events_received_idx ON vox.parked_events (received_at, id);
CREATE INDEX parked_events_vapi_call_id_idx ON vox.parked_events (vapi_call_id, received_at, id);
CREATE INDEX parked_events_vapi_assistant_id_idx ON vox.parked_events (vapi_assistant_id, received_at, id);
CREATE INDEX parked_events_vapi_phone_number_id_idx ON vox.parked_events (vapi_phone_number_id, received_at, id);
COMMENT ON TABLE vox.parked_events IS
    'Events whose tenant cannot be resolved yet. Not a tenant table: no org is known until replay resolves one.';
COMMENT ON COLUMN vox.parked_events.event_key IS
    'Idempotency key of the event with the assistant and phone number it names; a redelivery is parked once';
COMMENT ON COLUMN vox.parked_events.reason IS 'Why no tenant was found: unknown_assistant, inactive_assistant, unknown_phone_number, unknown_call or ambiguous_call';
COMMENT ON COLUMN vox.parked_events.signer_org_id IS
    'The org whose URL and secret the event came with, if any: it may only be applied to that org';
COMMENT ON COLUMN vox.parked_events.attempts IS 'Replays that still could not resolve the tenant';

-- Side effects after commit -------------------------------------------------

CREATE TABLE vox.outbox (
    org_id       uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    topic        text        NOT NULL,
    vapi_call_id text,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX outbox_pending_idx ON vox.outbox (id) WHERE delivered_at IS NULL;
COMMENT ON TABLE vox.outbox IS
    'Changes to broadcast after commit (dashboard); one row per applied event, none for duplicates';

CREATE TABLE vox.recording_upload_queue (
    org_id        uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    vapi_call_id  text        NOT NULL,
    recording_url text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts      integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT recording_upload_queue_call_key UNIQUE (org_id, vapi_call_id)
);
CREATE INDEX recording_upload_queue_pending_idx ON vox.recording_upload_queue (id) WHERE status = 'pending';
COMMENT ON TABLE vox.recording_upload_queue IS 'Recordings to copy to storage, one per call, enqueued by the end-of-call-report';

-- Webhook secrets --------------------------------------------------------------

-- Read by the shim only through vox.webhook_secrets_for(): no role but the
-- owner can select the table.
CREATE TABLE vox.webhook_secrets (
    org_id             uuid        NOT NULL REFERENCES vox.organizations ON DELETE CASCADE,
    id                 bigint      GENERATED ALWAYS AS IDENTITY,
    scheme             text        NOT NULL CHECK (scheme IN ('shared', 'hmac', 'standard-webhooks')),
    secret             text        NOT NULL CHECK (length(secret) BETWEEN 1 AND 1024),
    algorithm          text        NOT NULL DEFAULT 'sha256' CHECK (algorithm IN ('sha256', 'sha512', 'sha1')),
    signature_header   text        NOT NULL DEFAULT 'x-signature' CHECK (signature_header ~ '^[A-Za-z0-9-]+$'),
    signature_encoding text        NOT NULL DEFAULT 'hex' CHECK (signature_encoding IN ('hex', 'base64')),
    signature_prefix   text        NOT NULL DEFAULT '',
    include_timestamp  boolean     NOT NULL DEFAULT true,
    timestamp_header   text        NOT NULL DEFAULT 'x-timestamp' CHECK (timestamp_header ~ '^[A-Za-z0-9-]+$'),
    payload_format     text        CHECK (strpos(payload_format, '{body}') > 0 AND
                                          replace(replace(payload_format, '{timestamp}', ''), '{body}', '') !~ '[{}]'),
    message_id_header  text        CHECK (message_id_header ~ '^[A-Za-z0-9-]+$'),
    active             boolean     NOT NULL DEFAULT true,
    expires_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    -- A timestamp that is checked but not signed could be replaced at will.
    CONSTRAINT webhook_secrets_timestamp_signed CHECK (NOT include_timestamp OR strpos(payload_format, '{timestamp}') > 0)
);
COMMENT ON TABLE vox.webhook_secrets IS
    'Secrets that sign an org''s webhooks to POST /webhooks/vapi/{org_id}; several active ones allow rotation';
COMMENT ON COLUMN vox.webhook_secrets.scheme IS
    'shared (x-vapi-secret or Authorization: Bearer), hmac (Vapi''s HMAC credential) or standard-webhooks';
COMMENT ON COLUMN vox.webhook_secrets.secret IS 'The shared secret, the HMAC key, or the whsec_ key of Standard Webhooks';
COMMENT ON COLUMN vox.webhook_secrets.algorithm IS 'hmac: the digest (sha256, sha512, sha1)';
COMMENT ON COLUMN vox.webhook_secrets.signature_header IS 'hmac: the header carrying the signature';
COMMENT ON COLUMN vox.webhook_secrets.signature_encoding IS 'hmac: hex or base64';
COMMENT ON COLUMN vox.webhook_secrets.signature_prefix IS 'hmac: text before the signature, such as sha256=';
COMMENT ON COLUMN vox.webhook_secrets.include_timestamp IS 'hmac: a timestamp header is required and checked';
COMMENT ON COLUMN vox.webhook_secrets.timestamp_header IS 'hmac: the header carrying the Unix timestamp';
COMMENT ON COLUMN vox.webhook_secrets.payload_format IS
    'hmac: what is signed, with {timestamp} and {body}; NULL: {timestamp}.{body}, or {body} without timestamp';
COMMENT ON COLUMN vox.webhook_secrets.message_id_header IS 'hmac: the header carrying the delivery id, if any';
COMMENT ON COLUMN vox.webhook_secrets.active IS 'false: no longer accepted';
COMMENT ON COLUMN vox.webhook_secrets.expires_at IS 'Not accepted from then on: the end of a rotation''s overlap';

CREATE FUNCTION vox.webhook_secrets_for(org_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(jsonb_agg(jsonb_build_object('scheme', s.scheme, 'secret', s.secret) ||
               CASE WHEN s.scheme = 'hmac' THEN jsonb_strip_nulls(jsonb_build_object(
                   'algorithm', s.algorithm, 'signature_header', s.signature_header,
                   'signature_encoding', s.signature_encoding, 'signature_prefix', s.signature_prefix,
                   'include_timestamp', s.include_timestamp, 'timestamp_header', s.timestamp_header,
                   'payload_format', s.payload_format, 'message_id_header', s.message_id_header))
               ELSE '{}' END ORDER BY s.id), '[]')
      FROM vox.webhook_secrets s
     WHERE s.org_id = webhook_secrets_for.org_id AND s.active AND (s.expires_at IS NULL OR s.expires_at > now())
$$;
REVOKE ALL ON FUNCTION vox.webhook_secrets_for(uuid) FROM PUBLIC;
COMMENT ON FUNCTION vox.webhook_secrets_for(uuid) IS
    'The org''s accepted webhook secrets as a JSON array (the shim''s secrets-file shape); grant EXECUTE to the shim''s role';

-- Functions -----------------------------------------------------------------
-- Each runs with a fixed search_path: the statements inside name vox's tables
-- in full, and no caller's schema can stand in for an operator or function.

-- The webhook entry points are SECURITY DEFINER: a caller such as the shim
-- needs EXECUTE on them, never privileges on the tables they write.
CREATE FUNCTION vox.handle_event(payload jsonb, delivery_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_handle_event';
REVOKE ALL ON FUNCTION vox.handle_event(jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION vox.handle_event(jsonb, text) IS
    'Applies one Vapi server message in the caller''s transaction; returns {"status": processed|duplicate|ignored|parked, ...}';

CREATE FUNCTION vox.handle_event(org_id uuid, payload jsonb, delivery_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_handle_event_for_org';
REVOKE ALL ON FUNCTION vox.handle_event(uuid, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION vox.handle_event(uuid, jsonb, text) IS
    'As handle_event(payload), for a request signed by org_id: the event may only resolve to that org (else 22023); NULL org_id: no signer';

CREATE FUNCTION vox.replay_parked() RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_replay_parked';
COMMENT ON FUNCTION vox.replay_parked() IS
    'Applies every parked event whose tenant can now be resolved, oldest first; returns how many were applied';

CREATE FUNCTION vox.register_outbound_call(org_id uuid, vapi_call_id text, agent_id uuid DEFAULT NULL,
                                           lead_id uuid DEFAULT NULL, metadata jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_register_outbound_call';
COMMENT ON FUNCTION vox.register_outbound_call(uuid, text, uuid, uuid, jsonb) IS
    'Announces an outbound call the app started; converges with webhook rows in either order and replays its parked events';

-- A new or re-activated agent, or a new phone number, resolves the parked
-- events that name it, at once and in the same transaction.
CREATE FUNCTION vox.replay_parked_trigger() RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'vox_replay_parked_trigger';
COMMENT ON FUNCTION vox.replay_parked_trigger() IS
    'Row trigger: replays the parked events naming the new row''s routing key (the trigger argument: vapi_assistant_id or vapi_phone_number_id)';

CREATE TRIGGER agents_replay_parked AFTER INSERT OR UPDATE OF vapi_assistant_id, active ON vox.agents
    FOR EACH ROW WHEN (NEW.active) EXECUTE FUNCTION vox.replay_parked_trigger('vapi_assistant_id');
CREATE TRIGGER phone_numbers_replay_parked AFTER INSERT OR UPDATE OF vapi_phone_number_id ON vox.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION vox.replay_parked_trigger('vapi_phone_number_id');
