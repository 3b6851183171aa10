// The dashboard (examples/dashboard) in headless Chromium, as a clinic's
// staff would see it: vox-relay serves the page and its feed, signed
// webhooks go through vox-shim into vox, and the page's rows and transcript
// pane follow each commit. Then vox-relay is stopped, webhooks arrive while it
// is down, and it starts again: the page reconnects by itself and shows every
// event once; once more with the events it missed removed by maintenance, so
// the relay resets it and it reloads; last, its token is revoked and the page
// says so instead of retrying. Screenshots of the page (live, and at the end)
// are saved in the output directory.
//
// Recordings: vox-relay archives them into a local S3-compatible server
// (s3rver) from a local HTTPS origin that plays Vapi's storage (a
// self-signed certificate made with openssl, a generated WAV file); a
// recorded call's row says "Archiving…" until the feed says its recording is
// archived, then gets a play button, live, that plays the archived copy
// through the relay's redirect; one whose download fails never gets one, and
// one whose recording is deleted says so.
//
// scripts/test.sh sets PGHOST/PGPORT (the test cluster, vox installed),
// VOX_SHIM_BIN, VOX_RELAY_BIN and VOX_BROWSER_OUT_DIR; VOX_CHROMIUM names the
// browser (default /usr/bin/chromium).
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import puppeteer from 'puppeteer-core';
import S3rver from 's3rver';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const env = {
  shimBin: process.env.VOX_SHIM_BIN ?? path.join(root, 'build/vox-shim'),
  relayBin: process.env.VOX_RELAY_BIN ?? path.join(root, 'build/vox-relay'),
  chromium: process.env.VOX_CHROMIUM ?? '/usr/bin/chromium',
  outDir: process.env.VOX_BROWSER_OUT_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vox-browser-')),
  pgHost: process.env.PGHOST ?? '/tmp',
  pgPort: Number(process.env.PGPORT ?? 5432),
};
fs.mkdirSync(env.outDir, { recursive: true });

const database = 'vox_browser';
const shimRole = 'vox_shim_browser';
const relayRole = 'vox_relay_browser';
const waitMs = 15_000; // for the page to show what was committed

// ------------------------------------------------------------ the world ---

async function withClient(fn, dbname = database) {
  const client = new pg.Client({ host: env.pgHost, port: env.pgPort, user: 'postgres', database: dbname });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// A fresh database with one org (agent, number, HMAC secret), the shim's and
// the relay's login roles with only their grants, and a feed token.
async function freshWorld() {
  await withClient(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${database}`);
    for (const role of [shimRole, relayRole]) {
      const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount === 0) await client.query(`CREATE ROLE ${role} LOGIN`);
    }
  }, 'postgres');
  return withClient(async (client) => {
    await client.query('CREATE EXTENSION vox');
    await client.query(`GRANT USAGE ON SCHEMA vox TO ${shimRole}`);
    await client.query(`GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text),
                        vox.webhook_secrets_for(uuid) TO ${shimRole}`);
    await client.query(`GRANT vox_relay TO ${relayRole}`);
    const world = {
      orgId: randomUUID(),
      agentId: randomUUID(),
      assistantId: `asst_${randomUUID()}`,
      phoneNumberId: `pn_${randomUUID()}`,
      secret: randomUUID(),
    };
    await client.query(`INSERT INTO vox.organizations (id, name, default_region) VALUES ($1, 'Browser Clinic', 'US')`,
      [world.orgId]);
    await client.query(
      `INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role) VALUES ($1, $2, $3, 'Receptionist', 'inbound')`,
      [world.orgId, world.agentId, world.assistantId]);
    await client.query(
      'INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id) VALUES ($1, $2, $3, $4)',
      [world.orgId, world.phoneNumberId, newPhoneNumber(), world.agentId]);
    await client.query(`INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES ($1, 'hmac', $2)`,
      [world.orgId, world.secret]);
    const { rows } = await client.query(`SELECT token FROM vox.create_feed_credential($1, 'browser test')`, [world.orgId]);
    world.token = rows[0].token;
    return world;
  });
}

const newPhoneNumber = () => `+1${randomInt(200, 1000)}555${String(randomInt(0, 10000)).padStart(4, '0')}`;

// -------------------------------------------------------------- webhooks ---

// A Vapi call to the org's number; `extra` is merged last.
const vapiCall = (world, extra = {}) => {
  const createdAt = new Date().toISOString();
  return {
    id: `call_${randomUUID()}`,
    orgId: 'vapi-org',
    createdAt,
    updatedAt: createdAt,
    type: 'inboundPhoneCall',
    assistantId: world.assistantId,
    phoneNumberId: world.phoneNumberId,
    customer: { number: newPhoneNumber() },
    ...extra,
  };
};

const envelope = (message) => JSON.stringify({ message: { timestamp: Date.now(), ...message } });
const statusUpdate = (call, status, extra = {}) => envelope({ type: 'status-update', status, call: { ...call, status }, ...extra });
const transcript = (call, role, words) => envelope({ type: 'transcript', role, transcriptType: 'final', transcript: words, call });
const endOfCallReport = (call, startedAt, endedAt, recordingUrl = null) => envelope({
  type: 'end-of-call-report',
  endedReason: 'customer-ended-call',
  startedAt,
  endedAt,
  artifact: {
    transcript: 'AI: Thanks for calling.',
    ...(recordingUrl ? { recording: { mono: { combinedUrl: recordingUrl } } } : {}),
  },
  analysis: { summary: 'Caller booked a cleaning.', successEvaluation: 'true' },
  call: { ...call, status: 'ended' },
});

// POSTs a webhook to vox-shim signed the way Vapi's HMAC credential does
// (hex HMAC-SHA256 of "{timestamp}.{body}"); it must be processed.
async function deliver(world, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', world.secret).update(`${timestamp}.${body}`).digest('hex');
  const response = await fetch(`${shim.url}/webhooks/vapi/${world.orgId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-timestamp': timestamp, 'x-signature': signature },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(text, /"status": ?"processed"/);
}

// ------------------------------------------------------------- processes ---

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Starts `bin` on `port` with `settings` as its environment (none of the
// caller's VOX_SHIM_/VOX_RELAY_ settings), its output in NAME.log in the
// output directory (this run's: a restart appends), and waits until GET
// `health` answers 200.
const logsStarted = new Set();
async function startServer(name, bin, port, settings, health) {
  const logPath = path.join(env.outDir, `${name}.log`);
  const logFd = fs.openSync(logPath, logsStarted.has(name) ? 'a' : 'w');
  logsStarted.add(name);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^VOX_(SHIM|RELAY)_/.test(key)));
  const child = spawn(bin, [], { env: { ...inherited, ...settings }, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  let exit = null;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exit = { code, signal }))));
  const server = {
    url: `http://127.0.0.1:${port}`,
    // SIGTERM, then SIGKILL if it has not exited within 10 s.
    async stop() {
      if (!exit) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      return exit;
    },
  };
  for (const deadline = Date.now() + 10_000; ;) {
    if (exit) throw new Error(`${name} exited (${JSON.stringify(exit)}); see ${logPath}`);
    const response = await fetch(server.url + health).catch(() => null);
    if (response?.status === 200) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${name} did not become healthy within 10 s; see ${logPath}`);
    }
    await sleep(100);
  }
}

const startShim = (port) => startServer('vox-shim', env.shimBin, port, {
  VOX_SHIM_HOST: '127.0.0.1',
  VOX_SHIM_PORT: String(port),
  VOX_SHIM_DATABASE_URL: `host=127.0.0.1 port=${env.pgPort} dbname=${database} user=${shimRole}`,
}, '/health');

const startRelay = (port) => startServer('vox-relay', env.relayBin, port, {
  VOX_RELAY_HOST: '127.0.0.1',
  VOX_RELAY_PORT: String(port),
  VOX_RELAY_DATABASE_URL: `host=127.0.0.1 port=${env.pgPort} dbname=${database} user=${relayRole}`,
  VOX_RELAY_DASHBOARD_DIR: path.join(root, 'examples/dashboard'),
  // The archiver: into the local bucket, from the local HTTPS origin only
  // (loopback is refused unless a test allows it).
  VOX_RELAY_S3_ENDPOINT: archive.s3Url,
  VOX_RELAY_S3_REGION: 'us-east-1',
  VOX_RELAY_S3_BUCKET: archive.bucket,
  VOX_RELAY_S3_PATH_STYLE: 'true',
  VOX_RELAY_S3_ACCESS_KEY_ID: 'S3RVER', // s3rver's built-in account
  VOX_RELAY_S3_SECRET_ACCESS_KEY: 'S3RVER',
  VOX_RELAY_ARCHIVE_DOWNLOAD_HOSTS: '127.0.0.1',
  VOX_RELAY_ARCHIVE_CA_FILE: archive.caFile,
  VOX_RELAY_ARCHIVE_ALLOW_LOOPBACK: 'true',
  VOX_RELAY_ARCHIVE_POLL_MS: '200',
}, '/healthz');

// -------------------------------------------------------------- archive ---

// A WAV file of `seconds` of a quiet 440 Hz tone: 16 kHz, 16-bit PCM, mono.
function wavFile(seconds, rate = 16000) {
  const samples = seconds * rate;
  const wav = Buffer.alloc(44 + 2 * samples);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(36 + 2 * samples, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16); // the fmt chunk's size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // one channel
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28); // bytes a second
  wav.writeUInt16LE(2, 32); // bytes a frame
  wav.writeUInt16LE(16, 34); // bits a sample
  wav.write('data', 36);
  wav.writeUInt32LE(2 * samples, 40);
  for (let i = 0; i < samples; i++) wav.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + 2 * i);
  return wav;
}

// The bucket (s3rver, its files in the output directory) and the origin
// that plays Vapi's storage: HTTPS with a self-signed certificate for
// 127.0.0.1, which vox-relay trusts through its archive CA file. The origin
// serves the WAV at /recordings/<anything>.wav and 404 for anything else;
// hold() keeps it from answering for the WAV until the release it returns.
const archive = {
  bucket: 'vox-browser',
  wavSeconds: 4,
  wav: null,
  s3Url: null,
  originUrl: null,
  caFile: null,
  originRequests: [],
  held: null, // while set, a promise the WAV's answers wait for
  hold() {
    let release;
    this.held = new Promise((resolve) => (release = resolve));
    return () => {
      this.held = null;
      release();
    };
  },
  async start() {
    const dir = path.join(env.outDir, 'archive');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    this.caFile = path.join(dir, 'origin-cert.pem');
    const keyFile = path.join(dir, 'origin-key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', this.caFile], { stdio: 'ignore' });
    this.wav = wavFile(this.wavSeconds);
    this.origin = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(this.caFile) }, async (request, response) => {
      this.originRequests.push(request.url);
      if (request.method === 'GET' && /^\/recordings\/[\w-]+\.wav(\?|$)/.test(request.url)) {
        if (this.held) await this.held;
        response.writeHead(200, { 'content-type': 'audio/wav', 'content-length': this.wav.length });
        response.end(this.wav);
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found');
      }
    });
    const originPort = await freePort();
    await new Promise((resolve, reject) => this.origin.listen(originPort, '127.0.0.1', resolve).on('error', reject));
    this.originUrl = `https://127.0.0.1:${originPort}`;
    const s3Port = await freePort();
    this.s3 = new S3rver({
      address: '127.0.0.1',
      port: s3Port,
      silent: true,
      directory: path.join(dir, 's3rver'),
      configureBuckets: [{ name: this.bucket }],
    });
    await this.s3.run();
    this.s3Url = `http://127.0.0.1:${s3Port}`;
  },
  async stop() {
    await this.s3?.close().catch(() => {});
    await new Promise((resolve) => (this.origin ? this.origin.close(resolve) : resolve()));
  },
};

// Waits until the recording job of the call is no longer pending and
// returns its row (status 'done' with its object, or 'dead').
async function recordingJob(call, { until = (job) => job?.status !== 'pending', timeoutMs = 30_000 } = {}) {
  let job;
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) {
    job = await withClient(async (client) => (await client.query(
      'SELECT * FROM vox.recording_upload_queue WHERE org_id = $1 AND vapi_call_id = $2', [world.orgId, call.id])).rows[0]);
    if (until(job)) return job;
  }
  assert.fail(`the recording job of ${call.id} did not get there within ${timeoutMs / 1000} s: ${JSON.stringify(job)}`);
}

// ------------------------------------------------------------- the page ---

// What the page shows: its connection state, and each row in order with the
// text of its cells and the status it carries.
const pageState = () => page.evaluate(() => ({
  connection: document.getElementById('connection').textContent,
  rows: [...document.querySelectorAll('#calls tbody tr')].map((tr) => ({
    id: tr.dataset.callId,
    status: tr.querySelector('.status').dataset.status,
    statusText: tr.querySelector('.status').textContent,
    channel: tr.querySelector('.channel').textContent,
    caller: tr.querySelector('.caller').textContent,
    duration: tr.querySelector('.duration').textContent,
    latest: tr.querySelector('.latest').textContent,
    recording: tr.querySelector('.recording').textContent,
    play: tr.querySelector('.recording button.play') !== null,
  })),
  transcript: document.getElementById('transcript').hidden ? null
    : [...document.querySelectorAll('#transcript .line')].map((li) => li.textContent),
}));

// Polls the page until `predicate(state)` holds; fails with the last state.
async function waitFor(what, predicate) {
  let state;
  for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(100)) {
    state = await pageState();
    if (predicate(state)) return state;
  }
  assert.fail(`the page did not show ${what} within ${waitMs / 1000} s; it shows ${JSON.stringify(state, null, 1)}`);
}

const rowOf = (state, call) => state.rows.find((row) => row.id === call.id);
// An utterance as the page's text reads: its role's label, then the words.
const shown = (role, words) => `${role === 'user' ? 'Caller' : 'Assistant'} ${words}`;

// ----------------------------------------------------------------- setup ---

let world;
let shim;
let relay;
let relayPort;
let browser;
let page;
const pageErrors = [];

before(async () => {
  world = await freshWorld();
  await archive.start();
  shim = await startShim(await freePort());
  relayPort = await freePort();
  relay = await startRelay(relayPort);
  browser = await puppeteer.launch({
    executablePath: env.chromium,
    headless: true,
    // As root (CI) Chromium runs only without its sandbox; /dev/shm may be small in a container.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 720 });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // Every event the page's EventSource receives, as it arrives: whether the
  // feed itself repeated or skipped one, which the rows alone would hide.
  await page.evaluateOnNewDocument(() => {
    window.feedEvents = [];
    window.EventSource = class extends window.EventSource {
      constructor(...args) {
        super(...args);
        for (const type of ['snapshot', 'reset', 'message']) {
          this.addEventListener(type, (event) => window.feedEvents.push({ type, id: event.lastEventId, data: JSON.parse(event.data) }));
        }
      }
    };
  });
});

after(async () => {
  if (page) await page.screenshot({ path: path.join(env.outDir, 'dashboard-end.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  await relay?.stop();
  await shim?.stop();
  await archive.stop();
});

// ----------------------------------------------------------------- tests ---

let callA;
let callB;

test('the page loads from vox-relay, asks no other origin, and goes live on a snapshot', async () => {
  const requested = [];
  page.on('request', (request) => requested.push(new URL(request.url()).origin));
  const response = await page.goto(`${relay.url}/dashboard/?org=${world.orgId}&token=${encodeURIComponent(world.token)}`);
  assert.equal(response.status(), 200);
  await waitFor('"live"', (s) => s.connection === 'live');
  // "open" comes with the response's headers, the snapshot after them.
  await page.waitForFunction(() => window.feedEvents.length > 0, { timeout: waitMs });
  const events = await page.evaluate(() => window.feedEvents);
  assert.deepEqual(events.map((event) => event.type), ['snapshot']);
  assert.deepEqual(events[0].data, { calls: [] });
  assert.deepEqual((await pageState()).rows, []);
  assert.deepEqual([...new Set(requested)], [relay.url]);
});

test('a ringing call appears, its caller written for reading', async () => {
  callA = vapiCall(world);
  await deliver(world, statusUpdate(callA, 'ringing'));
  const row = rowOf(await waitFor('call A ringing', (s) => rowOf(s, callA)?.status === 'ringing'), callA);
  const number = callA.customer.number; // +1NPANXXXXXX
  assert.equal(row.caller, `+1 ${number.slice(2, 5)}-${number.slice(5, 8)}-${number.slice(8)}`);
  assert.equal(row.statusText, 'Ringing');
  assert.equal(row.channel, 'Inbound');
  assert.equal(row.duration, '—');
});

test('in progress: the row says so and its duration counts from the start, every second', async () => {
  callA = { ...callA, startedAt: new Date(Date.now() - 65_000).toISOString() };
  await deliver(world, statusUpdate(callA, 'in-progress'));
  const row = rowOf(await waitFor('call A in progress', (s) => rowOf(s, callA)?.status === 'in-progress'), callA);
  assert.equal(row.statusText, 'In progress');
  assert.match(row.duration, /^1:0\d$/);
  await waitFor('the duration ticking', (s) => /^1:\d\d$/.test(rowOf(s, callA).duration) && rowOf(s, callA).duration > row.duration);
});

test('transcript lines: the latest in the row, all of them in the pane, new ones as they commit', async () => {
  const lines = [
    ['assistant', 'Thanks for calling Browser Clinic, how can I help?'],
    ['user', 'I would like to book a cleaning.'],
  ];
  for (const [role, words] of lines) await deliver(world, transcript(callA, role, words));
  await waitFor('the latest line in the row', (s) => rowOf(s, callA)?.latest === shown(...lines.at(-1)));
  await page.click(`tr[data-call-id="${callA.id}"]`);
  let state = await waitFor('the transcript pane', (s) => s.transcript?.length === lines.length);
  assert.deepEqual(state.transcript, lines.map((l) => shown(...l)));

  lines.push(['assistant', 'Tuesday at ten works. See you then!']);
  await deliver(world, transcript(callA, ...lines.at(-1)));
  state = await waitFor('the new line in the pane and the row',
    (s) => s.transcript?.length === lines.length && rowOf(s, callA).latest === shown(...lines.at(-1)));
  assert.deepEqual(state.transcript, lines.map((l) => shown(...l)));
});

test('ended: the status, and the duration of the report, no longer counting', async () => {
  const endedAt = new Date();
  const startedAt = new Date(endedAt - 125_000);
  await deliver(world, statusUpdate(callA, 'ended', { endedReason: 'customer-ended-call' }));
  await deliver(world, endOfCallReport(callA, startedAt.toISOString(), endedAt.toISOString()));
  const row = rowOf(await waitFor('call A ended after 2:05',
    (s) => rowOf(s, callA)?.status === 'ended' && rowOf(s, callA).duration === '2:05'), callA);
  assert.equal(row.statusText, 'Ended');
  await sleep(1500);
  assert.equal(rowOf(await pageState(), callA).duration, '2:05');
});

test("a lead's name and a caller's words are shown as text, never as markup; newest call first", async () => {
  callB = vapiCall(world);
  const name = `<img src=x onerror="window.injected=1">Dana <b>O'Brien</b>`;
  const words = '<script>window.injected=2</script><i>Is Tuesday free?</i>';
  await withClient((client) => client.query('INSERT INTO vox.leads (org_id, phone, name) VALUES ($1, $2, $3)',
    [world.orgId, callB.customer.number, name]));
  await deliver(world, statusUpdate(callB, 'ringing'));
  await deliver(world, transcript(callB, 'user', words));
  const state = await waitFor('call B with its line', (s) => rowOf(s, callB)?.latest === shown('user', words));
  assert.equal(rowOf(state, callB).caller, name);
  assert.deepEqual(state.rows.map((row) => row.id), [callB.id, callA.id]);
  await page.click(`tr[data-call-id="${callB.id}"]`);
  await waitFor("call B's transcript", (s) => s.transcript?.length === 1 && s.transcript[0] === shown('user', words));
  assert.deepEqual(await page.evaluate(() => ({
    elements: document.querySelectorAll('main img, main b, main i, main script').length,
    injected: window.injected ?? null,
  })), { elements: 0, injected: null });
});

test('vox-relay stopped and started again: the page reconnects by itself and shows every event once', async () => {
  await page.evaluate(() => (window.samePage = true));
  await relay.stop();
  await waitFor('"reconnecting"', (s) => s.connection === 'reconnecting');

  // Committed while no relay runs.
  callB = { ...callB, startedAt: new Date().toISOString() };
  await deliver(world, statusUpdate(callB, 'in-progress'));
  const lines = [
    ['user', '<script>window.injected=2</script><i>Is Tuesday free?</i>'],
    ['assistant', 'It is. Morning or afternoon?'],
    ['user', 'Morning, please.'],
    ['assistant', 'Booked for Tuesday at nine.'],
  ];
  for (const [role, words] of lines.slice(1)) await deliver(world, transcript(callB, role, words));
  const callC = vapiCall(world);
  await deliver(world, statusUpdate(callC, 'ringing'));

  relay = await startRelay(relayPort);
  const state = await waitFor('every event committed meanwhile',
    (s) => s.connection === 'live' && rowOf(s, callC)?.status === 'ringing' && s.transcript?.length === lines.length);
  assert.deepEqual(state.rows.map((row) => row.id), [callC.id, callB.id, callA.id]);
  assert.equal(rowOf(state, callB).status, 'in-progress');
  assert.equal(rowOf(state, callB).latest, shown(...lines.at(-1)));
  assert.deepEqual(state.transcript, lines.map((l) => shown(...l)));
  assert.equal(await page.evaluate(() => window.samePage), true, 'the page was not reloaded');

  // The feed itself: one snapshot (the first: the reconnect resumed after the
  // last event it had), then each outbox row of the org once, in commit order.
  const events = await page.evaluate(() => window.feedEvents);
  assert.deepEqual(events.filter((event) => event.type !== 'message').map((event) => event.type), ['snapshot']);
  const ids = events.map((event) => event.id);
  assert.equal(new Set(ids).size, ids.length, 'an event id came twice');
  const outbox = await withClient(async (client) => (await client.query(
    'SELECT topic, vapi_call_id FROM vox.outbox WHERE org_id = $1 ORDER BY id', [world.orgId])).rows);
  assert.deepEqual(events.filter((event) => event.type === 'message').map((event) => [event.data.topic, event.data.call_id]),
    outbox.map((row) => [row.topic, row.vapi_call_id]));
});

test('events removed past the retention while the page was away: reset, then the snapshot, and the open transcript reloaded', async () => {
  await relay.stop();
  await waitFor('"reconnecting"', (s) => s.connection === 'reconnecting');
  const eventsBefore = (await page.evaluate(() => window.feedEvents)).length;

  const bye = ['user', 'Thank you, bye!'];
  await deliver(world, transcript(callB, ...bye));
  const callD = vapiCall(world);
  await deliver(world, statusUpdate(callD, 'ringing'));
  // A consumer delivers every outbox row and maintenance deletes them past a
  // 1 s retention, moving the org's feed horizon past the page's cursor.
  await withClient(async (client) => {
    await client.query(`SELECT vox.ack_outbox(ARRAY(SELECT id FROM vox.claim_outbox(1000, interval '1 minute')))`);
    await sleep(1100);
    await client.query(`LOAD 'vox'`);
    await client.query('SET vox.retention = 1');
    await client.query('SELECT vox.remove_expired()');
    const { rows } = await client.query('SELECT count(*)::int AS left FROM vox.outbox WHERE org_id = $1', [world.orgId]);
    assert.equal(rows[0].left, 0, 'maintenance left outbox rows');
  });

  relay = await startRelay(relayPort);
  const state = await waitFor('call D and the last line of B',
    (s) => s.connection === 'live' && rowOf(s, callD)?.status === 'ringing' && s.transcript?.at(-1) === shown(...bye));
  const events = (await page.evaluate(() => window.feedEvents)).slice(eventsBefore);
  assert.deepEqual(events.map((event) => event.type), ['reset', 'snapshot']);
  assert.deepEqual(events[0].data, { reason: 'cursor_expired' });
  assert.deepEqual(state.rows.map((row) => row.id), events[1].data.calls.map((call) => call.call_id));
  assert.equal(state.rows[0].id, callD.id);
  assert.equal(rowOf(state, callB).latest, shown(...bye));
  assert.equal(state.transcript.length, 5);
  assert.equal(await page.evaluate(() => window.samePage), true, 'the page was not reloaded');
});

// ------------------------------------------------------------ recordings ---

// The player as the page shows it, and its audio element's state.
const playerState = () => page.evaluate(() => {
  const player = document.getElementById('player');
  const audio = player.querySelector('audio');
  return {
    hidden: player.hidden,
    call: player.querySelector('.call').textContent,
    message: player.querySelector('.message').textContent,
    messageState: player.querySelector('.message').dataset.state ?? null,
    src: audio.getAttribute('src'),
    readyState: audio.readyState,
    currentTime: audio.currentTime,
    played: audio.played.length,
    paused: audio.paused,
    duration: audio.duration,
    error: audio.error && { code: audio.error.code, message: audio.error.message },
  };
});

// Polls the player until `predicate(state)` holds; fails with the last state.
async function waitForPlayer(what, predicate) {
  let state;
  for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(100)) {
    state = await playerState();
    if (predicate(state)) return state;
  }
  assert.fail(`the player did not show ${what} within ${waitMs / 1000} s; it shows ${JSON.stringify(state, null, 1)}`);
}

const playButton = (call) => `tr[data-call-id="${call.id}"] button.play`;

// A call that ends with an end-of-call-report naming `recordingUrl`.
async function recordedCall(recordingUrl) {
  const endedAt = new Date();
  const call = vapiCall(world, { startedAt: new Date(endedAt - 42_000).toISOString() });
  await deliver(world, statusUpdate(call, 'ended', { endedReason: 'customer-ended-call' }));
  await deliver(world, endOfCallReport(call, call.startedAt, endedAt.toISOString(), recordingUrl(call)));
  return call;
}

let recorded; // a call whose recording the relay archives
let unarchived; // one whose recording's download fails: never archived

// What a screen reader reads in the call's recording cell: the text of the
// accessibility tree's leaves under it.
async function spokenRecording(call) {
  const root = await page.$(`tr[data-call-id="${call.id}"] td.recording`);
  const tree = await page.accessibility.snapshot({ root, interestingOnly: false });
  const leaves = [];
  const walk = (node) => (node.children?.length ? node.children.forEach(walk) : node.name && leaves.push(node.name));
  if (tree) walk(tree);
  return leaves.join(' ');
}

test('a recorded call says "Archiving…" until the feed says its recording is archived, then gets a play button, live', async () => {
  // The origin keeps the WAV until released: the upload cannot finish first.
  const release = archive.hold();
  try {
    recorded = await recordedCall((call) => `${archive.originUrl}/recordings/${call.id}.wav`);
    unarchived = await recordedCall((call) => `${archive.originUrl}/gone/${call.id}.wav`);
    const state = await waitFor('both calls ended, archiving', (s) =>
      [recorded, unarchived].every((call) => rowOf(s, call)?.status === 'ended' && rowOf(s, call).recording === 'Archiving…'));
    assert.equal(rowOf(state, recorded).play, false);
    assert.equal(rowOf(state, unarchived).play, false);
    assert.equal(await spokenRecording(recorded), 'Archiving…');
    // The relay is at it: it asked the origin, which has not answered.
    for (const deadline = Date.now() + waitMs; !archive.originRequests.some((url) => url.startsWith(`/recordings/${recorded.id}.wav`));) {
      assert.ok(Date.now() < deadline, 'vox-relay did not ask the origin for the recording');
      await sleep(100);
    }
    assert.equal((await recordingJob(recorded, { until: () => true })).status, 'pending');
    assert.equal(rowOf(await pageState(), recorded).recording, 'Archiving…');
  } finally {
    release();
  }

  // The completion's `recording` event brings the button, without a reload.
  const state = await waitFor('a play button for the archived call', (s) => rowOf(s, recorded)?.play);
  assert.equal(await page.evaluate(() => window.samePage), true, 'the page was reloaded');
  const events = (await page.evaluate(() => window.feedEvents)).filter((event) => event.data.call_id === recorded.id);
  assert.deepEqual(events.filter((event) => event.data.topic === 'recording').map((event) => event.data.call.recording),
    ['archived']);
  assert.equal(events.at(-1).data.topic, 'recording');
  assert.equal((await recordingJob(recorded)).status, 'done');

  const button = await page.$eval(playButton(recorded), (element) => ({
    type: element.type,
    text: element.textContent,
    label: element.getAttribute('aria-label'),
    controls: element.getAttribute('aria-controls'),
    caller: element.closest('tr').querySelector('.caller').textContent,
    note: element.closest('td').querySelector('.note') !== null,
  }));
  assert.equal(button.type, 'button');
  assert.match(button.text, /Play$/);
  assert.equal(button.label, `Play the recording of the call with ${button.caller}`);
  assert.equal(button.controls, 'player');
  assert.equal(button.note, false, '"Archiving…" stayed beside the button');
  // The failing download is still retried; call A's report had no
  // recording, and B, C and D had no report: they say nothing.
  assert.equal(rowOf(state, unarchived).recording, 'Archiving…');
  for (const row of state.rows.filter((r) => r.id !== recorded.id && r.id !== unarchived.id)) {
    assert.deepEqual([row.id, row.recording, row.play], [row.id, '', false]);
  }
  assert.deepEqual(await page.$$eval('#calls button.play', (buttons) => buttons.map((b) => b.closest('tr').dataset.callId)),
    [recorded.id]);
  assert.equal((await playerState()).hidden, true);
});

test('a recording whose download fails never gets a play button: "Archiving…" while retried, "Not archived" once dead', async () => {
  // The origin answers 404: the job fails and backs off.
  const failed = await recordingJob(unarchived, { until: (j) => j?.last_error });
  assert.equal(failed.status, 'pending');
  let row = rowOf(await pageState(), unarchived);
  assert.deepEqual([row.recording, row.play], ['Archiving…', false]);
  // Its remaining attempts used up without the backoff's waits: one more
  // claim makes it dead (again if the relay's lease ran over the change).
  for (const deadline = Date.now() + 30_000; ;) {
    const { rows } = await withClient((client) => client.query(
      `UPDATE vox.recording_upload_queue SET attempts = greatest(attempts, vox.queue_max_attempts() - 1), available_at = now()
        WHERE id = $1 AND status = 'pending' RETURNING id`, [failed.id]));
    if (rows.length === 0) break;
    assert.ok(Date.now() < deadline, 'the job did not end dead');
    await sleep(500);
  }
  const dead = await recordingJob(unarchived);
  assert.equal(dead.status, 'dead');
  assert.match(dead.last_error, /download failed: HTTP 404/);
  row = rowOf(await pageState(), unarchived);
  assert.equal(row.play, false);
});

test('reloaded: the snapshot says the same, the archived call has its play button and the dead one says "Not archived"', async () => {
  await page.reload();
  const state = await waitFor('the snapshot', (s) => s.connection === 'live' && rowOf(s, recorded)?.play);
  const snapshot = (await page.evaluate(() => window.feedEvents)).find((event) => event.type === 'snapshot');
  const recordingOf = (call) => snapshot.data.calls.find((c) => c.call_id === call.id)?.recording;
  assert.equal(recordingOf(recorded), 'archived');
  assert.equal(recordingOf(unarchived), 'failed');
  assert.equal(recordingOf(callA), null);
  assert.deepEqual([rowOf(state, unarchived).recording, rowOf(state, unarchived).play], ['Not archived', false]);
  assert.equal(await spokenRecording(unarchived), 'Not archived');
  assert.deepEqual([rowOf(state, callA).recording, rowOf(state, callA).play], ['', false]);
  assert.deepEqual(await page.$$eval('#calls button.play', (buttons) => buttons.map((b) => b.closest('tr').dataset.callId)),
    [recorded.id]);
});

test('an archived recording plays: Play, by keyboard, loads the relay\'s redirect to the bucket into the audio element', async () => {
  const job = await recordingJob(recorded);
  assert.equal(job.status, 'done', `the job ended ${job.status}: ${job.last_error}`);
  assert.ok(job.storage_path.includes(`${world.orgId}/${recorded.id}/`), job.storage_path);
  assert.ok(archive.originRequests.some((url) => url.startsWith(`/recordings/${recorded.id}.wav`)));

  const requests = [];
  const onRequest = (request) => requests.push(request.url());
  page.on('request', onRequest);
  const paneBefore = await page.$eval('#transcript', (element) => element.dataset.callId ?? null);
  await page.focus(playButton(recorded));
  await page.keyboard.press('Enter');
  const state = await waitForPlayer('the recording playing',
    (s) => s.readyState >= 2 && s.played > 0 && s.currentTime > 0.5 && !s.paused);
  page.off('request', onRequest);

  assert.equal(state.error, null);
  assert.equal(state.hidden, false);
  assert.equal(state.message, '');
  assert.ok(Math.abs(state.duration - archive.wavSeconds) < 0.05, `duration ${state.duration}`);
  assert.equal(state.src, `/v1/orgs/${world.orgId}/calls/${recorded.id}/recording?token=${encodeURIComponent(world.token)}`);
  // Enter on the button played; it did not open the row's transcript.
  assert.equal(await page.$eval('#transcript', (element) => element.dataset.callId ?? null), paneBefore);
  assert.ok(await page.$eval(`tr[data-call-id="${recorded.id}"]`, (tr) => tr.classList.contains('playing')));
  // The audio came from the bucket's object, through a presigned URL.
  const fromBucket = requests.map((url) => new URL(url)).filter((url) => url.origin === archive.s3Url);
  assert.ok(fromBucket.some((url) => decodeURIComponent(url.pathname) === `/${archive.bucket}/${job.storage_path}` &&
    url.searchParams.has('X-Amz-Signature')), `requests: ${requests.join('\n')}`);
  await page.screenshot({ path: path.join(env.outDir, 'dashboard-recording.png'), fullPage: true });
  // No presigned URL's signature (nor the feed's token) in the relay's log.
  const log = fs.readFileSync(path.join(env.outDir, 'vox-relay.log'), 'utf8');
  for (const url of fromBucket) {
    const signature = url.searchParams.get('X-Amz-Signature');
    if (signature) assert.ok(!log.includes(signature), 'a presigned URL\'s signature is in the relay\'s log');
  }
  assert.ok(!log.includes(world.token), 'the feed token is in the relay\'s log');
});

test('closing the player stops the recording', async () => {
  await page.click('#close-player');
  const state = await playerState();
  assert.equal(state.hidden, true);
  assert.equal(state.paused, true);
  assert.equal(state.src, null);
  assert.equal(await page.$$eval('#calls tr.playing', (rows) => rows.length), 0);
});

test('a recording deleted while its play button shows: Play says it is no longer available; once storage confirms, the row says "Deleted", live', async () => {
  const job = await recordingJob(recorded);
  const object = `${archive.s3Url}/${archive.bucket}/${job.storage_path.split('/').map(encodeURIComponent).join('/')}`;
  assert.equal((await fetch(object, { method: 'HEAD' })).status, 200, 'the object is not in the bucket');
  // Stands for the retention (claim_recording_deletions queues an expired
  // object so), not due yet: playback ends at once, the feed says nothing
  // until storage confirms, so the button is still there.
  const deletion = await withClient(async (client) => (await client.query(
    `INSERT INTO vox.recording_deletions (org_id, vapi_call_id, storage_path, reason, available_at)
     VALUES ($1, $2, $3, 'retention', now() + interval '1 hour') RETURNING id`,
    [world.orgId, recorded.id, job.storage_path])).rows[0].id);
  await page.evaluate(() => (window.samePage = true));
  assert.equal(rowOf(await pageState(), recorded).play, true);
  await page.click(playButton(recorded));
  const state = await waitForPlayer('a message', (s) => s.messageState === 'error');
  assert.equal(state.hidden, false);
  assert.match(state.message, /no longer available/);
  assert.equal(state.src, null);
  assert.equal(state.error, null);
  assert.equal(state.call, await page.$eval(`tr[data-call-id="${recorded.id}"] .caller`, (td) => td.textContent));

  // Due now: vox-relay deletes the object, vox marks it, the feed says so.
  await withClient((client) => client.query('UPDATE vox.recording_deletions SET available_at = now() WHERE id = $1', [deletion]));
  const row = rowOf(await waitFor('"Deleted"', (s) => rowOf(s, recorded)?.recording === 'Deleted'), recorded);
  assert.equal(row.play, false);
  assert.equal(await spokenRecording(recorded), 'Deleted');
  assert.equal(await page.evaluate(() => window.samePage), true, 'the page was reloaded');
  const marked = await withClient(async (client) => (await client.query(
    `SELECT d.status, q.object_deleted_at IS NOT NULL AS object_deleted FROM vox.recording_deletions d
       JOIN vox.recording_upload_queue q ON q.org_id = d.org_id AND q.storage_path = d.storage_path WHERE d.id = $1`,
    [deletion])).rows[0]);
  assert.deepEqual(marked, { status: 'done', object_deleted: true });
  assert.equal((await fetch(object, { method: 'HEAD' })).status, 404, 'the object is still in the bucket');
  await page.click('#close-player');
  assert.equal((await playerState()).hidden, true);
});

test('its token revoked: the stream ends, the page says the link no longer works and stops asking', async () => {
  // The page as staff see it, live, before its link is revoked.
  await page.screenshot({ path: path.join(env.outDir, 'dashboard.png'), fullPage: true });
  const feedRequests = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('/feed')) feedRequests.push(Date.now());
  });
  await withClient((client) => client.query(
    'SELECT vox.revoke_feed_credential(id) FROM vox.feed_credentials WHERE org_id = $1', [world.orgId]));
  await waitFor('"offline"', (s) => s.connection === 'offline');
  const problem = await page.$eval('#problem', (element) => ({ hidden: element.hidden, text: element.textContent }));
  assert.equal(problem.hidden, false);
  assert.match(problem.text, /expired or was revoked/);
  const asked = feedRequests.length;
  await sleep(5000); // longer than the page's first retry pause
  assert.equal(feedRequests.length, asked, 'the page went on asking for the feed');
});

test('the page raised no error', () => {
  assert.deepEqual(pageErrors, []);
});
