import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { configFromEnv, parseRuntimeConfig } from '../../../lambdas/adapters/runtime-config';
import { SecretsManagerCredentials, parseCredentials } from '../../../lambdas/adapters/secrets';
import { createLogger } from '../../../lambdas/adapters/log';
import { createHandler as backupShard } from '../../../lambdas/handlers/backup-shard';
import { createHandler as planBackup } from '../../../lambdas/handlers/plan-backup';
import { InputError, PermanentError, TransientError } from '../../../lambdas/core/errors';
import { HOUR, T0, invoke, makeWorld, parsedLogs, type TestWorld } from './fixtures';

const minimal = {
  bucket: 'backups',
  sources: [
    {
      name: 'prod',
      remoteReadUrls: ['http://prom:9090/api/v1/read'],
      shardLengthMs: HOUR,
      lagMs: 300_000,
      initialLookbackMs: 6 * HOUR,
    },
  ],
};

describe('runtime config', () => {
  it('fills defaults and canonicalizes selectors', () => {
    const c = parseRuntimeConfig(
      JSON.stringify({
        ...minimal,
        prefix: '/pv/',
        sources: [{ ...minimal.sources[0], selectors: ['up{ job = "api" }'] }],
      }),
    );
    expect(c).toMatchObject({
      prefix: 'pv',
      inlinePlanLimit: 500,
      restore: { concurrency: 4, batchSamples: 5000, thawTier: 'Bulk', thawDays: 7 },
    });
    expect(c.sources[0]!.selectors).toEqual(['{__name__="up",job="api"}']);
  });

  it.each([
    [undefined, 'PROMVAULT_CONFIG is not set'],
    ['{', 'PROMVAULT_CONFIG is not JSON'],
    [JSON.stringify({ sources: [] }), 'bucket: is missing'],
    [
      JSON.stringify({ ...minimal, sources: [{ ...minimal.sources[0], shardLengthMs: 7 * 60_000 }] }),
      'sources[0].shardLengthMs',
    ],
    [
      JSON.stringify({ ...minimal, sources: [{ ...minimal.sources[0], remoteReadUrls: ['prom:9090'] }] }),
      'sources[0].remoteReadUrls[0]',
    ],
    [
      JSON.stringify({ ...minimal, sources: [{ ...minimal.sources[0], selectors: ['{a='] }] }),
      'sources[0].selectors[0]',
    ],
    [JSON.stringify({ ...minimal, sources: [{ ...minimal.sources[0], lagMs: -1 }] }), 'sources[0].lagMs'],
    [
      JSON.stringify({ ...minimal, sources: [minimal.sources[0], minimal.sources[0]] }),
      'sources[1].name: prod is used twice',
    ],
    [JSON.stringify({ ...minimal, restore: { thawTier: 'Fast' } }), 'restore.thawTier'],
    [JSON.stringify({ ...minimal, inlinePlanLimit: 'many' }), 'inlinePlanLimit'],
  ])('rejects %s naming the key', (text, key) => {
    expect(() => parseRuntimeConfig(text)).toThrow(InputError);
    expect(() => parseRuntimeConfig(text)).toThrow(key);
  });

  it('parses the environment once per container', () => {
    const env = { PROMVAULT_CONFIG: JSON.stringify(minimal) };
    const config = configFromEnv(env);
    const first = config();
    env.PROMVAULT_CONFIG = '{';
    expect(config()).toBe(first);
  });

  it('fails the invocation with the config error, logged by name', async () => {
    const world = await makeWorld({ deps: { config: configFromEnv({}) } });
    try {
      await expect(invoke(planBackup(world.deps), { source: 'prod' })).rejects.toThrow('PROMVAULT_CONFIG is not set');
      expect(parsedLogs(world.logs).find((l) => l.level === 'error')).toMatchObject({
        error: 'InputError',
        message: expect.stringContaining('PROMVAULT_CONFIG'),
      });
    } finally {
      await world.cleanup();
    }
  });
});

describe('secrets', () => {
  const sm = mockClient(SecretsManagerClient);
  let world: TestWorld | undefined;
  afterEach(async () => {
    sm.reset();
    await world?.cleanup();
    world = undefined;
  });

  it.each([
    ['{"username":"u","password":"p"}', { basicAuth: { username: 'u', password: 'p' } }],
    ['{"bearerToken":"t"}', { bearerToken: 't' }],
    ['{"headers":{"X-Scope-OrgID":"team"}}', { headers: { 'X-Scope-OrgID': 'team' } }],
  ])('reads %s', (text, expected) => {
    expect(parseCredentials(text, 's')).toEqual(expected);
  });

  it('fetches a secret once per container and never logs its value', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'prom-creds' }).resolves({
      SecretString: '{"username":"backup","password":"hunter2-very-secret"}',
    });
    const secrets = new SecretsManagerCredentials({ client: new SecretsManagerClient({ region: 'us-east-1' }) });
    world = await makeWorld({ deps: { secrets } });
    const handler = backupShard(world.deps);
    for (let i = 0; i < 3; i++)
      await invoke(handler, { source: 'prod', startMs: T0 + i * HOUR, endMs: T0 + (i + 1) * HOUR, selector: '' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(world.readerCredentials[0]).toEqual({ basicAuth: { username: 'backup', password: 'hunter2-very-secret' } });
    expect(world.logs.length).toBeGreaterThan(0);
    expect(world.logs.join('\n')).not.toContain('hunter2');
  });

  it('names the secret, not its content, when the secret is malformed, and retries later', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'hunter2-not-json' })
      .resolves({ SecretString: '{"bearerToken":"tok-42"}' });
    const secrets = new SecretsManagerCredentials({ client: new SecretsManagerClient({ region: 'us-east-1' }) });
    world = await makeWorld({ deps: { secrets } });
    const handler = backupShard(world.deps);
    const task = { source: 'prod', startMs: T0, endMs: T0 + HOUR, selector: '' };
    const err = (await invoke(handler, task).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain('secret prom-creds is not JSON');
    expect(err.message).not.toContain('hunter2');
    await invoke(handler, task);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(world.logs.join('\n')).not.toMatch(/hunter2|tok-42/);
  });

  it('tells a missing secret (permanent) from throttling (transient)', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    sm.on(GetSecretValueCommand, { SecretId: 'gone' }).rejects(
      Object.assign(new Error('x'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }),
    );
    sm.on(GetSecretValueCommand, { SecretId: 'busy' }).rejects(
      Object.assign(new Error('x'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }),
    );
    const secrets = new SecretsManagerCredentials({ client });
    await expect(secrets.credentials('gone')).rejects.toBeInstanceOf(PermanentError);
    await expect(secrets.credentials('busy')).rejects.toBeInstanceOf(TransientError);
  });
});

describe('log', () => {
  it('writes one JSON line per event with the context, and redacts credential-like fields', () => {
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l), nowMs: () => T0 }).child({ runId: 'r1', source: 'prod' });
    log.info('hello', { shard: 's1', headers: { Authorization: 'Bearer x' }, password: 'p' });
    log.debug('dropped');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      level: 'info',
      msg: 'hello',
      time: '2026-01-01T00:00:00.000Z',
      runId: 'r1',
      source: 'prod',
      shard: 's1',
      headers: { Authorization: '[redacted]' },
      password: '[redacted]',
    });
  });
});
