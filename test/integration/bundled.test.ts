/**
 * The shipped artifact runs: `promvault run backup|restore --local --bundled` synthesizes the app
 * with local esbuild bundling and runs each function's bundle (what `cdk deploy` uploads), loaded
 * from its asset directory, against a real Prometheus and a directory store; the restored samples
 * must equal the source's. A bundle that cannot load (a hard import of an external module here)
 * fails the run, naming the function.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples } from '../harness/compare';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { formatIso } from '../../lambdas/core/time';
import type { TimeWindow } from '../../lambdas/core/types';
import { REPO_ROOT } from '../../cdk/lib/constructs/promvault-function';
import { HANDLERS_DIR_KEY } from '../../cdk/lib/synth';

const HANDLER_MODULES = [
  'plan-backup',
  'backup-shard',
  'commit-backup',
  'plan-restore',
  'thaw',
  'restore-shard',
  'report',
];
/** Synthesis with bundling of seven functions, twice, on a shared machine. */
const RUN_TIMEOUT_MS = 400_000;

let a: HistoryServer;
let b: PrometheusServer;
let work: string;
let brokenHandlers: string;
let range: TimeWindow;

const context = (extra: Record<string, unknown> = {}) => ({
  promvault: {
    sources: [{ name: 'demo', remoteReadUrl: 'http://127.0.0.1:9', shardLength: '10m' }],
    restore: { targetUrl: 'http://127.0.0.1:9/api/v1/write' },
  },
  ...extra,
});

beforeAll(async () => {
  [a, b] = await Promise.all([startPrometheusWithHistory('small'), startPrometheus()]);
  work = await makeTempDir('bundled-test');
  range = { startMs: a.corpus.startMs, endMs: a.corpus.startMs + a.corpus.durationMs };
  await writeFile(path.join(work, 'cdk.json'), JSON.stringify({ app: 'unused', context: context() }));
  // Handler modules that re-export the real ones but also import the native snappy binding,
  // which the bundle leaves external (and Lambda does not have). esbuild runs under the repo root.
  brokenHandlers = path.join(REPO_ROOT, 'node_modules', '.cache', `promvault-broken-handlers-${process.pid}`);
  await mkdir(brokenHandlers, { recursive: true });
  for (const m of HANDLER_MODULES)
    await writeFile(
      path.join(brokenHandlers, `${m}.ts`),
      `import 'snappy';\nexport * from ${JSON.stringify(path.join(REPO_ROOT, 'lambdas', 'handlers', m))};\n`,
    );
  await writeFile(
    path.join(work, 'broken.json'),
    JSON.stringify({ app: 'unused', context: context({ [HANDLERS_DIR_KEY]: brokenHandlers }) }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  if (work) await removeDir(work);
  if (brokenHandlers) await removeDir(brokenHandlers);
});

const backupArgs = (contextFile: string) => [
  'run',
  'backup',
  '--local',
  '--bundled',
  '--context-file',
  contextFile,
  '--store',
  path.join(work, 'store'),
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
];

describe('promvault run --local --bundled: the synthesized Lambda bundles', () => {
  it('back up, then restore into a fresh Prometheus: every sample, bit for bit', async () => {
    const backup = await runCli(backupArgs(path.join(work, 'cdk.json')), { timeoutMs: RUN_TIMEOUT_MS });
    // Bundling reports each asset on stderr; nothing else may appear there.
    expect(backup.stderr).not.toMatch(/error|fail/i);
    expect(backup.code).toBe(0);
    expect(backup.json).toMatchObject({ status: 'SUCCEEDED', shards: 3, committed: 3, samples: a.samples });

    const restore = await runCli(
      [
        'run',
        'restore',
        '--local',
        '--bundled',
        '--context-file',
        path.join(work, 'cdk.json'),
        '--store',
        path.join(work, 'store'),
        '--from',
        formatIso(range.startMs),
        '--to',
        formatIso(range.endMs),
        '--target',
        b.remoteWriteUrl,
        '--fast',
        '--json',
      ],
      { timeoutMs: RUN_TIMEOUT_MS },
    );
    expect(restore.stderr).not.toMatch(/error|fail/i);
    expect(restore.code).toBe(0);
    expect(restore.json).toMatchObject({ status: 'SUCCEEDED', shards: 3, restored: 3, samples: a.samples });

    const all = parseSelector('{__name__=~".+"}');
    const readAll = (p: PrometheusServer) =>
      collectSeries(new HttpRemoteReader({ url: p.remoteReadUrl }).read(range, all));
    const [fromA, fromB] = await Promise.all([readAll(a), readAll(b)]);
    expect(totalSamples(fromA)).toBe(a.samples);
    expect(diffSeries(fromA, fromB)).toEqual([]);
  });

  it('a bundle that imports a module Lambda does not have fails the run, naming the function and the module', async () => {
    const res = await runCli(backupArgs(path.join(work, 'broken.json')), { timeoutMs: RUN_TIMEOUT_MS });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(
      /the bundle of PlanBackup\w* \(index\.mjs, Handler index\.handler\) does not load: .*snappy/,
    );
  });
});
