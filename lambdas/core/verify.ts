/**
 * verify: prove each committed shard is intact (object present, SHA-256 and size as in its
 * manifest, every sample decodes, counts and time bounds as recorded) and, given the source,
 * that it still equals what the source returns for the same window, sample by sample, bit by bit.
 */
import type { ObjectStore, PrometheusReader } from './ports';
import type { ShardManifest } from './shard';
import type { UnreadableManifest } from './manifest';
import type { SeriesPiece } from './types';
import { decodeShard } from './format';
import { fetchVerified, SHARD_REPAIR } from './restore/fetch';
import { pullWindow } from './backup/pull';
import { parseSelector } from './prom/selector';
import { compareLabels, describeLabels, labelsEqual } from './labels';
import { CorruptShardError, ObjectNotFoundError } from './errors';

export type ShardVerdict = 'ok' | 'corrupt' | 'missing' | 'mismatch';

export interface ShardVerification {
  readonly key: string;
  readonly verdict: ShardVerdict;
  readonly samples: number;
  readonly mismatches: number;
  /** The first problems found, for the report; not every one. */
  readonly problems: readonly string[];
}

export interface VerifyReport {
  readonly shards: number;
  readonly ok: number;
  readonly corrupt: number;
  readonly missing: number;
  readonly samples: number;
  readonly mismatches: number;
  readonly results: readonly ShardVerification[];
}

const MAX_PROBLEMS = 5;

/** Whole series, assembled from consecutive pieces with the same labels. */
async function* wholeSeries(pieces: AsyncIterable<SeriesPiece>): AsyncGenerator<SeriesPiece> {
  let parts: SeriesPiece[] = [];
  for await (const p of pieces) {
    if (parts.length > 0 && !labelsEqual(parts[0]!.labels, p.labels)) {
      yield join(parts);
      parts = [];
    }
    parts.push(p);
  }
  if (parts.length > 0) yield join(parts);
}

function join(parts: SeriesPiece[]): SeriesPiece {
  if (parts.length === 1) return parts[0]!;
  const n = parts.reduce((a, p) => a + p.timestamps.length, 0);
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    timestamps.set(p.timestamps, o);
    values.set(p.values, o); // typed-array copy keeps NaN payload bits
    o += p.timestamps.length;
  }
  return { labels: parts[0]!.labels, timestamps, values };
}

function bitsOf(values: Float64Array): BigUint64Array {
  return new BigUint64Array(values.buffer, values.byteOffset, values.length);
}

/** Counts samples that differ between two versions of one series; records the first few. */
function compareSeries(stored: SeriesPiece, source: SeriesPiece, problems: string[]): number {
  const a = stored.timestamps;
  const b = source.timestamps;
  const av = bitsOf(stored.values);
  const bv = bitsOf(source.values);
  let i = 0;
  let j = 0;
  let diff = 0;
  const note = (text: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(`${describeLabels(stored.labels)}: ${text}`);
  };
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) {
      note(`sample at ${a[i]} is in the backup but not in the source`);
      i++;
      diff++;
    } else if (i >= a.length || b[j]! < a[i]!) {
      note(`sample at ${b[j]} is in the source but not in the backup`);
      j++;
      diff++;
    } else {
      if (av[i] !== bv[j]) {
        note(`value at ${a[i]} differs: backup 0x${av[i]!.toString(16)}, source 0x${bv[j]!.toString(16)}`);
        diff++;
      }
      i++;
      j++;
    }
  }
  return diff;
}

/**
 * Compares a copy with its source, both streams in Prometheus' label-set order, bit for bit;
 * counts samples missing on either side or different, and notes the first few in `problems`.
 * With `sourceMayHoldMore`, series only the source has are not mismatches (a restore target may
 * hold other data).
 */
export async function compareWithSource(
  decoded: AsyncIterable<SeriesPiece>,
  source: AsyncIterable<SeriesPiece>,
  problems: string[],
  options: { readonly sourceMayHoldMore?: boolean } = {},
): Promise<{ mismatches: number }> {
  const left = wholeSeries(decoded)[Symbol.asyncIterator]();
  const right = wholeSeries(source)[Symbol.asyncIterator]();
  let l = await left.next();
  let r = await right.next();
  let mismatches = 0;
  const note = (text: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(text);
  };
  while (!l.done || !r.done) {
    const order = l.done ? 1 : r.done ? -1 : compareLabels(l.value.labels, r.value.labels);
    if (order < 0) {
      const s = l.value as SeriesPiece;
      note(`${describeLabels(s.labels)}: in the backup, not in the source`);
      mismatches += s.timestamps.length;
      l = await left.next();
    } else if (order > 0) {
      const s = r.value as SeriesPiece;
      if (!options.sourceMayHoldMore) {
        note(`${describeLabels(s.labels)}: in the source, not in the backup`);
        mismatches += s.timestamps.length;
      }
      r = await right.next();
    } else {
      const s = l.value as SeriesPiece;
      mismatches += compareSeries(s, r.value as SeriesPiece, problems);
      l = await left.next();
      r = await right.next();
    }
  }
  return { mismatches };
}

/** Passes pieces through while counting them, then checks the counts against the manifest. */
function countingAgainst(manifest: ShardManifest) {
  let samples = 0;
  let series = 0;
  let min = Infinity;
  let max = -Infinity;
  let last: SeriesPiece['labels'] | undefined;
  return {
    async *pass(pieces: AsyncIterable<SeriesPiece>): AsyncGenerator<SeriesPiece> {
      for await (const p of pieces) {
        if (!last || !labelsEqual(last, p.labels)) series++;
        last = p.labels;
        samples += p.timestamps.length;
        if (p.timestamps.length > 0) {
          min = Math.min(min, p.timestamps[0]!);
          max = Math.max(max, p.timestamps[p.timestamps.length - 1]!);
        }
        yield p;
      }
    },
    check(problems: string[]): number {
      const expect = (what: string, got: number | null, want: number | null) => {
        if (got !== want) problems.push(`${what} decoded is ${got}, the manifest says ${want}`);
      };
      expect('series', series, manifest.series);
      expect('samples', samples, manifest.samples);
      expect('min_ts', samples > 0 ? min : null, manifest.min_ts);
      expect('max_ts', samples > 0 ? max : null, manifest.max_ts);
      return samples;
    },
  };
}

async function drain(pieces: AsyncIterable<SeriesPiece>): Promise<void> {
  for await (const _ of pieces);
}

export async function verifyShard(
  store: ObjectStore,
  manifest: ShardManifest,
  against?: PrometheusReader,
): Promise<ShardVerification> {
  const key = manifest.object_key;
  const problems: string[] = [];
  if (!(await store.head(key))) {
    return {
      key,
      verdict: 'missing',
      samples: 0,
      mismatches: 0,
      problems: [`object ${key} is missing from ${store.location} (${SHARD_REPAIR})`],
    };
  }
  try {
    const body = await fetchVerified(store, manifest);
    const counter = countingAgainst(manifest);
    const decoded = counter.pass(decodeShard(body));
    let mismatches = 0;
    if (against) {
      const window = { startMs: manifest.start_ms, endMs: manifest.end_ms };
      const source = pullWindow(against, window, parseSelector(manifest.selector));
      mismatches = (await compareWithSource(decoded, source, problems)).mismatches;
    } else {
      await drain(decoded);
    }
    const countProblems: string[] = [];
    const samples = counter.check(countProblems);
    problems.unshift(...countProblems);
    const verdict: ShardVerdict = countProblems.length > 0 ? 'corrupt' : mismatches > 0 ? 'mismatch' : 'ok';
    return { key, verdict, samples, mismatches, problems: problems.slice(0, MAX_PROBLEMS) };
  } catch (err) {
    if (err instanceof ObjectNotFoundError)
      return { key, verdict: 'missing', samples: 0, mismatches: 0, problems: [err.message] };
    if (err instanceof CorruptShardError)
      return { key, verdict: 'corrupt', samples: 0, mismatches: 0, problems: [err.message] };
    throw err;
  }
}

export function summarize(results: readonly ShardVerification[]): VerifyReport {
  const count = (v: ShardVerdict) => results.filter((r) => r.verdict === v).length;
  return {
    shards: results.length,
    ok: count('ok'),
    corrupt: count('corrupt'),
    missing: count('missing'),
    samples: results.reduce((a, r) => a + r.samples, 0),
    mismatches: results.reduce((a, r) => a + r.mismatches, 0),
    results,
  };
}

/** A manifest that does not parse: its shard cannot be verified, so it counts as corrupt. */
export function unreadableManifest(u: UnreadableManifest): ShardVerification {
  return { key: u.key, verdict: 'corrupt', samples: 0, mismatches: 0, problems: [u.error] };
}
