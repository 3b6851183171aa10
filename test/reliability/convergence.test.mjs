// DESIGN §2 invariant 3 (order does not matter) with 1 (one row per call), 2
// (exactly-once effects), 4 (nothing lost: parked events applied once their
// agent, registration or call appears) and 5 (colliding call ids across
// orgs): every permutation of a world's deliveries, with random redeliveries,
// leaves exactly the rows in-order delivery leaves, in every vox table.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CALL_GHOST, CALL_IN, CALL_LATE, CALL_OUT, callItems, connect, coveredTables, createWorld, deliverRetrying, differences, env,
  harnessSql, newWorld, permuteWithDuplicates, prng, snapshot, uncoveredTables,
} from './lib.mjs';

let client;
let reference; // the in-order world's snapshot, outbox compared loosely
let referenceWorld;

before(async () => {
  client = await connect();
  await client.query(harnessSql);
});
after(async () => {
  await client?.end();
});

const stats = { retries: {} };

// Delivers items in the given order to world w; an error is a failure.
async function play(c, w, deliveries) {
  const results = [];
  for (const [i, item] of deliveries.entries()) {
    try {
      results.push(await deliverRetrying(c, w, item, stats));
    } catch (error) {
      throw new Error(`delivery ${i} (${item.label}) failed: ${error.code ?? ''} ${error.message}`);
    }
  }
  return results;
}

test('snapshots cover every table of schema vox', async () => {
  const { rows } = await client.query(
    "SELECT relname FROM pg_class WHERE relnamespace = 'vox'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1",
  );
  assert.deepEqual(rows.map((r) => r.relname), [...coveredTables, ...uncoveredTables].sort());
});

test(`in-order delivery makes the calls' rows (seed ${env.seed})`, async (t) => {
  t.diagnostic(`seed ${env.seed}: VOX_SEED=${env.seed} reproduces this run`);
  referenceWorld = newWorld();
  await createWorld(client, referenceWorld);
  const items = callItems(env.seed, referenceWorld);
  await play(client, referenceWorld, items);
  reference = await snapshot(client, referenceWorld, false);
  const w = referenceWorld;

  // What the scenario means, so that a reference that is itself wrong fails.
  const logs = Object.fromEntries(reference.call_logs.map((r) => [`${r.org_id}/${r.vapi_call_id}`, r]));
  assert.deepEqual(Object.keys(logs).sort(), [`<orgA>/${CALL_IN}`, `<orgA>/${CALL_LATE}`, `<orgA>/${CALL_OUT}`, `<orgB>/${CALL_IN}`]);
  assert.equal(reference.call_tracking.length, 4);
  assert.equal(reference.calls.length, 4);
  for (const row of reference.call_logs) assert.equal(row.status, 'ended', row.vapi_call_id);
  const inA = logs[`<orgA>/${CALL_IN}`];
  assert.equal(inA.agent_id, '<agentA>');
  assert.equal(inA.lead_id, '<leadA>');
  assert.equal(inA.customer_number, '+14155550123');
  const report = items.some((i) => i.label === 'in_report');
  assert.equal(inA.ended_reason, report ? 'assistant-ended-call' : 'customer-ended-call');
  assert.equal(inA.report_received, report);
  const out = logs[`<orgA>/${CALL_OUT}`];
  assert.deepEqual([out.channel, out.agent_id, out.lead_id, out.agent_route], ['outbound', '<agentOut>', '<leadOut>', 3]);
  const late = logs[`<orgA>/${CALL_LATE}`];
  assert.deepEqual([late.agent_id, late.customer_number, late.metadata], ['<agentLate>', null, { caller_id_raw: 'anonymous' }]);
  const b = logs[`<orgB>/${CALL_IN}`];
  assert.deepEqual([b.agent_id, b.lead_id, b.customer_number, b.summary], ['<agentB>', '<leadB>', '+14155550123', 'Pat asked for a callback.']);

  const finals = items.filter((i) => i.kind === 'event' && /final|said/.test(i.label));
  assert.equal(reference.call_transcripts.length, finals.length, 'one transcript row per final utterance');
  assert.equal(reference.outbox_transcripts.length, finals.length);
  assert.equal(reference.recording_upload_queue.length, report ? 2 : 1);
  assert.deepEqual(reference.parked_events.map((p) => p.vapi_call_id), [CALL_GHOST], 'only the unregistered assistant waits');
  const keyed = items.filter((i) => i.kind === 'event' && !/partial|not_found|assistant_request|ghost/.test(i.label)
    && !/^in_(speech|conversation|hang|workflow)/.test(i.label));
  // A final transcript sent without a delivery id is marked by its utterance.
  const marked = keyed.filter((i) => !finals.includes(i) || i.deliveryId);
  assert.equal(reference.processed_webhook_events.length, marked.length, 'one mark per applied event');
  for (const call of reference.outbox_calls) assert.equal(call.within_applied_events, true, call.vapi_call_id);

  // The snapshot depends on nothing but the rows: a second in-order world
  // gives the same one.
  const again = newWorld();
  await createWorld(client, again);
  await play(client, again, callItems(env.seed, again));
  assert.deepEqual(differences(reference, await snapshot(client, again, false)), []);
});

test(`${env.permutations} permutations with redeliveries converge to in-order rows (seed ${env.seed})`, async (t) => {
  assert.ok(reference, 'the in-order world exists');
  const failures = [];
  let next = 0;
  let delivered = 0;
  const worker = async () => {
    const c = await connect();
    try {
      for (let i = next++; i < env.permutations; i = next++) {
        const w = newWorld();
        await createWorld(c, w);
        const items = callItems(env.seed, w);
        const rng = prng((env.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
        // The first two are the hardest orders: all reversed, and every
        // delivery twice in a row.
        const deliveries =
          i === 0 ? [...items].reverse() : i === 1 ? items.flatMap((x) => (x.kind === 'agent' ? [x] : [x, x])) : permuteWithDuplicates(items, rng);
        delivered += deliveries.length;
        try {
          await play(c, w, deliveries);
          const diff = differences(reference, await snapshot(c, w, false));
          if (diff.length) failures.push({ permutation: i, order: deliveries.map((d) => d.label), diff });
        } catch (error) {
          failures.push({ permutation: i, order: deliveries.map((d) => d.label), error: error.message });
        }
      }
    } finally {
      await c.end();
    }
  };
  await Promise.all(Array.from({ length: env.jobs }, worker));
  t.diagnostic(`${env.permutations} permutations on ${env.jobs} connections, ${delivered} deliveries, ` +
    `${failures.length} differ from in-order; retried (as the shim would): ${JSON.stringify(stats.retries)}`);
  for (const f of failures.slice(0, 3)) {
    t.diagnostic(`permutation ${f.permutation} (VOX_SEED=${env.seed}): ${JSON.stringify(f.error ?? f.diff).slice(0, 3000)}`);
    t.diagnostic(`  order: ${f.order.join(' ')}`);
  }
  assert.equal(failures.length, 0);
});
