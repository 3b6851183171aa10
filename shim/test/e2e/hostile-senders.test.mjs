// What a signed tenant or a stranger could do through the body, the path or
// X-Forwarded-For: bounded keys and log fields, one cache entry per org,
// bodies PostgreSQL can parse.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  connect, exchange, freshWorld, post, rowsOf, signedHeaders, startShim, statusUpdate, vapiCall,
} from './harness.mjs';

let world, shim, db;

before(async () => {
  world = await freshWorld();
  db = await connect();
  // 127.0.0.1 is the load balancer; each client may send 2 requests and then
  // one every 1000 s.
  shim = await startShim(world, { VOX_SHIM_TRUSTED_PROXIES: '127.0.0.1', VOX_SHIM_IP_RATE: '0.001',
    VOX_SHIM_IP_BURST: '2', VOX_SHIM_STATEMENT_TIMEOUT_MS: '500' });
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

const orgRoute = (orgId = world.a.orgId) => `/webhooks/vapi/${orgId}`;
const signed = (body) => signedHeaders(world.a.secrets.sha256, body);

// An unsigned webhook with these X-Forwarded-For lines, on a connection of
// its own: its status.
async function forwarded(lines) {
  const body = statusUpdate(vapiCall(world.a), 'ringing');
  const head = [`POST ${orgRoute()} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...lines.map((line) => `X-Forwarded-For: ${line}`)];
  const { responses } = await exchange(shim, Buffer.from(head.join('\r\n') + '\r\n\r\n' + body));
  return responses[0]?.status;
}

describe('X-Forwarded-For', () => {
  test("a client's own line ahead of the proxy's does not escape the per-IP limit", async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await forwarded([`10.9.0.${i}`, '203.0.113.7']));
    assert.deepEqual(statuses, [401, 401, 429, 429]);
  });

  test('a hop that is not an address is no rate-limit key: the proxy is', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await forwarded([`not-an-address-${randomUUID()}`]));
    assert.deepEqual(statuses, [401, 401, 429, 429]);
  });
});

// The clients below each come through their own forwarded address, clear of
// the limits above.
const as = (client) => ({ 'x-forwarded-for': client });
let clients = 0;
const newClient = () => `198.51.100.${++clients}`;

test('a call id over 128 bytes: 400 before it is a rate-limit key or a log field', async () => {
  const call = vapiCall(world.a, { id: 'c'.repeat(200) });
  const body = statusUpdate(call, 'ringing');
  const response = await post(shim, orgRoute(), body, { ...as(newClient()), ...signed(body) });
  assert.equal(response.status, 400, response.text);
  assert.match(response.json.error, /call\.id/);
  const line = await shim.logLineOf(response.json.request_id);
  assert.equal(line.call_id, undefined);
});

test("an org id in another letter case is the same cache entry: no database lookup", async () => {
  // Cached under its canonical spelling, then the secrets table is locked:
  // a lookup would wait out the statement timeout (503).
  const body = statusUpdate(vapiCall(world.a), 'ringing');
  assert.equal((await post(shim, orgRoute(), body, { ...as(newClient()), ...signed(body) })).status, 200);
  await db.query('BEGIN');
  try {
    await db.query('LOCK TABLE vox.webhook_secrets IN ACCESS EXCLUSIVE MODE');
    for (const spelling of [world.a.orgId.toUpperCase(), world.a.orgId.replace(/[a-f]/, (c) => c.toUpperCase())]) {
      const call = vapiCall(world.a);
      const variant = statusUpdate(call, 'ringing');
      const response = await post(shim, orgRoute(spelling), variant, { ...as(newClient()), ...signed(variant) });
      assert.equal(response.status, 200, `${spelling}: ${response.text}`);
      assert.equal(response.json.org_id, world.a.orgId);
    }
  } finally {
    await db.query('ROLLBACK');
  }
});

describe('bodies PostgreSQL takes, and bodies it cannot', () => {
  test('a number beyond a double (1e400) is processed, as PostgreSQL accepts it', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing').replace('{"message":{', '{"message":{"huge":1e400,');
    assert.ok(body.includes('"huge":1e400'));
    const response = await post(shim, orgRoute(), body, { ...as(newClient()), ...signed(body) });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.status, 'processed');
    assert.equal((await rowsOf(db, { callId: call.id })).calls.length, 1);
    assert.equal((await shim.logLineOf(response.headers.get('x-request-id')))?.body_unread, true);
  });

  test('a body nested 100,000 deep: 400 from the shim (not a 500 from the database, retried for ever)', async () => {
    const body = `{"message":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const response = await post(shim, orgRoute(), body, { ...as(newClient()), ...signed(body) });
    assert.equal(response.status, 400, response.text);
    assert.match(response.json.error, /nested/);
  });
});
