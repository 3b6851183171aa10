-- vox_bench.handle_event(payload jsonb): vox.handle_event's one-argument form
-- (no delivery id, no signing org) written in PL/pgSQL, for the benchmark's
-- comparison (DESIGN §4). Not part of the extension; load it into a database
-- where vox is installed: psql -v ON_ERROR_STOP=1 -f bench/plpgsql/handler.sql
-- It writes vox's own tables by vox's rules: the same validation, SQLSTATEs
-- and messages, tenant resolution, idempotency keys, merges, outbox and
-- recording rows, NOTIFY (vox.notify), parking, and replay of the events
-- parked for a call that has just appeared. bench/plpgsql/check.sh proves it.
-- Where it differs from vox:
--  * A caller id (or assistant-request's dialled number) counts as a number
--    only in E.164 form ^\+[1-9][0-9]{7,14}$; vox's libphonenumber also
--    reads formatted and national numbers and refuses impossible lengths.
--  * A number beyond double precision's range in message.timestamp or cost
--    fails with the same SQLSTATE (22003) but PostgreSQL's message.
--  * vox truncates error messages at 1023 bytes; this does not.
--  * vox's event counters (vox.event_counts, vox.stats) are not updated.
--  * Its replay ignores a parked row's delivery_id and signer_org_id, which
--    only vox's other forms of handle_event set. Replays that vox starts
--    (new agent or number, vox.replay_parked()) apply these rows with vox.
--  * A replayed event that is still unresolved was parked again and rolled
--    back, which uses up an identity value of vox.parked_events.id.

SET client_min_messages = warning;
DROP SCHEMA IF EXISTS vox_bench CASCADE;
RESET client_min_messages;
CREATE SCHEMA vox_bench;

-- Field readers --------------------------------------------------------------
-- Small SQL functions, inlined by the planner into the expressions that call
-- them (not STRICT, not SECURITY DEFINER, no SET clause), so reading a field
-- costs no function call. A JSON null counts as absent, as in vox. prefix is
-- the path of the object in error messages ('' for the payload's root).

CREATE FUNCTION vox_bench.invalid(field text, problem text, state text DEFAULT '22023') RETURNS text
LANGUAGE plpgsql VOLATILE  -- volatile: never folded at plan time
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = 'invalid ' || field || ': ' || problem;
END
$$;

CREATE FUNCTION vox_bench.path(prefix text, key text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN prefix = '' THEN key ELSE prefix || '.' || key END;

CREATE FUNCTION vox_bench.string_field(obj jsonb, key text, prefix text, max_bytes integer) RETURNS text
LANGUAGE sql VOLATILE
RETURN CASE coalesce(jsonb_typeof(obj -> key), 'null')
    WHEN 'null' THEN NULL
    WHEN 'string' THEN
        CASE WHEN octet_length(obj ->> key) > max_bytes
             THEN vox_bench.invalid(vox_bench.path(prefix, key), 'longer than ' || max_bytes || ' bytes', '22001')
             ELSE obj ->> key END
    ELSE vox_bench.invalid(vox_bench.path(prefix, key), 'expected a string')
END;

-- An identifier: 1 to 128 printable ASCII characters, no spaces.
CREATE FUNCTION vox_bench.id_field(obj jsonb, key text, prefix text) RETURNS text
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN jsonb_typeof(obj -> key) = 'string' AND obj ->> key = ''
        THEN vox_bench.invalid(vox_bench.path(prefix, key), 'must not be empty')
    WHEN jsonb_typeof(obj -> key) = 'string' AND octet_length(obj ->> key) <= 128 AND obj ->> key !~ '^[!-~]+$'
        THEN vox_bench.invalid(vox_bench.path(prefix, key), 'must be printable ASCII without spaces')
    ELSE vox_bench.string_field(obj, key, prefix, 128)
END;

CREATE FUNCTION vox_bench.object_field(obj jsonb, key text, prefix text) RETURNS jsonb
LANGUAGE sql VOLATILE
RETURN CASE coalesce(jsonb_typeof(obj -> key), 'null')
    WHEN 'null' THEN NULL
    WHEN 'object' THEN obj -> key
    ELSE vox_bench.invalid(vox_bench.path(prefix, key), 'expected an object')::jsonb
END;

CREATE FUNCTION vox_bench.number_field(obj jsonb, key text, prefix text) RETURNS numeric
LANGUAGE sql VOLATILE
RETURN CASE coalesce(jsonb_typeof(obj -> key), 'null')
    WHEN 'null' THEN NULL
    WHEN 'number' THEN (obj -> key)::numeric
    ELSE vox_bench.invalid(vox_bench.path(prefix, key), 'expected a number')::numeric
END;

-- An RFC 3339 date-time with a zone, years 2000 to 2099, as Vapi sends them;
-- NULL for anything else (no "now", "epoch" or DateStyle reading). The shape
-- is checked by a match without captures (PostgreSQL's regex engine is far
-- slower when it must report groups); the fields sit at fixed positions.
CREATE FUNCTION vox_bench.parse_rfc3339(value text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    year integer;
    month integer;
    day integer;
    zone text;
    fraction text;
    offset_seconds integer := 0;
BEGIN
    IF value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:?[0-9]{2})$' THEN
        RETURN NULL;
    END IF;
    year := substr(value, 1, 4);
    month := substr(value, 6, 2);
    day := substr(value, 9, 2);
    IF year NOT BETWEEN 2000 AND 2099 OR month NOT BETWEEN 1 AND 12 THEN
        RETURN NULL;
    END IF;
    IF day < 1 OR day > extract(day FROM make_date(year, month, 1) + interval '1 month - 1 day')
       OR substr(value, 12, 2)::integer > 23 OR substr(value, 15, 2)::integer > 59
       OR substr(value, 18, 2)::integer > 59 THEN
        RETURN NULL;
    END IF;
    -- The zone: Z, +hh:mm or +hhmm; between the seconds and it, ".digits".
    zone := CASE WHEN upper(right(value, 1)) = 'Z' THEN right(value, 1)
                 WHEN substr(value, length(value) - 2, 1) = ':' THEN right(value, 6)
                 ELSE right(value, 5) END;
    fraction := substr(value, 21, greatest(length(value) - 20 - length(zone), 0));
    IF length(zone) > 1 THEN
        IF substr(zone, 2, 2)::integer > 23 OR right(zone, 2)::integer > 59 THEN
            RETURN NULL;
        END IF;
        offset_seconds := (substr(zone, 2, 2)::integer * 3600 + right(zone, 2)::integer * 60)
                          * (left(zone, 1) || '1')::integer;
    END IF;
    -- Fractions beyond microseconds are truncated.
    RETURN (make_timestamp(year, month, day, substr(value, 12, 2)::integer, substr(value, 15, 2)::integer,
                           substr(value, 18, 2)::integer)
            + rpad(left(fraction, 6), 6, '0')::integer * interval '1 microsecond'
            - offset_seconds * interval '1 second') AT TIME ZONE 'UTC';
END
$$;

-- vox's notes (docs/conformance.md): an optional field vox cannot use is read
-- as absent and noted as {path: {"problem": …, "value": raw}}, the raw value
-- cut to 256 bytes (then a JSON string: the start of its JSON text and "…").
CREATE FUNCTION vox_bench.noted_value(value jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    text_form text := value::text;
    chars integer := 253;
BEGIN
    IF octet_length(text_form) <= 256 THEN
        RETURN value;
    END IF;
    WHILE octet_length(left(text_form, chars)) > 253 LOOP
        chars := chars - 1;
    END LOOP;
    RETURN to_jsonb(left(text_form, chars) || '…');
END
$$;

CREATE FUNCTION vox_bench.note(obj jsonb, key text, prefix text, problem text) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN problem IS NULL THEN '{}'::jsonb
    ELSE jsonb_build_object(vox_bench.path(prefix, key), jsonb_build_object(
        'problem', problem, 'value', vox_bench.noted_value(coalesce(obj -> key, 'null'::jsonb)))) END;

CREATE FUNCTION vox_bench.string_problem(obj jsonb, key text, max_bytes integer) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE coalesce(jsonb_typeof(obj -> key), 'null')
    WHEN 'null' THEN NULL
    WHEN 'string' THEN CASE WHEN octet_length(obj ->> key) > max_bytes THEN 'longer than ' || max_bytes || ' bytes' END
    ELSE 'expected a string' END;

CREATE FUNCTION vox_bench.object_problem(obj jsonb, key text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN coalesce(jsonb_typeof(obj -> key), 'null') IN ('null', 'object') THEN NULL
    ELSE 'expected an object' END;

CREATE FUNCTION vox_bench.timestamp_problem(obj jsonb, key text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN coalesce(jsonb_typeof(obj -> key), 'null') = 'null' THEN NULL
    WHEN jsonb_typeof(obj -> key) = 'string' AND octet_length(obj ->> key) <= 64
         AND vox_bench.parse_rfc3339(obj ->> key) IS NOT NULL THEN NULL
    ELSE 'expected an RFC 3339 date-time with zone between 2000 and 2099' END;

CREATE FUNCTION vox_bench.cost_problem(obj jsonb) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE coalesce(jsonb_typeof(obj -> 'cost'), 'null')
    WHEN 'null' THEN NULL
    WHEN 'number' THEN CASE WHEN (obj -> 'cost')::numeric < 0 OR (obj -> 'cost')::numeric >= 1e9
                            THEN 'expected USD between 0 and 1e9' END
    ELSE 'expected a number' END;

-- A row's metadata merged with another's: top-level keys shallowly (stronger
-- wins), vox_notes note by note.
CREATE FUNCTION vox_bench.merge_metadata(weaker jsonb, stronger jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN weaker || stronger || CASE WHEN weaker ? 'vox_notes' AND stronger ? 'vox_notes'
    THEN jsonb_build_object('vox_notes', (weaker -> 'vox_notes') || (stronger -> 'vox_notes')) ELSE '{}'::jsonb END;

-- A phone number in E.164, or NULL. vox uses libphonenumber (see above);
-- this accepts only numbers already written in E.164.
CREATE FUNCTION vox_bench.e164(raw text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN raw ~ '^\+[1-9][0-9]{7,14}$' THEN raw END;

-- Replay ------------------------------------------------------------------------

-- Applies the events a call org_id has just created may resolve (naming no
-- assistant or number, or one of that org's assistants; signed by no other
-- org), oldest first, each in its own subtransaction: one that still resolves to no
-- tenant is rolled back (handle_event re-parked it) and its attempt counted;
-- one that fails records its error. Nested at most two deep, as in vox.
CREATE FUNCTION vox_bench.replay_call(call_id text, org_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    depth constant integer := coalesce(nullif(current_setting('vox_bench.replay_depth', true), '')::integer, 0);
    parked_id bigint;
    parked_payload jsonb;
    outcome jsonb;
BEGIN
    IF depth >= 2 THEN
        RETURN;
    END IF;
    PERFORM set_config('vox_bench.replay_depth', (depth + 1)::text, true);
    FOR parked_id IN SELECT p.id FROM vox.parked_events p
                      WHERE p.vapi_call_id = call_id
                        AND (p.reason = 'unknown_call'
                             OR p.vapi_assistant_id IN (SELECT a.vapi_assistant_id FROM vox.agents a
                                                         WHERE a.org_id = replay_call.org_id))
                        AND (p.signer_org_id IS NULL OR p.signer_org_id = replay_call.org_id)
                      ORDER BY p.received_at, p.id FOR UPDATE LOOP
        BEGIN
            -- Taken out while it is applied, so that a nested replay cannot
            -- apply it twice; the rollback below puts it back.
            DELETE FROM vox.parked_events p WHERE p.id = parked_id RETURNING p.payload INTO parked_payload;
            IF FOUND THEN
                outcome := vox_bench.handle_event(parked_payload);
                IF outcome ->> 'status' = 'parked' THEN
                    RAISE EXCEPTION USING ERRCODE = 'VXB01';  -- rolls the subtransaction back
                END IF;
            END IF;
        EXCEPTION
            WHEN SQLSTATE 'VXB01' THEN
                UPDATE vox.parked_events p
                   SET attempts = p.attempts + 1, last_attempt_at = now(),
                       reason = coalesce(outcome ->> 'reason', p.reason), last_error = NULL
                 WHERE p.id = parked_id;
            WHEN OTHERS THEN
                -- Not the event's fault (cancel, deadlock, shutdown, ...): fail the replay.
                IF left(SQLSTATE, 2) IN ('08', '40', '53', '55', '57', '58', 'XX') THEN
                    RAISE;
                END IF;
                UPDATE vox.parked_events p
                   SET attempts = p.attempts + 1, last_attempt_at = now(), last_error = SQLERRM
                 WHERE p.id = parked_id;
        END;
    END LOOP;
    PERFORM set_config('vox_bench.replay_depth', depth::text, true);
END
$$;

-- The handler ---------------------------------------------------------------------

CREATE FUNCTION vox_bench.handle_event(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    msg jsonb;
    prefix text;        -- 'message' for Vapi's envelope, '' for the seeds' flat form
    msg_type text;
    kind text;          -- status-update | transcript | end-of-call-report | assistant-request | acknowledged
    epoch_ms double precision;
    ts timestamptz;     -- message.timestamp
    ts_micros bigint;   -- the same, in microseconds since 2000-01-01, for transcript keys
    call_obj jsonb;
    call_prefix text;
    call_id text;
    assistant_id text;
    phone_number_id text;
    channel text;
    customer jsonb;
    caller_id text;
    started_at timestamptz;
    ended_at timestamptz;
    ended_reason text;
    status text;
    speaker text;
    transcript_type text;
    words text;
    artifact jsonb;
    analysis jsonb;
    nested jsonb;
    summary text;
    full_transcript text;
    recording_url text;
    success text;
    cost numeric;
    dialled_number text;
    event_id text;
    utterance_key text;
    -- the tenant
    tenant_org uuid;
    tenant_agent uuid;
    route integer;
    candidates bigint;
    agent_route smallint;
    answer text;
    answer_reason text;      -- why an assistant-request has no active agent
    fallback_message text;
    park_reason text;
    -- the call rows
    source text;
    row_status text;
    row_ended_at timestamptz;
    row_ended_reason text;
    customer_number text;
    metadata jsonb := '{}';
    notes jsonb := '{}';
    call_cost numeric;
    customer_prefix text;
    sip_uri text;
    problem text;
    new_call boolean;
    outbox_added boolean;
    transcript_id bigint;
    notify constant boolean := coalesce(current_setting('vox.notify', true), 'on')::boolean;
BEGIN
    -- Read and validate -------------------------------------------------------
    IF payload IS NULL THEN
        PERFORM vox_bench.invalid('payload', 'required', '22004');
    END IF;
    IF jsonb_typeof(payload) <> 'object' THEN
        PERFORM vox_bench.invalid('payload', 'expected a JSON object');
    END IF;
    msg := vox_bench.object_field(payload, 'message', '');
    IF msg IS NOT NULL THEN
        prefix := 'message';
    ELSIF coalesce(jsonb_typeof(payload -> 'type'), 'null') <> 'null' THEN
        msg := payload;
        prefix := '';
    ELSE
        PERFORM vox_bench.invalid('message', 'required');
    END IF;

    msg_type := vox_bench.string_field(msg, 'type', prefix, 1000);
    IF msg_type IS NULL THEN
        PERFORM vox_bench.invalid(vox_bench.path(prefix, 'type'), 'required');
    END IF;
    kind := CASE
        WHEN msg_type IN ('status-update', 'call.started', 'call.ended') THEN 'status-update'
        WHEN msg_type IN ('transcript', 'transcript[transcriptType="final"]',
                         'transcript[transcriptType=''final'']', 'call.transcribed') THEN 'transcript'
        WHEN msg_type IN ('end-of-call-report', 'assistant-request') THEN msg_type
        ELSE 'acknowledged' END;

    -- Unix epoch milliseconds; 2000 to 2100, anything else is a unit mistake.
    epoch_ms := vox_bench.number_field(msg, 'timestamp', prefix);
    IF epoch_ms IS NOT NULL THEN
        IF epoch_ms < 946684800000 OR epoch_ms >= 4102444800000 THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'timestamp'),
                                      'expected Unix epoch milliseconds between 2000 and 2100', '22008');
        END IF;
        ts_micros := floor((epoch_ms - 946684800000::double precision) * 1000 + 0.5);
        ts := timestamptz '2000-01-01 00:00:00+00' + ts_micros * interval '1 microsecond';
    END IF;

    IF kind = 'acknowledged' THEN
        -- Vapi adds message types over time; refusing them would only make it retry.
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'status', 'ignored', 'event_type', nullif(msg_type, ''),
            'reason', CASE WHEN msg_type NOT IN (
                'speech-update', 'conversation-update', 'hang', 'tool-calls', 'function-call',
                'user-interrupted', 'model-output', 'phone-call-control', 'transfer-destination-request',
                'transfer-update', 'handoff-destination-request', 'knowledge-base-request',
                'language-change-detected', 'voice-input', 'assistant.started', 'assistant.speechStarted',
                'voice-request', 'call.endpointing.request', 'chat.created', 'chat.deleted',
                'session.created', 'session.updated', 'session.deleted', 'call.deleted',
                'call.delete.failed', 'call.artifact.upload', 'campaign.predial')
                THEN 'unknown_message_type' ELSE 'message_type_not_stored' END,
            -- vox runs no tools, transfers nowhere, holds no knowledge base:
            -- answered in the form Vapi waits for.
            'response', CASE msg_type
                WHEN 'tool-calls' THEN jsonb_build_object('results', coalesce((
                    SELECT jsonb_agg(jsonb_build_object('toolCallId', c ->> 'id', 'error', 'vox does not run tools')
                                     ORDER BY n)
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(msg -> 'toolCallList') = 'array'
                                                     THEN msg -> 'toolCallList' ELSE '[]' END) WITH ORDINALITY e(c, n)
                     WHERE jsonb_typeof(c -> 'id') = 'string' AND octet_length(c ->> 'id') <= 128), '[]'))
                WHEN 'transfer-destination-request'
                    THEN '{"error": "vox does not choose transfer destinations"}'::jsonb
                WHEN 'knowledge-base-request' THEN '{"documents": []}'::jsonb END));
    END IF;

    call_obj := vox_bench.object_field(msg, 'call', prefix);
    IF call_obj IS NOT NULL THEN
        call_prefix := vox_bench.path(prefix, 'call');
        call_id := vox_bench.id_field(call_obj, 'id', call_prefix);
        IF call_id IS NULL THEN
            PERFORM vox_bench.invalid(vox_bench.path(call_prefix, 'id'), 'required');
        END IF;
        assistant_id := vox_bench.id_field(call_obj, 'assistantId', call_prefix);
        phone_number_id := vox_bench.id_field(call_obj, 'phoneNumberId', call_prefix);
        IF phone_number_id IS NULL THEN
            nested := vox_bench.object_field(msg, 'phoneNumber', prefix);
            IF nested IS NOT NULL THEN
                phone_number_id := vox_bench.id_field(nested, 'id', vox_bench.path(prefix, 'phoneNumber'));
            END IF;
        END IF;
        problem := vox_bench.string_problem(call_obj, 'type', 1000);
        notes := notes || vox_bench.note(call_obj, 'type', call_prefix, problem);
        IF problem IS NULL AND call_obj ? 'type' AND jsonb_typeof(call_obj -> 'type') <> 'null' THEN
            channel := CASE call_obj ->> 'type' WHEN 'inboundPhoneCall' THEN 'inbound'
                                                WHEN 'outboundPhoneCall' THEN 'outbound'
                                                WHEN 'webCall' THEN 'web' WHEN 'vapi.websocketCall' THEN 'web' END;
            IF channel IS NULL THEN
                notes := notes || vox_bench.note(call_obj, 'type', call_prefix, 'unknown call type: channel left unknown');
            END IF;
        END IF;
        problem := vox_bench.object_problem(call_obj, 'customer');
        notes := notes || vox_bench.note(call_obj, 'customer', call_prefix, problem);
        customer := CASE WHEN problem IS NULL THEN call_obj -> 'customer' END;
        IF jsonb_typeof(customer) = 'object' THEN
            customer_prefix := vox_bench.path(call_prefix, 'customer');
        ELSE
            problem := vox_bench.object_problem(msg, 'customer');
            notes := notes || vox_bench.note(msg, 'customer', prefix, problem);
            customer := CASE WHEN problem IS NULL THEN msg -> 'customer' END;
            IF jsonb_typeof(customer) = 'object' THEN
                customer_prefix := vox_bench.path(prefix, 'customer');
            END IF;
        END IF;
        IF customer_prefix IS NOT NULL THEN
            problem := vox_bench.string_problem(customer, 'number', 1000);
            notes := notes || vox_bench.note(customer, 'number', customer_prefix, problem);
            caller_id := CASE WHEN problem IS NULL THEN customer ->> 'number' END;
            problem := vox_bench.string_problem(customer, 'sipUri', 4096);
            notes := notes || vox_bench.note(customer, 'sipUri', customer_prefix, problem);
            sip_uri := CASE WHEN problem IS NULL THEN customer ->> 'sipUri' END;
        END IF;
        problem := vox_bench.timestamp_problem(call_obj, 'startedAt');
        notes := notes || vox_bench.note(call_obj, 'startedAt', call_prefix, problem);
        started_at := CASE WHEN problem IS NULL THEN vox_bench.parse_rfc3339(call_obj ->> 'startedAt') END;
        problem := vox_bench.timestamp_problem(call_obj, 'endedAt');
        notes := notes || vox_bench.note(call_obj, 'endedAt', call_prefix, problem);
        ended_at := CASE WHEN problem IS NULL THEN vox_bench.parse_rfc3339(call_obj ->> 'endedAt') END;
        IF ended_at < started_at THEN
            notes := notes || vox_bench.note(call_obj, 'endedAt', call_prefix,
                                             'before startedAt: ended_at clamped to started_at');
            ended_at := started_at;
        END IF;
        problem := vox_bench.string_problem(call_obj, 'endedReason', 1000);
        notes := notes || vox_bench.note(call_obj, 'endedReason', call_prefix, problem);
        ended_reason := CASE WHEN problem IS NULL THEN call_obj ->> 'endedReason' END;
        problem := vox_bench.cost_problem(call_obj);
        notes := notes || vox_bench.note(call_obj, 'cost', call_prefix, problem);
        call_cost := CASE WHEN problem IS NULL THEN (call_obj ->> 'cost')::numeric END;
    ELSIF kind <> 'assistant-request'
          -- a status vox does not store needs no call: Vapi sends not-found without one
          AND NOT (kind = 'status-update' AND msg ->> 'status' IN ('not-found', 'deletion-failed')) THEN
        PERFORM vox_bench.invalid(vox_bench.path(prefix, 'call'), 'required');
    END IF;

    IF kind = 'status-update' THEN
        IF msg_type = 'call.started' THEN
            status := 'in-progress';
        ELSIF msg_type = 'call.ended' THEN
            status := 'ended';
        ELSE
            status := vox_bench.string_field(msg, 'status', prefix, 1000);
            IF status IS NULL THEN
                PERFORM vox_bench.invalid(vox_bench.path(prefix, 'status'), 'required');
            END IF;
            IF status NOT IN ('scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended',
                              'not-found', 'deletion-failed') THEN
                PERFORM vox_bench.invalid(vox_bench.path(prefix, 'status'), 'unknown call status ''' || status || '''');
            END IF;
        END IF;
        problem := vox_bench.string_problem(msg, 'endedReason', 1000);
        notes := notes || vox_bench.note(msg, 'endedReason', prefix, problem);
        ended_reason := coalesce(CASE WHEN problem IS NULL THEN msg ->> 'endedReason' END, ended_reason);
    ELSIF kind = 'transcript' THEN
        -- Vapi's envelope says "role"; the seeds' flat call.transcribed said "speaker".
        speaker := coalesce(vox_bench.string_field(msg, 'role', prefix, 1000),
                            vox_bench.string_field(msg, 'speaker', prefix, 1000));
        IF speaker IS NULL THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'role'), 'required');
        ELSIF speaker NOT IN ('assistant', 'user') THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'role'), 'expected ''assistant'' or ''user''');
        END IF;
        transcript_type := vox_bench.string_field(msg, 'transcriptType', prefix, 1000);
        IF transcript_type NOT IN ('final', 'partial') THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'transcriptType'), 'expected ''final'' or ''partial''');
        END IF;
        -- Vapi's plain "transcript" must say which it is; the other names imply final.
        IF msg_type = 'transcript' AND transcript_type IS NULL THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'transcriptType'), 'required');
        END IF;
        words := vox_bench.string_field(msg, 'transcript', prefix, 65536);
        IF words IS NULL THEN
            PERFORM vox_bench.invalid(vox_bench.path(prefix, 'transcript'), 'required');
        END IF;
    ELSIF kind = 'end-of-call-report' THEN
        problem := vox_bench.string_problem(msg, 'endedReason', 1000);
        notes := notes || vox_bench.note(msg, 'endedReason', prefix, problem);
        ended_reason := coalesce(CASE WHEN problem IS NULL THEN msg ->> 'endedReason' END, ended_reason);
        problem := vox_bench.timestamp_problem(msg, 'startedAt');
        notes := notes || vox_bench.note(msg, 'startedAt', prefix, problem);
        started_at := coalesce(CASE WHEN problem IS NULL THEN vox_bench.parse_rfc3339(msg ->> 'startedAt') END, started_at);
        problem := vox_bench.timestamp_problem(msg, 'endedAt');
        notes := notes || vox_bench.note(msg, 'endedAt', prefix, problem);
        ended_at := coalesce(CASE WHEN problem IS NULL THEN vox_bench.parse_rfc3339(msg ->> 'endedAt') END, ended_at);
        IF ended_at < started_at THEN
            notes := notes || vox_bench.note(msg, 'endedAt', prefix, 'before startedAt: ended_at clamped to started_at');
            ended_at := started_at;
        END IF;
        -- The report's own cost, else the call's.
        problem := vox_bench.cost_problem(msg);
        notes := notes || vox_bench.note(msg, 'cost', prefix, problem);
        cost := coalesce(CASE WHEN problem IS NULL THEN (msg ->> 'cost')::numeric END, call_cost);
        problem := vox_bench.object_problem(msg, 'artifact');
        notes := notes || vox_bench.note(msg, 'artifact', prefix, problem);
        artifact := CASE WHEN problem IS NULL THEN msg -> 'artifact' END;
        IF jsonb_typeof(artifact) = 'object' THEN
            problem := vox_bench.string_problem(artifact, 'transcript', 4194304);
            notes := notes || vox_bench.note(artifact, 'transcript', vox_bench.path(prefix, 'artifact'), problem);
            full_transcript := CASE WHEN problem IS NULL THEN artifact ->> 'transcript' END;
            problem := vox_bench.object_problem(artifact, 'recording');
            notes := notes || vox_bench.note(artifact, 'recording', vox_bench.path(prefix, 'artifact'), problem);
            nested := CASE WHEN problem IS NULL THEN artifact -> 'recording' END;
            IF jsonb_typeof(nested) = 'object' THEN
                problem := vox_bench.object_problem(nested, 'mono');
                notes := notes || vox_bench.note(nested, 'mono', vox_bench.path(prefix, 'artifact.recording'), problem);
                IF problem IS NULL AND jsonb_typeof(nested -> 'mono') = 'object' THEN
                    problem := vox_bench.string_problem(nested -> 'mono', 'combinedUrl', 4096);
                    notes := notes || vox_bench.note(nested -> 'mono', 'combinedUrl',
                                                     vox_bench.path(prefix, 'artifact.recording.mono'), problem);
                    recording_url := CASE WHEN problem IS NULL THEN nested -> 'mono' ->> 'combinedUrl' END;
                END IF;
                IF recording_url IS NULL THEN
                    problem := vox_bench.string_problem(nested, 'stereoUrl', 4096);
                    notes := notes || vox_bench.note(nested, 'stereoUrl', vox_bench.path(prefix, 'artifact.recording'),
                                                     problem);
                    recording_url := CASE WHEN problem IS NULL THEN nested ->> 'stereoUrl' END;
                END IF;
            END IF;
            -- Deprecated by Vapi but still sent by older setups.
            IF recording_url IS NULL THEN
                problem := vox_bench.string_problem(artifact, 'recordingUrl', 4096);
                notes := notes || vox_bench.note(artifact, 'recordingUrl', vox_bench.path(prefix, 'artifact'), problem);
                recording_url := CASE WHEN problem IS NULL THEN artifact ->> 'recordingUrl' END;
            END IF;
            IF recording_url IS NULL THEN
                problem := vox_bench.string_problem(artifact, 'stereoRecordingUrl', 4096);
                notes := notes || vox_bench.note(artifact, 'stereoRecordingUrl', vox_bench.path(prefix, 'artifact'),
                                                 problem);
                recording_url := CASE WHEN problem IS NULL THEN artifact ->> 'stereoRecordingUrl' END;
            END IF;
        END IF;
        problem := vox_bench.object_problem(msg, 'analysis');
        notes := notes || vox_bench.note(msg, 'analysis', prefix, problem);
        analysis := CASE WHEN problem IS NULL THEN msg -> 'analysis' END;
        IF jsonb_typeof(analysis) = 'object' THEN
            problem := vox_bench.string_problem(analysis, 'summary', 4194304);
            notes := notes || vox_bench.note(analysis, 'summary', vox_bench.path(prefix, 'analysis'), problem);
            summary := CASE WHEN problem IS NULL THEN analysis ->> 'summary' END;
            -- Rubrics evaluate to numbers and booleans as well as words.
            problem := CASE WHEN jsonb_typeof(analysis -> 'successEvaluation') IN ('number', 'boolean') THEN NULL
                            ELSE vox_bench.string_problem(analysis, 'successEvaluation', 1000) END;
            notes := notes || vox_bench.note(analysis, 'successEvaluation', vox_bench.path(prefix, 'analysis'), problem);
            success := CASE WHEN problem IS NULL THEN analysis ->> 'successEvaluation' END;
        END IF;
        -- The seeds' flat end-of-call-report carried these at the top level.
        IF summary IS NULL THEN
            problem := vox_bench.string_problem(msg, 'summary', 4194304);
            notes := notes || vox_bench.note(msg, 'summary', prefix, problem);
            summary := CASE WHEN problem IS NULL THEN msg ->> 'summary' END;
        END IF;
        IF full_transcript IS NULL THEN
            problem := vox_bench.string_problem(msg, 'transcript', 4194304);
            notes := notes || vox_bench.note(msg, 'transcript', prefix, problem);
            full_transcript := CASE WHEN problem IS NULL THEN msg ->> 'transcript' END;
        END IF;
        IF recording_url IS NULL THEN
            problem := vox_bench.string_problem(msg, 'recordingUrl', 4096);
            notes := notes || vox_bench.note(msg, 'recordingUrl', prefix, problem);
            recording_url := CASE WHEN problem IS NULL THEN msg ->> 'recordingUrl' END;
        END IF;
    ELSE  -- assistant-request
        nested := vox_bench.object_field(msg, 'phoneNumber', prefix);
        IF nested IS NOT NULL THEN
            IF call_obj IS NULL THEN
                phone_number_id := vox_bench.id_field(nested, 'id', vox_bench.path(prefix, 'phoneNumber'));
            END IF;
            dialled_number := vox_bench.string_field(nested, 'number', vox_bench.path(prefix, 'phoneNumber'), 1000);
        END IF;
    END IF;

    -- Events without effects ----------------------------------------------------
    IF kind = 'assistant-request' THEN
        -- The assistant answering the dialled number: by its Vapi id, else by
        -- the number itself, which two orgs may both hold (then nobody is chosen).
        SELECT r.assistant, r.org_id, r.route, count(*) OVER () INTO answer, tenant_org, route, candidates
          FROM (SELECT a.vapi_assistant_id AS assistant, p.org_id, 1 AS route
                  FROM vox.phone_numbers p JOIN vox.agents a ON a.org_id = p.org_id AND a.id = p.agent_id
                 WHERE p.vapi_phone_number_id = phone_number_id AND a.active
                UNION ALL
                SELECT a.vapi_assistant_id, p.org_id, 2
                  FROM vox.phone_numbers p JOIN vox.agents a ON a.org_id = p.org_id AND a.id = p.agent_id
                 WHERE p.number = vox_bench.e164(dialled_number)
                   AND a.active) r
         ORDER BY r.route LIMIT 2;
        IF answer IS NOT NULL AND NOT (route = 2 AND candidates > 1) THEN
            RETURN jsonb_build_object('status', 'processed', 'event_type', msg_type, 'org_id', tenant_org,
                                      'assistantId', answer, 'response', jsonb_build_object('assistantId', answer));
        END IF;
        -- No active agent: the one org holding the number answers with its
        -- fallback assistant or message; otherwise vox's default message.
        answer_reason := 'ambiguous_phone_number';
        tenant_org := NULL;
        IF answer IS NOT NULL THEN
            answer := NULL;  -- two orgs' agents: nobody's is chosen
        ELSE
            SELECT count(DISTINCT p.org_id), min(p.org_id::text)::uuid INTO candidates, tenant_org
              FROM vox.phone_numbers p
             WHERE p.vapi_phone_number_id = phone_number_id OR p.number = vox_bench.e164(dialled_number);
            answer_reason := CASE WHEN candidates > 0 THEN 'no_active_agent' ELSE 'unknown_phone_number' END;
            IF candidates <> 1 THEN
                tenant_org := NULL;
            END IF;
            SELECT o.fallback_assistant_id, o.fallback_message INTO answer, fallback_message
              FROM vox.organizations o WHERE o.id = tenant_org;
        END IF;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'status', 'ignored', 'event_type', msg_type, 'org_id', tenant_org, 'reason', answer_reason,
            'response', CASE WHEN answer IS NOT NULL THEN jsonb_build_object('assistantId', answer)
                             ELSE jsonb_build_object('error', coalesce(fallback_message,
                                 'Sorry, this number cannot take your call right now. Please try again later.')) END));
    END IF;
    IF kind = 'transcript' AND transcript_type = 'partial' THEN
        RETURN jsonb_build_object('status', 'ignored', 'event_type', msg_type, 'vapi_call_id', call_id,
                                  'reason', 'partial_transcript');
    END IF;
    IF status IN ('not-found', 'deletion-failed') THEN
        RETURN jsonb_strip_nulls(jsonb_build_object('status', 'ignored', 'event_type', msg_type, 'vapi_call_id', call_id,
                                                    'reason', 'status_not_stored'));
    END IF;

    -- The idempotency key: stable across retries, independent of the tenant.
    IF kind = 'status-update' THEN
        -- No duration or timestamp in the key: a retry of "ended" must collide.
        event_id := 'status-update:' || call_id || ':' || status;
    ELSIF kind = 'transcript' THEN
        -- The utterance's content and its own timestamp, else its place in
        -- the call (how many messages its live artifact holds), else the words
        -- alone. NUL separators: no field can forge another's.
        utterance_key := left(encode(sha256(convert_to(speaker, 'UTF8') || '\x00'::bytea || convert_to(words, 'UTF8')
                                          || '\x00'::bytea
                                          || convert_to(CASE WHEN ts IS NOT NULL THEN 't' || ts_micros
                                                             WHEN jsonb_typeof(msg -> 'artifact' -> 'messages') = 'array'
                                                             THEN 'n' || jsonb_array_length(msg -> 'artifact' -> 'messages')
                                                             ELSE '' END, 'UTF8')), 'hex'), 32);
        event_id := 'transcript:' || call_id || ':' || utterance_key;
    ELSE
        event_id := 'end-of-call-report:' || call_id;
    END IF;

    -- The tenant, from trusted records only:
    --   route 1: the org owning the assistant, through its active agent (or an
    --            inactive one, for a call that org already holds);
    --   route 0: that agent is inactive and the call new to it: park;
    --   route 2: the org owning the phone number;
    --   route 3: the org already holding the call id, only for an event naming
    --            neither assistant nor number; two such orgs: ambiguous.
    SELECT c.org_id, c.agent_id, c.route, count(*) OVER () INTO tenant_org, tenant_agent, route, candidates
      FROM (SELECT a.org_id, a.id AS agent_id,
                   CASE WHEN a.active OR EXISTS (SELECT 1 FROM vox.call_tracking t
                                                  WHERE t.org_id = a.org_id AND t.vapi_call_id = call_id)
                        THEN 1 ELSE 0 END AS route
              FROM vox.agents a
             WHERE a.vapi_assistant_id = assistant_id
            UNION ALL
            SELECT p.org_id, p.agent_id, 2 FROM vox.phone_numbers p WHERE p.vapi_phone_number_id = phone_number_id
            UNION ALL
            SELECT t.org_id, t.agent_id, 3 FROM vox.call_tracking t
             WHERE t.vapi_call_id = call_id AND assistant_id IS NULL AND phone_number_id IS NULL) c
     ORDER BY c.route LIMIT 2;
    IF tenant_org IS NULL OR route = 0 OR (route = 3 AND candidates > 1) THEN
        park_reason := CASE WHEN route = 0 THEN 'inactive_assistant'
                            WHEN route = 3 THEN 'ambiguous_call'
                            WHEN assistant_id IS NOT NULL THEN 'unknown_assistant'
                            WHEN phone_number_id IS NOT NULL THEN 'unknown_phone_number'
                            ELSE 'unknown_call' END;
        -- Parked until the missing piece appears; keyed by the event and what
        -- it names, so that colliding call ids of two assistants are two events.
        INSERT INTO vox.parked_events (event_key, event_type, vapi_call_id, vapi_assistant_id, vapi_phone_number_id,
                                       reason, payload)
        VALUES (event_id || '|' || coalesce(assistant_id, '') || '|' || coalesce(phone_number_id, '') || '|',
                msg_type, call_id, assistant_id, phone_number_id,
                park_reason, payload)
        ON CONFLICT (event_key) DO NOTHING;
        RETURN jsonb_build_object('status', 'parked', 'event_type', msg_type, 'event_id', event_id,
                                  'vapi_call_id', call_id, 'reason', park_reason);
    END IF;
    -- 2: the call's assistant, 1: the dialled number's agent, 0: none (by call
    -- id, the call already holds its agent).
    agent_route := CASE WHEN tenant_agent IS NULL OR route = 3 THEN 0 WHEN route = 1 THEN 2 ELSE 1 END;
    IF agent_route = 0 THEN
        tenant_agent := NULL;
    END IF;

    -- The org, locked until commit: the event tables have no foreign key to
    -- it, and deleting it waits for this lock.
    PERFORM FROM vox.organizations o WHERE o.id = tenant_org FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization % was deleted while this event was applied', tenant_org
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- The idempotency mark, committed with the effects or not at all; a
    -- final transcript's is its utterance's unique key.
    IF kind <> 'transcript' THEN
        INSERT INTO vox.processed_webhook_events (org_id, event_id, event_type, vapi_call_id)
        VALUES (tenant_org, event_id, kind, call_id)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('status', 'duplicate', 'event_type', msg_type, 'event_id', event_id,
                                      'org_id', tenant_org, 'vapi_call_id', call_id);
        END IF;
    END IF;

    -- Effects -----------------------------------------------------------------------
    IF kind = 'transcript' THEN
        WITH utterance AS (
            INSERT INTO vox.call_transcripts (org_id, vapi_call_id, role, text, spoken_at, content_key)
            VALUES (tenant_org, call_id, speaker, words, ts, utterance_key)
            ON CONFLICT (org_id, vapi_call_id, content_key) DO NOTHING
            RETURNING id
        ), outbox AS (
            INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
            SELECT tenant_org, 'transcript', call_id,
                   jsonb_build_object('vapi_call_id', call_id, 'transcript_id', u.id, 'role', speaker)
              FROM utterance u
        )
        SELECT u.id INTO transcript_id FROM utterance u;
        IF transcript_id IS NOT NULL AND notify THEN
            PERFORM pg_notify('vox_outbox', tenant_org::text);
        END IF;
        RETURN jsonb_build_object('status', CASE WHEN transcript_id IS NULL THEN 'duplicate' ELSE 'processed' END,
                                  'event_type', msg_type, 'event_id', event_id, 'org_id', tenant_org,
                                  'vapi_call_id', call_id);
    END IF;

    -- What the call rows get from this event. Only the end of a call says how
    -- it ended: a live call's snapshot may carry stale end fields. The
    -- end-of-call-report is the final record of what it reports.
    IF kind = 'end-of-call-report' THEN
        source := 'report';
        row_status := 'ended';
        row_ended_at := ended_at;
        row_ended_reason := ended_reason;
    ELSE
        source := 'event';
        row_status := status;
        IF status = 'ended' THEN
            row_ended_at := coalesce(ended_at, ts);
            row_ended_reason := ended_reason;
        END IF;
    END IF;
    -- A caller id that is no number is kept aside; the call is still recorded.
    customer_number := vox_bench.e164(caller_id);
    IF customer_number IS NULL AND caller_id IS NOT NULL THEN
        metadata := jsonb_build_object('caller_id_raw', caller_id);
    END IF;
    IF sip_uri IS NOT NULL THEN
        metadata := metadata || jsonb_build_object('customer_sip_uri', sip_uri);
    END IF;
    IF notes <> '{}' THEN
        metadata := metadata || jsonb_build_object('vox_notes', notes);
    END IF;

    -- One statement writes the call's three rows, its recording job and the
    -- outbox entry. Merge rules, so that any order of a call's events gives
    -- the same rows: status only moves forward; the agent of the higher route
    -- wins (the lower id between equals); first known values stay, except
    -- those the report gives; a row that would not change is not written,
    -- and the dashboard hears of every change to the call's record only.
    -- The call is linked to the oldest lead with the caller's number.
    WITH input AS (
        SELECT (SELECT l.id FROM vox.leads l WHERE l.org_id = tenant_org AND l.phone = customer_number
                 ORDER BY l.created_at, l.id LIMIT 1) AS lead_id
    ), tracking AS (
        INSERT INTO vox.call_tracking AS t (org_id, vapi_call_id, agent_id, agent_route, lead_id, channel, status,
                                            metadata)
        SELECT tenant_org, call_id, tenant_agent, agent_route, i.lead_id, channel, row_status, metadata FROM input i
        ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
            agent_id = CASE WHEN excluded.agent_route > t.agent_route THEN excluded.agent_id
                            WHEN excluded.agent_route < t.agent_route THEN t.agent_id
                            ELSE least(t.agent_id, excluded.agent_id) END,
            agent_route = greatest(t.agent_route, excluded.agent_route),
            lead_id = coalesce(t.lead_id, excluded.lead_id),
            channel = coalesce(t.channel, excluded.channel),
            status = CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                          THEN excluded.status ELSE t.status END,
            metadata = vox_bench.merge_metadata(excluded.metadata, t.metadata),
            updated_at = now()
        WHERE (t.agent_id, t.agent_route, t.lead_id, t.channel, t.status, t.metadata) IS DISTINCT FROM
              (CASE WHEN excluded.agent_route > t.agent_route THEN excluded.agent_id
                    WHEN excluded.agent_route < t.agent_route THEN t.agent_id
                    ELSE least(t.agent_id, excluded.agent_id) END,
               greatest(t.agent_route, excluded.agent_route),
               coalesce(t.lead_id, excluded.lead_id),
               coalesce(t.channel, excluded.channel),
               CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                    THEN excluded.status ELSE t.status END,
               vox_bench.merge_metadata(excluded.metadata, t.metadata))
        RETURNING xmax = 0 AS created
    ), logs AS (
        INSERT INTO vox.call_logs AS t (org_id, vapi_call_id, channel, status, customer_number, started_at, ended_at,
                                        ended_reason, outcome, summary, transcript, recording_url, cost, lead_id,
                                        agent_id, agent_route, metadata, report_received)
        SELECT tenant_org, call_id, channel, row_status, customer_number, started_at, row_ended_at, row_ended_reason,
               success, summary, full_transcript, recording_url, cost, i.lead_id, tenant_agent, agent_route, metadata,
               source = 'report'
          FROM input i
        ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
            channel = coalesce(t.channel, excluded.channel),
            status = CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                          THEN excluded.status ELSE t.status END,
            customer_number = coalesce(t.customer_number, excluded.customer_number),
            started_at = CASE WHEN source = 'report' THEN coalesce(excluded.started_at, t.started_at)
                              ELSE coalesce(t.started_at, excluded.started_at) END,
            ended_at = CASE WHEN source = 'report' THEN coalesce(excluded.ended_at, t.ended_at)
                            ELSE coalesce(t.ended_at, excluded.ended_at) END,
            ended_reason = CASE WHEN source = 'report' THEN coalesce(excluded.ended_reason, t.ended_reason)
                                ELSE coalesce(t.ended_reason, excluded.ended_reason) END,
            outcome = CASE WHEN source = 'report' THEN coalesce(excluded.outcome, t.outcome)
                           ELSE coalesce(t.outcome, excluded.outcome) END,
            summary = CASE WHEN source = 'report' THEN coalesce(excluded.summary, t.summary)
                           ELSE coalesce(t.summary, excluded.summary) END,
            transcript = CASE WHEN source = 'report' THEN coalesce(excluded.transcript, t.transcript)
                              ELSE coalesce(t.transcript, excluded.transcript) END,
            recording_url = CASE WHEN source = 'report' THEN coalesce(excluded.recording_url, t.recording_url)
                                 ELSE coalesce(t.recording_url, excluded.recording_url) END,
            cost = CASE WHEN source = 'report' THEN coalesce(excluded.cost, t.cost) ELSE coalesce(t.cost, excluded.cost) END,
            lead_id = coalesce(t.lead_id, excluded.lead_id),
            agent_id = CASE WHEN excluded.agent_route > t.agent_route THEN excluded.agent_id
                            WHEN excluded.agent_route < t.agent_route THEN t.agent_id
                            ELSE least(t.agent_id, excluded.agent_id) END,
            agent_route = greatest(t.agent_route, excluded.agent_route),
            metadata = vox_bench.merge_metadata(excluded.metadata, t.metadata),
            report_received = t.report_received OR excluded.report_received,
            updated_at = now()
        WHERE (t.channel, t.status, t.customer_number, t.started_at, t.ended_at, t.ended_reason, t.outcome, t.summary,
               t.transcript, t.recording_url, t.cost, t.lead_id, t.agent_id, t.agent_route, t.metadata,
               t.report_received) IS DISTINCT FROM
              (coalesce(t.channel, excluded.channel),
               CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                    THEN excluded.status ELSE t.status END,
               coalesce(t.customer_number, excluded.customer_number),
               CASE WHEN source = 'report' THEN coalesce(excluded.started_at, t.started_at)
                    ELSE coalesce(t.started_at, excluded.started_at) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.ended_at, t.ended_at)
                    ELSE coalesce(t.ended_at, excluded.ended_at) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.ended_reason, t.ended_reason)
                    ELSE coalesce(t.ended_reason, excluded.ended_reason) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.outcome, t.outcome)
                    ELSE coalesce(t.outcome, excluded.outcome) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.summary, t.summary)
                    ELSE coalesce(t.summary, excluded.summary) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.transcript, t.transcript)
                    ELSE coalesce(t.transcript, excluded.transcript) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.recording_url, t.recording_url)
                    ELSE coalesce(t.recording_url, excluded.recording_url) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.cost, t.cost) ELSE coalesce(t.cost, excluded.cost) END,
               coalesce(t.lead_id, excluded.lead_id),
               CASE WHEN excluded.agent_route > t.agent_route THEN excluded.agent_id
                    WHEN excluded.agent_route < t.agent_route THEN t.agent_id
                    ELSE least(t.agent_id, excluded.agent_id) END,
               greatest(t.agent_route, excluded.agent_route),
               vox_bench.merge_metadata(excluded.metadata, t.metadata),
               t.report_received OR excluded.report_received)
        RETURNING t.status
    ), call_summary AS (
        INSERT INTO vox.calls AS t (org_id, vapi_call_id, status, customer_number, started_at, ended_at, cost)
        VALUES (tenant_org, call_id, row_status, customer_number, started_at, row_ended_at, cost)
        ON CONFLICT (org_id, vapi_call_id) DO UPDATE SET
            status = CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                          THEN excluded.status ELSE t.status END,
            customer_number = coalesce(t.customer_number, excluded.customer_number),
            started_at = CASE WHEN source = 'report' THEN coalesce(excluded.started_at, t.started_at)
                              ELSE coalesce(t.started_at, excluded.started_at) END,
            ended_at = CASE WHEN source = 'report' THEN coalesce(excluded.ended_at, t.ended_at)
                            ELSE coalesce(t.ended_at, excluded.ended_at) END,
            cost = CASE WHEN source = 'report' THEN coalesce(excluded.cost, t.cost) ELSE coalesce(t.cost, excluded.cost) END,
            updated_at = now()
        WHERE (t.status, t.customer_number, t.started_at, t.ended_at, t.cost) IS DISTINCT FROM
              (CASE WHEN vox.call_status_rank(excluded.status) > vox.call_status_rank(t.status)
                    THEN excluded.status ELSE t.status END,
               coalesce(t.customer_number, excluded.customer_number),
               CASE WHEN source = 'report' THEN coalesce(excluded.started_at, t.started_at)
                    ELSE coalesce(t.started_at, excluded.started_at) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.ended_at, t.ended_at)
                    ELSE coalesce(t.ended_at, excluded.ended_at) END,
               CASE WHEN source = 'report' THEN coalesce(excluded.cost, t.cost) ELSE coalesce(t.cost, excluded.cost) END)
    ), recording AS (
        INSERT INTO vox.recording_upload_queue (org_id, vapi_call_id, recording_url)
        SELECT tenant_org, call_id, recording_url WHERE source = 'report' AND recording_url IS NOT NULL
        ON CONFLICT (org_id, vapi_call_id) DO NOTHING
    ), outbox AS (
        INSERT INTO vox.outbox (org_id, topic, vapi_call_id, payload)
        SELECT tenant_org, kind, call_id, jsonb_build_object('vapi_call_id', call_id, 'status', l.status) FROM logs l
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM tracking WHERE tracking.created), EXISTS (SELECT 1 FROM outbox)
      INTO new_call, outbox_added;
    IF outbox_added AND notify THEN
        PERFORM pg_notify('vox_outbox', tenant_org::text);
    END IF;

    -- Events parked as unknown_call wait for exactly this: apply them now.
    IF new_call THEN
        PERFORM vox_bench.replay_call(call_id, tenant_org);
    END IF;
    RETURN jsonb_build_object('status', 'processed', 'event_type', msg_type, 'event_id', event_id,
                              'org_id', tenant_org, 'vapi_call_id', call_id);
END
$$;

REVOKE ALL ON FUNCTION vox_bench.handle_event(jsonb), vox_bench.replay_call(text, uuid) FROM PUBLIC;
COMMENT ON FUNCTION vox_bench.handle_event(jsonb) IS
    'vox.handle_event(payload) in PL/pgSQL, for the benchmark; not installed by the extension';
