/**
 * Issue 16, federate mode: `promvault federate` against a real Prometheus scraping itself every
 * second. What the capture stores (compacted shards, read the way restore reads them) holds, per
 * series, exactly the samples Prometheus has at the captured timestamps, bit for bit (remote read).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { decodeShard } from '../../lambdas/core/format';
import { listAllManifests } from '../../lambdas/core/manifest';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import { verifyShard } from '../../lambdas/core/verify';
import { runCli } from '../harness/cli';
import { collectSeries, type Collected } from '../harness/compare';
import { startPrometheus, queryInstant, type PrometheusServer } from '../harness/prometheus';
import { waitFor } from '../harness/ports';

let prom: PrometheusServer;
let dir: string;

beforeAll(async () => {
  prom = await startPrometheus({ selfScrapeInterval: '1s' });
  // A few scrapes first, so every series has history around the capture.
  await waitFor(async () => (await queryInstant(prom, 'count_over_time(up[1m])'))[0]?.value[1] === '3', {
    what: 'three self-scrapes',
    timeoutMs: 30_000,
  });
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-federate-it-'));
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a capture of a Prometheus scraping itself every second holds exactly its samples at the captured timestamps', async () => {
  const args = ['federate', '--source', prom.url, '--store', dir, '--interval', '1s', '--shard-length', '4s'];
  const res = await runCli([...args, '--match', '{job="prometheus"}', '--duration', '12s', '--json']);
  expect(res.stderr).not.toMatch(/failed|unreadable/);
  expect(res.code).toBe(0);
  expect(res.json).toMatchObject({ failed_fetches: 0, failed_compactions: 0 });
  const report = res.json as Record<string, number>;
  expect(report.snapshots).toBeGreaterThanOrEqual(11);
  expect(report.compacted_shards).toBeGreaterThanOrEqual(2);
  expect(report.series).toBeGreaterThan(100);

  // A second, short run after the last window ended compacts what the first left open.
  const later = await runCli([...args, '--match', '{job="prometheus"}', '--duration', '1s', '--json']);
  expect(later.code).toBe(0);

  const store = new DirectoryStore(dir);
  const manifests = await listAllManifests(store);
  expect(manifests.length).toBeGreaterThanOrEqual(3);
  const stored = new Map<string, Collected>();
  for (const m of manifests) {
    expect((await verifyShard(store, m)).verdict).toBe('ok');
    await collectSeries(decodeShard(await fetchVerified(store, m)), stored);
  }
  const fromMs = Math.min(...manifests.map((m) => m.min_ts!));
  const toMs = Math.max(...manifests.map((m) => m.max_ts!)) + 1;
  const reader = new HttpRemoteReader({ url: prom.remoteReadUrl });
  const source = await collectSeries(
    reader.read({ startMs: fromMs, endMs: toMs }, [{ type: '=', name: 'job', value: 'prometheus' }]),
  );

  let compared = 0;
  const mismatches: string[] = [];
  for (const [key, series] of stored) {
    const have = source.get(key);
    const bitsAt = new Map(have?.timestamps.map((t, i) => [t, have.bits[i]!]) ?? []);
    series.timestamps.forEach((t, i) => {
      compared++;
      const expected = bitsAt.get(t);
      if (expected !== series.bits[i]) {
        mismatches.push(`${key} @${t}: stored ${series.bits[i]!.toString(16)}, Prometheus ${expected?.toString(16)}`);
      }
    });
    // Each sample once, in order.
    expect(series.timestamps).toEqual([...new Set(series.timestamps)].sort((a, b) => a - b));
  }
  expect(mismatches.slice(0, 5)).toEqual([]);
  // One capture a second of a one-second scrape: most of the source's samples are there.
  expect(compared).toBeGreaterThan(stored.size * 8);
  // Snapshots are invisible to readers and every completed window is compacted: only the open one waits.
  const snapshotWindows = new Set<string>();
  for await (const info of store.list('snapshots/')) snapshotWindows.add(path.dirname(info.key));
  expect(snapshotWindows.size).toBeLessThanOrEqual(1);
}, 90_000);

test('bad input exits 2 before any work', async () => {
  const zero = await runCli(['federate', '--source', prom.url, '--store', dir, '--interval', '0']);
  expect(zero.code).toBe(2);
  expect(zero.stderr).toMatch(/--interval 0 is shorter than 1s/);
  const url = await runCli(['federate', '--source', 'prometheus:9090', '--store', dir]);
  expect(url.code).toBe(2);
  const notFederate = await runCli(['federate', '--source', `${prom.url}/nothing/here/federate`, '--store', dir]);
  expect(notFederate.code).toBe(2);
  expect(notFederate.stderr).toMatch(/answered HTTP 404.*does not serve \/federate/);
});
