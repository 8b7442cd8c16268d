/**
 * Issue 14, case 2 and HA replicas: two real Prometheus replicas holding overlapping data with
 * different gaps (and one sample where they disagree), plus a third restarted empty. A merged
 * backup holds exactly the union; restore into a fresh Prometheus gives exactly the union, bit
 * for bit; failover never picks the empty replica; a replica that is up but empty is never
 * committed as the whole truth.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples, type Collected } from '../harness/compare';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { HttpRemoteWriter } from '../../lambdas/adapters/remote-write-http';
import { listAllManifests } from '../../lambdas/core/manifest';
import { decodeShard } from '../../lambdas/core/format';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import { formatLabels } from '../../lambdas/core/labels';
import { createHandler as backupShardHandler } from '../../lambdas/handlers/backup-shard';
import type { BackupShardOutput, RuntimeSource } from '../../lambdas/handlers/contracts';
import type { Labels, SeriesPiece } from '../../lambdas/core/types';
import { invoke, makeWorld, testConfig } from '../unit/handlers/fixtures';

const HOUR = 3_600_000;
const STEP = 15_000;
/** Two closed hours, a whole hour behind now so every shard is complete. */
const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
const RANGE = { startMs: T0, endMs: T0 + 2 * HOUR };
const GAP_A = { startMs: T0 + 20 * 60_000, endMs: T0 + 40 * 60_000 };
const GAP_B = { startMs: T0 + 70 * 60_000, endMs: T0 + 80 * 60_000 };
const CONFLICT_TS = T0 + 90 * 60_000;

let a: PrometheusServer;
let b: PrometheusServer;
let empty: PrometheusServer;
let target: PrometheusServer | undefined;
let work: string;
/** What either replica holds, A's value where they disagree: what a merged backup must hold. */
let union: Map<string, Collected>;
let onlyA: Map<string, Collected>;

function seriesLabels(instance: string): Labels {
  return [
    { name: '__name__', value: 'promvault_replica_test' },
    { name: 'instance', value: instance },
    { name: 'job', value: 'ha' },
  ];
}

/** One replica's data: every series every 15 s, except inside its gap; B also has a series of its own. */
function replicaData(replica: 'a' | 'b'): SeriesPiece[] {
  const gap = replica === 'a' ? GAP_A : GAP_B;
  const instances = replica === 'a' ? ['i1', 'i2', 'i3'] : ['i1', 'i2', 'i3', 'only-b'];
  return instances.map((instance, k) => {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let t = RANGE.startMs; t < RANGE.endMs; t += STEP) {
      if (t >= gap.startMs && t < gap.endMs) continue;
      ts.push(t);
      // Hostile values the round trip must keep: -0, ±Inf, a tiny and a huge magnitude.
      const i = (t - RANGE.startMs) / STEP;
      const special = [-0, Infinity, -Infinity, 5e-324, 1.7976931348623157e308];
      let v = i % 50 === 7 ? special[((i / 50) % special.length) | 0]! : k * 1000 + i * 0.25;
      if (replica === 'b' && t === CONFLICT_TS && instance === 'i1') v = -1;
      vs.push(v);
    }
    return { labels: seriesLabels(instance), timestamps: Float64Array.from(ts), values: Float64Array.from(vs) };
  });
}

async function load(prom: PrometheusServer, pieces: SeriesPiece[]): Promise<void> {
  const writer = new HttpRemoteWriter({ url: prom.remoteWriteUrl });
  const samples = pieces.reduce((n, p) => n + p.timestamps.length, 0);
  await writer.write({ series: pieces, samples });
}

/**
 * Streamed chunks, not SAMPLES: Prometheus encodes SAMPLES with proto3, which leaves out a
 * value equal to 0 and so turns -0 into +0.
 */
function read(prom: PrometheusServer): Promise<Map<string, Collected>> {
  return collectSeries(new HttpRemoteReader({ url: prom.remoteReadUrl }).read(RANGE, []));
}

async function* piecesOf(pieces: SeriesPiece[]): AsyncGenerator<SeriesPiece> {
  yield* pieces;
}

/** The union of replicas, the first one's sample kept where both have a timestamp. */
function unionOf(...replicas: Map<string, Collected>[]): Map<string, Collected> {
  const out = new Map<string, Collected>();
  for (const replica of replicas) {
    for (const [key, s] of replica) {
      const bits = new Map<number, bigint>();
      const have = out.get(key);
      have?.timestamps.forEach((t, i) => bits.set(t, have.bits[i]!));
      s.timestamps.forEach((t, i) => {
        if (!bits.has(t)) bits.set(t, s.bits[i]!);
      });
      const ts = [...bits.keys()].sort((x, y) => x - y);
      out.set(key, { labels: s.labels, timestamps: ts, bits: ts.map((t) => bits.get(t)!) });
    }
  }
  return out;
}

async function backedUp(dir: string): Promise<{ series: Map<string, Collected>; pulledFrom: string[] }> {
  const store = new DirectoryStore(dir);
  const series = new Map<string, Collected>();
  const pulledFrom: string[] = [];
  for (const m of await listAllManifests(store)) {
    await collectSeries(decodeShard(await fetchVerified(store, m)), series);
    pulledFrom.push(m.pulled_from);
  }
  return { series, pulledFrom };
}

beforeAll(async () => {
  work = await makeTempDir('replicas-test');
  // A replica that held data and was restarted on an empty disk: up, answering, empty.
  const emptyDir = path.join(work, 'restarted');
  [a, b, empty] = await Promise.all([startPrometheus(), startPrometheus(), startPrometheus({ dataDir: emptyDir })]);
  await Promise.all([load(a, replicaData('a')), load(b, replicaData('b')), load(empty, replicaData('a'))]);
  await empty.stop();
  await rm(emptyDir, { recursive: true, force: true });
  empty = await startPrometheus({ dataDir: emptyDir });
  // Expected from what was written, and checked against what the replicas hold.
  onlyA = await collectSeries(piecesOf(replicaData('a')));
  const onlyB = await collectSeries(piecesOf(replicaData('b')));
  union = unionOf(onlyA, onlyB);
  expect(diffSeries(onlyA, await read(a))).toEqual([]);
  expect(diffSeries(onlyB, await read(b))).toEqual([]);
  expect(totalSamples(await read(empty))).toBe(0);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), empty?.stop(), target?.stop()]);
  if (work) await removeDir(work);
});

const range = ['--from', String(RANGE.startMs / 1000), '--to', String(RANGE.endMs / 1000)];

/** `promvault backup` of the range from the given replica URLs into `dir`, as source "ha". */
function backupInto(dir: string, urls: readonly string[], extra: readonly string[] = []) {
  const sources = urls.flatMap((u) => ['--source', u]);
  return runCli(['backup', ...sources, '--source-name', 'ha', '--store', dir, ...range, ...extra, '--json']);
}

describe('HA replicas against real Prometheus servers', () => {
  it('the fixture: the replicas overlap, each has samples the other lacks, and they disagree once', () => {
    const a1 = onlyA.get(formatLabels(seriesLabels('i1')))!;
    expect(totalSamples(union)).toBeGreaterThan(totalSamples(onlyA));
    expect(a1.timestamps).not.toContain(GAP_A.startMs);
    expect(union.get(formatLabels(seriesLabels('i1')))!.timestamps).toContain(GAP_A.startMs);
    expect(union.get(formatLabels(seriesLabels('only-b')))).toBeDefined();
    expect(a1.timestamps).toContain(CONFLICT_TS);
  });

  it.each([
    ['merge (the default)', undefined],
    ['failover', 'failover' as const],
  ])(
    'case 2: BackupShard with an empty first replica never commits less than the full one holds: %s',
    async (_name, replicaMode) => {
      const { credentialsSecretName: _none, replicaMode: _mode, ...base } = testConfig().sources[0]!;
      const source: RuntimeSource = {
        ...base,
        mode: 'remote-read',
        remoteReadUrls: [empty.remoteReadUrl, a.remoteReadUrl],
        // PROMVAULT_CONFIG's schema resolves the default (merge with two URLs) before handlers see it.
        replicaMode: replicaMode ?? 'merge',
      };
      const world = await makeWorld({
        config: testConfig({ sources: [source] }),
        deps: { reader: (url) => new HttpRemoteReader({ url }) },
      });
      try {
        world.now = Date.now();
        const outs: BackupShardOutput[] = [];
        for (const startMs of [RANGE.startMs, RANGE.startMs + HOUR]) {
          const task = { source: 'prod', startMs, endMs: startMs + HOUR, selector: '', force: false };
          outs.push(await invoke<BackupShardOutput>(backupShardHandler(world.deps), task));
        }
        expect(outs.reduce((n, o) => n + o.samples, 0)).toBe(totalSamples(onlyA));
        const { series, pulledFrom } = await backedUp(world.dir);
        expect(diffSeries(onlyA, series)).toEqual([]);
        for (const p of pulledFrom) {
          expect(p).toContain(`127.0.0.1:${a.port}`);
          if (replicaMode === 'failover') expect(p).not.toContain(`127.0.0.1:${empty.port}`);
        }
      } finally {
        await world.cleanup();
      }
    },
  );

  it('merge: the backup holds exactly the union, and restore gives exactly the union, bit for bit', async () => {
    const dir = path.join(work, 'merged');
    const res = await backupInto(dir, [empty.url, a.url, b.url]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({
      shards: 2,
      failed: 0,
      samples: totalSamples(union),
      conflicting_samples: 1,
      missing_replicas: [],
    });
    expect(diffSeries(union, (await backedUp(dir)).series)).toEqual([]);

    target = await startPrometheus();
    const restore = await runCli([
      'restore',
      '--store',
      dir,
      '--source-name',
      'ha',
      ...range,
      '--target',
      target.remoteWriteUrl,
      '--json',
    ]);
    expect(restore.code).toBe(0);
    expect(restore.json).toMatchObject({ samples: totalSamples(union) });
    expect(diffSeries(union, await read(target))).toEqual([]);

    // verify --against merges the replicas the same way, so the backup matches them exactly.
    const verify = await runCli(['verify', '--store', dir, '--against', a.url, '--against', b.url, '--json']);
    expect(verify.code).toBe(0);
    expect(verify.json).toMatchObject({ shards: 2, ok: 2, mismatches: 0 });
    const againstA = await runCli(['verify', '--store', dir, '--against', a.url, '--json']);
    expect(againstA.code).toBe(3);
    expect(againstA.json!.mismatches).toBe(totalSamples(union) - totalSamples(onlyA));
  });

  it("reads each replica's oldest retained sample from Prometheus itself", async () => {
    const oldest = (p: PrometheusServer) => new HttpRemoteReader({ url: p.remoteReadUrl }).oldestTimestamp();
    await expect(oldest(a)).resolves.toBe(RANGE.startMs);
    // An empty TSDB reports the largest int64: newer than any window.
    await expect(oldest(empty)).resolves.toBeGreaterThan(Date.now() + 100 * 365 * 24 * HOUR);
  });

  it('failover: never picks the empty replica; the first replica that can serve the window serves it', async () => {
    const dir = path.join(work, 'failover');
    const res = await backupInto(dir, [empty.url, a.url, b.url], ['--replicas', 'failover']);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ shards: 2, failed: 0, samples: totalSamples(onlyA) });
    const { series, pulledFrom } = await backedUp(dir);
    expect(diffSeries(onlyA, series)).toEqual([]);
    expect(pulledFrom).toEqual([a.remoteReadUrl, a.remoteReadUrl]);
  });

  it('merge without a replica that is down: the shards are committed as incomplete, exit 3, naming it', async () => {
    const dir = path.join(work, 'one-down');
    const down = 'http://127.0.0.1:1';
    const res = await backupInto(dir, [a.url, down]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/warning: cannot reach Prometheus at http:\/\/127\.0\.0\.1:1\/api\/v1\/read/);
    expect(res.stderr).toMatch(
      /shard .* is incomplete, the next run pulls it again: http:\/\/127\.0\.0\.1:1\/api\/v1\/read: /,
    );
    expect(res.json).toMatchObject({ samples: totalSamples(onlyA), checkpoint_ms: null });
    expect(res.json!.missing_replicas).toHaveLength(2);
    const manifests = await listAllManifests(new DirectoryStore(dir));
    expect(manifests.map((m) => m.complete)).toEqual([false, false]);
    expect(manifests[0]!.missing_replicas![0]).toMatch(/^http:\/\/127\.0\.0\.1:1\/api\/v1\/read: /);
  });

  it.each([
    [['--replicas', 'failover'], /--replicas failover needs two or more --source URLs/],
    [['--source', 'http://127.0.0.1:2', '--replicas', 'mirror'], /--replicas "mirror" must be one of: merge, failover/],
    [
      ['--source', 'http://127.0.0.1:2', '--replica-label', '1replica'],
      /--replica-label "1replica" is not a label name/,
    ],
  ])('bad replica flags fail before any work: %j', async (extra, message) => {
    const dir = path.join(work, 'never');
    const res = await runCli(['backup', '--source', a.url, ...extra, '--store', dir, ...range]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(existsSync(dir)).toBe(false);
  });
});
