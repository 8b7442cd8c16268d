/**
 * Issue 2's proof: generated history in a real Prometheus → `promvault backup` to s3rver and to
 * a directory → every shard decodes to exactly the samples a SAMPLES remote read of the same
 * window returns, series by series, bit by bit. Re-runs write nothing; bad input writes nothing.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startS3rver, type S3rverHandle } from '../harness/s3rver';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples } from '../harness/compare';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { S3Store } from '../../lambdas/adapters/s3-store';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { listAllManifests } from '../../lambdas/core/manifest';
import { decodeShard } from '../../lambdas/core/format';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import { parseSelector } from '../../lambdas/core/prom/selector';
import type { ObjectStore } from '../../lambdas/core/ports';

let prom: HistoryServer;
let s3: S3rverHandle;
let work: string;

beforeAll(async () => {
  [prom, s3] = await Promise.all([startPrometheusWithHistory('integration'), startS3rver({ buckets: ['backups'] })]);
  work = await makeTempDir('backup-test');
});

afterAll(async () => {
  await Promise.all([prom?.stop(), s3?.stop()]);
  if (work) await removeDir(work);
});

const range = () => {
  const from = prom.corpus.startMs;
  return { from: String(from / 1000), to: String((from + prom.corpus.durationMs) / 1000) };
};

/** Decodes every committed shard and compares it with a SAMPLES remote read of its window. */
async function expectShardsEqualSource(store: ObjectStore): Promise<number> {
  const reader = new HttpRemoteReader({ url: prom.remoteReadUrl, mode: 'samples' });
  const manifests = await listAllManifests(store);
  expect(manifests.length).toBeGreaterThan(0);
  let samples = 0;
  for (const m of manifests) {
    const stored = await collectSeries(decodeShard(await fetchVerified(store, m)));
    const window = { startMs: m.start_ms, endMs: m.end_ms };
    const source = await collectSeries(reader.read(window, parseSelector(m.selector)));
    expect(diffSeries(source, stored)).toEqual([]);
    expect(totalSamples(stored)).toBe(m.samples);
    expect(stored.size).toBe(m.series);
    samples += m.samples;
  }
  return samples;
}

/** Every file under `dir` with a hash of its bytes: equal snapshots mean nothing was written. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out[path.relative(dir, file)] = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  }
  return out;
}

describe('promvault backup against a real Prometheus', () => {
  it('backs up to s3rver: every shard equals the source bit for bit, and a re-run writes nothing', async () => {
    const { from, to } = range();
    const args = ['backup', '--source', prom.url, '--store', 's3://backups/prod', '--s3-endpoint', s3.endpoint];
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const first = await runCli([...args, '--from', from, '--to', to, '--json'], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ shards: 6, skipped: 0, failed: 0, samples: prom.samples });
    expect(first.json!.stored_bytes).toBeGreaterThan(0);
    expect(typeof first.json!.seconds).toBe('number');

    const store = new S3Store({ bucket: 'backups', prefix: 'prod', client: s3.client });
    expect(await expectShardsEqualSource(store)).toBe(prom.samples);

    const keysBefore = [];
    for await (const o of store.list('')) keysBefore.push(o.key);
    const again = await runCli([...args, '--from', from, '--to', to, '--json'], { env });
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ shards: 6, skipped: 6, committed: 0, stored_bytes: first.json!.stored_bytes });
    const keysAfter = [];
    for await (const o of store.list('')) keysAfter.push(o.key);
    expect(keysAfter).toEqual(keysBefore);
  });

  it('backs up to a directory with a selector; inspect lists the shards', async () => {
    const dir = path.join(work, 'store');
    const { from, to } = range();
    const res = await runCli([
      'backup',
      '--source',
      prom.url,
      '--store',
      dir,
      '--from',
      from,
      '--to',
      to,
      '--shard-length',
      '2h',
      '--match',
      '{job="node",__name__=~"node_cpu.*"}',
      '--json',
    ]);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ shards: 3, failed: 0 });
    const store = new DirectoryStore(dir);
    const samples = await expectShardsEqualSource(store);
    expect(samples).toBe(res.json!.samples);
    expect(samples).toBeGreaterThan(0);
    expect(samples).toBeLessThan(prom.samples);

    const inspect = await runCli(['inspect', '--store', dir, '--json']);
    expect(inspect.code).toBe(0);
    expect(inspect.json).toMatchObject({ shards: 3, samples });
    const human = await runCli(['inspect', '--store', dir]);
    expect(human.stdout).toMatch(/3 committed shards/);
  });

  it('--dry-run prints the shards, their windows and which are already committed, and writes nothing', async () => {
    const dir = path.join(work, 'dry-run-store');
    const { from, to } = range();
    const half = String(Number(from) + 4 * 3600); // two whole 2h shards of the six hours
    const args = ['backup', '--source', prom.url, '--store', dir, '--shard-length', '2h'];
    const first = await runCli([...args, '--from', from, '--to', half, '--json']);
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ shards: 2, committed: 2, failed: 0 });
    const before = await snapshot(dir);

    const plan = await runCli([...args, '--from', from, '--to', to, '--dry-run', '--json']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    const startMs = Number(from) * 1000;
    const shard = (i: number, action: string) => ({
      start_ms: startMs + i * 2 * 3_600_000,
      end_ms: startMs + (i + 1) * 2 * 3_600_000,
      selector: '',
      action,
      object_key: expect.stringMatching(/^shards\/.*\.pvs$/),
    });
    expect(plan.json).toEqual({
      dry_run: true,
      source: expect.any(String),
      store: dir,
      shards: 3,
      skipped: 2,
      to_pull: 1,
      planned: [shard(0, 'skip'), shard(1, 'skip'), shard(2, 'pull')],
    });
    const words = await runCli([...args, '--from', from, '--to', to, '--dry-run']);
    expect(words.code).toBe(0);
    expect(words.stdout).toMatch(/3 shards, 1 to pull, 2 already committed \(nothing pulled or written: --dry-run\)/);
    expect(words.stdout.match(/^ {2}skip {2}\[/gm)).toHaveLength(2);
    expect(words.stdout.match(/^ {2}pull {2}\[/gm)).toHaveLength(1);
    // --force would pull the committed ones again.
    const forced = await runCli([...args, '--from', from, '--to', to, '--dry-run', '--force', '--json']);
    expect(forced.json).toMatchObject({ shards: 3, skipped: 0, to_pull: 3 });
    expect(await snapshot(dir)).toEqual(before);
  });

  describe('bad input fails before anything is written, naming the input and the fix', () => {
    const cases: Array<[string, (base: string[]) => string[], RegExp]> = [
      [
        'an unreachable source',
        (b) => b.map((a) => (a === 'SOURCE' ? 'http://127.0.0.1:1' : a)),
        /127\.0\.0\.1:1.*(--source|reach)/is,
      ],
      ['a bad selector', (b) => [...b, '--match', '{job=~"api"'], /--match|selector/i],
      ['--from after --to', (b) => b.map((a) => (a === 'FROM' ? 'TO_' : a === 'TO' ? 'FROM_' : a)), /--from/],
      ['an unknown store scheme', (b) => b.map((a) => (a === 'STORE' ? 'gs://bucket/x' : a)), /gs:\/\/.*s3:\/\//is],
      ['a bad time', (b) => b.map((a) => (a === 'FROM' ? 'yesterday' : a)), /--from.*yesterday/is],
    ];
    it.each(cases)('%s', async (_name, mutate, message) => {
      const { from, to } = range();
      const dir = path.join(work, `bad-${Math.random().toString(36).slice(2)}`);
      const base = ['backup', '--source', 'SOURCE', '--store', 'STORE', '--from', 'FROM', '--to', 'TO'];
      const args = mutate(base).map((a) =>
        a === 'SOURCE'
          ? prom.url
          : a === 'STORE'
            ? dir
            : a === 'FROM' || a === 'FROM_'
              ? from
              : a === 'TO' || a === 'TO_'
                ? to
                : a,
      );
      const res = await runCli(args);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
    });

    it('a missing bucket', async () => {
      const { from, to } = range();
      const res = await runCli(
        [
          'backup',
          '--source',
          prom.url,
          '--store',
          's3://no-such-bucket/x',
          '--s3-endpoint',
          s3.endpoint,
          '--from',
          from,
          '--to',
          to,
        ],
        { env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } },
      );
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/no-such-bucket.*(does not exist|create)/is);
    });
  });
});
