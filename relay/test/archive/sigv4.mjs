// An AWS Signature Version 4 verifier for S3 requests, written here over
// node:crypto from AWS's published algorithm, independent of vox-relay's
// signer (the proxy in store.mjs runs every request through it). Both ways of
// signing: the Authorization header (with x-amz-content-sha256 naming the
// payload's hash, which the proxy then checks against the body) and a
// presigned URL's query (X-Amz-*; expiry checked).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

// RFC 3986 unreserved characters stay; everything else is %XX, uppercase
// (AWS's UriEncode). A slash is kept in paths only.
export function uriEncode(text, keepSlash = false) {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function decode(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, '%20'));
  } catch {
    return null;
  }
}

// The query string's pairs, decoded, in the order sent.
export function queryPairs(rawQuery) {
  if (!rawQuery) return [];
  return rawQuery.split('&').filter((part) => part !== '').map((part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
  });
}

// S3's canonical URI: each path segment decoded once and encoded once (no
// double encoding, no dot-segment normalization).
function canonicalUri(rawPath) {
  const segments = rawPath.split('/').map(decode);
  if (segments.includes(null)) return null;
  return segments.map((s) => uriEncode(s)).join('/');
}

function canonicalQuery(pairs) {
  return pairs.map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

// Header values by lowercase name from node's rawHeaders (repeated headers
// joined with commas, as AWS does), trimmed, inner runs of spaces collapsed.
function headerMap(rawHeaders) {
  const map = new Map();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1].trim().replace(/ +/g, ' ');
    map.set(name, map.has(name) ? `${map.get(name)},${value}` : value);
  }
  return map;
}

const amzDatePattern = /^(\d{8})T\d{6}Z$/;
const parseAmzDate = (text) =>
  new Date(`${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}T${text.slice(9, 11)}:` +
    `${text.slice(11, 13)}:${text.slice(13, 15)}Z`);

const refuse = (status, code, message, extra = {}) => ({ ok: false, status, code, message, ...extra });

// Verifies one request: { method, url (raw, path and query as received),
// rawHeaders }. keys: Map accessKeyId → secret; region as configured.
// Returns { ok: true, accessKeyId, signature, payloadHash, presigned } or
// { ok: false, status, code, message, signature? }.
export function verify({ method, url, rawHeaders }, { keys, region, service = 's3', now = new Date() }) {
  const headers = headerMap(rawHeaders);
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const pairs = queryPairs(q < 0 ? '' : url.slice(q + 1));
  if (pairs.some(([k, v]) => k === null || v === null)) return refuse(400, 'InvalidArgument', 'bad query encoding');
  const query = new Map(pairs);
  const presigned = query.has('X-Amz-Signature') || query.has('X-Amz-Algorithm');
  const authorization = headers.get('authorization');

  let algorithm, credential, signedHeaders, signature, amzDate, payloadHash, expires;
  if (presigned) {
    if (authorization) return refuse(400, 'InvalidArgument', 'both an Authorization header and a presigned query');
    algorithm = query.get('X-Amz-Algorithm');
    credential = query.get('X-Amz-Credential');
    signedHeaders = query.get('X-Amz-SignedHeaders');
    signature = query.get('X-Amz-Signature');
    amzDate = query.get('X-Amz-Date');
    expires = query.get('X-Amz-Expires');
    payloadHash = query.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
    if (!expires || !/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > 604800) {
      return refuse(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be 1 to 604800 seconds', { signature });
    }
  } else {
    if (!authorization) return refuse(403, 'AccessDenied', 'no Authorization header and no presigned query');
    const match = /^(\S+) (.*)$/.exec(authorization);
    if (!match) return refuse(400, 'AuthorizationHeaderMalformed', 'malformed Authorization header');
    algorithm = match[1];
    const fields = new Map(match[2].split(/,\s*/).map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    }));
    credential = fields.get('Credential');
    signedHeaders = fields.get('SignedHeaders');
    signature = fields.get('Signature');
    amzDate = headers.get('x-amz-date');
    payloadHash = headers.get('x-amz-content-sha256');
    if (!payloadHash) return refuse(400, 'InvalidRequest', 'missing x-amz-content-sha256', { signature });
    if (!/^[0-9a-f]{64}$/.test(payloadHash) && payloadHash !== 'UNSIGNED-PAYLOAD') {
      return refuse(501, 'NotImplemented', `payload hash mode ${payloadHash} not supported here`, { signature });
    }
  }
  if (algorithm !== 'AWS4-HMAC-SHA256') return refuse(400, 'InvalidArgument', `algorithm ${algorithm}`, { signature });
  if (!credential || !signedHeaders || !signature || !amzDate) {
    return refuse(400, 'AuthorizationHeaderMalformed', 'missing Credential, SignedHeaders, Signature or date', { signature });
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) return refuse(400, 'AuthorizationHeaderMalformed', 'signature not 64 hex', { signature });
  const dateMatch = amzDatePattern.exec(amzDate);
  if (!dateMatch) return refuse(400, 'AuthorizationHeaderMalformed', `bad date ${amzDate}`, { signature });
  const scopeParts = credential.split('/');
  if (scopeParts.length !== 5) return refuse(400, 'AuthorizationHeaderMalformed', 'bad Credential', { signature });
  const [accessKeyId, scopeDate, scopeRegion, scopeService, terminal] = scopeParts;
  if (scopeDate !== dateMatch[1]) return refuse(400, 'AuthorizationHeaderMalformed', 'credential date is not the request date', { signature });
  if (scopeRegion !== region) {
    return refuse(400, 'AuthorizationHeaderMalformed', `the region '${scopeRegion}' is wrong; expecting '${region}'`, { signature });
  }
  if (scopeService !== service || terminal !== 'aws4_request') {
    return refuse(400, 'AuthorizationHeaderMalformed', 'bad credential scope', { signature });
  }
  const secret = keys.get(accessKeyId);
  if (secret === undefined) return refuse(403, 'InvalidAccessKeyId', 'unknown access key id', { signature });

  const signedDate = parseAmzDate(amzDate);
  const skew = Math.abs(now - signedDate);
  if (presigned) {
    if (now - signedDate > Number(expires) * 1000) return refuse(403, 'AccessDenied', 'Request has expired', { signature });
    if (signedDate - now > 15 * 60_000) return refuse(403, 'AccessDenied', 'request is dated in the future', { signature });
  } else if (skew > 15 * 60_000) {
    return refuse(403, 'RequestTimeTooSkewed', 'the difference between the request time and the current time is too large', { signature });
  }

  const names = signedHeaders.split(';');
  if (names.join(';') !== [...names].sort().join(';') || names.some((n) => n !== n.toLowerCase())) {
    return refuse(400, 'AuthorizationHeaderMalformed', 'SignedHeaders not sorted lowercase', { signature });
  }
  if (!names.includes('host')) return refuse(400, 'AuthorizationHeaderMalformed', 'host is not signed', { signature });
  for (const name of headers.keys()) {
    if (name.startsWith('x-amz-') && !names.includes(name)) {
      return refuse(403, 'AccessDenied', `There were headers present in the request which were not signed: ${name}`, { signature });
    }
  }
  for (const name of names) {
    if (!headers.has(name)) return refuse(403, 'SignatureDoesNotMatch', `signed header ${name} is missing`, { signature });
  }
  const uri = canonicalUri(rawPath);
  if (uri === null) return refuse(400, 'InvalidURI', 'bad path encoding', { signature });
  const canonicalRequest = [
    method,
    uri,
    canonicalQuery(presigned ? pairs.filter(([k]) => k !== 'X-Amz-Signature') : pairs),
    names.map((name) => `${name}:${headers.get(name)}\n`).join(''),
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scopeDate), scopeRegion), scopeService), 'aws4_request');
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    return refuse(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { signature, canonicalRequest });
  }
  return { ok: true, accessKeyId, signature, payloadHash, presigned };
}

export function errorXml(code, message) {
  const escape = (text) => String(text).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escape(code)}</Code>` +
    `<Message>${escape(message)}</Message></Error>`;
}
