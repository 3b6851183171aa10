// 20 clients on one org's feed while 4 writers commit 2,000 events: every
// client receives each event once, none missing, all in one and the same
// order, which keeps each writer's own commit order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { firstRepeat, Follower, freshWorld, metrics, newCredential, Producer, startRelay, vapiCall } from './harness.mjs';

const clients = 20;
const writers = 4;
const perWriter = 500;
let world, relay, cred;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
});
after(() => relay?.stop());

test(`${clients} clients over ${writers * perWriter} events: none missing, none repeated, one order`, async () => {
  const total = writers * perWriter;
  const followers = Array.from({ length: clients }, () => new Follower(() => relay, world.a.orgId, cred.token));
  const producers = Array.from({ length: writers }, () => new Producer(world.a));
  try {
    await Promise.all(followers.map((follower) => follower.untilConnected()));
    const before = await metrics(relay);
    const started = Date.now();
    await Promise.all(producers.map(async (producer) => {
      const call = vapiCall(world.a);
      for (let i = 0; i < perWriter; i++) await producer.transcript(call);
    }));
    await Promise.all(followers.map((follower) => follower.untilMessages(total, 60_000)));
    const ms = Date.now() - started;
    await sleep(1500);

    const reference = followers[0].keys();
    for (const [i, follower] of followers.entries()) {
      const keys = follower.keys();
      assert.equal(firstRepeat(keys), undefined, `client ${i}: an event came twice`);
      assert.equal(keys.length, total, `client ${i}: ${keys.length} of ${total}`);
      for (const [w, producer] of producers.entries()) {
        const callId = producer.committed[0].split('|')[1];
        assert.deepEqual(keys.filter((key) => key.split('|')[1] === callId), producer.committed,
          `client ${i}: writer ${w}'s events missing or out of its commit order`);
      }
      assert.deepEqual(keys, reference, `client ${i}: another order than client 0's`);
      assert.equal(follower.connections, 1, `client ${i} reading at full speed was dropped`);
    }
    const after = await metrics(relay);
    assert.ok(after.value('vox_relay_events_sent_total') - before.value('vox_relay_events_sent_total') >= clients * total,
      'vox_relay_events_sent_total counts every event sent to every client');
    assert.equal(after.value('vox_relay_streams_open'), clients);
    // Not a benchmark; reported so that a slow-down shows in the log.
    console.log(`${total} events to ${clients} clients in ${ms} ms`);
  } finally {
    await Promise.all(followers.map((follower) => follower.stop()));
    await Promise.all(producers.map((producer) => producer.end()));
  }
});
