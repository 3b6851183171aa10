// A whole call, sent as signed webhooks through vox-shim, read live from
// vox-relay: one event per committed outbox row, in commit order, each with
// what a dashboard renders without a second query (the call's state, the
// utterance, the report), and only on its own org's feed. A fresh connection
// starts with a snapshot of the org's calls, newest first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  endOfCallReport, firstRepeat, freshWorld, newCredential, openFeed, postWebhook, report, request,
  startRelay, startShim, statusUpdate, transcript, vapiCall,
} from './harness.mjs';

let world, relay, shim, credA, credB;
const isoWithOffset = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/;
const callFields = ['call_id', 'status', 'channel', 'caller', 'caller_name', 'started_at', 'ended_at',
  'duration_seconds', 'ended_reason', 'outcome', 'updated_at', 'latest', 'recording'];

before(async () => {
  world = await freshWorld();
  credA = await newCredential(world.a.orgId);
  credB = await newCredential(world.b.orgId);
  relay = await startRelay();
  shim = await startShim();
});
after(async () => {
  await relay?.stop();
  await shim?.stop();
});

// The webhooks of one call, each with the topic, call state and utterance it
// must show. Each is sent once the previous one's event arrived, so the call
// state the relay reads is the one its own commit left.
function oneCall(call) {
  const ask = 'I need to book a cleaning.';
  const answer = 'Tuesday at ten works. You are booked.';
  return [
    { body: statusUpdate(call, 'ringing'), topic: 'status-update', status: 'ringing' },
    { body: statusUpdate(call, 'in-progress'), topic: 'status-update', status: 'in-progress' },
    { body: transcript(call, ask, 'user'), topic: 'transcript', status: 'in-progress', utterance: ['user', ask] },
    { body: transcript(call, answer, 'assistant'), topic: 'transcript', status: 'in-progress',
      utterance: ['assistant', answer] },
    { body: statusUpdate(call, 'ended', { endedReason: report.endedReason }), topic: 'status-update', status: 'ended' },
    { body: endOfCallReport(call), topic: 'end-of-call-report', status: 'ended' },
  ];
}

function assertCall(where, got, call) {
  assert.deepEqual(Object.keys(got).sort(), [...callFields].sort(), `${where}: the Call object's fields`);
  assert.equal(got.call_id, call.id, where);
  assert.equal(got.channel, 'inbound', where);
  assert.equal(got.caller, call.customer.number, `${where}: the caller in E.164`);
  assert.equal(got.caller_name, null, `${where}: no lead has this number`);
  assert.match(got.updated_at, isoWithOffset, where);
}

let streamA, streamB, call;

test('a call through the shim: each event in commit order, with the call state, utterance and report', async () => {
  streamA = await openFeed(relay, world.a.orgId, credA.token);
  streamB = await openFeed(relay, world.b.orgId, credB.token);
  await streamA.untilEvents(1);
  await streamB.untilEvents(1);
  assert.equal(streamA.retry, 2000, 'retry: 2000 at the start');

  call = vapiCall(world.a);
  const steps = oneCall(call);
  for (const [i, step] of steps.entries()) {
    await postWebhook(shim, world.a, step.body);
    await streamA.untilEvents(2 + i);
  }
  const events = streamA.events.slice(1);
  assert.equal(events.length, steps.length, 'one event per committed webhook, nothing else');
  for (const [i, step] of steps.entries()) {
    const event = events[i];
    const where = `event ${i + 1} (${step.topic} ${step.status})`;
    assert.equal(event.type, 'message', `${where}: no event: line`);
    assert.match(event.id, /^[\x21-\x7e]{20,200}$/, `${where}: the id is a printable cursor`);
    const data = event.json;
    assert.equal(data.topic, step.topic, where);
    assert.equal(data.call_id, call.id, where);
    assert.match(data.committed_at, isoWithOffset, where);
    assertCall(where, data.call, call);
    assert.equal(data.call.status, step.status, `${where}: the call's state after this event`);
    if (step.utterance) {
      assert.deepEqual([data.utterance.role, data.utterance.text], step.utterance, where);
      assert.match(data.utterance.at, isoWithOffset, where);
      assert.deepEqual(data.call.latest, data.utterance, `${where}: latest is this utterance`);
    } else {
      assert.equal(data.utterance, undefined, `${where}: an utterance on a ${step.topic}`);
    }
    if (step.topic === 'end-of-call-report') {
      assert.equal(data.report.summary, report.summary, where);
      assert.equal(data.report.has_recording, true, where);
      assert.ok('outcome' in data.report, `${where}: report.outcome`);
      assert.equal(data.call.ended_reason, report.endedReason, where);
      assert.equal(Date.parse(data.call.started_at), Date.parse(report.startedAt), where);
      assert.equal(Date.parse(data.call.ended_at), Date.parse(report.endedAt), where);
      assert.equal(data.call.duration_seconds, 210, where);
      // Queued for the archive, which this suite does not run.
      assert.equal(data.call.recording, 'waiting', `${where}: the recording's state`);
    } else {
      assert.equal(data.call.recording, null, `${where}: no recording before the report`);
      assert.equal(data.report, undefined, `${where}: a report on a ${step.topic}`);
    }
  }
  assert.equal(firstRepeat(events.map((event) => event.id)), undefined, 'every id differs');
  const committed = events.map((event) => Date.parse(event.json.committed_at));
  assert.deepEqual(committed, [...committed].sort((x, y) => x - y), 'committed_at never goes back');
});

test("org B's feed saw none of org A's events, then only its own", async () => {
  assert.deepEqual(streamB.events.map((event) => event.type), ['snapshot']);
  const callB = vapiCall(world.b);
  await postWebhook(shim, world.b, statusUpdate(callB, 'ringing'));
  await streamB.untilEvents(2);
  assert.equal(streamB.events[1].json.call_id, callB.id);
  assert.equal(streamA.messages().length, oneCall(call).length, "org B's event on org A's feed");
  streamA.close();
  streamB.close();
});

test('a fresh connection starts with a snapshot of the calls, newest first, then live events', async () => {
  const later = vapiCall(world.a);
  await postWebhook(shim, world.a, statusUpdate(later, 'in-progress'));
  const stream = await openFeed(relay, world.a.orgId, credA.token);
  try {
    await stream.untilEvents(1);
    const [snapshot] = stream.events;
    assert.equal(snapshot.type, 'snapshot');
    assert.match(snapshot.id, /^[\x21-\x7e]+$/, 'the snapshot carries the cursor to resume from');
    const { calls } = snapshot.json;
    assert.deepEqual(calls.map((c) => c.call_id), [later.id, call.id], 'newest first, only org A');
    assertCall('snapshot, first call', calls[1], call);
    assert.equal(calls[1].status, 'ended');
    assert.equal(calls[1].latest.text, 'Tuesday at ten works. You are booked.');
    assert.equal(calls[0].status, 'in-progress');

    const third = vapiCall(world.a);
    await postWebhook(shim, world.a, transcript(third, 'Hello?'));
    await stream.untilEvents(2);
    assert.deepEqual([stream.events[1].type, stream.events[1].json.utterance.text], ['message', 'Hello?']);
  } finally {
    stream.close();
  }
});

test('the transcript route: the call\'s lines, oldest first', async () => {
  const response = await request(relay, 'GET', `/v1/orgs/${world.a.orgId}/calls/${call.id}/transcript`,
    { headers: { authorization: `Bearer ${credA.token}` } });
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.json.lines.map((line) => [line.role, line.text]), [
    ['user', 'I need to book a cleaning.'],
    ['assistant', 'Tuesday at ten works. You are booked.'],
  ]);
  const unknown = await request(relay, 'GET', `/v1/orgs/${world.a.orgId}/calls/call_unknown/transcript`,
    { headers: { authorization: `Bearer ${credA.token}` } });
  assert.equal(unknown.status, 200);
  assert.deepEqual(unknown.json.lines, []);
});
