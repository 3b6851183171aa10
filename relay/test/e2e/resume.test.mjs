// Resuming: a client that comes back with the id of the last event it saw,
// as a Last-Event-ID header (EventSource does this by itself) or as
// ?last_event_id=, receives exactly the events committed after it: none
// repeated, none missing, no snapshot. An id the database cannot resume from
// (garbage, or a cursor of another database) gets one `reset` and a fresh
// snapshot, and the stream goes on live.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  database, eventKey, feedPath, freshWorld, newCredential, openFeed, openStream, Producer, queryMarker, startRelay,
  withClient,
} from './harness.mjs';

let world, relay, cred, producer, call;
// A stream open for the whole file: the snapshot, then every message in
// commit order, with the ids that resuming clients hold.
let reference;

before(async () => {
  world = await freshWorld();
  cred = await newCredential(world.a.orgId);
  relay = await startRelay();
  producer = new Producer(world.a);
  reference = await openFeed(relay, world.a.orgId, cred.token);
  await reference.untilEvents(1);
  call = await producer.startCall();
  for (let i = 0; i < 9; i++) await producer.transcript(call);
  await caughtUp();
  assert.deepEqual(reference.messages().map(eventKey), producer.committed);
});
after(async () => {
  reference?.close();
  await producer?.end();
  await relay?.stop();
});

// The reference stream's events once it has every committed message.
async function caughtUp() {
  await reference.untilEvents(1 + producer.committed.length);
  return reference.events;
}

// Waits until `stream` has `count` events, then a while longer, so that
// anything extra (a repeat) would have come too.
async function settle(stream, count) {
  await stream.untilEvents(count);
  await sleep(1200);
  return stream.events;
}

const resumeWays = {
  'Last-Event-ID header': (after) => openFeed(relay, world.a.orgId, cred.token, { lastEventId: after }),
  '?last_event_id=': (after) =>
    openStream(relay, `${feedPath(world.a.orgId, { token: cred.token, last_event_id: after })}&${queryMarker()}`),
};

for (const [way, open] of Object.entries(resumeWays)) {
  describe(`resume with ${way}`, () => {
    for (const at of [0, 1, 5, 10]) {
      test(`after ${at === 0 ? 'the snapshot' : `message ${at}`}: exactly the ${10 - at} messages after it, ` +
        'no snapshot, then live', async () => {
        const history = await caughtUp();
        const stream = await open(history[at].id);
        try {
          assert.equal(stream.status, 200);
          const expected = history.slice(at + 1);
          if (expected.length > 0) await settle(stream, expected.length);
          else await sleep(1200);
          assert.deepEqual(stream.events.map((event) => event.type), expected.map(() => 'message'),
            'no snapshot, no reset');
          assert.deepEqual(stream.events.map((event) => eventKey(event.json)),
            expected.map((event) => eventKey(event.json)));

          await producer.transcript(call);
          await settle(stream, expected.length + 1);
          assert.equal(stream.events.length, expected.length + 1, 'the next event, once');
          assert.equal(eventKey(stream.events.at(-1).json), producer.committed.at(-1));
        } finally {
          stream.close();
        }
      });
    }
  });
}

describe('an id the database cannot resume from: reset, then a snapshot, then live', () => {
  let foreign;
  before(async () => {
    // A cursor of another vox database: what a client holds across a restore
    // into a new cluster.
    const other = `${database}_other`;
    await withClient(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${other} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${other}`);
    }, 'postgres');
    foreign = await withClient(async (client) => {
      await client.query('CREATE EXTENSION vox');
      await client.query(`INSERT INTO vox.organizations (id, name) VALUES ($1, 'A elsewhere')`, [world.a.orgId]);
      return (await client.query('SELECT cursor FROM vox.feed_start($1)', [world.a.orgId])).rows[0].cursor;
    }, other);
    await withClient((client) => client.query(`DROP DATABASE ${other} WITH (FORCE)`), 'postgres');
  });

  const cases = {
    garbage: () => 'garbage',
    'a number (an outbox id)': () => '7',
    'separators only': () => ':,./-',
    'a cursor cut in half': () => reference.events[5].id.slice(0, Math.floor(reference.events[5].id.length / 2)),
    'a cursor of another database': () => foreign,
  };
  for (const [what, id] of Object.entries(cases)) {
    for (const [way, open] of Object.entries(resumeWays)) {
      test(`${what}, as ${way}`, async () => {
        const stream = await open(id());
        try {
          assert.equal(stream.status, 200);
          await settle(stream, 2);
          assert.deepEqual(stream.events.map((event) => event.type), ['reset', 'snapshot']);
          assert.deepEqual(Object.keys(stream.events[0].json), ['reason']);
          assert.match(stream.events[0].json.reason, /^cursor_(invalid|expired)$/);
          assert.deepEqual(stream.events[1].json.calls.map((c) => c.call_id), [call.id]);

          await producer.transcript(call);
          await stream.untilEvents(3);
          assert.equal(eventKey(stream.events[2].json), producer.committed.at(-1));
        } finally {
          stream.close();
        }
      });
    }
  }
});
