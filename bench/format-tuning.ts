/**
 * Size and speed of the shard format (lambdas/core/format) per candidate setting, on the real
 * corpus (a TSDB snapshot archive such as ../shared/corpus/real-1s-mixed.tar.zst, given with
 * --archive or $PROMVAULT_REAL_CORPUS, through promtool), synthetic 15 s data
 * (bench/format-corpus.ts) and the shared fixture generator (test/fixtures/corpus.ts).
 *
 *   npx tsx bench/format-tuning.ts [--archive <real.tar.zst>] [--corpus real|synthetic|fixture|all] [--set levels|blocks|tuning|metadata|all]
 *       [--level q] [--lgwin w] [--reps n] [--check yes|no] [--detail]
 *   npx tsx bench/format-tuning.ts --set memory [--targets 101] [--level q] [--lgwin w] [--block n]
 *
 * Prints the anchors (raw TSDB block, tar | zstd -19), then per candidate: bytes/sample stored
 * and before compression, encode and decode throughput in samples (and MB of 16-byte raw samples)
 * per CPU-second of the process (JS plus the compressor's thread) and per wall-second, best of
 * --reps; checks every candidate round-trips bit for bit. `--set memory` streams ~10M samples
 * per 101 targets through the encoder and reports RSS (add node's --expose-gc to see live memory).
 * The parsed real corpus is cached in <tmpdir>/promvault-format-bench.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { ShardEncoder, decodeShard, encodeShard, type EncodeOptions, type ShardStats } from '../lambdas/core/format';
import type { MetricMetadata, SeriesPiece } from '../lambdas/core/types';
import {
  extractRealCorpus,
  fixtureCorpus,
  loadPromtoolDump,
  syntheticCorpus,
  syntheticStream,
  type Corpus,
} from './format-corpus';

const CACHE_DIR = path.join(os.tmpdir(), 'promvault-format-bench');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

/** The real corpus' archive (with its .json beside it), from --archive or $PROMVAULT_REAL_CORPUS. */
function realArchive(): string {
  const archive = arg('archive', process.env.PROMVAULT_REAL_CORPUS ?? '');
  const fix =
    'give the TSDB snapshot archive with --archive <file.tar.zst> or $PROMVAULT_REAL_CORPUS ' +
    '(e.g. ../shared/corpus/real-1s-mixed.tar.zst, its .json beside it), or use --corpus synthetic|fixture';
  if (archive === '') throw new Error(`the real corpus needs its archive: ${fix}`);
  if (!archive.endsWith('.tar.zst')) throw new Error(`--archive ${archive} is not a .tar.zst archive: ${fix}`);
  for (const f of [archive, archive.replace(/\.tar\.zst$/, '.json')])
    if (!existsSync(f)) throw new Error(`${f} does not exist: ${fix}`);
  return path.resolve(archive);
}

async function realCorpus(): Promise<Corpus> {
  const cache = `${CACHE_DIR}/real.v8`;
  if (existsSync(cache)) return deserialize(readFileSync(cache)) as Corpus;
  const dir = extractRealCorpus(realArchive());
  const c = await loadPromtoolDump(dir, 'real-1s-mixed');
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(cache, serialize(c));
  return c;
}

function anchors(): void {
  const archive = realArchive();
  const dir = extractRealCorpus(archive);
  const raw = Number(
    execFileSync('sh', ['-c', `du -sb '${dir}' | cut -f1`])
      .toString()
      .trim(),
  );
  const zst = Number(
    execFileSync('sh', ['-c', `tar -C '${dir}' -cf - . | zstd -19 -q -c | wc -c`])
      .toString()
      .trim(),
  );
  const samples = JSON.parse(readFileSync(archive.replace(/\.tar\.zst$/, '.json'), 'utf8')).samples as number;
  console.log(`anchor real: raw TSDB block ${raw} B = ${(raw / samples).toFixed(3)} B/sample`);
  console.log(`anchor real: tar | zstd -19   ${zst} B = ${(zst / samples).toFixed(3)} B/sample`);
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return chunks;
}

function bitsEqual(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const y = new BigUint64Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Merges decoded pieces back into series and compares them with the input, bit for bit. */
async function verify(corpus: Corpus, decoded: AsyncIterable<SeriesPiece>): Promise<void> {
  let i = 0;
  let ts: number[] = [];
  let parts: Float64Array[] = [];
  let labelsKey = '';
  const key = (p: SeriesPiece) => JSON.stringify(p.labels);
  const check = () => {
    if (parts.length === 0) return;
    const want = corpus.series[i++];
    const vals = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      vals.set(p, o);
      o += p.length;
    }
    if (
      !want ||
      key(want) !== labelsKey ||
      !bitsEqual(want.values, vals) ||
      !bitsEqual(want.timestamps, Float64Array.from(ts))
    ) {
      throw new Error(`round trip differs at series ${i - 1} ${labelsKey}`);
    }
  };
  for await (const p of decoded) {
    const k = key(p);
    if (k !== labelsKey) {
      check();
      labelsKey = k;
      ts = [];
      parts = [];
    }
    for (const t of p.timestamps) ts.push(t);
    parts.push(p.values);
  }
  check();
  if (i !== corpus.series.length) throw new Error(`decoded ${i} series, want ${corpus.series.length}`);
}

interface Row {
  corpus: string;
  candidate: string;
  samples: number;
  bps: number;
  rawBps: number;
  /** CPU ms (all threads) and wall ms of the whole encodeShard pipeline, best of `reps`. */
  encCpu: number;
  encWall: number;
  decCpu: number;
  decWall: number;
  stats: ShardStats;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

async function run(corpus: Corpus, candidate: string, opts: EncodeOptions, check: boolean, reps: number): Promise<Row> {
  let best: Row | undefined;
  for (let rep = 0; rep < reps; rep++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    const enc = encodeShard(corpus.series, opts);
    const chunks = await drain(enc.body);
    const encWall = performance.now() - t0;
    const encCpu = cpuMs() - c0;
    const stats = enc.stats();
    const c1 = cpuMs();
    const t1 = performance.now();
    let n = 0;
    for await (const p of decodeShard(chunks)) n += p.values.length;
    const decWall = performance.now() - t1;
    const decCpu = cpuMs() - c1;
    if (n !== corpus.samples) throw new Error(`decoded ${n} samples, want ${corpus.samples}`);
    if (check && rep === 0) await verify(corpus, decodeShard(chunks));
    const row: Row = {
      corpus: corpus.name,
      candidate,
      samples: corpus.samples,
      bps: stats.storedBytes / corpus.samples,
      rawBps: stats.rawBytes / corpus.samples,
      encCpu: Math.min(encCpu, best?.encCpu ?? Infinity),
      encWall: Math.min(encWall, best?.encWall ?? Infinity),
      decCpu: Math.min(decCpu, best?.decCpu ?? Infinity),
      decWall: Math.min(decWall, best?.decWall ?? Infinity),
      stats,
    };
    best = row;
  }
  return best as Row;
}

/** JS-only encode cost (ShardEncoder without compression), best of reps, in CPU ms. */
function jsEncodeCpu(corpus: Corpus, reps: number): number {
  let best = Infinity;
  for (let rep = 0; rep < reps; rep++) {
    const c0 = cpuMs();
    const enc = new ShardEncoder({});
    for (const p of corpus.series) enc.add(p);
    enc.finish();
    best = Math.min(best, cpuMs() - c0);
  }
  return best;
}

function print(r: Row): void {
  const msps = (ms: number) => `${((r.samples / ms) * 1e-3).toFixed(2)}M/s`.padStart(9);
  const mbps = (ms: number) => `${(((r.samples * 16) / ms) * 1e-3).toFixed(0)}MB/s`.padStart(8);
  console.log(
    [
      r.corpus.padEnd(26),
      r.candidate.padEnd(22),
      r.bps.toFixed(4).padStart(7),
      r.rawBps.toFixed(3).padStart(7),
      msps(r.encCpu),
      mbps(r.encCpu),
      msps(r.encWall),
      msps(r.decCpu),
      mbps(r.decCpu),
      msps(r.decWall),
    ].join(' '),
  );
}

type Candidate = [string, EncodeOptions];

function candidates(set: string, q: number): Candidate[] {
  const out: Candidate[] = [];
  const at = (name: string, opts: EncodeOptions): Candidate => [`q${q} ${name}`, { level: q, ...opts }];
  if (set === 'levels' || set === 'all') {
    const lgwin = arg('lgwin', '');
    for (const level of [3, 4, 5, 6, 7, 8, 9, 10, 11]) {
      out.push([
        `brotli q${level}${lgwin ? ` w${lgwin}` : ''}`,
        { level, ...(lgwin ? { windowBits: Number(lgwin) } : {}) },
      ]);
    }
    out.push(['zlib 6', { codec: 'zlib', level: 6 }]);
    out.push(['zlib 9', { codec: 'zlib', level: 9 }]);
    out.push(['none', { codec: 'none' }]);
  }
  if (set === 'blocks' || set === 'all') {
    for (const b of [1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20]) {
      out.push(at(`block ${b >> 10}k`, { blockSamples: b }));
    }
    for (const w of [18, 20, 22, 24]) out.push(at(`lgwin ${w}`, { windowBits: w }));
  }
  if (set === 'tuning' || set === 'all') {
    out.push(at('default', {}));
    out.push(at('no ts dedup', { tuning: { tsDedup: false } }));
    out.push(at('no decimal', { tuning: { decimal: false } }));
    out.push(at('no exceptions', { tuning: { exceptions: false } }));
    out.push(at('no corrections', { tuning: { corrections: false } }));
    out.push(at('no gcd', { tuning: { gcd: false } }));
    out.push(at('delta only', { tuning: { orders: [1] } }));
    out.push(at('orders 1,2,3', { tuning: { orders: [1, 2, 3] } }));
    out.push(at('no label prefix', { tuning: { labelPrefix: false } }));
    out.push(at('exc share 0.25', { tuning: { maxExceptionShare: 0.25 } }));
    out.push(at('exc share 0.75', { tuning: { maxExceptionShare: 0.75 } }));
    for (const g of [1, 0.9, 0.7]) out.push(at(`order gain ${g}`, { tuning: { orderGain: g } }));
  }
  return out;
}

/**
 * Metadata as an exporter reports it, one entry per family of the corpus' series names (a type
 * from the name's suffix, a help sentence of typical length), for the metadata row.
 */
function corpusMetadata(corpus: Corpus): MetricMetadata[] {
  const names = new Set(corpus.series.map((p) => p.labels.find((l) => l.name === '__name__')?.value ?? ''));
  const families = new Map<string, MetricMetadata['type']>();
  for (const name of names) {
    const stem = name.replace(/_(total|bucket|sum|count)$/, '');
    const type = name.endsWith('_total')
      ? 'counter'
      : stem !== name
        ? names.has(`${stem}_bucket`)
          ? 'histogram'
          : 'summary'
        : 'gauge';
    if (!families.has(stem === name ? name : stem)) families.set(stem === name ? name : stem, type);
  }
  return [...families].map(([metricFamilyName, type]) => ({
    metricFamilyName,
    type,
    help: `${metricFamilyName.replace(/_/g, ' ')}: as reported by the exporter of this target.`,
    unit: /_seconds$/.test(metricFamilyName) ? 'seconds' : /_bytes$/.test(metricFamilyName) ? 'bytes' : '',
  }));
}

/**
 * Streams a synthetic shard (~10M samples by default) through encode, then through encode piped
 * straight into decode, keeping neither, and reports RSS (run it alone: `--set memory`).
 */
async function memoryCheck(opts: EncodeOptions): Promise<void> {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const base = process.memoryUsage.rss();
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const trace: string[] = [];
  const targets = Number(arg('targets', '101'));
  function* gen(): Generator<SeriesPiece> {
    let i = 0;
    for (const p of syntheticStream({ targets, hours: 6, seed: 7 })) {
      if (i++ % 2000 === 0) {
        // With --expose-gc, measure what is live rather than what the GC has not collected yet.
        (globalThis as { gc?: () => void }).gc?.();
        const m = process.memoryUsage();
        trace.push(`${mb(m.rss)}(heap ${mb(m.heapUsed)}, buffers ${mb(m.arrayBuffers)})`);
      }
      yield p;
    }
  }
  const t0 = performance.now();
  const enc = encodeShard(gen(), opts);
  for await (const c of enc.body) void c;
  const encMs = performance.now() - t0;
  const st = enc.stats();
  const encPeak = Math.max(peak, process.memoryUsage.rss());
  const encTrace = trace.splice(0);
  peak = 0;
  const t1 = performance.now();
  let n = 0;
  for await (const p of decodeShard(encodeShard(gen(), opts).body)) n += p.values.length;
  const bothMs = performance.now() - t1;
  clearInterval(timer);
  const bothPeak = Math.max(peak, process.memoryUsage.rss());
  if (n !== st.samples) throw new Error('sample count differs');
  console.log(`memory: RSS at start ${mb(base)} (node + tsx + corpus generator code)`);
  console.log(
    `memory: encode ${st.samples} samples, ${st.series} series -> ${st.storedBytes} B ` +
      `(${(st.storedBytes / st.samples).toFixed(3)} B/sample) in ${(encMs / 1e3).toFixed(1)} s ` +
      `(${(st.samples / encMs / 1e3).toFixed(2)}M samples/s incl. generating them); peak RSS ${mb(encPeak)}; ` +
      `RSS every 2000 series: ${encTrace.join(' ')}`,
  );
  console.log(
    `memory: encode piped into decode in ${(bothMs / 1e3).toFixed(1)} s; peak RSS ${mb(bothPeak)}; ` +
      `RSS every 2000 series: ${trace.join(' ')}`,
  );
}

async function main(): Promise<void> {
  if (arg('set', '') === 'memory') {
    const opts: { level?: number; blockSamples?: number; windowBits?: number } = {};
    if (arg('level', '')) opts.level = Number(arg('level', ''));
    if (arg('block', '')) opts.blockSamples = Number(arg('block', ''));
    if (arg('lgwin', '')) opts.windowBits = Number(arg('lgwin', ''));
    return memoryCheck(opts);
  }
  const which = arg('corpus', 'all');
  const set = arg('set', 'all');
  const check = arg('check', 'yes') === 'yes';
  const corpora: Corpus[] = [];
  if (which === 'real' || which === 'all') {
    anchors();
    corpora.push(await realCorpus());
  }
  if (which === 'synthetic' || which === 'all') corpora.push(syntheticCorpus({ targets: 100, hours: 2 }));
  if (which === 'fixture' || which === 'all') corpora.push(fixtureCorpus('integration'));
  for (const c of corpora) console.log(`${c.name}: ${c.series.length} series, ${c.samples} samples`);
  const reps = Number(arg('reps', '3'));
  for (const c of corpora) {
    await run(c, 'warm-up', {}, false, 2);
    const js = jsEncodeCpu(c, reps + 2);
    console.log(`${c.name}: JS encoding alone ${((c.samples / js) * 1e-3).toFixed(2)}M samples/s of CPU`);
  }
  console.log(
    'encode/decode speeds are per CPU-second (all threads: JS + compressor) and per wall-second; MB/s of 16-byte raw samples',
  );
  console.log(
    'corpus                     candidate                B/smp  raw B/s   enc/cpu  enc/cpu  enc/wall   dec/cpu  dec/cpu  dec/wall',
  );
  for (const c of corpora) {
    const rows = candidates(set, Number(arg('level', '5')));
    if (set === 'metadata' || set === 'all') {
      // Default options (brotli q4), without and with one metadata entry per family of the corpus.
      rows.push(['default', {}], [`metadata (${corpusMetadata(c).length} families)`, { metadata: corpusMetadata(c) }]);
    }
    for (const [name, opts] of rows) {
      const r = await run(c, name, opts, check, reps);
      print(r);
      if (process.argv.includes('--detail')) {
        console.log(JSON.stringify(r.stats.kinds), r.stats.sectionBytes.join(' '));
      }
    }
  }
}

main().catch((e: unknown) => {
  console.error(`format-tuning: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
