/**
 * write: batch samples into remote-write requests and send them with bounded concurrency.
 *
 * Series are hashed onto lanes (as Prometheus' own queue manager shards them); a lane sends one
 * request at a time, so the samples of a series reach the target in time order while lanes run
 * in parallel. `add` waits when its lane is busy and full: the reader never gets ahead of what
 * the target accepts, and memory stays at most two batches per lane.
 */
import type { RemoteWriter } from '../ports';
import type { SeriesPiece } from '../types';
import { formatLabels } from '../labels';

export interface WritePipelineOptions {
  /** Samples per request. Prometheus sends up to 2000 by default; larger batches cut per-request overhead. */
  readonly batchSamples?: number;
  /** Requests in flight at once. */
  readonly concurrency?: number;
}

export const DEFAULT_BATCH_SAMPLES = 5000;
export const DEFAULT_WRITE_CONCURRENCY = 4;

interface Lane {
  series: SeriesPiece[];
  samples: number;
  inflight: Promise<void> | undefined;
}

export interface WriteCounts {
  readonly samples: number;
  readonly requests: number;
}

export class WritePipeline {
  private readonly lanes: Lane[];
  private readonly batchSamples: number;
  private failure: unknown;
  private samplesSent = 0;
  private requests = 0;
  private lastLabels: SeriesPiece['labels'] | undefined;
  private lastLane: Lane | undefined;

  constructor(
    private readonly writer: RemoteWriter,
    options: WritePipelineOptions = {},
    private readonly signal?: AbortSignal,
  ) {
    this.batchSamples = Math.max(1, options.batchSamples ?? DEFAULT_BATCH_SAMPLES);
    const concurrency = Math.max(1, options.concurrency ?? DEFAULT_WRITE_CONCURRENCY);
    this.lanes = Array.from({ length: concurrency }, () => ({ series: [], samples: 0, inflight: undefined }));
  }

  get counts(): WriteCounts {
    return { samples: this.samplesSent, requests: this.requests };
  }

  async add(piece: SeriesPiece): Promise<void> {
    this.throwIfFailed();
    const lane = this.laneOf(piece);
    let offset = 0;
    const n = piece.timestamps.length;
    while (offset < n) {
      const take = Math.min(n - offset, this.batchSamples - lane.samples);
      const part =
        offset === 0 && take === n
          ? piece
          : {
              labels: piece.labels,
              timestamps: piece.timestamps.subarray(offset, offset + take),
              values: piece.values.subarray(offset, offset + take),
            };
      lane.series.push(part);
      lane.samples += take;
      offset += take;
      if (lane.samples >= this.batchSamples) await this.send(lane);
    }
  }

  /** Sends what is batched and waits for every request; rejects with the first failure. */
  async flush(): Promise<void> {
    for (const lane of this.lanes) if (lane.samples > 0) await this.send(lane);
    await Promise.all(this.lanes.map((l) => l.inflight));
    this.throwIfFailed();
  }

  /** The lane a series is sent on; tools that replay the same requests use it to keep the same order. */
  laneIndex(labels: SeriesPiece['labels']): number {
    const key = formatLabels(labels);
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return (h >>> 0) % this.lanes.length;
  }

  private laneOf(piece: SeriesPiece): Lane {
    // Consecutive pieces of one series are common: skip re-hashing them.
    if (piece.labels === this.lastLabels && this.lastLane) return this.lastLane;
    const lane = this.lanes[this.laneIndex(piece.labels)]!;
    this.lastLabels = piece.labels;
    this.lastLane = lane;
    return lane;
  }

  private async send(lane: Lane): Promise<void> {
    // Back-pressure: the lane's previous request must finish before this one starts.
    await lane.inflight;
    this.throwIfFailed();
    const batch = { series: lane.series, samples: lane.samples };
    lane.series = [];
    lane.samples = 0;
    this.requests++;
    lane.inflight = this.writer.write(batch, this.signal).then(
      () => {
        this.samplesSent += batch.samples;
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
