/**
 * Issue 14, case 1: a forced re-run of a committed shard, SIGKILLed at every store step (before,
 * while and after each call), never leaves the shard unreadable or smaller. After each kill the
 * store verifies, the shard reads back as exactly the old backup or the new one, and the next
 * normal and forced runs complete. Against the directory store and the S3 store (s3rver).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../../lambdas/adapters/open-store';
import { backupShard } from '../../lambdas/core/backup/shard';
import { listAllManifests } from '../../lambdas/core/manifest';
import type { ObjectStore } from '../../lambdas/core/ports';
import { verifyShard } from '../../lambdas/core/verify';
import {
  CRASH_SHARD,
  formatKillPoint,
  generatedReader,
  generatedSeries,
  readShard,
  sampleLines,
  type DataVariant,
  type KillPoint,
} from '../harness/crash-backup';
import { runTsChild, type ChildExit } from '../harness/child';
import { RecordingStore } from '../harness/recording-store';
import { startS3rver, type S3rverHandle } from '../harness/s3rver';

const CHILD = path.resolve(__dirname, '../harness/crash-backup.ts');
const BUCKET = 'crash';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

const EXPECTED: Record<DataVariant, string[]> = {
  old: sampleLines(generatedSeries('old', CRASH_SHARD.window)),
  new: sampleLines(generatedSeries('new', CRASH_SHARD.window)),
};

function runChild(env: Record<string, string>): Promise<ChildExit> {
  return runTsChild(CHILD, { ...S3_ENV, ...env });
}

const backup = (store: ObjectStore, variant: DataVariant, force: boolean) =>
  backupShard({ reader: generatedReader(variant), store, nowMs: Date.now }, CRASH_SHARD, { force });

async function attempt(run: () => Promise<string>): Promise<string> {
  try {
    return await run();
  } catch (err) {
    return `failed (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Verifies the whole store and reads the shard back: which backup it holds, or what is wrong. */
async function committedVariant(store: ObjectStore): Promise<DataVariant | string> {
  return attempt(() => readCommitted(store));
}

async function readCommitted(store: ObjectStore): Promise<DataVariant | string> {
  const manifests = await listAllManifests(store);
  if (manifests.length !== 1) return `${manifests.length} manifests`;
  const verdict = await verifyShard(store, manifests[0]!);
  if (verdict.verdict !== 'ok') return `verify: ${verdict.verdict} ${verdict.problems.join('; ')}`;
  const lines = await readShard(store, manifests[0]!);
  if (JSON.stringify(lines) === JSON.stringify(EXPECTED.old)) return 'old';
  if (JSON.stringify(lines) === JSON.stringify(EXPECTED.new)) return 'new';
  return `neither backup: ${lines.length} samples`;
}

/** A kill point and the backup the shard must hold after it: old before the manifest write, new after. */
interface Step {
  readonly point: KillPoint;
  readonly holds: 'old' | 'new' | 'old or new';
}

/** Every step of a forced re-run, as a run in this process takes them. */
async function steps(store: ObjectStore): Promise<Step[]> {
  await backup(store, 'old', false);
  const recording = new RecordingStore(store);
  await backup(recording, 'new', true);
  const commit = recording.calls.findIndex((c) => c.op === 'put' && c.key.startsWith('manifests/')) + 1;
  expect(commit).toBeGreaterThan(0);
  return recording.calls.flatMap((c, i): Step[] => {
    const call = i + 1;
    const holds = (phase: KillPoint['phase']) =>
      call < commit || (call === commit && phase === 'before')
        ? 'old'
        : call > commit || phase === 'after'
          ? 'new'
          : 'old or new';
    return (c.op === 'put' ? (['before', 'during', 'after'] as const) : (['before', 'after'] as const)).map(
      (phase) => ({ point: { call, phase }, holds: holds(phase) }),
    );
  });
}

interface StoreKind {
  /** A fresh, empty store URL for `label`. */
  url(label: string): string;
  /** The S3 server, for an s3:// URL. */
  s3?(): S3rverHandle;
}

let s3: S3rverHandle;
let dir: string;

beforeAll(async () => {
  [s3, dir] = await Promise.all([startS3rver({ buckets: [BUCKET] }), mkdtemp(path.join(tmpdir(), 'promvault-crash-'))]);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), dir === undefined ? undefined : rm(dir, { recursive: true, force: true })]);
});

const KINDS: [string, StoreKind][] = [
  ['directory store', { url: (label) => path.join(dir, label) }],
  ['s3 store', { url: (label) => `s3://${BUCKET}/${label}`, s3: () => s3 }],
];

describe.each(KINDS)('SIGKILL during a forced re-run, %s', (_name, kind) => {
  it('leaves exactly the old or the new backup at every step, and the next runs complete', async () => {
    const server = kind.s3?.();
    const open = (label: string) => openStore(kind.url(label), server ? { s3Client: server.client } : {});
    const plan = await steps(open('trace'));
    // At least: read the manifest, write the object, write the manifest.
    expect(plan.length).toBeGreaterThanOrEqual(7);

    const outcomes: Record<string, string> = {};
    for (const { point } of plan) {
      const label = `kill-${formatKillPoint(point).replace(':', '-')}`;
      const store = open(label);
      await backup(store, 'old', false);
      const exit = await runChild({
        CRASH_STORE: kind.url(label),
        CRASH_VARIANT: 'new',
        CRASH_FORCE: '1',
        CRASH_KILL_AT: formatKillPoint(point),
        ...(server ? { CRASH_S3_ENDPOINT: server.endpoint } : {}),
      });
      expect({ point: formatKillPoint(point), signal: exit.signal, stderr: exit.stderr }).toEqual({
        point: formatKillPoint(point),
        signal: 'SIGKILL',
        stderr: '',
      });
      const afterKill = await committedVariant(store);
      // A normal re-run keeps whatever is committed; a forced one replaces it.
      const normal = await attempt(async () => (await backup(store, 'new', false)).status);
      const afterNormal = await committedVariant(store);
      const forced = await attempt(async () => (await backup(store, 'new', true)).status);
      const afterForced = await committedVariant(store);
      outcomes[formatKillPoint(point)] = `${afterKill} → ${normal} ${afterNormal} → ${forced} ${afterForced}`;
    }
    const summary = Object.fromEntries(
      plan.map(({ point, holds }) => {
        const outcome = outcomes[formatKillPoint(point)]!;
        const m = /^(old|new) → skipped \1 → committed new$/.exec(outcome);
        const ok = m !== null && (holds === 'old or new' || holds === m[1]);
        return [formatKillPoint(point), ok ? `${holds}, then skipped, then new` : outcome];
      }),
    );
    expect(summary).toEqual(
      Object.fromEntries(plan.map(({ point, holds }) => [formatKillPoint(point), `${holds}, then skipped, then new`])),
    );
  });
});
