-- signed_org: vox.handle_event(org_id, payload) for a request signed by
-- org_id's secret. A validly signed tenant can never write another tenant's
-- rows (DESIGN §2, invariant 5), and the shim reads secrets only through
-- vox.webhook_secrets_for().
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-b', 'asst-b'), 'in-progress', 1763740801000));
CREATE TEMP TABLE b_before AS SELECT * FROM vox_test.call_rows(:org_b, 'call-b');

---------------------------------------------------------------------------
-- The signer's own events apply as usual
---------------------------------------------------------------------------
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-a', 'asst-a'), 'ringing', 1763740800000));
-- By phone number, and by call id alone: both A's.
SELECT vox.handle_event(:org_a, vox_test.status_update(
    vox_test.call('call-a2', NULL, '{"phoneNumberId": "pn-a"}'), 'in-progress', 1763740801000));
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-a', NULL), 'ended', 1763740900000))
    ->> 'status' AS call_id_only;
-- NULL org_id: no signer, the same as the one-argument form.
SELECT vox.handle_event(NULL::uuid, vox_test.status_update(vox_test.call('call-b', 'asst-b'), 'ended', 1763740900000))
    ->> 'org_id' AS unsigned_resolves_to_b;

---------------------------------------------------------------------------
-- Signed by A, naming B: refused, nothing of B changes
---------------------------------------------------------------------------
-- B's assistant.
SELECT vox_test.attempt(vox_test.end_of_call_report(vox_test.call('call-b', 'asst-b'), 1763741000000), NULL, :org_a);
-- B's phone number.
SELECT vox_test.attempt(vox_test.end_of_call_report(
    vox_test.call('call-b', NULL, '{"phoneNumberId": "pn-b"}'), 1763741000000), NULL, :org_a);
-- B's assistant on a new call id: no call is created anywhere.
SELECT vox_test.attempt(vox_test.status_update(vox_test.call('call-new', 'asst-b'), 'in-progress', 1763740801000),
                        NULL, :org_a);
-- Only B's call id: A holds no such call, so the event waits for A's, never
-- B's.
SELECT vox.handle_event(:org_a, vox_test.end_of_call_report(vox_test.call('call-b', NULL), 1763741000000))
    - 'event_id' AS b_call_id_only;
-- The same payload unsigned is B's (call-b is B's only call with that id).
SELECT vox.handle_event(vox_test.transcript(vox_test.call('call-b', NULL), 'user', 'Hello?', 1763740802000))
    ->> 'org_id' AS unsigned_call_id_only;
-- B's rows are as before but for the unsigned events.
SELECT tbl, row_data ->> 'status' AS status, row_data ->> 'summary' AS summary
  FROM vox_test.call_rows(:org_b, 'call-b') ORDER BY 1;
SELECT count(*) AS calls_named_call_new FROM vox.call_tracking WHERE vapi_call_id = 'call-new';
SELECT count(*) AS org_a_marks_for_b_calls FROM vox.processed_webhook_events
 WHERE org_id = :org_a AND vapi_call_id IN ('call-b', 'call-new');

---------------------------------------------------------------------------
-- Parked with a signer: applied only to that org
---------------------------------------------------------------------------
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-p1', 'asst-later'), 'in-progress', 1763740801000))
    ->> 'reason' AS parked_reason;
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-p2', 'asst-later-a'), 'in-progress', 1763740801000))
    ->> 'reason' AS parked_reason;
-- The same event unsigned, and signed by B: three separate parked events.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-p1', 'asst-later'), 'in-progress', 1763740801000))
    ->> 'status';
SELECT vox.handle_event(:org_b, vox_test.status_update(vox_test.call('call-p1', 'asst-later'), 'in-progress', 1763740801000))
    ->> 'status';
SELECT vapi_call_id, CASE signer_org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS signer
  FROM vox.parked_events ORDER BY id;
-- asst-later turns out to be B's: A's copy is refused and stays parked with the
-- error, after one attempt (B's new call does not retry an event A signed);
-- the unsigned and B-signed copies apply to B.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_b, md5('asst-later')::uuid, 'asst-later', 'B outbound', 'outbound');
SELECT vapi_call_id, CASE signer_org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS signer, attempts, last_error
  FROM vox.parked_events ORDER BY id;
SELECT CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, vapi_call_id, status
  FROM vox.call_logs WHERE vapi_call_id LIKE 'call-p%' ORDER BY 2, 1;
-- asst-later-a is A's: A's parked event applies.
INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role)
VALUES (:org_a, md5('asst-later-a')::uuid, 'asst-later-a', 'A outbound', 'outbound');
SELECT CASE org_id WHEN :org_a THEN 'A' WHEN :org_b THEN 'B' END AS org, vapi_call_id, status
  FROM vox.call_logs WHERE vapi_call_id LIKE 'call-p%' ORDER BY 2, 1;

---------------------------------------------------------------------------
-- assistant-request: only the signer's numbers answer
---------------------------------------------------------------------------
SELECT vox.handle_event(:org_a, '{"message": {"type": "assistant-request", "phoneNumber": {"id": "pn-a", "number": "+14155550100"}}}'::jsonb)
    ->> 'assistantId' AS own_number;
SELECT vox.handle_event(:org_a, '{"message": {"type": "assistant-request", "phoneNumber": {"id": "pn-b", "number": "+14155550200"}}}'::jsonb)
    - 'event_type' AS other_orgs_number;
-- A dialled number in national format is read in the signer's region, as
-- callers' numbers are: 020 7123 4567 is the GB org's +44 20 7123 4567. On
-- the shared route no region is known: only the international form matches.
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000c', 'Clinic GB', 'asst-gb', 'pn-gb', '+442071234567', 'GB');
SELECT vox.handle_event('00000000-0000-4000-8000-00000000000c'::uuid,
    '{"message": {"type": "assistant-request", "phoneNumber": {"number": "020 7123 4567"}}}'::jsonb)
    ->> 'assistantId' AS gb_national_signed;
SELECT vox.handle_event(:org_a, '{"message": {"type": "assistant-request", "phoneNumber": {"number": "020 7123 4567"}}}'::jsonb)
    ->> 'reason' AS gb_national_signed_by_us_org;
SELECT vox.handle_event('{"message": {"type": "assistant-request", "phoneNumber": {"number": "020 7123 4567"}}}'::jsonb)
    ->> 'reason' AS gb_national_unsigned;
SELECT vox.handle_event('{"message": {"type": "assistant-request", "phoneNumber": {"number": "+44 20 7123 4567"}}}'::jsonb)
    ->> 'assistantId' AS gb_international_unsigned;

---------------------------------------------------------------------------
-- Webhook secrets
---------------------------------------------------------------------------
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'shared', 'shh-a');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, algorithm, signature_encoding, signature_prefix,
                                 payload_format, message_id_header)
VALUES (:org_a, 'hmac', 'key-a', 'sha512', 'base64', 'sha512=', '{timestamp}:{body}', 'x-message-id');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, expires_at)
VALUES (:org_a, 'standard-webhooks', 'whsec_b2xk', now() - interval '1 second');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, active) VALUES (:org_a, 'shared', 'retired', false);
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_b, 'standard-webhooks', 'whsec_Yg==');
-- A's accepted secrets: expired and inactive ones are left out; HMAC
-- settings only for HMAC secrets.
SELECT jsonb_pretty(vox.webhook_secrets_for(:org_a));
SELECT vox.webhook_secrets_for('00000000-0000-4000-8000-0000000000ff') AS unknown_org;
-- A payload format must sign the body and use no other placeholder. (Terse:
-- the failing row's DETAIL holds a creation time.)
\set VERBOSITY terse
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, payload_format) VALUES (:org_a, 'hmac', 'k', '{timestamp}');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, payload_format) VALUES (:org_a, 'hmac', 'k', '{url}.{body}');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES (:org_a, 'basic', 'k');
-- A checked timestamp must be signed.
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, payload_format) VALUES (:org_a, 'hmac', 'k', '{body}');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret, payload_format, include_timestamp)
VALUES (:org_a, 'hmac', 'k', '{body}', false);
SELECT count(*) AS a_secrets FROM vox.webhook_secrets WHERE org_id = :org_a;
\set VERBOSITY default

-- A role like the shim's: EXECUTE on the entry points, no table privileges.
CREATE ROLE vox_test_shim;
GRANT USAGE ON SCHEMA vox, vox_test TO vox_test_shim;
GRANT EXECUTE ON FUNCTION vox.webhook_secrets_for(uuid), vox.handle_event(uuid, jsonb, text) TO vox_test_shim;
SET ROLE vox_test_shim;
SELECT jsonb_array_length(vox.webhook_secrets_for(:org_b)) AS b_secrets;
SELECT vox.handle_event(:org_a, vox_test.status_update(vox_test.call('call-shim', 'asst-a'), 'ringing', 1763740800000))
    ->> 'status' AS via_shim_role;
SELECT secret FROM vox.webhook_secrets;
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-shim', 'asst-a'), 'ringing', 1763740800000));
RESET ROLE;
DROP OWNED BY vox_test_shim;
DROP ROLE vox_test_shim;
