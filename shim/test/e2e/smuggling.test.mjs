// No request smuggling through an unread body: a refusal that does not need
// the body (415, 404, 413) still reads all of it, so that on a keep-alive
// connection a body that is itself a signed request is never taken for the
// next request, which a proxy in front would never have seen.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  chunked, connect, exchange, freshWorld, noRows, rawRequest, rowsOf, signedHeaders, startShim, statusUpdate, vapiCall,
} from './harness.mjs';

const maxBodyBytes = 1024;
let world, shim, db;

before(async () => {
  world = await freshWorld();
  // An idle keep-alive connection is closed after 1 s: that ends each exchange.
  shim = await startShim(world, { VOX_SHIM_MAX_BODY_BYTES: String(maxBodyBytes), VOX_SHIM_KEEP_ALIVE_TIMEOUT_S: '1' });
  db = await connect();
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

const route = () => `/webhooks/vapi/${world.a.orgId}`;

// A complete request for a new call of org A, validly signed, that closes
// its connection. Padding headers make it more than 8 times the body limit
// (so a chunked body of it is over the limit, and past any partial drain),
// while its own body stays under the limit.
function innerRequest() {
  const call = vapiCall(world.a);
  const body = statusUpdate(call, 'ringing');
  const headers = { 'Content-Type': 'application/json', ...signedHeaders(world.a.secrets.sha256, body), Connection: 'close' };
  for (let i = 0; i < Math.ceil((8 * maxBodyBytes) / 1000); i++) headers[`X-Padding-${i}`] = 'p'.repeat(1000);
  assert.ok(Buffer.byteLength(body) <= maxBodyBytes);
  return { call, bytes: rawRequest('POST', route(), headers, body) };
}

test('the inner request on its own is processed (so that it not being processed below means something)', async () => {
  const inner = innerRequest();
  assert.ok(inner.bytes.length > 8 * maxBodyBytes);
  const { responses, rest } = await exchange(shim, inner.bytes);
  assert.deepEqual(responses.map((r) => r.status), [200], responses.map((r) => r.text).join('\n'));
  assert.equal(responses[0].json.status, 'processed');
  assert.equal(rest.length, 0);
  assert.equal((await rowsOf(db, { callId: inner.call.id })).call_logs.length, 1);
});

// Refusals of a keep-alive request whose body is the inner request.
const refusals = [
  {
    title: 'Content-Type text/plain: 415',
    status: 415,
    outer: (inner) => rawRequest('POST', route(), { 'Content-Type': 'text/plain', Connection: 'keep-alive' }, inner),
  },
  {
    title: 'POST /webhooks/vapi/not-a-uuid: 404',
    status: 404,
    outer: (inner) =>
      rawRequest('POST', '/webhooks/vapi/not-a-uuid', { 'Content-Type': 'application/json', Connection: 'keep-alive' }, inner),
  },
  {
    title: `a chunked body above VOX_SHIM_MAX_BODY_BYTES (${maxBodyBytes}): 413`,
    status: 413,
    outer: (inner) => rawRequest('POST', route(),
      { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', Connection: 'keep-alive' }, chunked(inner, 512)),
  },
];

// Each exchange waits for the shim to close the idle connection (1 s): all
// at once.
describe('one keep-alive request refused, its body a signed request: one response, nothing written', { concurrency: true }, () => {
  for (const { title, status, outer } of refusals) {
    // At once, as one write; and the body only once the refusal could have
    // been sent, as a slow sender would.
    for (const way of ['sent at once', 'body sent after the headers']) {
      test(`${title}, ${way}`, async () => {
        const inner = innerRequest();
        const bytes = outer(inner.bytes);
        const splitAt = way === 'sent at once' ? bytes.length : bytes.indexOf('\r\n\r\n') + 4;
        const { responses, rest } = await exchange(shim, bytes, { splitAt });
        assert.deepEqual(responses.map((r) => r.status), [status],
          `responses: ${responses.map((r) => `${r.status} ${r.text}`).join(' | ')}`);
        assert.equal(responses[0].json.request_id, responses[0].headers['x-request-id']);
        assert.equal(rest.length, 0, `after the response: ${rest.toString('latin1').slice(0, 200)}`);
        assert.ok(noRows(await rowsOf(db, { callId: inner.call.id })), 'the inner request was processed');
      });
    }
  }
});
