// Playback: GET /v1/orgs/{org}/calls/{call}/recording with the org's feed
// credential (Bearer or ?token=) answers 302 to a presigned GET URL of that
// org's object, which downloads the same bytes through the verifying proxy;
// another org's credential gets 401, another org's call 404, and the URL
// expires after --playback-url-seconds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  archiveSettings, createJob, freshWorld, getUrl, newCredential, record, request, startRelay, startServices, waitDone,
} from './harness.mjs';
import { makeWav } from './origin.mjs';

let world, store, origin, relay, credA, credB, jobA, jobB, wavA;

before(async () => {
  world = await freshWorld();
  ({ store, origin } = await startServices());
  relay = await startRelay(archiveSettings(store, origin, { VOX_RELAY_PLAYBACK_URL_SECONDS: '2' }));
  credA = await newCredential(world.a.orgId);
  credB = await newCredential(world.b.orgId);
  wavA = makeWav(256 * 1024);
  origin.add('play-a.wav', { body: wavA });
  origin.add('play-b.wav', { body: makeWav(100 * 1024) });
  jobA = await createJob(world.a, origin.url('play-a.wav'));
  jobB = await createJob(world.b, origin.url('play-b.wav'));
  await waitDone(jobA.id, 30_000);
  await waitDone(jobB.id, 30_000);
});
after(async () => {
  await relay?.stop();
  await store?.close();
  await origin?.close();
});

const recordingPath = (orgId, callId, query = '') => `/v1/orgs/${orgId}/calls/${encodeURIComponent(callId)}/recording${query}`;

function presigned(response) {
  assert.equal(response.status, 302, `status ${response.status}: ${response.text}`);
  const location = response.headers.location;
  assert.ok(location, 'no Location');
  record('url', location);
  const url = new URL(location);
  const signature = url.searchParams.get('X-Amz-Signature');
  assert.match(signature ?? '', /^[0-9a-f]{64}$/, 'no X-Amz-Signature');
  record('signature', signature);
  assert.equal(`${url.protocol}//${url.host}`, store.endpoint, 'the URL is not the store\'s');
  assert.equal(url.searchParams.get('X-Amz-Expires'), '2', 'X-Amz-Expires is not --playback-url-seconds');
  return location;
}

test("the org's credential: 302 to a presigned URL that downloads the recording, in a header or ?token=", async () => {
  for (const how of ['bearer', 'query']) {
    const response = how === 'bearer'
      ? await request(relay, 'GET', recordingPath(world.a.orgId, jobA.call.id), { headers: { authorization: `Bearer ${credA.token}` } })
      : await request(relay, 'GET', recordingPath(world.a.orgId, jobA.call.id, `?token=${encodeURIComponent(credA.token)}`));
    const location = presigned(response);
    assert.match(response.headers['cache-control'] ?? 'no-store', /no-store|private|no-cache/);
    const got = await getUrl(location);
    assert.equal(got.status, 200, got.text);
    assert.ok(got.buffer.equals(wavA), 'the presigned URL served other bytes');
    const last = store.requests.at(-1);
    assert.equal(last.presigned, true);
    assert.equal(last.refused, null);
  }
});

test('the presigned URL tampered (another key) is refused by the store, and it expires', async () => {
  const location = presigned(await request(relay, 'GET', recordingPath(world.a.orgId, jobA.call.id),
    { headers: { authorization: `Bearer ${credA.token}` } }));
  const url = new URL(location);
  const other = (await store.objects(`recordings/${world.b.orgId}/`))[0].key;
  url.pathname = `/${store.bucket}/${other}`;
  const tampered = await getUrl(url.href);
  assert.equal(tampered.status, 403);
  assert.match(tampered.text, /SignatureDoesNotMatch/);
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const expired = await getUrl(location);
  assert.equal(expired.status, 403, 'the URL outlived --playback-url-seconds');
  assert.match(expired.text, /expired/);
});

test("another org's credential: 401; another org's call or an unknown call with its own: 404", async () => {
  const asB = (orgId, callId) => request(relay, 'GET', recordingPath(orgId, callId),
    { headers: { authorization: `Bearer ${credB.token}` } });
  const wrongOrg = await asB(world.a.orgId, jobA.call.id);
  assert.equal(wrongOrg.status, 401);
  assert.equal(wrongOrg.headers.location, undefined);
  const otherCall = await asB(world.b.orgId, jobA.call.id);
  assert.equal(otherCall.status, 404);
  assert.deepEqual(otherCall.json, { error: 'not_found' });
  assert.equal(otherCall.headers.location, undefined);
  assert.equal((await asB(world.b.orgId, 'call_unknown')).status, 404);
  const none = await request(relay, 'GET', recordingPath(world.a.orgId, jobA.call.id));
  assert.equal(none.status, 401, 'no credential');
  // Its own call still plays.
  presigned(await asB(world.b.orgId, jobB.call.id));
});

test('an archiver that is off answers 404', async () => {
  const off = await startRelay({});
  try {
    const response = await request(off, 'GET', recordingPath(world.a.orgId, jobA.call.id),
      { headers: { authorization: `Bearer ${credA.token}` } });
    assert.equal(response.status, 404);
  } finally {
    await off.stop();
  }
});
