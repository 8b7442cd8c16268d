/**
 * HA replicas of one source, failover mode: read the window from the first replica that can
 * serve all of it. "Can serve" is checked, not assumed:
 * - a replica whose oldest retained sample (PrometheusReader.oldestTimestamp) is newer than the
 *   window start lacks the window's beginning (e.g. restarted empty) and is tried last;
 * - a replica that answers with no series is used only if no other replica has some.
 * When no replica reaches back to the window start, the one reaching furthest back is used.
 * A replica that is unavailable (SourceUnavailableError: 5xx, timeouts, resets after retries)
 * is skipped; an empty answer that no other replica could confirm is reported as missing them,
 * so the shard is committed as incomplete.
 *
 * Fail-over happens only before the first piece of a read is yielded: switching replicas in
 * the middle of a stream could repeat or drop series, so a replica that breaks mid-stream fails
 * the read and the caller retries the whole shard. A replica that worked is tried first next
 * time. `endpoint` names the replica that served the latest read; ReadOptions.onOutcome tells
 * each read's caller where its samples came from.
 */
import { SourceUnavailableError } from '../errors';
import type { PrometheusReader, ReadOptions } from '../ports';
import type { LabelMatcher, MetricMetadata, SeriesPiece, TimeWindow } from '../types';
import { replicaMetadata } from './replica-metadata';
import { formatIso } from '../time';
import { dropLabels } from './replica-labels';

export interface FailoverOptions {
  /** Called when a replica is skipped because it is unavailable, e.g. to log it. */
  readonly onFailover?: (from: string, error: SourceUnavailableError) => void;
  /** Called when a replica is passed over because it cannot serve the whole window. */
  readonly onSkip?: (endpoint: string, reason: string) => void;
  /** Label names that tell replicas apart: dropped, so series keep one identity across fail-overs. */
  readonly replicaLabels?: readonly string[];
}

interface Opened {
  readonly index: number;
  readonly first: SeriesPiece;
  readonly iterator: AsyncIterator<SeriesPiece>;
}

export class FailoverReader implements PrometheusReader {
  private preferred = 0;
  private active: number;

  constructor(
    private readonly replicas: readonly PrometheusReader[],
    private readonly options: FailoverOptions = {},
  ) {
    if (replicas.length === 0) throw new Error('FailoverReader needs at least one replica');
    this.active = 0;
  }

  get endpoint(): string {
    return this.replicas[this.active]!.endpoint;
  }

  metadata(signal?: AbortSignal): Promise<readonly MetricMetadata[] | undefined> {
    return replicaMetadata(this.replicas, signal);
  }

  async *read(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncGenerator<SeriesPiece> {
    const n = this.replicas.length;
    const order = Array.from({ length: n }, (_, attempt) => (this.preferred + attempt) % n);
    const unavailable: string[] = [];
    let lastError: SourceUnavailableError | undefined;
    const empty: number[] = [];
    const late: { index: number; oldestMs: number }[] = [];

    /** Opens a read; undefined when the replica is unavailable or answers with no series. */
    const open = async (index: number): Promise<Opened | undefined> => {
      const replica = this.replicas[index]!;
      const iterator = replica.read(window, matchers, { signal: options?.signal })[Symbol.asyncIterator]();
      try {
        const first = await iterator.next();
        if (!first.done) return { index, first: first.value, iterator };
        empty.push(index);
      } catch (err) {
        if (!(err instanceof SourceUnavailableError) || options?.signal?.aborted) throw err;
        unavailable.push(`${replica.endpoint}: ${err.message}`);
        lastError = err;
        this.options.onFailover?.(replica.endpoint, err);
      }
      return undefined;
    };

    let chosen: Opened | undefined;
    for (const index of order) {
      const oldestMs = n > 1 ? await this.oldest(this.replicas[index]!, options?.signal) : undefined;
      if (oldestMs !== undefined && oldestMs > window.startMs) {
        late.push({ index, oldestMs });
        continue;
      }
      if ((chosen = await open(index))) break;
    }
    if (!chosen && late.length > 0) {
      // No replica that reaches back far enough has data: the one reaching furthest holds the most.
      late.sort((a, b) => a.oldestMs - b.oldestMs);
      for (const { index, oldestMs } of late) {
        if ((chosen = await open(index))) break;
        this.skipNote(index, oldestMs, window);
      }
    } else {
      for (const { index, oldestMs } of late) this.skipNote(index, oldestMs, window);
    }
    if (chosen) {
      for (const index of empty) {
        this.options.onSkip?.(
          this.replicas[index]!.endpoint,
          'it has no series in the window that another replica has',
        );
      }
    }

    const servedBy = chosen?.index ?? empty[0];
    if (servedBy === undefined) {
      if (n === 1 && lastError) throw lastError;
      throw new SourceUnavailableError(`every replica of the source is unavailable: ${unavailable.join('; ')}`, {
        cause: lastError,
      });
    }
    this.preferred = servedBy;
    this.active = servedBy;
    if (chosen) {
      yield this.relabel(chosen.first);
      // From here on the stream belongs to this replica.
      for (;;) {
        const next = await chosen.iterator.next();
        if (next.done) break;
        yield this.relabel(next.value);
      }
    }
    options?.onOutcome?.({
      pulledFrom: [this.replicas[servedBy]!.endpoint],
      // An empty answer is only as good as the replicas that could not be asked.
      missingReplicas: chosen ? [] : unavailable,
      conflictingSamples: 0,
    });
  }

  private async oldest(replica: PrometheusReader, signal: AbortSignal | undefined): Promise<number | undefined> {
    if (!replica.oldestTimestamp) return undefined;
    try {
      return await replica.oldestTimestamp(signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      // Unknown: the read itself shows whether the replica is up.
      return undefined;
    }
  }

  private skipNote(index: number, oldestMs: number, window: TimeWindow): void {
    const since = oldestMs > 8.64e15 ? 'holds no samples' : `holds samples only from ${formatIso(oldestMs)}`;
    this.options.onSkip?.(
      this.replicas[index]!.endpoint,
      `it ${since}, after the window start ${formatIso(window.startMs)}`,
    );
  }

  private relabel(piece: SeriesPiece): SeriesPiece {
    const labels = dropLabels(piece.labels, this.options.replicaLabels ?? []);
    return labels === piece.labels ? piece : { ...piece, labels };
  }
}
