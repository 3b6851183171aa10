// Shared machinery of vox-relay's archiver tests: the environment, a fresh
// database with two tenants and their feed credentials, recording jobs made
// the real way (an end-of-call-report through vox.handle_event, or a signed
// webhook through vox-shim), relay and shim processes with their logs (a
// relay optionally inside a network namespace of its own: netns.mjs), the
// object store (store.mjs) and the origin (origin.mjs), and a record of every
// secret this run used (zz-logs.test.mjs checks every log against it).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { freshDatabase, loginRole, onEveryNode, onWorkers } from '../../../test/lib/every-node.mjs';
import { startOrigin } from './origin.mjs';
import { startStore } from './store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// scripts/test.sh sets these (as for relay/test/e2e).
export const env = {
  relayBin: process.env.VOX_RELAY_BIN ?? path.resolve(here, '../../../build/vox-relay'),
  shimBin: process.env.VOX_SHIM_BIN ?? path.resolve(here, '../../../build/vox-shim'),
  pgHost: process.env.PGHOST ?? '/tmp/devpg',
  pgPort: Number(process.env.PGPORT ?? 5499),
  pgUser: process.env.PGUSER ?? 'postgres',
  logDir: process.env.VOX_E2E_LOG_DIR ?? path.join(os.tmpdir(), 'vox-relay-archive-logs'),
  sanitized: process.env.VOX_E2E_SANITIZED === '1',
  // The files this run runs (names without .test.mjs, space-separated), when
  // not all of them: zz-logs.test.mjs looks for the logs of these.
  files: process.env.VOX_E2E_FILES?.split(' ').filter(Boolean),
};
fs.mkdirSync(env.logDir, { recursive: true });

export const database = 'vox_relay_archive';
const relayRole = 'vox_relay_archive';
const shimRole = 'vox_relay_archive_shim';
export const timeoutMs = 10_000;

function currentRunId() {
  if (process.env.VOX_E2E_RUN_ID) return process.env.VOX_E2E_RUN_ID;
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return `${process.ppid}-${startTime}`;
}
export const logPrefix = `vox-relay-archive-${currentRunId()}-`;
export const recordPath = path.join(env.logDir, `${logPrefix}record.jsonl`);
const testFile = path.basename(process.argv[1] ?? 'repl', '.test.mjs');

// Secrets go to the record the moment they are made (kinds: token,
// signature, secret, url).
export function record(kind, value) {
  fs.appendFileSync(recordPath, JSON.stringify({ kind, value }) + '\n');
  return value;
}

// ---------------------------------------------------------------- database ---

export async function connect(dbname = database) {
  const client = new pg.Client({ host: env.pgHost, port: env.pgPort, user: env.pgUser, database: dbname });
  await client.connect();
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

export const query = (text, params) => withClient((client) => client.query(text, params));

async function addTenant(client, name) {
  const tenant = {
    name,
    orgId: randomUUID(),
    agentId: randomUUID(),
    assistantId: `asst_${randomUUID()}`,
    phoneNumberId: `pn_${randomUUID()}`,
    number: `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`,
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
  await client.query(`INSERT INTO vox.webhook_secrets (org_id, scheme, secret) VALUES ($1, 'hmac', $2)`,
    [tenant.orgId, tenant.secret]);
  return tenant;
}

// A fresh database for one test file with orgs A and B; the relay's login
// role holds vox_relay only, the shim's the two webhook entry points. On a
// Citus coordinator (VOX_E2E_FRESH_DATABASE) the roles and grants are made on
// every node.
export async function freshWorld() {
  const withoutVox = await freshDatabase(process.env.VOX_E2E_FRESH_DATABASE, database, (fn) => withClient(fn, 'postgres'));
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

export async function newCredential(orgId) {
  const { rows } = await query('SELECT credential_id, token FROM vox.create_feed_credential($1, $2, NULL::interval)',
    [orgId, `archive e2e ${testFile}`]);
  return { id: rows[0].credential_id, token: record('token', rows[0].token) };
}

// ALTER SYSTEM SET name = value (NULL: RESET) and a reload, on every node of
// a Citus cluster (the org's worker reads it); resolves once a new session
// sees it through `check` (SQL returning one boolean). vox's library is loaded
// first so that its settings are known by their types.
export async function setSystem(name, value, check) {
  await withClient(async (client) => {
    await client.query('SELECT vox.queue_max_attempts()');
    const command = value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`;
    await client.query(command);
    await client.query('SELECT pg_reload_conf()');
    await onWorkers(client, 'SELECT vox.queue_max_attempts()');
    await onWorkers(client, command);
    await onWorkers(client, 'SELECT pg_reload_conf()');
  });
  if (!check) return;
  for (const deadline = Date.now() + 10_000; ;) {
    const { rows } = await query(check);
    if (Object.values(rows[0])[0] === true) return;
    if (Date.now() > deadline) throw new Error(`${name} = ${value} not in effect after 10 s (${check})`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- payloads ---

const vapiOrgId = randomUUID();

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
    customer: { number: '+15550001111' },
  };
}

// Vapi's end-of-call-report whose artifact.recordingUrl is `recordingUrl`.
export function endOfCallReport(call, recordingUrl) {
  return JSON.stringify({
    message: {
      timestamp: Date.now(),
      type: 'end-of-call-report',
      endedReason: 'customer-ended-call',
      startedAt: '2026-12-05T08:00:00.000Z',
      endedAt: '2026-12-05T08:03:30.000Z',
      artifact: { transcript: 'AI: Thanks for calling. User: I need a cleaning.', recordingUrl },
      analysis: { summary: 'Caller booked a cleaning.', successEvaluation: 'true' },
      call: { ...call, status: 'ended' },
    },
  });
}

// The queue row of a tenant's call, or undefined.
export async function jobOf(tenant, callId) {
  const { rows } = await query(
    `SELECT *, extract(epoch FROM available_at - now()) AS available_in
       FROM vox.recording_upload_queue WHERE org_id = $1 AND vapi_call_id = $2`, [tenant.orgId, callId]);
  return rows[0];
}

export async function job(id) {
  const { rows } = await query(
    `SELECT *, extract(epoch FROM available_at - now()) AS available_in FROM vox.recording_upload_queue WHERE id = $1`,
    [id]);
  return rows[0];
}

// A call of `tenant` ended with a report whose recording is at `url`, applied
// by vox.handle_event: { call, id (the queue row's) }.
export async function createJob(tenant, url, call = vapiCall(tenant)) {
  const { rows } = await query('SELECT vox.handle_event($1::uuid, $2::jsonb) AS result',
    [tenant.orgId, endOfCallReport(call, url)]);
  const row = await jobOf(tenant, call.id);
  if (!row) throw new Error(`no recording job for the report (handle_event: ${JSON.stringify(rows[0].result)})`);
  return { call, id: Number(row.id), tenant };
}

// Polls the job until check(row) holds; the row. Rejects after `ms`.
export async function waitJob(id, check, ms = 30_000, what = 'condition') {
  let row;
  for (const deadline = Date.now() + ms; ;) {
    row = await job(id);
    if (row && check(row)) return row;
    if (Date.now() > deadline) {
      throw new Error(`job ${id}: ${what} not met within ${ms} ms; row: ${JSON.stringify(row)}`);
    }
    await sleep(100);
  }
}

export const waitDone = (id, ms) => waitJob(id, (row) => row.status === 'done', ms, 'done');

export async function waitUntil(check, ms, what) {
  for (const deadline = Date.now() + ms; ;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(100);
  }
}

// ----------------------------------------------------------- processes ---

// A free port: kernel-chosen, or from VOX_E2E_HTTP_PORTS (FIRST-LAST).
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

// Starts `binary` with `environment` (the caller's variables with `prefix`
// dropped), optionally through `wrapper` (a command and its arguments, such
// as nsenter); stdout and stderr go to one log file of its own.
function spawnLogged(kind, binary, prefix, environment, { wrapper = [] } = {}) {
  const logPath = path.join(env.logDir, `${logPrefix}${testFile}-${kind}-${++processCount}.log`);
  const logFd = fs.openSync(logPath, 'w');
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith(prefix)));
  const [command, ...args] = [...wrapper, binary];
  const child = spawn(command, args, { env: { ...inherited, ...environment }, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let exit = null;
  exited.then((result) => (exit = result));
  const proc = {
    child,
    pid: child.pid,
    logPath,
    logText: () => fs.readFileSync(logPath, 'utf8'),
    logLines: () => proc.logText().split('\n').filter(Boolean).map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        return { unparsed: line };
      }
    }),
    exitStatus: () => exit,
    async waitExit(ms) {
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms, null)));
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      return result;
    },
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
    // { rss, hwm } in KiB: resident memory now, and its peak so far.
    memoryKiB() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return {
        rss: Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]),
        hwm: Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)[1]),
      };
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

// The archiver's settings for `store` and `origin` (VOX_RELAY_* names); the
// secret key only in the environment, as the relay takes it.
export function archiveSettings(store, origin, overrides = {}) {
  return {
    VOX_RELAY_S3_ENDPOINT: store.endpoint,
    VOX_RELAY_S3_REGION: store.region,
    VOX_RELAY_S3_BUCKET: store.bucket,
    VOX_RELAY_S3_PATH_STYLE: 'true',
    VOX_RELAY_S3_KEY_PREFIX: 'recordings/',
    VOX_RELAY_S3_ACCESS_KEY_ID: store.accessKeyId,
    VOX_RELAY_S3_SECRET_ACCESS_KEY: store.secretAccessKey,
    VOX_RELAY_ARCHIVE_WORKERS: '2',
    VOX_RELAY_ARCHIVE_POLL_MS: '200',
    VOX_RELAY_ARCHIVE_LEASE_SECONDS: '60',
    VOX_RELAY_ARCHIVE_DOWNLOAD_HOSTS: 'localhost',
    VOX_RELAY_ARCHIVE_CA_FILE: origin.certFile,
    VOX_RELAY_ARCHIVE_ALLOW_LOOPBACK: 'true',
    ...overrides,
  };
}

// Starts vox-relay as the relay role with `settings` on `port` (a free one
// unless given) and waits until GET /healthz answers 200. With `netns` (from
// startNetns) it runs inside that namespace, reaches PostgreSQL over its Unix
// socket and is asked over the namespace's forwarded socket.
export async function startRelay(settings = {}, { port, netns } = {}) {
  port ??= netns ? netns.relayPort : await freePort();
  const dbParams = `dbname=${database} user=${relayRole}`;
  const relay = spawnLogged('relay', env.relayBin, 'VOX_RELAY_', {
    VOX_RELAY_HOST: '127.0.0.1',
    VOX_RELAY_PORT: String(port),
    VOX_RELAY_DATABASE_URL: netns ? `host=${env.pgHost} port=${env.pgPort} ${dbParams}`
      : `host=127.0.0.1 port=${env.pgPort} ${dbParams}`,
    ...settings,
  }, { wrapper: netns ? ['nsenter', `--net=/proc/${netns.pid}/ns/net`, '--'] : [] });
  Object.assign(relay, { port, settings, netns });
  if (netns) relay.socketPath = netns.relaySocket;
  else relay.url = `http://127.0.0.1:${port}`;
  return waitHealthy(relay, '/healthz', 'vox-relay');
}

export const restartRelay = (relay) => startRelay(relay.settings, { port: relay.port, netns: relay.netns });

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

// A webhook through the shim, signed as Vapi's HMAC credential does.
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

// One HTTP request on a connection of its own (over TCP, or the server's
// Unix socket); the body read whole, parsed when JSON. Redirects are not
// followed.
export function request(server, method, pathname, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const target = server.socketPath ? { socketPath: server.socketPath } : new URL(server.url);
    const req = http.request({
      ...(server.socketPath ? target : { host: target.hostname, port: target.port }),
      method, path: pathname, headers: { connection: 'close', ...headers }, agent: false,
    }, (res) => {
      const parts = [];
      res.on('data', (part) => parts.push(part));
      res.on('end', () => {
        const buffer = Buffer.concat(parts);
        const text = buffer.toString();
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, buffer, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${pathname}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// GET of an absolute http URL (a presigned one): { status, buffer, text }.
export function getUrl(url) {
  const u = new URL(url);
  return request({ url: `${u.protocol}//${u.host}` }, 'GET', u.pathname + u.search);
}

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
    has: (name) => samples.some((s) => s.name === name),
    value: (name) => samples.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0),
  };
}

// ------------------------------------------------------------- the world ---

// The store (s3rver behind the verifying proxy) and the origin of one test
// file, with credentials made for this run and recorded.
export async function startServices() {
  const secretAccessKey = record('secret', `sk${randomBytes(20).toString('base64url')}`);
  const store = await startStore({
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey,
    bucket: 'vox-archive',
    region: 'us-east-1',
    proxyPort: await freePort(),
    storePort: await freePort(),
    record,
  });
  const origin = await startOrigin({ token: `t${randomBytes(12).toString('hex')}`, record, port: await freePort() });
  return { store, origin };
}

// The key vox-relay is to use for a job (spec: prefix, org, call, queue id,
// extension).
export const expectedKey = (tenant, callId, id, ext = 'wav') => `recordings/${tenant.orgId}/${callId}/${id}.${ext}`;

// Lines of a relay's log with this msg.
export const logged = (relay, msg) => relay.logLines().filter((line) => line.msg === msg);
