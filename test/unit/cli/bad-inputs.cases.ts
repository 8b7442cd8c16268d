/**
 * Bad inputs a new user could give, one row each: the value tried, the exit code, and phrases the
 * error must hold (the input, the problem, the fix). bad-inputs.test.ts runs every row and keeps
 * the table in docs/RELIABILITY.md ("## Bad inputs") equal to what promvault prints.
 */
import { mkdir, readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryStore } from '../../../lambdas/adapters/dir-store';
import { runBackup } from '../../../lambdas/core/backup/run';
import type { PrometheusReader } from '../../../lambdas/core/ports';
import type { SeriesPiece, TimeWindow } from '../../../lambdas/core/types';
import {
  validateBackupShardTask,
  validateCommitInput,
  validateRestoreInput,
  validateRestoreShardTask,
} from '../../../lambdas/schemas/tasks';
import { backupRequestSchema, parseRunRequest, restoreRequestSchema } from '../../../lambdas/schemas/run-request';

/** Which kind of user input a row is about; the doc groups by it. */
export type InputKind = 'CLI flag' | 'cdk.json context' | 'state-machine input' | 'store read back';

export interface BadInput {
  readonly kind: InputKind;
  /** The input, e.g. `backup --timeout`. */
  readonly input: string;
  /** The bad value tried, as the user typed it. */
  readonly value: string;
  /** The CLI exit code, or the error a state-machine task fails with (not retried). */
  readonly exit: 0 | 1 | 2 | 3 | 'InputError';
  /** Phrases the message must hold: what was given, what is wrong, what to do. */
  readonly says: readonly string[];
  /** Command-line arguments, run through the real main(); or a call that must throw. */
  readonly argv?: (w: World) => string[];
  readonly call?: (w: World) => unknown;
  /** Also run it through the bundled bin/promvault.js in a child process. */
  readonly spawn?: boolean;
}

/** Files and stores the rows point at, made in a temporary directory by makeWorld(). */
export interface World {
  readonly dir: string;
  /** A store with two committed shards of source prod. */
  readonly store: string;
  readonly file: string;
  readonly emptyDir: string;
  readonly emptyFile: string;
  /** Holds user:password. */
  readonly userPassword: string;
  /** Stores with one thing damaged each. */
  readonly corrupt: Record<'strayComma' | 'newerVersion' | 'notObject' | 'truncated' | 'flipped' | 'deleted', string>;
  /** cdk.json files, each with one mistake. */
  readonly context: Record<string, string>;
}

export const FROM = '2026-01-01T00:00:00Z';
export const TO = '2026-01-01T02:00:00Z';
const WINDOW: TimeWindow = { startMs: Date.parse(FROM), endMs: Date.parse(TO) };
/** Nothing listens there: a row that reached the network would fail, not hang. */
const NOWHERE = 'http://127.0.0.1:9';
const TARGET = `${NOWHERE}/api/v1/write`;

class OneSeries implements PrometheusReader {
  readonly endpoint = 'fixture';
  async *read(window: TimeWindow): AsyncIterable<SeriesPiece> {
    const timestamps = Float64Array.from({ length: 60 }, (_, i) => window.startMs + i * 60_000);
    yield {
      labels: [
        { name: '__name__', value: 'up' },
        { name: 'job', value: 'api' },
      ],
      timestamps,
      values: Float64Array.from(timestamps, (_, i) => i),
    };
  }
}

async function backedUp(root: string): Promise<string> {
  const store = new DirectoryStore(root);
  await store.check();
  const report = await runBackup(
    { reader: new OneSeries(), store, nowMs: () => WINDOW.endMs + 3_600_000 },
    { source: 'prod', fromMs: WINDOW.startMs, toMs: WINDOW.endMs, shardLengthMs: 3_600_000, selectors: [] },
  );
  if (report.committed !== 2) throw new Error(`fixture backup committed ${report.committed} shards`);
  return root;
}

async function firstFile(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const file = entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : 1))[0];
  if (!file) throw new Error(`no file under ${dir}`);
  return path.join(file.parentPath, file.name);
}

async function damaged(root: string, damage: (manifest: string, shard: string) => Promise<void>): Promise<string> {
  await backedUp(root);
  await damage(await firstFile(path.join(root, 'manifests')), await firstFile(path.join(root, 'shards')));
  return root;
}

const CONTEXT = {
  sources: [{ name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090' }],
};

const CONTEXTS: Record<string, unknown> = {
  valid: CONTEXT,
  noSources: { sources: [] },
  badUrl: { sources: [{ name: 'prod', remoteReadUrl: 'prometheus:9090' }] },
  secretInUrl: { sources: [{ name: 'prod', remoteReadUrl: 'http://admin:S3cret@prometheus:9090' }] },
  badName: { sources: [{ name: 'prod east', remoteReadUrl: 'http://p:9090' }] },
  twice: {
    sources: [
      { name: 'prod', remoteReadUrl: 'http://a:9090' },
      { name: 'prod', remoteReadUrl: 'http://b:9090' },
    ],
  },
  shardLength: { sources: [{ ...CONTEXT.sources[0], shardLength: '7m' }] },
  lag: { sources: [{ ...CONTEXT.sources[0], lag: 'five minutes' }] },
  schedule: { sources: [{ ...CONTEXT.sources[0], schedule: 'every hour' }] },
  concurrency: { sources: [{ ...CONTEXT.sources[0], maxConcurrency: 0 }] },
  selector: { sources: [{ ...CONTEXT.sources[0], selectors: ['up{job=api'] }] },
  unknownField: { sources: [{ ...CONTEXT.sources[0], remoteReadURL: 'http://p:9090' }] },
  expiration: { ...CONTEXT, bucket: { expirationDays: -1 } },
  targetUrl: { ...CONTEXT, restore: { targetUrl: 'prometheus:9090/api/v1/write' } },
  thawTier: { ...CONTEXT, restore: { thawTier: 'Fast' } },
  memory: { ...CONTEXT, functions: { backupShard: { memoryMb: 64 } } },
};

export async function makeWorld(dir: string): Promise<World> {
  const at = (name: string) => path.join(dir, name);
  await writeFile(at('file'), 'not a store\n');
  await writeFile(at('empty-file'), '');
  await writeFile(at('user-password'), 'promvault:pa55word\n');
  await mkdir(at('empty-dir'));
  await writeFile(at('bad.json'), '{"context": {"promvault": {"sources": [}}}\n');
  const context: Record<string, string> = { notJson: at('bad.json'), missing: at('no-such-cdk.json') };
  for (const [name, promvault] of Object.entries(CONTEXTS)) {
    context[name] = at(`cdk-${name}.json`);
    await writeFile(context[name], JSON.stringify({ context: { promvault } }));
  }
  await writeFile(at('cdk-none.json'), JSON.stringify({ context: {} }));
  context.none = at('cdk-none.json');
  await writeFile(at('not-a-report.json'), JSON.stringify({ store: '/elsewhere' }));
  const otherReport = { store: '/elsewhere', from_ms: 0, to_ms: 1, match: [], source_names: [], target: TARGET };
  await writeFile(at('report-other.json'), JSON.stringify({ ...otherReport, completed_shards: [] }));
  return {
    dir,
    store: await backedUp(at('store')),
    file: at('file'),
    emptyDir: at('empty-dir'),
    emptyFile: at('empty-file'),
    userPassword: at('user-password'),
    context,
    corrupt: {
      // A stray comma, as from a hand edit.
      strayComma: await damaged(at('stray-comma'), async (m) =>
        writeFile(m, (await readFile(m, 'utf8')).replace('"complete": true,', '"complete": true,,')),
      ),
      newerVersion: await damaged(at('newer-version'), async (m) =>
        writeFile(m, (await readFile(m, 'utf8')).replace('"format_version": 1', '"format_version": 99')),
      ),
      notObject: await damaged(at('not-object'), async (m) => writeFile(m, '[]\n')),
      truncated: await damaged(at('truncated'), async (_m, s) => truncate(s, 20)),
      flipped: await damaged(at('flipped'), async (_m, s) => {
        const bytes = await readFile(s);
        bytes[bytes.length - 9] = bytes[bytes.length - 9]! ^ 0xff;
        await writeFile(s, bytes);
      }),
      deleted: await damaged(at('deleted'), async (_m, s) => unlink(s)),
    },
  };
}

const range = ['--from', FROM, '--to', TO];
const backup = (w: World, ...extra: string[]) => [
  'backup',
  '--source',
  NOWHERE,
  '--store',
  path.join(w.dir, 'new-store'),
  ...range,
  ...extra,
];
const restore = (w: World, ...extra: string[]) => [
  'restore',
  '--store',
  w.store,
  ...range,
  '--target',
  TARGET,
  ...extra,
];
const exportTo = (w: World, ...extra: string[]) => ['export', '--store', w.store, ...range, ...extra];
const runBackupWith = (context: string, ...extra: string[]) => [
  'run',
  'backup',
  '--source-name',
  'prod',
  '--context-file',
  context,
  '--dry-run',
  ...extra,
];
const flag = (input: string, value: string, exit: BadInput['exit'], says: string[], argv: BadInput['argv']) =>
  ({ kind: 'CLI flag', input, value, exit, says, argv }) as const;
const spawned = (row: BadInput): BadInput => ({ ...row, spawn: true });

export const BAD_INPUTS: readonly BadInput[] = [
  // ---- backup ----
  spawned(
    flag('backup --timeout', '0', 2, ['--timeout 0', 'give a duration longer than 0'], (w) =>
      backup(w, '--timeout', '0'),
    ),
  ),
  flag('backup --timeout', '0s', 2, ['--timeout 0s', 'give a duration'], (w) => backup(w, '--timeout', '0s')),
  flag('backup --timeout', '-5s', 2, ['--timeout "-5s"', 'cannot be negative', 'such as 30s'], (w) =>
    backup(w, '--timeout', '-5s'),
  ),
  flag('backup --timeout', '30', 2, ['--timeout "30"', 'the unit is missing', '30s?'], (w) =>
    backup(w, '--timeout', '30'),
  ),
  flag('backup --timeout', '1.5m', 2, ['--timeout "1.5m"', 'fractions', '1m30s'], (w) =>
    backup(w, '--timeout', '1.5m'),
  ),
  flag('backup --timeout', 'forever', 2, ['--timeout "forever"', 'Prometheus duration'], (w) =>
    backup(w, '--timeout', 'forever'),
  ),
  flag('backup --timeout', '(no value)', 2, ["'--timeout <duration>' argument missing"], (w) => backup(w, '--timeout')),
  spawned(
    flag('backup --source', '(missing)', 2, ["'--source <prometheus-url>' not specified"], (w) =>
      backup(w).slice(0, 1).concat(backup(w).slice(3)),
    ),
  ),
  flag(
    'backup --source',
    'prometheus:9090',
    2,
    ['--source prometheus:9090', 'http://', 'http://prometheus:9090'],
    (w) => ['backup', '--source', 'prometheus:9090', ...backup(w).slice(3)],
  ),
  flag('backup --source', 'not a url', 2, ['--source "not a url" is not a URL', 'Prometheus base URL'], (w) => [
    'backup',
    '--source',
    'not a url',
    ...backup(w).slice(3),
  ]),
  flag('backup --source', 'ftp://p:9090', 2, ['--source ftp://p:9090', 'http:// or https://'], (w) => [
    'backup',
    '--source',
    'ftp://p:9090',
    ...backup(w).slice(3),
  ]),
  flag('backup --source', 'the same URL twice', 2, ['is given twice', 'list each replica once'], (w) =>
    backup(w, '--source', NOWHERE),
  ),
  flag('backup --from', 'yesterday', 2, ['--from "yesterday"', 'RFC3339', 'now-6h'], (w) => [
    ...backup(w),
    '--from',
    'yesterday',
  ]),
  flag('backup --from', '1767225600000', 2, ['unix milliseconds', 'divide by 1000 (1767225600)'], (w) => [
    ...backup(w),
    '--from',
    '1767225600000',
  ]),
  flag('backup --from', '2026-01-01', 2, ['a date alone is ambiguous', '2026-01-01T00:00:00Z'], (w) => [
    ...backup(w),
    '--from',
    '2026-01-01',
  ]),
  flag('backup --from', '2026-01-01T00:00:00', 2, ['the time has no zone', 'add Z for UTC'], (w) => [
    ...backup(w),
    '--from',
    '2026-01-01T00:00:00',
  ]),
  flag('backup --from', '2026-02-30T00:00:00Z', 2, ['day 30 does not exist in 2026-02'], (w) => [
    ...backup(w),
    '--from',
    '2026-02-30T00:00:00Z',
  ]),
  flag('backup --from', 'now+1h', 2, ['--from "now+1h"', 'now-<duration>'], (w) => [...backup(w), '--from', 'now+1h']),
  flag('backup --from/--to', 'swapped', 2, ['is later than --to', 'swap them'], (w) => [
    ...backup(w),
    '--from',
    TO,
    '--to',
    FROM,
  ]),
  flag('backup --from/--to', 'equal', 2, ['--from and --to are both', 'is empty'], (w) => [...backup(w), '--to', FROM]),
  flag('backup --shard-length', '7m', 2, ['--shard-length 7m', 'divide 24h evenly', 'use one of'], (w) =>
    backup(w, '--shard-length', '7m'),
  ),
  flag('backup --shard-length', '2d', 2, ['--shard-length 2d', 'between 1m and 24h'], (w) =>
    backup(w, '--shard-length', '2d'),
  ),
  flag('backup --shard-length', '0', 2, ['--shard-length 0', 'between 1m and 24h'], (w) =>
    backup(w, '--shard-length', '0'),
  ),
  flag(
    'backup --match',
    'up{job=api',
    2,
    ['invalid selector "up{job=api"', 'expected a quoted value', 'look like'],
    (w) => backup(w, '--match', 'up{job=api'),
  ),
  flag('backup --match', '{job=~"("}', 2, ['invalid regular expression "("'], (w) =>
    backup(w, '--match', '{job=~"("}'),
  ),
  flag(
    'backup --match',
    'up and {__name__="up"}',
    2,
    ['selects the same series as --match up', 'give each selector once'],
    (w) => backup(w, '--match', 'up', '--match', '{__name__="up"}'),
  ),
  flag('backup --concurrency', '0', 2, ['--concurrency 0', 'whole number from 1 to 10'], (w) =>
    backup(w, '--concurrency', '0'),
  ),
  flag('backup --concurrency', 'many', 2, ['--concurrency many', 'whole number'], (w) =>
    backup(w, '--concurrency', 'many'),
  ),
  flag('backup --concurrency', '11', 2, ['--concurrency 11', 'from 1 to 10'], (w) => backup(w, '--concurrency', '11')),
  spawned(
    flag('backup --source-name', '(empty)', 2, ['source name ""', 'use 1-63 letters'], (w) =>
      backup(w, '--source-name', ''),
    ),
  ),
  flag('backup --source-name', 'my source', 2, ['source name "my source"', 'letters, digits'], (w) =>
    backup(w, '--source-name', 'my source'),
  ),
  flag('backup --replicas', 'merge with one --source', 2, ['--replicas merge needs two or more --source URLs'], (w) =>
    backup(w, '--replicas', 'merge'),
  ),
  flag('backup --replicas', 'mirror', 2, ['--replicas "mirror" must be one of: merge, failover'], (w) =>
    backup(w, '--source', 'http://127.0.0.1:10', '--replicas', 'mirror'),
  ),
  flag('backup --replica-label', '1replica', 2, ['--replica-label "1replica" is not a label name'], (w) =>
    backup(w, '--source', 'http://127.0.0.1:10', '--replica-label', '1replica'),
  ),
  flag('backup --basic-auth', 'nocolon', 2, ["--basic-auth must be 'user:password'"], (w) =>
    backup(w, '--basic-auth', 'nocolon'),
  ),
  flag('backup --basic-auth-file', 'a missing file', 2, ['--basic-auth-file', 'cannot be read', 'ENOENT'], (w) =>
    backup(w, '--basic-auth-file', path.join(w.dir, 'no-such-file')),
  ),
  flag('backup --basic-auth-file', 'an empty file', 2, ['--basic-auth-file', 'is empty', 'put the token'], (w) =>
    backup(w, '--basic-auth-file', w.emptyFile),
  ),
  flag('backup --bearer-token-file', 'a directory', 2, ['--bearer-token-file', 'cannot be read', 'EISDIR'], (w) =>
    backup(w, '--bearer-token-file', w.emptyDir),
  ),
  flag(
    'backup --basic-auth-file + --bearer-token-file',
    'both',
    2,
    ['both basic auth and a bearer token', 'keep one'],
    (w) => backup(w, '--basic-auth-file', w.userPassword, '--bearer-token-file', w.file),
  ),
  flag('backup --header', 'NoColon', 2, ['--header "NoColon"', "'Name: value'"], (w) =>
    backup(w, '--header', 'NoColon'),
  ),
  flag('backup --gc-grace', 'soon', 2, ['--gc-grace "soon"', 'Prometheus duration'], (w) =>
    backup(w, '--gc-grace', 'soon'),
  ),
  flag('backup --store', '(empty)', 2, ['--store is empty', 's3://bucket/prefix'], (w) => backup(w, '--store', '')),
  flag('backup --store', 'gs://bucket/p', 2, ["unknown store scheme 'gs://'", 's3://bucket/prefix'], (w) =>
    backup(w, '--store', 'gs://bucket/p'),
  ),
  flag('backup --store', 's3://Bad_Bucket/p', 2, ['"Bad_Bucket" is not an S3 bucket name', 'lowercase'], (w) =>
    backup(w, '--store', 's3://Bad_Bucket/p'),
  ),
  flag('backup --store', 's3://', 2, ['invalid --store "s3://"', 'is not an S3 bucket name'], (w) =>
    backup(w, '--store', 's3://'),
  ),
  spawned(
    flag(
      'backup --s3-endpoint',
      'localhost:4568',
      2,
      ['--s3-endpoint "localhost:4568" is not an http(s) URL', 'e.g. http://'],
      (w) => backup(w, '--store', 's3://bucket/p', '--s3-endpoint', 'localhost:4568'),
    ),
  ),
  flag('backup --region', 'us east', 2, ['--region "us east" is not an AWS region name', 'us-east-1'], (w) =>
    backup(w, '--store', 's3://bucket/p', '--region', 'us east'),
  ),
  flag('backup --s3-timeout', '0', 2, ['--s3-timeout 0', 'give a duration longer than 0'], (w) =>
    backup(w, '--store', 's3://bucket/p', '--s3-timeout', '0'),
  ),
  spawned(flag('backup', '--bogus', 2, ["unknown option '--bogus'"], (w) => backup(w, '--bogus'))),
  // ---- inspect, gc ----
  flag('inspect --store', 'a file', 2, ['is a file, not a directory', '--store takes the directory'], (w) => [
    'inspect',
    '--store',
    w.file,
  ]),
  flag(
    'inspect --store',
    'a missing directory',
    2,
    ['does not exist', 'holds no promvault backups', 'check --store'],
    (w) => ['inspect', '--store', path.join(w.dir, 'typo')],
  ),
  flag('inspect --store', 'an empty directory', 2, ['holds no promvault backups', 'check --store'], (w) => [
    'inspect',
    '--store',
    w.emptyDir,
  ]),
  flag('inspect --source-name', 'a/b', 2, ['source name "a/b"', 'letters, digits'], (w) => [
    'inspect',
    '--store',
    w.store,
    '--source-name',
    'a/b',
  ]),
  flag('inspect --source-name', 'staging (not in the store)', 2, ['staging', 'prod'], (w) => [
    'inspect',
    '--store',
    w.store,
    '--source-name',
    'staging',
  ]),
  flag('gc --grace', 'soon', 2, ['--grace "soon"', 'Prometheus duration'], (w) => [
    'gc',
    '--store',
    w.store,
    '--grace',
    'soon',
  ]),
  // Was "EEXIST … create it": the file in the way is named.
  spawned(
    flag(
      'gc --store',
      'a path under a file',
      2,
      ['cannot create the store directory', '<tmp>/file is a file, not a directory', 'give a directory as --store'],
      (w) => ['gc', '--store', path.join(w.file, 'store')],
    ),
  ),
  flag('inspect --store', 'a path under a file', 2, ['<tmp>/file is a file, not a directory'], (w) => [
    'inspect',
    '--store',
    path.join(w.file, 'store'),
  ]),
  // ---- restore, export ----
  flag('restore --target', '(missing)', 2, ['--target is required', 'unless --dry-run'], (w) =>
    restore(w).slice(0, -2),
  ),
  flag('restore --target', 'prometheus:9090/api/v1/write', 2, ['is not an http(s) URL', 'remote-write URL'], (w) =>
    restore(w, '--target', 'prometheus:9090/api/v1/write'),
  ),
  flag('restore --batch-samples', '0', 2, ['--batch-samples 0', 'whole number from 1'], (w) =>
    restore(w, '--batch-samples', '0'),
  ),
  flag('restore --concurrency', '100', 2, ['--concurrency 100', 'from 1 to 64'], (w) =>
    restore(w, '--concurrency', '100'),
  ),
  flag('restore --target-header', 'bad', 2, ['--target-header "bad"', "'Name: value'"], (w) =>
    restore(w, '--target-header', 'bad'),
  ),
  flag(
    'restore --target-bearer-token-file',
    'a missing file',
    2,
    ['--target-bearer-token-file', 'cannot be read'],
    (w) => restore(w, '--target-bearer-token-file', path.join(w.dir, 'no-such-token')),
  ),
  flag('restore --match', 'up{', 2, ['invalid selector "up{"'], (w) => restore(w, '--match', 'up{')),
  flag('restore --from/--to', 'swapped', 2, ['is not before --to', 'swap them'], (w) => [
    ...restore(w),
    '--from',
    TO,
    '--to',
    FROM,
  ]),
  flag('restore --resume', 'a missing file', 2, ['--resume', 'cannot be read'], (w) =>
    restore(w, '--resume', path.join(w.dir, 'no-such-report.json')),
  ),
  flag(
    'restore --resume',
    'a JSON file that is no report',
    2,
    ['is not a promvault restore report', 'restore --report'],
    (w) => restore(w, '--resume', w.file.replace(/file$/, 'not-a-report.json')),
  ),
  flag(
    'restore --resume',
    'a report of another restore',
    2,
    ['is the report of another restore', 'repeat the flags'],
    (w) => restore(w, '--resume', path.join(w.dir, 'report-other.json')),
  ),
  flag('restore --verify-source', 'nope', 2, ['--verify-source "nope" is not an http(s) URL', 'api/v1/read'], (w) =>
    restore(w, '--verify', '--verify-source', 'nope'),
  ),
  flag(
    'restore --verify',
    'a --target without /api/v1/write',
    2,
    ['--verify cannot tell the remote-read URL', '--verify-source'],
    (w) => restore(w, '--verify', '--target', `${NOWHERE}/custom`),
  ),
  flag('export --out', 'a missing directory', 2, ['does not exist: create it first'], (w) =>
    exportTo(w, '--out', path.join(w.dir, 'no-such-dir', 'x.om')),
  ),
  flag('export --out', 'a directory', 2, ['is a directory: name a file', 'backup.om'], (w) =>
    exportTo(w, '--out', w.emptyDir),
  ),
  flag('export --format', 'csv', 2, ['--format csv is not supported', '--format openmetrics'], (w) =>
    exportTo(w, '--out', '-', '--format', 'csv'),
  ),
  flag('export --out', '(missing)', 2, ["'--out <file|->' not specified"], (w) => exportTo(w)),
  // ---- verify, run, commands ----
  flag('verify --from/--to', 'swapped', 2, ['--from', 'is not before --to', 'swap them'], (w) => [
    'verify',
    '--store',
    w.store,
    '--from',
    TO,
    '--to',
    FROM,
  ]),
  spawned(
    flag('verify --against', 'prometheus', 2, ['--against "prometheus" is not a URL', 'Prometheus base URL'], (w) => [
      'verify',
      '--store',
      w.store,
      '--against',
      'prometheus',
    ]),
  ),
  flag(
    'verify --replicas',
    'merge with one --against',
    2,
    ['--replicas merge needs two or more --against URLs'],
    (w) => ['verify', '--store', w.store, '--against', NOWHERE, '--replicas', 'merge'],
  ),
  flag(
    'run backup --source-name',
    'nope',
    2,
    ['--source-name nope is not a configured source', 'configured: prod'],
    (w) => ['run', 'backup', '--source-name', 'nope', '--context-file', w.context.valid!, '--dry-run'],
  ),
  flag('run restore --thaw-tier', 'Fast', 2, ["argument 'Fast' is invalid", 'Standard, Bulk, Expedited'], (w) => [
    'run',
    'restore',
    ...range,
    '--thaw-tier',
    'Fast',
    '--context-file',
    w.context.none!,
    '--dry-run',
  ]),
  flag('run backup --aws', 'with --store', 2, ['--store is for --local runs'], (w) => [
    ...runBackupWith(w.context.none!),
    '--aws',
    '--store',
    w.store,
  ]),
  flag('(a command)', 'frobnicate', 2, ["unknown command 'frobnicate'"], () => ['frobnicate']),

  // ---- cdk.json context, read by `promvault run` and `cdk synth` alike ----
  ...(
    [
      ['--context-file', 'a missing file', 'missing', ['--context-file', 'cannot be read', 'ENOENT']],
      ['--context-file', 'not JSON', 'notJson', ['--context-file', 'cannot be read as JSON']],
      ['context.promvault', '(absent)', 'none', ['promvault']],
      ['sources', '[]', 'noSources', ['promvault.sources', 'lists no source', 'add at least one']],
      ['sources[0].remoteReadUrl', 'prometheus:9090', 'badUrl', ['sources[0].remoteReadUrl', 'http']],
      [
        'sources[0].remoteReadUrl',
        'http://admin:S3cret@prometheus:9090',
        'secretInUrl',
        ['sources[0].remoteReadUrl', 'Secrets Manager'],
      ],
      ['sources[0].name', 'prod east', 'badName', ['sources[0].name', '"prod east"']],
      ['sources[].name', 'prod twice', 'twice', ['prod', 'twice']],
      ['sources[0].shardLength', '7m', 'shardLength', ['sources[0].shardLength', 'divide 24h evenly']],
      ['sources[0].lag', 'five minutes', 'lag', ['sources[0].lag', 'five minutes']],
      ['sources[0].schedule', 'every hour', 'schedule', ['sources[0].schedule', 'rate(']],
      ['sources[0].maxConcurrency', '0', 'concurrency', ['sources[0].maxConcurrency']],
      ['sources[0].selectors', 'up{job=api', 'selector', ['sources[0].selectors[0]', 'up{job=api']],
      ['sources[0]', 'remoteReadURL (a misspelt field)', 'unknownField', ['remoteReadURL']],
      ['bucket.expirationDays', '-1', 'expiration', ['bucket.expirationDays']],
      ['restore.targetUrl', 'prometheus:9090/api/v1/write', 'targetUrl', ['restore.targetUrl', 'http']],
      ['restore.thawTier', 'Fast', 'thawTier', ['restore.thawTier', 'Fast']],
      ['functions.backupShard.memoryMb', '64', 'memory', ['functions.backupShard.memoryMb']],
    ] as const
  ).map(([input, value, file, says]): BadInput => ({
    kind: 'cdk.json context',
    input,
    value,
    exit: 2,
    says,
    argv: (w) => runBackupWith(w.context[file]!),
    spawn: file === 'secretInUrl',
  })),

  // ---- state-machine input: the task fails with InputError, which no Retry matches ----
  ...(
    [
      [
        'BackupShard endMs',
        'before startMs',
        () => validateBackupShardTask({ source: 'prod', startMs: 2000, endMs: 1000 }),
        ['endMs'],
      ],
      [
        'BackupShard source',
        '../etc',
        () => validateBackupShardTask({ source: '../etc', startMs: 0, endMs: 1 }),
        ['field source'],
      ],
      [
        'BackupShard startMs',
        '"soon"',
        () => validateBackupShardTask({ source: 'prod', startMs: 'soon', endMs: 1 }),
        ['field startMs'],
      ],
      [
        'BackupShard selector',
        'up{',
        () => validateBackupShardTask({ source: 'prod', startMs: 0, endMs: 1, selector: 'up{' }),
        ['field selector'],
      ],
      [
        'Commit runId',
        '(missing)',
        () => validateCommitInput({ source: 'prod', planKey: 'plans/x.json' }),
        ['field runId'],
      ],
      ['Restore input', 'not an object', () => validateRestoreInput('restore please'), ['a JSON object']],
      [
        'Restore target',
        'ftp://x',
        () => validateRestoreInput({ from: 'now-1h', to: 'now', target: 'ftp://x' }),
        ['field target'],
      ],
      [
        'Restore thawTier',
        'Fast',
        () => validateRestoreInput({ from: 'now-1h', to: 'now', thawTier: 'Fast' }),
        ['field thawTier', 'Fast'],
      ],
      ['RestoreShard task', '{}', () => validateRestoreShardTask({}), ['invalid input: field']],
      [
        'run backup request from',
        'yesterday',
        () => parseRunRequest(backupRequestSchema(Date.parse(TO)), { sourceName: 'prod', from: 'yesterday' }),
        ['--from', 'yesterday'],
      ],
      [
        'run restore request to',
        'before from',
        () => parseRunRequest(restoreRequestSchema(Date.parse(TO)), { from: TO, to: FROM }),
        ['is not before --to', 'swap them'],
      ],
      [
        'run restore request match',
        'up{',
        () => parseRunRequest(restoreRequestSchema(Date.parse(TO)), { from: FROM, to: TO, match: ['up{'] }),
        ['--match', 'up{'],
      ],
    ] as const
  ).map(([input, value, call, says]): BadInput => ({
    kind: 'state-machine input',
    input,
    value,
    exit: 'InputError',
    says,
    call,
  })),

  // ---- manifests and objects read back: named, counted, the rest proceeds (exit 3) ----
  ...(
    [
      [
        'manifest, read by inspect',
        'a stray comma',
        'inspect',
        'strayComma',
        ['corrupt manifest manifests/prod/', 'its shard is left out'],
      ],
      ['manifest, read by verify', 'a stray comma', 'verify', 'strayComma', ['manifests/prod/', 'corrupt']],
      [
        'manifest, read by restore',
        'a stray comma',
        'restore --dry-run',
        'strayComma',
        ['corrupt manifest manifests/prod/'],
      ],
      [
        'manifest, read by inspect',
        'format_version 99',
        'inspect',
        'newerVersion',
        ['format_version is 99', 'upgrade promvault'],
      ],
      ['manifest, read by inspect', 'a JSON list', 'inspect', 'notObject', ['corrupt manifest manifests/prod/']],
      ['shard object, read by verify', 'cut to 20 bytes', 'verify', 'truncated', ['corrupt: shards/prod/']],
      ['shard object, read by verify', 'one byte flipped', 'verify', 'flipped', ['corrupt: shards/prod/']],
      ['shard object, read by export', 'one byte flipped', 'export', 'flipped', ['shard shards/prod/', 'failed']],
      ['shard object, read by verify', 'deleted', 'verify', 'deleted', ['missing: shards/prod/']],
    ] as const
  ).map(([input, value, command, store, says]): BadInput => ({
    kind: 'store read back',
    input,
    value,
    exit: 3,
    says,
    argv: (w) => {
      const [name, ...rest] = command.split(' ');
      const out = name === 'export' ? ['--out', path.join(w.dir, `export-${store}.om`)] : [];
      const ranged = name === 'inspect' ? [] : range;
      return [name!, '--store', w.corrupt[store], ...ranged, ...rest, ...out];
    },
    spawn: store === 'strayComma' && command === 'inspect',
  })),
];
