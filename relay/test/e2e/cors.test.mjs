// Cross-origin browsers only from --allowed-origins: the allowed origin is
// echoed (with Vary: Origin), any other origin gets no CORS header at all;
// a preflight is answered 204 for an allowed origin, with the headers an
// EventSource polyfill or fetch sends (Authorization, Last-Event-ID), and
// 403 for any other.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { feedPath, freshWorld, newCredential, openFeed, startRelay, timeoutMs } from './harness.mjs';

const allowed = ['https://dashboard.clinic.example', 'http://localhost:3000'];
let world, relay, cred;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay({ VOX_RELAY_ALLOWED_ORIGINS: allowed.join(',') });
});
after(() => relay?.stop());

// An OPTIONS request with `headers` (fetch would not send a preflight as is).
function preflight(server, pathname, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(server.url + pathname, { method: 'OPTIONS', headers, agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
      });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const preflightHeaders = (origin) => ({
  origin,
  'access-control-request-method': 'GET',
  'access-control-request-headers': 'authorization,last-event-id',
});

describe('the feed', () => {
  for (const origin of allowed) {
    test(`allowed origin ${origin}: echoed, with Vary: Origin`, async () => {
      const stream = await openFeed(relay, world.a.orgId, cred.token, { headers: { origin } });
      stream.close();
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['access-control-allow-origin'], origin);
      assert.match(stream.headers.vary ?? '', /\borigin\b/i);
    });
  }

  for (const origin of ['https://evil.example', 'https://dashboard.clinic.example.evil.example',
    'http://dashboard.clinic.example', 'null', allowed.join(',')]) {
    test(`other origin ${origin}: no CORS header`, async () => {
      const stream = await openFeed(relay, world.a.orgId, cred.token, { headers: { origin } });
      stream.close();
      for (const name of Object.keys(stream.headers))
        assert.ok(!name.startsWith('access-control-'), `${name}: ${stream.headers[name]}`);
    });
  }

  test('no Origin (a server-side client): no CORS header', async () => {
    const stream = await openFeed(relay, world.a.orgId, cred.token);
    stream.close();
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['access-control-allow-origin'], undefined);
  });
});

describe('preflight', () => {
  test('allowed origin: 204, that origin, GET, Authorization and Last-Event-ID', async () => {
    const response = await preflight(relay, feedPath(world.a.orgId), preflightHeaders(allowed[0]));
    assert.equal(response.status, 204);
    assert.equal(response.headers['access-control-allow-origin'], allowed[0]);
    assert.match(response.headers['access-control-allow-methods'] ?? '', /\bGET\b/);
    const allowedHeaders = (response.headers['access-control-allow-headers'] ?? '').toLowerCase().split(/\s*,\s*/);
    assert.ok(allowedHeaders.includes('authorization'), allowedHeaders.join(','));
    assert.ok(allowedHeaders.includes('last-event-id'), allowedHeaders.join(','));
    assert.match(response.headers.vary ?? '', /\borigin\b/i);
  });

  test('allowed origin on the transcript route: 204', async () => {
    const response = await preflight(relay, `/v1/orgs/${world.a.orgId}/calls/call_1/transcript`,
      preflightHeaders(allowed[1]));
    assert.equal(response.status, 204);
    assert.equal(response.headers['access-control-allow-origin'], allowed[1]);
  });

  test('other origin: 403 without CORS headers', async () => {
    const response = await preflight(relay, feedPath(world.a.orgId), preflightHeaders('https://evil.example'));
    assert.equal(response.status, 403);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
  });

  test('a relay without --allowed-origins: 403, and no CORS header on the feed', async () => {
    const closed = await startRelay();
    try {
      const response = await preflight(closed, feedPath(world.a.orgId), preflightHeaders(allowed[0]));
      assert.equal(response.status, 403);
      assert.equal(response.headers['access-control-allow-origin'], undefined);
      const stream = await openFeed(closed, world.a.orgId, cred.token, { headers: { origin: allowed[0] } });
      stream.close();
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['access-control-allow-origin'], undefined);
    } finally {
      await closed.stop();
    }
  });
});
