// SIGTERM with a request in flight: the shim stops accepting connections at
// once, the request still gets its 200 once the database answers, and the
// process exits 0. SIGTERM during start-up is not lost either.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { connect, freshWorld, postSigned, rowsOf, spawnShim, startShim, statusUpdate, vapiCall } from './harness.mjs';

let world, shim, db, locker;

before(async () => {
  world = await freshWorld();
  // Timeouts far above how long the test holds its lock, so that only the
  // lock's release decides when the request finishes.
  shim = await startShim(world, { VOX_SHIM_LOCK_TIMEOUT_MS: '30000', VOX_SHIM_STATEMENT_TIMEOUT_MS: '30000' });
  db = await connect();
  locker = await connect();
});
after(async () => {
  await locker?.end();
  await db?.end();
  await shim?.stop();
});

// Resolves true when a TCP connection to the port is refused, false when it
// is not: accepted, or reset because it reached the listening socket just as
// that closed.
function connectionRefused(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000, () => socket.destroy(new Error('connect timed out')));
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error) => {
      if (error.code === 'ECONNREFUSED') resolve(true);
      else if (error.code === 'ECONNRESET') resolve(false);
      else reject(error);
    });
  });
}

// Polls until `check` returns true, for at most `ms`.
async function eventually(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('a request in flight at SIGTERM gets its 200, the process exits 0', async () => {
  // Warm up so that the org's secrets are cached and the request below only
  // waits for the lock.
  assert.equal((await postSigned(shim, world.a.secrets.sha256, statusUpdate(vapiCall(world.a), 'ringing'),
    { orgId: world.a.orgId })).status, 200);

  await locker.query('BEGIN');
  await locker.query('LOCK TABLE vox.call_logs IN ACCESS EXCLUSIVE MODE');
  const call = vapiCall(world.a);
  const inFlight = postSigned(shim, world.a.secrets.sha256, statusUpdate(call, 'in-progress'), { orgId: world.a.orgId });
  // On a Citus cluster (the citus suite) the call waits on a worker, in a
  // backend of Citus' own.
  const citus = (await db.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).rowCount > 0;
  await eventually(async () => {
    const { rowCount } = await db.query(citus
      ? `SELECT 1 FROM citus_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%handle_event%'`
      : `SELECT 1 FROM pg_stat_activity WHERE application_name = 'vox-shim' AND wait_event_type = 'Lock' AND datname = current_database()`);
    return rowCount === 1;
  }, 5000, 'handle_event to wait for the lock');

  shim.child.kill('SIGTERM');
  await eventually(() => connectionRefused(shim.port), 5000, 'the shim to stop accepting connections');
  assert.equal(shim.child.exitCode, null, 'exited with a request in flight');

  await locker.query('COMMIT');
  const response = await inFlight;
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json.status, 'processed');
  assert.equal((await rowsOf(db, { callId: call.id })).call_logs.length, 1);

  assert.deepEqual(await shim.stop(), { code: 0, signal: null });
  assert.ok(await connectionRefused(shim.port));
  // The log tells the same story: stopping, the request served, stopped.
  const lines = shim.logLines();
  const stopping = lines.findIndex((line) => line.msg === 'stopping');
  const served = lines.findIndex((line) => line.request_id === response.headers.get('x-request-id'));
  assert.ok(stopping >= 0 && stopping < served, 'the in-flight request was served after "stopping"');
  assert.equal(lines.at(-1).msg, 'stopped');
});

describe('SIGTERM during start-up', () => {
  // Spawns a shim, runs `signal(shim)` (which sends SIGTERM), and returns how
  // it exited within 5 s, or null when it did not (then it is killed).
  async function exitAfterSigterm(signal) {
    const shim = await spawnShim(world);
    try {
      await signal(shim);
      return { shim, status: await shim.waitExit(5000) };
    } finally {
      if (!shim.exitStatus()) {
        shim.child.kill('SIGKILL');
        await shim.waitExit(5000);
      }
    }
  }

  // Gone within 5 s: exit code 0, or killed by the signal itself when it
  // came before main() blocked it (the loader still running, nothing logged
  // yet: a stop all the same).
  function assertStopped({ shim, status }, when) {
    assert.ok(status, `${when}: still running 5 s after SIGTERM; its log: ${shim.logText()}`);
    if (status.signal === 'SIGTERM')
      assert.equal(shim.logText(), '', `${when}: killed by SIGTERM after it had started (not handled)`);
    else assert.deepEqual(status, { code: 0, signal: null }, `${when}: ${shim.logText()}`);
  }

  test('at a random moment within 50 ms of spawning, 5 times: it exits', async () => {
    for (let i = 0; i < 5; i++) {
      const delay = randomInt(0, 51);
      const exit = await exitAfterSigterm(async (shim) => {
        await sleep(delay);
        shim.child.kill('SIGTERM');
      });
      assertStopped(exit, `SIGTERM ${delay} ms after spawning`);
    }
  });

  // It logs "listening" just before it binds and listens. A signal sent the
  // moment that line appears (the log polled without yielding) can land
  // before the server can be stopped, which a random delay almost never
  // does; here about one try in ten did, hence 30 tries.
  test('the moment it logs "listening", before it listens, 30 times: it exits 0', async () => {
    for (let i = 0; i < 30; i++) {
      const exit = await exitAfterSigterm(async (shim) => {
        // The secret listener's thread logs too, and may come first.
        const deadline = Date.now() + 5000;
        while (!/"msg":"listening"/.test(fs.readFileSync(shim.logPath, 'utf8')) && Date.now() < deadline);
        shim.child.kill('SIGTERM');
      });
      const when = `SIGTERM at "listening" (try ${i + 1})`;
      assertStopped(exit, when);
      assert.deepEqual(exit.status, { code: 0, signal: null }, when);
      assert.match(exit.shim.logText(), /^\{[^\n]*"msg":"listening"/m, `${when}: it had logged "listening"`);
    }
  });
});
