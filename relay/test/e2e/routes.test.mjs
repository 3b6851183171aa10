// The relay's other answers, as the contract spells them: GET /healthz,
// GET /metrics with every metric a dashboard of the relay needs, and 404
// with one body for anything else (the dashboard too, when no directory is
// configured).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { freshWorld, newCredential, request, startRelay } from './harness.mjs';

let world, relay, cred;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
});
after(() => relay?.stop());

test('GET /healthz: 200 {"status":"ok"}', async () => {
  const response = await request(relay, 'GET', '/healthz');
  assert.equal(response.status, 200);
  assert.deepEqual(response.json, { status: 'ok' });
});

// A labelled counter has no sample before its first count: its TYPE line
// says it is there.
test('GET /metrics: the five metrics of the contract', async () => {
  const response = await request(relay, 'GET', '/metrics');
  assert.equal(response.status, 200);
  for (const [name, type] of [['vox_relay_streams_open', 'gauge'], ['vox_relay_events_sent_total', 'counter'],
    ['vox_relay_streams_refused_total', 'counter'], ['vox_relay_slow_clients_dropped_total', 'counter'],
    ['vox_relay_reads_total', 'counter']])
    assert.match(response.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
});

test('anything else: 404 {"error":"not_found"}, credential or not', async () => {
  const authorization = { authorization: `Bearer ${cred.token}` };
  for (const pathname of ['/', '/dashboard/', '/dashboard/index.html', '/v1/orgs', `/v1/orgs/${world.a.orgId}`,
    `/v1/orgs/${world.a.orgId}/feeds`, `/v1/orgs/${world.a.orgId}/calls/x`, '/webhooks/vapi']) {
    for (const headers of [{}, authorization]) {
      const response = await request(relay, 'GET', pathname, { headers });
      assert.equal(response.status, 404, `${pathname}: ${response.status} ${response.text}`);
      assert.deepEqual(response.json, { error: 'not_found' }, pathname);
    }
  }
});
