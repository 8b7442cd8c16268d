/**
 * Issue 15, leftovers and the checkpoint under SIGKILL. A backup killed mid-put leaves a
 * temporary file (directory store) or an object without a manifest; a forced re-run killed
 * before deleting the object it superseded leaves that object. None is ever shown or counted;
 * gc (and `promvault gc`) removes them once older than the grace period, never a committed
 * object or a young temporary file of a put in progress. Against the directory store and s3rver.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../../lambdas/adapters/open-store';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { readCheckpoint } from '../../lambdas/core/backup/commit';
import { backupShard } from '../../lambdas/core/backup/shard';
import { collectGarbage } from '../../lambdas/core/gc';
import { listAllManifests } from '../../lambdas/core/manifest';
import type { ObjectStore } from '../../lambdas/core/ports';
import { verifyShard } from '../../lambdas/core/verify';
import { hourOf, seedCheckpoint } from '../harness/checkpoint-race';
import { runTsChild, type ChildExit } from '../harness/child';
import { runCli } from '../harness/cli';
import { CRASH_SHARD, formatKillPoint, generatedReader, type KillPoint } from '../harness/crash-backup';
import { startS3rver, type S3rverHandle } from '../harness/s3rver';

const BUCKET = 'leftovers';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
const H = 3_600_000;

function runChild(script: string, env: Record<string, string>): Promise<ChildExit> {
  return runTsChild(path.resolve(__dirname, '../harness', script), { ...S3_ENV, ...env });
}

async function killBackup(url: string, point: KillPoint, force: boolean, endpoint?: string): Promise<void> {
  const exit = await runChild('crash-backup.ts', {
    CRASH_STORE: url,
    CRASH_KILL_AT: formatKillPoint(point),
    CRASH_FORCE: force ? '1' : '0',
    ...(endpoint !== undefined ? { CRASH_S3_ENDPOINT: endpoint } : {}),
  });
  expect({ signal: exit.signal, stderr: exit.stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
}

async function keys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  for await (const t of store.listTemporary?.() ?? []) out.push(`(temporary) ${t.key}`);
  return out;
}

let s3: S3rverHandle;
let dir: string;

beforeAll(async () => {
  [s3, dir] = await Promise.all([
    startS3rver({ buckets: [BUCKET] }),
    mkdtemp(path.join(tmpdir(), 'promvault-leftovers-')),
  ]);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), dir === undefined ? undefined : rm(dir, { recursive: true, force: true })]);
});

const KINDS: [string, (label: string) => string, boolean][] = [
  ['directory store', (label) => path.join(dir, label), false],
  ['s3 store', (label) => `s3://${BUCKET}/${label}`, true],
];

describe.each(KINDS)('leftovers of killed backups, %s', (_name, url, isS3) => {
  const open = (label: string) => openStore(url(label), isS3 ? { s3Client: s3.client } : {});
  const endpoint = () => (isS3 ? s3.endpoint : undefined);

  it('are never shown, survive gc while young, and go once older than the grace period', async () => {
    const store = open('killed');
    // Calls of a first backup: 1 get manifest, 2 put object, 3 put manifest.
    await killBackup(url('killed'), { call: 2, phase: 'during' }, false, endpoint());
    await killBackup(url('killed'), { call: 2, phase: 'after' }, false, endpoint());
    const left = await keys(store);
    expect(left.filter((k) => k.startsWith('shards/'))).toHaveLength(1);
    if (!isS3) expect(left.filter((k) => k.startsWith('(temporary)'))).toHaveLength(1);
    expect(await listAllManifests(store)).toEqual([]);

    const young = await collectGarbage(store, { nowMs: Date.now(), graceMs: H });
    expect({ deleted: young.deleted, kept_young: young.kept_young }).toEqual({ deleted: 0, kept_young: left.length });
    expect(await keys(store)).toEqual(left);

    const old = await collectGarbage(store, { nowMs: Date.now() + 2 * H, graceMs: H });
    expect(old.deleted).toBe(left.length);
    expect(old.bytes).toBeGreaterThan(0);
    expect(await keys(store)).toEqual([]);
  });

  it('the object a killed re-run superseded goes; the committed one stays readable', async () => {
    const store = open('superseded');
    await backupShard({ reader: generatedReader('old'), store, nowMs: Date.now }, CRASH_SHARD, { force: false });
    // Calls of a forced re-run: 1 get manifest, 2 put object, 3 put manifest, 4 delete the old object.
    await killBackup(url('superseded'), { call: 4, phase: 'before' }, true, endpoint());
    const manifests = await listAllManifests(store);
    expect(manifests).toHaveLength(1);
    const objects = (await keys(store)).filter((k) => k.startsWith('shards/'));
    expect(objects).toHaveLength(2);

    const report = await collectGarbage(store, { nowMs: Date.now() + 2 * H, graceMs: H });
    expect(report.deleted_keys).toEqual(objects.filter((k) => k !== manifests[0]!.object_key));
    expect(report.referenced).toBe(1);
    expect((await verifyShard(store, manifests[0]!)).verdict).toBe('ok');
    // Nothing else is garbage, however late.
    expect((await collectGarbage(store, { nowMs: Date.now() + 1000 * H, graceMs: 0 })).deleted).toBe(0);
  });

  it('promvault gc --dry-run deletes nothing, --grace 0s deletes the leftovers', async () => {
    await killBackup(url('cli'), { call: 2, phase: 'after' }, false, endpoint());
    const common = [`--store`, url('cli'), '--json', ...(isS3 ? ['--s3-endpoint', s3.endpoint] : [])];
    const dry = await runCli(['gc', ...common, '--dry-run', '--grace', '0s'], { env: S3_ENV });
    expect({ code: dry.code, deleted: dry.json?.deleted, dry_run: dry.json?.dry_run }).toEqual({
      code: 0,
      deleted: 1,
      dry_run: true,
    });
    const young = await runCli(['gc', ...common], { env: S3_ENV });
    expect({ code: young.code, deleted: young.json?.deleted, kept_young: young.json?.kept_young }).toEqual({
      code: 0,
      deleted: 0,
      kept_young: 1,
    });
    const done = await runCli(['gc', ...common, '--grace', '0s'], { env: S3_ENV });
    expect({ code: done.code, deleted: done.json?.deleted }).toEqual({ code: 0, deleted: 1 });
    expect(await keys(open('cli'))).toEqual([]);
  });
});

describe('a put in progress (directory store)', () => {
  it('keeps its young temporary file through gc and completes', async () => {
    const store = new DirectoryStore(path.join(dir, 'in-progress'));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const streaming = new Promise<void>((resolve) => (started = resolve));
    const put = store.put(
      'shards/crash/2026/01/01/2026-01-01T120000000Z_60000_all.v1.pvs',
      (async function* () {
        yield new Uint8Array([1, 2, 3]);
        started();
        await held;
        yield new Uint8Array([4]);
      })(),
    );
    await streaming;
    const report = await collectGarbage(store, { nowMs: Date.now(), graceMs: H });
    expect({ deleted: report.deleted, kept_young: report.kept_young }).toEqual({ deleted: 0, kept_young: 1 });
    release();
    expect((await put).size).toBe(4);
  });
});

describe('SIGKILL inside the checkpoint write (directory store)', () => {
  it('leaves the previous checkpoint; the next commit breaks the stale lock and advances; gc takes the temporary file', async () => {
    const root = path.join(dir, 'checkpoint');
    const store = new DirectoryStore(root);
    await seedCheckpoint(store, 'ck', 2);
    const env = { CRASH_STORE: root, CRASH_SOURCE: 'ck', CRASH_FROM_H: '2', CRASH_TO_H: '3' };
    const killed = await runChild('crash-checkpoint.ts', { ...env, CRASH_KILL: '1' });
    expect(killed.signal).toBe('SIGKILL');
    expect((await readdir(path.join(root, 'checkpoints'))).sort()).toEqual(
      expect.arrayContaining(['.ck.json.lock', 'ck.json']),
    );
    expect(hourOf((await readCheckpoint(store, 'ck'))?.end_ms)).toBe(2);

    const next = await runChild('crash-checkpoint.ts', { ...env, CRASH_TO_H: '4' });
    expect(next).toEqual({ code: 0, signal: null, stderr: '' });
    expect(hourOf((await readCheckpoint(store, 'ck'))?.end_ms)).toBe(4);

    const gc = await collectGarbage(store, { nowMs: Date.now() + 2 * H, graceMs: H });
    expect(gc.deleted_keys).toEqual([expect.stringMatching(/^checkpoints\/\.ck\.json\.tmp-[0-9a-f]{12}$/)]);
    expect(await readdir(path.join(root, 'checkpoints'))).toEqual(['ck.json']);
  });
});
