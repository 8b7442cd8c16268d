/**
 * Remote read against a real Prometheus on 127.0.0.1: data backfilled with promtool (and some
 * written through remote write), read streamed and as SAMPLES, compared bit for bit with each
 * other and with what went in.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { SourceUnavailableError } from '../../lambdas/core/errors';
import { decodeReadResponse, encodeReadRequest, encodeWriteRequest } from '../../lambdas/core/prom/prompb';
import { matchLabels, parseSelector } from '../../lambdas/core/prom/selector';
import { snappyCompress, snappyUncompress } from '../../lambdas/core/prom/snappy';
import type { SeriesPiece, TimeWindow } from '../../lambdas/core/types';

// jest 29 ignores testTimeout inside a project entry of jest.config.js.
jest.setTimeout(120_000);

const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// A local Prometheus (kept small on purpose; the shared harness may replace it).

interface Prom {
  url: string;
  dir: string;
  proc: ChildProcess;
  log: () => string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startPrometheus(openMetrics: string): Promise<Prom> {
  const dir = await mkdtemp(join(tmpdir(), 'promvault-rr-'));
  await writeFile(join(dir, 'data.om'), openMetrics);
  await writeFile(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1h\n');
  try {
    await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'data.om'), join(dir, 'tsdb')]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`promtool backfill failed (is Prometheus installed?): ${(err as Error).message}`);
  }
  const port = await freePort();
  let output = '';
  let spawnError: Error | undefined;
  const proc = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      '--storage.tsdb.retention.time=100y',
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.on('error', (err) => (spawnError = err));
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const prom = { url: `http://127.0.0.1:${port}`, dir, proc, log: () => output.slice(-3000) };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (spawnError || proc.exitCode !== null) {
      await stopPrometheus(prom);
      throw new Error(`prometheus failed to start (${spawnError?.message ?? `exit ${proc.exitCode}`}):\n${prom.log()}`);
    }
    try {
      if ((await fetch(`${prom.url}/-/ready`)).ok) return prom;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopPrometheus(prom);
      throw new Error(`prometheus did not become ready:\n${prom.log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopPrometheus(prom: Prom | undefined): Promise<void> {
  if (!prom) return;
  const { proc } = prom;
  if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await rm(prom.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The data

const BASE = Date.UTC(2023, 0, 1); // ms
const GO_NAN = 0x7ff8000000000001n; // what Go's strconv.ParseFloat("NaN") returns
const STALE_NAN = 0x7ff0000000000002n;

interface Truth {
  labels: Record<string, string>;
  timestamps: number[];
  bits: bigint[];
}

function bitsOfNumber(v: number): bigint {
  return new BigUint64Array(Float64Array.of(v).buffer)[0]!;
}

function omValue(bits: bigint): string {
  if (bits === GO_NAN) return 'NaN';
  if (bits === 0x7ff0000000000000n) return '+Inf';
  if (bits === 0xfff0000000000000n) return '-Inf';
  if (bits === 0x8000000000000000n) return '-0';
  const v = new Float64Array(new BigUint64Array([bits]).buffer)[0]!;
  return String(v);
}

function omTimestamp(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;
}

function buildData(): Truth[] {
  const truth: Truth[] = [];
  // 1000 samples every 15 s (9 chunks of 120 and a partial one), special values scattered.
  const gauge: Truth = { labels: { __name__: 'pv_gauge', job: 'a', inst: 'x' }, timestamps: [], bits: [] };
  for (let i = 0; i < 1000; i++) {
    gauge.timestamps.push(BASE + i * 15_000);
    const specials: Record<number, bigint> = { 7: GO_NAN, 8: 0x7ff0000000000000n, 9: 0xfff0000000000000n, 500: GO_NAN };
    gauge.bits.push(specials[i] ?? bitsOfNumber(i % 3 === 0 ? i * 1.25 : Math.sin(i) * 1e6));
  }
  truth.push(gauge);
  // Irregular millisecond timestamps and huge/tiny values.
  const jitter: Truth = { labels: { __name__: 'pv_jitter', job: 'b' }, timestamps: [], bits: [] };
  let t = BASE + 123;
  for (let i = 0; i < 700; i++) {
    t += 1 + ((i * 7919) % 40_000);
    jitter.timestamps.push(t);
    jitter.bits.push(bitsOfNumber(i % 2 ? 1e300 / (i + 1) : 5e-324 * (i + 1)));
  }
  truth.push(jitter);
  // Series for matcher semantics.
  const sel = (labels: Record<string, string>, i: number): Truth => ({
    labels: { __name__: 'pv_sel', ...labels },
    timestamps: [BASE + 60_000 * i, BASE + 60_000 * i + 30_000],
    bits: [bitsOfNumber(i), bitsOfNumber(i + 0.5)],
  });
  truth.push(
    sel({ job: 'API', inst: '10.0.0.1' }, 1),
    sel({ job: 'api', inst: '10x0.0.2' }, 2),
    sel({ job: 'web', inst: 'db-1', path: 'a\nb' }, 3),
    sel({ job: 'Ünï', inst: '🚀' }, 4),
  );
  return truth;
}

/** -0 kept apart: Prometheus' SAMPLES response cannot carry its sign (it omits zero values). */
const NEG_ZERO: Truth = {
  labels: { __name__: 'pv_zero' },
  timestamps: [BASE, BASE + 1000, BASE + 2000],
  bits: [0x8000000000000000n, 0n, 0x8000000000000000n],
};

function toOpenMetrics(truth: Truth[]): string {
  const lines: string[] = [];
  const byName = new Map<string, Truth[]>();
  for (const s of truth) {
    const name = s.labels['__name__']!;
    byName.set(name, [...(byName.get(name) ?? []), s]);
  }
  for (const [name, list] of byName) {
    lines.push(`# TYPE ${name} gauge`);
    for (const s of list) {
      const labels = Object.entries(s.labels)
        .filter(([k]) => k !== '__name__')
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
        .join(',');
      s.timestamps.forEach((ts, i) => lines.push(`${name}{${labels}} ${omValue(s.bits[i]!)} ${omTimestamp(ts)}`));
    }
  }
  lines.push('# EOF');
  return lines.join('\n') + '\n';
}

function labelKey(labels: Record<string, string> | SeriesPiece['labels']): string {
  const entries = Array.isArray(labels)
    ? (labels as SeriesPiece['labels']).map((l) => [l.name, l.value] as const)
    : Object.entries(labels);
  return JSON.stringify([...entries].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** series key -> [timestamp, hex bits][]; consecutive pieces of one series merged. */
async function readAll(it: AsyncIterable<SeriesPiece>): Promise<Map<string, [number, string][]>> {
  const out = new Map<string, [number, string][]>();
  let lastKey: string | undefined;
  for await (const p of it) {
    const key = labelKey(p.labels);
    if (key !== lastKey && out.has(key)) throw new Error(`series ${key} came back in two separate runs`);
    lastKey = key;
    const rows = out.get(key) ?? [];
    out.set(key, rows);
    const bits = new BigUint64Array(p.values.buffer, p.values.byteOffset, p.values.length);
    for (let i = 0; i < p.timestamps.length; i++) rows.push([p.timestamps[i]!, bits[i]!.toString(16)]);
  }
  return out;
}

function expectedIn(truth: Truth[], w: TimeWindow): Map<string, [number, string][]> {
  const out = new Map<string, [number, string][]>();
  for (const s of truth) {
    const rows: [number, string][] = [];
    s.timestamps.forEach((t, i) => {
      if (t >= w.startMs && t < w.endMs) rows.push([t, s.bits[i]!.toString(16)]);
    });
    if (rows.length > 0) out.set(labelKey(s.labels), rows);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('remote read from Prometheus', () => {
  const truth = buildData();
  let prom: Prom | undefined;
  let reader: HttpRemoteReader;

  beforeAll(async () => {
    prom = await startPrometheus(toOpenMetrics([...truth, NEG_ZERO]));
    reader = new HttpRemoteReader({ url: `${prom.url}/api/v1/read`, timeoutMs: 30_000 });
  });

  afterAll(async () => {
    await stopPrometheus(prom);
  });

  it('answers the probe', async () => {
    await reader.probe();
  });

  it.each([
    ['everything', BASE - 3_600_000, BASE + 86_400_000],
    ['a window cutting chunks on both sides', BASE + 600_000 + 7_500, BASE + 3_600_000 + 1],
    ['a window ending exactly on a sample', BASE + 15_000 * 130, BASE + 15_000 * 250],
    ['a window inside one chunk', BASE + 15_000 * 300 + 1, BASE + 15_000 * 310],
    ['an empty window', BASE - 86_400_000, BASE - 3_600_000],
  ])('streamed and SAMPLES reads agree bit for bit with what was backfilled: %s', async (_name, startMs, endMs) => {
    const window = { startMs, endMs };
    const selector = parseSelector('{__name__=~"pv_gauge|pv_jitter|pv_sel"}');
    let responseType: string | undefined;
    const streamedReader = new HttpRemoteReader({
      url: `${prom!.url}/api/v1/read`,
      onReadDone: (info) => (responseType = info.responseType),
    });
    const streamed = await readAll(streamedReader.read(window, selector));
    expect(responseType).toBe('streamed');
    const samples = await readAll(reader.readSamplesMode(window, selector));
    expect(streamed).toEqual(samples);
    expect(streamed).toEqual(expectedIn(truth, window));
  });

  it('tiles a range with adjacent windows without gaps or repeats', async () => {
    const selector = parseSelector('{__name__=~"pv_gauge|pv_jitter"}');
    const whole = { startMs: BASE, endMs: BASE + 5 * 3_600_000 };
    const merged = new Map<string, [number, string][]>();
    // 7-minute-and-a-bit windows: boundaries fall inside chunks and on samples.
    for (let start = whole.startMs; start < whole.endMs; start += 420_000 + 15_000) {
      const end = Math.min(whole.endMs, start + 420_000 + 15_000);
      for (const [key, rows] of await readAll(reader.read({ startMs: start, endMs: end }, selector))) {
        merged.set(key, [...(merged.get(key) ?? []), ...rows]);
      }
    }
    expect(merged).toEqual(expectedIn(truth.slice(0, 2), whole));
  });

  it('treats the query end as inclusive, so the reader asks for end - 1', async () => {
    // A raw SAMPLES query for [t, t] returns the sample at t: Prometheus' end is inclusive.
    const t = BASE + 15_000 * 42;
    const body = snappyCompress(
      encodeReadRequest([{ startTimestampMs: t, endTimestampMs: t, matchers: parseSelector('pv_gauge') }], [0]),
    );
    const res = await fetch(`${prom!.url}/api/v1/read`, {
      method: 'POST',
      body,
      headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf' },
    });
    const [result] = decodeReadResponse(snappyUncompress(new Uint8Array(await res.arrayBuffer())));
    expect(result!.series.map((p) => Array.from(p.timestamps))).toEqual([[t]]);
    // Through the reader, [t, t + 15 s) holds t only and [t - 15 s, t) does not hold t.
    const after = await readAll(reader.read({ startMs: t, endMs: t + 15_000 }, parseSelector('pv_gauge')));
    expect([...after.values()][0]!.map(([ts]) => ts)).toEqual([t]);
    const before = await readAll(reader.read({ startMs: t - 15_000, endMs: t }, parseSelector('pv_gauge')));
    expect([...before.values()][0]!.map(([ts]) => ts)).toEqual([t - 15_000]);
  });

  it('keeps the sign of -0 when streamed (the SAMPLES response loses it)', async () => {
    const window = { startMs: BASE, endMs: BASE + 3000 };
    const streamed = await readAll(reader.read(window, parseSelector('pv_zero')));
    expect([...streamed.values()]).toEqual([
      [
        [BASE, '8000000000000000'],
        [BASE + 1000, '0'],
        [BASE + 2000, '8000000000000000'],
      ],
    ]);
    const samples = await readAll(reader.readSamplesMode(window, parseSelector('pv_zero')));
    expect([...samples.values()][0]!.map(([, bits]) => bits)).toEqual(['0', '0', '0']);
  });

  it('selects all series when given no matchers', async () => {
    const window = { startMs: BASE - 3_600_000, endMs: BASE + 86_400_000 };
    const all = await readAll(reader.read(window, []));
    expect(all).toEqual(expectedIn([...truth, NEG_ZERO], window));
  });

  it.each([
    '{__name__="pv_sel",job=~"(?i)api"}',
    '{__name__="pv_sel",job=~"a.*"}',
    '{__name__="pv_sel",job=~"A|PI"}',
    '{__name__="pv_sel",inst=~"10\\\\..*"}',
    '{__name__="pv_sel",inst!~"10\\\\..*"}',
    '{__name__="pv_sel",job=~"[[:upper:]]+"}',
    // `a.b` alone is left out: Prometheus 2.x matches `.` without (?s), Prometheus 3 and promvault
    // with it; selector-prometheus.test.ts checks that difference against the server's version.
    '{__name__="pv_sel",path=~"(?s)a.b"}',
    '{__name__="pv_sel",path=""}',
    '{__name__="pv_sel",path!=""}',
    '{__name__="pv_sel",inst=~"."}',
    '{__name__="pv_sel",inst=~"\\\\pL+.*"}',
    '{__name__="pv_sel",job=~"\\\\p{Lu}\\\\p{Ll}+"}',
    '{__name__=~"pv_s.l",job!~"web|API"}',
  ])('selects the same series as matchLabels does for %s', async (text) => {
    const matchers = parseSelector(text);
    const window = { startMs: BASE - 3_600_000, endMs: BASE + 86_400_000 };
    const got = [...(await readAll(reader.read(window, matchers))).keys()].sort();
    const want = truth
      .filter((s) => s.labels['__name__'] === 'pv_sel')
      .filter((s) => matchLabels(labelsOf(s.labels), matchers))
      .map((s) => labelKey(s.labels))
      .sort();
    expect(got).toEqual(want);
  });

  it('reads staleness markers and NaN payloads written through remote write, streamed and as samples', async () => {
    // The head accepts recent samples only.
    const start = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const n = 400;
    const timestamps = Float64Array.from({ length: n }, (_, i) => start + i * 5_000 + (i % 4));
    const values = new Float64Array(n);
    const bits = new BigUint64Array(values.buffer);
    for (let i = 0; i < n; i++) {
      bits[i] = bitsOfNumber(i * 0.25);
      if (i % 13 === 2) bits[i] = STALE_NAN;
      if (i % 31 === 5) bits[i] = 0xfff8000000000000n | BigInt(i * 977);
      if (i % 37 === 6) bits[i] = 0x7ff0000000000000n | BigInt(0xabcdef + i);
    }
    const labels = [
      { name: '__name__', value: 'pv_written' },
      { name: 'k', value: 'v' },
    ];
    const res = await fetch(`${prom!.url}/api/v1/write`, {
      method: 'POST',
      body: snappyCompress(encodeWriteRequest([{ labels, timestamps, values }])),
      headers: {
        'Content-Encoding': 'snappy',
        'Content-Type': 'application/x-protobuf',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
      },
    });
    expect(res.status).toBe(204);
    const window = { startMs: start + 1_000, endMs: start + (n - 10) * 5_000 };
    const expected = expectedIn(
      [{ labels: { __name__: 'pv_written', k: 'v' }, timestamps: Array.from(timestamps), bits: Array.from(bits) }],
      window,
    );
    const selector = parseSelector('pv_written');
    expect(await readAll(reader.read(window, selector))).toEqual(expected);
    expect(await readAll(reader.readSamplesMode(window, selector))).toEqual(expected);
  });

  it('fails the probe of a closed port with a message that says what to check', async () => {
    const closed = new HttpRemoteReader({ url: `http://127.0.0.1:${await freePort()}/api/v1/read`, timeoutMs: 5_000 });
    const err = await closed.probe().catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect((err as Error).message).toMatch(
      /^cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/read: .*ECONNREFUSED.*Check --source/,
    );
  });
});

function labelsOf(record: Record<string, string>): SeriesPiece['labels'] {
  return Object.entries(record)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
