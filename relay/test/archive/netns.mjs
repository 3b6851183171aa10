// A network namespace for a relay whose downloads must be refused: only its
// own loopback, where traps listen on the "remote" addresses (10.1.2.3,
// 169.254.169.254, ports 443 and 80) and the origin's ports lead to the
// origin's Unix sockets outside (netns-helper.mjs). Whatever the relay does,
// nothing it connects to is outside this machine, and a connection to a
// refused address shows as a trap. The store's proxy is there too. Needs root (unshare -n, nsenter).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const trapAddresses = ['10.1.2.3', '169.254.169.254'];

export async function startNetns(origin, store, { relayPort = 8080 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vox-archive-netns-'));
  const relaySocket = path.join(dir, 'relay.sock');
  const config = {
    traps: trapAddresses.flatMap((host) => [{ host, port: 443 }, { host, port: 80 }]),
    inbound: [
      { host: '127.0.0.1', port: origin.port, socket: origin.httpsSocket },
      { host: '127.0.0.1', port: origin.plainPort, socket: origin.httpSocket },
      { host: '127.0.0.1', port: store.port, socket: store.socketPath },
    ],
    outbound: [{ socket: relaySocket, host: '127.0.0.1', port: relayPort }],
  };
  const child = spawn('unshare', ['-n', process.execPath, path.join(here, 'netns-helper.mjs'), JSON.stringify(config)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const traps = [];
  let resolveReady, rejectReady;
  const ready = new Promise((resolve, reject) => ([resolveReady, rejectReady] = [resolve, reject]));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line);
    if (message.ready) resolveReady();
    if (message.trap) traps.push({ ...message, at: Date.now() });
  });
  child.on('exit', (code) => rejectReady(new Error(`netns helper exited ${code} before it was ready`)));
  const timer = setTimeout(() => rejectReady(new Error('netns helper not ready in 10 s')), 10_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid,
    relayPort,
    relaySocket,
    traps,
    async close() {
      child.stdin.end();
      child.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
