-- Before vox.distribute(): two clinics with a call each, a parked event, a
-- lead, a webhook secret and a feed credential. The same on the single node.
\set ON_ERROR_STOP 1
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000a', 'Clinic A', 'asst-a', 'pn-a', '+14155550100');
SELECT vox_test.tenant('00000000-0000-4000-8000-00000000000b', 'Clinic B', 'asst-b', 'pn-b', '+14155550101');
INSERT INTO vox.leads (org_id, id, phone, name) VALUES ('00000000-0000-4000-8000-00000000000a', md5('ann')::uuid, '+14155550123', 'Ann');
INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES ('00000000-0000-4000-8000-00000000000a', 'standard-webhooks', 'whsec_a');
INSERT INTO vox.feed_credentials (org_id, label, secret_hash) VALUES ('00000000-0000-4000-8000-00000000000b', 'wallboard', sha256('feed-b'));
SELECT vox.handle_event('00000000-0000-4000-8000-00000000000a',
                        vox_test.status_update(vox_test.call('before-1', 'asst-a'), 'ringing', 1763740800000), 'before-d1');
SELECT vox.handle_event('00000000-0000-4000-8000-00000000000b',
                        vox_test.end_of_call_report(vox_test.call('before-2', 'asst-b'), 1763740900000), 'before-d2');
SELECT vox.handle_event(vox_test.status_update(vox_test.call('before-3', 'asst-later'), 'ringing', 1763740800000));
