/**
 * The local runner's proof, with real servers: the synthesized backup state machine runs
 * locally against a real Prometheus (generated history) into s3rver, through the Distributed
 * Map stand-in, with one shard failing once (Retry path) and one failing for good (Catch path);
 * a second run, through the real CLI, fills the gap; then the synthesized restore state machine
 * replays the range into a fresh Prometheus, which must then hold exactly the source's samples.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { startS3rver, type S3rverHandle } from '../harness/s3rver';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples } from '../harness/compare';
import { runBackupLocally } from '../../cli/local-runner/api';
import type { ExecutionEvent } from '../../cli/local-runner/runner';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { S3Store } from '../../lambdas/adapters/s3-store';
import { SourceRejectedError, SourceUnavailableError } from '../../lambdas/core/errors';
import { readManifestIfPresent } from '../../lambdas/core/manifest';
import type { PrometheusReader } from '../../lambdas/core/ports';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { manifestKey } from '../../lambdas/core/shard';
import { formatIso } from '../../lambdas/core/time';
import type { TimeWindow } from '../../lambdas/core/types';

const SHARD = 5 * 60_000;
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

let a: HistoryServer;
let b: PrometheusServer;
let s3: S3rverHandle;
let work: string;
let contextFile: string;
let range: TimeWindow;

/** 30 minutes of history in 5-minute shards: 6 shards, more than inlinePlanLimit, so the Distributed Map runs. */
const context = () => ({
  promvault: {
    sources: [{ name: 'demo', remoteReadUrl: 'http://127.0.0.1:9', shardLength: '5m' }],
    restore: { targetUrl: 'http://127.0.0.1:9/api/v1/write' },
    inlinePlanLimit: 4,
  },
});

beforeAll(async () => {
  [a, b, s3] = await Promise.all([
    startPrometheusWithHistory('small'),
    startPrometheus(),
    startS3rver({ buckets: ['archive'] }),
  ]);
  work = await makeTempDir('local-runner-test');
  contextFile = path.join(work, 'cdk.json');
  await writeFile(contextFile, JSON.stringify({ app: 'unused', context: context() }));
  range = { startMs: a.corpus.startMs, endMs: a.corpus.startMs + a.corpus.durationMs };
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), s3?.stop()]);
  if (work) await removeDir(work);
});

const store = () => new S3Store({ bucket: 'archive', prefix: 'pv', client: s3.client });
const windowOf = (i: number) => ({ startMs: range.startMs + i * SHARD, endMs: range.startMs + (i + 1) * SHARD });
const committed = async (i: number) =>
  (await readManifestIfPresent(store(), manifestKey({ source: 'demo', window: windowOf(i), selector: '' }))) !==
  undefined;

/** Wraps the real remote reader: window X fails once (transient), window Y always (permanent). */
function withFaults(reader: PrometheusReader, x: number, y: number, calls: Map<number, number>): PrometheusReader {
  return {
    endpoint: reader.endpoint,
    async *read(window, matchers, options) {
      const n = (calls.get(window.startMs) ?? 0) + 1;
      calls.set(window.startMs, n);
      if (window.startMs === x && n === 1)
        throw new SourceUnavailableError(`remote read from ${reader.endpoint} failed: injected 503`);
      if (window.startMs === y)
        throw new SourceRejectedError(`remote read from ${reader.endpoint} failed: injected 400`);
      yield* reader.read(window, matchers, options);
    },
  };
}

describe('the synthesized state machines, run locally against real servers', () => {
  const X = 1;
  const Y = 3;

  it('backup: the Retry path commits, the Catch path is reported, the checkpoint stops before it, the run fails', async () => {
    const calls = new Map<number, number>();
    const events: ExecutionEvent[] = [];
    const result = await runBackupLocally({
      context: context(),
      store: 's3://archive/pv',
      s3Client: s3.client,
      sourceName: 'demo',
      sourceUrl: a.url,
      from: range.startMs,
      to: range.endMs,
      fast: true,
      logLevel: 'silent',
      deps: (d) => ({
        ...d,
        reader: (url, credentials) =>
          withFaults(d.reader(url, credentials), windowOf(X).startMs, windowOf(Y).startMs, calls),
      }),
      onEvent: (e) => events.push(e),
    });

    expect(result).toMatchObject({
      mode: 'local',
      status: 'FAILED',
      error: 'ShardsFailedError',
      shards: 6,
      committed: 5,
      failed: 1,
      checkpoint_ms: windowOf(Y).startMs,
      failures: [
        {
          shard: `${formatIso(windowOf(Y).startMs)}/${formatIso(windowOf(Y).endMs)}`,
          error: 'SourceRejectedError',
          message: expect.stringContaining('injected 400'),
        },
      ],
    });
    expect(result.message).toMatch(/^1 of 6 shards of source demo/);
    expect(result.samples).toBeGreaterThan(0);
    expect(result.samples).toBeLessThan(a.samples);
    // Retry path: failed once, retried by the state machine, committed.
    expect(calls.get(windowOf(X).startMs)).toBe(2);
    expect(await committed(X)).toBe(true);
    // Catch path: not retried (permanent), reported, nothing stored.
    expect(calls.get(windowOf(Y).startMs)).toBe(1);
    expect(await committed(Y)).toBe(false);
    for (const i of [0, 2, 4, 5]) expect(await committed(i)).toBe(true);
    // It went through the Distributed Map stand-in: the plan was read from the store.
    const states = new Set(events.flatMap((e) => ('state' in e ? [e.state.name] : [])));
    expect(states.has('BackupShardsFromS3.ReadItems')).toBe(true);
    expect(states.has('BackupShardFromS3')).toBe(true);
    expect(events.filter((e) => e.type === 'StateRetried')).toHaveLength(1);
  });

  it('backup again (promvault run backup, no fault): the gap is committed and the checkpoint advances', async () => {
    const res = await runCli(
      [
        'run',
        'backup',
        '--context-file',
        contextFile,
        '--store',
        's3://archive/pv',
        '--s3-endpoint',
        s3.endpoint,
        '--source-name',
        'demo',
        '--source-url',
        a.url,
        '--from',
        String(range.startMs / 1000),
        '--to',
        String(range.endMs / 1000),
        '--fast',
        '--json',
      ],
      { env: S3_ENV },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({
      mode: 'local',
      status: 'SUCCEEDED',
      shards: 6,
      committed: 6,
      skipped: 5,
      failed: 0,
      samples: a.samples,
      checkpoint_ms: range.endMs,
      store: 's3://archive/pv',
    });
    expect(res.json!.execution).toBe('backup-demo-20240101T120000Z-20240101T123000Z');
    expect(res.json!.stored_bytes).toBeGreaterThan(0);
    expect(typeof res.json!.seconds).toBe('number');
    expect(await committed(Y)).toBe(true);
  });

  it('restore (promvault run restore) into a fresh Prometheus: every sample of the range, bit for bit', async () => {
    const res = await runCli(
      [
        'run',
        'restore',
        '--context-file',
        contextFile,
        '--store',
        's3://archive/pv',
        '--s3-endpoint',
        s3.endpoint,
        '--from',
        formatIso(range.startMs),
        '--to',
        formatIso(range.endMs),
        '--target',
        b.remoteWriteUrl,
        '--fast',
        '--json',
      ],
      { env: S3_ENV },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({
      mode: 'local',
      status: 'SUCCEEDED',
      shards: 6,
      restored: 6,
      failed_shards: 0,
      samples: a.samples,
    });
    expect(typeof res.json!.seconds).toBe('number');

    const all = parseSelector('{__name__=~".+"}');
    const readAll = (p: PrometheusServer) =>
      collectSeries(new HttpRemoteReader({ url: p.remoteReadUrl }).read(range, all));
    const [fromA, fromB] = await Promise.all([readAll(a), readAll(b)]);
    expect(totalSamples(fromA)).toBe(a.samples);
    expect(diffSeries(fromA, fromB)).toEqual([]);
    expect(totalSamples(fromB)).toBe(a.samples);
  });
});
