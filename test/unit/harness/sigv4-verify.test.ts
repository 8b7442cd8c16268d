import { createHash } from 'node:crypto';
import { verifySigV4, type ReceivedRequest } from '../../harness/sigv4-verify';
import {
  SUITE_AMZ_DATE,
  SUITE_CREDENTIALS,
  SUITE_DATE,
  SUITE_REGION,
  SUITE_SERVICE,
  SUITE_VECTORS,
  type SuiteVector,
} from '../../fixtures/sigv4-vectors';

// The checking proxy's verifier is held to the same published vectors as the signer.
function signedRequest(v: SuiteVector): ReceivedRequest {
  return {
    method: v.method,
    target: v.target,
    headers: {
      ...v.headers,
      Host: 'example.amazonaws.com',
      'X-Amz-Date': SUITE_AMZ_DATE,
      Authorization: v.authorization,
      ...(v.sessionToken ? { 'X-Amz-Security-Token': v.sessionToken } : {}),
      ...(v.signBody ? { 'x-amz-content-sha256': createHash('sha256').update(v.body).digest('hex') } : {}),
    },
    body: Buffer.from(v.body),
  };
}

const options = (secret: string = SUITE_CREDENTIALS.secretAccessKey) => ({
  keys: { [SUITE_CREDENTIALS.accessKeyId]: secret },
  region: SUITE_REGION,
  service: SUITE_SERVICE,
  nowMs: () => SUITE_DATE.getTime(),
});

test.each(SUITE_VECTORS.map((v) => [v.name, v] as const))('accepts the suite vector %s', (_name, v) => {
  expect(verifySigV4(signedRequest(v), options())).toEqual({ ok: true, accessKeyId: 'AKIDEXAMPLE' });
});

test.each(SUITE_VECTORS.map((v) => [v.name, v] as const))('refuses %s changed in any signed part', (_name, v) => {
  const r = signedRequest(v);
  const refused = (req: ReceivedRequest, opts = options()) => expect(verifySigV4(req, opts).ok).toBe(false);
  refused(r, options('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ'));
  refused({ ...r, method: v.method === 'GET' ? 'POST' : 'GET' });
  refused({ ...r, target: v.target + (v.target.includes('?') ? '&x=1' : '?x=1') });
  refused({ ...r, body: Buffer.from(v.body + 'x') });
  refused({ ...r, headers: { ...r.headers, Host: 'example.amazonaws.org' } });
  refused(r, { ...options(), region: 'us-west-2' });
  refused(r, { ...options(), nowMs: () => SUITE_DATE.getTime() + 16 * 60_000 });
  const { Authorization: _gone, ...unsigned } = r.headers;
  expect(verifySigV4({ ...r, headers: unsigned }, options())).toEqual({
    ok: false,
    reason: 'missing Authorization header',
  });
});
