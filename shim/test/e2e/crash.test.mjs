// Crashes under load through one shim: a backend killed with SIGKILL (the
// postmaster then restarts every backend and recovers), and the whole server
// stopped in immediate mode and started again. The sender redelivers every
// event that got no 2xx. Afterwards every acknowledged event is reflected,
// no call is half-applied, the invariants hold, every refusal was a 503,
// and the shim (the same process) serves again by itself. The citus suite
// runs this file on a cluster, the immediate stop aimed at the workers, and
// adds a shard move.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  appliedEventsSql, callEvents, deliverAll, env, freshWorld, request, shellAsync, shimRole, startShim, vapiCall,
  waitForDatabase, withClient,
} from './harness.mjs';

const callsPerOrg = 40;
const utterances = 3;
const eventsPerCall = 4 + utterances; // ringing, in-progress, the utterances, ended, end-of-call report
const senders = 6;

let world, shim, pid;
let databaseStopped = false;
const calls = []; // { orgId, id }
const acks = []; // the 2xx answer of every delivery
const figures = { events: 0, attempts: 0, refused: {}, errors: 0, faults: 0 };

before(async () => {
  world = await freshWorld();
  // No rate limits: the load comes from one address.
  shim = await startShim(world, { VOX_SHIM_IP_RATE: '0', VOX_SHIM_CALL_RATE: '0' });
  pid = shim.child.pid;
});
after(async () => {
  if (databaseStopped) await shellAsync(env.pgStart); // later test files need the cluster
  await shim?.stop();
});

// Whole calls for three orgs, on both routes and three signing schemes, their
// events shuffled together.
function newLoad() {
  const routes = [
    { tenant: world.a, path: `/webhooks/vapi/${world.a.orgId}`, secret: world.a.secrets.standard },
    { tenant: world.b, path: `/webhooks/vapi/${world.b.orgId}`, secret: world.b.secrets.shared },
    { tenant: world.c, path: '/webhooks/vapi', secret: world.shimSecrets.standard },
  ];
  const deliveries = [];
  for (const route of routes) {
    for (let i = 0; i < callsPerOrg; i++) {
      const call = vapiCall(route.tenant);
      calls.push({ orgId: route.tenant.orgId, id: call.id });
      for (const body of callEvents(call, utterances))
        deliveries.push({ path: route.path, secret: route.secret, body, id: `msg_${randomUUID()}` });
    }
  }
  for (let i = deliveries.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
  }
  return deliveries;
}

const describeRefused = (refused) =>
  Object.entries(refused).map(([status, count]) => `${count} x ${status}`).join(', ') || 'none';

// Runs a load, injects `fault` once a third of it is acknowledged, and waits
// until the load is all acknowledged.
async function faultUnderLoad(t, fault) {
  const deliveries = newLoad();
  let acknowledged = 0;
  let third;
  const thirdDone = new Promise((resolve) => (third = resolve));
  const load = deliverAll(shim, deliveries, {
    senders,
    onResponse: (outcome) => {
      if (outcome.status === 200 && ++acknowledged === Math.ceil(deliveries.length / 3)) third();
    },
  });
  await Promise.race([thirdDone, load]);
  assert.ok(acknowledged < deliveries.length, 'the load was over before the fault');
  const faultAt = new Date();
  const acknowledgedBefore = acknowledged;
  await fault();
  const duringFault = acknowledged - acknowledgedBefore;
  figures.faults++;
  const result = await load;
  figures.events += deliveries.length;
  figures.attempts += result.attempts;
  figures.errors += result.errors;
  for (const [status, count] of Object.entries(result.refused)) figures.refused[status] = (figures.refused[status] ?? 0) + count;
  t.diagnostic(`events: ${deliveries.length}; acknowledged while the fault lasted: ${duringFault}; ` +
    `redeliveries: ${result.attempts - deliveries.length} ` +
    `(refused: ${describeRefused(result.refused)}; connection errors: ${result.errors})`);
  const unacknowledged = result.acks.filter((ack) => !ack).length;
  assert.equal(unacknowledged, 0, `${unacknowledged} of ${deliveries.length} events never acknowledged`);
  acks.push(...result.acks);
  await assertShimRecovered();
  return faultAt;
}

// The same process, never restarted, answers GET /health with 200 again.
async function assertShimRecovered() {
  await waitForDatabase();
  const deadline = Date.now() + 10_000;
  let health;
  while ((health = await request(shim, 'GET', '/health')).status !== 200 && Date.now() < deadline) await sleep(200);
  assert.equal(health.status, 200, health.text);
  assert.equal(shim.exitStatus(), null);
  assert.equal(shim.child.pid, pid);
}

test('a backend of the shim killed with SIGKILL mid-load', async (t) => {
  const faultAt = await faultUnderLoad(t, async () => {
    const { rows } = await withClient(
      (db) => db.query(`SELECT pid FROM pg_stat_activity WHERE usename = $1 ORDER BY state = 'active' DESC LIMIT 1`,
        [shimRole]),
      'postgres');
    assert.equal(rows.length, 1, 'the shim has no backend');
    process.kill(rows[0].pid, 'SIGKILL');
  });
  // The postmaster reinitialized: even its checkpointer is new.
  const { rows: [checkpointer] } = await withClient((db) => db.query(
    `SELECT backend_start > $1 AS new FROM pg_stat_activity WHERE backend_type = 'checkpointer'`, [faultAt]), 'postgres');
  assert.ok(checkpointer.new, 'no crash restart after the SIGKILL');
});

test('PostgreSQL stopped in immediate mode mid-load, then started', async (t) => {
  const faultAt = await faultUnderLoad(t, async () => {
    databaseStopped = true;
    await shellAsync(env.pgStopImmediate);
    await sleep(1000);
    await shellAsync(env.pgStart);
    databaseStopped = false;
  });
  const { rows: [recovered] } = await withClient((db) => db.query(
    'SELECT pg_postmaster_start_time() > $1 AS restarted', [faultAt]), 'postgres',
  { host: env.crashedPgHost, port: env.crashedPgPort });
  assert.ok(recovered.restarted, 'the server was not restarted');
});

// On a Citus cluster (the citus suite): clinic A's shards, with every table
// colocated with them, moved to the other worker while events flow.
test('a shard group moved to another worker mid-load (Citus)', async (t) => {
  const citus = await withClient((db) => db.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'"));
  if (citus.rowCount === 0) {
    t.skip('not a Citus cluster');
    return;
  }
  const placementOfA = `SELECT p.shardid, n.nodename, n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
                         WHERE p.shardid = get_shard_id_for_distribution_column('vox.call_logs', $1::uuid)`;
  const placement = async () => (await withClient((db) => db.query(placementOfA, [world.a.orgId]))).rows[0];
  const before = await placement();
  await faultUnderLoad(t, () => withClient((db) => db.query(
    `SELECT citus_move_shard_placement($1, $2, $3, n.nodename, n.nodeport)
       FROM pg_dist_node n WHERE n.noderole = 'primary' AND n.shouldhaveshards AND n.nodeport <> $3 LIMIT 1`,
    [before.shardid, before.nodename, before.nodeport])));
  const moved = await placement();
  t.diagnostic(`clinic A's shard ${before.shardid}: from :${before.nodeport} to :${moved.nodeport}`);
  assert.notEqual(moved.nodeport, before.nodeport);
});

test('every acknowledged event is reflected, every call whole, every invariant holds', async (t) => {
  await withClient(async (db) => {
    const { rows: marks } = await db.query(`SELECT org_id::text || ' ' || event_id AS key FROM ${appliedEventsSql} e`);
    const marked = new Set(marks.map((row) => row.key));
    for (const ack of acks) assert.match(ack.json.status, /^(processed|duplicate)$/, JSON.stringify(ack.json));
    const lost = acks.filter((ack) => !marked.has(`${ack.json.org_id} ${ack.json.event_id}`));
    figures.duplicates = acks.filter((ack) => ack.json.status === 'duplicate').length;
    figures.lost = lost.length;
    assert.equal(lost.length, 0, `acknowledged but not marked: ${lost.slice(0, 3).map((ack) => JSON.stringify(ack.json))}`);

    // Per call: one row in each call table, all ended, the report applied,
    // one transcript row per utterance, one mark per event.
    // Each table's figures per call first, then joined: a form Citus plans
    // as well (the citus suite runs this file on a cluster).
    const { rows } = await db.query(`
      WITH wanted AS (SELECT * FROM unnest($1::uuid[], $2::text[]) AS i(org_id, id)),
        tracking AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n, array_agg(status::text) AS statuses
                                    FROM vox.call_tracking GROUP BY 1, 2),
        logs AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n, array_agg(status::text) AS statuses,
                                     bool_and(report_received AND summary IS NOT NULL) AS report
                                FROM vox.call_logs GROUP BY 1, 2),
        call_rows AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n, array_agg(status::text) AS statuses
                                     FROM vox.calls GROUP BY 1, 2),
        transcripts AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n, count(DISTINCT text)::int AS utterances
                                       FROM vox.call_transcripts GROUP BY 1, 2),
        marks AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n FROM ${appliedEventsSql} x GROUP BY 1, 2),
        recordings AS MATERIALIZED (SELECT org_id, vapi_call_id, count(*)::int AS n
                                      FROM vox.recording_upload_queue GROUP BY 1, 2)
      SELECT i.id, coalesce(t.n, 0) AS tracking, coalesce(l.n, 0) AS logs, coalesce(c.n, 0) AS calls,
             (SELECT string_agg(DISTINCT s, ',') FROM unnest(t.statuses || l.statuses || c.statuses) AS s) AS statuses,
             l.report, coalesce(x.n, 0) AS transcripts, coalesce(x.utterances, 0) AS utterances,
             coalesce(m.n, 0) AS marks, coalesce(r.n, 0) AS recordings
        FROM wanted i
        LEFT JOIN tracking t ON t.org_id = i.org_id AND t.vapi_call_id = i.id
        LEFT JOIN logs l ON l.org_id = i.org_id AND l.vapi_call_id = i.id
        LEFT JOIN call_rows c ON c.org_id = i.org_id AND c.vapi_call_id = i.id
        LEFT JOIN transcripts x ON x.org_id = i.org_id AND x.vapi_call_id = i.id
        LEFT JOIN marks m ON m.org_id = i.org_id AND m.vapi_call_id = i.id
        LEFT JOIN recordings r ON r.org_id = i.org_id AND r.vapi_call_id = i.id`,
    [calls.map((c) => c.orgId), calls.map((c) => c.id)]);
    const expected = { tracking: 1, logs: 1, calls: 1, statuses: 'ended', report: true, transcripts: utterances,
      utterances, marks: eventsPerCall, recordings: 1 };
    for (const { id, ...found } of rows) assert.deepEqual(found, expected, `call ${id}`);

    // Nothing else: no call in one table without the others, no stray or
    // parked rows, no mark without its call.
    const { rows: [totals] } = await db.query(`
      SELECT (SELECT count(*) FROM (
                SELECT 1 FROM (SELECT org_id, vapi_call_id FROM vox.call_tracking
                               UNION ALL SELECT org_id, vapi_call_id FROM vox.call_logs
                               UNION ALL SELECT org_id, vapi_call_id FROM vox.calls) AS u
                 GROUP BY org_id, vapi_call_id HAVING count(*) <> 3) AS h)::int AS half_applied,
             (SELECT count(*) FROM vox.call_logs)::int AS calls,
             (SELECT count(*) FROM ${appliedEventsSql} x)::int AS marks,
             (SELECT count(*) FROM vox.call_transcripts)::int AS transcripts,
             (SELECT count(*) FROM vox.parked_events)::int AS parked`);
    assert.deepEqual(totals, { half_applied: 0, calls: calls.length, marks: calls.length * eventsPerCall,
      transcripts: calls.length * utterances, parked: 0 });
  });
  await assertShimRecovered();
  // What was not applied was refused as retryable, never as the event's fault
  // or a dropped connection.
  assert.deepEqual({ refused: Object.keys(figures.refused), errors: figures.errors }, { refused: ['503'], errors: 0 },
    describeRefused(figures.refused));

  t.diagnostic(`events delivered: ${figures.events} (${calls.length} calls, 3 orgs, ${senders} senders)`);
  t.diagnostic(`faults injected: ${figures.faults}`);
  t.diagnostic(`attempts: ${figures.attempts}; redeliveries: ${figures.attempts - figures.events} ` +
    `(refused: ${describeRefused(figures.refused)}; connection errors: ${figures.errors})`);
  t.diagnostic(`acknowledged as duplicate (applied before, answer lost): ${figures.duplicates}`);
  t.diagnostic(`acknowledged but lost: ${figures.lost}`);
});
