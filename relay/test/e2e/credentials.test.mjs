// Who may read an org's feed: a valid credential for that org, as a Bearer
// header or as ?token= (what a browser's EventSource can send). Everything
// else gets the same 401, whatever was wrong, so that a caller learns nothing
// about which tokens or orgs exist. A revoked or expired credential ends its
// open streams within a second, and no other stream.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  feedPath, freshWorld, newCredential, openFeed, openStream, Producer, queryMarker, request, revokeCredential,
  startRelay, vapiCall,
} from './harness.mjs';

let world, relay, credA, credB, producer;
const refusals = []; // [what, response] of every 401

before(async () => {
  world = await freshWorld();
  credA = await newCredential(world.a.orgId);
  credB = await newCredential(world.b.orgId);
  relay = await startRelay();
  producer = new Producer(world.a);
});
after(async () => {
  await producer?.end();
  await relay?.stop();
});

function assertUnauthorized(what, response) {
  assert.equal(response.status, 401, `${what}: ${response.body ?? response.text}`);
  refusals.push([what, response]);
}

describe('valid credentials', () => {
  test('Bearer header: 200 text/event-stream, not cached, not buffered, a snapshot first', async () => {
    const stream = await openFeed(relay, world.a.orgId, credA.token);
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.headers['content-type'], /^text\/event-stream/);
      assert.equal(stream.headers['cache-control'], 'no-store');
      assert.equal(stream.headers['x-accel-buffering'], 'no');
      await stream.untilEvents(1);
      assert.equal(stream.events[0].type, 'snapshot');
    } finally {
      stream.close();
    }
  });

  test('?token= in the query string: the same stream', async () => {
    const stream = await openStream(relay, `${feedPath(world.a.orgId, { token: credA.token })}&${queryMarker()}`);
    try {
      assert.equal(stream.status, 200);
      await stream.untilEvents(1);
      assert.equal(stream.events[0].type, 'snapshot');
    } finally {
      stream.close();
    }
  });

  test('a ticket (valid_for 10 minutes) is a credential too', async () => {
    const ticket = await newCredential(world.a.orgId, '10 minutes');
    const stream = await openStream(relay, feedPath(world.a.orgId, { token: ticket.token }));
    stream.close();
    assert.equal(stream.status, 200);
  });

  test('the transcript route takes the same credentials', async () => {
    const call = vapiCall(world.a);
    await producer.transcript(call, 'Hello, I would like an appointment.');
    const route = `/v1/orgs/${world.a.orgId}/calls/${call.id}/transcript`;
    const response = await request(relay, 'GET', route, { headers: { authorization: `Bearer ${credA.token}` } });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.call_id, call.id);
    assert.deepEqual(response.json.lines.map((line) => [line.role, line.text]),
      [['user', 'Hello, I would like an appointment.']]);
    assertUnauthorized('transcript with org B\'s token', await request(relay, 'GET', route,
      { headers: { authorization: `Bearer ${credB.token}` } }));
    assertUnauthorized('transcript without a token', await request(relay, 'GET', route));
    // Org B's credential on its own route does not reach org A's call.
    const across = await request(relay, 'GET', `/v1/orgs/${world.b.orgId}/calls/${call.id}/transcript`,
      { headers: { authorization: `Bearer ${credB.token}` } });
    assert.equal(across.status, 200, across.text);
    assert.deepEqual(across.json.lines, [], "org A's call read through org B's route");
  });
});

describe('refused: 401, never a stream', () => {
  test('no credential', async () => {
    assertUnauthorized('none', await openStream(relay, feedPath(world.a.orgId)));
  });

  test("another org's token, as header and in the query", async () => {
    assertUnauthorized('org B token, header', await openFeed(relay, world.a.orgId, credB.token));
    assertUnauthorized('org B token, query',
      await openStream(relay, feedPath(world.a.orgId, { token: credB.token })));
  });

  test('garbage: random, truncated, wrong prefix, empty, a Basic header', async () => {
    const fake = `vxf_${randomBytes(32).toString('base64url')}`;
    for (const [what, token] of [
      ['random vxf_ token', fake],
      ['truncated valid token', credA.token.slice(0, -1)],
      ['valid token with a character changed', credA.token.slice(0, -1) + (credA.token.endsWith('A') ? 'B' : 'A')],
      ['valid token without its prefix', credA.token.slice(4)],
      ['valid token twice', credA.token + credA.token],
      ['empty', ''],
    ]) {
      assertUnauthorized(`${what}, header`, await openFeed(relay, world.a.orgId, token));
      assertUnauthorized(`${what}, query`, await openStream(relay, feedPath(world.a.orgId, { token })));
    }
    assertUnauthorized('Basic header', await openStream(relay, feedPath(world.a.orgId),
      { authorization: `Basic ${Buffer.from(`x:${credA.token}`).toString('base64')}` }));
  });

  test('an expired ticket (valid_for 1 second)', async () => {
    const ticket = await newCredential(world.a.orgId, '1 second');
    await sleep(1500);
    assertUnauthorized('expired ticket, query', await openStream(relay, feedPath(world.a.orgId, { token: ticket.token })));
    assertUnauthorized('expired ticket, header', await openFeed(relay, world.a.orgId, ticket.token));
  });

  test('a revoked token', async () => {
    const cred = await newCredential(world.a.orgId);
    assert.equal(await revokeCredential(cred.id), true);
    assert.equal(await revokeCredential(cred.id), false, 'revoking again: it was no longer valid');
    assertUnauthorized('revoked', await openFeed(relay, world.a.orgId, cred.token));
  });

  test('a non-UUID org: 400 bad_org_id', async () => {
    const response = await openFeed(relay, 'not-a-uuid', credA.token);
    assert.equal(response.status, 400);
    assert.deepEqual(JSON.parse(response.body), { error: 'bad_org_id' });
  });

  test('every 401 has the same body and content type, whatever was wrong', () => {
    assert.ok(refusals.length >= 15, `only ${refusals.length} refusals collected`);
    for (const [what, response] of refusals) {
      const body = response.body ?? response.text;
      assert.deepEqual(JSON.parse(body), { error: 'unauthorized' }, what);
      assert.equal(body, refusals[0][1].body ?? refusals[0][1].text, `${what}: body differs from the first 401's`);
      const type = response.headers['content-type'] ?? response.headers.get?.('content-type');
      assert.match(type, /^application\/json/, what);
    }
  });
});

describe('an open stream whose credential stops being valid', () => {
  test('revoked mid-stream: its streams end within 1 s; a stream of another credential goes on', async (t) => {
    const cred = await newCredential(world.a.orgId);
    const other = await newCredential(world.a.orgId);
    const doomed = await openFeed(relay, world.a.orgId, cred.token);
    const doomedToo = await openStream(relay, feedPath(world.a.orgId, { token: cred.token }));
    const survivor = await openFeed(relay, world.a.orgId, other.token);
    try {
      assert.equal(doomed.status, 200);
      assert.equal(doomedToo.status, 200);
      for (const stream of [doomed, doomedToo, survivor]) await stream.untilEvents(1);
      // Mid-stream: an event reaches them first.
      const call = vapiCall(world.a);
      await producer.status(call, 'ringing');
      await doomed.untilEvents(2);
      await doomedToo.untilEvents(2);

      assert.equal(await revokeCredential(cred.id), true);
      const revokedAt = Date.now();
      for (const [what, stream] of [['header', doomed], ['query', doomedToo]]) {
        await stream.until((s) => s.endedAt !== null, 5_000, `the end of the revoked stream (${what})`);
        const ms = stream.endedAt - revokedAt;
        assert.ok(ms <= 1000, `the revoked credential's stream (${what}) ended ${ms} ms after the revocation committed`);
        t.diagnostic(`stream (${what}) ended ${ms} ms after the revocation`);
      }

      await producer.status(call, 'in-progress');
      await survivor.until((s) => s.messages().some((m) => m.call?.status === 'in-progress'), 5_000,
        'the next event on the other stream');
      assert.equal(survivor.endedAt, null);
      assertUnauthorized('revoked, reconnecting', await openFeed(relay, world.a.orgId, cred.token,
        { lastEventId: doomed.events.at(-1).id }));
    } finally {
      doomed.close();
      doomedToo.close();
      survivor.close();
    }
  });

  test('a ticket that expires mid-stream: the stream ends within 1 s of its expiry', async (t) => {
    const ticket = await newCredential(world.a.orgId, '2 seconds');
    const madeAt = Date.now();
    const stream = await openStream(relay, feedPath(world.a.orgId, { token: ticket.token }));
    try {
      assert.equal(stream.status, 200);
      await stream.until((s) => s.endedAt !== null, 6_000, 'the end of the expired ticket\'s stream');
      const ms = stream.endedAt - madeAt;
      // Made at most a round trip before madeAt, so it expired by madeAt + 2 s.
      assert.ok(ms >= 1500, `ended ${ms} ms after the ticket was made: before it expired`);
      assert.ok(ms <= 3000, `ended ${ms} ms after a 2-second ticket was made`);
      t.diagnostic(`the 2-second ticket's stream ended ${ms} ms after it was made`);
    } finally {
      stream.close();
    }
  });
});
