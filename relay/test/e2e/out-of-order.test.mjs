// A sequence id is not commit order: transaction A takes outbox id n and
// stays open, B takes n+1, commits and is streamed; then A commits. A cursor
// "after id n+1" would skip A for ever. Every client must receive A: the one
// that streamed B, one that resumes from B's id, before and after A commits.
// Then the same under load: writers that hold their transactions open for
// random times, and clients that reconnect all the time.
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  assertSequence, connect, eventKey, firstRepeat, Follower, freshWorld, newCredential, openFeed, Producer, startRelay,
  statusUpdate, transcript, vapiCall,
} from './harness.mjs';

let world, relay, cred, producer;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
  producer = new Producer(world.a);
});
after(async () => {
  await producer?.end();
  await relay?.stop();
});

const keysOf = (stream) => stream.messages().map(eventKey);

test('A takes the lower id and commits after B was streamed: A still reaches every client, once', async () => {
  const callA = await producer.startCall();
  const callB = await producer.startCall();
  const live = await openFeed(relay, world.a.orgId, cred.token);
  const txA = await connect();
  let resumedBefore, resumedAfter;
  try {
    await live.untilEvents(1);
    const textA = `A ${randomUUID()}`;
    await txA.query('BEGIN');
    await txA.query('SELECT vox.handle_event($1::uuid, $2::jsonb)', [world.a.orgId, transcript(callA, textA)]);
    const idOf = async (call) => (await txA.query(
      'SELECT max(id) AS id FROM vox.outbox WHERE org_id = $1 AND vapi_call_id = $2', [world.a.orgId, call.id])).rows[0].id;
    const idA = await idOf(callA);
    await producer.transcript(callB);
    const idB = await idOf(callB);
    await live.until((st) => st.events.length >= 2, 5_000, "B's event while A is open");
    const keyB = producer.committed.at(-1);
    assert.deepEqual(keysOf(live), [keyB], 'B streamed while A is open');
    const cursorB = live.events[1].id;
    assert.ok(Number(idA) < Number(idB), `A took id ${idA}, B ${idB}: not out of order`);

    resumedBefore = await openFeed(relay, world.a.orgId, cred.token, { lastEventId: cursorB });
    await sleep(1200);
    assert.deepEqual(keysOf(live), [keyB], 'nothing of A before it commits');
    assert.deepEqual(resumedBefore.events, [], 'resumed from B, before A commits: nothing yet');

    await txA.query('COMMIT');
    const keyA = `transcript|${callA.id}|${textA}`;
    await live.until((st) => st.events.length >= 3, 5_000, "A's event on the stream that saw B");
    await resumedBefore.until((st) => st.events.length >= 1, 5_000, "A's event, resumed from B before A committed");
    resumedAfter = await openFeed(relay, world.a.orgId, cred.token, { lastEventId: cursorB });
    await resumedAfter.until((st) => st.events.length >= 1, 5_000, "A's event, resumed from B after A committed");

    await producer.transcript(callB);
    const keyC = producer.committed.at(-1);
    await live.untilEvents(4, 5_000);
    await resumedBefore.untilEvents(2, 5_000);
    await resumedAfter.untilEvents(2, 5_000);
    await sleep(1200);
    assert.deepEqual(keysOf(live), [keyB, keyA, keyC], 'the stream that saw B: B, A, C in commit order');
    assert.deepEqual(keysOf(resumedBefore), [keyA, keyC], 'resumed from B before A committed');
    assert.deepEqual(keysOf(resumedAfter), [keyA, keyC], 'resumed from B after A committed');
  } finally {
    await txA.query('ROLLBACK').catch(() => {});
    await txA.end();
    live.close();
    resumedBefore?.close();
    resumedAfter?.close();
  }
});

// Concurrent commits have no order a client could check, but each writer's
// own commits do.
test('306 events from 6 writers holding transactions open 0-40 ms: each client gets each once, ' +
  "every writer's in order", async () => {
  const writers = 6;
  const perWriter = 50;
  const steady = new Follower(() => relay, world.a.orgId, cred.token);
  // Reconnects after every 20 events or so, each time from the last id it
  // saw: counted in events, not time, so a fast machine churns it as often.
  const restless = new Follower(() => relay, world.a.orgId, cred.token, { retryMs: 20 });
  let closedAt = 0;
  const churn = setInterval(() => {
    if (restless.messages.length - closedAt < 20) return;
    closedAt = restless.messages.length;
    restless.stream?.close();
  }, 5);
  const committed = Array.from({ length: writers }, () => []);
  try {
    await steady.untilConnected();
    await restless.untilConnected();
    await Promise.all(committed.map(async (keys) => {
      const client = await connect();
      const call = vapiCall(world.a);
      try {
        await client.query('SELECT vox.handle_event($1::uuid, $2::jsonb)',
          [world.a.orgId, statusUpdate(call, 'in-progress')]);
        keys.push(`status-update|${call.id}|in-progress`);
        for (let i = 0; i < perWriter; i++) {
          const text = `w ${randomUUID()}`;
          await client.query('BEGIN');
          await client.query('SELECT vox.handle_event($1::uuid, $2::jsonb)', [world.a.orgId, transcript(call, text)]);
          await sleep(randomInt(0, 40));
          await client.query('COMMIT');
          keys.push(`transcript|${call.id}|${text}`);
        }
      } finally {
        await client.end();
      }
    }));
    const total = writers * (perWriter + 1);
    await steady.untilMessages(total, 20_000);
    await restless.untilMessages(total, 20_000);
    clearInterval(churn);
    await sleep(1200);
    const all = committed.flat();
    for (const [name, follower] of [['steady', steady], ['restless', restless]]) {
      const keys = follower.keys();
      assert.equal(firstRepeat(keys), undefined, `${name}: an event came twice`);
      assertSequence([...keys].sort(), [...all].sort(), `${name}: not the events committed`);
      for (const [w, mine] of committed.entries())
        assertSequence(keys.filter((key) => mine.includes(key)), mine, `${name}: writer ${w}'s events`);
      assert.equal(follower.resets, 0, `${name}: reset`);
      assert.equal(follower.snapshots, 1, `${name}: a snapshot on a resume`);
    }
    assert.ok(restless.connections >= 6, `the restless client reconnected only ${restless.connections - 1} times`);
  } finally {
    clearInterval(churn);
    await steady.stop();
    await restless.stop();
  }
});
