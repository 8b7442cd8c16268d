/**
 * Issue 14, the write side of restore, with real servers: a target that is no receiver is bad
 * input before the first sample; series a target rejects are isolated and named while the rest
 * lands (InfluxDB 1.x and +Inf, Prometheus and a conflicting duplicate); counts are what the
 * target acknowledged, also of a shard that failed part-way.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { startInfluxDB, influxQuery, type InfluxServer } from '../harness/influx';
import { startFakeRemoteWrite } from '../harness/fake-remote-write';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { startRemoteWriteProxy } from '../harness/remote-write-proxy';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { listAllManifests } from '../../lambdas/core/manifest';
import { collectSeries, diffSeries, totalSamples, type Collected } from '../harness/compare';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { encodeWriteRequest } from '../../lambdas/core/prom/prompb';
import { snappyCompress } from '../../lambdas/core/prom/snappy';
import type { TimeWindow } from '../../lambdas/core/types';

const HOUR = 3_600_000;

let a: HistoryServer;
let work: string;
let store: string;
let window: TimeWindow;

const iso = (ms: number) => new Date(ms).toISOString();

function readAll(url: string, w: TimeWindow, selector = '{__name__=~".+"}'): Promise<Map<string, Collected>> {
  return collectSeries(new HttpRemoteReader({ url }).read(w, parseSelector(selector)));
}

/** --store, --from and --to of the test's range. */
function rangeArgs(storeDir: string): string[] {
  return ['--store', storeDir, '--from', iso(window.startMs), '--to', iso(window.endMs)];
}

function restoreArgs(target: string): string[] {
  return ['restore', ...rangeArgs(store), '--target', target, '--json'];
}

beforeAll(async () => {
  a = await startPrometheusWithHistory('integration');
  work = await makeTempDir('restore-target-test');
  store = path.join(work, 'store');
  window = { startMs: a.corpus.startMs, endMs: a.corpus.startMs + 2 * HOUR };
  const b = await runCli(['backup', '--source', a.url, ...rangeArgs(store), '--json']);
  expect(b.code).toBe(0);
});

afterAll(async () => {
  await a?.stop();
  if (work) await removeDir(work);
});

/** An HTTP server that answers every request with one canned answer and counts them. */
async function startCanned(status: number, body: string, contentType: string) {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(status, { 'Content-Type': contentType });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return requests;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the target is checked before the first sample', () => {
  it.each([
    [
      'an HTML 200 page',
      200,
      '<!doctype html><html><body>Welcome</body></html>',
      'text/html',
      /HTTP 200 with an HTML page/,
    ],
    ['a 404', 404, '404 page not found', 'text/plain', /HTTP 404/],
    ['an auth failure', 401, 'Unauthorized', 'text/plain', /refused the credentials/],
  ])('%s is bad input: exit 2, one empty request, nothing written', async (_name, status, body, type, message) => {
    const web = await startCanned(status, body, type);
    try {
      const res = await runCli(restoreArgs(web.url));
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).toMatch(/Nothing was written/);
      expect(res.stdout).not.toMatch(/restored/);
      expect(web.requests).toBe(1);
    } finally {
      await web.stop();
    }
  });
});

describe('partial rejections are isolated', () => {
  it('InfluxDB 1.x: the +Inf series is named with its message, every other series lands, counts exact', async () => {
    let influx: InfluxServer | undefined;
    try {
      influx = await startInfluxDB();
      const res = await runCli(restoreArgs(influx.remoteWriteUrl));
      expect(res.code).toBe(3);
      const expected = await readAll(a.remoteReadUrl, window);
      // The corpus' +Inf constants, one series per instance.
      const POS_INF = 0x7ff0000000000000n;
      const infSeries = [...expected.entries()].filter(([, e]) => e.bits.includes(POS_INF));
      expect(infSeries.length).toBeGreaterThan(0);
      const infSamples = infSeries.reduce((n, [, e]) => n + e.timestamps.length, 0);
      expect(res.json).toMatchObject({ failed_shards: 0, rejected_samples: infSamples });
      const listed = res.json!.rejected_series as { labels: string; samples: number; reason: string }[];
      expect(listed.map((r) => [r.labels, r.samples]).sort()).toEqual(
        infSeries.map(([k, e]) => [k, e.timestamps.length]).sort(),
      );
      for (const r of listed) {
        expect(r.reason).toMatch(/Inf is an unsupported value/);
        expect(res.stderr).toContain(r.labels);
      }
      expect((res.json!.samples as number) + infSamples).toBe(totalSamples(expected));
      // InfluxDB drops NaN silently (and answers 204): it holds every other finite sample.
      const isNaNBits = (bits: bigint) => Number.isNaN(new Float64Array(new BigUint64Array([bits]).buffer)[0]!);
      const finite = [...expected.entries()]
        .filter(([k]) => !listed.some((r) => r.labels === k))
        .reduce((n, [, e]) => n + e.bits.filter((b) => !isNaNBits(b)).length, 0);
      const counts = await influxQuery(influx, 'SELECT count("value") FROM /.*/ GROUP BY *', { method: 'POST' });
      expect(counts.reduce((n, s) => n + Number(s.values[0]![1]), 0)).toBe(finite);
    } finally {
      await influx?.stop();
    }
  });

  it('Prometheus: a conflicting duplicate is named, every other series equals the backup', async () => {
    let b: PrometheusServer | undefined;
    try {
      b = await startPrometheus({ outOfOrderWindow: '30d' });
      const expected = await readAll(a.remoteReadUrl, window);
      const [victimKey, victim] = [...expected.entries()].find(([k]) => k.startsWith('node_cpu_seconds_total{'))!;
      const t = victim.timestamps[5]!;
      const res0 = await fetch(b.remoteWriteUrl, {
        method: 'POST',
        body: snappyCompress(
          encodeWriteRequest([
            { labels: victim.labels, timestamps: Float64Array.of(t), values: Float64Array.of(-12345.5) },
          ]),
        ),
        headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf' },
      });
      expect(res0.status).toBe(204);
      const res = await runCli(restoreArgs(b.remoteWriteUrl));
      expect(res.code).toBe(3);
      const listed = res.json!.rejected_series as { labels: string; samples: number; reason: string }[];
      expect(listed.map((r) => r.labels)).toEqual([victimKey]);
      expect(listed[0]!.reason).toMatch(/duplicate sample/);
      const restored = await readAll(b.remoteReadUrl, window);
      // What B holds, less the one conflicting sample written before the restore.
      expect(res.json!.samples).toBe(totalSamples(restored) - 1);
      expect(res.json!.rejected_samples).toBe(listed[0]!.samples);
      expect((res.json!.samples as number) + listed[0]!.samples).toBe(totalSamples(expected));
      expected.delete(victimKey);
      restored.delete(victimKey);
      expect(diffSeries(expected, restored)).toEqual([]);
    } finally {
      await b?.stop();
    }
  });
});

describe('exact counts', () => {
  it('a shard that fails part-way counts what the target acknowledged', async () => {
    const fake = await startFakeRemoteWrite((n) => (n < 5 ? { status: 204 } : { status: 403, body: 'forbidden' }));
    try {
      const res = await runCli([...restoreArgs(fake.url), '--batch-samples', '1000']);
      expect(res.code).toBe(1);
      expect(fake.acceptedSamples).toBeGreaterThan(0);
      expect(res.json!.samples).toBe(fake.acceptedSamples);
      const failures = res.json!.failures as { samples: number }[];
      expect(failures.reduce((n, f) => n + f.samples, 0)).toBe(fake.acceptedSamples);
    } finally {
      await fake.stop();
    }
  });
});

describe('resume', () => {
  it('a restore killed (SIGKILL) after some shards goes on from its report: done shards are not re-sent, the target ends exact', async () => {
    const fine = path.join(work, 'store-15m');
    const backup = await runCli(['backup', '--source', a.url, ...rangeArgs(fine), '--shard-length', '15m', '--json']);
    expect(backup.code).toBe(0);
    const windows = new Map(
      (await listAllManifests(new DirectoryStore(fine))).map((m) => [m.object_key, [m.start_ms, m.end_ms] as const]),
    );
    expect(windows.size).toBe(8);
    const b = await startPrometheus({ outOfOrderWindow: '30d' });
    const proxy = await startRemoteWriteProxy(b.remoteWriteUrl, { delayMs: 40 });
    try {
      const report = path.join(work, 'resume-report.json');
      const args = [
        'restore',
        ...rangeArgs(fine),
        '--target',
        proxy.url,
        '--batch-samples',
        '500',
        '--concurrency',
        '1',
        '--json',
      ];
      const child = spawn(
        process.execPath,
        [path.resolve(__dirname, '../../bin/promvault.js'), ...args, '--report', report],
        {
          stdio: 'ignore',
        },
      );
      const exited = new Promise((resolve) => child.on('close', resolve));
      let done: { key: string }[] = [];
      for (const deadline = Date.now() + 120_000; done.length < 3 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        done = await readFile(report, 'utf8').then(
          (t) => (JSON.parse(t) as { completed_shards: { key: string }[] }).completed_shards,
          () => [],
        );
      }
      child.kill('SIGKILL');
      await exited;
      const killedReport = JSON.parse(await readFile(report, 'utf8')) as {
        complete: boolean;
        completed_shards: { key: string }[];
      };
      expect(killedReport.complete).toBe(false);
      const completed = killedReport.completed_shards.map((c) => c.key);
      expect(completed.length).toBeGreaterThanOrEqual(3);
      expect(completed.length).toBeLessThan(8);

      proxy.reset();
      const resumed = await runCli([...args, '--resume', report]);
      expect(resumed.stderr).toBe('');
      expect(resumed.code).toBe(0);
      // Not one sample of a completed shard went out again.
      const resent = proxy.forwarded.filter((p) =>
        completed.some((k) => {
          const [start, end] = windows.get(k)!;
          return p.timestamps.some((t) => t >= start && t < end);
        }),
      );
      expect(resent).toEqual([]);
      expect(resumed.json).toMatchObject({ resumed_shards: completed.length, shards: 8, failed_shards: 0 });
      const expected = await readAll(a.remoteReadUrl, window);
      const restored = await readAll(b.remoteReadUrl, window);
      expect(diffSeries(expected, restored)).toEqual([]);
      expect(resumed.json!.samples).toBe(totalSamples(expected));
      expect(JSON.parse(await readFile(report, 'utf8'))).toMatchObject({
        complete: true,
        samples: totalSamples(expected),
      });

      // A report of another restore is refused before anything is sent.
      proxy.reset();
      const other = [...args];
      other[other.indexOf('--to') + 1] = iso(window.endMs - HOUR);
      const refused = await runCli([...other, '--resume', report]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/report of another restore: its to_ms/);
      expect(proxy.requests).toBe(0);
      await writeFile(path.join(work, 'not-a-report.json'), '{"hello":1}');
      const bad = await runCli([...args, '--resume', path.join(work, 'not-a-report.json')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/is not a promvault restore report/);
    } finally {
      await proxy.stop();
      await b.stop();
    }
  });
});

describe('verified restore', () => {
  it('--verify reads a Prometheus back: 0 mismatches; a target that drops a series while answering 204 gives exit 3, named', async () => {
    const b = await startPrometheus({ outOfOrderWindow: '30d' });
    const c = await startPrometheus({ outOfOrderWindow: '30d' });
    const expected = await readAll(a.remoteReadUrl, window);
    const [lostKey, lost] = [...expected.entries()].find(([k]) => k.startsWith('node_cpu_seconds_total{'))!;
    const lossy = await startRemoteWriteProxy(c.remoteWriteUrl, {
      drop: (p) =>
        p.labels.length === lost.labels.length && p.labels.every((l, i) => l.value === lost.labels[i]!.value),
    });
    try {
      const ok = await runCli([...restoreArgs(b.remoteWriteUrl), '--verify']);
      expect(ok.code).toBe(0);
      expect(ok.json).toMatchObject({ mismatches: 0, verified_samples: totalSamples(expected), mismatch_examples: [] });

      const bad = await runCli([...restoreArgs(lossy.url), '--verify', '--verify-source', c.remoteReadUrl]);
      expect(bad.code).toBe(3);
      expect(bad.json).toMatchObject({ mismatches: lost.timestamps.length, samples: totalSamples(expected) });
      expect((bad.json!.mismatch_examples as string[])[0]).toBe(`${lostKey}: in the backup, not in the target`);
      expect(bad.stderr).toContain(lostKey);

      const unknown = await runCli([...restoreArgs(`${lossy.url.replace(/write$/, 'push')}`), '--verify']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/--verify-source/);
    } finally {
      await lossy.stop();
      await b.stop();
      await c.stop();
    }
  });
});
