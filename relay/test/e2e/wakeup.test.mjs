// How an event reaches an open stream: NOTIFY vox_outbox wakes the relay at
// once (with a poll interval far longer than the wait); with vox.notify = off
// the relay's polling alone delivers it within about one poll interval.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { eventKey, freshWorld, newCredential, openFeed, Producer, startRelay } from './harness.mjs';

let world, cred;
const relays = [];

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
});
after(() => Promise.all(relays.map((relay) => relay.stop())));

async function relayPolling(ms) {
  const relay = await startRelay({ VOX_RELAY_POLL_INTERVAL_MS: String(ms) });
  relays.push(relay);
  return relay;
}

// Commits `count` events one at a time, each once the previous one arrived
// (or `waitMs` passed); the milliseconds each took from its commit to the
// client, Infinity where it did not arrive. The first commit waits a second
// after the snapshot, so that the stream's first read is over.
async function latencies(relay, producer, count, waitMs) {
  const call = await producer.startCall();
  const stream = await openFeed(relay, world.a.orgId, cred.token);
  try {
    await stream.untilEvents(1);
    await sleep(1000);
    const result = [];
    for (let i = 0; i < count; i++) {
      await producer.transcript(call);
      const committedAt = Date.now();
      const key = producer.committed.at(-1);
      const arrived = await stream.until((s) => s.messages().some((data) => eventKey(data) === key), waitMs)
        .then(() => Date.now() - committedAt, () => Infinity);
      result.push(arrived);
    }
    return result;
  } finally {
    stream.close();
  }
}

test('vox.notify on: NOTIFY wakes the relay, each event within 500 ms with a 20 s poll interval', async (t) => {
  const relay = await relayPolling(20_000);
  const producer = new Producer(world.a);
  try {
    const ms = await latencies(relay, producer, 5, 3_000);
    t.diagnostic(`commit to client: ${ms.join(', ')} ms`);
    assert.ok(ms.every((each) => each <= 500), `commit to client: ${ms.join(', ')} ms`);
  } finally {
    await producer.end();
  }
});

test('vox.notify off with a 20 s poll interval: nothing within 2 s (so the next test measures polling)', async () => {
  const relay = await relayPolling(20_000);
  const producer = new Producer(world.a, { notify: false });
  try {
    const ms = await latencies(relay, producer, 1, 2_000);
    assert.deepEqual(ms, [Infinity], 'an event arrived without NOTIFY and without a poll');
  } finally {
    await producer.end();
  }
});

test('vox.notify off with a 300 ms poll interval: each event within 1 s', async (t) => {
  const relay = await relayPolling(300);
  const producer = new Producer(world.a, { notify: false });
  try {
    const ms = await latencies(relay, producer, 5, 3_000);
    t.diagnostic(`commit to client: ${ms.join(', ')} ms`);
    assert.ok(ms.every((each) => each <= 1_000), `commit to client: ${ms.join(', ')} ms`);
  } finally {
    await producer.end();
  }
});

// vox's notifier names no org when more orgs moved at once than its queue
// holds: an empty payload wakes every stream.
test('an empty NOTIFY vox_outbox payload (any org) wakes the stream at once with a 20 s poll interval', async () => {
  const relay = await relayPolling(20_000);
  const producer = new Producer(world.a, { notify: false });
  const call = await producer.startCall();
  const stream = await openFeed(relay, world.a.orgId, cred.token);
  try {
    await stream.untilEvents(1);
    await sleep(1000);
    await producer.transcript(call);
    const key = producer.committed.at(-1);
    const arrived = (s) => s.messages().some((data) => eventKey(data) === key);
    await sleep(1000);
    assert.ok(!arrived(stream), 'the event arrived before any NOTIFY');
    await producer.client.query("SELECT pg_notify('vox_outbox', '')");
    const notifiedAt = Date.now();
    await stream.until(arrived, 3_000);
    assert.ok(Date.now() - notifiedAt <= 500, `${Date.now() - notifiedAt} ms from the NOTIFY to the client`);
  } finally {
    stream.close();
    await producer.end();
  }
});
