/**
 * Bounded waits: an S3 endpoint that accepts connections and never answers fails `inspect`
 * within the timeout, with a message naming the endpoint and the setting (it used to hang).
 */
import net from 'node:net';
import { runCli } from '../harness/cli';
import { createSecretsClient, SECRETS_TIMEOUTS, SecretsManagerCredentials } from '../../lambdas/adapters/secrets';

const S3_ENV = { AWS_ACCESS_KEY_ID: 'K', AWS_SECRET_ACCESS_KEY: 'S', AWS_REGION: 'us-east-1' };

let silent: net.Server;
let port: number;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  // Accepts every connection, reads what it is sent, answers nothing.
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent?.close(resolve));
});

describe('an S3 endpoint that never answers', () => {
  it('inspect fails within --s3-timeout (and the SDK retries), naming the endpoint and the setting', async () => {
    const started = Date.now();
    const res = await runCli(
      [
        'inspect',
        '--store',
        's3://archive/p',
        '--s3-endpoint',
        `http://127.0.0.1:${port}`,
        '--s3-timeout',
        '1s',
        '--json',
      ],
      { env: S3_ENV, timeoutMs: 45_000 },
    );
    const seconds = (Date.now() - started) / 1000;
    // A failure of the environment, not bad input (a hang would be -1, killed by the harness).
    expect(res.code).toBe(1);
    expect(seconds).toBeLessThan(30);
    expect(res.stderr).toContain(`http://127.0.0.1:${port}`);
    expect(res.stderr).toMatch(/no answer within the S3 timeout of 1000 ms; change it with --s3-timeout/);
  }, 60_000);

  it('--s3-timeout 0 is refused before any work', async () => {
    const res = await runCli(
      ['inspect', '--store', 's3://archive/p', '--s3-endpoint', `http://127.0.0.1:${port}`, '--s3-timeout', '0'],
      { env: S3_ENV, timeoutMs: 30_000 },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--s3-timeout 0 .*give a duration/);
  });
});

describe('a Secrets Manager endpoint that never answers', () => {
  it('fails the secret read within its timeout (and the SDK retries) instead of hanging', async () => {
    const client = createSecretsClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1' });
    const secrets = new SecretsManagerCredentials({ client });
    const saved = { ...process.env };
    Object.assign(process.env, S3_ENV);
    const started = Date.now();
    try {
      await expect(secrets.credentials('promvault/prod')).rejects.toThrow(
        /cannot read secret promvault\/prod from Secrets Manager \(TimeoutError\)/,
      );
    } finally {
      process.env = saved;
      client.destroy();
    }
    // Three attempts of at most requestMs each, plus the SDK's backoff.
    expect(Date.now() - started).toBeLessThan(3 * SECRETS_TIMEOUTS.requestMs + 5_000);
  }, 60_000);
});
