/**
 * Issue 15, the Lambda side of "Credentials printed": secrets read from Secrets Manager (mocked
 * client, the real adapter) and quoted back in an error text by a source or a target never reach
 * a log line, a thrown error (Step Functions' Cause), a handler result or a restore record.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHandler as backupShard } from '../../../lambdas/handlers/backup-shard';
import { createHandler as planRestore } from '../../../lambdas/handlers/plan-restore';
import { createHandler as restoreShard } from '../../../lambdas/handlers/restore-shard';
import type { RestorePlanOutput } from '../../../lambdas/handlers/contracts';
import { SecretsManagerCredentials } from '../../../lambdas/adapters/secrets';
import { SourceRejectedError, TargetRejectedError } from '../../../lambdas/core/errors';
import type { RemoteWriter } from '../../../lambdas/core/ports';
import { FakeReader, HOUR, SOURCE_URLS, T0, invoke, makeWorld, type TestWorld } from './fixtures';

const PASSWORD = 'Lambda-Pw-7c1e-S3cret';
const TOKEN = 'Lambda-Token-4d2b';
const base64 = Buffer.from(`u:${PASSWORD}`).toString('base64');

const sm = mockClient(SecretsManagerClient);
let world: TestWorld;
afterEach(async () => {
  sm.reset();
  await world?.cleanup();
});

function secretsManager(): SecretsManagerCredentials {
  sm.on(GetSecretValueCommand, { SecretId: 'prom-creds' }).resolves({
    SecretString: JSON.stringify({ bearerToken: TOKEN, headers: { 'X-Scope-OrgID': `org-${PASSWORD}` } }),
  });
  sm.on(GetSecretValueCommand, { SecretId: 'target-creds' }).resolves({
    SecretString: JSON.stringify({ username: 'u', password: PASSWORD }),
  });
  return new SecretsManagerCredentials({ client: new SecretsManagerClient({}) });
}

/** Everything a user with log, console or bucket access can read. */
async function everythingVisible(w: TestWorld, extra: unknown[]): Promise<string> {
  const files = await readdir(w.dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    files.filter((f) => f.isFile()).map((f) => readFile(path.join(f.parentPath, f.name), 'utf8').catch(() => '')),
  );
  const shown = extra.map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : JSON.stringify(e)));
  return [...w.logs, ...texts, ...shown].join('\n');
}

test('secrets quoted back by a source or a target are in no log line, error, result or record', async () => {
  const failingReaders = SOURCE_URLS.map(
    (u) =>
      new FakeReader(
        u,
        () => new SourceRejectedError(`HTTP 401 from http://u:${PASSWORD}@prom: got "Bearer ${TOKEN}" org-${PASSWORD}`),
      ),
  );
  world = await makeWorld({ deps: { secrets: secretsManager() }, readers: failingReaders });
  const task = { source: 'prod', startMs: T0, endMs: T0 + HOUR, selector: '', force: false };
  const backupError = await invoke(backupShard(world.deps), task).catch((e: unknown) => e);
  expect(backupError).toBeInstanceOf(Error);
  await world.cleanup();

  // A good backup to restore from, then a target that refuses and quotes what it was sent.
  world = await makeWorld({ deps: { secrets: secretsManager() } });
  const backupResult = await invoke(backupShard(world.deps), task);
  const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
    from: '2026-01-01T00:00:00Z',
    to: '2026-01-01T01:00:00Z',
  });
  const refusing: RemoteWriter = {
    endpoint: 'http://target:9090/api/v1/write',
    write: async () => {
      throw new TargetRejectedError(
        `remote write to http://u:${PASSWORD}@target:9090/api/v1/write was rejected with HTTP 401: bad "Basic ${base64}"`,
      );
    },
  };
  const w = world;
  const restoreDeps = { ...w.deps, writer: () => refusing };
  const restoreError = await invoke(restoreShard(restoreDeps), plan.shards[0]).catch((e: unknown) => e);
  expect(restoreError).toBeInstanceOf(Error);
  expect(sm.commandCalls(GetSecretValueCommand).length).toBeGreaterThan(0);

  const visible = await everythingVisible(w, [backupError, backupResult, plan, restoreError]);
  expect(visible).toMatch(/401/);
  for (const secret of [PASSWORD, TOKEN, base64]) expect(visible).not.toContain(secret);
});
