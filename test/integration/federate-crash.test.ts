/**
 * Issue 16, federate mode: a capture SIGKILLed at every store step (while and after each call)
 * loses no committed snapshot and leaves nothing partial visible. After each kill, every shard a
 * reader sees verifies and holds only captured samples, each once; a later run compacts the rest,
 * and the store then holds exactly the samples of every snapshot committed before the kill.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { readCheckpoint } from '../../lambdas/core/backup/commit';
import { listAllManifests } from '../../lambdas/core/manifest';
import { verifyShard } from '../../lambdas/core/verify';
import { formatKillPoint, readShard, type KillPoint } from '../harness/crash-backup';
import { FED_INPUT, FED_START, runFederate, tickSamples } from '../harness/crash-federate';
import { runTsChild } from '../harness/child';
import { RecordingStore, type StoreCall } from '../harness/recording-store';

const CHILD = path.resolve(__dirname, '../harness/crash-federate.ts');
const tickAt = (n: number) => FED_START + n * FED_INPUT.intervalMs;

let root: string;
let reference: StoreCall[];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'promvault-federate-crash-'));
  const recording = new RecordingStore(new DirectoryStore(path.join(root, 'reference')));
  await runFederate(recording, 'capture');
  reference = recording.calls;
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const isSnapshotCommit = (c: StoreCall) => c.op === 'put' && c.key.startsWith('snapshots/') && c.key.endsWith('.json');

/** How many snapshots (one per tick here) were committed before the process died at `kill`. */
function committedTicks(kill: KillPoint): number {
  return reference.filter(
    (c, i) => isSnapshotCommit(c) && (i + 1 < kill.call || (i + 1 === kill.call && kill.phase === 'after')),
  ).length;
}

/**
 * After every call, and while every streamed put (objects; manifests and the checkpoint of a
 * compaction are conditional writes of one buffer) streams. The second and third snapshots take
 * the same steps as the first and are left out, to keep the test short.
 */
function killPoints(): KillPoint[] {
  const snapshotCommits = reference.flatMap((c, i) => (isSnapshotCommit(c) ? [i] : []));
  const repeated = (i: number) => i > snapshotCommits[0]! && i <= snapshotCommits[2]!;
  return reference.flatMap((c, i) =>
    repeated(i)
      ? []
      : [
          ...(c.op === 'put' && /^(snapshots|shards)\//.test(c.key) ? [{ call: i + 1, phase: 'during' as const }] : []),
          { call: i + 1, phase: 'after' as const },
        ],
  );
}

async function visibleSamples(store: DirectoryStore): Promise<string[]> {
  const lines: string[] = [];
  for (const m of await listAllManifests(store)) {
    const verdict = await verifyShard(store, m);
    expect(verdict.problems).toEqual([]);
    lines.push(...(await readShard(store, m)));
  }
  return lines.sort();
}

test('the reference capture commits snapshots, compacts a window and deletes its snapshots', () => {
  const ops = reference.map((c) => `${c.op} ${c.key.split('/')[0]}`);
  expect(reference.filter(isSnapshotCommit)).toHaveLength(5);
  expect(ops).toContain('put manifests');
  expect(ops).toContain('put checkpoints');
  expect(ops.filter((o) => o === 'delete snapshots')).toHaveLength(6);
});

test('SIGKILL at every store step of a capture loses no committed snapshot and shows nothing partial', async () => {
  const points = killPoints();
  expect(points.length).toBeGreaterThan(25);
  const failures: string[] = [];
  for (const kill of points) {
    const dir = path.join(root, `kill-${kill.call}-${kill.phase}`);
    const exit = await runTsChild(CHILD, {
      CRASH_STORE: dir,
      CRASH_MODE: 'capture',
      CRASH_KILL_AT: formatKillPoint(kill),
    });
    const at = `${formatKillPoint(kill)} (${reference[kill.call - 1]!.op} ${reference[kill.call - 1]!.key})`;
    if (exit.signal !== 'SIGKILL') {
      failures.push(`${at}: the child was not killed (${exit.code}): ${exit.stderr.slice(0, 300)}`);
      continue;
    }
    const store = new DirectoryStore(dir);
    const committed = Array.from({ length: committedTicks(kill) }, (_, n) => tickSamples(tickAt(n))).flat();
    // What readers see right after the kill: whole shards of captured samples, each sample once.
    const visible = await visibleSamples(store);
    if (new Set(visible).size !== visible.length) failures.push(`${at}: a sample is visible twice`);
    const notCaptured = visible.filter((l) => !committed.includes(l));
    if (notCaptured.length > 0)
      failures.push(`${at}: ${notCaptured.length} visible samples no committed snapshot holds`);
    // A later run compacts what the killed one left: every committed snapshot's samples, once.
    await runFederate(store, 'compact');
    const after = await visibleSamples(store);
    if (JSON.stringify(after) !== JSON.stringify([...committed].sort())) {
      failures.push(`${at}: after the next run the store holds ${after.length} samples, expected ${committed.length}`);
    }
    const left: string[] = [];
    for await (const info of store.list('snapshots/')) left.push(info.key);
    // Only an object whose manifest was never written may remain (gc'd by compaction once old).
    if (left.some((k) => k.endsWith('.json'))) failures.push(`${at}: snapshot manifests left: ${left.join(', ')}`);
    if (committed.length > 0 && (await readCheckpoint(store, FED_INPUT.source)) === undefined) {
      failures.push(`${at}: no checkpoint after the compaction`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  expect(failures).toEqual([]);
}, 300_000);
