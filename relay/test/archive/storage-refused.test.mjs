// Wrong storage credentials: the store (the verifying proxy) refuses every
// upload with 403 SignatureDoesNotMatch; the job fails with last_error naming
// the refusal, backs off, and is dead after vox.queue_max_attempts (2 here,
// set with ALTER SYSTEM): it never loops. Nothing is stored.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, freshWorld, metrics, record, setSystem, startRelay, startServices, waitJob,
} from './harness.mjs';
import { makeWav } from './origin.mjs';

let world, store, origin, relay;

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  await setSystem('vox.queue_max_attempts', 2, 'SELECT vox.queue_max_attempts() = 2');
  relay = await startRelay(archiveSettings(store, origin, {
    VOX_RELAY_S3_SECRET_ACCESS_KEY: record('secret', `wrong${store.secretAccessKey.slice(5)}x`),
  }));
});
after(async () => {
  await relay?.stop();
  await setSystem('vox.queue_max_attempts', null);
  await store?.close();
  await origin?.close();
});

test('wrong secret key: refused by the store, backoff, then dead after vox.queue_max_attempts', async () => {
  const m0 = await metrics(relay);
  origin.add('refused.wav', { body: makeWav(128 * 1024) });
  const j = await createJob(world.a, origin.url('refused.wav'));
  const first = await waitJob(j.id, (r) => r.last_error !== null, 20_000, 'the first failure');
  assert.equal(first.status, 'pending');
  assert.equal(first.attempts, 1);
  assert.match(first.last_error, /^storage refused \w+: HTTP 403 SignatureDoesNotMatch/);
  assert.ok(first.available_in > 5 && first.available_in <= 11, `backoff of ${first.available_in} s (10 s expected)`);
  const refusedSoFar = store.requests.filter((r) => r.path.includes(j.call.id)).length;
  assert.ok(refusedSoFar >= 1, 'no request reached the store');
  for (const r of store.requests) assert.match(r.refused ?? '', /^SignatureDoesNotMatch/, `${r.method} ${r.path}`);
  // Nothing more while it backs off.
  await sleep(3000);
  assert.equal(store.requests.filter((r) => r.path.includes(j.call.id)).length, refusedSoFar, 'retried during its backoff');

  const dead = await waitJob(j.id, (r) => r.status !== 'pending', 30_000, 'dead');
  assert.equal(dead.status, 'dead');
  assert.equal(dead.attempts, 2);
  assert.match(dead.last_error, /^storage refused \w+: HTTP 403 SignatureDoesNotMatch/);
  assert.equal((await store.objects()).length, 0);
  const requests = store.requests.length;
  await sleep(2000);
  assert.equal(store.requests.length, requests, 'a dead job was tried again');
  const m1 = await metrics(relay);
  assert.equal(m1.value('vox_relay_recordings_failed_total') - m0.value('vox_relay_recordings_failed_total'), 2,
    'failed_total: both attempts');
  assert.equal(m1.value('vox_relay_recordings_dead_total') - m0.value('vox_relay_recordings_dead_total'), 1, 'dead_total');
  assert.equal(m1.value('vox_relay_recordings_archived_total'), 0);
  const failures = relay.logLines().filter((l) => l.msg === 'recording failed');
  assert.ok(failures.length >= 2, `${failures.length} 'recording failed' lines`);
  assert.ok(failures.every((l) => JSON.stringify(l).includes('SignatureDoesNotMatch')), 'the log names the refusal');
});
