-- vox 0.3.0: what a DBA needs (least-privilege worker, pg_dump keeps vox's
-- data, no forgeable audit, bounded replay).

\echo Use "ALTER EXTENSION vox UPDATE TO '0.3.0'" to load this file. \quit

-- >>> Secret revocation within a second (issue 13) >>>
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
-- <<< Secret revocation within a second <<<
