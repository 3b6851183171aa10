// Slow clients and oversized bodies cannot exhaust the shim. A per-read
// timeout alone lets a client that sends a byte now and then hold a worker for
// ever; with more such clients than workers nobody else would be served. And
// a body past the limit must be refused without being read to its end, which
// a sender may never reach.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  chunked, exchange, freshWorld, noRows, postSigned, rawRequest, rowsOf, signedHeaders, startShim, statusUpdate,
  vapiCall, withClient,
} from './harness.mjs';

const workers = 2;
const readTimeoutS = 2;
const maxBodyBytes = 64 * 1024;
let world, shim;

before(async () => {
  world = await freshWorld();
  shim = await startShim(world, {
    VOX_SHIM_WORKER_THREADS: String(workers),
    VOX_SHIM_QUEUE_LIMIT: '1',
    VOX_SHIM_READ_TIMEOUT_S: String(readTimeoutS),
    VOX_SHIM_KEEP_ALIVE_TIMEOUT_S: '1',
    VOX_SHIM_MAX_BODY_BYTES: String(maxBodyBytes),
  });
});
after(() => shim?.stop());

const route = () => `/webhooks/vapi/${world.a.orgId}`;

// A validly signed request for a new call of org A, as raw bytes.
function signedRequest(extraHeaders = {}) {
  const call = vapiCall(world.a);
  const body = statusUpdate(call, 'ringing');
  const headers = { 'Content-Type': 'application/json', ...signedHeaders(world.a.secrets.sha256, body), ...extraHeaders };
  return { call, body, headers };
}

// Sends `head` at once, then `rest` one byte every `everyMs`, until the shim
// closes the connection or `maxMs` have passed. Never finishes `rest`: the
// test stops first.
function trickle(head, rest, { everyMs = 250, maxMs = 30_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: shim.port });
    const received = [];
    const start = Date.now();
    let sent = 0;
    let done = false;
    let timer;
    const finish = (closedByShim) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(limit);
      socket.destroy();
      resolve({ closedByShim, sent, ms: Date.now() - start, response: Buffer.concat(received).toString('latin1') });
    };
    const limit = setTimeout(() => finish(false), maxMs);
    socket.on('data', (data) => received.push(data));
    socket.on('error', () => {}); // a reset: 'close' follows
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (sent < rest.length - 1) socket.write(rest.subarray(sent, ++sent));
      }, everyMs);
    });
  });
}

test(`more slow clients than workers (${workers}): others are still served, the slow ones are cut off`, async (t) => {
  const slow = [];
  // Headers a byte at a time.
  for (let i = 0; i < 3; i++) {
    const { body, headers } = signedRequest();
    slow.push(trickle(Buffer.alloc(0), rawRequest('POST', route(), headers, body)));
  }
  // Whole headers, then the body a byte at a time: with Content-Length, and chunked.
  for (const framing of ['length', 'length', 'chunked']) {
    const { body, headers } = signedRequest(framing === 'chunked' ? { 'Transfer-Encoding': 'chunked' } : {});
    const bytes = rawRequest('POST', route(), headers, framing === 'chunked' ? chunked(body, 16) : body);
    const split = bytes.indexOf('\r\n\r\n') + 4;
    slow.push(trickle(bytes.subarray(0, split), bytes.subarray(split)));
  }
  await sleep(500); // the slow ones are connected first and hold every worker

  const served = [];
  for (let i = 0; i < 4; i++) {
    const call = vapiCall(world.a);
    const response = await postSigned(shim, world.a.secrets.sha256, statusUpdate(call, 'ringing'), { orgId: world.a.orgId });
    assert.equal(response.status, 200, response.text);
    served.push(call);
  }
  const results = await Promise.all(slow);
  for (const [i, result] of results.entries())
    assert.ok(result.closedByShim, `slow client ${i} was still connected after 30 s (${result.sent} bytes sent)`);
  // What the slow ones sent was never taken for a request.
  assert.ok(results.every((r) => !/^HTTP\/1\.1 2/m.test(r.response)), results.map((r) => r.response).join('\n'));
  const held = results.map((r) => r.ms);
  t.diagnostic(`${results.length} slow clients, ${workers} workers, read timeout ${readTimeoutS} s: cut off after ` +
    `${Math.min(...held)} to ${Math.max(...held)} ms; ${served.length} normal requests answered 200 meanwhile`);
  await withClient(async (db) => {
    for (const call of served) assert.equal((await rowsOf(db, { callId: call.id })).call_logs.length, 1);
  });
  assert.equal((await postSigned(shim, world.a.secrets.sha256, statusUpdate(vapiCall(world.a), 'ringing'),
    { orgId: world.a.orgId })).status, 200);
});

// Writes `head`, then filler as fast as the shim takes it, up to `cap` bytes
// (never the whole body), until the shim answers: how much the socket took
// by then, and the response.
function flood(head, filler, cap) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: shim.port });
    const received = [];
    let written = 0;
    let answered = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(limit);
      socket.destroy();
      resolve({ written, response: Buffer.concat(received).toString('latin1') });
    };
    const limit = setTimeout(finish, 20_000);
    socket.on('data', (data) => {
      received.push(data);
      answered = true;
      setTimeout(finish, 200); // the rest of the response follows at once
    });
    socket.on('error', finish);
    socket.on('close', finish);
    const pump = () => {
      while (!answered && !done && written < cap) {
        written += filler.length;
        if (!socket.write(filler)) return void socket.once('drain', pump);
      }
    };
    socket.on('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

test('oversized bodies, many at once, with Content-Length and chunked: 413 without reading them to the end', async (t) => {
  const cap = 256 * 1024 * 1024; // far more than the socket buffers between client and shim hold
  const calls = [];
  const floods = [];
  for (let i = 0; i < 8; i++) {
    const { call, headers } = signedRequest();
    calls.push(call);
    if (i % 2 === 0) {
      const head = rawRequest('POST', route(), { ...headers, 'Content-Length': String(cap) });
      floods.push(flood(head, Buffer.alloc(64 * 1024, 'x'), cap));
    } else {
      const head = rawRequest('POST', route(), { ...headers, 'Transfer-Encoding': 'chunked' });
      const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 'x'), Buffer.from('\r\n')]);
      floods.push(flood(head, chunk, cap));
    }
  }
  const results = await Promise.all(floods);
  for (const [i, { written, response }] of results.entries()) {
    assert.match(response, /^HTTP\/1\.1 413 /, `flood ${i}: ${response.slice(0, 200)}`);
    assert.ok(written < cap, `flood ${i}: the shim read all ${written} bytes`);
  }
  await withClient(async (db) => {
    for (const call of calls) assert.ok(noRows(await rowsOf(db, { callId: call.id })));
  });
  const mib = (bytes) => (bytes / 1024 / 1024).toFixed(1);
  t.diagnostic(`${results.length} bodies of ${mib(cap)} MiB at once, limit ${maxBodyBytes / 1024} KiB: all 413; the most ` +
    `any one got written before the answer: ${mib(Math.max(...results.map((r) => r.written)))} MiB`);
  assert.equal((await postSigned(shim, world.a.secrets.sha256, statusUpdate(vapiCall(world.a), 'ringing'),
    { orgId: world.a.orgId })).status, 200);
});

// Only the webhook routes take a body. httplib reads none for a GET (it would
// be taken for the next request on the connection) and would read a chunked
// one of any size whole elsewhere.
test('a body on a route that takes none: 413, nothing of it read as a request', async () => {
  const { call, body, headers } = signedRequest({ Connection: 'close' });
  const inner = rawRequest('POST', route(), headers, body);
  for (const outer of [
    rawRequest('GET', '/health', { Connection: 'keep-alive' }, inner),
    rawRequest('GET', '/metrics', { 'Transfer-Encoding': 'chunked', Connection: 'keep-alive' }, chunked(inner, 64)),
    rawRequest('POST', '/other', { 'Content-Type': 'application/json', Connection: 'keep-alive' }, inner),
  ]) {
    const { responses, closed } = await exchange(shim, outer);
    assert.deepEqual(responses.map((r) => r.status), [413], responses.map((r) => r.text).join(' | '));
    assert.ok(closed);
  }
  await withClient(async (db) => assert.ok(noRows(await rowsOf(db, { callId: call.id }))));
});
