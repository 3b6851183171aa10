// Clients that open a feed and then read nothing, while 1,000 large events
// (16 KiB utterances) commit: the relay drops them, once their unsent output
// passes its bound or a write waits past the write timeout, keeps its
// resident memory bounded (unbounded buffers would hold some 30 MiB per slow
// client), and a client that reads keeps receiving every event without
// waiting on them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  assertSequence, env, eventKey, firstRepeat, Follower, freshWorld, metrics, newCredential, Producer, SseParser, startRelay,
} from './harness.mjs';

const slowClients = 4;
const events = 1000;
const utteranceBytes = 16 * 1024;
// Far above what the bounded buffers and a read batch need; far below the
// slow clients' 4 x 30 MiB.
const maxGrowthKiB = 48 * 1024;
const writeTimeoutS = 3;
let world, relay, cred;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  // A read batch (20 events of some 33 KiB) within the bound on unsent
  // output, so that a client that reads is never over it.
  relay = await startRelay({ VOX_RELAY_WRITE_TIMEOUT_SECONDS: String(writeTimeoutS), VOX_RELAY_READ_BATCH: '20' });
});
after(() => relay?.stop());

// A feed request on a socket that is never read from until resume().
function stalledClient() {
  const socket = net.connect({ host: '127.0.0.1', port: relay.port });
  socket.on('error', () => {});
  socket.write(`GET /v1/orgs/${world.a.orgId}/feed HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Authorization: Bearer ${cred.token}\r\n\r\n`);
  return {
    // Reads what the relay sent until it closes the connection (or `ms`).
    async drain(ms) {
      const parts = [];
      const closed = new Promise((resolve) => socket.once('close', () => resolve(true)));
      socket.on('data', (part) => parts.push(part));
      const ended = await Promise.race([closed, sleep(ms, false)]);
      socket.destroy();
      return { ended, bytes: Buffer.concat(parts) };
    },
  };
}

// The body of a response cut off anywhere: after the head, de-chunked when
// it is chunked (a cut chunk gives what it has).
function responseBody(bytes) {
  const headEnd = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, headEnd).toString('latin1');
  let body = bytes.subarray(headEnd + 4);
  if (!/^transfer-encoding:\s*chunked/im.test(head)) return body;
  const parts = [];
  while (body.length > 0) {
    const lineEnd = body.indexOf('\r\n');
    if (lineEnd < 0) break;
    const size = parseInt(body.subarray(0, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    body = body.subarray(lineEnd + 2 + size + 2);
  }
  return Buffer.concat(parts);
}

test(`${slowClients} clients that read nothing are dropped, memory stays bounded, a reading client gets every event`,
  async (t) => {
    const reader = new Follower(() => relay, world.a.orgId, cred.token);
    const stalled = Array.from({ length: slowClients }, stalledClient);
    const producer = new Producer(world.a);
    let peakKiB = 0;
    const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, relay.rssKiB())), 50);
    try {
      await reader.untilConnected();
      for (const deadline = Date.now() + 5_000; (await metrics(relay)).value('vox_relay_streams_open') < slowClients + 1;) {
        assert.ok(Date.now() < deadline, 'the stalled clients\' streams did not open');
        await sleep(50);
      }
      const baselineKiB = relay.rssKiB();
      const call = await producer.startCall();
      const filler = 'x'.repeat(utteranceBytes);
      for (let i = 1; i < events; i++) await producer.transcript(call, `${i} ${randomUUID()} ${filler}`);
      await reader.untilMessages(events, 30_000);

      assertSequence(reader.keys(), producer.committed, 'the reading client: every event once, in order');
      assert.equal(reader.connections, 1, 'the reading client was never dropped');
      // Below one write timeout: a relay that made it wait on a stalled
      // client's write would show it here.
      const lagMs = Math.max(...reader.arrivals.map((at, i) => at - producer.committedAt[i]));
      assert.ok(lagMs < 2_000, `the reading client got an event ${lagMs} ms after its commit`);

      // The kernel's buffers are full long before the last commit; the
      // drop follows within the write timeout.
      for (const deadline = Date.now() + (writeTimeoutS + 5) * 1000; ;) {
        const m = await metrics(relay);
        if (m.value('vox_relay_slow_clients_dropped_total') >= slowClients && m.value('vox_relay_streams_open') === 1) break;
        assert.ok(Date.now() < deadline, `${writeTimeoutS + 5} s after the last commit: ` +
          `${m.value('vox_relay_slow_clients_dropped_total')} dropped, ` +
          `${m.value('vox_relay_streams_open')} streams open`);
        await sleep(100);
      }
      clearInterval(sampler);
      const growthKiB = peakKiB - baselineKiB;
      t.diagnostic(`relay resident memory: ${baselineKiB} KiB, at most ${peakKiB} KiB; ` +
        `longest commit-to-reader ${lagMs} ms`);
      // Under ASan the bound is the unsanitized run's to check.
      if (!env.sanitized)
        assert.ok(growthKiB < maxGrowthKiB, `the relay grew by ${growthKiB} KiB (from ${baselineKiB} KiB)`);

      for (const [i, client] of stalled.entries()) {
        const { ended, bytes } = await client.drain(5_000);
        assert.ok(ended, `stalled client ${i}: the relay did not close its connection`);
        assert.match(bytes.subarray(0, 16).toString('latin1'), /^HTTP\/1\.1 200 /, `stalled client ${i}`);
        // What it did get is a prefix of the feed: in order, nothing twice.
        const got = [];
        const parser = new SseParser((event) => event.type === 'message' && got.push(event.json));
        parser.push(responseBody(bytes).toString('utf8'));
        assert.ok(got.length < events, `stalled client ${i} was sent all ${events} events: nothing was dropped`);
        const keys = got.map(eventKey);
        assert.equal(firstRepeat(keys), undefined);
        assertSequence(keys, producer.committed.slice(0, keys.length), `stalled client ${i}: a prefix of the feed`);
      }
    } finally {
      clearInterval(sampler);
      await reader.stop();
      await producer.end();
    }
  });
