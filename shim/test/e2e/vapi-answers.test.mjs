// Through the shim, the answers Vapi waits for (docs/conformance.md): the
// body is exactly Vapi's response shape, and a body with a character
// PostgreSQL's jsonb refuses still delivers its event.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, freshWorld, postSigned, rowsOf, startShim, transcript, vapiCall } from './harness.mjs';

let world, shim, db;

before(async () => {
  world = await freshWorld();
  shim = await startShim(world);
  db = await connect();
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

const send = (body) => postSigned(shim, world.a.secrets.sha256, body, { orgId: world.a.orgId });

test('assistant-request: only {"assistantId"}, as Vapi\'s response schema defines it', async () => {
  const call = vapiCall(world.a, { assistantId: undefined });
  const response = await send(JSON.stringify({ message: {
    type: 'assistant-request', timestamp: Date.now(), call,
    phoneNumber: { id: world.a.phoneNumberId, number: world.a.number },
  } }));
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.json, { assistantId: world.a.assistantId });
});

test('assistant-request for a number vox does not know: a message Vapi speaks', async () => {
  const call = vapiCall(world.a, { assistantId: undefined, phoneNumberId: 'pn-unknown' });
  const response = await send(JSON.stringify({ message: {
    type: 'assistant-request', timestamp: Date.now(), call, phoneNumber: { id: 'pn-unknown', number: '+14155550999' },
  } }));
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(Object.keys(response.json), ['error']);
});

test('tool-calls: one error result per toolCallId', async () => {
  const response = await send(JSON.stringify({ message: {
    type: 'tool-calls', timestamp: Date.now(), call: vapiCall(world.a),
    toolCallList: [
      { id: 'call_9f2c', type: 'function', function: { name: 'bookAppointment', arguments: { day: 'Tuesday' } } },
      { id: 'call_a71e', type: 'function', function: { name: 'lookupPatient', arguments: {} } },
    ],
  } }));
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(response.json, { results: [
    { toolCallId: 'call_9f2c', error: 'vox does not run tools' },
    { toolCallId: 'call_a71e', error: 'vox does not run tools' },
  ] });
});

test('\\u0000 and a lone surrogate (JSON.stringify of a cut emoji) are stored as U+FFFD', async () => {
  const call = vapiCall(world.a);
  const body = transcript(call, 'final', 'Tuesday \ud83d works\u0000');
  assert.match(body, /\\ud83d works\\u0000/);  // what the sender really sends
  const response = await send(body);
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.status, 'processed');
  const rows = await rowsOf(db, { callId: call.id });
  assert.deepEqual(rows.call_transcripts.map((row) => row.text), ['Tuesday \ufffd works\ufffd']);
});
