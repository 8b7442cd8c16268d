/** Bit-exact comparison of series sets, for round-trip proofs. */
import type { SeriesPiece } from '../../lambdas/core/types';
import { formatLabels, labelsEqual } from '../../lambdas/core/labels';

export interface Collected {
  readonly labels: SeriesPiece['labels'];
  timestamps: number[];
  /** Raw IEEE-754 bits: numbers would lose NaN payloads. */
  bits: bigint[];
}

/** Gathers pieces into whole series keyed by their text form. */
export async function collectSeries(pieces: AsyncIterable<SeriesPiece>, into = new Map<string, Collected>()) {
  let last: SeriesPiece['labels'] | undefined;
  let current: Collected | undefined;
  for await (const p of pieces) {
    if (!current || !last || !labelsEqual(last, p.labels)) {
      const key = formatLabels(p.labels);
      current = into.get(key) ?? { labels: p.labels, timestamps: [], bits: [] };
      into.set(key, current);
      last = p.labels;
    }
    const words = new BigUint64Array(p.values.buffer, p.values.byteOffset, p.values.length);
    for (let i = 0; i < p.timestamps.length; i++) {
      current.timestamps.push(p.timestamps[i]!);
      current.bits.push(words[i]!);
    }
  }
  return into;
}

export interface Difference {
  readonly series: string;
  readonly what: string;
}

/** Every difference between two collections, at most `limit` of them. */
export function diffSeries(expected: Map<string, Collected>, actual: Map<string, Collected>, limit = 10): Difference[] {
  const out: Difference[] = [];
  const add = (series: string, what: string) => {
    if (out.length < limit) out.push({ series, what });
  };
  for (const [key, e] of expected) {
    const a = actual.get(key);
    if (!a) {
      add(key, `missing (${e.timestamps.length} samples expected)`);
      continue;
    }
    if (a.timestamps.length !== e.timestamps.length)
      add(key, `${a.timestamps.length} samples, expected ${e.timestamps.length}`);
    const n = Math.min(a.timestamps.length, e.timestamps.length);
    for (let i = 0; i < n; i++) {
      if (a.timestamps[i] !== e.timestamps[i] || a.bits[i] !== e.bits[i]) {
        add(
          key,
          `sample ${i}: got ${a.timestamps[i]}=0x${a.bits[i]!.toString(16)}, expected ${e.timestamps[i]}=0x${e.bits[i]!.toString(16)}`,
        );
        break;
      }
    }
  }
  for (const key of actual.keys()) if (!expected.has(key)) add(key, 'unexpected series');
  return out;
}

export function totalSamples(series: Map<string, Collected>): number {
  let n = 0;
  for (const s of series.values()) n += s.timestamps.length;
  return n;
}

export interface SampleCounts {
  /** Expected samples absent from `actual`. */
  readonly lost: number;
  /** Samples at an expected timestamp with other bits, plus samples `expected` does not hold. */
  readonly changed: number;
}

/**
 * Sample-level counts of how `actual` differs from `expected`, whatever the order the samples
 * were collected in. `within` limits the comparison to the timestamps it accepts.
 */
export function countDifferences(
  expected: Map<string, Collected>,
  actual: Map<string, Collected>,
  within: (ts: number) => boolean = () => true,
): SampleCounts {
  let lost = 0;
  let changed = 0;
  const byTime = (c: Collected | undefined) => {
    const m = new Map<number, bigint>();
    c?.timestamps.forEach((t, i) => {
      if (within(t)) m.set(t, c.bits[i]!);
    });
    return m;
  };
  for (const key of new Set([...expected.keys(), ...actual.keys()])) {
    const e = byTime(expected.get(key));
    const a = byTime(actual.get(key));
    for (const [t, bits] of e) {
      const got = a.get(t);
      if (got === undefined) lost++;
      else if (got !== bits) changed++;
    }
    for (const t of a.keys()) if (!e.has(t)) changed++;
  }
  return { lost, changed };
}
