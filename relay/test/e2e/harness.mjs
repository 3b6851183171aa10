// Shared machinery of the vox-relay end-to-end tests: the environment, a fresh
// database with two tenants and their feed credentials, events made either
// by vox.handle_event in SQL or by signed webhooks through vox-shim (signed
// here with node:crypto, not the shim's code), relay and shim processes with
// their logs, a Server-Sent Events client of its own over node:http, and a
// record of every token, phone number, query-string marker and utterance
// this run used (zz-logs.test.mjs checks the relay's logs against it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { freshDatabase, loginRole, onEveryNode } from '../../../test/lib/every-node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgCtl = '/usr/lib/postgresql/15/bin/pg_ctl';

// scripts/test.sh sets all of these (the same names as the shim's e2e
// suite); the defaults are the scratch cluster of a development machine.
export const env = {
  relayBin: process.env.VOX_RELAY_BIN ?? path.resolve(here, '../../../build/vox-relay'),
  shimBin: process.env.VOX_SHIM_BIN ?? path.resolve(here, '../../../build/vox-shim'),
  pgHost: process.env.PGHOST ?? '/tmp/devpg',
  pgPort: Number(process.env.PGPORT ?? 5499),
  pgUser: process.env.PGUSER ?? 'postgres',
  pgStop: process.env.VOX_E2E_PG_STOP ?? `runuser -u postgres -- ${pgCtl} -D /tmp/devpg/data -m fast -w stop`,
  pgStart:
    process.env.VOX_E2E_PG_START ??
    `runuser -u postgres -- ${pgCtl} -D /tmp/devpg/data -l /tmp/devpg/log ` +
      `-o "-p 5499 -k /tmp/devpg -c listen_addresses=127.0.0.1" -w start`,
  // A crash of the whole server: no checkpoint, recovery from the WAL on start.
  pgStopImmediate:
    process.env.VOX_E2E_PG_STOP_IMMEDIATE ?? `runuser -u postgres -- ${pgCtl} -D /tmp/devpg/data -m immediate -w stop`,
  logDir: process.env.VOX_E2E_LOG_DIR ?? path.join(os.tmpdir(), 'vox-relay-e2e-logs'),
  // A command that leaves an empty vox in the database it is given (on
  // Citus: test/citus/run.sh); otherwise the database is dropped and made.
  freshDatabase: process.env.VOX_E2E_FRESH_DATABASE,
  // The binaries run under AddressSanitizer: their resident memory is mostly
  // its shadow memory and quarantine.
  sanitized: process.env.VOX_E2E_SANITIZED === '1',
};
fs.mkdirSync(env.logDir, { recursive: true });

export const database = 'vox_relay_e2e';
const relayRole = 'vox_relay_e2e';
const shimRole = 'vox_relay_e2e_shim';
export const timeoutMs = 10_000; // of every plain HTTP request

// The run's name, so that zz-logs.test.mjs checks exactly the files this run
// wrote: scripts/test.sh sets VOX_E2E_RUN_ID (one file per node process);
// otherwise node --test's runner process (pid and start time) names it.
function currentRunId() {
  if (process.env.VOX_E2E_RUN_ID) return process.env.VOX_E2E_RUN_ID;
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return `${process.ppid}-${startTime}`;
}
export const logPrefix = `vox-relay-e2e-${currentRunId()}-`;
export const recordPath = path.join(env.logDir, `${logPrefix}record.jsonl`);
const testFile = path.basename(process.argv[1] ?? 'repl', '.test.mjs');

// Tokens, phone numbers and markers go to the record the moment they are
// made, so that even a run that crashes half-way leaves a complete list.
function record(kind, value) {
  fs.appendFileSync(recordPath, JSON.stringify({ kind, value }) + '\n');
  return value;
}

// A query parameter that no log may repeat: its value stands for "the query
// string reached the log".
export const queryMarker = () => `probe=${record('marker', `qs${randomBytes(9).toString('hex')}`)}`;

// ---------------------------------------------------------------- database ---

export async function connect(dbname = database) {
  const client = new pg.Client({ host: env.pgHost, port: env.pgPort, user: env.pgUser, database: dbname });
  await client.connect();
  // A lost connection (PostgreSQL restarted) fails the query in flight;
  // without a listener it would also crash the process.
  client.on('error', () => {});
  return client;
}

export async function withClient(fn, dbname = database) {
  const client = await connect(dbname);
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// Random per run, so that the log check looks for values that really went
// through the relay in events and snapshots.
const newPhoneNumber = () => record('phone', `+1${randomInt(200, 1000)}555${String(randomInt(0, 10000)).padStart(4, '0')}`);

async function addTenant(client, name) {
  const tenant = {
    name,
    orgId: randomUUID(),
    agentId: randomUUID(),
    assistantId: `asst_${randomUUID()}`,
    phoneNumberId: `pn_${randomUUID()}`,
    number: newPhoneNumber(),
    secret: record('token', randomBytes(24).toString('base64url')),
  };
  await client.query('INSERT INTO vox.organizations (id, name) VALUES ($1, $2)', [tenant.orgId, name]);
  await client.query(
    `INSERT INTO vox.agents (org_id, id, vapi_assistant_id, name, role) VALUES ($1, $2, $3, $4, 'inbound')`,
    [tenant.orgId, tenant.agentId, tenant.assistantId, `${name} receptionist`],
  );
  await client.query(
    'INSERT INTO vox.phone_numbers (org_id, vapi_phone_number_id, number, agent_id) VALUES ($1, $2, $3, $4)',
    [tenant.orgId, tenant.phoneNumberId, tenant.number, tenant.agentId],
  );
  // Vapi's HMAC defaults (column defaults): x-signature, hex, "{timestamp}.{body}".
  await client.query(`INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES ($1, 'hmac', $2)`,
    [tenant.orgId, tenant.secret]);
  return tenant;
}

// A fresh database for one test file with orgs A and B. The relay's login
// role holds vox_relay and nothing else, the shim's the two webhook entry
// points: what a deployment grants.
export async function freshWorld() {
  const withoutVox = await freshDatabase(env.freshDatabase, database, (fn) => withClient(fn, 'postgres'));
  return withClient(async (client) => {
    if (withoutVox) await client.query('CREATE EXTENSION vox');
    await onEveryNode(client, [loginRole(relayRole), loginRole(shimRole), `GRANT vox_relay TO ${relayRole}`,
                               `GRANT USAGE ON SCHEMA vox TO ${shimRole}`]);
    await client.query(`GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text),
                        vox.webhook_secrets_for(uuid) TO ${shimRole}`);
    const a = await addTenant(client, 'Clinic A');
    const b = await addTenant(client, 'Clinic B');
    return { a, b };
  });
}

// A feed credential for the org, made as an application backend would:
// { id, token }. validFor: an interval ('1 second'), or null for a token
// that lasts until revoked.
export async function newCredential(orgId, validFor = null) {
  const { rows } = await withClient((client) => client.query(
    'SELECT credential_id, token FROM vox.create_feed_credential($1, $2, $3::interval)',
    [orgId, `e2e ${testFile}`, validFor]));
  return { id: rows[0].credential_id, token: record('token', rows[0].token) };
}

export const revokeCredential = (id) =>
  withClient(async (client) => (await client.query('SELECT vox.revoke_feed_credential($1) AS valid', [id])).rows[0].valid);

// Runs a shell command given by the environment (stopping or starting the
// test cluster) without blocking the event loop: streams go on meanwhile.
export function shellAsync(command) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code ?? signal}`))));
  });
}

// ---------------------------------------------------------------- payloads ---

const vapiOrgId = randomUUID();

// A Vapi Call object for a call to `tenant`'s number and assistant.
export function vapiCall(tenant) {
  const createdAt = new Date().toISOString();
  return {
    id: `call_${randomUUID()}`,
    orgId: vapiOrgId,
    createdAt,
    updatedAt: createdAt,
    type: 'inboundPhoneCall',
    assistantId: tenant.assistantId,
    phoneNumberId: tenant.phoneNumberId,
    customer: { number: newPhoneNumber() },
  };
}

const envelope = (message) => JSON.stringify({ message: { timestamp: Date.now(), ...message } });

export const statusUpdate = (call, status, extra = {}) =>
  envelope({ type: 'status-update', status, call: { ...call, status }, ...extra });

export const transcript = (call, text, role = 'user') =>
  envelope({ type: 'transcript', role, transcriptType: 'final', transcript: text, call });

export const report = {
  summary: 'Caller booked a cleaning for Tuesday.',
  endedReason: 'customer-ended-call',
  startedAt: '2026-12-05T08:00:00.000Z',
  endedAt: '2026-12-05T08:03:30.000Z',
};

export function endOfCallReport(call) {
  return envelope({
    type: 'end-of-call-report',
    endedReason: report.endedReason,
    startedAt: report.startedAt,
    endedAt: report.endedAt,
    artifact: {
      transcript: 'AI: Thanks for calling. User: I need to book a cleaning.',
      recording: { mono: { combinedUrl: `https://storage.vapi.ai/${call.id}-mono.wav` } },
    },
    analysis: { summary: report.summary, successEvaluation: 'true' },
    call: { ...call, status: 'ended' },
  });
}

// What identifies one event in the feed, the same for the payload sent and
// the event data received: a transcript by its text, anything else by its
// topic, call and status.
export function eventKey(data) {
  if (data.topic === 'transcript') return `transcript|${data.call_id}|${data.utterance?.text}`;
  return `${data.topic}|${data.call_id}|${data.call?.status}`;
}

// Applies events with vox.handle_event, one transaction each, in order, on
// a connection of its own; after a lost connection it reconnects and applies
// the same event again (vox answers "duplicate" if it had committed), so
// every event is committed exactly once. `committed` lists the keys in
// commit order, `committedAt` the time each commit returned.
// notify: false applies them with vox.notify = off (no NOTIFY vox_outbox),
// set in the event's own transaction: on Citus, a transaction block keeps the
// call on the coordinator, whose setting then decides (a call delegated to a
// worker would run with the worker's).
export class Producer {
  constructor(tenant, { notify = true } = {}) {
    this.tenant = tenant;
    this.notify = notify;
    this.committed = [];
    this.committedAt = [];
    this.client = null;
  }

  async apply(payload, key) {
    for (const deadline = Date.now() + 60_000; ;) {
      try {
        if (!this.client) this.client = await connect();
        if (!this.notify) await this.client.query('BEGIN; SET LOCAL vox.notify = off');
        const { rows } = await this.client.query('SELECT vox.handle_event($1::uuid, $2::jsonb) AS result',
          [this.tenant.orgId, payload]);
        if (!this.notify) await this.client.query('COMMIT');
        const { status } = rows[0].result;
        if (status !== 'processed' && status !== 'duplicate') throw new Error(`handle_event answered ${status}`);
        this.committed.push(key);
        this.committedAt.push(Date.now());
        return;
      } catch (error) {
        // A lost or refused connection (no code, a system error such as
        // ECONNREFUSED, or SQLSTATE class 08 or 57: shutting down, starting
        // up) is retried; anything else is a failure.
        if (Date.now() > deadline || (error.code && !/^(08|57|E[A-Z])/.test(error.code))) throw error;
        this.client?.end().catch(() => {});
        this.client = null;
        await sleep(100);
      }
    }
  }

  // A call's transcript line; by default with text that is unique in the
  // run and recorded (an utterance is part of a payload: no log holds it).
  transcript(call, text = `Line ${this.committed.length} ${record('text', randomUUID())}`) {
    return this.apply(transcript(call, text), `transcript|${call.id}|${text}`);
  }

  status(call, status) {
    return this.apply(statusUpdate(call, status), `status-update|${call.id}|${status}`);
  }

  // A new call of the tenant, in progress (one event): a call exists for the
  // feed once a status-update made it; transcript lines alone do not.
  async startCall() {
    const call = vapiCall(this.tenant);
    await this.status(call, 'in-progress');
    return call;
  }

  async end() {
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}

// ----------------------------------------------------------- processes ---

// A port nothing listens on: one the kernel picks, or one of the range
// VOX_E2E_HTTP_PORTS (FIRST-LAST) when a shared machine gives each user ports
// of its own.
export async function freePort() {
  const [first, last] = (process.env.VOX_E2E_HTTP_PORTS ?? '0-0').split('-').map(Number);
  const candidates = first === 0 ? [0] : Array.from({ length: last - first + 1 }, (_, i) => first + i)
    .sort(() => Math.random() - 0.5);
  for (const candidate of candidates) {
    const server = net.createServer();
    const listening = await new Promise((resolve) => server.listen(candidate, '127.0.0.1', () => resolve(true))
      .on('error', () => resolve(false)));
    if (!listening) continue;
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error(`no free port in ${process.env.VOX_E2E_HTTP_PORTS}`);
}

let processCount = 0;

// Starts `binary` with `environment` (only this prefix of the caller's
// variables is dropped, so that they cannot change what is tested); stdout
// and stderr go to one log file of its own.
function spawnLogged(kind, binary, prefix, environment, args = []) {
  const logPath = path.join(env.logDir, `${logPrefix}${testFile}-${kind}-${++processCount}.log`);
  const logFd = fs.openSync(logPath, 'w');
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith(prefix)));
  const child = spawn(binary, args, { env: { ...inherited, ...environment }, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let exit = null;
  exited.then((result) => (exit = result));
  const proc = {
    child,
    logPath,
    logText: () => fs.readFileSync(logPath, 'utf8'),
    logLines: () => proc.logText().split('\n').filter(Boolean).map((line) => JSON.parse(line)),
    exitStatus: () => exit,
    // The exit status, or null when it has not exited within `ms`.
    async waitExit(ms) {
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms, null)));
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      return result;
    },
    // SIGTERM, then SIGKILL if it does not exit within 10 s; the exit status.
    async stop() {
      if (!exit) {
        child.kill('SIGTERM');
        if (!(await proc.waitExit(10_000))) child.kill('SIGKILL');
        await exited;
      }
      return exit;
    },
    async kill() {
      if (!exit) child.kill('SIGKILL');
      await exited;
      return exit;
    },
    // Resident memory in KiB (VmRSS), as the kernel counts it now.
    rssKiB() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]);
    },
  };
  return proc;
}

async function waitHealthy(proc, healthPath, name) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitStatus()) throw new Error(`${name} exited (${JSON.stringify(proc.exitStatus())}): ${proc.logText()}`);
    const health = await request(proc, 'GET', healthPath).catch(() => null);
    if (health?.status === 200) return proc;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${name} did not become healthy within 10 s: ${proc.logText()}`);
    }
    await sleep(50);
  }
}

// Starts vox-relay as the relay role with `settings` (VOX_RELAY_* names) on
// `port` (a free one unless given: a restart reuses its predecessor's) and
// waits until GET /healthz answers 200.
export async function startRelay(settings = {}, { port } = {}) {
  port ??= await freePort();
  const relay = spawnLogged('relay', env.relayBin, 'VOX_RELAY_', {
    VOX_RELAY_HOST: '127.0.0.1',
    VOX_RELAY_PORT: String(port),
    VOX_RELAY_DATABASE_URL: `host=127.0.0.1 port=${env.pgPort} dbname=${database} user=${relayRole}`,
    ...settings,
  });
  Object.assign(relay, { port, url: `http://127.0.0.1:${port}`, settings });
  return waitHealthy(relay, '/healthz', 'vox-relay');
}

// The relay on the same port again, with the same settings.
export const restartRelay = (relay) => startRelay(relay.settings, { port: relay.port });

// Starts vox-shim as the shim role; webhooks are signed with each org's secret.
export async function startShim() {
  const port = await freePort();
  const shim = spawnLogged('shim', env.shimBin, 'VOX_SHIM_', {
    VOX_SHIM_HOST: '127.0.0.1',
    VOX_SHIM_PORT: String(port),
    VOX_SHIM_DATABASE_URL: `host=127.0.0.1 port=${env.pgPort} dbname=${database} user=${shimRole}`,
  });
  Object.assign(shim, { port, url: `http://127.0.0.1:${port}` });
  return waitHealthy(shim, '/health', 'vox-shim');
}

// A webhook through the shim for `tenant`, signed as Vapi's HMAC credential
// does: x-timestamp, and x-signature = hex HMAC-SHA256 of "{timestamp}.{body}".
export async function postWebhook(shim, tenant, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', tenant.secret).update(`${timestamp}.${body}`).digest('hex');
  const response = await request(shim, 'POST', `/webhooks/vapi/${tenant.orgId}`, {
    body,
    headers: { 'content-type': 'application/json', 'x-timestamp': timestamp, 'x-signature': signature },
  });
  if (response.status !== 200) throw new Error(`the shim answered ${response.status}: ${response.text}`);
  return response.json;
}

// ---------------------------------------------------------------- HTTP ---

// One HTTP request on a connection of its own; the body read whole and
// parsed when JSON.
export async function request(server, method, pathname, { body, headers = {} } = {}) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { connection: 'close', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

// GET /metrics as a lookup: value(name) sums the samples of that name; 0
// when there is none.
export async function metrics(relay) {
  const response = await request(relay, 'GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const samples = [];
  for (const line of response.text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)$/.exec(line);
    if (match) samples.push({ name: match[1], value: Number(match[2]) });
  }
  return {
    text: response.text,
    value: (name) => samples.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0),
  };
}

// The path of an org's feed with the query parameters given (undefined ones
// left out, every value URL-encoded).
export function feedPath(orgId, query = {}) {
  const params = Object.entries(query).filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`);
  return `/v1/orgs/${orgId}/feed${params.length ? `?${params.join('&')}` : ''}`;
}

// ----------------------------------------------------------------- SSE ---

// Reads a text/event-stream as the WHATWG EventSource parser does: events
// (type, id, data, and the JSON in data), comment lines, retry. Lines end in
// CRLF, LF or CR; an event is dispatched at a blank line and only when it
// has data.
export class SseParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buffer = '';
    this.lastEventId = '';
    this.retry = null;
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.hasData = false;
    this.id = undefined;
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) return;
      // A CR at the very end may be the first half of a CRLF.
      if (this.buffer[end] === '\r' && end === this.buffer.length - 1) return;
      const length = this.buffer.startsWith('\r\n', end) ? 2 : 1;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.id !== undefined) this.lastEventId = this.id;
      if (this.hasData) {
        const data = this.data.join('\n');
        let json;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        this.onEvent({ type: this.type || 'message', id: this.lastEventId, data, json, at: Date.now() });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) {
      this.onComment(line.slice(1), Date.now());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

// Opens a feed: GET `pathname` with `headers`. Resolves once the response
// head is in: { status, headers, body (the whole body unless 200) } and, for
// a 200, the stream so far: events, comments (with the time each came),
// retry, `ended` (a promise of the time the relay ended it), close(), and
// waits on what comes.
export function openStream(relay, pathname, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(relay.url + pathname, { headers, agent: false }, (res) => {
      // The timeout is the head's: a stream may be silent up to a heartbeat.
      req.setTimeout(0);
      const stream = {
        status: res.statusCode,
        headers: res.headers,
        events: [],
        comments: [],
        endedAt: null,
        waiters: new Set(),
        close: () => req.destroy(),
      };
      if (res.statusCode !== 200) {
        const parts = [];
        res.on('data', (part) => parts.push(part));
        res.on('end', () => resolve({ ...stream, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
        return;
      }
      const parser = new SseParser((event) => stream.events.push(event),
        (text, at) => stream.comments.push({ text, at }));
      const changed = () => stream.waiters.forEach((check) => check());
      res.setEncoding('utf8');
      res.on('data', (text) => {
        parser.push(text);
        stream.retry = parser.retry;
        changed();
      });
      stream.ended = new Promise((resolveEnd) => {
        const end = () => {
          stream.endedAt ??= Date.now();
          resolveEnd(stream.endedAt);
          changed();
        };
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
      });
      // Resolves when check(stream) holds; rejects after `ms` with `what`.
      stream.until = (check, ms, what) => new Promise((resolveWait, rejectWait) => {
        const test = () => {
          if (!check(stream)) return;
          cleanup();
          resolveWait(stream);
        };
        const timer = setTimeout(() => {
          cleanup();
          rejectWait(new Error(`${what ?? 'condition'} not met within ${ms} ms: ${stream.events.length} events, ` +
            `ended ${stream.endedAt !== null}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          stream.waiters.delete(test);
        };
        stream.waiters.add(test);
        test();
      });
      stream.untilEvents = (count, ms = 10_000) =>
        stream.until((s) => s.events.length >= count, ms, `${count} events`);
      // The events of type message (outbox rows), as their data's JSON.
      stream.messages = () => stream.events.filter((e) => e.type === 'message').map((e) => e.json);
      resolve(stream);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('no response head')));
    req.on('error', reject);
  });
}

// An org's feed with the credential in the Authorization header.
export const openFeed = (relay, orgId, token, { lastEventId, headers = {} } = {}) =>
  openStream(relay, feedPath(orgId), {
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
    ...headers,
  });

// A client that behaves as a browser's EventSource: it reconnects whenever
// its stream ends or cannot be opened, with Last-Event-ID set to the last
// id it received, until stop(). Keeps every message (outbox row) in arrival
// order with the time it came, and counts snapshots, resets and connections. It waits `retryMs`
// before reconnecting (shorter than the relay's retry: 2000, to keep the
// tests short).
export class Follower {
  constructor(relayRef, orgId, token, { retryMs = 100 } = {}) {
    this.relayRef = relayRef; // () => the relay to connect to now
    this.orgId = orgId;
    this.token = token;
    this.retryMs = retryMs;
    this.messages = [];
    this.arrivals = [];
    this.snapshots = 0;
    this.resets = 0;
    this.connections = 0;
    this.refusals = [];
    this.lastEventId = undefined;
    this.stopped = false;
    this.stream = null;
    this.done = this.run();
  }

  async run() {
    while (!this.stopped) {
      let stream;
      try {
        stream = await openFeed(this.relayRef(), this.orgId, this.token, { lastEventId: this.lastEventId });
      } catch {
        await sleep(this.retryMs);
        continue;
      }
      if (stream.status !== 200) {
        this.refusals.push(stream.status);
        await sleep(this.retryMs);
        continue;
      }
      this.stream = stream;
      if (this.stopped) stream.close();
      this.connections++;
      let seen = 0;
      const take = () => {
        for (; seen < stream.events.length; seen++) {
          const event = stream.events[seen];
          if (event.type === 'snapshot') this.snapshots++;
          else if (event.type === 'reset') this.resets++;
          else if (event.type === 'message') {
            this.messages.push(event.json);
            this.arrivals.push(event.at);
          }
          if (event.id) this.lastEventId = event.id;
        }
      };
      stream.waiters.add(take);
      take();
      await stream.ended;
      take();
      if (!this.stopped) await sleep(this.retryMs);
    }
  }

  keys() {
    return this.messages.map(eventKey);
  }

  // Resolves once check(this) holds; rejects after `ms` with `what`.
  async until(check, ms, what) {
    for (const deadline = Date.now() + ms; !check(this);) {
      if (Date.now() > deadline) {
        throw new Error(`${what} not met after ${ms} ms: ${this.messages.length} messages, ` +
          `${this.connections} connections, refusals ${JSON.stringify(this.refusals)}`);
      }
      await sleep(20);
    }
  }

  untilMessages(count, ms) {
    return this.until((f) => f.messages.length >= count, ms, `${count} messages`);
  }

  // Its first snapshot is in: from here on it misses nothing.
  untilConnected(ms = 10_000) {
    return this.until((f) => f.snapshots > 0, ms, 'a snapshot');
  }

  async stop() {
    this.stopped = true;
    this.stream?.close();
    await this.done;
  }
}

// The first key that occurs twice, or undefined.
export function firstRepeat(keys) {
  const seen = new Set();
  return keys.find((key) => (seen.has(key) ? true : (seen.add(key), false)));
}

// got equals expected, element for element; when not, says where they part
// (lengths, the first differing index and what is there) instead of
// printing thousands of keys.
export function assertSequence(got, expected, what) {
  const at = got.findIndex((key, i) => key !== expected[i]);
  if (at < 0 && got.length === expected.length) return;
  const first = at < 0 ? Math.min(got.length, expected.length) : at;
  const around = (list) => JSON.stringify(list.slice(Math.max(0, first - 1), first + 2));
  const seen = new Set(got);
  const missing = expected.filter((key) => !seen.has(key)).length;
  throw new assert.AssertionError({
    message: `${what}: ${got.length} items, ${expected.length} expected, ${missing} of them missing, ` +
      `repeated ${JSON.stringify(firstRepeat(got) ?? null)}; first difference at ${first}: ` +
      `got ${around(got)}, expected ${around(expected)}`,
  });
}
