/** The Secrets Manager cache: a lifetime on an injected clock, and a refresh that skips it. */
import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_SECRET_TTL_MS, SecretsManagerCredentials } from '../../../lambdas/adapters/secrets';

const sm = mockClient(SecretsManagerClient);
afterEach(() => sm.reset());

const secret = (password: string) => ({ SecretString: JSON.stringify({ username: 'u', password }) });

function provider(ttlMs?: number) {
  let now = 1_000_000;
  const creds = new SecretsManagerCredentials({ client: new SecretsManagerClient({}), ttlMs, nowMs: () => now });
  return { creds, advance: (ms: number) => (now += ms) };
}

test('a secret is read once within its lifetime and again after it (default a few minutes)', async () => {
  sm.on(GetSecretValueCommand).resolvesOnce(secret('old-pass')).resolves(secret('new-pass'));
  const { creds, advance } = provider();
  expect((await creds.credentials('s')).basicAuth?.password).toBe('old-pass');
  advance(DEFAULT_SECRET_TTL_MS - 1);
  expect((await creds.credentials('s')).basicAuth?.password).toBe('old-pass');
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  advance(1);
  expect((await creds.credentials('s')).basicAuth?.password).toBe('new-pass');
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  expect(DEFAULT_SECRET_TTL_MS).toBeGreaterThanOrEqual(60_000);
  expect(DEFAULT_SECRET_TTL_MS).toBeLessThanOrEqual(15 * 60_000);
});

test('refresh reads past the cache, and later reads get the refreshed value', async () => {
  sm.on(GetSecretValueCommand).resolvesOnce(secret('old-pass')).resolves(secret('new-pass'));
  const { creds } = provider(60_000);
  expect((await creds.credentials('s')).basicAuth?.password).toBe('old-pass');
  expect((await creds.refresh('s')).basicAuth?.password).toBe('new-pass');
  expect((await creds.credentials('s')).basicAuth?.password).toBe('new-pass');
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
});

test('a failed read is not cached', async () => {
  sm.on(GetSecretValueCommand)
    .rejectsOnce(Object.assign(new Error('busy'), { name: 'ThrottlingException' }))
    .resolves(secret('pass-1234'));
  const { creds } = provider();
  await expect(creds.credentials('s')).rejects.toThrow(/retrying later may help/);
  expect((await creds.credentials('s')).basicAuth?.password).toBe('pass-1234');
});
