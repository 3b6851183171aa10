-- Onboarding a tenant: an organization, its agent (a Vapi assistant), its
-- phone number, and the secrets that sign its webhooks to
-- POST /webhooks/vapi/{org_id}; then a rotation and a revocation.
--
--   psql "host=127.0.0.1 port=5433 dbname=vox user=postgres" -f examples/onboard-tenant.sql
--
-- Change the values below to your own. Run as the database owner (the
-- secrets table is readable by its owner only). The roles block can run any
-- number of times; the tenant is onboarded once: a second run says so and
-- stops there.
\set ON_ERROR_STOP on

\set org_id '8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012'
\set org_name 'Harbour Dental'
-- The region national phone numbers of this org are read in (ISO 3166-1).
\set region 'GB'
\set agent_id '8d1f6a3e-2b7c-4e59-9a40-00000000a001'
\set vapi_assistant_id 'asst_harbour_inbound'
\set vapi_phone_number_id 'pn_harbour_main'
\set phone_number '+442071234567'

-- Roles ---------------------------------------------------------------------
-- The shim's role may call the two webhook entry points and nothing else.
-- `bash scripts/up.sh` has already created it; these statements change
-- nothing then, and create it on a server up.sh did not set up.
SELECT 'CREATE ROLE vox_shim LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vox_shim')
\gexec
GRANT USAGE ON SCHEMA vox TO vox_shim;
GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text), vox.webhook_secrets_for(uuid) TO vox_shim;

SELECT EXISTS (SELECT 1 FROM vox.organizations WHERE id = :'org_id') AS onboarded \gset
\if :onboarded
SELECT format('%s is already onboarded; its secrets: SELECT id, scheme, active, expires_at, secret '
              'FROM vox.webhook_secrets WHERE org_id = %L;', :'org_name', :'org_id') AS note;
\quit
\endif

BEGIN;

-- The tenant ----------------------------------------------------------------
INSERT INTO vox.organizations (id, name, default_region) VALUES (:'org_id', :'org_name', :'region');
-- vapi_assistant_id routes: events naming it belong to this org. One agent
-- per role; an inactive agent (active = false) takes no new calls.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:'org_id', :'agent_id', :'vapi_assistant_id', 'Harbour receptionist', 'inbound');
-- The number in E.164; the agent answers its assistant-requests.
INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id)
VALUES (:'org_id', :'vapi_phone_number_id', :'phone_number', :'agent_id');

-- Secrets -------------------------------------------------------------------
-- Any active, unexpired secret of the org may sign a request. Each is made
-- here from 32 random bytes; copy it into the sender (Vapi's credential) from
-- the list printed at the end.

-- hmac, Vapi's HMAC credential. Every signing option is a column; these are
-- the defaults, spelled out: x-signature carries the hex HMAC-SHA256 of
-- "{timestamp}.{body}" with no prefix, x-timestamp the Unix time.
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, algorithm, signature_header, signature_encoding,
                                 signature_prefix, include_timestamp, timestamp_header, payload_format,
                                 message_id_header)
VALUES (:'org_id', 'hmac', encode(sha256(gen_random_uuid()::text::bytea), 'hex'),
        'sha256',             -- or sha512, sha1
        'x-signature',        -- the header with the signature
        'hex',                -- or base64
        '',                   -- text before the signature, e.g. 'sha256='
        true,                 -- a signed timestamp is required (stale or future ones are refused)
        'x-timestamp',        -- the header with the Unix time, seconds or milliseconds
        '{timestamp}.{body}', -- what is signed; '{body}' alone needs include_timestamp false
        NULL);                -- a header with a delivery id that makes redeliveries duplicates

-- standard-webhooks (webhook-id, webhook-timestamp, webhook-signature): the
-- secret is all there is to set; webhook-id is the delivery id.
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
VALUES (:'org_id', 'standard-webhooks', 'whsec_' || encode(sha256(gen_random_uuid()::text::bytea), 'base64'));

-- shared: the secret itself in x-vapi-secret or Authorization: Bearer. No
-- signature over the body: prefer hmac or standard-webhooks.
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
VALUES (:'org_id', 'shared', encode(sha256(gen_random_uuid()::text::bytea), 'hex'));

COMMIT;

-- Rotation ------------------------------------------------------------------
-- Add the new secret, give it to the sender, and let the old one expire once
-- the sender uses the new one: until then both are accepted.
BEGIN;
INSERT INTO vox.webhook_secrets (org_id, scheme, secret)
VALUES (:'org_id', 'hmac', encode(sha256(gen_random_uuid()::text::bytea), 'hex'));
UPDATE vox.webhook_secrets SET expires_at = now() + interval '1 day'
 WHERE org_id = :'org_id' AND scheme = 'hmac'
   AND id = (SELECT min(id) FROM vox.webhook_secrets WHERE org_id = :'org_id' AND scheme = 'hmac');
COMMIT;

-- Revocation ----------------------------------------------------------------
-- A secret that leaked is switched off (the row stays, for the audit log).
-- vox-shim hears of the commit (NOTIFY vox_webhook_secrets) and refuses the
-- secret within a second.
UPDATE vox.webhook_secrets SET active = false WHERE org_id = :'org_id' AND scheme = 'shared';

-- What the org's URL now accepts: the two hmac secrets (the old one until it
-- expires) and the standard-webhooks one; the shared one is revoked.
SELECT id, scheme, active, expires_at, secret
  FROM vox.webhook_secrets WHERE org_id = :'org_id' ORDER BY id;
SELECT 'POST /webhooks/vapi/' || :'org_id' AS webhook_route;
