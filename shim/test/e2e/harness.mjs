// Shared machinery of the vox-shim end-to-end tests: the environment, a fresh
// database with three tenants, signers that do not share the shim's code,
// Vapi-shaped payloads, shim processes with their logs, and a record of every
// secret and phone number this run used (zz-logs.test.mjs checks the logs
// against it).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { Webhook } from 'standardwebhooks';

import { freshDatabase, loginRole, onEveryNode } from '../../../test/lib/every-node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgCtl = '/usr/lib/postgresql/15/bin/pg_ctl';

// scripts/test.sh sets all of these; the defaults are the scratch cluster of
// a development machine.
export const env = {
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
  // The server pgStopImmediate crashes and pgStart starts, when it is not
  // the one the shim connects to (the citus suite crashes a worker).
  crashedPgHost: process.env.VOX_E2E_CRASHED_PGHOST ?? process.env.PGHOST ?? '/tmp/devpg',
  crashedPgPort: Number(process.env.VOX_E2E_CRASHED_PGPORT ?? process.env.PGPORT ?? 5499),
  logDir: process.env.VOX_E2E_LOG_DIR ?? path.join(os.tmpdir(), 'vox-shim-e2e-logs'),
  // A command that, given a database name, makes that database anew with vox
  // in it (the citus suite's: on every node, distributed). Unset: the
  // database is dropped and created here, vox with it.
  freshDatabase: process.env.VOX_E2E_FRESH_DATABASE,
  // The files this run runs (names without .test.mjs, space-separated), when
  // not all of them: zz-logs.test.mjs looks for the logs of these.
  files: process.env.VOX_E2E_FILES?.split(' ').filter(Boolean),
};
fs.mkdirSync(env.logDir, { recursive: true });

const database = 'vox_e2e';
export const shimRole = 'vox_shim_e2e';
const timeoutMs = 10_000; // of every HTTP request and shell command

// The run's name, so that zz-logs.test.mjs checks exactly the files this run
// wrote: scripts/test.sh sets VOX_E2E_RUN_ID (it runs one file per node
// process); otherwise node --test runs each file in its own process under one
// runner process, whose pid and start time (field 22 of /proc/PID/stat) do.
function currentRunId() {
  if (process.env.VOX_E2E_RUN_ID) return process.env.VOX_E2E_RUN_ID;
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return `${process.ppid}-${startTime}`;
}
export const logPrefix = `vox-shim-e2e-${currentRunId()}-`;
export const recordPath = path.join(env.logDir, `${logPrefix}record.jsonl`);
const testFile = path.basename(process.argv[1] ?? 'repl', '.test.mjs');

// Secrets and phone numbers go to the record the moment they are made, so
// that even a run that crashes half-way leaves a complete list.
function record(kind, value) {
  fs.appendFileSync(recordPath, JSON.stringify({ kind, value }) + '\n');
  return value;
}

// ---------------------------------------------------------------- secrets ---

export const randomSecret = () => record('secret', randomBytes(24).toString('base64url'));

// One secret of every scheme and HMAC variant the shim supports, in the shape
// of vox.webhook_secrets_for() and of the secrets file. Each has a signature
// header of its own, so a request only ever matches the secret it was made for.
export function newSecretSet() {
  return {
    shared: { scheme: 'shared', secret: randomSecret() },
    // The key alone is recorded: the logs must not hold it with or without whsec_.
    standard: { scheme: 'standard-webhooks', secret: 'whsec_' + record('secret', randomBytes(32).toString('base64')) },
    // Vapi's defaults: x-signature, hex, x-timestamp, "{timestamp}.{body}".
    sha256: { scheme: 'hmac', secret: randomSecret(), algorithm: 'sha256' },
    sha512: {
      scheme: 'hmac',
      secret: randomSecret(),
      algorithm: 'sha512',
      signature_header: 'x-sha512-signature',
      signature_encoding: 'base64',
      signature_prefix: 'sha512=',
    },
    sha1: { scheme: 'hmac', secret: randomSecret(), algorithm: 'sha1', signature_header: 'x-sha1-signature' },
    custom: {
      scheme: 'hmac',
      secret: randomSecret(),
      signature_header: 'x-custom-signature',
      timestamp_header: 'x-custom-timestamp',
      payload_format: 'v0:{timestamp}:{body}',
      message_id_header: 'x-message-id',
    },
    bodyOnly: { scheme: 'hmac', secret: randomSecret(), signature_header: 'x-body-signature', include_timestamp: false },
  };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// openssl's own HMAC, fed the exact bytes on stdin: not the shim's code path.
function opensslHmac(algorithm, key, message) {
  return execFileSync('openssl', ['dgst', `-${algorithm}`, '-hmac', key, '-binary'], {
    input: message,
    timeout: timeoutMs,
  });
}

// The headers a sender holding `secret` attaches to `body` (a string, sent
// as UTF-8, or a Buffer of any bytes; the HMAC schemes sign either).
export function signedHeaders(secret, body, { timestamp = nowSeconds(), id = `msg_${randomUUID()}` } = {}) {
  switch (secret.scheme) {
    case 'shared':
      return { 'x-vapi-secret': secret.secret };
    case 'standard-webhooks':
      return {
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': new Webhook(secret.secret).sign(id, new Date(timestamp * 1000), body),
      };
    case 'hmac': {
      const format = secret.payload_format ?? (secret.include_timestamp === false ? '{body}' : '{timestamp}.{body}');
      // The body's bytes spliced in as they are: "$&" and friends stay literal.
      const filled = format.replaceAll('{timestamp}', String(timestamp));
      const at = filled.indexOf('{body}');
      const message = at < 0 ? Buffer.from(filled)
        : Buffer.concat([Buffer.from(filled.slice(0, at)), Buffer.from(body), Buffer.from(filled.slice(at + '{body}'.length))]);
      const mac = opensslHmac(secret.algorithm ?? 'sha256', secret.secret, message);
      const headers = {
        [secret.signature_header ?? 'x-signature']:
          (secret.signature_prefix ?? '') + mac.toString(secret.signature_encoding ?? 'hex'),
      };
      if (secret.include_timestamp !== false || format.includes('{timestamp}'))
        headers[secret.timestamp_header ?? 'x-timestamp'] = String(timestamp);
      if (secret.message_id_header) headers[secret.message_id_header] = id;
      return headers;
    }
  }
  throw new Error(`unknown scheme ${secret.scheme}`);
}

// ---------------------------------------------------------------- database ---

export async function connect(dbname = database, { host = env.pgHost, port = env.pgPort } = {}) {
  const client = new pg.Client({ host, port, user: env.pgUser, database: dbname });
  await client.connect();
  return client;
}

export async function withClient(fn, dbname = database, server = undefined) {
  const client = await connect(dbname, server);
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// The org's number and its customers' numbers: random per run, so that the
// log check looks for values that really went through the shim.
const newPhoneNumber = () => record('phone', `+1${randomInt(200, 1000)}555${String(randomInt(0, 10000)).padStart(4, '0')}`);

async function addTenant(client, name, secrets) {
  const tenant = {
    name,
    orgId: randomUUID(),
    agentId: randomUUID(),
    assistantId: randomUUID(),
    phoneNumberId: randomUUID(),
    number: newPhoneNumber(),
    secrets,
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
  for (const secret of Object.values(secrets ?? {})) await insertSecret(client, tenant.orgId, secret);
  return tenant;
}

// Absent HMAC fields take the column defaults.
export async function insertSecret(client, orgId, secret) {
  const columns = ['org_id', 'scheme', 'secret'];
  const values = [orgId, secret.scheme, secret.secret];
  for (const column of ['algorithm', 'signature_header', 'signature_encoding', 'signature_prefix',
    'include_timestamp', 'timestamp_header', 'payload_format', 'message_id_header']) {
    if (column in secret) {
      columns.push(column);
      values.push(secret[column]);
    }
  }
  const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
  await client.query(`INSERT INTO vox.webhook_secrets (${columns.join(', ')}) VALUES (${placeholders})`, values);
}

// A fresh vox_e2e database for one test file: orgs A and B with a full set of
// secrets each, org C with none, and the shim's own secrets for POST
// /webhooks/vapi in a file. The shim's role may only call the two functions.
export async function freshWorld() {
  const withoutVox = await freshDatabase(env.freshDatabase, database, (fn) => withClient(fn, 'postgres'));
  return withClient(async (client) => {
    if (withoutVox) await client.query('CREATE EXTENSION vox');
    await onEveryNode(client, [loginRole(shimRole), `GRANT USAGE ON SCHEMA vox TO ${shimRole}`]);
    await client.query(`GRANT EXECUTE ON FUNCTION vox.handle_event(uuid, jsonb, text),
                        vox.webhook_secrets_for(uuid) TO ${shimRole}`);
    const a = await addTenant(client, 'Clinic A', newSecretSet());
    const b = await addTenant(client, 'Clinic B', newSecretSet());
    const c = await addTenant(client, 'Clinic C without secrets', null);
    const shimSecrets = newSecretSet();
    const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vox-shim-e2e-'));
    process.on('exit', () => fs.rmSync(secretsDir, { recursive: true, force: true }));
    const secretsFile = path.join(secretsDir, 'secrets.json');
    fs.writeFileSync(secretsFile, JSON.stringify(Object.values(shimSecrets)), { mode: 0o600 });
    return { a, b, c, shimSecrets, secretsFile };
  });
}

// Every event vox applied, as rows (org_id, vapi_call_id, event_id): its
// idempotency mark, or for a final transcript sent without a delivery id its
// utterance, whose unique key is the event key.
export const appliedEventsSql = `(SELECT org_id, vapi_call_id, event_id FROM vox.processed_webhook_events
  UNION SELECT org_id, vapi_call_id, 'transcript:' || vapi_call_id || ':' || content_key FROM vox.call_transcripts)`;

// Every row vox keeps about one call or one org, for "nothing was written"
// and "nothing changed" checks. Timestamps are part of it: an update that
// writes the same values still shows.
export async function rowsOf(client, { orgId, callId }) {
  const where = orgId ? 'org_id = $1' : 'vapi_call_id = $1';
  const key = orgId ?? callId;
  const out = {};
  for (const table of ['call_tracking', 'call_logs', 'calls', 'call_transcripts', 'processed_webhook_events']) {
    const { rows } = await client.query(
      `SELECT to_jsonb(t) AS row FROM vox.${table} t WHERE ${where} ORDER BY to_jsonb(t)::text`, [key]);
    out[table] = rows.map((r) => r.row);
  }
  if (callId) {
    const { rows } = await client.query(
      'SELECT to_jsonb(p) AS row FROM vox.parked_events p WHERE vapi_call_id = $1 ORDER BY id', [callId]);
    out.parked_events = rows.map((r) => r.row);
  }
  return out;
}

export const noRows = (rows) => Object.values(rows).every((list) => list.length === 0);

// Runs a shell command given by the environment (stopping or starting the
// test cluster).
export function shell(command) {
  execFileSync('bash', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
}

// The same without blocking the event loop: requests in flight go on meanwhile.
export function shellAsync(command) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code ?? signal}`))));
  });
}

// Waits until the database takes connections again (after a crash, recovery
// comes first).
export async function waitForDatabase(ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await withClient(async (client) => client.query('SELECT 1'));
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

// ---------------------------------------------------------------- payloads ---

// Vapi's organization (one account holds every vox tenant's assistants).
const vapiOrgId = randomUUID();

// A Vapi Call object for a call to `tenant`'s number and assistant; `extra`
// is merged last.
export function vapiCall(tenant, extra = {}) {
  const createdAt = new Date().toISOString();
  return {
    id: randomUUID(),
    orgId: vapiOrgId,
    createdAt,
    updatedAt: createdAt,
    type: 'inboundPhoneCall',
    status: 'queued',
    assistantId: tenant.assistantId,
    phoneNumberId: tenant.phoneNumberId,
    phoneCallProvider: 'twilio',
    phoneCallTransport: 'pstn',
    customer: { number: newPhoneNumber() },
    ...extra,
  };
}

const envelope = (message) => JSON.stringify({ message: { timestamp: Date.now(), ...message } });

export const statusUpdate = (call, status, extra = {}) =>
  envelope({ type: 'status-update', status, call: { ...call, status }, ...extra });

export const transcript = (call, transcriptType, words) =>
  envelope({ type: 'transcript', role: 'user', transcriptType, transcript: words, call });

export const speechUpdate = (call) => envelope({ type: 'speech-update', status: 'started', role: 'user', call });

export function endOfCallReport(call) {
  const now = Date.now();
  return envelope({
    type: 'end-of-call-report',
    endedReason: 'customer-ended-call',
    cost: 0.1234,
    startedAt: new Date(now - 120_000).toISOString(),
    endedAt: new Date(now).toISOString(),
    artifact: {
      transcript: 'AI: Thanks for calling. User: I need to book a cleaning.',
      recording: { mono: { combinedUrl: `https://storage.vapi.ai/${call.id}-mono.wav` } },
    },
    analysis: { summary: 'Caller booked a cleaning for Tuesday.', successEvaluation: 'true' },
    call: { ...call, status: 'ended' },
  });
}

// Every event of one whole call, each a different effect: status updates,
// `utterances` final transcripts, the end-of-call report.
export function callEvents(call, utterances = 3) {
  const events = [statusUpdate(call, 'ringing'), statusUpdate(call, 'in-progress')];
  for (let i = 0; i < utterances; i++) events.push(transcript(call, 'final', `Utterance ${i} of the caller.`));
  events.push(statusUpdate(call, 'ended', { endedReason: 'customer-ended-call' }), endOfCallReport(call));
  return events;
}

// ---------------------------------------------------------------- the shim ---

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let shimCount = 0;

// Starts vox-shim as the restricted role with `settings` (VOX_SHIM_* names),
// without waiting for it: startShim waits until it serves. Its stdout and
// stderr go to one file of its own in the log directory.
export async function spawnShim(world, settings = {}) {
  const port = await freePort();
  const logPath = path.join(env.logDir, `${logPrefix}${testFile}-${++shimCount}.log`);
  const logFd = fs.openSync(logPath, 'w');
  // Settings from the caller's environment must not change what is tested.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VOX_SHIM_')));
  const child = spawn(env.shimBin, [], {
    env: {
      ...inherited,
      VOX_SHIM_HOST: '127.0.0.1',
      VOX_SHIM_PORT: String(port),
      VOX_SHIM_DATABASE_URL: `host=127.0.0.1 port=${env.pgPort} dbname=${database} user=${shimRole}`,
      VOX_SHIM_SECRETS_FILE: world.secretsFile,
      ...settings,
    },
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let exit = null;
  exited.then((result) => (exit = result));

  const shim = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    logPath,
    logText: () => fs.readFileSync(logPath, 'utf8'),
    // JSON-lines log: every line parsed (a line that is not JSON throws).
    logLines: () => shim.logText().split('\n').filter(Boolean).map((line) => JSON.parse(line)),
    // The request's log line: the shim writes it just after sending the
    // response, so it may follow the response by a moment (more under ASan).
    async logLineOf(requestId) {
      const find = () => shim.logLines().find((line) => line.msg === 'request' && line.request_id === requestId);
      for (const deadline = Date.now() + timeoutMs; !find() && Date.now() < deadline; ) await sleep(20);
      return find();
    },
    // The exit status once it has exited, else null.
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
        if (!(await shim.waitExit(10_000))) child.kill('SIGKILL');
        await exited;
      }
      return exit;
    },
  };
  return shim;
}

// spawnShim, then waits until GET /health answers 200.
export async function startShim(world, settings = {}) {
  const shim = await spawnShim(world, settings);
  const deadline = Date.now() + 5_000;
  for (;;) {
    if (shim.exitStatus()) throw new Error(`vox-shim exited (${JSON.stringify(shim.exitStatus())}): ${shim.logText()}`);
    const health = await request(shim, 'GET', '/health').catch(() => null);
    if (health?.status === 200) return shim;
    if (Date.now() > deadline) {
      await shim.stop();
      throw new Error(`vox-shim did not become healthy within 5 s: ${shim.logText()}`);
    }
    await sleep(50);
  }
}

// One HTTP request to the shim on a connection of its own; the body is read
// whole and parsed when JSON. (An idle keep-alive connection would hold up the
// shim's graceful stop for its keep-alive timeout.)
export async function request(shim, method, pathname, { body, headers = {} } = {}) {
  const response = await fetch(shim.url + pathname, {
    method,
    headers: { connection: 'close', ...headers },
    body,
    duplex: 'half', // required when the body is a stream (sent chunked)
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

// A webhook POST of `body` (a string sent byte for byte, or a stream) with
// `headers`.
export const post = (shim, pathname, body, headers = {}) =>
  request(shim, 'POST', pathname, { body, headers: { 'content-type': 'application/json', ...headers } });

// POST signed with `secret` to the org's route, or to /webhooks/vapi without an org.
export const postSigned = (shim, secret, body, { orgId, ...signing } = {}) =>
  post(shim, orgId ? `/webhooks/vapi/${orgId}` : '/webhooks/vapi', body, signedHeaders(secret, body, signing));

// ---------------------------------------------------------------- raw HTTP ---

// The bytes of one HTTP/1.1 request, headers in the order given, with
// Content-Length added unless the headers have it or Transfer-Encoding.
export function rawRequest(method, pathname, headers = {}, body = '') {
  const bytes = Buffer.from(body);
  const lines = [`${method} ${pathname} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const named = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  if (!named.has('content-length') && !named.has('transfer-encoding')) lines.push(`Content-Length: ${bytes.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), bytes]);
}

// `body` in the chunked transfer coding, `size` bytes a chunk.
export function chunked(body, size = 1024) {
  const bytes = Buffer.from(body);
  const parts = [];
  for (let at = 0; at < bytes.length; at += size) {
    const chunk = bytes.subarray(at, at + size);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

// The HTTP responses one after another in `bytes`, each framed by its
// Content-Length (the shim's always are), and what follows the last whole one.
function parseResponses(bytes) {
  const responses = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...headerLines] = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!status) break;
    const headers = Object.fromEntries(headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }));
    const length = Number(headers['content-length'] ?? 0);
    if (bytes.length < end + 4 + length) break;
    const text = bytes.subarray(end + 4, end + 4 + length).toString('utf8');
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    responses.push({ status: Number(status[1]), headers, text, json });
    at = end + 4 + length;
  }
  return { responses, rest: bytes.subarray(at) };
}

// Writes `bytes` to the shim on a TCP connection of its own and reads all it
// sends back until it closes the connection or `ms` have passed: the
// responses, whether the shim closed, and any bytes after the last whole
// response. With `splitAt`, the bytes from there on are written only once
// the shim has answered what came before, or after `pauseMs`. `localAddress`
// (another loopback address) makes it a different client.
export async function exchange(shim, bytes, { splitAt = bytes.length, pauseMs = 300, ms = 5_000, localAddress } = {}) {
  const socket = net.connect({ host: '127.0.0.1', port: shim.port, localAddress });
  const received = [];
  let answered;
  const firstData = new Promise((resolve) => (answered = resolve));
  const closed = new Promise((resolve) => socket.once('close', () => resolve(true)));
  socket.on('data', (data) => {
    received.push(data);
    answered();
  });
  // A reset, or a write after the shim has closed: 'close' follows.
  socket.on('error', () => {});
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const timeout = (wait) => sleep(wait, false, { ref: false });
  socket.write(bytes.subarray(0, splitAt));
  if (splitAt < bytes.length) {
    await Promise.race([firstData, closed, timeout(pauseMs)]);
    if (!socket.destroyed) socket.write(bytes.subarray(splitAt));
  }
  const shimClosed = await Promise.race([closed, timeout(ms)]);
  socket.destroy();
  return { ...parseResponses(Buffer.concat(received)), closed: shimClosed };
}

// GET /metrics as a lookup: value(name, labels) sums the samples whose labels
// include `labels`; 0 when there is none (a counter not yet incremented).
export async function metrics(shim) {
  const response = await request(shim, 'GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const samples = [];
  for (const line of response.text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return {
    text: response.text,
    value: (name, labels = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0),
  };
}

// ------------------------------------------------------------- a sender ---

// Delivers each of `deliveries` ({ path, secret, body, id }) as a webhook
// sender does: signed afresh on every attempt (with the same delivery id),
// redelivered after anything but a 2xx until it gets one, `senders` at a time
// on keep-alive connections. Gives up after `deadlineMs` overall. onResponse
// sees every attempt's outcome: { status, headers, text } or { error }, with
// sentAt and receivedAt (ms since the epoch). Resolves to the 2xx answer of
// each delivery (undefined where none came) and counts of the others.
export async function deliverAll(shim, deliveries, { senders = 4, deadlineMs = 40_000, pauseMs = 100, onResponse } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: senders });
  const acks = new Array(deliveries.length);
  const counts = { attempts: 0, refused: {}, errors: 0 };
  const giveUpAt = Date.now() + deadlineMs;
  let next = 0;
  const attempt = (delivery) => new Promise((resolve) => {
    const headers = {
      'content-type': 'application/json',
      ...signedHeaders(delivery.secret, delivery.body, { id: delivery.id }),
    };
    const req = http.request(shim.url + delivery.path, { method: 'POST', agent, headers, timeout: timeoutMs }, (res) => {
      const parts = [];
      res.on('data', (part) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(parts).toString() }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error }));
    req.end(delivery.body);
  });
  async function sender() {
    while (next < deliveries.length) {
      const index = next++;
      while (Date.now() < giveUpAt) {
        counts.attempts++;
        const sentAt = Date.now();
        const outcome = { ...(await attempt(deliveries[index])), sentAt, receivedAt: Date.now() };
        onResponse?.(outcome);
        if (outcome.status >= 200 && outcome.status < 300) {
          acks[index] = { status: outcome.status, json: JSON.parse(outcome.text) };
          break;
        }
        if (outcome.error) counts.errors++;
        else counts.refused[outcome.status] = (counts.refused[outcome.status] ?? 0) + 1;
        await sleep(pauseMs);
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: senders }, sender));
  } finally {
    agent.destroy();
  }
  return { acks, ...counts };
}
