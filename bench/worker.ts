/**
 * One measured step of the benchmark, in its own process so that its peak RSS is its own.
 * Prints one JSON line: { seconds, peak_rss_mb, ... }. Timing starts after module loading.
 *
 *   pull    raw remote read of shard windows: frames parsed (CRC checked) and protobuf-decoded, then discarded
 *   backup  the real backup (pull → encode → store → manifest) into a directory store; with
 *           --mode query, pulled through the HTTP query API instead of remote read
 *   replay  remote-write requests built beforehand (the same requests restore sends), sent with the same
 *           lanes through the same HttpRemoteWriter transport
 *   restore the real restore (fetch → verify → decode → filter → write)
 *   encode  the restore into a writer that discards each request once its body is built, with the
 *           body encoder named by --encoder: the data path's own CPU, without the network or a target
 *   render  (not measured) the samples of a backup store rendered as successive /federate answers,
 *           one text file per --interval: each series' newest sample at or before the answer's time
 *   federate the real capture (parse → split → snapshot → compact) of rendered answers into a
 *           directory store, answers read from their files in turn, on a fake clock: no network
 * replay and restore also report lanes_full_share, the share of their time with every lane busy.
 */
import { DirectoryStore } from '../lambdas/adapters/dir-store';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';
import { HttpQueryReader } from '../lambdas/adapters/prometheus-query';
import { HttpRemoteWriter } from '../lambdas/adapters/remote-write-http';
import { runBackup } from '../lambdas/core/backup/run';
import { planShards } from '../lambdas/core/backup/plan';
import { planRestore } from '../lambdas/core/restore/plan';
import { runRestore } from '../lambdas/core/restore/run';
import { fetchVerified } from '../lambdas/core/restore/fetch';
import { WritePipeline, withRequestBody } from '../lambdas/core/restore/write';
import { decodeShard } from '../lambdas/core/format';
import { mapPool } from '../lambdas/core/pool';
import {
  encodeReadRequest,
  encodeWriteRequest,
  decodeChunkedReadResponse,
  CONTENT_TYPE_STREAMED,
  RESPONSE_STREAMED_XOR_CHUNKS,
  Scratch,
} from '../lambdas/core/prom/prompb';
import { encodeWriteRequestSnappy } from '../lambdas/core/prom/write-request-snappy';
import { readFrames } from '../lambdas/core/prom/frames';
import { snappyCompress, SNAPPY_IMPLEMENTATION } from '../lambdas/core/prom/snappy';
import type { RemoteWriter, WriteBatch } from '../lambdas/core/ports';
import { STALE_NAN_BITS, type SeriesPiece } from '../lambdas/core/types';
import { runCapture } from '../lambdas/core/federate/capture';
import type { FederateScraper } from '../lambdas/core/ports';
import { alignDown } from '../lambdas/core/backup/plan-run';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

type Args = Record<string, string>;

function parseArgs(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i]!.replace(/^--/, '')] = argv[i + 1]!;
  return out;
}

const num = (a: Args, k: string) => Number(a[k]);

/**
 * Wall time and this process's CPU time (all its threads) of the measured part of a step. On a
 * small machine the server competes for the same cores, so CPU time explains the wall time.
 */
function startClock() {
  const started = performance.now();
  const cpu = process.cpuUsage();
  return {
    read() {
      const used = process.cpuUsage(cpu);
      return { seconds: (performance.now() - started) / 1000, cpu_seconds: (used.user + used.system) / 1e6 };
    },
  };
}

/**
 * The share of a step's time during which all its lanes had a request in flight: how well it kept
 * the target fed. Unlike seconds, it hardly moves with the machine's speed from run to run.
 */
class LaneOccupancy {
  private inFlight = 0;
  private since = performance.now();
  private fullMs = 0;
  private readonly started = performance.now();
  constructor(private readonly lanes: number) {}

  async around<T>(request: () => Promise<T>): Promise<T> {
    this.tick();
    this.inFlight++;
    try {
      return await request();
    } finally {
      this.tick();
      this.inFlight--;
    }
  }

  share(): number {
    this.tick();
    return Math.round((this.fullMs / (performance.now() - this.started)) * 1000) / 1000;
  }

  private tick(): void {
    const now = performance.now();
    if (this.inFlight >= this.lanes) this.fullMs += now - this.since;
    this.since = now;
  }
}

function peakRssMb(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

async function rawPull(a: Args) {
  const windows = planShards({
    source: 'bench',
    fromMs: num(a, 'from'),
    toMs: num(a, 'to'),
    shardLengthMs: num(a, 'shard'),
    selector: '',
  });
  let frames = 0;
  let series = 0;
  let bytes = 0;
  const clock = startClock();
  await mapPool(windows, num(a, 'concurrency'), async (ref) => {
    const body = snappyCompress(
      encodeReadRequest(
        [
          {
            startTimestampMs: ref.window.startMs,
            endTimestampMs: ref.window.endMs - 1,
            matchers: [{ type: '=~', name: '__name__', value: '.+' }],
          },
        ],
        [RESPONSE_STREAMED_XOR_CHUNKS],
      ),
    );
    const res = await fetch(a.url!, {
      method: 'POST',
      body,
      headers: {
        'Content-Encoding': 'snappy',
        'Content-Type': 'application/x-protobuf',
        'X-Prometheus-Remote-Read-Version': '0.1.0',
      },
    });
    if (res.headers.get('content-type') !== CONTENT_TYPE_STREAMED)
      throw new Error(`not streamed: ${res.headers.get('content-type')}`);
    for await (const frame of readFrames(res.body as AsyncIterable<Uint8Array>)) {
      frames++;
      bytes += frame.length;
      series += decodeChunkedReadResponse(frame).series.length;
    }
  });
  return { ...clock.read(), frames, series, frame_bytes: bytes };
}

async function backup(a: Args) {
  // --mode query: the same backup through the HTTP query API (--url is then the base URL).
  const reader =
    a.mode === 'query'
      ? new HttpQueryReader({ url: a.url!, timeoutMs: 600_000 })
      : new HttpRemoteReader({ url: a.url!, timeoutMs: 600_000 });
  const store = new DirectoryStore(a.store!);
  await store.check();
  const clock = startClock();
  const report = await runBackup(
    { reader, store, nowMs: Date.now },
    {
      source: 'bench',
      fromMs: num(a, 'from'),
      toMs: num(a, 'to'),
      shardLengthMs: num(a, 'shard'),
      selectors: [],
      concurrency: num(a, 'concurrency'),
    },
  );
  if (report.failed.length > 0) throw new Error(`backup failed: ${JSON.stringify(report.failed)}`);
  return { ...report, failed: 0, ...clock.read() };
}

/** Captures the requests restore would send, lane by lane, already encoded and compressed. */
class CapturingWriter implements RemoteWriter {
  readonly endpoint = 'capture';
  readonly bodies: { body: Uint8Array; samples: number; lane: number }[] = [];
  constructor(private readonly laneOf: (batch: WriteBatch) => number) {}
  async write(batch: WriteBatch): Promise<void> {
    this.bodies.push({
      body: withRequestBody(batch).body!,
      samples: batch.samples,
      lane: this.laneOf(batch),
    });
  }
}

async function replay(a: Args) {
  const store = new DirectoryStore(a.store!);
  const plan = await planRestore(store, { sources: [], fromMs: num(a, 'from'), toMs: num(a, 'to') });
  const concurrency = num(a, 'concurrency');
  const lanePicker = new WritePipeline({ endpoint: 'none', write: async () => {} }, { concurrency });
  // A batch holds series of one lane only.
  const capture = new CapturingWriter((batch) => lanePicker.laneIndex(batch.series[0]!.labels));
  // The same lanes as restore: each lane's requests in order, lanes in parallel.
  const lanes: { body: Uint8Array; samples: number }[][] = Array.from({ length: concurrency }, () => []);
  for (const m of plan.shards) {
    const pipeline = new WritePipeline(capture, { batchSamples: num(a, 'batch'), concurrency });
    for await (const piece of decodeShard(await fetchVerified(store, m))) await pipeline.add(piece);
    await pipeline.flush();
  }
  for (const b of capture.bodies) lanes[b.lane]!.push(b);
  // The same transport, headers and retry policy as restore: only the data path differs.
  const writer = new HttpRemoteWriter({ url: a.target!, timeoutMs: 120_000 });
  let samples = 0;
  const clock = startClock();
  const occupancy = new LaneOccupancy(concurrency);
  await Promise.all(
    lanes.map(async (lane) => {
      for (const r of lane) {
        await occupancy.around(() => writer.send(r.body, { samples: r.samples }));
        samples += r.samples;
      }
    }),
  );
  return { ...clock.read(), samples, requests: capture.bodies.length, lanes_full_share: occupancy.share() };
}

async function restore(a: Args) {
  const store = new DirectoryStore(a.store!);
  const plan = await planRestore(store, { sources: [], fromMs: num(a, 'from'), toMs: num(a, 'to') });
  const http = new HttpRemoteWriter({ url: a.target!, timeoutMs: 120_000 });
  const writeOptions = { batchSamples: num(a, 'batch'), concurrency: num(a, 'concurrency') };
  const clock = startClock();
  const occupancy = new LaneOccupancy(writeOptions.concurrency);
  const writer: RemoteWriter = {
    endpoint: http.endpoint,
    prepare: (batch) => http.prepare(batch),
    write: (batch, signal) => occupancy.around(() => http.write(batch, signal)),
  };
  const report = await runRestore(
    { store, writer },
    plan.shards,
    { window: { startMs: num(a, 'from'), endMs: num(a, 'to') }, selectorGroups: [] },
    writeOptions,
  );
  if (report.failed_shards > 0) throw new Error(`restore failed: ${JSON.stringify(report.failures)}`);
  return { ...report, ...clock.read(), lanes_full_share: occupancy.share() };
}

type BodyEncoder = (series: readonly SeriesPiece[], scratch: Scratch) => Uint8Array;

/** The ways a request body can be built: restore uses the first where native snappy is installed, the last elsewhere. */
const BODY_ENCODERS: Record<string, () => BodyEncoder> = {
  native_snappy: () => {
    if (SNAPPY_IMPLEMENTATION !== 'native') throw new Error('native snappy is not installed here');
    return (series, scratch) => snappyCompress(encodeWriteRequest(series, scratch));
  },
  snappyjs: () => {
    const js = require('snappyjs') as { compress(b: Uint8Array): Uint8Array };
    return (series, scratch) => js.compress(encodeWriteRequest(series, scratch));
  },
  layout_snappy: () => encodeWriteRequestSnappy,
};

async function encode(a: Args) {
  const store = new DirectoryStore(a.store!);
  const plan = await planRestore(store, { sources: [], fromMs: num(a, 'from'), toMs: num(a, 'to') });
  const make = BODY_ENCODERS[a.encoder ?? ''];
  if (!make) throw new Error(`unknown --encoder ${a.encoder}: one of ${Object.keys(BODY_ENCODERS).join(', ')}`);
  const encodeBody = make();
  const scratch = new Scratch();
  let bodyBytes = 0;
  const writer: RemoteWriter = {
    endpoint: 'discard',
    prepare: (batch) => {
      const body = encodeBody(batch.series, scratch);
      bodyBytes += body.length;
      return { series: [], samples: batch.samples, body };
    },
    write: async () => {},
  };
  const clock = startClock();
  const report = await runRestore(
    { store, writer },
    plan.shards,
    { window: { startMs: num(a, 'from'), endMs: num(a, 'to') }, selectorGroups: [] },
    { batchSamples: num(a, 'batch'), concurrency: num(a, 'concurrency') },
  );
  if (report.failed_shards > 0) throw new Error(`encode failed: ${JSON.stringify(report.failures)}`);
  return { ...report, ...clock.read(), body_bytes: bodyBytes };
}

/** Prometheus' lookback: /federate leaves out series whose newest sample is older. */
const LOOKBACK_MS = 300_000;

/** A float as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it in the exposition text. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

const escapeLabelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Renders the samples of --store as the /federate answers a capture every --interval ms would
 * have received: answer k, at from + k × interval, holds each series' newest sample at or before
 * that time (within the lookback), with its timestamp, grouped by family under a # TYPE line.
 * Staleness markers are left out, as /federate leaves out a series whose newest sample is one.
 */
async function render(a: Args) {
  const store = new DirectoryStore(a.store!);
  const fromMs = num(a, 'from');
  const toMs = num(a, 'to');
  const intervalMs = num(a, 'interval');
  const plan = await planRestore(store, { sources: [], fromMs, toMs });
  const bySeries = new Map<string, { name: string; line: string; timestamps: number[]; values: number[] }>();
  let samples = 0;
  let staleMarkers = 0;
  const bits = new BigUint64Array(1);
  const asFloat = new Float64Array(bits.buffer);
  for (const m of plan.shards) {
    for await (const piece of decodeShard(await fetchVerified(store, m))) {
      const name = piece.labels.find((l) => l.name === '__name__')?.value ?? '';
      const rest = piece.labels.filter((l) => l.name !== '__name__');
      const line = `${name}{${rest.map((l) => `${l.name}="${escapeLabelValue(l.value)}"`).join(',')}}`;
      let s = bySeries.get(line);
      if (s === undefined) bySeries.set(line, (s = { name, line, timestamps: [], values: [] }));
      for (let i = 0; i < piece.timestamps.length; i++) {
        samples++;
        asFloat[0] = piece.values[i]!;
        if (bits[0] === STALE_NAN_BITS) {
          staleMarkers++;
          continue;
        }
        s.timestamps.push(piece.timestamps[i]!);
        s.values.push(piece.values[i]!);
      }
    }
  }
  // A family's lines together, under one # TYPE line.
  const series = [...bySeries.values()].sort((x, y) => (x.line < y.line ? -1 : x.line > y.line ? 1 : 0));
  for (const s of series) {
    const order = s.timestamps.map((_, i) => i).sort((i, j) => s.timestamps[i]! - s.timestamps[j]!);
    s.timestamps = order.map((i) => s.timestamps[i]!);
    s.values = order.map((i) => s.values[i]!);
  }
  const cursor = new Array<number>(series.length).fill(0);
  const dir = a.out!;
  await mkdir(dir, { recursive: true });
  let answers = 0;
  let lines = 0;
  let bytes = 0;
  // Samples that a newer sample of their series replaced before the next answer: no answer holds them.
  let superseded = 0;
  let inAnswers = 0;
  for (let at = fromMs; at < toMs - 1 + intervalMs; at += intervalMs) {
    const out: string[] = [];
    let family: string | undefined;
    for (let k = 0; k < series.length; k++) {
      const s = series[k]!;
      let c = cursor[k]!;
      while (c < s.timestamps.length && s.timestamps[c]! <= at) c++;
      const fresh = c > cursor[k]!;
      superseded += Math.max(0, c - cursor[k]! - 1);
      cursor[k] = c;
      if (c === 0 || s.timestamps[c - 1]! <= at - LOOKBACK_MS) continue;
      if (fresh) inAnswers++;
      if (s.name !== family) out.push(`# TYPE ${(family = s.name)} untyped`);
      out.push(`${s.line} ${formatValue(s.values[c - 1]!)} ${s.timestamps[c - 1]!}`);
      lines++;
    }
    const text = out.join('\n') + '\n';
    bytes += Buffer.byteLength(text);
    await writeFile(path.join(dir, `${String(answers++).padStart(6, '0')}.prom`), text);
  }
  return {
    samples,
    stale_markers: staleMarkers,
    superseded,
    samples_in_answers: inAnswers,
    series: series.length,
    answers,
    lines,
    text_bytes: bytes,
  };
}

/**
 * Captures the answers --answers holds (render), one per --interval ms of a fake clock, into a
 * directory store; after the last, one empty answer at the end of the last shard window, so
 * that every window is compacted. Stored bytes: the compacted shards' objects.
 */
async function federate(a: Args) {
  const dir = a.answers!;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.prom')).sort();
  const fromMs = num(a, 'from');
  const intervalMs = num(a, 'interval');
  const shardMs = num(a, 'shard');
  const lastAnswerMs = fromMs + (files.length - 1) * intervalMs;
  const flushMs = alignDown(lastAnswerMs, shardMs) + shardMs;
  let now = fromMs;
  let tick = 0;
  const scraper: FederateScraper = {
    endpoint: 'rendered answers',
    scrape: async () => (tick < files.length ? readFile(path.join(dir, files[tick]!), 'utf8') : ''),
  };
  const store = new DirectoryStore(a.store!);
  await store.check();
  const clock = startClock();
  const report = await runCapture(
    {
      scraper,
      store,
      nowMs: () => now,
      sleep: async () => {
        tick++;
        now = tick < files.length ? fromMs + tick * intervalMs : flushMs;
      },
    },
    {
      source: 'bench',
      selectors: [''],
      intervalMs,
      durationMs: (files.length + 1) * intervalMs,
      shardLengthMs: shardMs,
    },
  );
  const timed = clock.read();
  if (report.failed_fetches > 0 || report.failed_compactions > 0 || report.pending_windows > 0)
    throw new Error(`capture incomplete: ${JSON.stringify({ ...report, metadata: report.metadata.length })}`);
  const plan = await planRestore(store, { sources: [], fromMs, toMs: flushMs });
  const stored = plan.shards.reduce((n, m) => n + m.stored_bytes, 0);
  const shardSamples = plan.shards.reduce((n, m) => n + m.samples, 0);
  if (shardSamples !== report.samples)
    throw new Error(`the compacted shards hold ${shardSamples} samples, the capture counted ${report.samples}`);
  return {
    ...timed,
    samples: report.samples,
    series: report.series,
    fetches: report.fetches,
    snapshots: report.snapshots,
    compacted_shards: report.compacted_shards,
    stored_bytes: stored,
  };
}

const steps: Record<string, (a: Args) => Promise<object>> = {
  pull: rawPull,
  backup,
  replay,
  restore,
  encode,
  render,
  federate,
};

async function main() {
  const [step, ...rest] = process.argv.slice(2);
  const run = steps[step ?? ''];
  if (!run) throw new Error(`unknown step ${step}: one of ${Object.keys(steps).join(', ')}`);
  const result = await run(parseArgs(rest));
  process.stdout.write(JSON.stringify({ step, ...result, peak_rss_mb: peakRssMb() }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench worker: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
