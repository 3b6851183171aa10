// PostgreSQL goes away and comes back under one running shim: 503 with
// Retry-After meanwhile (webhooks and GET /health), and the same process
// serves again once the database is back, from the first GET /health on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  env, freshWorld, metrics, noRows, postSigned, request, rowsOf, shell, startShim, statusUpdate, vapiCall, withClient,
} from './harness.mjs';

let world, shim;
let databaseStopped = false;
const refusedCalls = [];

before(async () => {
  world = await freshWorld();
  shim = await startShim(world, { VOX_SHIM_RETRY_AFTER_S: '2' });
});
after(async () => {
  // Whatever failed, later test files need the cluster.
  if (databaseStopped) shell(env.pgStart);
  await shim?.stop();
});

const sendA = (call, route = 'org') =>
  postSigned(shim, route === 'org' ? world.a.secrets.sha256 : world.shimSecrets.sha256, statusUpdate(call, 'ringing'),
    { orgId: route === 'org' ? world.a.orgId : undefined });

function assertUnavailable(response) {
  assert.equal(response.status, 503, response.text);
  assert.equal(response.headers.get('retry-after'), '2');
  assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f]{16}$/);
}

test('before: processed (org A secrets now cached)', async () => {
  assert.equal((await sendA(vapiCall(world.a))).status, 200);
});

test('database stopped: 503 with Retry-After on both routes and GET /health', async () => {
  const before = await metrics(shim);
  shell(env.pgStop);
  databaseStopped = true;

  const health = await request(shim, 'GET', '/health');
  assertUnavailable(health);
  assert.deepEqual(health.json, { status: 'unavailable' });

  for (const route of ['org', 'shim']) {
    const call = vapiCall(world.a);
    refusedCalls.push(call);
    const response = await sendA(call, route);
    assertUnavailable(response);
    assert.equal(response.json.error, 'temporarily unavailable');
    assert.match(response.json.sqlstate, /^(08|57P0)/);
  }
  // Org B's secrets were never read: the shim cannot tell whether it is signed.
  const call = vapiCall(world.b);
  refusedCalls.push(call);
  assertUnavailable(await postSigned(shim, world.b.secrets.shared, statusUpdate(call, 'ringing'), { orgId: world.b.orgId }));

  const after = await metrics(shim);
  assert.ok(after.value('vox_shim_db_errors_total', { class: '08' }) > before.value('vox_shim_db_errors_total', { class: '08' }));
  assert.equal(after.value('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '503' }), 2);
  assert.equal(after.value('vox_shim_requests_total', { route: '/webhooks/vapi', status: '503' }), 1);
  assert.equal(after.value('vox_shim_requests_total', { route: '/health', status: '503' }), 1);
});

test('database started again: the same shim process recovers', async () => {
  const pid = shim.child.pid;
  shell(env.pgStart);
  databaseStopped = false;

  const deadline = Date.now() + 15_000;
  let health;
  while ((health = await request(shim, 'GET', '/health')).status !== 200 && Date.now() < deadline) await sleep(200);
  assert.equal(health.status, 200, 'GET /health after the restart');
  assert.equal(shim.child.pid, pid);
  assert.equal(shim.child.exitCode, null);

  for (const route of ['org', 'shim']) {
    const call = vapiCall(world.a);
    const response = await sendA(call, route);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.status, 'processed');
  }
  // Nothing of what was refused with 503 was written.
  await withClient(async (db) => {
    for (const call of refusedCalls) assert.ok(noRows(await rowsOf(db, { callId: call.id })));
  });
});

// A pooled connection outlives a restart as a stale session: GET /health must
// not report the database down once it is back up.
test('a restart between two GET /health: the first one after it answers 200', async () => {
  const first = await request(shim, 'GET', '/health');
  assert.equal(first.status, 200, 'before the restart: a pooled connection now exists');
  shell(env.pgStop);
  databaseStopped = true;
  shell(env.pgStart);
  databaseStopped = false;
  const health = await request(shim, 'GET', '/health');
  assert.equal(health.status, 200, health.text);
  assert.deepEqual(health.json, { status: 'ok' });
});
