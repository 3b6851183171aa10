-- phone: the caller's number is stored in E.164, read with libphonenumber in
-- the org's region; a caller id that is no number keeps the call and sets the
-- raw value aside; calls link to the org's oldest lead with that number
-- (DESIGN §2 invariant 6, §5).
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_us '''00000000-0000-4000-8000-00000000000a'''
\set org_gb '''00000000-0000-4000-8000-00000000000b'''
\set org_other '''00000000-0000-4000-8000-00000000000c'''
SELECT vox_test.tenant(:org_us, 'SF Clinic', 'asst-us', 'pn-us', '+14155550100');
SELECT vox_test.tenant(:org_gb, 'London Clinic', 'asst-gb', 'pn-gb', '+442079460001', 'GB');
SELECT vox_test.tenant(:org_other, 'Other SF Clinic', 'asst-other', 'pn-other', '+14155550200');
SELECT name, default_region FROM vox.organizations ORDER BY name;

-- A ringing call of org's assistant from the given caller id.
CREATE FUNCTION pg_temp.ring(call_id text, assistant text, caller text) RETURNS text
LANGUAGE sql AS $$
    SELECT vox.handle_event(vox_test.status_update(
        vox_test.call(call_id, assistant, jsonb_build_object('customer', jsonb_build_object('number', caller))),
        'ringing', 1763740800500)) ->> 'status'
$$;
CREATE TEMP VIEW numbers AS
SELECT o.name AS org, l.vapi_call_id, l.status, l.customer_number, c.customer_number AS calls_number,
       l.metadata AS log_metadata, t.metadata AS tracking_metadata
  FROM vox.call_logs l
  JOIN vox.organizations o ON o.id = l.org_id
  JOIN vox.calls c USING (org_id, vapi_call_id)
  JOIN vox.call_tracking t USING (org_id, vapi_call_id)
 ORDER BY l.vapi_call_id;

---------------------------------------------------------------------------
-- Normalization
---------------------------------------------------------------------------
SELECT call_id, pg_temp.ring(call_id, assistant, caller) AS result
  FROM (VALUES
    ('ph-01-e164',             'asst-us', '+14155550123'),
    -- National formats need the org's region: US here ...
    ('ph-02-us-national',      'asst-us', '(415) 555-0123'),
    ('ph-03-us-dashes',        'asst-us', '415-555-0123'),
    -- ... GB there: the same London number reads only in the GB org.
    ('ph-04-gb-national',      'asst-gb', '020 7946 0000'),
    ('ph-05-gb-number-in-us',  'asst-us', '020 7946 0000'),
    -- E.164 does not depend on the region.
    ('ph-06-gb-e164-in-us',    'asst-us', '+442079460000'),
    -- Caller ids that are no number: the call is still recorded.
    ('ph-07-anonymous',        'asst-us', 'anonymous'),
    ('ph-08-empty',            'asst-us', ''),
    ('ph-09-too-short',        'asst-us', '123')
  ) AS cases(call_id, assistant, caller)
 ORDER BY call_id;
SELECT * FROM numbers;

-- Vapi also sends the customer at the message level; without call.customer
-- that one is read.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('ph-10-message-customer', 'asst-us', '{"customer": null}'),
                                               'ringing', 1763740800500,
                                               '{"customer": {"number": "(415) 555-0124"}}')) ->> 'status';
SELECT * FROM numbers WHERE vapi_call_id = 'ph-10-message-customer';

---------------------------------------------------------------------------
-- Leads
---------------------------------------------------------------------------
-- The caller is on file twice in the US org, and in another org with an even
-- older lead.
INSERT INTO vox.leads (org_id, id, phone, name, created_at) VALUES
    (:org_us, '00000000-0000-4000-8000-0000000a0001', '+14155550123', 'Dana (first)', '2025-01-01'),
    (:org_us, '00000000-0000-4000-8000-0000000a0002', '+14155550123', 'Dana (again)', '2025-06-01'),
    (:org_us, '00000000-0000-4000-8000-0000000a0003', '+14155550999', 'Sam', '2024-01-01'),
    (:org_other, '00000000-0000-4000-8000-0000000c0001', '+14155550123', 'Dana elsewhere', '2020-01-01'),
    (:org_gb, '00000000-0000-4000-8000-0000000b0001', '+442079460000', 'Alex', '2025-01-01');
SELECT call_id, pg_temp.ring(call_id, assistant, caller) AS result
  FROM (VALUES
    -- National format, linked through the normalized number to the US org's
    -- oldest Dana, never to the other org's.
    ('lead-01-us-national', 'asst-us', '(415) 555-0123'),
    ('lead-02-us-e164',     'asst-us', '+14155550123'),
    ('lead-03-other-org',   'asst-other', '+14155550123'),
    ('lead-04-gb-national', 'asst-gb', '020 7946 0000'),
    -- Nobody on file, or no number at all: no lead.
    ('lead-05-unknown',     'asst-us', '+14155550777'),
    ('lead-06-anonymous',   'asst-us', 'anonymous')
  ) AS cases(call_id, assistant, caller)
 ORDER BY call_id;
SELECT o.name AS org, l.vapi_call_id, l.customer_number, ld.name AS log_lead, tl.name AS tracking_lead
  FROM vox.call_logs l
  JOIN vox.organizations o ON o.id = l.org_id
  JOIN vox.call_tracking t USING (org_id, vapi_call_id)
  LEFT JOIN vox.leads ld ON ld.org_id = l.org_id AND ld.id = l.lead_id
  LEFT JOIN vox.leads tl ON tl.org_id = t.org_id AND tl.id = t.lead_id
 WHERE l.vapi_call_id LIKE 'lead-%'
 ORDER BY l.vapi_call_id;

---------------------------------------------------------------------------
-- Longer than E.164 allows
---------------------------------------------------------------------------
-- libphonenumber calls some 17-digit German numbers possible; E.164 stops
-- at 15 digits. Such a caller id is kept aside like any other non-number,
-- and the call is still recorded (it must not fail on a CHECK constraint,
-- whose error would also carry the whole number).
SELECT vox.handle_event(vox_test.status_update(
           vox_test.call('call-long', 'asst-us', '{"customer": {"number": "+49 301234567890123"}}'),
           'ringing', 1763740800500)) ->> 'status' AS status;
SELECT vapi_call_id, customer_number, metadata FROM vox.call_logs WHERE vapi_call_id = 'call-long';

