// Clients from the internet cannot take the relay's workers: it runs on the
// shim's hardened connection loop (vox_common's HttpServer). A client that
// sends its request head a byte at a time is cut off at --read-timeout-seconds
// while the streams already open (which are responses, not requests) keep
// flowing; one address holds at most --max-connections-per-ip connections,
// streams included (503 past it, unread); and a request whose framing a proxy
// could read otherwise, or whose head is too large, is refused and its
// connection closed, as the shim refuses it: what follows it is never served.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { freshWorld, newCredential, openFeed, Producer, request, startRelay, statusUpdate, vapiCall } from './harness.mjs';

const readTimeoutS = 2;
const maxPerAddress = 3;
let world, relay, cred, producer;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  producer = new Producer(world.a);
  relay = await startRelay({
    VOX_RELAY_READ_TIMEOUT_SECONDS: String(readTimeoutS),
    VOX_RELAY_MAX_CONNECTIONS_PER_IP: String(maxPerAddress),
    VOX_RELAY_HEARTBEAT_SECONDS: '1',
  });
});
after(async () => {
  await producer?.end();
  await relay?.stop();
});

// A raw connection from `localAddress` (another loopback address for each
// test, so that their connections are counted apart): what came back so far
// (`text()`), statuses of the responses in it, and whether the relay closed it.
function connection(localAddress) {
  const socket = net.connect({ host: '127.0.0.1', port: relay.port, localAddress });
  const received = [];
  const conn = {
    socket,
    closedAt: null,
    text: () => Buffer.concat(received).toString('latin1'),
    // A body need not end in a newline: a status line may follow it directly.
    statuses: () => [...conn.text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])),
    connected: new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject)),
    closed: new Promise((resolve) => socket.once('close', () => resolve((conn.closedAt = Date.now())))),
    // Resolves true once check(conn) holds, false after `ms`.
    async until(check, ms) {
      for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) if (check(conn)) return true;
      return check(conn);
    },
  };
  socket.on('data', (data) => received.push(data));
  socket.on('error', () => {}); // a reset: 'close' follows
  return conn;
}

const feedRequest = () =>
  `GET /v1/orgs/${world.a.orgId}/feed HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cred.token}\r\n\r\n`;

test('a client trickling its request head (a byte a second) is cut off at the read timeout; a feed keeps working', async () => {
  const feed = await openFeed(relay, world.a.orgId, cred.token);
  assert.equal(feed.status, 200, feed.body);
  await feed.untilEvents(1); // the snapshot

  const slow = connection('127.0.0.2');
  await slow.connected;
  const head = Buffer.from(feedRequest());
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < head.length - 1 && !slow.socket.destroyed) slow.socket.write(head.subarray(sent, ++sent));
  }, 1000);
  const cutOff = await Promise.race([slow.closed, sleep(readTimeoutS * 1000 + 8_000, null)]);
  clearInterval(timer);
  slow.socket.destroy();
  assert.ok(cutOff, `the trickling client was still connected after ${Date.now() - started} ms (${sent} bytes sent)`);
  const took = cutOff - started;
  assert.ok(took < readTimeoutS * 1000 + 1_500, `cut off after ${took} ms, read timeout ${readTimeoutS} s`);
  assert.ok(sent < head.length - 1, 'the head was never complete');
  assert.deepEqual(slow.statuses().filter((s) => s === 200), [], 'no stream for the trickled request');

  // The feed opened before has outlived the read timeout, and still gets
  // what is committed now, and keepalives.
  const call = vapiCall(world.a);
  await producer.apply(statusUpdate(call, 'ringing'), 'ringing');
  await feed.until((s) => s.messages().some((m) => m.call_id === call.id), 10_000, 'the event after the trickle');
  assert.equal(feed.endedAt, null, 'the feed ended');
  const keepalives = feed.comments.filter((c) => c.at > started + readTimeoutS * 1000).length;
  assert.ok(keepalives > 0, 'keepalives kept coming past the read timeout');
  feed.close();
});

test(`one address holds at most ${maxPerAddress} connections, streams included: more get 503 unread`, async () => {
  const address = '127.0.0.3';
  const streams = [];
  for (let i = 0; i < maxPerAddress; i++) {
    const conn = connection(address);
    await conn.connected;
    conn.socket.write(feedRequest());
    assert.ok(await conn.until((c) => /^HTTP\/1\.1 200 /.test(c.text()), 5_000), `stream ${i}: ${conn.text()}`);
    streams.push(conn);
  }
  const refused = connection(address);
  await refused.connected;
  refused.socket.write(feedRequest());
  await Promise.race([refused.closed, sleep(5_000)]);
  assert.deepEqual(refused.statuses(), [503], refused.text());
  assert.match(refused.text(), /\r\nRetry-After: 1\r\n/);
  assert.match(refused.text(), /"error":"too many connections from this address"/);
  assert.ok(refused.closedAt, 'the refused connection was closed');

  // Other addresses are served meanwhile.
  assert.equal((await request(relay, 'GET', '/healthz')).status, 200);
  const other = await openFeed(relay, world.a.orgId, cred.token);
  assert.equal(other.status, 200, other.body);
  other.close();

  // A stream that ends frees its place (once the relay notices).
  streams.pop().socket.destroy();
  let granted = false;
  for (const deadline = Date.now() + 10_000; !granted && Date.now() < deadline; await sleep(200)) {
    const retry = connection(address);
    await retry.connected;
    retry.socket.write(feedRequest());
    await retry.until((c) => c.statuses().length > 0, 3_000);
    granted = retry.statuses()[0] === 200;
    if (granted) streams.push(retry);
    else retry.socket.destroy();
  }
  assert.ok(granted, 'no stream from the address after one of its streams ended');
  for (const conn of streams) conn.socket.destroy();
});

// The request that follows each refused one on its connection: never served.
const smuggled = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
const headOf = (lines, body = '') => lines.join('\r\n') + '\r\n\r\n' + body;
// Any org and credential: these requests are refused before either is looked at.
const feedStart = `GET /v1/orgs/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/feed HTTP/1.1`;
const feedLines = () => [feedStart, 'Host: 127.0.0.1', 'Authorization: Bearer vxf_none'];

// [title, bytes, status, error]
const cases = () => [
  ['Content-Length with Transfer-Encoding: chunked',
    headOf([...feedLines(), 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), 400, 'bad_request'],
  ['two different Content-Lengths', headOf([...feedLines(), 'Content-Length: 0', 'Content-Length: 33']), 400, 'bad_request'],
  ['Transfer-Encoding: gzip, chunked', headOf([...feedLines(), 'Transfer-Encoding: gzip, chunked'], '0\r\n\r\n'), 400,
    'bad_request'],
  ['no Host', headOf([feedStart]), 400, 'bad_request'],
  ['two Hosts', headOf([...feedLines(), 'Host: example.com']), 400, 'bad_request'],
  ['a body on a GET', headOf([...feedLines(), 'Content-Length: 5'], 'hello'), 413, 'body_too_large'],
  ['a header line over 8 KiB', headOf([...feedLines(), `X-Big: ${'a'.repeat(9000)}`]), 431, 'headers_too_large'],
  ['150 header lines', headOf([...feedLines(), ...Array.from({ length: 150 }, (_, i) => `X-H${i}: v`)]), 431,
    'headers_too_large'],
  ['40 KiB of headers in lines of 1 KiB',
    headOf([...feedLines(), ...Array.from({ length: 40 }, (_, i) => `X-H${i}: ${'v'.repeat(1000)}`)]), 431,
    'headers_too_large'],
];

describe('ambiguous framing or an oversized head: one answer, then the connection closes', () => {
  for (const [title, bytes, status, error] of cases()) {
    test(title, async () => {
      const conn = connection('127.0.0.4');
      await conn.connected;
      const started = Date.now();
      conn.socket.write(bytes + smuggled);
      await Promise.race([conn.closed, sleep(3_000)]);
      conn.socket.destroy();
      assert.deepEqual(conn.statuses(), [status], conn.text().slice(0, 300));
      assert.ok(conn.closedAt && conn.closedAt - started < 3_000, 'the connection stayed open');
      assert.match(conn.text(), new RegExp(`\\{"error":"${error}"\\}`));
    });
  }
});

test('a well-framed request is still served on a kept-alive connection (so that the refusals above mean something)', async () => {
  const conn = connection('127.0.0.5');
  await conn.connected;
  conn.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + smuggled);
  assert.ok(await conn.until((c) => c.statuses().length === 2, 3_000), conn.text());
  assert.deepEqual(conn.statuses(), [200, 200]);
  conn.socket.destroy();
});
