/**
 * Issue 15, "a 401 does not refresh it": the secret is rotated in Secrets Manager (mocked client)
 * while a cached copy is in use; a real HTTP target on 127.0.0.1 answers 401 to the old password
 * and 204 to the new. The writer refreshes the secret once, retries once, and the write lands.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerCredentials, refresher } from '../../lambdas/adapters/secrets';
import { HttpRemoteWriter } from '../../lambdas/adapters/remote-write-http';
import { TargetRejectedError } from '../../lambdas/core/errors';

const sm = mockClient(SecretsManagerClient);
const basic = (password: string) => 'Basic ' + Buffer.from(`u:${password}`).toString('base64');
let server: Server;
let url: string;
let seen: string[] = [];
const accepted = basic('new-pass');

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(req.headers.authorization === accepted ? 204 : 401);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => {
  sm.reset();
  seen = [];
});

const secret = (password: string) => ({ SecretString: JSON.stringify({ username: 'u', password }) });
const batch = {
  series: [
    { labels: [{ name: '__name__', value: 'up' }], timestamps: Float64Array.of(1000), values: Float64Array.of(1) },
  ],
  samples: 1,
};

async function writerFor(secrets: SecretsManagerCredentials): Promise<HttpRemoteWriter> {
  return new HttpRemoteWriter({
    url,
    ...(await secrets.credentials('target')),
    refreshCredentials: refresher(secrets, 'target'),
  });
}

test('a 401 with a rotated secret refreshes it once and the retried request is accepted', async () => {
  sm.on(GetSecretValueCommand).resolvesOnce(secret('old-pass')).resolves(secret('new-pass'));
  const secrets = new SecretsManagerCredentials({ client: new SecretsManagerClient({}) });
  const writer = await writerFor(secrets);
  await writer.write(batch);
  expect(seen).toEqual([basic('old-pass'), basic('new-pass')]);
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  // The cache now holds the new value: the next writer starts with it.
  await (await writerFor(secrets)).write(batch);
  expect(seen.at(-1)).toBe(basic('new-pass'));
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
});

test('credentials still refused after the refresh fail at once, after exactly one retry', async () => {
  sm.on(GetSecretValueCommand).resolves(secret('old-pass'));
  const writer = await writerFor(new SecretsManagerCredentials({ client: new SecretsManagerClient({}) }));
  await expect(writer.write(batch)).rejects.toThrow(TargetRejectedError);
  expect(seen).toEqual([basic('old-pass'), basic('old-pass')]);
  expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
});
