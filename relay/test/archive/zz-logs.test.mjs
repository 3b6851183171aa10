// Runs last (by name): no log that this run's relays and shims wrote holds a
// secret that went through them: the store's secret keys (right and wrong),
// any signature the proxy saw (headers and presigned URLs), a presigned URL,
// an origin URL's token or a feed token; nor anything shaped like them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';

import { env, logPrefix, recordPath } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let logs;
const recorded = { token: new Set(), signature: new Set(), secret: new Set(), url: new Set() };

before(() => {
  logs = fs.readdirSync(env.logDir)
    .filter((name) => name.startsWith(logPrefix) && /-(relay|shim)-\d+\.log$/.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(env.logDir, name), 'utf8') }));
  for (const line of fs.readFileSync(recordPath, 'utf8').split('\n').filter(Boolean)) {
    const { kind, value } = JSON.parse(line);
    recorded[kind].add(value);
  }
});

test('the relay logs of every test file that starts one are here, and the record is complete', () => {
  const files = fs.readdirSync(here).filter((name) => name.endsWith('.test.mjs') &&
    !['zz-logs.test.mjs', 'verifier.test.mjs'].includes(name) &&
    (!env.files || env.files.includes(path.basename(name, '.test.mjs'))));
  for (const file of files) {
    const prefix = `${logPrefix}${path.basename(file, '.test.mjs')}-relay-`;
    assert.ok(logs.some((log) => log.name.startsWith(prefix)), `no relay log of ${file} in ${env.logDir}`);
  }
  assert.ok(recorded.secret.size >= files.length, `${recorded.secret.size} secret keys recorded`);
  // Each file signs at least one request; all of them, well over 50.
  const signatures = env.files ? files.length : 50;
  assert.ok(recorded.signature.size >= signatures, `${recorded.signature.size} signatures recorded, ${signatures} expected`);
  // Presigned in the same second, two URLs of one object are the same URL.
  assert.ok(recorded.url.size >= 2, `${recorded.url.size} presigned URLs recorded`);
  assert.ok(recorded.token.size >= files.length, `${recorded.token.size} tokens recorded`);
});

test('every relay line is a JSON object with ts, level and msg', () => {
  for (const log of logs.filter((l) => l.name.includes('-relay-'))) {
    for (const [i, text] of log.text.split('\n').filter(Boolean).entries()) {
      let line;
      assert.doesNotThrow(() => (line = JSON.parse(text)), `${log.name}:${i + 1} is not JSON: ${text.slice(0, 200)}`);
      assert.equal(typeof line.msg, 'string', `${log.name}:${i + 1}`);
    }
  }
});

test('no log holds a secret key, a signature, a presigned URL or a token of this run', () => {
  for (const log of logs) {
    for (const kind of ['secret', 'signature', 'url', 'token']) {
      for (const value of recorded[kind]) assert.ok(!log.text.includes(value), `${log.name} holds a ${kind}`);
    }
  }
});

test('no log holds anything shaped like a signature, a credential or a URL query', () => {
  for (const log of logs) {
    assert.doesNotMatch(log.text, /X-Amz-Signature|X-Amz-Credential|Signature=|AWS4-HMAC-SHA256/i, `${log.name}: a signature`);
    assert.doesNotMatch(log.text, /token=|\?[A-Za-z-]+=/, `${log.name}: a query string`);
    assert.doesNotMatch(log.text, /vxf_[A-Za-z0-9_-]{8}/, `${log.name}: a feed token`);
  }
});
