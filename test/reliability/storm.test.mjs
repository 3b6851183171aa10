// DESIGN §2 invariants 1, 2 and 5 under real concurrency: 50 connections
// opened first, held at a barrier (an advisory lock the controller holds,
// released once every connection waits on it), then fired together.
//  - the same storm: all 50 deliver the same event at once, event after event
//    of a world: one delivery is processed and 49 are duplicates, and the
//    world's rows, outbox included row by row, are those of serial delivery;
//  - the mixed storm: many worlds (two orgs each, the same Vapi call ids in
//    every world) with redeliveries, shuffled across the 50 connections: each
//    world's rows are those of serial delivery and nothing crosses orgs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  callItems, connect, createWorld, deliver, deliverySql, differences, env, harnessSql, newWorld, prng, shuffle,
  snapshot,
} from './lib.mjs';

const CONNECTIONS = 50;
const MIXED_WORLDS = Number(process.env.VOX_STORM_WORLDS ?? 12);
const BARRIER = 7_340_001; // advisory lock key

let controller;
let clients = [];
const serial = {}; // an in-order world: its results and snapshots

before(async () => {
  controller = await connect();
  await controller.query(harnessSql);
  clients = await Promise.all(Array.from({ length: CONNECTIONS }, connect));
  const w = newWorld();
  await createWorld(controller, w);
  serial.items = callItems(env.seed, w);
  serial.results = [];
  for (const item of serial.items) serial.results.push(await deliver(controller, w, item));
  serial.strict = await snapshot(controller, w, true);
  serial.loose = await snapshot(controller, w, false);
});
after(async () => {
  await Promise.all(clients.map((c) => c.end()));
  await controller?.end();
});

// Runs work(client, index) on every connection at once: each first waits on
// the barrier lock inside its first statement, and the controller lets them
// all go once pg_locks shows every one of them waiting. firstSql(i) is the
// statement sent with the wait, in the same transaction.
async function fire(firstSql, work = async () => {}) {
  await controller.query('SELECT pg_advisory_lock($1)', [BARRIER]);
  let released = false;
  try {
    const runs = clients.map(async (c, i) => {
      const results = await c.query(`SELECT pg_advisory_xact_lock_shared(${BARRIER}); ${firstSql(i)}`);
      const first = results[1].rows[0]?.r;
      return [first, await work(c, i)];
    });
    const settled = Promise.allSettled(runs);
    // A bounded poll for a state, not a timing assumption: every connection
    // is queued on the lock, none has started its delivery.
    for (let polls = 0; ; polls++) {
      const { rows } = await controller.query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
        [BARRIER],
      );
      if (rows[0].n === CONNECTIONS) break;
      if (polls > 6000) throw new Error(`only ${rows[0].n} of ${CONNECTIONS} connections reached the barrier`);
      await sleep(5);
    }
    await controller.query('SELECT pg_advisory_unlock($1)', [BARRIER]);
    released = true;
    return await settled;
  } finally {
    if (!released) await controller.query('SELECT pg_advisory_unlock($1)', [BARRIER]);
  }
}

test(`the same events from ${CONNECTIONS} connections at once: one effect each (seed ${env.seed})`, async (t) => {
  const w = newWorld();
  await createWorld(controller, w);
  const problems = [];
  let deliveries = 0;
  // The same calls as the serial world's, item for item, with w's ids.
  for (const [n, item] of callItems(env.seed, w).entries()) {
    const expected = serial.results[n];
    if (item.kind === 'agent') {
      // An admin's insert, once: the parked events it resolves replay in it.
      await deliver(controller, w, item);
      continue;
    }
    const settled = await fire(() => deliverySql(controller, w, item));
    deliveries += settled.length;
    const errors = settled.filter((s) => s.status === 'rejected').map((s) => `${s.reason.code} ${s.reason.message}`);
    if (errors.length) {
      problems.push(`${item.label}: ${errors.length} failed: ${errors[0]}`);
      continue;
    }
    const statuses = settled.map((s) => s.value[0].status).sort();
    // A keyed event is applied by exactly one delivery; anything else
    // (parked, ignored, an assistant-request, a registration) answers the
    // same to all.
    const want =
      expected.event_id && expected.status === 'processed'
        ? ['processed', ...Array(CONNECTIONS - 1).fill('duplicate')].sort()
        : Array(CONNECTIONS).fill(expected.status);
    if (JSON.stringify(statuses) !== JSON.stringify(want)) {
      const counts = {};
      for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
      problems.push(`${item.label}: ${JSON.stringify(counts)}, serial delivery said ${expected.status}`);
    }
  }
  t.diagnostic(`${serial.items.length} events, ${deliveries} deliveries`);
  assert.deepEqual(problems, []);
  // One row per call, one transcript per utterance, one mark per event, one
  // outbox row per change, in the same order as serial delivery.
  assert.deepEqual(differences(serial.strict, await snapshot(controller, w, true)), []);
});

test(`mixed storm: ${MIXED_WORLDS} worlds of 2 orgs with colliding call ids on ${CONNECTIONS} connections (seed ${env.seed})`, async (t) => {
  const rng = prng(env.seed ^ 0x5bd1e995);
  const worlds = [];
  const all = [];
  for (let i = 0; i < MIXED_WORLDS; i++) {
    const w = newWorld();
    await createWorld(controller, w);
    worlds.push(w);
    for (const item of callItems(env.seed, w)) {
      const copies = item.kind === 'agent' ? 1 : 1 + rng.int(3);
      for (let k = 0; k < copies; k++) all.push({ w, item });
    }
  }
  const lanes = Array.from({ length: CONNECTIONS }, () => []);
  for (const [i, d] of shuffle(all, rng).entries()) lanes[i % CONNECTIONS].push(d);

  const retries = {};
  const send = async (c, { w, item }) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await deliver(c, w, item);
      } catch (error) {
        // What the shim does: a deadlock or serialization failure rolled the
        // delivery back; retry it a few times.
        if (!['40001', '40P01'].includes(error.code) || attempt > 5) {
          throw new Error(`${item.label} of ${w.tag}, attempt ${attempt}: ${error.code} ${error.message}`);
        }
        retries[error.code] = (retries[error.code] ?? 0) + 1;
      }
    }
  };
  const settled = await fire(
    () => 'SELECT 1 AS r',
    async (c, i) => {
      for (const d of lanes[i]) await send(c, d);
    },
  );
  const errors = settled.filter((s) => s.status === 'rejected').map((s) => s.reason.message);
  assert.deepEqual(errors, []);

  // An event parked by a transaction that could not yet see its agent or
  // call being committed concurrently waits for the next sweep (README,
  // vox.replay_parked); the maintenance worker runs one every round.
  const { rows } = await controller.query('SELECT vox.replay_parked() AS n');
  t.diagnostic(`${all.length} deliveries; retried (as the shim would): ${JSON.stringify(retries)}; ` +
    `applied by the sweep afterwards: ${rows[0].n}`);

  const differing = [];
  for (const w of worlds) {
    const diff = differences(serial.loose, await snapshot(controller, w, false));
    if (diff.length) differing.push({ world: w.tag, diff });
  }
  if (differing.length) t.diagnostic(JSON.stringify(differing[0]).slice(0, 3000));
  assert.equal(differing.length, 0, `${differing.length} of ${MIXED_WORLDS} worlds differ from serial delivery`);
});
