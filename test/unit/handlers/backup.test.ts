import { createHandler as planBackup } from '../../../lambdas/handlers/plan-backup';
import { createHandler as backupShard } from '../../../lambdas/handlers/backup-shard';
import { createHandler as commitBackup } from '../../../lambdas/handlers/commit-backup';
import type {
  BackupPlanOutput,
  BackupShardOutput,
  BackupShardTask,
  CommitOutput,
} from '../../../lambdas/handlers/contracts';
import { ShardsFailedError, ShardTimeoutError } from '../../../lambdas/handlers/errors';
import { InputError, SourceUnavailableError } from '../../../lambdas/core/errors';
import { checkpointKey, manifestKey, objectKey } from '../../../lambdas/core/shard';
import { putJson } from '../../../lambdas/handlers/io';
import { sourceReader } from '../../../lambdas/handlers/deps';
import { HttpQueryReader } from '../../../lambdas/adapters/prometheus-query';
import { HttpRemoteReader } from '../../../lambdas/adapters/prometheus-remote-read';
import {
  FakeReader,
  HOUR,
  MINUTE,
  SOURCE_URLS,
  T0,
  invoke,
  lambdaContext,
  listKeys,
  makeWorld,
  parsedLogs,
  readText,
  testConfig,
  type TestWorld,
} from './fixtures';

let world: TestWorld;
afterEach(async () => world?.cleanup());

async function setCheckpoint(w: TestWorld, endMs: number): Promise<void> {
  await putJson(w.store, checkpointKey('prod'), {
    source: 'prod',
    end_ms: endMs,
    updated_at: new Date(endMs).toISOString(),
  });
}

function task(startMs: number, lengthMs = HOUR): BackupShardTask {
  return { source: 'prod', startMs, endMs: startMs + lengthMs, selector: '', force: false };
}

describe('PlanBackup', () => {
  const lag = 5 * MINUTE;

  it.each([
    ['exactly one whole window has closed', T0 + HOUR + lag, 1],
    ['one ms short of the first window closing', T0 + HOUR + lag - 1, 0],
    ['two windows and a bit', T0 + 2 * HOUR + lag + 30 * MINUTE, 2],
  ])('plans from the checkpoint up to now − lag, whole windows only: %s', async (_name, now, expected) => {
    world = await makeWorld();
    await setCheckpoint(world, T0);
    world.now = now;
    const out = await invoke<BackupPlanOutput>(planBackup(world.deps), { source: 'prod' });
    expect(out.shardCount).toBe(expected);
    expect(out.mode).toBe('inline');
    expect(out.shards).toEqual(Array.from({ length: expected }, (_, i) => task(T0 + i * HOUR)));
    expect(out.fromMs).toBe(T0);
    expect(out.toMs).toBe(T0 + expected * HOUR);
    expect(out.runId).toBe(`prod-${T0}-${T0 + expected * HOUR}`);
    expect(out.planKey).toBe(`plans/prod/${out.runId}.json`);
    expect(JSON.parse(await readText(world.store, out.planKey))).toEqual(out.shards);
  });

  it('starts a first run at now − initialLookback and sends a large plan through S3', async () => {
    world = await makeWorld();
    world.now = T0 + 6 * HOUR + 10 * MINUTE; // lookback 6h reaches T0 + 10m: the window of T0 is included
    const out = await invoke<BackupPlanOutput>(planBackup(world.deps), { source: 'prod', force: true });
    expect(out.shardCount).toBe(6);
    expect(out.mode).toBe('s3');
    expect(out.shards).toEqual([]);
    const stored = JSON.parse(await readText(world.store, out.planKey)) as BackupShardTask[];
    expect(stored.map((t) => t.startMs)).toEqual([0, 1, 2, 3, 4, 5].map((i) => T0 + i * HOUR));
    expect(stored.every((t) => t.force)).toBe(true);
  });

  it('plans one shard per window and selector, and honours an explicit range and execution id', async () => {
    const base = testConfig();
    world = await makeWorld({
      config: { ...base, sources: [{ ...base.sources[0]!, selectors: ['up', '{job="api"}'] }], inlinePlanLimit: 10 },
    });
    const out = await invoke<BackupPlanOutput>(planBackup(world.deps), {
      source: 'prod',
      from: '2026-01-01T00:30:00Z',
      to: '2026-01-01T02:00:00Z',
      executionId: 'exec-42',
    });
    expect(out.runId).toBe('exec-42');
    expect(out.shards.map((s) => `${(s.startMs - T0) / HOUR}:${s.selector}`)).toEqual([
      '0:up',
      '1:up',
      '0:{job="api"}',
      '1:{job="api"}',
    ]);
  });

  it.each([
    [{}, 'field source: is missing'],
    [{ source: 'prod', from: 'yesterday' }, 'from'],
    [{ source: 'prod', force: 'yes' }, 'field force'],
    [{ source: 'staging' }, 'source "staging" is not a configured source'],
    [{ source: 'prod', from: 'now-1h', to: 'now-2h' }, 'from now-1h is not before to now-2h'],
  ])('rejects %j with an InputError naming the field', async (event, text) => {
    world = await makeWorld();
    const err = await invoke(planBackup(world.deps), event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(text);
    const logged = parsedLogs(world.logs).find((l) => l.level === 'error');
    expect(logged).toMatchObject({ error: 'InputError', handler: 'PlanBackup' });
  });
});

describe('BackupShard', () => {
  it('writes the object and then its manifest, and skips the committed shard on a re-run', async () => {
    world = await makeWorld();
    const handler = backupShard(world.deps);
    const first = await invoke<BackupShardOutput>(handler, task(T0));
    const ref = { source: 'prod', window: { startMs: T0, endMs: T0 + HOUR }, selector: '' };
    expect(first).toMatchObject({
      status: 'committed',
      samples: 120,
      key: objectKey(ref),
      startMs: T0,
      endMs: T0 + HOUR,
    });
    expect(first.storedBytes).toBeGreaterThan(0);
    expect(await listKeys(world.store, '')).toEqual([manifestKey(ref), objectKey(ref)]);
    const manifest = JSON.parse(await readText(world.store, manifestKey(ref)));
    expect(manifest).toMatchObject({ samples: 120, series: 2, complete: true, pulled_from: SOURCE_URLS[0] });

    const again = await invoke<BackupShardOutput>(handler, task(T0));
    expect(again.status).toBe('skipped');
    expect(world.readers.get(SOURCE_URLS[0]!)!.calls).toBe(1);
  });

  it('reads a query-mode source through the query API reader, with its budget', async () => {
    const base = testConfig();
    const { remoteReadUrls: _, ...source } = base.sources[0]!;
    const queryUrls = ['http://thanos-a:9090', 'http://thanos-b:9090'];
    const config = {
      ...base,
      sources: [{ ...source, mode: 'query' as const, queryUrls, maxSamplesPerQuery: 20_000 }],
    };
    const asked: unknown[] = [];
    world = await makeWorld({ config, readers: queryUrls.map((u) => new FakeReader(u)) });
    const fakeReader = world.deps.reader;
    const deps = {
      ...world.deps,
      reader: (...args: Parameters<typeof fakeReader>) => {
        asked.push([args[0], args[3]]);
        return fakeReader(...args);
      },
    };
    const out = await invoke<BackupShardOutput>(backupShard(deps), task(T0));
    expect(out.status).toBe('committed');
    expect(asked).toEqual(queryUrls.map((u) => [u, { mode: 'query', maxSamplesPerQuery: 20_000 }]));
    expect(sourceReader(queryUrls[0]!, undefined, undefined, { mode: 'query' })).toBeInstanceOf(HttpQueryReader);
    expect(sourceReader(SOURCE_URLS[0]!, undefined)).toBeInstanceOf(HttpRemoteReader);
  });

  it('fails over to the next replica when the first is unavailable', async () => {
    const down = new FakeReader(SOURCE_URLS[0]!, () => new SourceUnavailableError('remote read answered 503'));
    world = await makeWorld({ readers: [down, new FakeReader(SOURCE_URLS[1]!)] });
    const out = await invoke<BackupShardOutput>(backupShard(world.deps), task(T0));
    expect(out.status).toBe('committed');
    const manifest = JSON.parse(
      await readText(
        world.store,
        manifestKey({ source: 'prod', window: { startMs: T0, endMs: T0 + HOUR }, selector: '' }),
      ),
    );
    expect(manifest.pulled_from).toBe(SOURCE_URLS[1]);
    expect(parsedLogs(world.logs).find((l) => l.level === 'warn')).toMatchObject({
      msg: 'replica unavailable, failing over',
      endpoint: SOURCE_URLS[0],
    });
  });

  it('merges the replicas (the default with two); one that stays down leaves the shard incomplete, naming it', async () => {
    const config = testConfig({ sources: [{ ...testConfig().sources[0]!, replicaMode: 'merge' }] });
    const down = new FakeReader(SOURCE_URLS[1]!, () => new SourceUnavailableError('remote read answered 503'));
    world = await makeWorld({ config, readers: [new FakeReader(SOURCE_URLS[0]!), down] });
    const out = await invoke<BackupShardOutput>(backupShard(world.deps), task(T0));
    expect(out).toMatchObject({ status: 'committed', samples: 120 });
    const ref = { source: 'prod', window: { startMs: T0, endMs: T0 + HOUR }, selector: '' };
    const manifest = JSON.parse(await readText(world.store, manifestKey(ref)));
    expect(manifest).toMatchObject({
      complete: false,
      pulled_from: SOURCE_URLS[0],
      conflicting_samples: 0,
      missing_replicas: [`${SOURCE_URLS[1]}: remote read answered 503`],
    });
    expect(down.calls).toBe(3);
    expect(
      parsedLogs(world.logs)
        .filter((l) => l.level === 'warn')
        .map((l) => l.msg),
    ).toEqual(['replica failed, retrying', 'replica failed, retrying', 'replica failed, merging without it']);
  });

  it('passes source credentials to the reader and never logs them', async () => {
    world = await makeWorld();
    await invoke(backupShard(world.deps), task(T0));
    expect(world.readerCredentials[0]).toEqual({ bearerToken: 'source-token-123' });
    expect(world.logs.join('\n')).not.toContain('source-token-123');
    expect(parsedLogs(world.logs).map((l) => l.msg)).toEqual(['start', 'BackupShard done']);
    expect(parsedLogs(world.logs)[0]).toMatchObject({
      source: 'prod',
      shard: '2026-01-01T00:00:00Z/2026-01-01T01:00:00Z',
      requestId: 'req-1',
    });
  });

  it('aborts the work and fails with ShardTimeoutError 10 s before the Lambda timeout', async () => {
    const slow = new FakeReader(SOURCE_URLS[0]!, undefined, true);
    world = await makeWorld({ readers: [slow, new FakeReader(SOURCE_URLS[1]!)] });
    const err = await invoke(backupShard(world.deps), task(T0), lambdaContext(11_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardTimeoutError);
    expect((err as Error).name).toBe('ShardTimeoutError');
    expect((err as Error).message).toContain('shard [2026-01-01T00:00:00.000Z, 2026-01-01T01:00:00.000Z)');
    expect(slow.lastSignal?.aborted).toBe(true);
    expect(parsedLogs(world.logs).find((l) => l.level === 'error')).toMatchObject({ error: 'ShardTimeoutError' });
  });

  it('rejects a task whose window is backwards, naming the field', async () => {
    world = await makeWorld();
    await expect(invoke(backupShard(world.deps), { ...task(T0), endMs: T0 })).rejects.toThrow(/field endMs/);
    await expect(invoke(backupShard(world.deps), { ...task(T0), selector: '{job=' })).rejects.toThrow(/field selector/);
  });
});

describe('CommitBackup', () => {
  it('advances over the contiguous run, writes the checkpoint, then fails naming the gap', async () => {
    world = await makeWorld();
    world.now = T0 + 4 * HOUR + 10 * MINUTE;
    const plan = await invoke<BackupPlanOutput>(planBackup(world.deps), {
      source: 'prod',
      from: '2026-01-01T00:00:00Z',
      to: '2026-01-01T04:00:00Z',
    });
    const shard = backupShard(world.deps);
    for (const i of [0, 1, 3]) await invoke(shard, task(T0 + i * HOUR));
    const commit = commitBackup(world.deps);
    const input = { source: 'prod', runId: plan.runId, planKey: plan.planKey, plannedAtMs: plan.plannedAtMs };
    world.now += 2 * MINUTE;

    const err = await invoke(commit, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardsFailedError);
    const gap = objectKey({ source: 'prod', window: { startMs: T0 + 2 * HOUR, endMs: T0 + 3 * HOUR }, selector: '' });
    expect((err as ShardsFailedError).missing).toEqual([gap]);
    expect((err as Error).message).toContain(gap);
    expect((err as Error).message).toContain('1 of 4 shards');
    const checkpoint = JSON.parse(await readText(world.store, checkpointKey('prod')));
    expect(checkpoint.end_ms).toBe(T0 + 2 * HOUR);

    const emf = JSON.parse(world.metrics[0]!);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Promvault', Dimensions: [['Source']] });
    expect(emf).toMatchObject({
      Source: 'prod',
      ShardsCommitted: 3,
      ShardsFailed: 1,
      Samples: 360,
      LagSeconds: (2 * HOUR + 12 * MINUTE) / 1000,
      CheckpointAgeSeconds: 0,
      DurationSeconds: 120,
    });
    expect(emf.StoredBytes).toBeGreaterThan(0);

    // The next attempt fills the gap: the checkpoint moves over all four windows.
    await invoke(shard, task(T0 + 2 * HOUR));
    world.now += MINUTE;
    const out = await invoke<CommitOutput>(commit, input);
    expect(out).toMatchObject({ planned: 4, committed: 4, missing: [], checkpointMs: T0 + 4 * HOUR, samples: 480 });
    expect(JSON.parse(world.metrics[1]!)).toMatchObject({ ShardsFailed: 0, LagSeconds: 13 * 60, DurationSeconds: 180 });
  });

  it('commits nothing and succeeds for an empty plan', async () => {
    world = await makeWorld();
    await setCheckpoint(world, T0);
    world.now = T0 + 30 * MINUTE;
    const plan = await invoke<BackupPlanOutput>(planBackup(world.deps), { source: 'prod' });
    expect(plan.shardCount).toBe(0);
    const out = await invoke<CommitOutput>(commitBackup(world.deps), {
      source: 'prod',
      runId: plan.runId,
      planKey: plan.planKey,
    });
    expect(out).toMatchObject({ planned: 0, committed: 0, checkpointMs: T0 });
  });

  it('names the field of a bad commit input', async () => {
    world = await makeWorld();
    await expect(
      invoke(commitBackup(world.deps), { source: 'prod', runId: 'r', planKey: '../etc/passwd' }),
    ).rejects.toThrow(/field planKey/);
  });
});
