// 429 with Retry-After: the per-IP limit, before authentication, and the
// per-IP-and-call limit that lets other calls from the same IP through.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  connect, freshWorld, metrics, noRows, post, rowsOf, signedHeaders, startShim, statusUpdate, vapiCall,
} from './harness.mjs';

let world, db;

before(async () => {
  world = await freshWorld();
  db = await connect();
});
after(() => db?.end());

// Signed before sending, so that the requests leave back to back.
function signedRequests(calls, status = 'ringing') {
  return calls.map((call) => {
    const body = statusUpdate(call, status);
    return { call, body, headers: signedHeaders(world.a.secrets.sha256, body) };
  });
}

async function sendAll(shim, requests) {
  const started = Date.now();
  const responses = [];
  for (const { body, headers } of requests)
    responses.push(await post(shim, `/webhooks/vapi/${world.a.orgId}`, body, headers));
  return { responses, seconds: (Date.now() - started) / 1000 };
}

function assertRateLimited(response) {
  assert.equal(response.status, 429, response.text);
  assert.equal(response.json.error, 'rate limited');
  assert.match(response.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  assert.equal(response.headers.get('x-request-id'), response.json.request_id);
}

describe('per client IP (rate 1/s, burst 3)', () => {
  let shim;
  before(async () => {
    shim = await startShim(world, { VOX_SHIM_IP_RATE: '1', VOX_SHIM_IP_BURST: '3' });
  });
  after(() => shim?.stop());

  test('the burst passes, then 429 with Retry-After and nothing written', async () => {
    const requests = signedRequests(Array.from({ length: 12 }, () => vapiCall(world.a)));
    const { responses, seconds } = await sendAll(shim, requests);
    for (const response of responses.slice(0, 3)) assert.equal(response.status, 200, response.text);
    const passed = responses.filter((r) => r.status === 200).length;
    // One token a second refills the bucket while the requests go out.
    assert.ok(passed <= 3 + Math.ceil(seconds), `${passed} passed in ${seconds} s`);
    const limited = responses.map((r, i) => [r, requests[i].call]).filter(([r]) => r.status !== 200);
    assert.ok(limited.length > 0, 'nothing was rate limited');
    for (const [response, call] of limited) {
      assertRateLimited(response);
      assert.ok(noRows(await rowsOf(db, { callId: call.id })));
    }
    const m = await metrics(shim);
    assert.equal(m.value('vox_shim_rate_limited_total', { scope: 'ip' }), limited.length);
    assert.equal(m.value('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '429' }), limited.length);

    // After the wait Retry-After asks for, the next request passes.
    await sleep(Number(limited.at(-1)[0].headers.get('retry-after')) * 1000 + 100);
    const [retry] = signedRequests([limited.at(-1)[1]]);
    const { responses: [again] } = await sendAll(shim, [retry]);
    assert.equal(again.status, 200, again.text);
  });
});

// The per-IP limit comes before authentication: a flood of unsigned
// requests is cut off after the burst, before any of it reaches the secret
// lookup in the database.
describe('per client IP (rate 1/s, burst 3), before authentication', () => {
  let shim;
  before(async () => {
    shim = await startShim(world, { VOX_SHIM_IP_RATE: '1', VOX_SHIM_IP_BURST: '3' });
  });
  after(() => shim?.stop());

  test('unsigned requests to unknown orgs: 401 for the burst, then 429 with Retry-After', async () => {
    const atStart = await metrics(shim);
    const calls = Array.from({ length: 8 }, () => vapiCall(world.a));
    const started = Date.now();
    const responses = [];
    for (const call of calls) responses.push(await post(shim, `/webhooks/vapi/${randomUUID()}`, statusUpdate(call, 'ringing')));
    const seconds = (Date.now() - started) / 1000;
    const statuses = responses.map((r) => r.status);
    // One token a second refills the bucket: within the first second, the
    // burst alone is let through to authentication.
    const refills = Math.floor(seconds);
    const refusedByAuth = statuses.filter((status) => status === 401).length;
    if (refills === 0) assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
    else assert.ok(refusedByAuth <= 3 + refills, `${statuses} in ${seconds} s`);
    assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
    for (const response of responses.filter((r) => r.status !== 401)) assertRateLimited(response);
    for (const call of calls) assert.ok(noRows(await rowsOf(db, { callId: call.id })));

    const atEnd = await metrics(shim);
    const delta = (name, labels) => atEnd.value(name, labels) - atStart.value(name, labels);
    assert.equal(delta('vox_shim_auth_rejected_total', {}), refusedByAuth);
    assert.equal(delta('vox_shim_rate_limited_total', { scope: 'ip' }), statuses.length - refusedByAuth);
    assert.equal(delta('vox_shim_db_errors_total', {}), 0);
    assert.equal(delta('vox_shim_events_total', {}), 0);
  });
});

describe('per client IP and call (rate 0.2/s, burst 2)', () => {
  let shim;
  before(async () => {
    shim = await startShim(world, { VOX_SHIM_CALL_RATE: '0.2', VOX_SHIM_CALL_BURST: '2' });
  });
  after(() => shim?.stop());

  test("one call's empty bucket does not hold up another call from the same IP", async () => {
    const busy = vapiCall(world.a);
    const other = vapiCall(world.a);
    const { responses } = await sendAll(shim, signedRequests([busy, busy, busy, busy, other]));
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 429, 429, 200]);
    assertRateLimited(responses[2]);
    assert.equal(responses[4].json.status, 'processed');
    assert.equal(responses[4].json.vapi_call_id, other.id);
    const m = await metrics(shim);
    assert.equal(m.value('vox_shim_rate_limited_total', { scope: 'call' }), 2);
    assert.equal(m.value('vox_shim_rate_limited_total', { scope: 'ip' }), 0);
  });
});
