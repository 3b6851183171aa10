// Authentication: signatures made by implementations independent of the shim
// (the standardwebhooks package, the openssl CLI) are accepted on both routes,
// and every kind of bad request is refused with 401 before anything is
// written.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  connect, freshWorld, insertSecret, metrics, newSecretSet, noRows, nowSeconds, post, postSigned, randomSecret,
  rowsOf, signedHeaders, startShim, statusUpdate, vapiCall,
} from './harness.mjs';

const toleranceSeconds = 30;
let world, shim, db;

// A secret of org A the shim cannot use (not base64): skipped with a
// warning, which must not quote it (zz-logs.test.mjs checks).
const unusable = { scheme: 'standard-webhooks', secret: `whsec_${randomSecret()}!` };

before(async () => {
  world = await freshWorld();
  db = await connect();
  await insertSecret(db, world.a.orgId, unusable);
  shim = await startShim(world, { VOX_SHIM_TIMESTAMP_TOLERANCE_S: String(toleranceSeconds) });
});
after(async () => {
  await db?.end();
  await shim?.stop();
});

async function deliveryIdOf(callId) {
  const { rows } = await db.query('SELECT delivery_id FROM vox.processed_webhook_events WHERE vapi_call_id = $1', [callId]);
  assert.equal(rows.length, 1);
  return rows[0].delivery_id;
}

function assertProcessedForA(response, call) {
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.status, 'processed');
  assert.equal(response.json.org_id, world.a.orgId);
  assert.equal(response.json.vapi_call_id, call.id);
}

describe('accepted signatures', () => {
  // The same checks on the shim's route (secrets file, tenant from the
  // assistant) and on org A's route (secrets in vox.webhook_secrets).
  const routes = [
    { route: 'POST /webhooks/vapi', secrets: () => world.shimSecrets, orgId: () => undefined },
    { route: 'POST /webhooks/vapi/{org_id}', secrets: () => world.a.secrets, orgId: () => world.a.orgId },
  ];
  for (const { route, secrets, orgId } of routes) {
    describe(route, () => {
      const variants = {
        shared: 'shared secret in x-vapi-secret',
        standard: 'Standard Webhooks signed by the standardwebhooks package',
        sha256: 'HMAC-SHA256, hex, "{timestamp}.{body}" (openssl)',
        sha512: 'HMAC-SHA512, base64, prefix "sha512=" (openssl)',
        sha1: 'HMAC-SHA1, hex (openssl)',
        custom: 'HMAC with payload_format "v0:{timestamp}:{body}" and a message id header (openssl)',
        bodyOnly: 'HMAC with include_timestamp false: the body alone, no timestamp header (openssl)',
      };
      for (const [name, title] of Object.entries(variants)) {
        test(title, async () => {
          const call = vapiCall(world.a);
          const response = await postSigned(shim, secrets()[name], statusUpdate(call, 'ringing'), { orgId: orgId() });
          assertProcessedForA(response, call);
        });
      }

      test('shared secret as Authorization: Bearer', async () => {
        const call = vapiCall(world.a);
        const response = await post(shim, orgId() ? `/webhooks/vapi/${orgId()}` : '/webhooks/vapi',
          statusUpdate(call, 'ringing'), { authorization: `Bearer ${secrets().shared.secret}` });
        assertProcessedForA(response, call);
      });

      test('webhook-id of Standard Webhooks becomes the delivery id', async () => {
        const call = vapiCall(world.a);
        const id = `msg_standard_${call.id}`;
        assertProcessedForA(await postSigned(shim, secrets().standard, statusUpdate(call, 'ringing'), { orgId: orgId(), id }), call);
        assert.equal(await deliveryIdOf(call.id), id);
      });

      test('the HMAC message id header is no delivery id: it is not signed', async () => {
        const call = vapiCall(world.a);
        assertProcessedForA(await postSigned(shim, secrets().custom, statusUpdate(call, 'ringing'),
          { orgId: orgId(), id: `msg_hmac_${call.id}` }), call);
        assert.equal(await deliveryIdOf(call.id), null);
      });

      // The unsigned message id is no delivery id: the utterance is keyed by
      // what the message says, so the replays are duplicates.
      test('a captured transcript without timestamp, replayed with new message ids, is stored once', async () => {
        const call = vapiCall(world.a);
        const body = JSON.stringify({ message: { type: 'transcript', role: 'user', transcriptType: 'final',
          transcript: 'Replay me.', call } });
        const statuses = [];
        for (const id of ['evt_1', 'evt_2', 'evt_3']) {
          const response = await postSigned(shim, secrets().custom, body, { orgId: orgId(), id });
          statuses.push(response.json?.status ?? response.status);
        }
        assert.deepEqual(statuses, ['processed', 'duplicate', 'duplicate']);
        assert.equal((await rowsOf(db, { callId: call.id })).call_transcripts.length, 1);
      });
    });
  }
});

test("an unusable secret among the org's is skipped with a warning naming the field", () => {
  const warnings = shim.logLines().filter((line) => line.msg === 'unusable webhook secret skipped');
  assert.ok(warnings.length >= 1);
  assert.equal(warnings[0].level, 'warning');
  assert.equal(warnings[0].org_id, world.a.orgId);
  assert.match(warnings[0].error, /field 'secret'/);
});

describe('refused with 401, nothing written', () => {
  // Every refusal is counted here, by route and reason, to check /metrics.
  const sent = { shimRoute: 0, orgRoute: 0, reasons: {} };
  let before401;

  before(async () => {
    before401 = await metrics(shim);
  });

  // Sends `body` with `headers` to `pathname` and checks the 401, that it
  // tells the sender nothing more (whether the org exists, how it signs),
  // the reason its log line gives, and that vox holds no row of the call.
  async function assertRefused(pathname, call, body, headers, reason) {
    const response = await post(shim, pathname, body, headers);
    assert.equal(response.status, 401, response.text);
    assert.deepEqual(Object.keys(response.json).sort(), ['error', 'request_id']);
    assert.equal(response.json.error, 'unauthorized');
    assert.match(response.json.request_id, /^[0-9a-f]{16}$/);
    assert.equal(response.headers.get('x-request-id'), response.json.request_id);
    assert.equal((await shim.logLineOf(response.json.request_id))?.error, reason);
    assert.ok(noRows(await rowsOf(db, { callId: call.id })), `rows were written for ${call.id}`);
    if (pathname === '/webhooks/vapi') sent.shimRoute++;
    else sent.orgRoute++;
    sent.reasons[reason] = (sent.reasons[reason] ?? 0) + 1;
  }
  const orgRoute = () => `/webhooks/vapi/${world.a.orgId}`;

  // One byte of the signed body changed: a digit of the caller's number.
  function tamper(body, call) {
    const at = body.indexOf(call.customer.number) + 5;
    return body.slice(0, at) + (body[at] === '0' ? '1' : '0') + body.slice(at + 1);
  }

  for (const name of ['standard', 'sha256', 'sha512', 'sha1', 'custom', 'bodyOnly']) {
    test(`tampered body (${name})`, async () => {
      const call = vapiCall(world.a);
      const body = statusUpdate(call, 'ringing');
      const headers = signedHeaders(world.a.secrets[name], body);
      await assertRefused(orgRoute(), call, tamper(body, call), headers, 'bad_signature');
    });
  }

  test('tampered body on POST /webhooks/vapi', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    await assertRefused('/webhooks/vapi', call, tamper(body, call), signedHeaders(world.shimSecrets.sha256, body), 'bad_signature');
  });

  // The same configuration with another key: a sender that has the wrong secret.
  const wrongKeys = newSecretSet();
  for (const name of Object.keys(wrongKeys)) {
    test(`wrong secret (${name})`, async () => {
      const call = vapiCall(world.a);
      const body = statusUpdate(call, 'ringing');
      await assertRefused(orgRoute(), call, body, signedHeaders(wrongKeys[name], body), 'bad_signature');
    });
  }

  test('wrong secret on POST /webhooks/vapi', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    await assertRefused('/webhooks/vapi', call, body, signedHeaders(wrongKeys.standard, body), 'bad_signature');
  });

  test('wrong secret as Authorization: Bearer', async () => {
    const call = vapiCall(world.a);
    await assertRefused(orgRoute(), call, statusUpdate(call, 'ringing'),
      { authorization: `Bearer ${wrongKeys.shared.secret}` }, 'bad_signature');
  });

  for (const name of ['standard', 'sha256', 'custom']) {
    for (const [reason, offset] of [['stale_timestamp', -120], ['future_timestamp', +120]]) {
      test(`${reason.replace('_', ' ')}, ${Math.abs(offset)} s off with a tolerance of ${toleranceSeconds} s (${name})`, async () => {
        const call = vapiCall(world.a);
        const body = statusUpdate(call, 'ringing');
        const headers = signedHeaders(world.a.secrets[name], body, { timestamp: nowSeconds() + offset });
        await assertRefused(orgRoute(), call, body, headers, reason);
      });
    }
  }

  test('no signature headers at all', async () => {
    const call = vapiCall(world.a);
    await assertRefused(orgRoute(), call, statusUpdate(call, 'ringing'), {}, 'missing_signature');
  });

  test('HMAC signature without its timestamp header', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    const { 'x-timestamp': _, ...headers } = signedHeaders(world.a.secrets.sha256, body);
    await assertRefused(orgRoute(), call, body, headers, 'missing_timestamp');
  });

  test('Standard Webhooks without webhook-id: a signature that cannot be checked', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    const { 'webhook-id': _, ...headers } = signedHeaders(world.a.secrets.standard, body);
    await assertRefused(orgRoute(), call, body, headers, 'bad_signature');
  });

  test("an HMAC-signed request to an org whose only secret is Standard Webhooks': bad_signature, not missing_signature", async () => {
    const orgId = randomUUID();
    await db.query('INSERT INTO vox.organizations (id, name) VALUES ($1, $2)', [orgId, 'Clinic D, Standard Webhooks only']);
    await insertSecret(db, orgId, newSecretSet().standard);
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    const headers = signedHeaders(world.a.secrets.sha256, body);
    assert.deepEqual(Object.keys(headers).sort(), ['x-signature', 'x-timestamp']);
    await assertRefused(`/webhooks/vapi/${orgId}`, call, body, headers, 'bad_signature');
  });

  test('an org without secrets refuses everything', async () => {
    const call = vapiCall(world.c);
    const body = statusUpdate(call, 'ringing');
    for (const secret of Object.values(world.a.secrets))
      await assertRefused(`/webhooks/vapi/${world.c.orgId}`, call, body, signedHeaders(secret, body), 'no_secret');
  });

  test('an org id vox does not know', async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    await assertRefused('/webhooks/vapi/00000000-0000-4000-8000-00000000dead', call, body,
      signedHeaders(world.a.secrets.sha256, body), 'no_secret');
  });

  test("org A's secret on org B's URL", async () => {
    const call = vapiCall(world.b);
    const body = statusUpdate(call, 'ringing');
    for (const secret of Object.values(world.a.secrets))
      await assertRefused(`/webhooks/vapi/${world.b.orgId}`, call, body, signedHeaders(secret, body), 'bad_signature');
  });

  test("an org's secret on POST /webhooks/vapi", async () => {
    const call = vapiCall(world.a);
    const body = statusUpdate(call, 'ringing');
    await assertRefused('/webhooks/vapi', call, body, signedHeaders(world.a.secrets.sha256, body), 'bad_signature');
  });

  test('GET /metrics counts exactly these refusals', async () => {
    const now = await metrics(shim);
    const delta = (name, labels) => now.value(name, labels) - before401.value(name, labels);
    assert.equal(delta('vox_shim_requests_total', { route: '/webhooks/vapi/{org_id}', status: '401' }), sent.orgRoute);
    assert.equal(delta('vox_shim_requests_total', { route: '/webhooks/vapi', status: '401' }), sent.shimRoute);
    for (const [reason, count] of Object.entries(sent.reasons))
      assert.equal(delta('vox_shim_auth_rejected_total', { reason }), count, reason);
    assert.equal(delta('vox_shim_auth_rejected_total', {}), sent.orgRoute + sent.shimRoute);
    assert.equal(delta('vox_shim_events_total', {}), 0, 'a refused request reached the database');
  });
});
