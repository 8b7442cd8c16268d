/** Issue 16: sources and the restore target configured with sigv4 get a signer; others do not. */
import { createHandler as backupShard } from '../../../lambdas/handlers/backup-shard';
import { createHandler as planRestore } from '../../../lambdas/handlers/plan-restore';
import { createHandler as restoreShard } from '../../../lambdas/handlers/restore-shard';
import type { RestorePlanOutput, RestoreShardTask } from '../../../lambdas/handlers/contracts';
import { HOUR, T0, TARGET, invoke, makeWorld, parsedLogs, testConfig, type TestWorld } from './fixtures';

const SIGV4 = { region: 'us-east-1', service: 'aps' };
let world: TestWorld;
afterEach(async () => {
  await world?.cleanup();
});

const backupTask = { source: 'prod', startMs: T0, endMs: T0 + HOUR, selector: '', force: false };

test('backup-shard signs every replica of a source with sigv4, beside its secret', async () => {
  const config = testConfig();
  world = await makeWorld({ config: { ...config, sources: [{ ...config.sources[0]!, sigv4: SIGV4 }] } });
  await invoke(backupShard(world.deps), backupTask);
  expect(world.signerSettings).toEqual([SIGV4]);
  expect(world.readerCredentials.length).toBeGreaterThan(0);
  for (const c of world.readerCredentials) {
    expect(c?.signer).toBeInstanceOf(Function);
    expect(c?.bearerToken).toBe('source-token-123');
  }
});

test('backup-shard without sigv4 signs nothing', async () => {
  world = await makeWorld();
  await invoke(backupShard(world.deps), backupTask);
  expect(world.signerSettings).toEqual([]);
  for (const c of world.readerCredentials) expect(c?.signer).toBeUndefined();
});

async function restoreTo(target: string): Promise<void> {
  const config = testConfig();
  const { targetSecretName: _none, ...restore } = config.restore;
  world = await makeWorld({ config: { ...config, restore: { ...restore, sigv4: SIGV4 } } });
  await invoke(backupShard(world.deps), backupTask);
  const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
    from: '2026-01-01T00:00:00Z',
    to: '2026-01-01T01:00:00Z',
    target,
  });
  await invoke(restoreShard(world.deps), { ...plan.shards[0], target } as RestoreShardTask);
}

test('restore-shard signs writes to the configured target with restore.sigv4', async () => {
  await restoreTo(TARGET);
  expect(world.writers).toHaveLength(1);
  expect(world.writers[0]!.credentials?.signer).toBeInstanceOf(Function);
  expect(world.signerSettings).toEqual([SIGV4]);
});

test('restore-shard does not sign for another origin: the signature would carry the session token there', async () => {
  await restoreTo('http://elsewhere:9090/api/v1/write');
  expect(world.writers[0]!.credentials?.signer).toBeUndefined();
  expect(world.signerSettings).toEqual([]);
  expect(parsedLogs(world.logs).map((l) => l.msg)).toContain(
    'target differs from the configured restore.targetUrl: not signing requests to it',
  );
});
