// The relay's bounds: at most --max-streams streams, at most
// --max-streams-per-org per org, each refusal a 503 with Retry-After that
// frees up once a stream closes; and an idle stream gets a `: keepalive`
// comment every --heartbeat-seconds, so that proxies and browsers keep it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { freshWorld, metrics, newCredential, openFeed, startRelay } from './harness.mjs';

let world, relay, credA, credB;

before(async () => {
  world = await freshWorld();
  credA = await newCredential(world.a.orgId);
  credB = await newCredential(world.b.orgId);
  relay = await startRelay({
    VOX_RELAY_MAX_STREAMS: '3',
    VOX_RELAY_MAX_STREAMS_PER_ORG: '2',
    VOX_RELAY_RETRY_AFTER_SECONDS: '7',
    VOX_RELAY_HEARTBEAT_SECONDS: '1',
  });
});
after(() => relay?.stop());

function assertTooMany(what, response) {
  assert.equal(response.status, 503, `${what}: ${response.body}`);
  assert.equal(response.headers['retry-after'], '7', what);
  assert.deepEqual(JSON.parse(response.body), { error: 'too_many_streams' }, what);
}

// Opens a stream and waits for its snapshot: it counts from then on.
async function opened(org, token) {
  const stream = await openFeed(relay, org, token);
  assert.equal(stream.status, 200, stream.body);
  await stream.untilEvents(1);
  return stream;
}

// Retries opening until a stream is granted (the relay notices a closed
// stream at its next write: a heartbeat at the latest).
async function openWithin(ms, org, token) {
  for (const deadline = Date.now() + ms; ;) {
    const stream = await openFeed(relay, org, token);
    if (stream.status === 200) return stream;
    assert.ok(Date.now() < deadline, `still ${stream.status} ${ms} ms after a stream closed`);
    await sleep(200);
  }
}

describe('stream limits', () => {
  test('per org: the third stream of org A is refused; org B still gets one; then the relay is full', async () => {
    const before = await metrics(relay);
    const a1 = await opened(world.a.orgId, credA.token);
    const a2 = await opened(world.a.orgId, credA.token);
    let b1, a3, b2;
    try {
      assertTooMany('third stream of org A', await openFeed(relay, world.a.orgId, credA.token));
      b1 = await opened(world.b.orgId, credB.token);
      assertTooMany('fourth stream of the relay', await openFeed(relay, world.b.orgId, credB.token));
      const full = await metrics(relay);
      assert.equal(full.value('vox_relay_streams_open'), 3);
      assert.equal(full.value('vox_relay_streams_refused_total') - before.value('vox_relay_streams_refused_total'), 2);

      // A refusal is no stream: the open ones are unaffected, and a closed
      // one makes room again.
      assert.equal(a1.endedAt, null);
      a1.close();
      a3 = await openWithin(5_000, world.a.orgId, credA.token);
      assertTooMany('org A full again', await openFeed(relay, world.a.orgId, credA.token));
      b1.close();
      b2 = await openWithin(5_000, world.b.orgId, credB.token);
    } finally {
      for (const stream of [a1, a2, a3, b1, b2]) stream?.close();
    }
  });
});

describe('heartbeats', () => {
  test('an idle stream gets a `: keepalive` comment about every second, and nothing else', async () => {
    // Streams closed by the tests above may still hold places until the
    // relay's next heartbeat notices them.
    const stream = await openWithin(5_000, world.a.orgId, credA.token);
    try {
      await stream.untilEvents(1);
      const from = Date.now();
      await sleep(4_500);
      const keepalives = stream.comments.filter((comment) => comment.at >= from);
      assert.ok(keepalives.length >= 3 && keepalives.length <= 6,
        `${keepalives.length} comments in 4.5 s with --heartbeat-seconds 1`);
      for (const comment of keepalives) assert.equal(comment.text.trim(), 'keepalive');
      const gaps = keepalives.slice(1).map((comment, i) => comment.at - keepalives[i].at);
      assert.ok(gaps.every((gap) => gap < 2_000), `gaps between heartbeats: ${gaps.join(', ')} ms`);
      assert.equal(stream.events.length, 1, 'only the snapshot: no event on an idle feed');
      assert.equal(stream.endedAt, null);
    } finally {
      stream.close();
    }
  });
});
