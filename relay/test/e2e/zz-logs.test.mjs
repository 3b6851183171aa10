// Runs last (by name): every log this run's relays wrote is JSON lines, and
// none of them holds a feed token or webhook secret, a phone number, a query
// string or an utterance that the run used: every test file sent them through
// the relay (credentials in headers and in URLs, callers in events and
// snapshots).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';

import { env, logPrefix, recordPath } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let logs; // [{ name, text }] of the relays
const recorded = { token: new Set(), phone: new Set(), marker: new Set(), text: new Set() };

before(() => {
  logs = fs.readdirSync(env.logDir)
    .filter((name) => name.startsWith(logPrefix) && /-relay-\d+\.log$/.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(env.logDir, name), 'utf8') }));
  for (const line of fs.readFileSync(recordPath, 'utf8').split('\n').filter(Boolean)) {
    const { kind, value } = JSON.parse(line);
    recorded[kind].add(value);
  }
});

const lines = (log) => log.text.split('\n').filter(Boolean);

test("the relay logs of every other test file are here, and the record is complete", () => {
  const files = fs.readdirSync(here).filter((name) => name.endsWith('.test.mjs') && name !== 'zz-logs.test.mjs');
  for (const file of files) {
    const prefix = `${logPrefix}${path.basename(file, '.test.mjs')}-relay-`;
    assert.ok(logs.some((log) => log.name.startsWith(prefix)), `no relay log of ${file} in ${env.logDir}`);
  }
  assert.ok(recorded.token.size >= 20, `${recorded.token.size} tokens recorded`);
  assert.ok(recorded.phone.size >= 20, `${recorded.phone.size} phone numbers recorded`);
  assert.ok(recorded.marker.size >= 10, `${recorded.marker.size} query strings recorded`);
  assert.ok(recorded.text.size >= 1000, `${recorded.text.size} utterances recorded`);
});

test('every line is a JSON object with ts, level and msg', () => {
  let count = 0;
  for (const log of logs) {
    for (const [i, text] of lines(log).entries()) {
      let line;
      assert.doesNotThrow(() => (line = JSON.parse(text)), `${log.name}:${i + 1} is not JSON: ${text.slice(0, 200)}`);
      assert.match(line.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${log.name}:${i + 1}`);
      assert.ok(['debug', 'info', 'warning', 'error'].includes(line.level), `${log.name}:${i + 1}`);
      assert.equal(typeof line.msg, 'string', `${log.name}:${i + 1}`);
      count++;
    }
  }
  assert.ok(count > 0, 'the relays logged nothing at all');
});

test('no log holds a token or a secret of this run, or anything shaped like a feed token', () => {
  for (const log of logs) {
    for (const token of recorded.token) assert.ok(!log.text.includes(token), `${log.name} holds a token`);
    assert.doesNotMatch(log.text, /vxf_[A-Za-z0-9_-]{8}/, `${log.name} holds a feed token`);
  }
});

test('no log holds a query string: no marker, no token= or last_event_id=', () => {
  for (const log of logs) {
    for (const marker of recorded.marker) assert.ok(!log.text.includes(marker), `${log.name} holds a query string`);
    assert.doesNotMatch(log.text, /token=|last_event_id=/, `${log.name} holds a query parameter`);
  }
});

test('no log holds a full phone number of this run', () => {
  for (const log of logs) {
    const digitRuns = log.text.match(/\d{10,}/g) ?? [];
    for (const phone of recorded.phone) {
      const national = phone.slice(-10);
      assert.equal(digitRuns.find((run) => run.includes(national)), undefined, `${log.name} holds ${phone}`);
    }
  }
});

test('no log holds an utterance (a payload) of this run', () => {
  for (const log of logs) {
    for (const text of recorded.text) assert.ok(!log.text.includes(text), `${log.name} holds an utterance`);
    assert.doesNotMatch(log.text, /x{64}/, `${log.name} holds a slow-client test utterance`);
  }
});
