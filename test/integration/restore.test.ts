/**
 * Issue 3's proof, with real servers: Prometheus A (generated history plus a recent hour of
 * hostile values) → backup → restore into a fresh Prometheus B, VictoriaMetrics and InfluxDB;
 * export → promtool → Prometheus C; verify; and the faults a restore must survive or explain.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { backfillOpenMetrics, startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { startVictoriaMetrics, exportSeries, mergeExported, type VictoriaMetricsServer } from '../harness/victoria';
import { startInfluxDB, influxQuery, type InfluxServer } from '../harness/influx';
import { startFakeRemoteWrite } from '../harness/fake-remote-write';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { formatCount } from '../../cli/output';
import { collectSeries, diffSeries, totalSamples, type Collected } from '../harness/compare';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { listAllManifests } from '../../lambdas/core/manifest';
import { encodeWriteRequest } from '../../lambdas/core/prom/prompb';
import { snappyCompress } from '../../lambdas/core/prom/snappy';
import { formatLabels } from '../../lambdas/core/labels';
import type { SeriesPiece, TimeWindow } from '../../lambdas/core/types';

const HOUR = 3_600_000;
const STALE = 0x7ff0000000000002n;

let a: HistoryServer;
let work: string;
let store: string;
let history: TimeWindow;
let recent: TimeWindow;

/** A recent hour of values that must survive bit for bit: staleness markers, NaN payloads, ±Inf, -0, extremes. */
function hostileSeries(window: TimeWindow): SeriesPiece[] {
  const out: SeriesPiece[] = [];
  const n = (window.endMs - window.startMs) / 15_000;
  const special = [
    STALE,
    0x7ff8000000000001n,
    0xfff8000000000123n,
    0x7ff0000000000000n,
    0xfff0000000000000n,
    0x8000000000000000n,
    0x0000000000000001n,
    0x7fefffffffffffffn,
  ];
  for (let s = 0; s < 4; s++) {
    const timestamps = Float64Array.from({ length: n }, (_, i) => window.startMs + i * 15_000 + ((i * 7 + s) % 11));
    const values = new Float64Array(n);
    const bits = new BigUint64Array(values.buffer);
    for (let i = 0; i < n; i++) {
      values[i] = i * 0.1 + s;
      if (i % 9 === s) bits[i] = special[(i + s) % special.length]!;
    }
    out.push({
      labels: [
        { name: '__name__', value: 'pv_hostile' },
        { name: 'series', value: `s${s}` },
        { name: 'unicode', value: s === 0 ? '' : 'ünïcødé ✓ "q" \\ \n' },
      ],
      timestamps,
      values,
    });
  }
  return out;
}

async function readAll(
  url: string,
  window: TimeWindow,
  selector = '{__name__=~".+"}',
): Promise<Map<string, Collected>> {
  const { parseSelector } = await import('../../lambdas/core/prom/selector');
  const reader = new HttpRemoteReader({ url });
  return collectSeries(reader.read(window, parseSelector(selector)));
}

beforeAll(async () => {
  a = await startPrometheusWithHistory('integration');
  work = await makeTempDir('restore-test');
  store = path.join(work, 'store');
  history = { startMs: a.corpus.startMs, endMs: a.corpus.startMs + a.corpus.durationMs };
  const hourStart = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;
  recent = { startMs: hourStart, endMs: hourStart + HOUR };
  const res = await fetch(a.remoteWriteUrl, {
    method: 'POST',
    body: snappyCompress(encodeWriteRequest(hostileSeries(recent))),
    headers: {
      'Content-Encoding': 'snappy',
      'Content-Type': 'application/x-protobuf',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
    },
  });
  expect(res.status).toBe(204);
  for (const w of [history, recent]) {
    const b = await runCli([
      'backup',
      '--source',
      a.url,
      '--store',
      store,
      '--from',
      String(w.startMs / 1000),
      '--to',
      String(w.endMs / 1000),
      '--json',
    ]);
    expect(b.code).toBe(0);
    expect(b.json!.failed).toBe(0);
  }
});

afterAll(async () => {
  await a?.stop();
  if (work) await removeDir(work);
});

const iso = (ms: number) => new Date(ms).toISOString();
/** `promvault restore` of the history window from the store. */
const restoreHistory = (...extra: string[]) =>
  runCli(['restore', '--store', store, '--from', iso(history.startMs), '--to', iso(history.endMs), ...extra]);

describe('restore into a fresh Prometheus', () => {
  let b: PrometheusServer;
  afterAll(async () => b?.stop());

  /**
   * Restores both ranges from the store into `url` with the command line, and checks the reports.
   * One command per range: the time between them has no backup, and a range with a gap exits 3.
   */
  async function restoreBoth(url: string, env?: NodeJS.ProcessEnv): Promise<void> {
    const reports: Record<string, unknown>[] = [];
    for (const w of [history, recent]) {
      const args = ['--store', store, '--from', iso(w.startMs), '--to', iso(w.endMs), '--target', url];
      const res = await runCli(['restore', ...args, '--json'], { env });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      reports.push(res.json!);
    }
    const sum = (field: string) => reports.reduce((n, r) => n + (r[field] as number), 0);
    expect({ failed_shards: sum('failed_shards'), shards: sum('shards'), samples: sum('samples') }).toEqual({
      failed_shards: 0,
      shards: 7,
      samples: a.samples + 4 * 240,
    });
  }

  /** Every series of both ranges read back from `remoteReadUrl` equals A's, bit for bit. */
  async function expectSameAsA(remoteReadUrl: string): Promise<void> {
    for (const w of [history, recent]) {
      const [fromA, restored] = await Promise.all([readAll(a.remoteReadUrl, w), readAll(remoteReadUrl, w)]);
      expect(totalSamples(fromA)).toBeGreaterThan(0);
      expect(diffSeries(fromA, restored)).toEqual([]);
    }
  }

  it('every series in B equals A over both ranges, bit for bit, staleness markers included', async () => {
    b = await startPrometheus({ outOfOrderWindow: '30d' });
    await restoreBoth(b.remoteWriteUrl);
    await expectSameAsA(b.remoteReadUrl);
    const hostile = await readAll(b.remoteReadUrl, recent, 'pv_hostile');
    const stale = [...hostile.values()].flatMap((s) => s.bits).filter((x) => x === STALE).length;
    expect(stale).toBeGreaterThan(10);
  });

  it('without native snappy, as in the Lambda bundle, the same restore is bit for bit too', async () => {
    const c = await startPrometheus({ outOfOrderWindow: '30d' });
    try {
      const marker = path.join(work, 'snappy-refused');
      await restoreBoth(c.remoteWriteUrl, {
        NODE_OPTIONS: `--require ${path.resolve(__dirname, '../harness/hide-native-snappy.js')}`,
        PV_HIDDEN_SNAPPY_MARKER: marker,
      });
      // The bodies came from the layout writer: the binding was asked for and refused.
      expect(await readFile(marker, 'utf8')).toBe('refused\n');
      await expectSameAsA(c.remoteReadUrl);
    } finally {
      await c.stop();
    }
  });

  it('--dry-run prints the plan and writes nothing', async () => {
    const fake = await startFakeRemoteWrite(() => ({ status: 204 }));
    try {
      const res = await restoreHistory('--target', fake.url, '--dry-run', '--json');
      expect(res.code).toBe(0);
      expect(res.json).toMatchObject({ dry_run: true, shards: 6, samples: a.samples });
      expect(fake.requests).toBe(0);
    } finally {
      await fake.stop();
    }
  });

  it('--dry-run in words prints the shard, series and sample counts its --help promises', async () => {
    const manifests = (await listAllManifests(new DirectoryStore(store))).filter(
      (m) => m.start_ms < history.endMs && m.end_ms > history.startMs,
    );
    const series = manifests.reduce((n, m) => n + m.series, 0);
    expect(series).toBeGreaterThan(0);
    const res = await restoreHistory('--dry-run');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`${manifests.length} shards, up to ${formatCount(series)} shard-series and `);
  });
});

describe('restore into other remote-write targets', () => {
  const window = () => ({ startMs: history.startMs, endMs: history.startMs + 2 * HOUR });

  it('VictoriaMetrics holds every finite sample of every series, values equal to 12 significant digits', async () => {
    let vm: VictoriaMetricsServer | undefined;
    try {
      vm = await startVictoriaMetrics();
      const w = window();
      const res = await runCli([
        'restore',
        '--store',
        store,
        '--from',
        iso(w.startMs),
        '--to',
        iso(w.endMs),
        '--target',
        vm.remoteWriteUrl,
        '--json',
      ]);
      expect(res.code).toBe(0);
      const expected = await readAll(a.remoteReadUrl, w);
      // VictoriaMetrics makes newly registered series searchable a little after it accepted them.
      const finiteTotal = [...expected.values()].reduce((n, e) => n + e.bits.filter((b) => !isNaNBits(b)).length, 0);
      let got = new Map<string, SeriesPiece>();
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(1000)) {
        got = await mergeExported(exportSeries(vm, { startMs: w.startMs, endMs: w.endMs - 1 }));
        if ([...got.values()].reduce((n, s) => n + s.timestamps.length, 0) >= finiteTotal) break;
      }
      let compared = 0;
      const problems: string[] = [];
      for (const [key, e] of expected) {
        const finite = e.timestamps
          .map((t, i) => [t, new Float64Array(new BigUint64Array([e.bits[i]!]).buffer)[0]!] as const)
          .filter(([, v]) => !Number.isNaN(v));
        const g = got.get(key);
        if ((g?.timestamps.length ?? 0) !== finite.length) {
          problems.push(`${key}: ${g?.timestamps.length ?? 0} samples, expected ${finite.length}`);
          continue;
        }
        finite.forEach(([t, v], i) => {
          const x = g!.values[i]!;
          const same = Number.isFinite(v) ? Math.abs(x - v) <= Math.abs(v) * 1e-11 : x === v;
          if (g!.timestamps[i] !== t || !same)
            problems.push(`${key} sample ${i}: got ${g!.timestamps[i]}=${x}, expected ${t}=${v}`);
        });
        compared += finite.length;
      }
      // One assertion over every sample: per-sample expect() calls cost minutes here.
      expect(problems.slice(0, 10)).toEqual([]);
      expect(compared).toBeGreaterThan(100_000);
    } finally {
      await vm?.stop();
    }
  });

  it('InfluxDB 1.x holds every finite sample of every series with its exact value', async () => {
    let influx: InfluxServer | undefined;
    try {
      influx = await startInfluxDB();
      const w = window();
      // InfluxDB rejects a whole request holding ±Inf, so that series is left out here.
      const match = '{__name__!="app_rate_limit_per_second"}';
      const res = await runCli([
        'restore',
        '--store',
        store,
        '--from',
        iso(w.startMs),
        '--to',
        iso(w.endMs),
        '--match',
        match,
        '--target',
        influx.remoteWriteUrl,
        '--json',
      ]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const expected = await readAll(a.remoteReadUrl, w, match);
      const counts = await influxQuery(influx, 'SELECT count("value") FROM /.*/ GROUP BY *', { method: 'POST' });
      const countOf = new Map(counts.map((s) => [influxSeriesKey(s.name, s.tags ?? {}), Number(s.values[0]![1])]));
      for (const [key, e] of expected) {
        const finite = e.bits.filter(
          (bits) => !Number.isNaN(new Float64Array(new BigUint64Array([bits]).buffer)[0]!),
        ).length;
        if (finite > 0) expect({ key, count: countOf.get(key) }).toEqual({ key, count: finite });
      }
      // Values of one metric, sample by sample.
      const cpu = [...expected.entries()].find(([k]) => k.startsWith('node_cpu_seconds_total{'))!;
      const tags = cpu[1].labels
        .filter((l) => l.name !== '__name__')
        .map((l) => `"${l.name}"='${l.value}'`)
        .join(' AND ');
      const rows = await influxQuery(
        influx,
        `SELECT "value" FROM "node_cpu_seconds_total" WHERE ${tags} ORDER BY time`,
      );
      const values = rows[0]!.values.map((r) => [Number(r[0]), Number(r[1])]);
      expect(values).toEqual(
        cpu[1].timestamps.map((t, i) => [t, new Float64Array(new BigUint64Array([cpu[1].bits[i]!]).buffer)[0]!]),
      );
    } finally {
      await influx?.stop();
    }
  });
});

describe('export for promtool', () => {
  it('a Prometheus started on promtool blocks made from the export returns the same samples', async () => {
    const out = path.join(work, 'export.om');
    const res = await runCli([
      'export',
      '--store',
      store,
      '--from',
      iso(history.startMs),
      '--to',
      iso(history.endMs),
      '--format',
      'openmetrics',
      '--out',
      out,
      '--json',
    ]);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({ samples: a.samples, stale_markers_dropped: 0 });
    expect((await readFile(out, 'utf8')).endsWith('# EOF\n')).toBe(true);
    const tsdb = path.join(work, 'exported-tsdb');
    await backfillOpenMetrics(out, tsdb);
    const c = await startPrometheus({ dataDir: tsdb });
    try {
      const [fromA, fromC] = await Promise.all([readAll(a.remoteReadUrl, history), readAll(c.remoteReadUrl, history)]);
      expect(diffSeries(fromA, fromC)).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it('leaves out staleness markers and says so', async () => {
    const res = await runCli([
      'export',
      '--store',
      store,
      '--from',
      iso(recent.startMs),
      '--to',
      iso(recent.endMs),
      '--out',
      '-',
    ]);
    expect(res.code).toBe(0);
    expect(res.stdout.endsWith('# EOF\n')).toBe(true);
    expect(res.stderr).toMatch(/staleness markers left out/);
  });
});

describe('verify', () => {
  it('passes an intact store, and compares with the source sample by sample', async () => {
    const res = await runCli(['verify', '--store', store, '--against', a.url, '--json']);
    expect(res.code).toBe(0);
    expect(res.json).toMatchObject({
      shards: 7,
      ok: 7,
      corrupt: 0,
      missing: 0,
      mismatches: 0,
      samples: a.samples + 4 * 240,
    });
  });
});

describe('faults', () => {
  let damaged: string;
  let victim: string;

  beforeAll(async () => {
    damaged = path.join(work, 'damaged');
    await cp(store, damaged, { recursive: true });
    const manifests = await listAllManifests(new DirectoryStore(damaged));
    victim = manifests.find((m) => m.start_ms === history.startMs + 2 * HOUR)!.object_key;
    const file = path.join(damaged, victim);
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x40;
    await writeFile(file, bytes);
  });

  it('verify names the corrupt shard', async () => {
    const res = await runCli(['verify', '--store', damaged, '--json']);
    expect(res.code).toBe(3);
    expect(res.json).toMatchObject({ shards: 7, ok: 6, corrupt: 1 });
    expect(res.stderr).toContain(victim);
  });

  it('restore reports the corrupt shard by key and restores the others', async () => {
    const fake = await startFakeRemoteWrite(() => ({ status: 204 }));
    try {
      const res = await runCli([
        'restore',
        '--store',
        damaged,
        '--from',
        iso(history.startMs),
        '--to',
        iso(history.endMs),
        '--target',
        fake.url,
        '--json',
      ]);
      expect(res.code).toBe(3);
      expect(res.json).toMatchObject({ shards: 6, failed_shards: 1 });
      expect(res.stderr).toContain(victim);
      expect(fake.acceptedSamples).toBe(res.json!.samples);
      expect(fake.acceptedSamples).toBeGreaterThan(a.samples / 2);
    } finally {
      await fake.stop();
    }
  });

  it('a target answering 500 twice then 204 loses nothing', async () => {
    const fake = await startFakeRemoteWrite((n) => (n < 2 ? { status: 500, body: 'overloaded' } : { status: 204 }));
    try {
      const w = { startMs: history.startMs, endMs: history.startMs + HOUR };
      const res = await runCli([
        'restore',
        '--store',
        store,
        '--from',
        iso(w.startMs),
        '--to',
        iso(w.endMs),
        '--target',
        fake.url,
        '--json',
      ]);
      expect(res.code).toBe(0);
      const expected = await readAll(a.remoteReadUrl, w);
      expect(fake.acceptedSamples).toBe(totalSamples(expected));
      expect(res.json!.samples).toBe(totalSamples(expected));
      expect(fake.requests).toBe((res.json!.requests as number) + 2);
      expect(diffSeries(expected, await collectSeries(asAsync(fake.accepted)))).toEqual([]);
    } finally {
      await fake.stop();
    }
  });

  it('a target answering "too old sample" ends at once with the setting to change', async () => {
    const fake = await startFakeRemoteWrite(() => ({ status: 500, body: 'too old sample' }));
    try {
      const started = Date.now();
      const res = await restoreHistory('--target', fake.url);
      // The target stopped the run: it failed (1), it did not merely fall short (3).
      expect(res.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(res.stderr).toMatch(/out_of_order_time_window/);
      expect(res.stderr).toMatch(/shards\/.*\.pvs/);
      expect(fake.requests).toBeLessThanOrEqual(4);
    } finally {
      await fake.stop();
    }
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isNaNBits(bits: bigint): boolean {
  return Number.isNaN(new Float64Array(new BigUint64Array([bits]).buffer)[0]!);
}

async function* asAsync<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** InfluxDB keeps __name__ as a tag and drops empty ones: rebuild the Prometheus label set's text form. */
function influxSeriesKey(measurement: string, tags: Record<string, string>): string {
  const labels = Object.entries({ ...tags, __name__: measurement })
    .filter(([, value]) => value !== '')
    .map(([name, value]) => ({ name, value }))
    .sort((x, y) => (x.name < y.name ? -1 : 1));
  return formatLabels(labels);
}
