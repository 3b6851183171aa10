// 20 clients on one org's feed while 2,000 events commit one after another
// over 4 calls: every client receives each event once, none missing, in
// exactly the order they committed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  assertSequence, firstRepeat, Follower, freshWorld, metrics, newCredential, Producer, startRelay,
} from './harness.mjs';

const clients = 20;
const events = 2000;
const calls = 4;
let world, relay, cred;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
});
after(() => relay?.stop());

test(`${clients} clients over ${events} events: none missing, none repeated, each in commit order`, async (t) => {
  const followers = Array.from({ length: clients }, () => new Follower(() => relay, world.a.orgId, cred.token));
  const producer = new Producer(world.a);
  try {
    await Promise.all(followers.map((follower) => follower.untilConnected()));
    const before = await metrics(relay);
    const started = Date.now();
    const live = [];
    for (let i = 0; i < calls; i++) live.push(await producer.startCall());
    for (let i = calls; i < events; i++) await producer.transcript(live[i % calls]);
    await Promise.all(followers.map((follower) => follower.untilMessages(events, 60_000)));
    const ms = Date.now() - started;
    await sleep(1500);

    for (const [i, follower] of followers.entries()) {
      const keys = follower.keys();
      assert.equal(firstRepeat(keys), undefined, `client ${i}: an event came twice`);
      assertSequence(keys, producer.committed, `client ${i}: the events in commit order`);
      assert.equal(follower.connections, 1, `client ${i} reading at full speed was dropped`);
    }
    const after = await metrics(relay);
    assert.ok(after.value('vox_relay_events_sent_total') - before.value('vox_relay_events_sent_total') >= clients * events,
      'vox_relay_events_sent_total counts every event sent to every client');
    assert.equal(after.value('vox_relay_streams_open'), clients);
    // Not a benchmark; said so that a slow-down shows in the log.
    t.diagnostic(`${events} events to ${clients} clients in ${ms} ms`);
  } finally {
    await Promise.all(followers.map((follower) => follower.stop()));
    await producer.end();
  }
});
