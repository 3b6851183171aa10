// PostgreSQL goes away and comes back under one running shim: 503 with
// Retry-After meanwhile (webhooks and GET /health), and the same process
// serves again once the database is back, from the first GET /health on.
// Last, the same for a 10 s outage under load from a redelivering sender.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  appliedEventsSql, callEvents, deliverAll, env, freshWorld, metrics, noRows, postSigned, request, rowsOf, shell,
  shellAsync, startShim, statusUpdate, vapiCall, withClient,
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
  if (databaseStopped) await shellAsync(env.pgStart);
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

// The bound of "within seconds": generous, so that only a shim that does not
// recover by itself misses it, not a slow machine; the real figures are
// printed as diagnostics.
const recoveryBoundMs = 15_000;
const outageMs = 10_000;

test(`stopped for ${outageMs / 1000} s under load: 503 with Retry-After throughout, the same process serves ` +
  `within ${recoveryBoundMs / 1000} s of the restart`, async (t) => {
  // A shim of its own: the metrics above count only their own requests.
  const loaded = await startShim(world, { VOX_SHIM_RETRY_AFTER_S: '2', VOX_SHIM_IP_RATE: '0', VOX_SHIM_CALL_RATE: '0' });
  t.after(() => loaded.stop());
  const pid = loaded.child.pid;
  const deliveries = [];
  for (const tenant of [world.a, world.b]) {
    for (let i = 0; i < 30; i++) {
      for (const body of callEvents(vapiCall(tenant))) {
        deliveries.push({ path: `/webhooks/vapi/${tenant.orgId}`, secret: tenant.secrets.standard, body,
          id: `msg_${randomUUID()}` });
      }
    }
  }
  const times = {};
  const during = []; // webhook answers to attempts sent after the stop, received before the restart
  let firstAckAfterRestart;
  let acknowledged = 0;
  let started;
  const firstAcks = new Promise((resolve) => (started = resolve));
  const load = deliverAll(loaded, deliveries, {
    senders: 4,
    deadlineMs: outageMs + 30_000,
    pauseMs: 200,
    onResponse: (outcome) => {
      if (outcome.status === 200 && ++acknowledged === 10) started();
      if (times.stopped && outcome.sentAt >= times.stopped && !times.restarting) during.push(outcome);
      if (outcome.status === 200 && times.restarted && outcome.sentAt >= times.restarted)
        firstAckAfterRestart ??= outcome.receivedAt;
    },
  });
  await Promise.race([firstAcks, load]);
  assert.ok(acknowledged < deliveries.length, 'the load was over before the outage');

  databaseStopped = true;
  await shellAsync(env.pgStop);
  times.stopped = Date.now();
  const healthDuring = [];
  while (Date.now() - times.stopped < outageMs) {
    healthDuring.push(await request(loaded, 'GET', '/health'));
    assert.equal(loaded.exitStatus(), null, 'the shim exited during the outage');
    await sleep(500);
  }
  times.restarting = Date.now();
  await shellAsync(env.pgStart);
  databaseStopped = false;
  times.restarted = Date.now();
  let health;
  while ((health = await request(loaded, 'GET', '/health')).status !== 200 &&
    Date.now() - times.restarted < recoveryBoundMs + 1000) await sleep(100);
  const healthAfterMs = Date.now() - times.restarted;
  const result = await load;

  for (const response of healthDuring) assertUnavailable(response);
  assert.ok(during.length > 0, 'no webhook answered during the outage');
  for (const outcome of during) {
    assert.equal(outcome.status, 503, outcome.text ?? String(outcome.error));
    assert.equal(outcome.headers['retry-after'], '2');
  }
  assert.equal(health.status, 200, 'GET /health after the restart');
  assert.ok(healthAfterMs <= recoveryBoundMs, `GET /health 200 only ${healthAfterMs} ms after the restart`);
  assert.ok(firstAckAfterRestart - times.restarted <= recoveryBoundMs,
    `first webhook 200 ${firstAckAfterRestart - times.restarted} ms after the restart`);
  assert.equal(loaded.child.pid, pid);
  assert.equal(loaded.exitStatus(), null);
  assert.equal(result.acks.filter((ack) => !ack).length, 0, 'every event acknowledged in the end');
  await withClient(async (db) => {
    const { rows } = await db.query(`SELECT org_id::text || ' ' || event_id AS key FROM ${appliedEventsSql} e`);
    const marked = new Set(rows.map((row) => row.key));
    const lost = result.acks.filter((ack) => !marked.has(`${ack.json.org_id} ${ack.json.event_id}`));
    assert.equal(lost.length, 0, 'acknowledged but not marked');
  });
  t.diagnostic(`outage ${outageMs / 1000} s under load: ${during.length} webhook answers and ${healthDuring.length} ` +
    `GET /health during it, all 503 with Retry-After; after the restart: GET /health 200 in ${healthAfterMs} ms, ` +
    `first webhook 200 in ${firstAckAfterRestart - times.restarted} ms; ${deliveries.length} events, ` +
    `${result.attempts - deliveries.length} redeliveries, 0 lost`);
});
