// Retention and deletion: with vox.recording_retention = 1s, archived
// objects older than that are deleted from the bucket and marked
// (object_deleted_at); deleting an org deletes every object of its own and no
// other's. Deletions go through the verifying proxy (signed DELETEs).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, freshWorld, job, metrics, query, setSystem, startRelay, startServices, waitDone,
  waitJob, waitUntil,
} from './harness.mjs';
import { makeWav } from './origin.mjs';

let world, store, origin, relay;

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  relay = await startRelay(archiveSettings(store, origin));
});
after(async () => {
  await relay?.stop();
  await setSystem('vox.recording_retention', null).catch(() => {});
  await store?.close();
  await origin?.close();
});

async function archived(tenant, name) {
  origin.add(name, { body: makeWav(64 * 1024) });
  const j = await createJob(tenant, origin.url(name));
  const row = await waitDone(j.id, 30_000);
  assert.ok(await store.exists(row.storage_path));
  return { ...j, key: row.storage_path };
}

test('deleting an org deletes its objects from the bucket, not the other org\'s', async () => {
  const a1 = await archived(world.a, 'a1.wav');
  const a2 = await archived(world.a, 'a2.wav');
  const b1 = await archived(world.b, 'b1.wav');
  const m0 = await metrics(relay);
  await query('DELETE FROM vox.organizations WHERE id = $1', [world.a.orgId]);
  await waitUntil(async () => !(await store.exists(a1.key)) && !(await store.exists(a2.key)), 20_000,
    "org A's objects deleted");
  assert.ok(await store.exists(b1.key), "org B's object was deleted");
  const { rows } = await query(
    `SELECT storage_path, reason, status FROM vox.recording_deletions WHERE org_id = $1 ORDER BY storage_path`,
    [world.a.orgId]);
  await waitUntil(async () => (await query(`SELECT bool_and(status = 'done') AS ok FROM vox.recording_deletions
      WHERE org_id = $1`, [world.a.orgId])).rows[0].ok, 10_000, 'the deletions done');
  assert.deepEqual(rows.map((r) => [r.storage_path, r.reason]).sort(), [[a1.key, 'deleted'], [a2.key, 'deleted']].sort());
  const deletes = store.requests.filter((r) => r.method === 'DELETE');
  assert.ok(deletes.length >= 2 && deletes.every((r) => r.refused === null && r.status < 300), JSON.stringify(deletes));
  assert.equal((await metrics(relay)).value('vox_relay_recordings_deleted_total') -
    m0.value('vox_relay_recordings_deleted_total'), 2);
  assert.deepEqual((await store.objects('recordings/')).map((o) => o.key), [b1.key]);
});

test('vox.recording_retention = 1s: an archived object is deleted and marked', async () => {
  const b2 = await archived(world.b, 'b2.wav');
  const existing = (await store.objects('recordings/')).map((o) => o.key);
  assert.equal(existing.length, 2);
  await setSystem('vox.recording_retention', '1s', "SELECT vox.recording_retention() = interval '1 second'");
  try {
    await waitUntil(async () => (await store.objects('recordings/')).length === 0, 30_000, 'every object expired');
    const row = await waitJob(b2.id, (r) => r.object_deleted_at !== null, 10_000, 'object_deleted_at');
    assert.equal(row.status, 'done', 'the job stays done');
    assert.ok(new Date(row.object_deleted_at) >= new Date(row.completed_at));
    const { rows } = await query(`SELECT reason, status FROM vox.recording_deletions WHERE storage_path = $1`, [b2.key]);
    assert.deepEqual(rows, [{ reason: 'retention', status: 'done' }]);
    // No longer playable.
    assert.equal((await query('SELECT count(*)::int AS n FROM vox.recording_object($1, $2)',
      [world.b.orgId, b2.call.id])).rows[0].n, 0);
  } finally {
    await setSystem('vox.recording_retention', null, "SELECT vox.recording_retention() = interval '0'");
  }
  // Kept again: a new recording stays.
  const b3 = await archived(world.b, 'b3.wav');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.ok(await store.exists(b3.key), 'retention 0 deleted an object');
  assert.equal((await job(b3.id)).object_deleted_at, null);
});
