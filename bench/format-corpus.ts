/**
 * Corpora for bench/format-tuning.ts: the real TSDB snapshot (through `promtool tsdb dump`) and a
 * synthetic 15 s scrape corpus. Bench-only code: it may read files and spawn processes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { compareLabels } from '../lambdas/core/labels';
import type { Label, SeriesPiece } from '../lambdas/core/types';
import { PRESETS, corpusSeries, type PresetName } from '../test/fixtures/corpus';
import { mulberry32 as rng } from '../test/fixtures/prng';

export interface Corpus {
  readonly name: string;
  readonly series: SeriesPiece[];
  readonly samples: number;
}

/** Parses one Go strconv.Quote'd string starting at s[i] === '"'; returns [value, index after the closing quote]. */
function parseGoQuoted(s: string, i: number): [string, number] {
  let out = '';
  let j = i + 1;
  for (;;) {
    const c = s[j];
    if (c === undefined) throw new Error(`unterminated string in ${s}`);
    if (c === '"') return [out, j + 1];
    if (c !== '\\') {
      out += c;
      j++;
      continue;
    }
    const e = s[j + 1];
    j += 2;
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        // Go writes invalid UTF-8 bytes as \xNN; keep them as latin-1 code points (bench only).
        out += String.fromCharCode(parseInt(s.slice(j, j + 2), 16));
        j += 2;
        break;
      }
      case 'u':
        out += String.fromCharCode(parseInt(s.slice(j, j + 4), 16));
        j += 4;
        break;
      case 'U':
        out += String.fromCodePoint(parseInt(s.slice(j, j + 8), 16));
        j += 8;
        break;
      default:
        out += e ?? '';
    }
  }
}

/** `{a="b", c="d"}` -> labels sorted by name. */
export function parseLabelSet(s: string): Label[] {
  const labels: Label[] = [];
  let i = 1;
  while (i < s.length && s[i] !== '}') {
    if (s[i] === ',' || s[i] === ' ') {
      i++;
      continue;
    }
    const eq = s.indexOf('=', i);
    const name = s.slice(i, eq);
    const [value, next] = parseGoQuoted(s, eq + 1);
    labels.push({ name, value });
    i = next;
  }
  labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return labels;
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

/**
 * Loads a Prometheus data directory through `promtool tsdb dump` (which needs a wal/ dir: the
 * directory is copied to /tmp first when it has none). Values lose NaN payloads (dump prints NaN).
 */
export async function loadPromtoolDump(dataDir: string, name: string): Promise<Corpus> {
  let dir = dataDir;
  if (!existsSync(`${dir}/wal`)) {
    const copy = `/tmp/promvault-format-bench-db`;
    if (!existsSync(`${copy}/wal`)) {
      execFileSync('cp', ['-r', dataDir, copy]);
      mkdirSync(`${copy}/wal`, { recursive: true });
    }
    dir = copy;
  }
  const child = spawn('promtool', ['tsdb', 'dump', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const series: SeriesPiece[] = [];
  let curKey = '';
  let ts: number[] = [];
  let vals = new Float64Array(1024);
  let n = 0;
  let samples = 0;
  const flush = () => {
    if (n === 0) return;
    series.push({ labels: parseLabelSet(curKey), timestamps: Float64Array.from(ts), values: vals.slice(0, n) });
    samples += n;
    ts = [];
    n = 0;
  };
  for await (const line of rl) {
    const sp2 = line.lastIndexOf(' ');
    const sp1 = line.lastIndexOf(' ', sp2 - 1);
    const key = line.slice(0, sp1);
    if (key !== curKey) {
      flush();
      curKey = key;
    }
    if (n === vals.length) {
      const bigger = new Float64Array(vals.length * 2);
      bigger.set(vals);
      vals = bigger;
    }
    vals[n++] = parseValue(line.slice(sp1 + 1, sp2));
    ts.push(Number(line.slice(sp2 + 1)));
  }
  flush();
  await new Promise<void>((resolve, reject) => {
    if (child.exitCode !== null) resolve();
    else child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`promtool exited ${code}`))));
  });
  // Remote read order: by label set.
  return { name, series, samples };
}

/** Extracts the real corpus into /tmp (once) and returns the data directory. */
export function extractRealCorpus(archive: string): string {
  const dir = '/tmp/promvault-format-bench-real';
  if (!existsSync(dir) || readdirSync(dir).length === 0) {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `zstd -dc '${archive}' | tar -C '${dir}' -xf -`]);
  }
  return dir;
}

const STALE = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0] as number;

/**
 * Synthetic 15 s scrapes, generated lazily target by target (so memory stays flat): per target,
 * counters (with resets), integer and float gauges, a histogram and a summary; per-target scrape
 * jitter of a few ms; one series per target goes stale (staleness marker) half way.
 */
export function* syntheticStream(opts: { targets: number; hours: number; seed?: number }): Generator<SeriesPiece> {
  const rand = rng(opts.seed ?? 42);
  const start = 1_700_000_000_000;
  const n = Math.floor((opts.hours * 3600) / 15);
  const les = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
  const goNaN = new Float64Array(new BigUint64Array([0x7ff8000000000001n]).buffer)[0] as number;
  for (let t = 0; t < opts.targets; t++) {
    const series: SeriesPiece[] = [];
    const instance = `10.0.${(t >> 8) & 255}.${t & 255}:9100`;
    const offset = Math.floor(rand() * 15000);
    const ts = new Float64Array(n);
    for (let i = 0; i < n; i++) ts[i] = start + offset + i * 15000 + Math.floor(rand() * 4) - (rand() < 0.02 ? 7 : 0);
    for (let i = 1; i < n; i++) if ((ts[i] as number) <= (ts[i - 1] as number)) ts[i] = (ts[i - 1] as number) + 1;
    const base = (name: string, extra: Record<string, string> = {}): Label[] =>
      Object.entries({ __name__: name, instance, job: 'node', ...extra })
        .map(([k, v]) => ({ name: k, value: v }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const add = (labels: Label[], values: Float64Array, stale = false) => {
      let len = n;
      if (stale) {
        len = Math.floor(n / 2) + 1;
        values[len - 1] = STALE;
      }
      series.push({ labels, timestamps: ts.slice(0, len), values: values.slice(0, len) });
    };
    // CPU seconds counters (2 decimals), per cpu and mode.
    for (let cpu = 0; cpu < 4; cpu++) {
      for (const mode of ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user']) {
        const v = new Float64Array(n);
        let acc = Math.floor(rand() * 1e6) / 100;
        const rate = mode === 'idle' ? 12 : mode === 'user' ? 2 : mode === 'system' ? 1 : mode === 'steal' ? 0 : 0.05;
        for (let i = 0; i < n; i++) {
          acc += Math.round(rate * rand() * 200) / 100;
          v[i] = Math.round(acc * 100) / 100;
        }
        add(base('node_cpu_seconds_total', { cpu: String(cpu), mode }), v);
      }
    }
    // Byte counters with a reset.
    for (const dev of ['eth0', 'lo', 'docker0']) {
      for (const dir of ['receive', 'transmit']) {
        const v = new Float64Array(n);
        let acc = Math.floor(rand() * 1e12);
        const reset = Math.floor(rand() * n * 2);
        for (let i = 0; i < n; i++) {
          if (i === reset) acc = 0;
          acc += Math.floor(rand() * 150000 * (dev === 'lo' ? 0.1 : 1));
          v[i] = acc;
        }
        add(base(`node_network_${dir}_bytes_total`, { device: dev }), v, dev === 'docker0' && dir === 'receive');
      }
    }
    // Integer gauges (memory), float gauges (load, temperature).
    for (const m of ['MemFree', 'Cached', 'Buffers', 'Active', 'Inactive', 'Dirty']) {
      const v = new Float64Array(n);
      let x = Math.floor(rand() * 8e9);
      for (let i = 0; i < n; i++) {
        x += Math.floor((rand() - 0.5) * 4096) * 4096;
        v[i] = Math.max(0, x);
      }
      add(base(`node_memory_${m}_bytes`), v);
    }
    for (const m of ['node_load1', 'node_load5', 'node_load15']) {
      const v = new Float64Array(n);
      let x = rand() * 4;
      for (let i = 0; i < n; i++) {
        x = Math.max(0, x + (rand() - 0.5) * 0.3);
        v[i] = Math.round(x * 100) / 100;
      }
      add(base(m), v);
    }
    {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = 40 + 10 * Math.sin(i / 50) + rand(); // full-precision floats
      add(base('node_hwmon_temp_celsius', { chip: 'coretemp', sensor: 'temp1' }), v);
    }
    // Constants.
    add(base('node_exporter_build_info', { version: '1.7.0', goversion: 'go1.21.4' }), new Float64Array(n).fill(1));
    add(base('up'), new Float64Array(n).fill(1));
    // Histogram: cumulative bucket counters, plus _sum (float, ns-resolution durations) and _count.
    {
      const counts = new Float64Array(les.length);
      const buckets = les.map(() => new Float64Array(n));
      const sum = new Float64Array(n);
      const count = new Float64Array(n);
      let s = 0;
      for (let i = 0; i < n; i++) {
        const reqs = Math.floor(rand() * 20);
        for (let r = 0; r < reqs; r++) {
          const lat = Math.floor(-Math.log(1 - rand()) * 2e8) / 1e9;
          s += lat;
          for (let b = 0; b < les.length; b++) if (b === les.length - 1 || lat <= Number(les[b])) counts[b]!++;
        }
        for (let b = 0; b < les.length; b++) buckets[b]![i] = counts[b]!;
        sum[i] = s;
        count[i] = counts[les.length - 1]!;
      }
      les.forEach((le, b) =>
        add(base('http_request_duration_seconds_bucket', { handler: '/metrics', le }), buckets[b]!),
      );
      add(base('http_request_duration_seconds_count', { handler: '/metrics' }), count);
      add(base('http_request_duration_seconds_sum', { handler: '/metrics' }), sum);
    }
    // Summary quantiles that are NaN (Go's math.NaN()) when idle.
    for (const q of ['0', '0.25', '0.5', '0.75', '1']) {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = rand() < 0.3 ? goNaN : Math.round(rand() * 1e6) / 1e6;
      add(base('go_gc_duration_seconds', { quantile: q }), v);
    }
    yield* series;
  }
}

/** syntheticStream collected and sorted by label set, as remote read returns series. */
export function syntheticCorpus(opts: { targets: number; hours: number; seed?: number }): Corpus {
  const series = [...syntheticStream(opts)];
  const key = (l: readonly Label[]) => l.map((x) => `${x.name}\u0000${x.value}`).join('\u0001');
  series.sort((a, b) => {
    const ka = key(a.labels);
    const kb = key(b.labels);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  let samples = 0;
  for (const s of series) samples += s.values.length;
  return { name: `synthetic-15s-${opts.targets}t-${opts.hours}h`, series, samples };
}

/** A preset of the shared fixture generator (test/fixtures/corpus.ts), sorted like remote read. */
export function fixtureCorpus(preset: PresetName): Corpus {
  const series: SeriesPiece[] = [];
  for (const s of corpusSeries(PRESETS[preset]))
    series.push({ labels: s.labels, timestamps: s.timestamps, values: s.values });
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  let samples = 0;
  for (const s of series) samples += s.values.length;
  return { name: `fixture-${preset}`, series, samples };
}
