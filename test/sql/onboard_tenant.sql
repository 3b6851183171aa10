-- onboard_tenant: examples/onboard-tenant.sql, README's onboarding example,
-- runs as written (twice: the second run only checks the roles and stops),
-- and leaves the org, agent, number and secrets it says: after its rotation
-- and revocation, vox.webhook_secrets_for() (what vox-shim accepts) lists
-- both hmac secrets and the standard-webhooks one, not the revoked one.
\set ECHO none
\i test/fixtures/vapi.sql
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vox_shim') AS had_vox_shim \gset
\o /dev/null
\i examples/onboard-tenant.sql
\i examples/onboard-tenant.sql
\o
\set ECHO all

\set org '''8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012'''
SELECT o.name, o.default_region, a.vapi_assistant_id, a.role, a.active, p.vapi_phone_number_id, p.number
  FROM vox.organizations o JOIN vox.agents a ON a.org_id = o.id JOIN vox.phone_numbers p ON p.agent_id = a.id
 WHERE o.id = :org;

-- Every secret once (the second run added none), with its options.
SELECT scheme, active, expires_at IS NOT NULL AS expires, algorithm, signature_header, signature_encoding,
       signature_prefix, include_timestamp, timestamp_header, payload_format, message_id_header,
       length(secret) AS secret_length
  FROM vox.webhook_secrets WHERE org_id = :org ORDER BY id;

-- What the shim accepts now: the rotated hmac secret until its expiry, the
-- new one, standard-webhooks; not the revoked shared one.
SELECT s ->> 'scheme' AS scheme, s - 'secret' AS options
  FROM jsonb_array_elements(vox.webhook_secrets_for(:org)) s;
-- Once the old hmac secret expires, only the new one of that scheme.
UPDATE vox.webhook_secrets SET expires_at = now() - interval '1 second' WHERE org_id = :org AND expires_at IS NOT NULL;
SELECT s ->> 'scheme' AS scheme FROM jsonb_array_elements(vox.webhook_secrets_for(:org)) s;

-- The roles block gave vox_shim exactly the two entry points.
SELECT has_function_privilege('vox_shim', 'vox.handle_event(uuid, jsonb, text)', 'EXECUTE') AS handle_event,
       has_function_privilege('vox_shim', 'vox.webhook_secrets_for(uuid)', 'EXECUTE') AS secrets_for,
       has_function_privilege('vox_shim', 'vox.register_outbound_call(uuid, text, uuid, uuid, jsonb)', 'EXECUTE')
           AS register_outbound_call,
       has_table_privilege('vox_shim', 'vox.call_logs', 'SELECT') AS reads_call_logs;

-- A request to the org's URL for its assistant, and for its number dialled
-- in national format, lands in the org.
SELECT vox.handle_event(:org::uuid, vox_test.status_update(vox_test.call('call-harbour-1', 'asst_harbour_inbound'),
                                                            'in-progress', 1763740801000)) ->> 'status' AS status;
SELECT vox.handle_event(:org::uuid, '{"message": {"type": "assistant-request",
    "phoneNumber": {"number": "020 7123 4567"}}}'::jsonb) ->> 'assistantId' AS answers;
SELECT org_id = :org AS in_org, status FROM vox.call_logs WHERE vapi_call_id = 'call-harbour-1';

\set ECHO none
\if :had_vox_shim
\else
DROP OWNED BY vox_shim;
DROP ROLE vox_shim;
\endif
