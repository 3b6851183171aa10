// The object store of the tests: s3rver (a real S3-compatible server, files
// on disk in a temporary directory) behind a proxy that verifies every
// request's SigV4 signature with sigv4.mjs (s3rver itself does not check V4
// signatures), checks each body against the SHA-256 it was signed with, and
// streams bodies through in both directions. The proxy keeps a log of every
// request (method, path, query names, status, what it refused), the
// signatures it saw (zz-logs.test.mjs looks for them in the logs), and has
// hooks to stall a request body or hold a response (crashes mid-upload).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { errorXml, verify } from './sigv4.mjs';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

export async function startStore({ accessKeyId, secretAccessKey, region = 'us-east-1', bucket, proxyPort = 0,
  storePort = 0, record = () => {} }) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'vox-archive-s3-'));
  // s3rver accepts only access key ids it knows (and never checks a V4
  // signature: the proxy does).
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const s3rver = new S3rver({ address: '127.0.0.1', port: storePort, silent: true, directory,
    configureBuckets: [{ name: bucket }] });
  const { port: s3Port } = await s3rver.run();

  const keys = new Map([[accessKeyId, secretAccessKey]]);
  const requests = [];
  const signatures = new Set();
  const hooks = []; // { match(info), kind: 'stall-body' | 'hold-response', afterBytes, resolve, release }
  const sockets = new Set();

  const handler = (req, res) => {
    const info = {
      method: req.method,
      path: req.url.split('?')[0],
      query: [...new URLSearchParams(req.url.split('?')[1] ?? '').keys()],
      at: Date.now(),
      status: null,
      refused: null,
      bytesIn: 0,
      payloadHash: null,
      presigned: false,
    };
    requests.push(info);
    const result = verify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders }, { keys, region });
    if (result.signature) {
      signatures.add(result.signature);
      record('signature', result.signature);
    }
    const refuse = (status, code, message) => {
      info.status = status;
      info.refused = `${code}: ${message}`;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = errorXml(code, message);
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body),
        connection: 'close' });
      res.end(body);
      req.resume();
    };
    if (!result.ok) {
      // VOX_ARCHIVE_DEBUG=1: what was refused and the canonical request computed here.
      if (process.env.VOX_ARCHIVE_DEBUG) {
        process.stderr.write(`proxy refused ${req.method} ${req.url}: ${result.code} ${result.message}\n` +
          `${JSON.stringify(req.rawHeaders)}\n${result.canonicalRequest ?? ''}\n`);
      }
      return refuse(result.status, result.code, result.message);
    }
    info.payloadHash = result.payloadHash;
    info.presigned = result.presigned;

    const hook = hooks.find((h) => !h.used && h.match(info));
    if (hook) hook.used = true;
    const headers = { ...req.headers };
    const upstream = http.request({ host: '127.0.0.1', port: s3Port, method: req.method, path: req.url, headers });
    upstream.on('error', () => refuse(502, 'BadGateway', 'the store failed'));
    // A PUT whose body never reached s3rver whole stores nothing on S3;
    // s3rver writes straight into the object's file, so the proxy removes
    // what a cut-off PutObject (not a part) left there, once s3rver let go.
    const objectKey = decodeURIComponent(info.path.slice(`/${bucket}/`.length));
    const putObject = req.method === 'PUT' && info.path.startsWith(`/${bucket}/`) && !info.query.includes('partNumber');
    let upstreamAnswered = false;
    const cutOff = () => {
      if (info.aborted || upstreamAnswered) return;
      info.aborted = true;
      upstream.destroy();
      if (process.env.VOX_ARCHIVE_DEBUG) process.stderr.write(`proxy: ${req.method} ${info.path} cut off after ${info.bytesIn} bytes\n`);
      if (putObject) setTimeout(() => s3rver.store.deleteObject(bucket, objectKey).catch(() => {}), 200);
    };
    req.on('close', () => {
      if (!req.complete) cutOff();
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        if (upstreamAnswered) upstream.destroy();
        else cutOff();
      }
    });
    upstream.on('response', (upRes) => {
      upstreamAnswered = true;
      const send = () => {
        info.status = upRes.statusCode;
        info.etag = upRes.headers.etag ?? null;
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      };
      if (hook?.kind === 'hold-response') {
        hook.resolve(info);
        hook.released.then(send);
      } else send();
    });

    // The body goes on as it comes, one chunk behind: the last one only
    // once the whole body's hash and length are known to match, so a body
    // that does not never completes an object.
    const hash = createHash('sha256');
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    let held = null;
    let stalled = false;
    req.on('data', (chunk) => {
      info.bytesIn += chunk.length;
      // Stalled: the rest is read (so that a client gone shows at once) but
      // never reaches s3rver, and no answer comes.
      if (stalled) return;
      hash.update(chunk);
      if (held) upstream.write(held);
      held = chunk;
      if (hook?.kind === 'stall-body' && info.bytesIn >= hook.afterBytes) {
        stalled = true;
        hook.resolve({ ...info }); // as it was when it stalled
      }
    });
    req.on('end', () => {
      if (stalled) return;
      if (declared !== null && declared !== info.bytesIn) {
        upstream.destroy();
        if (putObject) setTimeout(() => s3rver.store.deleteObject(bucket, objectKey).catch(() => {}), 200);
        return refuse(400, 'IncompleteBody', `${info.bytesIn} bytes, Content-Length ${declared}`);
      }
      const digest = hash.digest('hex');
      if (/^[0-9a-f]{64}$/.test(result.payloadHash) && digest !== result.payloadHash) {
        upstream.destroy();
        if (putObject) setTimeout(() => s3rver.store.deleteObject(bucket, objectKey).catch(() => {}), 200);
        return refuse(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      if (held) upstream.write(held);
      upstream.end();
    });
  };
  // On 127.0.0.1, and on a Unix socket for relays in a network namespace.
  const proxy = http.createServer(handler);
  const proxyUnix = http.createServer(handler);
  const socketPath = path.join(directory, 'proxy.sock');
  for (const server of [proxy, proxyUnix]) {
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  }
  await new Promise((resolve, reject) => proxy.listen(proxyPort, '127.0.0.1', resolve).on('error', reject));
  await new Promise((resolve, reject) => proxyUnix.listen(socketPath, resolve).on('error', reject));
  const port = proxy.address().port;

  const store = {
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    directory,
    port,
    socketPath,
    endpoint: `http://127.0.0.1:${port}`,
    s3Port,
    requests,
    signatures,
    // Every object under `prefix`: [{ key, size, contentType }].
    async objects(prefix = '') {
      const { objects } = await s3rver.store.listObjects(bucket, { prefix });
      return objects.map((o) => ({ key: o.key, size: o.size, contentType: o.metadata['content-type'] }));
    },
    async exists(key) {
      return s3rver.store.existsObject(bucket, key);
    },
    async bytes(key) {
      const object = await s3rver.store.getObject(bucket, key);
      if (!object) return null;
      const parts = [];
      for await (const part of object.content) parts.push(part);
      return Buffer.concat(parts);
    },
    // { size, sha256 } streamed, for big objects.
    async digest(key) {
      const object = await s3rver.store.getObject(bucket, key);
      if (!object) return null;
      const hash = createHash('sha256');
      let size = 0;
      for await (const part of object.content) {
        hash.update(part);
        size += part.length;
      }
      return { size, sha256: hash.digest('hex') };
    },
    // The next request that match(info) accepts stalls once `afterBytes`
    // of its body went through (the proxy stops reading it): a promise of
    // its info once it has.
    stallBody(match, afterBytes) {
      return new Promise((resolve) => hooks.push({ kind: 'stall-body', match, afterBytes, resolve }));
    },
    // The next request that match(info) accepts goes through to s3rver, but
    // its response waits for release(): { reached (a promise of its info),
    // release() }.
    holdResponse(match) {
      let release;
      const released = new Promise((resolve) => (release = resolve));
      let resolve;
      const reached = new Promise((r) => (resolve = r));
      hooks.push({ kind: 'hold-response', match, resolve, released });
      return { reached, release };
    },
    clearHooks() {
      hooks.length = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
      await new Promise((resolve) => proxyUnix.close(resolve));
      await s3rver.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
  return store;
}
