// The proxy's SigV4 verifier (sigv4.mjs) agrees with AWS's own signer
// (@smithy/signature-v4, as the AWS SDKs sign): requests it signs pass, in
// both forms (Authorization header and presigned URL), and any tampering
// (key, path, query, a signed header, the body, the expiry) is refused. The
// archive tests rely on this proxy to prove vox-relay's signatures right.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';

import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

import { freePort, getUrl, request } from './harness.mjs';
import { startStore } from './store.mjs';

let store, signer, wrongSigner;
const body = Buffer.from('RIFF....WAVE a recording of a few bytes');
const bodyHash = createHash('sha256').update(body).digest('hex');

before(async () => {
  store = await startStore({ accessKeyId: 'AKIDVERIFIER', secretAccessKey: 'verifier-secret', bucket: 'check',
    proxyPort: await freePort(), storePort: await freePort() });
  const make = (secretAccessKey) => new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256,
    uriEscapePath: false, credentials: { accessKeyId: 'AKIDVERIFIER', secretAccessKey } });
  signer = make('verifier-secret');
  wrongSigner = make('not-the-secret');
});
after(() => store?.close());

const host = () => `127.0.0.1:${store.port}`;

async function signedPut(key, { using = signer, payload = body, hash = bodyHash, extraHeaders = {} } = {}) {
  return using.sign({
    method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: store.port, path: `/check/${key}`, query: {},
    headers: { host: host(), 'content-type': 'audio/wav', 'content-length': String(payload.length),
      'x-amz-content-sha256': hash, ...extraHeaders },
    body: payload,
  });
}

const send = (signed, payload = body) =>
  request({ url: `http://${host()}` }, signed.method, signed.path +
    (Object.keys(signed.query ?? {}).length ? `?${new URLSearchParams(signed.query)}` : ''),
  { headers: signed.headers, body: payload });

test('a PUT signed by @smithy/signature-v4 passes and stores the object; the same PUT tampered is refused', async () => {
  // The SDKs encode the key before signing (uriEscapePath: false signs the path as given).
  const ok = await send(await signedPut('a/b%20c%2Bd%3A.wav'));
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(await store.bytes('a/b c+d:.wav'), body);

  const wrongKey = await send(await signedPut('x.wav', { using: wrongSigner }));
  assert.equal(wrongKey.status, 403);
  assert.match(wrongKey.text, /<Code>SignatureDoesNotMatch<\/Code>/);

  const moved = await signedPut('y.wav');
  moved.path = '/check/z.wav';
  assert.equal((await send(moved)).status, 403);

  const retyped = await signedPut('y.wav');
  retyped.headers['content-type'] = 'text/plain';
  assert.equal((await send(retyped)).status, 403);

  const otherBody = Buffer.from(body);
  otherBody[0] ^= 1;
  const swapped = await send(await signedPut('w.wav'), otherBody);
  assert.equal(swapped.status, 400);
  assert.match(swapped.text, /XAmzContentSHA256Mismatch/);
  assert.equal(await store.exists('w.wav'), false, 'a body that did not match its hash left an object');
  assert.equal(await store.exists('x.wav') || await store.exists('y.wav') || await store.exists('z.wav'), false);
});

test('an unsigned x-amz-* header is refused', async () => {
  const signed = await signedPut('u.wav');
  signed.headers['x-amz-meta-extra'] = '1';
  const response = await send(signed);
  assert.equal(response.status, 403);
  assert.match(response.text, /not signed/);
});

test('a URL presigned by @smithy/signature-v4 downloads; tampered or expired it is refused', async () => {
  assert.equal((await send(await signedPut('p.wav'))).status, 200);
  // As @aws-sdk/s3-request-presigner does: an unsigned payload, named by a
  // header that is neither signed nor hoisted into the query.
  const presign = (using, expiresIn, signingDate = new Date()) => using.presign({
    method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: store.port, path: '/check/p.wav', query: {},
    headers: { host: host(), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  }, { expiresIn, signingDate, unsignableHeaders: new Set(['x-amz-content-sha256']),
    unhoistableHeaders: new Set(['x-amz-content-sha256']) });
  const url = (signed) => `http://${host()}${signed.path}?${new URLSearchParams(signed.query)}`;

  const good = await getUrl(url(await presign(signer, 60)));
  assert.equal(good.status, 200, good.text);
  assert.deepEqual(good.buffer, body);
  assert.equal((await getUrl(url(await presign(wrongSigner, 60)))).status, 403);
  const tampered = await presign(signer, 60);
  tampered.query['X-Amz-Expires'] = '3600';
  assert.equal((await getUrl(url(tampered))).status, 403);
  const expired = await getUrl(url(await presign(signer, 1, new Date(Date.now() - 5000))));
  assert.equal(expired.status, 403);
  assert.match(expired.text, /expired/);
});
