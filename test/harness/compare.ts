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
