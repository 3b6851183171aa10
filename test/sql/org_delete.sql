-- org_delete: the tables events write have no foreign key to organizations
-- (vox 0.6.0); deleting an org still takes every row of it and no other org's,
-- only at READ COMMITTED (its concurrency: specs/org_delete_race.spec), an id
-- that rows name cannot change, and truncating organizations empties them.
\set ECHO none
\i test/fixtures/vapi.sql
\set ECHO all

\set org_a '''00000000-0000-4000-8000-00000000000a'''
\set org_b '''00000000-0000-4000-8000-00000000000b'''
SELECT vox_test.tenant(:org_a, 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant(:org_b, 'Clinic B', 'asst-b', 'pn-b', '+14155550200');

-- Rows per org in every table an event or registration writes; rows naming
-- an org that does not exist are 'orphan'.
CREATE TEMP VIEW event_rows AS
SELECT tbl, CASE WHEN NOT EXISTS (SELECT FROM vox.organizations o WHERE o.id = r.org_id) THEN 'orphan'
                 WHEN r.org_id = :org_a THEN 'A' ELSE 'B' END AS org, count(*)
  FROM (SELECT 'processed_webhook_events' AS tbl, org_id FROM vox.processed_webhook_events
        UNION ALL SELECT 'call_tracking', org_id FROM vox.call_tracking
        UNION ALL SELECT 'call_logs', org_id FROM vox.call_logs
        UNION ALL SELECT 'calls', org_id FROM vox.calls
        UNION ALL SELECT 'call_transcripts', org_id FROM vox.call_transcripts
        UNION ALL SELECT 'outbox', org_id FROM vox.outbox
        UNION ALL SELECT 'recording_upload_queue', org_id FROM vox.recording_upload_queue) r
 GROUP BY 1, 2 ORDER BY 1, 2;

-- The same call id in both orgs, each with a transcript and a report, and an
-- outbound registration in A.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-1', asst), 'in-progress', 1763740801000)) ->> 'status',
       vox.handle_event(vox_test.transcript(vox_test.call('call-1', asst), 'user', 'Hello', 1763740802000)) ->> 'status',
       vox.handle_event(vox_test.end_of_call_report(vox_test.call('call-1', asst), 1763740862000)) ->> 'status'
  FROM (VALUES ('asst-a'), ('asst-b')) v(asst);
SELECT vox.register_outbound_call(:org_a, 'call-out') ->> 'status' AS registered;
SELECT * FROM event_rows;

---------------------------------------------------------------------------
-- Deleting an org
---------------------------------------------------------------------------
-- Not at REPEATABLE READ or SERIALIZABLE: their snapshot could miss the rows
-- of events that committed while the deletion waited for them.
BEGIN ISOLATION LEVEL REPEATABLE READ;
DELETE FROM vox.organizations WHERE id = :org_a;
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
DELETE FROM vox.organizations WHERE id = :org_a;
ROLLBACK;
SELECT * FROM event_rows;

-- At READ COMMITTED every row of A goes, and B's stay.
DELETE FROM vox.organizations WHERE id = :org_a;
SELECT * FROM event_rows;
-- An event for A's assistant now parks (its agent went with its org), and a
-- registration for A is refused.
SELECT vox.handle_event(vox_test.status_update(vox_test.call('call-2', 'asst-a'), 'in-progress', 1763740901000)) ->> 'status' AS after_delete;
SELECT vox.register_outbound_call(:org_a, 'call-out-2');

---------------------------------------------------------------------------
-- An org's id
---------------------------------------------------------------------------
-- B has rows: its id cannot change (as under the foreign keys' NO ACTION).
UPDATE vox.organizations SET id = '00000000-0000-4000-8000-0000000000bb' WHERE id = :org_b;
-- Other columns may.
UPDATE vox.organizations SET name = 'Clinic B, renamed' WHERE id = :org_b;
-- An org nothing names may take another id.
INSERT INTO vox.organizations (id, name) VALUES ('00000000-0000-4000-8000-00000000000c', 'Clinic C');
UPDATE vox.organizations SET id = '00000000-0000-4000-8000-0000000000cc' WHERE id = '00000000-0000-4000-8000-00000000000c'
RETURNING id;

---------------------------------------------------------------------------
-- Truncating organizations
---------------------------------------------------------------------------
-- Its other tables hold foreign keys: CASCADE is needed, and takes the event
-- tables too.
TRUNCATE vox.organizations;
TRUNCATE vox.organizations CASCADE;
SELECT * FROM event_rows;

-- The trigger function belongs to organizations only.
CREATE TEMP TABLE not_organizations (id uuid);
CREATE TRIGGER misplaced BEFORE DELETE ON not_organizations FOR EACH ROW EXECUTE FUNCTION vox.organization_event_rows();
INSERT INTO not_organizations VALUES (gen_random_uuid());
DELETE FROM not_organizations;
