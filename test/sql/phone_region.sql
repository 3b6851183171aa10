-- phone_region: a national caller number is read in its org's region, and
-- the E.164 cache remembers an answer per region, not per raw text
-- (DESIGN §2 invariant 6). phone.sql has the full table; these are the two
-- rules on their own, in the order that would expose a cache shared across
-- regions.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_us '''00000000-0000-4000-8000-00000000000a'''
\set org_gb '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_us, 'SF Clinic', 'asst-us', 'pn-us', '+14155550100');
SELECT vox_test.tenant(:org_gb, 'London Clinic', 'asst-gb', 'pn-gb', '+442079460001', 'GB');

CREATE FUNCTION pg_temp.caller(call_id text, assistant text, caller text) RETURNS text LANGUAGE sql AS $$
    SELECT vox.handle_event(vox_test.status_update(
        vox_test.call(call_id, assistant, jsonb_build_object('customer', jsonb_build_object('number', caller))),
        'ringing', 1763740800500)) ->> 'status';
    SELECT customer_number FROM vox.call_logs WHERE vapi_call_id = call_id;
$$;

-- A US national number in the US org: E.164.
SELECT pg_temp.caller('call-us-national', 'asst-us', '(415) 555-0123') = '+14155550123' AS us_national_read;
-- A London national number, first in the US org (where it is no number),
-- then, in the same session, in the GB org (where it is one).
SELECT pg_temp.caller('call-gb-in-us', 'asst-us', '020 7946 0000') IS NULL AS not_a_us_number;
SELECT pg_temp.caller('call-gb-in-gb', 'asst-gb', '020 7946 0000') = '+442079460000' AS gb_national_read;
-- And back: the US answer is still the US one.
SELECT pg_temp.caller('call-gb-in-us-again', 'asst-us', '020 7946 0000') IS NULL AS still_not_a_us_number;
