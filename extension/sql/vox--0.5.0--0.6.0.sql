-- vox 0.6.0: two writes fewer per event. The tables every event writes name
-- their organization without a foreign key, and a final transcript's
-- utterance is its own idempotency mark. A foreign-key check per row written (an SPI query locking the
-- org's row, three to five per event) cost a fifth of vox's throughput; the
-- handler now locks the org once per event instead, and deleting an org waits
-- for that lock and then removes the org's rows itself.

\echo Use "ALTER EXTENSION vox UPDATE TO '0.6.0'" to load this file. \quit

ALTER TABLE vox.processed_webhook_events DROP CONSTRAINT processed_webhook_events_org_id_fkey;
ALTER TABLE vox.call_tracking DROP CONSTRAINT call_tracking_org_id_fkey;
ALTER TABLE vox.call_logs DROP CONSTRAINT call_logs_org_id_fkey;
ALTER TABLE vox.calls DROP CONSTRAINT calls_org_id_fkey;
ALTER TABLE vox.call_transcripts DROP CONSTRAINT call_transcripts_org_id_fkey;
ALTER TABLE vox.outbox DROP CONSTRAINT outbox_org_id_fkey;

-- What the foreign keys' ON DELETE CASCADE did, from the org's side. A BEFORE
-- trigger runs once the org's row is locked, so after every event holding the
-- org (vox.handle_event locks it FOR KEY SHARE) has committed; at READ
-- COMMITTED each DELETE below then sees those events' rows, and an event
-- arriving later finds the org gone and fails with 40001. A REPEATABLE READ or
-- SERIALIZABLE snapshot would miss rows committed while the deletion waited,
-- so those levels are refused. An org's id may change only while no event row
-- names it (the foreign keys' NO ACTION).
CREATE FUNCTION vox.organization_event_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'vox' OR TG_TABLE_NAME <> 'organizations' THEN
        RAISE EXCEPTION 'vox.organization_event_rows() may only be a trigger of vox.organizations'
            USING ERRCODE = 'trigger_protocol_violated';
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
REVOKE ALL ON FUNCTION vox.organization_event_rows() FROM PUBLIC;
COMMENT ON FUNCTION vox.organization_event_rows() IS
    'Trigger of vox.organizations: a deleted (at READ COMMITTED) or truncated org takes its calls, transcripts, marks and outbox rows with it; an id that rows name does not change';
CREATE TRIGGER organizations_event_rows BEFORE DELETE OR UPDATE OF id ON vox.organizations
    FOR EACH ROW EXECUTE FUNCTION vox.organization_event_rows();
CREATE TRIGGER organizations_event_rows_truncated BEFORE TRUNCATE ON vox.organizations
    FOR EACH STATEMENT EXECUTE FUNCTION vox.organization_event_rows();

-- The archive's outbox rows lock their org as the handler's do; an org
-- deleted meanwhile has nobody left to tell.
CREATE OR REPLACE FUNCTION vox.recording_changed(org_id uuid, vapi_call_id text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM vox.organizations o WHERE o.id = recording_changed.org_id FOR KEY SHARE;
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

-- The idempotency mark of a final transcript sent without a delivery id is its
-- utterance: the event key is the utterance's (org, call, content_key).
COMMENT ON TABLE vox.processed_webhook_events IS
    'Idempotency marks: written in the same transaction as the effects of the event they name; a final transcript without a delivery id is marked by its utterance''s unique key in vox.call_transcripts';
