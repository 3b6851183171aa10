// Restarts while events flow: the relay (stopped with SIGTERM, then killed
// with SIGKILL, each time started again on the same port) and PostgreSQL
// (stopped, or crashed, and started under a running relay). Clients behave
// as a browser's EventSource: whenever their stream ends they reconnect with
// Last-Event-ID.
// Every committed event reaches every client exactly once, in commit order,
// with no reset and no second snapshot.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  assertSequence, env, firstRepeat, Follower, freshWorld, newCredential, Producer, request, restartRelay, shellAsync,
  startRelay,
} from './harness.mjs';

const clients = 3;
let world, relay, cred;
let databaseStopped = false;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
});
after(async () => {
  // Whatever failed, later test files need the cluster.
  if (databaseStopped) await shellAsync(env.pgStart);
  await relay?.stop();
});

// Commits `count` events over two calls, one every few ms, and
// starts the disruption `at[n]` once n are committed, without waiting for it:
// events go on being committed meanwhile (or wait for the database).
async function produce(producer, count, at) {
  const calls = [await producer.startCall(), await producer.startCall()];
  const disruptions = [];
  for (let i = 2; i < count; i++) {
    if (at[i]) disruptions.push(at[i]());
    await producer.transcript(calls[i % 2]);
    await sleep(3);
  }
  await Promise.all(disruptions);
}

function assertExactlyOnce(followers, committed) {
  for (const [i, follower] of followers.entries()) {
    const keys = follower.keys();
    assert.equal(firstRepeat(keys), undefined, `client ${i}: an event came twice`);
    assertSequence(keys, committed, `client ${i}: the committed events in commit order`);
    assert.equal(follower.resets, 0, `client ${i}: reset`);
    assert.equal(follower.snapshots, 1, `client ${i}: a snapshot on a resume`);
  }
}

test('relay stopped with SIGTERM and killed with SIGKILL while 400 events flow', async (t) => {
  const followers = Array.from({ length: clients }, () => new Follower(() => relay, world.a.orgId, cred.token));
  const producer = new Producer(world.a);
  try {
    await Promise.all(followers.map((follower) => follower.untilConnected()));
    let termExit;
    await produce(producer, 400, {
      100: async () => {
        const stopping = relay.stop();
        termExit = await relay.waitExit(5_000);
        await stopping;
        relay = await restartRelay(relay);
      },
      250: async () => {
        await relay.kill();
        relay = await restartRelay(relay);
      },
    });
    assert.deepEqual(termExit, { code: 0, signal: null }, 'SIGTERM: exit 0 within 5 s');
    await Promise.all(followers.map((follower) => follower.untilMessages(400, 20_000)));
    await sleep(1500);
    assertExactlyOnce(followers, producer.committed);
    for (const [i, follower] of followers.entries())
      assert.ok(follower.connections >= 3, `client ${i}: ${follower.connections} connections over two restarts`);
    t.diagnostic(`connections per client: ${followers.map((follower) => follower.connections).join(', ')}`);
  } finally {
    await Promise.all(followers.map((follower) => follower.stop()));
    await producer.end();
  }
});

for (const [how, stop] of [['stopped (fast)', env.pgStop], ['crashed (immediate stop)', env.pgStopImmediate]]) {
  test(`PostgreSQL ${how} for 2 s and started again under the relay while 300 events flow`, async (t) => {
    const followers = Array.from({ length: clients }, () => new Follower(() => relay, world.a.orgId, cred.token));
    const producer = new Producer(world.a);
    let healthDuringOutage;
    try {
      await Promise.all(followers.map((follower) => follower.untilConnected()));
      await produce(producer, 300, {
        100: async () => {
          databaseStopped = true;
          await shellAsync(stop);
          await sleep(500);
          healthDuringOutage = (await request(relay, 'GET', '/healthz')).status;
          await sleep(1500);
          await shellAsync(env.pgStart);
          databaseStopped = false;
        },
      });
      await Promise.all(followers.map((follower) => follower.untilMessages(300, 30_000)));
      await sleep(1500);
      assert.equal(relay.exitStatus(), null, 'the relay kept running');
      assertExactlyOnce(followers, producer.committed);
      t.diagnostic(`connections per client: ${followers.map((follower) => follower.connections).join(', ')}`);
      assert.equal(healthDuringOutage, 503, 'GET /healthz while PostgreSQL is down');
      assert.equal((await request(relay, 'GET', '/healthz')).status, 200, 'GET /healthz once it is back');
    } finally {
      await Promise.all(followers.map((follower) => follower.stop()));
      await producer.end();
    }
  });
}
