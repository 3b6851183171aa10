// Two vox-relays archive from the same queue at once: 20 jobs of two orgs,
// each done exactly once (one completed upload of each key through the
// store, one 'recording archived' line across both relays), one object each,
// each byte-identical.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, expectedKey, freshWorld, logged, startRelay, startServices, waitDone,
} from './harness.mjs';
import { makeWav, sha256 } from './origin.mjs';

let world, store, origin, relays = [];

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
});
after(async () => {
  await Promise.all(relays.map((relay) => relay.stop()));
  await store?.close();
  await origin?.close();
});

test('two relays compete for 20 jobs: each done once, one object each', async () => {
  const jobs = [];
  for (let i = 0; i < 20; i++) {
    const wav = makeWav(96 * 1024 + i * 1024, 1000 + i);
    origin.add(`c${i}.wav`, { body: wav });
    jobs.push({ ...(await createJob(i % 2 ? world.a : world.b, origin.url(`c${i}.wav`))), wav });
  }
  const settings = archiveSettings(store, origin, { VOX_RELAY_ARCHIVE_POLL_MS: '100' });
  relays = await Promise.all([startRelay(settings), startRelay(settings)]);
  for (const j of jobs) {
    const row = await waitDone(j.id, 60_000);
    const key = expectedKey(j.tenant, j.call.id, j.id);
    assert.equal(row.storage_path, key);
    assert.equal(row.sha256, sha256(j.wav));
    assert.ok((await store.bytes(key)).equals(j.wav), `${key} differs from its recording`);
    assert.equal(row.attempts, 1, `job ${j.id} was claimed ${row.attempts} times`);
  }
  const objects = await store.objects('recordings/');
  assert.equal(objects.length, 20, `objects: ${objects.map((o) => o.key).join(', ')}`);
  // One upload of each key reached the store and succeeded.
  const puts = store.requests.filter((r) => r.method === 'PUT' && r.status === 200);
  for (const j of jobs) {
    const path = `/${store.bucket}/${expectedKey(j.tenant, j.call.id, j.id)}`;
    assert.equal(puts.filter((r) => r.path === path).length, 1, `uploads of ${path}`);
    assert.equal(origin.requestsFor(`c${jobs.indexOf(j)}.wav`).length, 1, `downloads of job ${j.id}`);
  }
  const lines = relays.map((relay) => logged(relay, 'recording archived'));
  const counts = lines.map((l) => l.length);
  console.log(`# jobs archived per relay: ${counts.join(' + ')}`);
  assert.equal(counts[0] + counts[1], 20, `'recording archived' lines: ${counts.join(' + ')}`);
  for (const j of jobs) {
    const naming = lines.flat().filter((line) => Object.values(line).includes(j.call.id));
    assert.equal(naming.length, 1, `job ${j.id} logged as archived ${naming.length} times`);
  }
});
