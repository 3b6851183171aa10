// Downloads are fenced: https only, hosts from the allowlist, every redirect
// checked again, and the resolved address refused when it is loopback (unless
// the test-only setting allows it), private, link-local or a metadata
// address. Each refusal fails the job with a clear last_error (and a backoff),
// and no request reaches any server: not the origin, and not the traps that
// listen on 10.1.2.3 and 169.254.169.254. The relays run in a network
// namespace of their own (netns.mjs), so even a relay that did connect would
// reach only those traps, never another machine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, freshWorld, metrics, query, startRelay, startServices, waitJob,
} from './harness.mjs';
import { startNetns } from './netns.mjs';
import { makeWav } from './origin.mjs';

let world, store, origin, ns, relay;
const jobIds = [];

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  origin.add('fine.wav', { body: makeWav(64 * 1024) });
  ns = await startNetns(origin, store);
});
after(async () => {
  await relay?.stop();
  await ns?.close();
  await store?.close();
  await origin?.close();
});

// One relay at a time (they share the queue): the strict one refuses
// loopback and allows 127.0.0.1 and the metadata address by name, so that
// the address check is what refuses them; the lenient one allows loopback
// (as the other tests do) and names localhost, 10.1.2.3 and 169.254.169.254.
// The jobs of one are retired (dead) before the other starts.
async function useRelay(kind) {
  if (relay?.kind === kind) return relay;
  if (relay) {
    await relay.stop();
    await query(`UPDATE vox.recording_upload_queue SET status = 'dead' WHERE id = ANY($1)`, [jobIds]);
  }
  relay = await startRelay(archiveSettings(store, origin, kind === 'strict' ? {
    VOX_RELAY_ARCHIVE_ALLOW_LOOPBACK: 'false',
    VOX_RELAY_ARCHIVE_DOWNLOAD_HOSTS: '127.0.0.1,localhost,169.254.169.254',
  } : {
    VOX_RELAY_ARCHIVE_DOWNLOAD_HOSTS: 'localhost,10.1.2.3,169.254.169.254',
  }), { netns: ns });
  relay.kind = kind;
  return relay;
}

// The job of `url` fails once with last_error matching `pattern`: pending,
// backing off, nothing stored, the origin's token not in the error.
async function refused(url, pattern, { tenant = world.a } = {}) {
  const originBefore = origin.requests.length;
  const j = await createJob(tenant, url);
  jobIds.push(j.id);
  const row = await waitJob(j.id, (r) => r.last_error !== null, 20_000, 'a failure');
  assert.match(row.last_error, pattern);
  assert.equal(row.status, 'pending', 'one refusal is not yet dead');
  assert.equal(row.attempts, 1);
  assert.ok(row.available_in > 5, `retried in ${row.available_in} s: no backoff`);
  assert.equal(row.storage_path, null);
  assert.ok(!row.last_error.includes('?'), `last_error holds a query: ${row.last_error}`);
  assert.equal((await store.objects(`recordings/${tenant.orgId}/${j.call.id}/`)).length, 0);
  assert.deepEqual(store.requests.filter((r) => r.path.includes(j.call.id)), [], 'a request reached the store');
  return { row, newOriginRequests: origin.requests.slice(originBefore) };
}

test('https://127.0.0.1 and https://localhost with loopback not allowed: refused, the origin never asked', async () => {
  await useRelay('strict');
  for (const host of ['127.0.0.1', 'localhost']) {
    const { newOriginRequests } = await refused(origin.url('fine.wav', { host }),
      /^download refused: .*(loopback|127\.0\.0\.1|::1)/);
    assert.deepEqual(newOriginRequests, [], `a request reached the origin for ${host}`);
  }
});

test('https://169.254.169.254/ (the metadata address), loopback allowed or not: refused, nothing connected', async () => {
  const url = 'https://169.254.169.254/latest/meta-data/iam/security-credentials/?token=x';
  for (const kind of ['strict', 'lenient']) {
    await useRelay(kind);
    const m = await metrics(relay);
    const { newOriginRequests } = await refused(url, /^download refused: .*(169\.254\.169\.254|link-local|metadata)/);
    assert.deepEqual(newOriginRequests, []);
    assert.equal((await metrics(relay)).value('vox_relay_recordings_failed_total') -
      m.value('vox_relay_recordings_failed_total'), 1, `${kind}: vox_relay_recordings_failed_total`);
  }
  assert.deepEqual(ns.traps, [], 'a relay connected to a refused address');
});

test('https://10.1.2.3/ directly and through a redirect: refused as private, nothing connected', async () => {
  await useRelay('lenient');
  await refused('https://10.1.2.3/x.wav?token=y', /^download refused: .*(10\.1\.2\.3|private)/);
  const { newOriginRequests } = await refused(origin.redirectUrl('https://10.1.2.3/x.wav'),
    /^download refused: .*(10\.1\.2\.3|private)/);
  assert.ok(newOriginRequests.every((r) => r.path === '/redirect'), JSON.stringify(newOriginRequests));
  assert.deepEqual(ns.traps, [], 'a relay connected to 10.1.2.3');
});

test('plain http, directly and through a redirect: refused, no request on the plain port', async () => {
  await useRelay('lenient');
  const plainUrl = origin.url('fine.wav', { scheme: 'http' });
  const direct = await refused(plainUrl, /^download refused: plain http/);
  assert.deepEqual(direct.newOriginRequests, []);
  const redirected = await refused(origin.redirectUrl(plainUrl), /^download refused: plain http/);
  assert.ok(redirected.newOriginRequests.every((r) => r.scheme === 'https' && r.path === '/redirect'),
    JSON.stringify(redirected.newOriginRequests));
  assert.deepEqual(origin.requests.filter((r) => r.scheme === 'http'), [], 'a request reached the plain listener');
});

test('a host not in the allowlist, directly and through a redirect: refused', async () => {
  await useRelay('lenient');
  // The lenient relay allows localhost, not 127.0.0.1 (the same origin).
  const url = origin.url('fine.wav', { host: '127.0.0.1' });
  const direct = await refused(url, /^download refused: host (127\.0\.0\.1 is )?not allowed/);
  assert.deepEqual(direct.newOriginRequests, []);
  const redirected = await refused(origin.redirectUrl(url), /^download refused: host (127\.0\.0\.1 is )?not allowed/);
  assert.ok(redirected.newOriginRequests.every((r) => r.path === '/redirect'), JSON.stringify(redirected.newOriginRequests));
  assert.equal(origin.requestsFor('fine.wav').length, 0, 'the file was fetched');
});

test('the fence lets an allowed https download through (the same relay, the same origin)', async () => {
  await useRelay('lenient');
  const j = await createJob(world.b, origin.url('fine.wav'));
  const row = await waitJob(j.id, (r) => r.status === 'done', 20_000, 'done');
  assert.equal(Number(row.object_size), 64 * 1024);
  assert.deepEqual(ns.traps, []);
});
