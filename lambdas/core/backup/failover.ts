/**
 * HA replicas of one source: read from the first healthy replica, and fail over to the next
 * when one is unavailable (SourceUnavailableError: 5xx, timeouts, resets after retries).
 *
 * Fail-over happens only before the first piece of a read is yielded: switching replicas in
 * the middle of a stream could repeat or drop series, so a replica that breaks mid-stream fails
 * the read and the caller retries the whole shard. A replica that worked is tried first next
 * time. `endpoint` names the replica that served the latest read, so a manifest records where
 * its samples came from. One read at a time per instance (one shard per Lambda invocation).
 */
import { SourceUnavailableError } from '../errors';
import type { PrometheusReader, ReadOptions } from '../ports';
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../types';

export interface FailoverOptions {
  /** Called when a replica is skipped, e.g. to log it. */
  readonly onFailover?: (from: string, error: SourceUnavailableError) => void;
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

  async *read(
    window: TimeWindow,
    matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncGenerator<SeriesPiece> {
    const n = this.replicas.length;
    const failures: string[] = [];
    let lastError: SourceUnavailableError | undefined;
    for (let attempt = 0; attempt < n; attempt++) {
      const index = (this.preferred + attempt) % n;
      const replica = this.replicas[index]!;
      const iterator = replica.read(window, matchers, options)[Symbol.asyncIterator]();
      let first: IteratorResult<SeriesPiece>;
      try {
        first = await iterator.next();
      } catch (err) {
        if (!(err instanceof SourceUnavailableError) || options?.signal?.aborted) throw err;
        failures.push(`${replica.endpoint}: ${err.message}`);
        lastError = err;
        if (attempt + 1 < n) this.options.onFailover?.(replica.endpoint, err);
        continue;
      }
      this.preferred = index;
      this.active = index;
      if (first.done) return;
      yield first.value;
      // From here on the stream belongs to this replica.
      yield* { [Symbol.asyncIterator]: () => iterator };
      return;
    }
    if (n === 1 && lastError) throw lastError;
    throw new SourceUnavailableError(`every replica of the source is unavailable: ${failures.join('; ')}`, {
      cause: lastError,
    });
  }
}
