// The archiver's main path: a call's end-of-call-report (a signed webhook
// through vox-shim, or vox.handle_event) queues its recording; vox-relay
// downloads it from the HTTPS origin and puts it into the bucket through the
// verifying proxy. The object is byte-identical, its key names the org, the
// call and the job, and vox records key, size, content type and SHA-256.
// Metrics and the job's log line move with it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, endOfCallReport, expectedKey, freshWorld, jobOf, logged, metrics, postWebhook,
  startRelay, startServices, startShim, vapiCall, waitDone, waitUntil,
} from './harness.mjs';
import { makeWav, sha256 } from './origin.mjs';

let world, store, origin, relay, shim;

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  shim = await startShim();
  relay = await startRelay(archiveSettings(store, origin));
});
after(async () => {
  await relay?.stop();
  await shim?.stop();
  await store?.close();
  await origin?.close();
});

function assertArchived(row, tenant, callId, wav, object) {
  const key = expectedKey(tenant, callId, Number(row.id));
  assert.equal(row.status, 'done');
  assert.equal(row.storage_path, key, 'storage_path is the object key: prefix, org, call, job id, extension');
  assert.equal(Number(row.object_size), wav.length, 'object_size');
  assert.equal(row.sha256, sha256(wav), 'sha256 of the recording');
  assert.equal(row.content_type, 'audio/wav', 'content_type as the origin served it');
  assert.equal(row.last_error, null);
  assert.ok(object, `no object ${key} in the bucket`);
  assert.equal(object.length, wav.length);
  assert.ok(object.equals(wav), 'the object differs from the recording');
}

test("an end-of-call-report through vox-shim: the recording is in the bucket, byte-identical, and recorded", async () => {
  const before = await metrics(relay);
  const wav = makeWav(384 * 1024);
  origin.add('shim-call.wav', { body: wav });
  const call = vapiCall(world.a);
  const answer = await postWebhook(shim, world.a, endOfCallReport(call, origin.url('shim-call.wav')));
  assert.ok(answer, 'the shim answered');
  const queued = await jobOf(world.a, call.id);
  assert.ok(queued, 'the report queued no recording job');
  const row = await waitDone(Number(queued.id), 30_000);
  assertArchived(row, world.a, call.id, wav, await store.bytes(row.storage_path));
  assert.deepEqual((await store.objects()).map((o) => o.key), [row.storage_path], 'exactly one object in the bucket');
  assert.equal(origin.requestsFor('shim-call.wav').filter((r) => r.status === 200).length, 1, 'downloaded once');

  // Every request to the store was signed, with the payload's own SHA-256
  // (not UNSIGNED-PAYLOAD) for each body.
  const writes = store.requests.filter((r) => r.method === 'PUT' || r.method === 'POST');
  assert.ok(writes.length >= 1, 'no write reached the store');
  for (const r of store.requests) assert.equal(r.refused, null, `the proxy refused ${r.method} ${r.path}: ${r.refused}`);
  for (const r of writes) assert.match(r.payloadHash, /^[0-9a-f]{64}$/, `${r.method} ${r.path} signed ${r.payloadHash}`);

  const lines = logged(relay, 'recording archived');
  const line = lines.find((l) => Object.values(l).includes(call.id));
  assert.ok(line, `no 'recording archived' line naming the call: ${JSON.stringify(lines)}`);
  assert.ok(Object.values(line).includes(world.a.orgId), 'the line names the org');
  assert.ok(Object.values(line).includes(row.storage_path), 'the line names the key');
  assert.ok(Object.values(line).some((v) => Number(v) === wav.length), 'the line gives the bytes');

  const now = await metrics(relay);
  assert.equal(now.value('vox_relay_recordings_archived_total') - before.value('vox_relay_recordings_archived_total'), 1);
  assert.equal(now.value('vox_relay_recording_bytes_total') - before.value('vox_relay_recording_bytes_total'), wav.length);
  for (const name of ['vox_relay_recordings_failed_total', 'vox_relay_recordings_dead_total',
    'vox_relay_recordings_deleted_total', 'vox_relay_recording_oldest_waiting_seconds']) {
    assert.ok(now.has(name), `/metrics lacks ${name}`);
  }
});

test('jobs made by vox.handle_event for both orgs: each object under its own org, each the right bytes', async () => {
  const jobs = [];
  for (const [i, tenant] of [world.a, world.b, world.a].entries()) {
    const wav = makeWav(200 * 1024 + i * 2048);
    origin.add(`sql-${i}.wav`, { body: wav });
    jobs.push({ ...(await createJob(tenant, origin.url(`sql-${i}.wav`))), wav });
  }
  for (const j of jobs) {
    const row = await waitDone(j.id, 30_000);
    assertArchived(row, j.tenant, j.call.id, j.wav, await store.bytes(row.storage_path));
  }
  assert.equal((await store.objects(`recordings/${world.a.orgId}/`)).length, 3, "org A's objects (with the shim's)");
  assert.equal((await store.objects(`recordings/${world.b.orgId}/`)).length, 1, "org B's objects");
});

test('the oldest waiting job shows in the gauge while the origin holds it back', async () => {
  const wav = makeWav(100 * 1024);
  const file = origin.add('held.wav', { body: wav, stallAfter: 1000 });
  const j = await createJob(world.a, origin.url('held.wav'));
  await file.stall.reached;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  // A job not done yet (claimed or not) is waiting.
  const gauge = await waitUntil(async () => {
    const m = await metrics(relay);
    const v = m.value('vox_relay_recording_oldest_waiting_seconds');
    return v >= 1 ? v : null;
  }, 15_000, 'vox_relay_recording_oldest_waiting_seconds >= 1');
  assert.ok(gauge >= 1, `gauge ${gauge}`);
  file.stall.release();
  const row = await waitDone(j.id, 30_000);
  assertArchived(row, world.a, j.call.id, wav, await store.bytes(row.storage_path));
  await waitUntil(async () => (await metrics(relay)).value('vox_relay_recording_oldest_waiting_seconds') === 0,
    15_000, 'the gauge back at 0 with nothing waiting');
});
