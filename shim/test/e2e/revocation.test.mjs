// Revocation on POST /webhooks/vapi/{org_id} with the org's secrets cached for
// 60 s: a secret whose deactivation, expiry or deletion has committed is
// refused within a second, because vox announces every change to an org's
// secrets (NOTIFY vox_webhook_secrets) and the shim drops that org's cache.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { connect, freshWorld, postSigned, startShim, statusUpdate, vapiCall } from './harness.mjs';

let world, db, shim;

before(async () => {
  world = await freshWorld();
  db = await connect();
  shim = await startShim(world, { VOX_SHIM_SECRET_CACHE_S: '60' });
});
after(async () => {
  await shim?.stop();
  await db?.end();
});

const sendA = (secret) => postSigned(shim, secret, statusUpdate(vapiCall(world.a), 'ringing'), { orgId: world.a.orgId });

// Sends with the secret until it is refused; the milliseconds that took.
async function msUntilRefused(secret) {
  const committed = Date.now();
  for (;;) {
    const response = await sendA(secret);
    if (response.status !== 200) {
      assert.equal(response.status, 401, response.text);
      return Date.now() - committed;
    }
    if (Date.now() - committed > 5_000) return Infinity;
    await sleep(50);
  }
}

describe('a secret revoked while the shim caches it', () => {
  for (const [how, secretName, statement] of [
    ['deactivated', 'sha256', 'UPDATE vox.webhook_secrets SET active = false WHERE secret = $1'],
    ['expired', 'sha512', 'UPDATE vox.webhook_secrets SET expires_at = now() WHERE secret = $1'],
    ['deleted', 'sha1', 'DELETE FROM vox.webhook_secrets WHERE secret = $1'],
  ]) {
    test(`${how}: refused within a second of the commit; the org's other secrets still accepted`, async () => {
      const revoked = world.a.secrets[secretName];
      assert.equal((await sendA(revoked)).status, 200, 'accepted, and so cached, before');
      await db.query(statement, [revoked.secret]);
      const ms = await msUntilRefused(revoked);
      assert.ok(ms <= 1000, `still accepted ${ms} ms after the ${how} secret's commit`);
      assert.equal((await sendA(world.a.secrets.standard)).status, 200);
    });
  }
});
