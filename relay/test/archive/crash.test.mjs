// vox-relay killed with SIGKILL in the middle of archiving, then started
// again: once the job's lease (10 s here, the least the relay takes) has expired the new process takes it,
// and the end is exactly one complete object under the job's key and one
// completed job, whatever the moment of the crash:
// - mid-upload: the PUT's body half through (the proxy stops reading it);
// - after the upload, before the completion: the object is stored, but the
//   relay never gets the store's answer;
// - mid-multipart: a 20 MiB recording, killed during a part.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, expectedKey, freshWorld, job, restartRelay, startRelay, startServices, vapiCall,
  waitDone, waitUntil,
} from './harness.mjs';
import { generatedWavDigest, makeWav, sha256 } from './origin.mjs';

let world, store, origin, relay;

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  relay = await startRelay(archiveSettings(store, origin, { VOX_RELAY_ARCHIVE_LEASE_SECONDS: '10' }));
});
after(async () => {
  await relay?.stop();
  await store?.close();
  await origin?.close();
});

async function killAndRestart() {
  const exit = await relay.kill();
  assert.equal(exit.signal, 'SIGKILL');
  relay = await restartRelay(relay);
}

async function assertOneObject(j, { size, digest }) {
  const row = await waitDone(j.id, 60_000);
  const key = expectedKey(j.tenant, j.call.id, j.id);
  assert.equal(row.storage_path, key);
  const objects = await store.objects(`recordings/${j.tenant.orgId}/${j.call.id}/`);
  assert.deepEqual(objects.map((o) => o.key), [key], 'exactly one object for the call');
  const got = await store.digest(key);
  assert.equal(got.size, size);
  assert.equal(got.sha256, digest, 'the object is the recording');
  assert.equal(Number(row.object_size), size);
  assert.equal(row.sha256, digest);
  assert.ok(row.attempts >= 2, `attempts ${row.attempts}: the restarted relay took it again`);
  return row;
}

test('killed mid-upload (the PUT body half through), restarted: one object, the job done', async () => {
  const wav = makeWav(512 * 1024);
  origin.add('mid-put.wav', { body: wav });
  const call = vapiCall(world.a);
  const stalled = store.stallBody((info) => info.method === 'PUT' && info.path.includes(call.id), 64 * 1024);
  const target = await createJob(world.a, origin.url('mid-put.wav'), call);
  const info = await stalled;
  assert.ok(info.bytesIn >= 64 * 1024 && info.bytesIn < wav.length, `${info.bytesIn} bytes in`);
  assert.equal((await job(target.id)).status, 'pending');
  await killAndRestart();
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await store.exists(expectedKey(target.tenant, target.call.id, target.id)), false,
    'a half-sent PUT left an object');
  await assertOneObject(target, { size: wav.length, digest: sha256(wav) });
});

test('killed after the object was stored but before the relay heard back, restarted: one object, the job done', async () => {
  const wav = makeWav(300 * 1024);
  origin.add('after-put.wav', { body: wav });
  const call = vapiCall(world.b);
  const hold = store.holdResponse((info) => info.method === 'PUT' && info.path.includes(call.id));
  const target = await createJob(world.b, origin.url('after-put.wav'), call);
  await hold.reached;
  const key = expectedKey(target.tenant, target.call.id, target.id);
  await waitUntil(() => store.exists(key), 10_000, 'the object stored');
  assert.equal((await job(target.id)).status, 'pending', 'completed before the store answered');
  await killAndRestart();
  hold.release();
  await assertOneObject(target, { size: wav.length, digest: sha256(wav) });
});

test('killed mid-multipart (a 20 MiB recording, during a part), restarted: one object, the job done', async () => {
  const size = 20 * 1024 * 1024;
  origin.add('multi.wav', { generated: true, size });
  const call = vapiCall(world.a);
  const stalled = store.stallBody((info) => info.method === 'PUT' && info.query.includes('partNumber') &&
    info.path.includes(call.id), 1024 * 1024);
  const target = await createJob(world.a, origin.url('multi.wav'), call);
  await stalled;
  await killAndRestart();
  await assertOneObject(target, { size, digest: generatedWavDigest(size) });
});
