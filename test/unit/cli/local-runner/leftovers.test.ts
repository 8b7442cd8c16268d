/**
 * Issue 15, leftovers cleaned by the next backup in the deployed stack: CommitBackup runs gc for
 * its source after the commit. The local runner runs the synthesized backup state machine with
 * that handler, so `promvault run backup --local` cleans the same way.
 */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBackupLocally } from '../../../../cli/local-runner/api';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { listAllManifests } from '../../../../lambdas/core/manifest';
import { FakeReader, HOUR, T0 } from '../../handlers/fixtures';

const CONTEXT = {
  promvault: {
    sources: [
      { name: 'prod', remoteReadUrl: 'http://prometheus.internal:9090' },
      { name: 'staging', remoteReadUrl: 'http://prometheus-staging.internal:9090' },
    ],
    gcGrace: '1h',
  },
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-leftovers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function plant(key: string, ageMs: number): Promise<string> {
  const file = path.join(dir, ...key.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, 'left behind by a killed run');
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
  return key;
}

async function keys(store: DirectoryStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  for await (const t of store.listTemporary()) out.push(t.key);
  return out.sort();
}

const backup = (sourceName: string, fromMs: number, toMs: number) =>
  runBackupLocally({
    context: CONTEXT,
    store: dir,
    sourceName,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    fast: true,
    preflight: false,
    logLevel: 'silent',
    deps: (d) => ({ ...d, reader: (url) => new FakeReader(url) }),
  });

test('a local-runner backup deletes its source leftovers older than gcGrace, and nothing else', async () => {
  const store = new DirectoryStore(dir);
  expect((await backup('prod', T0, T0 + HOUR)).status).toBe('SUCCEEDED');
  expect((await backup('staging', T0, T0 + HOUR)).status).toBe('SUCCEEDED');
  const committed = await keys(store);
  const [prodObject] = (await listAllManifests(store, 'prod')).map((m) => m.object_key);
  const stem = prodObject!.replace(/\.v\d+\.pvs$/, '');
  const day = path.posix.dirname(prodObject!);

  const old = [
    await plant(`${stem}.killedrerun.v1.pvs`, 2 * HOUR), // superseded by a re-run killed before its delete
    await plant(`${day}/0200-0300.v1.pvs`, 3 * HOUR), // an object whose run died before its manifest
    await plant(`${day}/.0300-0400.v1.pvs.tmp-0123456789ab`, 2 * HOUR), // a put that never finished
  ];
  const fresh = [
    await plant(`${stem}.inprogress.v1.pvs`, 5 * 60_000),
    await plant(`${day}/.0400-0500.v1.pvs.tmp-ba9876543210`, 5 * 60_000),
  ];
  const otherSource = [await plant(`shards/staging/2026/01/01/0500-0600.v1.pvs`, 3 * HOUR)];

  const run = await backup('prod', T0 + HOUR, T0 + 2 * HOUR);
  expect(run.status).toBe('SUCCEEDED');
  const after = await keys(store);
  for (const k of old) expect(after).not.toContain(k);
  for (const k of [...committed, ...fresh, ...otherSource]) expect(after).toContain(k);
  // The run's own shard was committed beside them.
  expect(after.filter((k) => k.startsWith('manifests/prod/'))).toHaveLength(2);
}, 120_000);
