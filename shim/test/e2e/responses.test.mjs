// The HTTP contract of DESIGN §3, row by row (429 and 503 have files of their
// own), with the request id and the log line every response comes with.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import {
  connect, freshWorld, metrics, noRows, post, postSigned, request, rowsOf, signedHeaders, speechUpdate, startShim,
  statusUpdate, transcript, vapiCall,
} from './harness.mjs';

const maxBodyBytes = 2048;
let world, shim, db, secret, route;

before(async () => {
  world = await freshWorld();
  shim = await startShim(world, { VOX_SHIM_MAX_BODY_BYTES: String(maxBodyBytes) });
  db = await connect();
  secret = world.a.secrets.sha256;
  route = `/webhooks/vapi/${world.a.orgId}`;
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

const send = (body) => postSigned(shim, secret, body, { orgId: world.a.orgId });

// The response carries a fresh request id in X-Request-Id, and the shim's
// JSON log has one request line for it with what the request was about.
async function assertRequestLogged(response, fields) {
  const requestId = response.headers.get('x-request-id');
  assert.match(requestId ?? '', /^[0-9a-f]{16}$/, 'X-Request-Id');
  if (response.json?.request_id !== undefined) assert.equal(response.json.request_id, requestId);
  const line = await shim.logLineOf(requestId);
  assert.ok(line, `no log line with request_id ${requestId}`);
  assert.equal(typeof line.ts, 'string');
  assert.equal(line.status, response.status);
  assert.equal(typeof line.latency_ms, 'number');
  for (const [name, value] of Object.entries(fields)) assert.equal(line[name], value, name);
  return line;
}

// What vox.handle_event itself answers for a delivery that is already
// applied, computed in a transaction that is rolled back.
async function databaseAnswer(body) {
  await db.query('BEGIN');
  try {
    const { rows } = await db.query('SELECT vox.handle_event($1::uuid, $2::jsonb, NULL)::text AS answer', [world.a.orgId, body]);
    return rows[0].answer;
  } finally {
    await db.query('ROLLBACK');
  }
}

describe('200 with the database answer passed through', () => {
  let body; // of the first test, sent again by the second

  test('processed: a new call', async () => {
    const c = vapiCall(world.a);
    body = statusUpdate(c, 'in-progress');
    const first = await send(body);
    assert.equal(first.status, 200, first.text);
    assert.match(first.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(first.json, {
      org_id: world.a.orgId,
      status: 'processed',
      event_id: `status-update:${c.id}:in-progress`,
      event_type: 'status-update',
      vapi_call_id: c.id,
    });
    const rows = await rowsOf(db, { callId: c.id });
    assert.equal(rows.call_logs.length, 1);
    assert.equal(rows.call_logs[0].customer_number, c.customer.number);
    await assertRequestLogged(first, {
      route: '/webhooks/vapi/{org_id}', org_id: world.a.orgId, event_type: 'status-update', call_id: c.id,
      outcome: 'processed',
    });
  });

  test('duplicate: the same request again, byte for byte the database answer', async () => {
    const again = await send(body);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.status, 'duplicate');
    assert.equal(again.text, await databaseAnswer(body));
    await assertRequestLogged(again, { outcome: 'duplicate' });
  });

  test('ignored: a partial transcript', async () => {
    const c = vapiCall(world.a);
    const response = await send(transcript(c, 'partial', 'I need to'));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, {
      status: 'ignored', reason: 'partial_transcript', event_type: 'transcript', vapi_call_id: c.id,
    });
    assert.ok(noRows(await rowsOf(db, { callId: c.id })));
    await assertRequestLogged(response, { event_type: 'transcript', call_id: c.id, outcome: 'ignored' });
  });

  test('ignored: a speech-update', async () => {
    const c = vapiCall(world.a);
    const response = await send(speechUpdate(c));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { status: 'ignored', event_type: 'speech-update', reason: 'message_type_not_stored' });
    assert.ok(noRows(await rowsOf(db, { callId: c.id })));
  });

  test('parked: an assistant vox does not know yet', async () => {
    const c = vapiCall(world.a, { assistantId: randomUUID(), phoneNumberId: undefined });
    const response = await send(statusUpdate(c, 'ringing'));
    assert.equal(response.status, 200, response.text);
    assert.equal(response.json.status, 'parked');
    assert.equal(response.json.reason, 'unknown_assistant');
    const { parked_events: parked } = await rowsOf(db, { callId: c.id });
    assert.equal(parked.length, 1);
    assert.equal(parked[0].signer_org_id, world.a.orgId);
    await assertRequestLogged(response, { outcome: 'parked' });
  });
});

describe('400 for an invalid payload, naming the field', () => {
  const cases = [
    {
      title: 'status-update without call.id',
      field: 'message.call.id',
      build: ({ id: _, ...withoutId }) => statusUpdate(withoutId, 'ringing'),
    },
    {
      title: 'a timestamp that is not a number',
      field: 'message.timestamp',
      build: (c) => statusUpdate(c, 'ringing', { timestamp: 'yesterday' }),
    },
    // The database quotes the bad value in its message: here the caller's
    // number, which must not reach the logs in full (zz-logs.test.mjs).
    {
      title: 'a status that is a phone number',
      field: 'message.status',
      build: (c) => statusUpdate(c, c.customer.number),
    },
  ];
  for (const { title, field, build } of cases) {
    test(title, async () => {
      const c = vapiCall(world.a);
      const response = await send(build(c));
      assert.equal(response.status, 400, response.text);
      assert.ok(response.json.error.startsWith(`invalid ${field}:`), response.json.error);
      assert.match(response.json.sqlstate, /^22/);
      assert.ok(noRows(await rowsOf(db, { callId: c.id })));
      await assertRequestLogged(response, { sqlstate: response.json.sqlstate, event_type: 'status-update' });
    });
  }

  test('a body that is not JSON', async () => {
    const response = await send('{"message": ');
    assert.equal(response.status, 400, response.text);
    await assertRequestLogged(response, { route: '/webhooks/vapi/{org_id}' });
  });
});

test('401 for a missing signature', async () => {
  const c = vapiCall(world.a);
  const response = await post(shim, route, statusUpdate(c, 'ringing'));
  assert.equal(response.status, 401);
  await assertRequestLogged(response, { route: '/webhooks/vapi/{org_id}', org_id: world.a.orgId, error: 'missing_signature' });
});

test(`413 for a body above VOX_SHIM_MAX_BODY_BYTES (${maxBodyBytes})`, async () => {
  const c = vapiCall(world.a);
  const body = statusUpdate(c, 'ringing', { note: 'x'.repeat(2 * maxBodyBytes) });
  const response = await send(body);
  assert.equal(response.status, 413, response.text);
  assert.ok(noRows(await rowsOf(db, { callId: c.id })));
  await assertRequestLogged(response, {});
});

// Transfer-Encoding: chunked has no Content-Length to check up front; the
// limit must hold all the same (else any sender can make the shim buffer a
// body of any size before it checks the signature). A shim of its own, so
// that the metrics test below counts only the other requests.
test(`413 for a chunked body above VOX_SHIM_MAX_BODY_BYTES (${maxBodyBytes})`, async (t) => {
  const shim = await startShim(world, { VOX_SHIM_MAX_BODY_BYTES: String(maxBodyBytes) });
  t.after(() => shim.stop());
  const c = vapiCall(world.a);
  const body = statusUpdate(c, 'ringing', { note: 'x'.repeat(2 * maxBodyBytes) });
  const bytes = new TextEncoder().encode(body);
  const chunked = new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 1024) controller.enqueue(bytes.slice(at, at + 1024));
      controller.close();
    },
  });
  const response = await post(shim, route, chunked, signedHeaders(secret, body));
  assert.equal(response.status, 413, response.text);
  assert.ok(noRows(await rowsOf(db, { callId: c.id })));
});

test('Content-Type application/json with parameters and in other case is JSON', async () => {
  for (const contentType of ['application/json; charset=utf-8', 'Application/JSON']) {
    const body = statusUpdate(vapiCall(world.a), 'ringing');
    const response = await post(shim, route, body, { ...signedHeaders(secret, body), 'content-type': contentType });
    assert.equal(response.status, 200, `${contentType}: ${response.text}`);
  }
});

test('415 for Content-Type text/plain, even when signed', async () => {
  const c = vapiCall(world.a);
  const body = statusUpdate(c, 'ringing');
  const response = await post(shim, route, body, { ...signedHeaders(secret, body), 'content-type': 'text/plain' });
  assert.equal(response.status, 415, response.text);
  assert.ok(noRows(await rowsOf(db, { callId: c.id })));
  await assertRequestLogged(response, { route: '/webhooks/vapi/{org_id}' });
});

// httplib inflates a gzip body before the shim sees it: the bytes that were
// signed are gone, so the signature can be checked over neither.
test('415 for Content-Encoding gzip, whether the plain or the compressed bytes were signed', async () => {
  for (const signed of ['plain', 'compressed']) {
    const c = vapiCall(world.a);
    const body = statusUpdate(c, 'ringing');
    const gzipped = gzipSync(body);
    const headers = { ...signedHeaders(secret, signed === 'plain' ? body : gzipped), 'content-encoding': 'gzip' };
    const response = await post(shim, route, gzipped, headers);
    assert.equal(response.status, 415, `${signed} bytes signed: ${response.text}`);
    assert.match(response.json.error, /Content-Encoding/);
    assert.ok(noRows(await rowsOf(db, { callId: c.id })), `${signed} bytes signed: rows were written`);
    await assertRequestLogged(response, { route: '/webhooks/vapi/{org_id}', org_id: world.a.orgId });
  }
});

test('404 for an org id that is not a UUID', async () => {
  const body = statusUpdate(vapiCall(world.a), 'ringing');
  const response = await post(shim, '/webhooks/vapi/not-a-uuid', body, signedHeaders(secret, body));
  assert.equal(response.status, 404, response.text);
  await assertRequestLogged(response, {});
});

describe('500 for any other database error', () => {
  after(() =>
    db.query('GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text) TO vox_shim_e2e'));

  test('handle_event not executable by the shim: 500 with a request id, nothing written', async () => {
    await db.query('REVOKE EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text) FROM vox_shim_e2e');
    const c = vapiCall(world.a);
    const response = await send(statusUpdate(c, 'ringing'));
    assert.equal(response.status, 500, response.text);
    assert.equal(response.json.error, 'internal error');
    assert.equal(response.json.sqlstate, '42501');
    assert.ok(noRows(await rowsOf(db, { callId: c.id })));
    const line = await assertRequestLogged(response, { level: 'error', sqlstate: '42501', call_id: c.id });
    assert.match(line.error, /permission denied/);
  });

  test('granted again, the same shim processes the call', async () => {
    await db.query('GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text) TO vox_shim_e2e');
    const response = await send(statusUpdate(vapiCall(world.a), 'ringing'));
    assert.equal(response.status, 200, response.text);
  });

  // handle_event returns its row, and only then does COMMIT fail: a deferred
  // constraint trigger that refuses one marked call (class 23, "anything
  // else" in DESIGN §3). 2xx only after commit.
  test('an error raised at COMMIT: 500 with a request id, nothing written', async () => {
    const marked = vapiCall(world.a);
    await db.query(`CREATE FUNCTION public.e2e_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.vapi_call_id = '${marked.id}' THEN
          RAISE EXCEPTION 'call % refused at commit', NEW.vapi_call_id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    try {
      // On a Citus cluster (the citus suite), a trigger on a distributed table
      // fires on its shards, which Citus allows when told to.
      await db.query(`SELECT set_config('citus.enable_unsafe_triggers', 'on', false)
                       WHERE EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')`);
      await db.query(`CREATE CONSTRAINT TRIGGER e2e_refuse_at_commit AFTER INSERT ON vox.call_logs
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.e2e_refuse_at_commit()`);
      const response = await send(statusUpdate(marked, 'in-progress'));
      assert.equal(response.status, 500, response.text);
      assert.equal(response.json.error, 'internal error');
      assert.equal(response.json.sqlstate, '23514');
      assert.ok(noRows(await rowsOf(db, { callId: marked.id })), 'rows of the refused call');
      await assertRequestLogged(response, { level: 'error', sqlstate: '23514', call_id: marked.id });

      // Only the marked call is refused.
      const other = await send(statusUpdate(vapiCall(world.a), 'in-progress'));
      assert.equal(other.status, 200, other.text);
      assert.equal(other.json.status, 'processed');
    } finally {
      await db.query('DROP TRIGGER IF EXISTS e2e_refuse_at_commit ON vox.call_logs');
      await db.query('DROP FUNCTION public.e2e_refuse_at_commit()');
    }
    // Once it is gone, the same call goes through.
    const again = await send(statusUpdate(marked, 'in-progress'));
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.status, 'processed');
  });
});

test('GET /health and GET /metrics carry a request id too', async () => {
  for (const pathname of ['/health', '/metrics']) {
    const response = await request(shim, 'GET', pathname);
    assert.equal(response.status, 200);
    await assertRequestLogged(response, { route: pathname });
  }
});

test('GET /metrics counts outcomes and statuses', async () => {
  const m = await metrics(shim);
  for (const outcome of ['processed', 'duplicate', 'ignored', 'parked'])
    assert.ok(m.value('vox_shim_events_total', { outcome }) >= 1, outcome);
  assert.equal(m.value('vox_shim_events_total', { outcome: 'ignored' }), 2);
  assert.equal(m.value('vox_shim_events_total', { outcome: 'parked' }), 1);
  assert.equal(m.value('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '400' }), 4);
  assert.equal(m.value('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '415' }), 3);
  assert.equal(m.value('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '500' }), 2);
  assert.equal(m.value('vox_shim_requests_total', { status: '413' }), 1);
  assert.equal(m.value('vox_shim_db_errors_total', { class: '42' }), 1);
  assert.equal(m.value('vox_shim_db_errors_total', { class: '23' }), 1);
  assert.match(m.text, /^# TYPE vox_shim_requests_total counter$/m);
  assert.match(m.text, /^vox_shim_request_duration_seconds_bucket\{route="\/webhooks\/vapi\/\{org_id\}",le="\+Inf"\} \d+$/m);
});
