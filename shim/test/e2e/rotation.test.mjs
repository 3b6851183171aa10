// Secret rotation on POST /webhooks/vapi/{org_id}, with the shim running and
// the org's secrets cached: a new secret works at once, the old one until it
// is deactivated (or expires) and the cache has run out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { connect, freshWorld, insertSecret, newSecretSet, postSigned, startShim, statusUpdate, vapiCall } from './harness.mjs';

let world, db;

before(async () => {
  world = await freshWorld();
  db = await connect();
});
after(() => db?.end());

const sendA = (shim, secret) =>
  postSigned(shim, secret, statusUpdate(vapiCall(world.a), 'ringing'), { orgId: world.a.orgId });

describe('a secret added while the shim runs (secret cache 60 s)', () => {
  let shim;
  const fresh = newSecretSet();
  before(async () => {
    shim = await startShim(world, { VOX_SHIM_SECRET_CACHE_S: '60' });
  });
  after(() => shim?.stop());

  test('is accepted at once, and the old one still is', async () => {
    assert.equal((await sendA(shim, world.a.secrets.sha256)).status, 200, 'the old secret, now cached');
    // The shim re-reads an org's secrets on a signature they refuse, but at
    // most once a second per org: wait that out, far short of the 60 s cache.
    await sleep(1100);
    for (const secret of [fresh.sha256, fresh.standard]) await insertSecret(db, world.a.orgId, secret);
    for (const secret of [fresh.sha256, fresh.standard]) {
      const response = await sendA(shim, secret);
      assert.equal(response.status, 200, `new ${secret.scheme} secret: ${response.text}`);
    }
    assert.equal((await sendA(shim, world.a.secrets.sha256)).status, 200, 'the old secret');
  });
});

describe('a secret retired while the shim runs (secret cache 1 s)', () => {
  let shim;
  before(async () => {
    shim = await startShim(world, { VOX_SHIM_SECRET_CACHE_S: '1' });
  });
  after(() => shim?.stop());

  test('is refused once the cache has expired; the others still work', async () => {
    const { sha256: deactivated, sha512: expired, sha1: kept } = world.a.secrets;
    for (const secret of [deactivated, expired, kept]) assert.equal((await sendA(shim, secret)).status, 200);
    await db.query('UPDATE vox.webhook_secrets SET active = false WHERE secret = $1', [deactivated.secret]);
    await db.query('UPDATE vox.webhook_secrets SET expires_at = now() WHERE secret = $1', [expired.secret]);
    await sleep(1500);
    for (const secret of [deactivated, expired]) {
      const response = await sendA(shim, secret);
      assert.equal(response.status, 401, response.text);
    }
    assert.equal((await sendA(shim, kept)).status, 200);
  });
});
