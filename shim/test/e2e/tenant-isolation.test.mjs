// A request validly signed by org A that names org B's assistant or phone
// number is refused with 400, and not one of B's rows changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  connect, endOfCallReport, freshWorld, noRows, postSigned, rowsOf, startShim, statusUpdate, transcript, vapiCall,
} from './harness.mjs';

let world, shim, db, callOfB, rowsOfB;

before(async () => {
  world = await freshWorld();
  shim = await startShim(world);
  db = await connect();
  // B's call as B's own sender reported it.
  callOfB = vapiCall(world.b);
  for (const body of [statusUpdate(callOfB, 'in-progress'), transcript(callOfB, 'final', 'I would like to book a cleaning.')]) {
    const response = await postSigned(shim, world.b.secrets.standard, body, { orgId: world.b.orgId });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.status, 'processed');
  }
  rowsOfB = await rowsOf(db, { orgId: world.b.orgId });
  assert.equal(rowsOfB.call_logs.length, 1);
  assert.equal(rowsOfB.call_transcripts.length, 1);
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

const signedByA = (body) => postSigned(shim, world.a.secrets.sha256, body, { orgId: world.a.orgId });

async function assertRefusedAndBUntouched(body, field) {
  const response = await signedByA(body);
  assert.equal(response.status, 400, response.text);
  assert.match(response.json.error, new RegExp(`^invalid call\\.${field}: .*another organization`));
  assert.deepEqual(await rowsOf(db, { orgId: world.b.orgId }), rowsOfB);
}

test("B's assistant on B's call", async () => {
  await assertRefusedAndBUntouched(endOfCallReport(callOfB), 'assistantId');
});

test("B's assistant in a final transcript of B's call", async () => {
  await assertRefusedAndBUntouched(transcript(callOfB, 'final', 'Cancel all my appointments.'), 'assistantId');
});

test("B's assistant on a new call: no call is created anywhere", async () => {
  const call = vapiCall(world.b);
  await assertRefusedAndBUntouched(statusUpdate(call, 'in-progress'), 'assistantId');
  assert.ok(noRows(await rowsOf(db, { callId: call.id })));
});

test("B's phone number without an assistant, on B's call", async () => {
  const { assistantId: _, ...byNumber } = callOfB;
  await assertRefusedAndBUntouched(statusUpdate(byNumber, 'ended', { endedReason: 'customer-ended-call' }), 'phoneNumberId');
});

test("B's phone number without an assistant, on a new call", async () => {
  const { assistantId: _, ...byNumber } = vapiCall(world.b);
  await assertRefusedAndBUntouched(statusUpdate(byNumber, 'ringing'), 'phoneNumberId');
  assert.ok(noRows(await rowsOf(db, { callId: byNumber.id })));
});

test("only B's call id: A has no such call, so it waits for A's (200 parked), B's rows untouched", async () => {
  const { assistantId: _a, phoneNumberId: _p, ...idOnly } = callOfB;
  const response = await signedByA(endOfCallReport(idOnly));
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.status, 'parked');
  assert.equal(response.json.reason, 'unknown_call');
  assert.deepEqual(await rowsOf(db, { orgId: world.b.orgId }), rowsOfB);
});
