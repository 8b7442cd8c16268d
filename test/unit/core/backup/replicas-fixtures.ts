/** Scripted replicas for the merge and failover tests: series given up front, failures on cue. */
import { SourceUnavailableError } from '../../../../lambdas/core/errors';
import type { PrometheusReader, ReadOptions, ReadOutcome } from '../../../../lambdas/core/ports';
import type { Labels, LabelMatcher, SeriesPiece, TimeWindow } from '../../../../lambdas/core/types';

export const WINDOW: TimeWindow = { startMs: 1_000_000, endMs: 2_000_000 };

/** `up{job=...}` plus any extra labels, sorted by name. */
export function labels(extra: Record<string, string>): Labels {
  return Object.entries({ __name__: 'up', ...extra })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value }));
}

/** A series with samples at WINDOW.startMs + offset, values given as numbers or raw bits. */
export function series(l: Labels, samples: [number, number | bigint][]): SeriesPiece {
  const values = new Float64Array(samples.length);
  const bits = new BigUint64Array(values.buffer);
  samples.forEach(([, v], i) => {
    if (typeof v === 'bigint') bits[i] = v;
    else values[i] = v;
  });
  return { labels: l, timestamps: Float64Array.from(samples, ([t]) => WINDOW.startMs + t), values };
}

export class ScriptedReplica implements PrometheusReader {
  calls = 0;
  constructor(
    readonly endpoint: string,
    private readonly pieces: SeriesPiece[],
    private readonly options: {
      /** Read n (1-based) fails after yielding this many pieces; absent: succeeds. */
      failAfter?: (call: number) => number | undefined;
      oldestMs?: number;
    } = {},
  ) {}

  async *read(_w: TimeWindow, _m: readonly LabelMatcher[], _o?: ReadOptions): AsyncGenerator<SeriesPiece> {
    const call = ++this.calls;
    const failAt = this.options.failAfter?.(call);
    for (let i = 0; i < this.pieces.length; i++) {
      if (i === failAt) throw new SourceUnavailableError(`${this.endpoint} reset`);
      yield this.pieces[i]!;
    }
    if (failAt !== undefined && failAt >= this.pieces.length)
      throw new SourceUnavailableError(`${this.endpoint} reset`);
  }

  get oldestTimestamp(): PrometheusReader['oldestTimestamp'] {
    const oldest = this.options.oldestMs;
    return oldest === undefined ? undefined : async () => oldest;
  }
}

export interface Collected {
  readonly series: { labels: string; samples: [number, string][] }[];
  readonly outcome: ReadOutcome | undefined;
}

/** Reads everything; samples as [offset, value bits in hex]. */
export async function collect(reader: PrometheusReader): Promise<Collected> {
  let outcome: ReadOutcome | undefined;
  const out: Collected['series'] = [];
  for await (const p of reader.read(WINDOW, [], { onOutcome: (o) => (outcome = o) })) {
    const bits = new BigUint64Array(p.values.buffer, p.values.byteOffset, p.values.length);
    out.push({
      labels: p.labels.map((l) => `${l.name}=${l.value}`).join(','),
      samples: Array.from(p.timestamps, (t, i) => [t - WINDOW.startMs, bits[i]!.toString(16)]),
    });
  }
  return { series: out, outcome };
}

/** The hex bits of a number, as collect() shows values. */
export function hex(v: number): string {
  return new BigUint64Array(Float64Array.of(v).buffer)[0]!.toString(16);
}
