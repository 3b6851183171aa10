// The HTTP layer in front of the internet: raw requests over one loopback
// connection, each followed on that connection by a request for /metrics (the
// page README says to expose to monitoring only). A request whose framing a
// proxy could read otherwise, or that the shim could not parse, is answered
// 400 (or 411, 414, 431) and the connection closed: what follows it is never
// served. This file is the regression suite for a change of HTTP library.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { chunked, exchange, freshWorld, insertSecret, randomSecret, startShim, statusUpdate, vapiCall, withClient } from './harness.mjs';

let world, shim;
const oddSecret = { scheme: 'shared', secret: `${randomSecret()}%41` };

before(async () => {
  world = await freshWorld();
  await withClient((client) => insertSecret(client, world.c.orgId, oddSecret));
  // Idle keep-alive connections stay open 3 s: each exchange below must be
  // closed by the shim well before that.
  shim = await startShim(world, { VOX_SHIM_KEEP_ALIVE_TIMEOUT_S: '3' });
});
after(async () => {
  await shim?.stop();
});

const smuggled = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
// Any org: these requests are refused before their signature is looked at.
const route = () => `/webhooks/vapi/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`;
// A request head from its lines, then `body`.
const head = (lines, body = '') => Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), Buffer.from(body)]);
const post = (headers, body) =>
  head([`POST ${route()} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', ...headers], body);
const json14 = '{"x":"abcdef"}';

// [title, bytes, the one status expected]
const cases = () => [
  ['Content-Length with Transfer-Encoding: chunked', post(['Content-Length: 5', 'Transfer-Encoding: chunked'], chunked('{}')), 400],
  ['two different Content-Lengths', post(['Content-Length: 14', 'Content-Length: 5'], json14), 400],
  ['Content-Length: 14, 14', post(['Content-Length: 14, 14'], json14), 400],
  ['Content-Length: +14', post(['Content-Length: +14'], json14), 400],
  ['Content-Length: 14abc', post(['Content-Length: 14abc'], json14), 400],
  ['Transfer-Encoding: gzip, chunked', post(['Transfer-Encoding: gzip, chunked'], chunked('{}')), 400],
  ['Transfer-Encoding over two lines', post(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], chunked('{}')), 400],
  ['Transfer-Encoding : chunked (space before the colon)', post(['Transfer-Encoding : chunked'], chunked('{}')), 400],
  ['Transfer-Encoding obs-folded', post(['Transfer-Encoding:', ' chunked'], chunked('{}')), 400],
  ['Transfer-Encoding: %63hunked', post(['Transfer-Encoding: %63hunked'], chunked('{}')), 400],
  ['chunk size 0x2', post(['Transfer-Encoding: chunked'], '0x2\r\n{}\r\n0\r\n\r\n'), 400],
  ['chunk size +2', post(['Transfer-Encoding: chunked'], '+2\r\n{}\r\n0\r\n\r\n'), 400],
  ['chunk data without its CRLF', post(['Transfer-Encoding: chunked'], '2\r\n{}0\r\n\r\n'), 400],
  ['a request line over 8 KiB', head([`GET /health?${'a'.repeat(9000)} HTTP/1.1`, 'Host: 127.0.0.1']), 414],
  ['a header line over 8 KiB', head(['GET /health HTTP/1.1', 'Host: 127.0.0.1', `X-Big: ${'a'.repeat(9000)}`]), 431],
  ['150 header lines', head(['GET /health HTTP/1.1', 'Host: 127.0.0.1', ...Array.from({ length: 150 }, (_, i) => `X-H${i}: v`)]), 431],
  ['40 KiB of headers in lines of 1 KiB', head(['GET /health HTTP/1.1', 'Host: 127.0.0.1',
    ...Array.from({ length: 40 }, (_, i) => `X-H${i}: ${'v'.repeat(1000)}`)]), 431],
  ['a POST with neither Content-Length nor Transfer-Encoding', head([`POST ${route()} HTTP/1.1`, 'Host: 127.0.0.1',
    'Content-Type: application/json']), 411],
  ['a header line ending in a bare LF', Buffer.from(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\nX-B: 2\r\n\r\n`), 400],
  ['a GET with Content-Length: 0 then Content-Length: 33', head(['GET /health HTTP/1.1', 'Host: 127.0.0.1',
    'Content-Length: 0', 'Content-Length: 33'], 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'), 400],
  ['no Host', head(['GET /health HTTP/1.1']), 400],
  ['two Hosts', head(['GET /health HTTP/1.1', 'Host: 127.0.0.1', 'Host: example.com']), 400],
  ['a malformed request line', Buffer.from('HELLO\r\n'), 400],
];

describe('ambiguous or unparsable requests: one answer, with a request id, then the connection closes', { concurrency: 4 }, () => {
  for (const [title, bytes, status] of cases()) {
    test(title, async () => {
      const started = Date.now();
      const { responses, closed } = await exchange(shim, Buffer.concat([bytes, Buffer.from(smuggled)]), { ms: 2_000 });
      assert.deepEqual(responses.map((r) => r.status), [status], responses.map((r) => `${r.status} ${r.text.slice(0, 100)}`).join(' | '));
      assert.ok(closed, 'the connection stayed open');
      assert.ok(Date.now() - started < 2_000);
      const [response] = responses;
      assert.match(response.headers['x-request-id'] ?? '', /^[0-9a-f]{16}$/);
      assert.equal(response.json?.request_id, response.headers['x-request-id']);
      const line = await shim.logLineOf(response.headers['x-request-id']);
      assert.equal(line?.status, status);
    });
  }
});

test('Connection: Close (any letter case) closes the connection after the response', async () => {
  const bytes = head(['GET /health HTTP/1.1', 'Host: 127.0.0.1', 'Connection: Close']);
  const { responses, closed } = await exchange(shim, Buffer.concat([bytes, Buffer.from(smuggled)]), { ms: 2_000 });
  assert.deepEqual(responses.map((r) => r.status), [200]);
  assert.equal(responses[0].headers.connection, 'close');
  assert.ok(closed);
});

test('a well-framed request is still served on a kept-alive connection (so that the refusals above mean something)', async () => {
  const { responses } = await exchange(shim, Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + smuggled), { ms: 1_000 });
  assert.deepEqual(responses.map((r) => r.status), [200, 200]);
});

test('header values are taken as sent: a secret containing %41 authenticates, a percent-encoded secret does not', async () => {
  const body = statusUpdate(vapiCall(world.c), 'ringing');
  const send = (orgId, secret) => exchange(shim, head([`POST /webhooks/vapi/${orgId} HTTP/1.1`, 'Host: 127.0.0.1',
    'Content-Type: application/json', `x-vapi-secret: ${secret}`, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'], body));
  const literal = await send(world.c.orgId, oddSecret.secret);
  assert.equal(literal.responses[0]?.status, 200, literal.responses[0]?.text);
  const shared = world.a.secrets.shared.secret;
  const encoded = `%${shared.charCodeAt(0).toString(16).toUpperCase()}${shared.slice(1)}`;
  const other = await send(world.a.orgId, encoded);
  assert.equal(other.responses[0]?.status, 401, other.responses[0]?.text);
});

// One request with megabytes of short header lines, sent as fast as the
// shim reads: refused after its first 32 KiB, so the shim's memory stays put.
test('a flood of header lines (8 MiB) does not grow the shim\'s memory', async () => {
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${shim.child.pid}/status`, 'utf8'))[1]) * 1024;
  const before = rss();
  const line = 'X-A: b\r\n';
  const flood = Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n' + line.repeat((8 << 20) / line.length));
  const { responses } = await exchange(shim, flood, { ms: 5_000 });
  assert.deepEqual(responses.map((r) => r.status), [431]);
  const grown = rss() - before;
  assert.ok(grown < 16 << 20, `resident memory grew by ${grown} bytes`);
});
