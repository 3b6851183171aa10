// The origin that plays Vapi's storage: HTTPS with a self-signed certificate
// made by openssl at start (SAN localhost and 127.0.0.1), on 127.0.0.1 and
// ::1 (vox-relay may resolve localhost to either), plus a plain-http listener
// on the same port number of its own; both also on Unix sockets, for a relay
// in a network namespace of its own (netns.mjs). It serves real PCM WAV
// files, made here: small ones held in memory, and big ones generated as they
// are sent (never held). Every recording URL carries ?token=SECRET, which the
// origin demands (the relay must keep the query) and which no log may show.
// Routes:
//   GET /r/NAME?token=T          the file registered as NAME
//   GET /redirect?to=URL&token=T 302 to URL
// A file can stall after some bytes until released (crashes mid-download).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

// ------------------------------------------------------------------ WAV ---

const header = (dataBytes, rate = 8000, channels = 1, bits = 16) => {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE((rate * channels * bits) / 8, 28);
  h.writeUInt16LE((channels * bits) / 8, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
};

// A valid 16-bit mono 8 kHz PCM WAV of exactly `bytes` bytes (even): a tone
// whose pitch depends on `seed`, with a little noise, so that every call's
// recording differs.
export function makeWav(bytes = 320 * 1024, seed = randomBytes(4).readUInt32LE()) {
  const dataBytes = bytes - 44;
  const wav = Buffer.alloc(bytes);
  header(dataBytes).copy(wav);
  const freq = 200 + (seed % 600);
  let noise = seed || 1;
  for (let i = 0; i < dataBytes / 2; i++) {
    noise = (noise * 1103515245 + 12345) >>> 0;
    const sample = Math.round(9000 * Math.sin((2 * Math.PI * freq * i) / 8000)) + ((noise >>> 16) % 512) - 256;
    wav.writeInt16LE(sample, 44 + i * 2);
  }
  return wav;
}

const chunkBytes = 64 * 1024;
let baseChunk;

// Chunk i of a generated WAV of `total` bytes: a tone, with the chunk's
// number stamped in twice (parts out of order or repeated would show).
function generatedChunk(i, total) {
  baseChunk ??= makeWav(chunkBytes + 44, 12345).subarray(44);
  const start = i * chunkBytes;
  const length = Math.min(chunkBytes, total - start);
  const chunk = Buffer.from(baseChunk.subarray(0, length));
  if (length >= 8) chunk.writeUInt32LE(i, 0);
  if (length >= chunkBytes / 2 + 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, chunkBytes / 2);
  if (i === 0) header(total - 44).copy(chunk);
  return chunk;
}

// A generated WAV of `total` bytes as a stream; nothing of it is held beyond
// one 64 KiB chunk.
export function generatedWav(total) {
  let i = 0;
  const count = Math.ceil(total / chunkBytes);
  return new Readable({
    read() {
      this.push(i < count ? generatedChunk(i++, total) : null);
    },
  });
}

export function generatedWavDigest(total) {
  const hash = createHash('sha256');
  for (let i = 0; i < Math.ceil(total / chunkBytes); i++) hash.update(generatedChunk(i, total));
  return hash.digest('hex');
}

export const sha256 = (buffer) => createHash('sha256').update(buffer).digest('hex');

// ------------------------------------------------------------- the origin ---

export function makeCertificate(dir) {
  const cert = path.join(dir, 'origin-cert.pem');
  const key = path.join(dir, 'origin-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'],
  { stdio: 'ignore' });
  return { cert, key };
}

export async function startOrigin({ token, record = () => {}, port = 0 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vox-archive-origin-'));
  const { cert, key } = makeCertificate(dir);
  const files = new Map(); // name → { body?: Buffer, size, generated?, contentType, stallAfter?, stall? }
  const requests = []; // { scheme, method, path, at, status }
  const sockets = new Set();

  const handler = (scheme) => (req, res) => {
    const url = new URL(req.url, 'https://origin');
    const info = { scheme, method: req.method, path: url.pathname, at: Date.now(), status: null };
    requests.push(info);
    const answer = (status, headers = {}, body = '') => {
      info.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (url.searchParams.get('token') !== token) return answer(403, { 'content-type': 'text/plain' }, 'bad token\n');
    if (url.pathname === '/redirect') return answer(302, { location: url.searchParams.get('to') });
    const name = url.pathname.startsWith('/r/') ? decodeURIComponent(url.pathname.slice(3)) : null;
    const file = name && files.get(name);
    if (!file || req.method !== 'GET') return answer(404, { 'content-type': 'text/plain' }, 'not found\n');
    info.status = 200;
    file.served = (file.served ?? 0) + 1;
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.size });
    const body = file.generated ? generatedWav(file.size) : Readable.from([file.body]);
    if (file.stallAfter === undefined || file.stall.done) {
      body.pipe(res);
      return;
    }
    // Sends stallAfter bytes, then nothing until release().
    let sent = 0;
    body.on('data', (chunk) => {
      const room = file.stallAfter - sent;
      if (chunk.length <= room) {
        sent += chunk.length;
        res.write(chunk);
        return;
      }
      body.pause();
      res.write(chunk.subarray(0, room));
      sent += room;
      file.stall.resolveReached(info);
      file.stall.released.then(() => {
        res.write(chunk.subarray(room));
        body.pipe(res);
        body.resume();
      });
    });
  };

  const tls = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
  const servers = [];
  const listen = (server, ...args) => new Promise((resolve, reject) => {
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(...args, resolve).on('error', reject);
    servers.push(server);
  });
  const httpsV4 = https.createServer(tls, handler('https'));
  await listen(httpsV4, port, '127.0.0.1');
  port = httpsV4.address().port;
  await listen(https.createServer(tls, handler('https')), port, '::1').catch(() => {});
  const plain = http.createServer(handler('http'));
  await listen(plain, 0, '127.0.0.1');
  const plainPort = plain.address().port;
  const httpsSocket = path.join(dir, 'https.sock');
  const httpSocket = path.join(dir, 'http.sock');
  await listen(https.createServer(tls, handler('https')), httpsSocket);
  await listen(http.createServer(handler('http')), httpSocket);

  const origin = {
    port,
    plainPort,
    certFile: cert,
    httpsSocket,
    httpSocket,
    requests,
    // Registers a file; `size` bytes generated when `generated`, else `body`.
    add(name, { body, size, generated = false, contentType = 'audio/wav', stallAfter } = {}) {
      const file = { body, size: generated ? size : body.length, generated, contentType, stallAfter };
      if (stallAfter !== undefined) {
        let resolveReached, release;
        const reached = new Promise((r) => (resolveReached = r));
        const released = new Promise((r) => (release = r));
        file.stall = { reached, resolveReached, released, done: false,
          release: () => {
            file.stall.done = true;
            release();
          } };
      }
      files.set(name, file);
      return file;
    },
    // The URL of a file, with the origin's token; host 'localhost' unless given.
    url(name, { host = 'localhost', scheme = 'https' } = {}) {
      const p = scheme === 'https' ? port : plainPort;
      return `${scheme}://${host}:${p}/r/${encodeURIComponent(name)}?token=${token}`;
    },
    redirectUrl(to, { host = 'localhost' } = {}) {
      return `https://${host}:${port}/redirect?to=${encodeURIComponent(to)}&token=${token}`;
    },
    requestsFor: (name) => requests.filter((r) => r.path === `/r/${name}`),
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  record('token', token);
  return origin;
}
