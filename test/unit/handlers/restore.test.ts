import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { HeadObjectCommand, RestoreObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHandler as backupShard } from '../../../lambdas/handlers/backup-shard';
import { createHandler as planRestore } from '../../../lambdas/handlers/plan-restore';
import { createHandler as thaw } from '../../../lambdas/handlers/thaw';
import { createHandler as restoreShard } from '../../../lambdas/handlers/restore-shard';
import { createHandler as report } from '../../../lambdas/handlers/report';
import type {
  ReportOutput,
  RestorePlanOutput,
  RestoreShardOutput,
  RestoreShardTaskSent,
  ThawOutput,
} from '../../../lambdas/handlers/contracts';
import { restoreResultKey, sha256Hex } from '../../../lambdas/handlers/io';
import { S3ArchiveThawer } from '../../../lambdas/adapters/s3-thaw';
import { CorruptShardError, InputError } from '../../../lambdas/core/errors';
import { manifestKey, objectKey } from '../../../lambdas/core/shard';
import {
  HOUR,
  SOURCE_URLS,
  T0,
  TARGET,
  invoke,
  listKeys,
  makeWorld,
  parsedLogs,
  readText,
  testConfig,
  type TestWorld,
} from './fixtures';

let world: TestWorld;
afterEach(async () => world?.cleanup());

/** Backs up `n` hourly shards from T0 through the BackupShard handler. */
async function backedUp(w: TestWorld, n: number): Promise<void> {
  const handler = backupShard(w.deps);
  for (let i = 0; i < n; i++)
    await invoke(handler, {
      source: 'prod',
      startMs: T0 + i * HOUR,
      endMs: T0 + (i + 1) * HOUR,
      selector: '',
      force: false,
    });
}

const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T03:00:00Z' };

describe('PlanRestore', () => {
  it('lists the shards of the range, writes the task list and inlines a small plan', async () => {
    world = await makeWorld();
    await backedUp(world, 3);
    const out = await invoke<RestorePlanOutput>(planRestore(world.deps), { ...range, selectors: ['up{job="api"}'] });
    expect(out).toMatchObject({ shardCount: 3, mode: 'inline', samples: 360, thawTier: 'Bulk' });
    expect(out.planKey).toBe(`restores/${out.runId}/plan.json`);
    expect(out.shards[0]).toMatchObject({
      runId: out.runId,
      fromMs: T0,
      toMs: T0 + 3 * HOUR,
      selectors: ['up{job="api"}'],
      target: TARGET,
    });
    expect(JSON.parse(await readText(world.store, out.planKey))).toEqual(out.shards);
    // Deterministic: the same input plans the same run.
    expect(
      (await invoke<RestorePlanOutput>(planRestore(world.deps), { ...range, selectors: ['up{job="api"}'] })).runId,
    ).toBe(out.runId);
  });

  it('carries verify and verifySource into every task, and leaves them out when off', async () => {
    world = await makeWorld();
    await backedUp(world, 2);
    const verifySource = 'http://prom-check:9090/api/v1/read';
    const on = await invoke<RestorePlanOutput>(planRestore(world.deps), { ...range, verify: true, verifySource });
    expect(on.shards).toHaveLength(2);
    for (const task of on.shards) expect(task).toMatchObject({ verify: true, verifySource });
    const off = await invoke<RestorePlanOutput>(planRestore(world.deps), range);
    for (const task of off.shards) {
      expect(task).not.toHaveProperty('verify');
      expect(task).not.toHaveProperty('verifySource');
    }
  });

  it('sends a plan over the inline limit through S3', async () => {
    world = await makeWorld();
    await backedUp(world, 4);
    const out = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T04:00:00Z',
      thawTier: 'Expedited',
      executionId: 'x1',
    });
    expect(out).toMatchObject({ runId: 'x1', shardCount: 4, mode: 's3', shards: [], thawTier: 'Expedited' });
    expect((JSON.parse(await readText(world.store, out.planKey)) as unknown[]).length).toBe(4);
  });

  it.each([
    [{ ...range, selectors: ['up', '{job='] }, 'field selectors[1]'],
    [{ ...range, target: 'ftp://x' }, 'field target'],
    [{ from: range.from }, 'field to: is missing'],
    [{ ...range, sources: ['bad name'] }, 'field sources[0]'],
    [{ ...range, thawTier: 'Fast' }, 'field thawTier'],
    [{ from: range.to, to: range.from }, 'is not before to'],
  ])('rejects %j with an InputError naming the field', async (event, text) => {
    world = await makeWorld();
    const err = await invoke(planRestore(world.deps), event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(text);
  });

  it('needs a target when the config has none', async () => {
    const base = testConfig();
    world = await makeWorld({ config: { ...base, restore: { ...base.restore, targetUrl: undefined } } });
    await expect(invoke(planRestore(world.deps), range)).rejects.toThrow(/field target is missing/);
  });
});

describe('RestoreShard and Report', () => {
  it('restores each shard, records its result, and Report aggregates them with the failures', async () => {
    world = await makeWorld();
    await backedUp(world, 3);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), { ...range, selectors: ['up{job="api"}'] });
    // Damage the second shard's object: its SHA-256 no longer matches the manifest.
    const damaged = objectKey({ source: 'prod', window: { startMs: T0 + HOUR, endMs: T0 + 2 * HOUR }, selector: '' });
    await writeFile(path.join(world.dir, ...damaged.split('/')), 'not a shard');

    const handler = restoreShard(world.deps);
    const outcomes = [];
    for (const task of plan.shards)
      outcomes.push(await invoke<RestoreShardOutput>(handler, task).catch((e: unknown) => e));
    expect(outcomes[0]).toMatchObject({ samples: 60, series: 1 });
    expect(outcomes[1]).toBeInstanceOf(CorruptShardError);
    expect(outcomes[2]).toMatchObject({ samples: 60, series: 1 });
    expect(world.writers.reduce((a, w) => a + w.writer.samples, 0)).toBe(120);

    const results = await listKeys(world.store, `restores/${plan.runId}/results/`);
    expect(results).toHaveLength(3);
    const failedRecord = JSON.parse(
      await readText(world.store, restoreResultKey(plan.runId, plan.shards[1]!.manifestKey)),
    );
    expect(failedRecord).toMatchObject({
      status: 'failed',
      error_name: 'CorruptShardError',
      manifest_key: plan.shards[1]!.manifestKey,
    });
    expect(restoreResultKey(plan.runId, 'k')).toBe(`restores/${plan.runId}/results/${sha256Hex('k')}.json`);

    const out = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    expect(out).toEqual({
      runId: plan.runId,
      reportKey: `restores/${plan.runId}/report.json`,
      shards: 3,
      restored: 2,
      failed_shards: 1,
      samples: 120,
      series: 2,
    });
    const doc = JSON.parse(await readText(world.store, out.reportKey));
    expect(doc.failures).toEqual([
      expect.objectContaining({ manifest_key: plan.shards[1]!.manifestKey, error_name: 'CorruptShardError' }),
    ]);
  });

  it('Report names the gaps of the range and the manifests that do not parse (issue 14, 15)', async () => {
    world = await makeWorld();
    await backedUp(world, 3);
    const hour = (i: number) => ({ startMs: T0 + i * HOUR, endMs: T0 + (i + 1) * HOUR });
    await rm(path.join(world.dir, ...manifestKey({ source: 'prod', window: hour(1), selector: '' }).split('/')));
    const bad = manifestKey({ source: 'prod', window: hour(2), selector: '' });
    const badFile = path.join(world.dir, ...bad.split('/'));
    await writeFile(badFile, (await readFile(badFile, 'utf8')).replace(',\n', ',,\n'));

    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), range);
    expect(plan.shardCount).toBe(1);
    for (const task of plan.shards) await invoke(restoreShard(world.deps), task);
    const out = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    expect(out).toMatchObject({ shards: 2, restored: 1, failed_shards: 1 });
    const doc = JSON.parse(await readText(world.store, out.reportKey));
    expect(doc.gaps).toEqual([[T0 + HOUR, T0 + 3 * HOUR]]);
    expect(doc.failures).toEqual([expect.objectContaining({ manifest_key: bad, error_name: 'CorruptShardError' })]);
  });

  it('with verify, each shard is read back and Report sums verified samples and mismatches', async () => {
    world = await makeWorld();
    await backedUp(world, 2);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T02:00:00Z',
      verify: true,
      verifySource: SOURCE_URLS[0],
    });
    expect(plan.shards[0]).toMatchObject({ verify: true, verifySource: SOURCE_URLS[0] });
    for (const task of plan.shards) await invoke(restoreShard(world.deps), task);
    // The fake writer stored nothing where the fake reader reads: the source stands in for a
    // target that holds the same data, so the read-back must equal the backup.
    const out = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    const doc = JSON.parse(await readText(world.store, out.reportKey));
    expect(doc).toMatchObject({ verified_samples: 240, mismatches: 0, mismatch_examples: [], rejected_samples: 0 });
    await expect(
      invoke(restoreShard(world.deps), { ...plan.shards[0]!, verifySource: undefined, target: 'http://t/api/v1/push' }),
    ).rejects.toThrow(/give verifySource/);
  });

  it('counts a planned shard without a result as failed', async () => {
    world = await makeWorld();
    await backedUp(world, 2);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T02:00:00Z',
    });
    await invoke(restoreShard(world.deps), plan.shards[0]);
    const out = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    expect(out).toMatchObject({ shards: 2, restored: 1, failed_shards: 1, samples: 120, series: 2 });
  });

  it('sends the target secret only to the configured target, and never logs it', async () => {
    world = await makeWorld();
    await backedUp(world, 1);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T01:00:00Z',
    });
    const task = plan.shards[0]!;
    await invoke(restoreShard(world.deps), task);
    await invoke(restoreShard(world.deps), { ...task, target: 'http://elsewhere:9090/api/v1/write' });
    expect(world.writers.map((w) => w.credentials)).toEqual([
      { basicAuth: { username: 'u', password: 'target-pw-456' } },
      undefined,
    ]);
    expect(
      parsedLogs(world.logs).some((l) => l.level === 'warn' && String(l.msg).includes('sending no credentials')),
    ).toBe(true);
    expect(world.logs.join('\n')).not.toContain('target-pw-456');
  });

  it('names the field of a bad task', async () => {
    world = await makeWorld();
    const task: RestoreShardTaskSent = {
      runId: 'r',
      manifestKey: 'manifests/x.json',
      fromMs: 10,
      toMs: 5,
      selectors: [],
      target: TARGET,
    };
    await expect(invoke(restoreShard(world.deps), task)).rejects.toThrow(/field toMs/);
    await expect(invoke(restoreShard(world.deps), { ...task, toMs: 20, target: 'nope' })).rejects.toThrow(
      /field target/,
    );
  });
});

describe('Thaw', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('requests a thaw for archived objects only and counts what is not readable yet', async () => {
    world = await makeWorld();
    await backedUp(world, 5);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T05:00:00Z',
    });
    expect(plan.mode).toBe('s3'); // Thaw reads the plan from the store either way
    const keys = [0, 1, 2, 3, 4].map((i) =>
      objectKey({ source: 'prod', window: { startMs: T0 + i * HOUR, endMs: T0 + (i + 1) * HOUR }, selector: '' }),
    );
    const heads = [
      { StorageClass: undefined }, // STANDARD: S3 leaves the header out
      { StorageClass: 'GLACIER_IR' },
      { StorageClass: 'GLACIER' },
      { StorageClass: 'GLACIER', Restore: 'ongoing-request="true"' },
      { StorageClass: 'DEEP_ARCHIVE', Restore: 'ongoing-request="false", expiry-date="Fri, 23 Dec 2026 00:00:00 GMT"' },
    ] as const;
    heads.forEach((h, i) => s3.on(HeadObjectCommand, { Key: `pv/${keys[i]}` }).resolves({ ...h }));
    s3.on(RestoreObjectCommand).resolves({});
    const client = new S3Client({ region: 'us-east-1' });
    const deps = { ...world.deps, thawer: () => new S3ArchiveThawer({ bucket: 'backups', prefix: 'pv', client }) };

    const out = await invoke<ThawOutput>(thaw(deps), { runId: plan.runId, planKey: plan.planKey, thawTier: 'Bulk' });
    expect(out).toEqual({ runId: plan.runId, planKey: plan.planKey, thawTier: 'Bulk', pending: 2, requested: 1 });
    const restores = s3.commandCalls(RestoreObjectCommand).map((c) => c.args[0].input);
    expect(restores).toEqual([
      { Bucket: 'backups', Key: `pv/${keys[2]}`, RestoreRequest: { Days: 7, GlacierJobParameters: { Tier: 'Bulk' } } },
    ]);
  });

  it('treats an object already being restored as pending without failing', async () => {
    world = await makeWorld();
    await backedUp(world, 1);
    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T01:00:00Z',
    });
    s3.on(HeadObjectCommand).resolves({ StorageClass: 'DEEP_ARCHIVE' });
    s3.on(RestoreObjectCommand).rejects(
      Object.assign(new Error('already'), { name: 'RestoreAlreadyInProgress', $metadata: { httpStatusCode: 409 } }),
    );
    const deps = {
      ...world.deps,
      thawer: () => new S3ArchiveThawer({ bucket: 'backups', client: new S3Client({ region: 'us-east-1' }) }),
    };
    const out = await invoke<ThawOutput>(thaw(deps), {
      runId: plan.runId,
      planKey: plan.planKey,
      thawTier: 'Expedited',
    });
    expect(out).toMatchObject({ pending: 1, requested: 1 });
    // Deep Archive has no Expedited tier: the request falls back to Standard.
    expect(s3.commandCalls(RestoreObjectCommand)[0]!.args[0].input.RestoreRequest).toEqual({
      Days: 7,
      GlacierJobParameters: { Tier: 'Standard' },
    });
  });

  it('names the field of a bad input', async () => {
    world = await makeWorld();
    await expect(invoke(thaw(world.deps), { runId: 'r', planKey: 'restores/r/plan.json' })).rejects.toThrow(
      /field thawTier/,
    );
  });
});

describe('overlapping shards through the restore state machine (issue 14 case 5)', () => {
  /** Every (series, timestamp) the fake targets received, with how often. */
  function written(w: TestWorld): Map<string, number> {
    const seen = new Map<string, number>();
    for (const { writer } of w.writers)
      for (const batch of writer.batches)
        for (const piece of batch.series)
          for (const t of piece.timestamps) {
            const k = `${JSON.stringify(piece.labels)}@${t}`;
            seen.set(k, (seen.get(k) ?? 0) + 1);
          }
    return seen;
  }

  async function restoreAll(w: TestWorld, to: string) {
    const plan = await invoke<RestorePlanOutput>(planRestore(w.deps), { from: range.from, to });
    const tasks = JSON.parse(await readText(w.store, plan.planKey)) as RestoreShardTaskSent[];
    for (const task of tasks) await invoke(restoreShard(w.deps), task);
    const out = await invoke<ReportOutput>(report(w.deps), { runId: plan.runId, planKey: plan.planKey });
    return { plan, tasks, out, doc: JSON.parse(await readText(w.store, out.reportKey)) };
  }

  it('1 h and 30 min shards of the same range: each sample written once, duplicates counted exactly', async () => {
    world = await makeWorld();
    const handler = backupShard(world.deps);
    const half = HOUR / 2;
    for (let i = 0; i < 2; i++)
      await invoke(handler, { source: 'prod', startMs: T0 + i * HOUR, endMs: T0 + (i + 1) * HOUR });
    for (let i = 0; i < 4; i++)
      await invoke(handler, { source: 'prod', startMs: T0 + i * half, endMs: T0 + (i + 1) * half });

    const { tasks, out, doc } = await restoreAll(world, '2026-01-01T02:00:00Z');
    // Two series, one sample a minute, 2 h: 240 samples, each held by a 1 h and a 30 min shard.
    const seen = written(world);
    expect(seen.size).toBe(240);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(out).toEqual({
      runId: out.runId,
      reportKey: out.reportKey,
      shards: 6,
      restored: 6,
      failed_shards: 0,
      samples: 240,
      series: 4,
    });
    expect(doc).toMatchObject({ samples: 240, duplicate_samples_skipped: 240, failures: [] });
    // The slice travels as bounds and selectors only.
    expect(tasks.filter((t) => t.slice !== undefined)).toHaveLength(4);
    for (const t of tasks) expect(JSON.stringify(t).length).toBeLessThan(1024);
  });

  it('a shard read once per part has a record per read, and a missing one is named by its manifest', async () => {
    world = await makeWorld();
    const handler = backupShard(world.deps);
    // 'up' sorts before 'up{job="api"}': in the second hour the 'up' shard supplies what both
    // match, so the 2 h shard is read twice (one part per hour, with different skips).
    await invoke(handler, { source: 'prod', startMs: T0, endMs: T0 + 2 * HOUR, selector: 'up{job="api"}' });
    await invoke(handler, { source: 'prod', startMs: T0 + HOUR, endMs: T0 + 2 * HOUR, selector: 'up' });

    const plan = await invoke<RestorePlanOutput>(planRestore(world.deps), {
      from: range.from,
      to: '2026-01-01T02:00:00Z',
    });
    const tasks = JSON.parse(await readText(world.store, plan.planKey)) as RestoreShardTaskSent[];
    expect(tasks).toHaveLength(3);
    const long = tasks.filter((t) => t.manifestKey === tasks.find((x) => x.slice?.part.skip.length)?.manifestKey);
    expect(long).toHaveLength(2);
    // Without the second read's record, Report names the shard as not finished.
    for (const task of tasks) if (task !== long[1]) await invoke(restoreShard(world.deps), task);
    const partial = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    expect(partial).toMatchObject({ shards: 3, restored: 2, failed_shards: 1 });
    const partialDoc = JSON.parse(await readText(world.store, partial.reportKey));
    expect(partialDoc.failures).toEqual([
      expect.objectContaining({ manifest_key: long[1]!.manifestKey, error_name: 'NoResult' }),
    ]);

    await invoke(restoreShard(world.deps), long[1]);
    const out = await invoke<ReportOutput>(report(world.deps), { runId: plan.runId, planKey: plan.planKey });
    expect(out).toMatchObject({ shards: 3, restored: 3, failed_shards: 0 });
    const seen = written(world);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBe(240);
    const doc = JSON.parse(await readText(world.store, out.reportKey));
    expect(doc).toMatchObject({ samples: 240, duplicate_samples_skipped: 120 });
  });

  it('names the field of a bad slice', async () => {
    world = await makeWorld();
    const task = { runId: 'r', manifestKey: 'manifests/x.json', fromMs: 0, toMs: 10, target: TARGET };
    await expect(
      invoke(restoreShard(world.deps), { ...task, slice: { part: { startMs: 5, endMs: 2, skip: [] } } }),
    ).rejects.toThrow(/field slice\.part\.endMs/);
    await expect(
      invoke(restoreShard(world.deps), { ...task, slice: { part: { startMs: 0, endMs: 2, skip: ['{x='] } } }),
    ).rejects.toThrow(/field slice\.part\.skip\[0\]/);
  });
});
