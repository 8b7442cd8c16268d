/**
 * Issue 14 (cases 3 and 5, coverage, exit codes) and issue 15 (read paths never write, tolerant
 * reading), with real servers: a Prometheus holding 3 h of generated history, backed up in 1 h
 * shards; s3rver; promtool; and a fresh Prometheus as the restore target.
 */
import { chmod, cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { backfillOpenMetrics, startPrometheus } from '../harness/prometheus';
import { startS3rver, type S3rverHandle } from '../harness/s3rver';
import { startFakeRemoteWrite } from '../harness/fake-remote-write';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli, type CliResult } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples, type Collected } from '../harness/compare';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { listAllManifests } from '../../lambdas/core/manifest';
import { manifestKey } from '../../lambdas/core/shard';
import { parseSelector } from '../../lambdas/core/prom/selector';
import type { TimeWindow } from '../../lambdas/core/types';

const HOUR = 3_600_000;
const BIN = path.resolve(__dirname, '../../bin/promvault.js');
const NOBODY = 65534;
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

let a: HistoryServer;
let work: string;
let store: string;
let range: TimeWindow;

const iso = (ms: number) => new Date(ms).toISOString();
const rangeArgs = () => ['--from', iso(range.startMs), '--to', iso(range.endMs)];

function readAll(url: string, window: TimeWindow): Promise<Map<string, Collected>> {
  return collectSeries(new HttpRemoteReader({ url }).read(window, parseSelector('{__name__=~".+"}')));
}

async function backup(into: string, shardLength: string): Promise<void> {
  const res = await runCli([
    'backup',
    '--source',
    a.url,
    '--store',
    into,
    ...rangeArgs(),
    '--shard-length',
    shardLength,
  ]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
}

/** A copy of the store, for a test that damages it. */
async function copyOfStore(name: string): Promise<string> {
  const dir = path.join(work, name);
  await cp(store, dir, { recursive: true });
  return dir;
}

/** `promvault run restore --local` (the synthesized restore state machine) with a minimal cdk.json. */
async function runRestoreLocal(storeArg: string, target: string): Promise<CliResult> {
  const contextFile = path.join(work, 'cdk.json');
  const context = {
    promvault: {
      sources: [{ name: 'unused', remoteReadUrl: 'http://127.0.0.1:9', shardLength: '1h' }],
      restore: { targetUrl: 'http://127.0.0.1:9/api/v1/write' },
    },
  };
  await writeFile(contextFile, JSON.stringify({ app: 'unused', context }));
  return runCli([
    'run',
    'restore',
    '--local',
    '--context-file',
    contextFile,
    '--store',
    storeArg,
    ...rangeArgs(),
    '--target',
    target,
    '--fast',
    '--json',
  ]);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  a = await startPrometheusWithHistory('small', { durationMs: 3 * HOUR });
  range = { startMs: a.corpus.startMs, endMs: a.corpus.startMs + a.corpus.durationMs };
  work = await makeTempDir('read-side');
  // Other users (the read-only tests run as nobody) must reach the stores below.
  await chmod(work, 0o755);
  store = path.join(work, 'store');
  await backup(store, '1h');
});

afterAll(async () => {
  await a?.stop();
  if (work) await removeDir(work);
});

describe('a store that holds no promvault data is bad input', () => {
  const commands = (storeArg: string): string[][] => [
    ['restore', '--store', storeArg, ...rangeArgs(), '--target', 'http://127.0.0.1:9/api/v1/write'],
    ['export', '--store', storeArg, ...rangeArgs(), '--out', path.join(work, 'typo.om')],
    ['verify', '--store', storeArg],
    ['inspect', '--store', storeArg],
  ];

  it('a directory that does not exist: exit 2, named, nothing created', async () => {
    const typo = path.join(work, 'typo');
    for (const args of commands(typo)) {
      const res = await runCli(args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toContain(typo);
      expect(res.stderr).toMatch(/holds no promvault backups/);
      expect(res.stderr).toMatch(/--store/);
      expect(await exists(typo)).toBe(false);
    }
    expect(await exists(path.join(work, 'typo.om'))).toBe(false);
  });

  it('run restore --local: a directory that does not exist or holds no backups is exit 2, nothing created', async () => {
    const typo = path.join(work, 'typo-run');
    // A target that answers, so only the store can stop the run.
    const res = await runRestoreLocal(typo, `${a.url}/api/v1/write`);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(typo);
    expect(res.stderr).toMatch(/holds no promvault backups.*--store/);
    expect(await exists(typo)).toBe(false);

    const empty = path.join(work, 'empty-run');
    await mkdir(empty);
    const again = await runRestoreLocal(empty, `${a.url}/api/v1/write`);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/holds no promvault backups \(no manifests\/ under it; it is empty\)/);
    expect(await readdir(empty)).toEqual([]);
  });

  it('a directory with other things in it: exit 2, and what it holds is listed', async () => {
    const other = path.join(work, 'not-a-store');
    await mkdir(path.join(other, 'photos'), { recursive: true });
    await writeFile(path.join(other, 'photos', 'cat.jpg'), 'x');
    for (const args of commands(other)) {
      const res = await runCli(args);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/holds no promvault backups.*"photos\/"/);
    }
  });

  it('a store path that is a file: exit 2 with what --store takes', async () => {
    const file = path.join(work, 'a-file');
    await writeFile(file, 'not a store');
    for (const args of commands(file)) {
      const res = await runCli(args);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/is a file, not a directory/);
    }
  });

  describe('on S3', () => {
    let s3: S3rverHandle;
    beforeAll(async () => {
      s3 = await startS3rver({ buckets: ['pvault'] });
      const res = await runCli(
        ['backup', '--source', a.url, '--store', 's3://pvault/prod', '--s3-endpoint', s3.endpoint, ...rangeArgs()],
        { env: S3_ENV },
      );
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
    });
    afterAll(async () => s3?.stop());

    it('a prefix without backups: exit 2, naming the prefix and what the bucket holds', async () => {
      for (const args of commands('s3://pvault/typo')) {
        const res = await runCli([...args, '--s3-endpoint', s3.endpoint], { env: S3_ENV });
        expect(res.code).toBe(2);
        expect(res.stderr).toContain('s3://pvault/typo holds no promvault backups');
      }
      const listed = await runCli(['inspect', '--store', 's3://pvault', '--s3-endpoint', s3.endpoint], {
        env: S3_ENV,
      });
      expect(listed.code).toBe(2);
      expect(listed.stderr).toMatch(/at the top level it holds "prod\/"/);
    });

    it('the right prefix reads', async () => {
      const res = await runCli(
        ['verify', '--store', 's3://pvault/prod', '--s3-endpoint', s3.endpoint, ...rangeArgs()],
        {
          env: S3_ENV,
        },
      );
      expect(res.code).toBe(0);
    });
  });
});

describe('read paths never write', () => {
  let readOnly: string;
  let outDir: string;

  beforeAll(async () => {
    readOnly = await copyOfStore('read-only');
    const lock = async (p: string): Promise<void> => {
      const st = await stat(p);
      if (st.isDirectory()) {
        for (const e of await readdir(p)) await lock(path.join(p, e));
        await chmod(p, 0o555);
      } else {
        await chmod(p, 0o444);
      }
    };
    await lock(readOnly);
    outDir = path.join(work, 'nobody-out');
    await mkdir(outDir);
    await chmod(outDir, 0o777);
  });

  afterAll(async () => {
    // Let the cleanup remove it.
    const unlock = async (p: string): Promise<void> => {
      const st = await stat(p);
      await chmod(p, st.isDirectory() ? 0o755 : 0o644);
      if (st.isDirectory()) for (const e of await readdir(p)) await unlock(path.join(p, e));
    };
    if (readOnly) await unlock(readOnly);
  });

  const asNobody = (args: string[]): Promise<CliResult> => runCli(args, { asUid: NOBODY });

  it('inspect, verify, restore and export all work on a read-only copy, as a user who cannot write it', async () => {
    const inspect = await asNobody(['inspect', '--store', readOnly, '--json']);
    expect(inspect.stderr).toBe('');
    expect(inspect.code).toBe(0);
    expect(inspect.json).toMatchObject({ shards: 3, samples: a.samples });

    const verify = await asNobody(['verify', '--store', readOnly, ...rangeArgs(), '--json']);
    expect(verify.code).toBe(0);
    expect(verify.json).toMatchObject({ shards: 3, ok: 3 });

    const fake = await startFakeRemoteWrite(() => ({ status: 204 }));
    try {
      const restore = await asNobody(['restore', '--store', readOnly, ...rangeArgs(), '--target', fake.url, '--json']);
      expect(restore.code).toBe(0);
      expect(fake.acceptedSamples).toBe(a.samples);
    } finally {
      await fake.stop();
    }

    const out = path.join(outDir, 'ro.om');
    const exported = await asNobody(['export', '--store', readOnly, ...rangeArgs(), '--out', out, '--json']);
    expect(exported.code).toBe(0);
    expect(exported.json).toMatchObject({ samples: a.samples });
    // Nothing was written into the store: no probe file, no temp file.
    const files = await readdir(readOnly);
    expect(files.sort()).toEqual(['checkpoints', 'manifests', 'shards']);
  });

  it('backup still checks for write access', async () => {
    const res = await asNobody(['backup', '--source', a.url, '--store', readOnly, ...rangeArgs(), '--force']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/not writable|cannot write/);
  });
});

describe('gaps', () => {
  let gapped: string;
  let missing: TimeWindow;

  beforeAll(async () => {
    gapped = await copyOfStore('gapped');
    missing = { startMs: range.startMs + HOUR, endMs: range.startMs + 2 * HOUR };
    await rm(path.join(gapped, manifestKey({ source: sourceName(), window: missing, selector: '' })));
  });

  const sourceName = () => new URL(a.url).host.replace(':', '_');

  const expectGapNamed = (res: CliResult) => {
    expect(res.json!.gaps).toEqual([[missing.startMs, missing.endMs]]);
    expect(res.stderr).toContain(
      `gap: source ${sourceName()} has no committed shard for [${iso(missing.startMs).replace('.000Z', 'Z')}`,
    );
  };

  it('restore of a range with a missing hour exits 3 and names the gap', async () => {
    const fake = await startFakeRemoteWrite(() => ({ status: 204 }));
    try {
      const res = await runCli(['restore', '--store', gapped, ...rangeArgs(), '--target', fake.url, '--json']);
      expect(res.code).toBe(3);
      expectGapNamed(res);
      expect(res.json).toMatchObject({ shards: 2, failed_shards: 0 });
      expect(fake.acceptedSamples).toBe(res.json!.samples);
    } finally {
      await fake.stop();
    }
  });

  it('verify of that range exits 3 and names the gap', async () => {
    const res = await runCli(['verify', '--store', gapped, ...rangeArgs(), '--json']);
    expect(res.code).toBe(3);
    expectGapNamed(res);
  });

  it('export exits 3 and names the gap; inspect lists it', async () => {
    const res = await runCli([
      'export',
      '--store',
      gapped,
      ...rangeArgs(),
      '--out',
      path.join(work, 'gapped.om'),
      '--json',
    ]);
    expect(res.code).toBe(3);
    expectGapNamed(res);
    const inspect = await runCli(['inspect', '--store', gapped, '--json']);
    expect(inspect.code).toBe(0);
    expectGapNamed(inspect);
  });

  it('a range the store covers in full exits 0 with no gaps', async () => {
    const res = await runCli([
      'verify',
      '--store',
      gapped,
      '--from',
      iso(range.startMs),
      '--to',
      iso(missing.startMs),
      '--json',
    ]);
    expect(res.code).toBe(0);
    expect(res.json!.gaps).toEqual([]);
  });
});

describe('overlapping shards are read once', () => {
  let overlapping: string;

  beforeAll(async () => {
    overlapping = await copyOfStore('overlapping');
    await backup(overlapping, '30m');
    expect(await listAllManifests(new DirectoryStore(overlapping))).toHaveLength(9);
  });

  it('export writes each sample once: promtool accepts it and the blocks hold the source’s samples', async () => {
    const out = path.join(work, 'overlapping.om');
    const res = await runCli(['export', '--store', overlapping, ...rangeArgs(), '--out', out, '--json']);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ samples: a.samples, duplicate_samples_skipped: a.samples });
    const tsdb = path.join(work, 'overlapping-tsdb');
    const { blocks } = await backfillOpenMetrics(out, tsdb);
    expect(blocks.reduce((n, b) => n + b.samples, 0)).toBe(a.samples);
    const c = await startPrometheus({ dataDir: tsdb });
    try {
      const [fromA, fromC] = await Promise.all([readAll(a.remoteReadUrl, range), readAll(c.remoteReadUrl, range)]);
      expect(totalSamples(fromA)).toBe(a.samples);
      expect(diffSeries(fromA, fromC)).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it('restore into a real Prometheus sends each sample once, bit for bit', async () => {
    const b = await startPrometheus({ outOfOrderWindow: '30d' });
    try {
      const res = await runCli([
        'restore',
        '--store',
        overlapping,
        ...rangeArgs(),
        '--target',
        b.remoteWriteUrl,
        '--json',
      ]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.json).toMatchObject({ samples: a.samples, duplicate_samples_skipped: a.samples, failed_shards: 0 });
      const [fromA, fromB] = await Promise.all([readAll(a.remoteReadUrl, range), readAll(b.remoteReadUrl, range)]);
      expect(diffSeries(fromA, fromB)).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  it('run restore --local (the restore state machine) sends each sample once and counts the duplicates skipped', async () => {
    const b = await startPrometheus({ outOfOrderWindow: '30d' });
    try {
      const res = await runRestoreLocal(overlapping, b.remoteWriteUrl);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      // Every shard is planned (its read counts the samples another shard supplies); each sample is sent once.
      expect(res.json).toMatchObject({ status: 'SUCCEEDED', shards: 9, restored: 9, samples: a.samples });
      const report = JSON.parse(await readFile(path.join(overlapping, String(res.json!.report_key)), 'utf8'));
      expect(report).toMatchObject({ samples: a.samples, duplicate_samples_skipped: a.samples, failed_shards: 0 });
      const [fromA, fromB] = await Promise.all([readAll(a.remoteReadUrl, range), readAll(b.remoteReadUrl, range)]);
      expect(totalSamples(fromB)).toBe(a.samples);
      expect(diffSeries(fromA, fromB)).toEqual([]);
    } finally {
      await b.stop();
    }
  });
});

describe('export writes --out whole or not at all (issue 15)', () => {
  it('a directory that does not exist is bad input before any work: exit 2, named, nothing created', async () => {
    const missing = path.join(work, 'no-such-dir');
    const res = await runCli(['export', '--store', store, ...rangeArgs(), '--out', path.join(missing, 'x.om')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`--out ${path.join(missing, 'x.om')}: directory ${missing} does not exist`);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await exists(missing)).toBe(false);
  });

  it('an export killed (SIGKILL) while writing leaves no file under --out; a re-run writes it whole', async () => {
    const dir = path.join(work, 'killed-export');
    await mkdir(dir);
    const out = path.join(dir, 'backup.om');
    const child = spawn(process.execPath, [BIN, 'export', '--store', store, ...rangeArgs(), '--out', out], {
      stdio: 'ignore',
    });
    // Killed the moment the first file shows up in the (empty) directory, i.e. as writing starts.
    const watcher = watch(dir, () => child.kill('SIGKILL'));
    const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    watcher.close();
    expect(signal).toBe('SIGKILL');
    expect(await exists(out)).toBe(false);

    const res = await runCli(['export', '--store', store, ...rangeArgs(), '--out', out, '--json']);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ samples: a.samples });
    expect((await readFile(out, 'utf8')).endsWith('# EOF\n')).toBe(true);
  });
});

describe('tolerant reading', () => {
  let damaged: string;
  let badKey: string;
  let badHour: TimeWindow;

  beforeAll(async () => {
    damaged = await copyOfStore('stray-comma');
    const manifests = await listAllManifests(new DirectoryStore(damaged));
    const victim = manifests[1]!;
    badHour = { startMs: victim.start_ms, endMs: victim.end_ms };
    badKey = manifestKey({ source: victim.source, window: badHour, selector: '' });
    const file = path.join(damaged, badKey);
    await writeFile(file, (await readFile(file, 'utf8')).replace(',\n', ',,\n'));
  });

  it('inspect and verify name the manifest, count it corrupt, exit 3, and go on', async () => {
    const inspect = await runCli(['inspect', '--store', damaged, '--json']);
    expect(inspect.code).toBe(3);
    expect(inspect.json).toMatchObject({ shards: 2 });
    expect(inspect.stderr).toContain(badKey);
    const verify = await runCli(['verify', '--store', damaged, ...rangeArgs(), '--json']);
    expect(verify.code).toBe(3);
    expect(verify.json).toMatchObject({ shards: 3, ok: 2, corrupt: 1 });
    expect(verify.stderr).toContain(badKey);
  });

  it('restore and export write every good shard, name the bad manifest and exit 3', async () => {
    const fake = await startFakeRemoteWrite(() => ({ status: 204 }));
    try {
      const res = await runCli(['restore', '--store', damaged, ...rangeArgs(), '--target', fake.url, '--json']);
      expect(res.code).toBe(3);
      expect(res.json).toMatchObject({ shards: 3, failed_shards: 1 });
      expect(res.stderr).toContain(badKey);
      const good =
        totalSamples(await readAll(a.remoteReadUrl, range)) - totalSamples(await readAll(a.remoteReadUrl, badHour));
      expect(fake.acceptedSamples).toBe(good);
    } finally {
      await fake.stop();
    }
    const exported = await runCli([
      'export',
      '--store',
      damaged,
      ...rangeArgs(),
      '--out',
      path.join(work, 'damaged.om'),
      '--json',
    ]);
    expect(exported.code).toBe(3);
    expect(exported.stderr).toContain(badKey);
  });
});
