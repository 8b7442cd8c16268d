import { sigv4Signer, AMP_SERVICE } from '../../../lambdas/adapters/sigv4';
import { secrets } from '../../../lambdas/core/redact';
import { verifySigV4 } from '../../harness/sigv4-verify';
import {
  SUITE_AMZ_DATE,
  SUITE_CREDENTIALS,
  SUITE_DATE,
  SUITE_REGION,
  SUITE_SERVICE,
  SUITE_VECTORS,
} from '../../fixtures/sigv4-vectors';

const HOST = 'example.amazonaws.com';

describe('the signer reproduces the AWS SigV4 test suite', () => {
  test.each(SUITE_VECTORS.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
    const sign = sigv4Signer({
      region: SUITE_REGION,
      service: SUITE_SERVICE,
      credentials: async () => ({ ...SUITE_CREDENTIALS, sessionToken: v.sessionToken }),
      contentSha256Header: v.signBody,
      now: () => SUITE_DATE,
    });
    const headers = await sign({
      method: v.method,
      url: `https://${HOST}${v.target}`,
      headers: v.headers,
      body: v.body,
    });
    expect(headers.authorization).toBe(v.authorization);
    expect(headers['x-amz-date']).toBe(SUITE_AMZ_DATE);
    expect(headers['x-amz-security-token']).toBe(v.sessionToken);
    // The caller's headers go out unchanged; Host comes from the URL.
    expect(headers).toMatchObject(v.headers);
    expect(Object.keys(headers).map((k) => k.toLowerCase())).not.toContain('host');
  });
});

const KEY = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY' };
const AMP = 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef-0123-456789abcdef';

test('a remote-write body is signed as sent, for aps in the configured region', async () => {
  const body = Uint8Array.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59, 0x00, 0x80]);
  const url = `${AMP}/api/v1/remote_write`;
  const sign = sigv4Signer({ region: 'eu-west-1', credentials: async () => KEY });
  const headers = await sign({
    method: 'POST',
    url,
    headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf', 'User-Agent': 'promvault' },
    body,
  });
  expect(headers.authorization).toMatch(new RegExp(`/eu-west-1/${AMP_SERVICE}/aws4_request, `));
  expect(headers.authorization).toMatch(/SignedHeaders=content-encoding;content-type;host;x-amz-date,/);
  const received = (b: Uint8Array) => ({
    method: 'POST',
    target: new URL(url).pathname,
    headers: { ...headers, host: new URL(url).host },
    body: b,
  });
  const keys = { [KEY.accessKeyId]: KEY.secretAccessKey };
  const options = { keys, region: 'eu-west-1', service: 'aps' };
  expect(verifySigV4(received(body), options)).toEqual({ ok: true, accessKeyId: KEY.accessKeyId });
  const changed = Uint8Array.from(body);
  changed[0] = 0xfe;
  expect(verifySigV4(received(changed), options)).toEqual({ ok: false, reason: 'the signature does not match' });
});

test('a query with repeated keys and reserved characters is signed as the server reads it', async () => {
  const url = `${AMP}/api/v1/series?match%5B%5D=up%7Bjob%3D%22a%20b%22%7D&match%5B%5D=go_info&start=1&end=2`;
  const sign = sigv4Signer({ region: 'eu-west-1', credentials: async () => KEY });
  const headers = await sign({ method: 'GET', url, headers: {} });
  const u = new URL(url);
  const verdict = verifySigV4(
    { method: 'GET', target: u.pathname + u.search, headers: { ...headers, host: u.host }, body: new Uint8Array() },
    { keys: { [KEY.accessKeyId]: KEY.secretAccessKey }, region: 'eu-west-1', service: 'aps' },
  );
  expect(verdict).toEqual({ ok: true, accessKeyId: KEY.accessKeyId });
});

test('the secret key and session token are registered for redaction before a request carries them', async () => {
  const credentials = {
    ...KEY,
    secretAccessKey: 'Sigv4RedactTestSecretKey0123456789abcdef',
    sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE-session-token',
  };
  const sign = sigv4Signer({ region: 'us-east-1', credentials: async () => credentials });
  expect(secrets.text(credentials.sessionToken)).toBe(credentials.sessionToken);
  const headers = await sign({ method: 'GET', url: `${AMP}/api/v1/query?query=up`, headers: {} });
  expect(headers['x-amz-security-token']).toBe(credentials.sessionToken);
  const leaked = `${credentials.secretAccessKey} ${credentials.sessionToken} ${JSON.stringify(headers)}`;
  const shown = secrets.text(leaked);
  expect(shown).not.toContain(credentials.secretAccessKey);
  expect(shown).not.toContain(credentials.sessionToken);
  expect(shown).not.toMatch(/Signature=[0-9a-f]{64}/);
});

describe('with the default provider chain', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('temporary credentials close to their expiry are replaced by fresh ones', async () => {
    const setKey = (id: string, expiresInMs: number) => {
      process.env.AWS_ACCESS_KEY_ID = id;
      process.env.AWS_SECRET_ACCESS_KEY = `${id}-secret-key-for-the-refresh-test`;
      process.env.AWS_SESSION_TOKEN = `${id}-token`;
      process.env.AWS_CREDENTIAL_EXPIRATION = new Date(Date.now() + expiresInMs).toISOString();
    };
    delete process.env.AWS_PROFILE;
    setKey('ASIAFIRSTROLEKEY0001', 60_000);
    const sign = sigv4Signer({ region: 'us-east-1' });
    const keyOf = async () =>
      /Credential=([A-Z0-9]+)\//.exec(
        (await sign({ method: 'GET', url: `${AMP}/api/v1/labels`, headers: {} })).authorization!,
      )?.[1];
    expect(await keyOf()).toBe('ASIAFIRSTROLEKEY0001');
    // The role's next credentials (Lambda's environment, a refreshed web identity, ...).
    setKey('ASIASECONDROLEKEY002', 3_600_000);
    const seen: (string | undefined)[] = [];
    for (let i = 0; i < 20 && seen.at(-1) !== 'ASIASECONDROLEKEY002'; i++) {
      seen.push(await keyOf());
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(seen.at(-1)).toBe('ASIASECONDROLEKEY002');
    // Fresh credentials are then kept: no new lookup per request.
    setKey('ASIATHIRDROLEKEY0003', 3_600_000);
    expect(await keyOf()).toBe('ASIASECONDROLEKEY002');
  });
});
