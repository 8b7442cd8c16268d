/**
 * HA replicas, merged (`replicaMode: "merge"`): every replica is read for the window and the
 * answers are unioned per series after dropping the replica labels, so the shard holds every
 * sample that any replica holds, once. At one timestamp the first replica's value is kept; a
 * different value (compared bit for bit) counts as a conflicting sample.
 *
 * Memory stays bounded (one series per replica) by a streaming k-way merge, which needs every
 * replica's series in one order. Prometheus sends series in label-set order, but dropping a
 * label can reorder them ({a,replica} sorts after {a,b,replica}, {a} before {a,b}), so series
 * are merged in the order of their merge key: the labels with every replica label present and
 * empty. Within one replica, whose series share its replica value, that order is label-set
 * order. A replica whose series arrive out of that order fails the read (SourceProtocolError)
 * rather than having a series stored twice.
 *
 * A replica that becomes unavailable is read again from the series after the last one merged,
 * on the retry schedule; one that still fails, or refuses, is left out and named in the
 * outcome, so that the shard is committed as incomplete and pulled again by the next run.
 */
import { SourceRejectedError, SourceUnavailableError } from '../errors';
import { compareLabels, describeLabels, labelsEqual } from '../labels';
import type { PrometheusReader, ReadOptions } from '../ports';
import type { LabelMatcher, Labels, MetricMetadata, SeriesPiece, TimeWindow } from '../types';
import { replicaMetadata } from './replica-metadata';
import { sleep } from '../time';
import { pullWindow, SourceProtocolError } from './pull';
import { dropLabels, mergeKey } from './replica-labels';

export interface ReplicaRetry {
  /** Reads of one replica in all, the first one included. */
  readonly attempts: number;
  /** The wait before retry n (1, 2, …). */
  readonly delayMs: (retry: number) => number;
}

export const DEFAULT_REPLICA_RETRY: ReplicaRetry = { attempts: 3, delayMs: (n) => 250 * 2 ** n };

export interface MergeOptions {
  /** Label names that tell replicas apart (e.g. prometheus_replica): dropped from every series. */
  readonly replicaLabels?: readonly string[];
  readonly retry?: ReplicaRetry;
  /** Injected so tests need not wait. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called when a replica's read fails, e.g. to log it. */
  readonly onReplicaFailed?: (endpoint: string, error: Error, willRetry: boolean) => void;
}

interface Run {
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

interface MergeSeries {
  readonly key: Labels;
  readonly labels: Labels;
  /** One run per raw series with this key, each in time order. */
  readonly runs: Run[];
}

export class MergeReader implements PrometheusReader {
  readonly endpoint: string;

  constructor(
    private readonly replicas: readonly PrometheusReader[],
    private readonly options: MergeOptions = {},
  ) {
    if (replicas.length === 0) throw new Error('MergeReader needs at least one replica');
    this.endpoint = replicas.map((r) => r.endpoint).join(' + ');
  }

  metadata(signal?: AbortSignal): Promise<readonly MetricMetadata[] | undefined> {
    return replicaMetadata(this.replicas, signal);
  }

  async *read(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncGenerator<SeriesPiece> {
    const signal = options?.signal;
    const cursors = this.replicas.map((r) => new ReplicaCursor(r, window, matchers, this.options, signal));
    let conflictingSamples = 0;
    try {
      await Promise.all(cursors.map((c) => c.advance()));
      for (;;) {
        let min: Labels | undefined;
        for (const c of cursors) {
          if (c.current && (min === undefined || compareLabels(c.current.key, min) < 0)) min = c.current.key;
        }
        if (min === undefined) break;
        const same = cursors.filter((c) => c.current && compareLabels(c.current.key, min) === 0);
        const merged = mergeRuns(same.flatMap((c) => c.current!.runs));
        conflictingSamples += merged.conflicts;
        yield { labels: same[0]!.current!.labels, timestamps: merged.timestamps, values: merged.values };
        await Promise.all(same.map((c) => c.advance()));
      }
    } finally {
      await Promise.all(cursors.map((c) => c.close()));
    }
    const answered = cursors.filter((c) => c.failure === undefined);
    if (answered.length === 0) {
      const reasons = cursors.map((c) => `${c.endpoint}: ${c.failure!.message}`).join('; ');
      const ErrorClass = cursors.some((c) => c.failure instanceof SourceUnavailableError)
        ? SourceUnavailableError
        : SourceRejectedError;
      throw new ErrorClass(`every replica of the source failed: ${reasons}`, { cause: cursors[0]!.failure });
    }
    options?.onOutcome?.({
      pulledFrom: answered.map((c) => c.endpoint),
      missingReplicas: cursors.filter((c) => c.failure).map((c) => `${c.endpoint}: ${c.failure!.message}`),
      conflictingSamples,
    });
  }
}

/** One replica's read, one whole series (by merge key) at a time, restarted after a failure. */
class ReplicaCursor {
  current: MergeSeries | undefined;
  /** Why the replica was left out. */
  failure: Error | undefined;
  private iterator: AsyncIterator<SeriesPiece> | undefined;
  private lookahead: SeriesPiece | undefined;
  /** The key of the last series handed to the merge. */
  private lastKey: Labels | undefined;
  private lastLabels: Labels | undefined;
  /** After a restart: series up to lastKey were merged already. */
  private skipping = false;
  private retries = 0;
  private readonly replicaLabels: readonly string[];

  constructor(
    private readonly replica: PrometheusReader,
    private readonly window: TimeWindow,
    private readonly matchers: readonly LabelMatcher[],
    private readonly options: MergeOptions,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.replicaLabels = options.replicaLabels ?? [];
  }

  get endpoint(): string {
    return this.replica.endpoint;
  }

  /** Loads the next series into `current`; leaves it undefined at the end or when the replica is left out. */
  async advance(): Promise<void> {
    if (this.current) {
      this.lastKey = this.current.key;
      this.current = undefined;
    }
    if (this.failure) return;
    const retry = this.options.retry ?? DEFAULT_REPLICA_RETRY;
    for (;;) {
      try {
        this.current = await this.nextSeries();
        return;
      } catch (err) {
        if (this.signal?.aborted) throw err;
        if (!(err instanceof SourceUnavailableError || err instanceof SourceRejectedError)) throw err;
        await this.close();
        const willRetry = err instanceof SourceUnavailableError && this.retries + 1 < retry.attempts;
        this.options.onReplicaFailed?.(this.replica.endpoint, err, willRetry);
        if (!willRetry) {
          this.failure = err;
          return;
        }
        this.retries++;
        this.skipping = this.lastKey !== undefined;
        await (this.options.sleep ?? sleep)(retry.delayMs(this.retries), this.signal);
      }
    }
  }

  async close(): Promise<void> {
    const it = this.iterator;
    this.iterator = undefined;
    this.lookahead = undefined;
    await it?.return?.().catch(() => undefined);
  }

  private async pull(): Promise<SeriesPiece | undefined> {
    if (this.lookahead) {
      const piece = this.lookahead;
      this.lookahead = undefined;
      return piece;
    }
    this.iterator ??= pullWindow(this.replica, this.window, this.matchers, this.signal)[Symbol.asyncIterator]();
    const next = await this.iterator.next();
    return next.done ? undefined : next.value;
  }

  private async nextSeries(): Promise<MergeSeries | undefined> {
    let first: SeriesPiece | undefined;
    let key: Labels | undefined;
    for (;;) {
      first = await this.pull();
      if (!first) return undefined;
      key = mergeKey(first.labels, this.replicaLabels);
      if (this.lastKey === undefined || compareLabels(key, this.lastKey) > 0) break;
      if (!this.skipping) throw this.outOfOrder(first.labels);
    }
    this.skipping = false;
    const runs: Run[] = [];
    let parts = [first];
    for (;;) {
      const next = await this.pull();
      if (!next) break;
      if (labelsEqual(next.labels, parts[0]!.labels)) {
        parts.push(next);
      } else if (compareLabels(mergeKey(next.labels, this.replicaLabels), key) === 0) {
        // The same series under another replica value: merged like another replica's.
        runs.push(concat(parts));
        parts = [next];
      } else {
        this.lookahead = next;
        break;
      }
    }
    runs.push(concat(parts));
    this.lastLabels = first.labels;
    return { key, labels: dropLabels(first.labels, this.replicaLabels), runs };
  }

  private outOfOrder(labels: Labels): SourceProtocolError {
    const previous = this.lastLabels ? describeLabels(this.lastLabels) : 'an earlier series';
    const dropped =
      this.replicaLabels.length > 0
        ? ` and every series of one replica carrying the same ${this.replicaLabels.join(', ')}`
        : '';
    return new SourceProtocolError(
      `${this.replica.endpoint} sent ${describeLabels(labels)} after ${previous}: merging replicas needs series in label-set order${dropped}. ` +
        'Check the replica labels (replicaLabels, --replica-label), or use failover mode (replicaMode "failover", --replicas failover) for this source.',
    );
  }
}

function concat(parts: readonly SeriesPiece[]): Run {
  if (parts.length === 1) return parts[0]!;
  const length = parts.reduce((n, p) => n + p.timestamps.length, 0);
  const timestamps = new Float64Array(length);
  const values = new Float64Array(length);
  let offset = 0;
  for (const p of parts) {
    // TypedArray.set between arrays of one type copies bytes: NaN payloads survive.
    timestamps.set(p.timestamps, offset);
    values.set(p.values, offset);
    offset += p.timestamps.length;
  }
  return { timestamps, values };
}

/**
 * Unions runs in time order, once per timestamp. Earlier runs win a tie; a tie whose value
 * bits differ is a conflict. Values are copied as 32-bit words: a double read into a JS number
 * may lose its NaN payload.
 */
export function mergeRuns(runs: readonly Run[]): Run & { conflicts: number } {
  if (runs.length === 1) return { ...runs[0]!, conflicts: 0 };
  const total = runs.reduce((n, r) => n + r.timestamps.length, 0);
  const timestamps = new Float64Array(total);
  const values = new Float64Array(total);
  const out = new Uint32Array(values.buffer);
  const words = runs.map((r) => new Uint32Array(r.values.buffer, r.values.byteOffset, r.values.length * 2));
  const pos = runs.map(() => 0);
  let n = 0;
  let conflicts = 0;
  for (;;) {
    let min = Infinity;
    let win = -1;
    for (let r = 0; r < runs.length; r++) {
      const ts = runs[r]!.timestamps;
      if (pos[r]! < ts.length && ts[pos[r]!]! < min) {
        min = ts[pos[r]!]!;
        win = r;
      }
    }
    if (win < 0) break;
    const w = words[win]!;
    const at = 2 * pos[win]!;
    out[2 * n] = w[at]!;
    out[2 * n + 1] = w[at + 1]!;
    for (let r = win + 1; r < runs.length; r++) {
      const i = pos[r]!;
      if (i < runs[r]!.timestamps.length && runs[r]!.timestamps[i] === min) {
        const o = words[r]!;
        if (o[2 * i] !== w[at] || o[2 * i + 1] !== w[at + 1]) conflicts++;
        pos[r] = i + 1;
      }
    }
    timestamps[n] = min;
    pos[win]!++;
    n++;
  }
  return { timestamps: timestamps.subarray(0, n), values: values.subarray(0, n), conflicts };
}
