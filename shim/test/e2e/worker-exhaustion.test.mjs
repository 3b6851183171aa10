// Each connection holds one worker thread while it is served: idle or slow
// connections must not starve /health or another sender. With 4 workers,
// 8 connections of one kind are held open, and a /health probe must still be
// answered within 1.5 s (the read and keep-alive timeouts are 5 s).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { exchange, freshWorld, startShim } from './harness.mjs';

const workers = 4;
const held = 2 * workers;
const boundMs = 1_500;
let world;
const shims = [];

before(async () => {
  world = await freshWorld();
});
after(async () => {
  await Promise.all(shims.map((shim) => shim.stop()));
});

async function shimWith(settings) {
  const shim = await startShim(world, { VOX_SHIM_WORKER_THREADS: String(workers), VOX_SHIM_READ_TIMEOUT_S: '5',
    VOX_SHIM_KEEP_ALIVE_TIMEOUT_S: '5', ...settings });
  shims.push(shim);
  return shim;
}

// Opens a connection from `localAddress`; resolves once connected.
function open(shim, localAddress = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: shim.port, localAddress }, () => resolve(socket));
    socket.on('error', reject);
  });
}

// GET /health on a new connection from 127.0.0.2 (another client): its
// status and how long the answer took.
async function probe(shim) {
  const started = Date.now();
  const { responses } = await exchange(shim, Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
    { localAddress: '127.0.0.2', ms: 8_000 });
  return { status: responses[0]?.status, ms: Date.now() - started };
}

test(`${held} idle connections (no request sent) do not hold up /health`, async (t) => {
  const shim = await shimWith({ VOX_SHIM_MAX_CONNECTIONS_PER_IP: '0' });
  const sockets = await Promise.all(Array.from({ length: held }, () => open(shim)));
  try {
    await sleep(300);
    const { status, ms } = await probe(shim);
    t.diagnostic(`/health answered ${status} in ${ms} ms`);
    assert.equal(status, 200);
    assert.ok(ms < boundMs, `/health took ${ms} ms`);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});

test(`${held} keep-alive connections sending a request each second do not hold up /health`, async (t) => {
  const shim = await shimWith({ VOX_SHIM_MAX_CONNECTIONS_PER_IP: '0' });
  const sockets = await Promise.all(Array.from({ length: held }, () => open(shim)));
  const sending = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed) socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  }, 1_000);
  try {
    await sleep(1_500);
    const probes = [];
    for (let i = 0; i < 3; i++) probes.push(await probe(shim));
    t.diagnostic(`/health: ${probes.map(({ status, ms }) => `${status} in ${ms} ms`).join(', ')}`);
    for (const { status, ms } of probes) {
      assert.equal(status, 200);
      assert.ok(ms < boundMs, `/health took ${ms} ms`);
    }
  } finally {
    clearInterval(sending);
    for (const socket of sockets) socket.destroy();
  }
});

test(`${held} slow requests from one address (a byte every 300 ms) do not hold up another client's /health`, async (t) => {
  const shim = await shimWith({ VOX_SHIM_MAX_CONNECTIONS_PER_IP: String(workers / 2) });
  const sockets = await Promise.all(Array.from({ length: held }, () => open(shim)));
  const request = 'POST /webhooks/vapi HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  let at = 0;
  const dripping = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed) socket.write(request[at % request.length]);
    at++;
  }, 300);
  try {
    await sleep(500);
    const { status, ms } = await probe(shim);
    t.diagnostic(`/health answered ${status} in ${ms} ms`);
    assert.equal(status, 200);
    assert.ok(ms < boundMs, `/health took ${ms} ms`);
  } finally {
    clearInterval(dripping);
    for (const socket of sockets) socket.destroy();
  }
});
