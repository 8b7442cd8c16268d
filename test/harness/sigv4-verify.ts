/**
 * An independent SigV4 checker, written from the published algorithm ("Create a signed AWS API
 * request", AWS General Reference) with node:crypto only: it shares no code with
 * lambdas/adapters/sigv4.ts or the SDK signer, so a signing mistake there cannot hide here.
 * Checks what a service checks: the algorithm, the credential scope (date, region, service),
 * the signed headers (host and x-amz-date must be among them), the time skew, the body's hash,
 * and the signature over the canonical request rebuilt from the request as received.
 */
import { createHash, createHmac } from 'node:crypto';

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received: path and query, still percent-encoded. */
  readonly target: string;
  /** Header name (any case) to value; repeated headers joined with ','. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Uint8Array;
}

export interface VerifierOptions {
  /** Access key id → secret access key. */
  readonly keys: Readonly<Record<string, string>>;
  readonly region: string;
  readonly service: string;
  /** @default 15 minutes, as AWS allows */
  readonly maxSkewMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

export type Verdict =
  { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly reason: string };

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const sha256Hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper case). */
function uriEncode(text: string): string {
  return Buffer.from(text, 'utf8').reduce((out, byte) => {
    const c = String.fromCharCode(byte);
    return out + (/[A-Za-z0-9\-_.~]/.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0'));
  }, '');
}

/** Each segment of the wire path encoded once more; '.' and '..' resolved, empty segments dropped. */
function canonicalPath(wirePath: string): string {
  const segments: string[] = [];
  for (const s of wirePath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(uriEncode(s));
  }
  const trailing = segments.length > 0 && wirePath.endsWith('/') ? '/' : '';
  return '/' + segments.join('/') + trailing;
}

/** Decoded pairs re-encoded, sorted by key then value. */
function canonicalQuery(query: string): string {
  if (query === '') return '';
  const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((pair) => {
      const i = pair.indexOf('=');
      const [k, v] = i < 0 ? [pair, ''] : [pair.slice(0, i), pair.slice(i + 1)];
      return [uriEncode(decode(k)), uriEncode(decode(v))] as const;
    })
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** `20150830T123600Z` as ms, or NaN. */
function parseAmzDate(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

/** The signature the holder of `secret` computes for the request, from its parts. */
export function expectedSignature(
  request: ReceivedRequest,
  signedHeaders: readonly string[],
  scope: { date: string; region: string; service: string },
  amzDate: string,
  secret: string,
): string {
  const lower = new Map(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const q = request.target.indexOf('?');
  const [path, query] = q < 0 ? [request.target, ''] : [request.target.slice(0, q), request.target.slice(q + 1)];
  const headerLines = signedHeaders.map((name) => {
    const v = lower.get(name);
    const value = (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
    return `${name}:${value}\n`;
  });
  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(query),
    headerLines.join(''),
    signedHeaders.join(';'),
    sha256Hex(request.body),
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer | string = `AWS4${secret}`;
  for (const part of [scope.date, scope.region, scope.service, 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

/** Whether the request carries a valid SigV4 signature; the reason when not (never the secret). */
export function verifySigV4(request: ReceivedRequest, options: VerifierOptions): Verdict {
  const header = (name: string) => {
    const v = Object.entries(request.headers).find(([k]) => k.toLowerCase() === name)?.[1];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const authorization = header('authorization');
  if (authorization === undefined) return { ok: false, reason: 'missing Authorization header' };
  const m = AUTH.exec(authorization);
  if (!m) return { ok: false, reason: 'the Authorization header is not AWS4-HMAC-SHA256' };
  const [, accessKeyId, date, region, service, signedList, signature] = m as unknown as string[];
  const secret = options.keys[accessKeyId!];
  if (secret === undefined) return { ok: false, reason: 'unknown access key id' };
  if (region !== options.region || service !== options.service)
    return {
      ok: false,
      reason: `credential scope is for ${region}/${service}, not ${options.region}/${options.service}`,
    };
  const signed = signedList!.split(';');
  if (signed.join(';') !== [...signed].sort().join(';')) return { ok: false, reason: 'SignedHeaders are not sorted' };
  for (const required of ['host', 'x-amz-date'])
    if (!signed.includes(required)) return { ok: false, reason: `${required} is not a signed header` };
  const amzDate = header('x-amz-date') ?? '';
  const atMs = parseAmzDate(amzDate);
  if (!Number.isFinite(atMs) || amzDate.slice(0, 8) !== date) return { ok: false, reason: 'bad X-Amz-Date' };
  if (Math.abs((options.nowMs ?? Date.now)() - atMs) > (options.maxSkewMs ?? 15 * 60_000))
    return { ok: false, reason: 'X-Amz-Date is too far from now' };
  const bodyHash = header('x-amz-content-sha256');
  if (bodyHash !== undefined && bodyHash !== sha256Hex(request.body))
    return { ok: false, reason: 'X-Amz-Content-Sha256 does not match the body' };
  const expected = expectedSignature(
    request,
    signed,
    { date: date!, region: region!, service: service! },
    amzDate,
    secret,
  );
  if (expected !== signature) return { ok: false, reason: 'the signature does not match' };
  return { ok: true, accessKeyId: accessKeyId! };
}
