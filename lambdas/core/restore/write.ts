/**
 * write: batch samples into remote-write requests and send them with bounded concurrency.
 *
 * Series are hashed onto lanes (as Prometheus' own queue manager shards them); a lane sends one
 * request at a time, so the samples of a series reach the target in time order while lanes run
 * in parallel. A lane may queue full batches behind its request in flight, so one busy lane does
 * not stall the reader while the others idle; `add` waits only when its lane's queue is full. The
 * reader never gets far ahead of what the target accepts, and memory stays at most (queue + 1)
 * batches per lane.
 */
import type { RemoteWriter, WriteBatch } from '../ports';
import type { MetricMetadata, SeriesPiece } from '../types';
import { encodeMetadataWriteRequest, encodeWriteRequest, type Scratch } from '../prom/prompb';
import { snappyCompress, SNAPPY_IMPLEMENTATION } from '../prom/snappy';
import { encodeWriteRequestSnappy } from '../prom/write-request-snappy';
import { emptyObjectArray } from '../arrays';
import { mergeRejected, partialCounts, writeIsolating, type RejectedSeries } from './split';

/**
 * A batch with its request body: the remote-write 1.0 WriteRequest, snappy-compressed. The
 * scratch is free again when this returns (the body is a copy). The decoded samples are let go:
 * a queued request would otherwise keep whole decoded blocks alive.
 */
export function withRequestBody(batch: WriteBatch, scratch?: Scratch): WriteBatch {
  if (batch.body) return batch;
  return {
    series: NO_SERIES,
    samples: batch.samples,
    body: requestBody(batch.series, scratch),
    firstLabels: batch.series[0]?.labels,
  };
}

/**
 * Native snappy where its binary is installed: no slower than writing snappy from the layout,
 * faster cold, and its bodies smaller. Without it (the Lambda bundle) the layout writer instead
 * of snappyjs, which costs more CPU (docs/BENCHMARKS.md, "Request bodies without native snappy").
 */
const requestBody: (series: readonly SeriesPiece[], scratch?: Scratch) => Uint8Array =
  SNAPPY_IMPLEMENTATION === 'native'
    ? (series, scratch) => snappyCompress(encodeWriteRequest(series, scratch))
    : encodeWriteRequestSnappy;

const NO_SERIES: readonly SeriesPiece[] = Object.freeze(emptyObjectArray<SeriesPiece>());

export interface WritePipelineOptions {
  /** Samples per request. Prometheus sends up to 2000 by default; larger batches cut per-request overhead. */
  readonly batchSamples?: number;
  /** Requests in flight at once. */
  readonly concurrency?: number;
  /** Batches a lane may hold ready behind its request in flight; by default, QUEUED_SAMPLES_PER_LANE's worth. */
  readonly queuePerLane?: number;
}

export const DEFAULT_BATCH_SAMPLES = 5000;
export const DEFAULT_WRITE_CONCURRENCY = 4;

/**
 * Samples a lane may hold ready, in whole batches and at least two. Series reach lanes in the
 * order they are decoded, so lanes fill unevenly and the reader waits on whichever is full while
 * the others drain. A deeper queue keeps all lanes busy for more of a restore (docs/BENCHMARKS.md,
 * "Lanes kept busy"). Counted in samples so that large batches do not multiply the memory it holds.
 */
export const QUEUED_SAMPLES_PER_LANE = 40_000;

/** The batches a lane queues behind its request in flight, for a batch size. */
export function defaultQueuePerLane(batchSamples: number): number {
  return Math.max(2, Math.ceil(QUEUED_SAMPLES_PER_LANE / batchSamples));
}

interface Lane {
  series: SeriesPiece[];
  samples: number;
  /** Requests queued or in flight, oldest first; each settles (never rejects) when sent. */
  sends: Promise<void>[];
}

export interface WriteCounts {
  /** Samples the target acknowledged. */
  readonly samples: number;
  readonly requests: number;
}

export class WritePipeline {
  private readonly lanes: Lane[];
  private readonly batchSamples: number;
  private readonly queuePerLane: number;
  private failure: unknown;
  private samplesSent = 0;
  private requests = 0;
  private rejectedSamples = 0;
  private readonly rejectedBySeries = new Map<string, RejectedSeries>();
  private lastLabels: SeriesPiece['labels'] | undefined;
  private lastLane: Lane | undefined;

  constructor(
    private readonly writer: RemoteWriter,
    options: WritePipelineOptions = {},
    private readonly signal?: AbortSignal,
  ) {
    this.batchSamples = Math.max(1, options.batchSamples ?? DEFAULT_BATCH_SAMPLES);
    const concurrency = Math.max(1, options.concurrency ?? DEFAULT_WRITE_CONCURRENCY);
    this.queuePerLane = Math.max(0, options.queuePerLane ?? defaultQueuePerLane(this.batchSamples));
    this.lanes = Array.from({ length: concurrency }, () => ({ series: [], samples: 0, sends: [] }));
  }

  get counts(): WriteCounts {
    return { samples: this.samplesSent, requests: this.requests };
  }

  /** Series the target rejected, isolated from the requests that carried them; one entry each. */
  get rejected(): RejectedSeries[] {
    return [...this.rejectedBySeries.values()];
  }

  /** Samples of the series the target rejected (each in `rejected`). */
  get rejectedSampleCount(): number {
    return this.rejectedSamples;
  }

  /** Waits until no request is queued or in flight, without throwing: the counts are then final. */
  async settle(): Promise<void> {
    while (this.lanes.some((l) => l.sends.length > 0)) await Promise.all(this.lanes.flatMap((l) => l.sends));
  }

  /**
   * Adds a piece to its lane's batch. Returns a promise only when the lane is full and the caller
   * must wait for it (back-pressure); otherwise the piece is taken at once, without an await.
   */
  add(piece: SeriesPiece): Promise<void> | undefined {
    this.throwIfFailed();
    const lane = this.laneOf(piece);
    const n = piece.timestamps.length;
    let offset = 0;
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
      if (lane.samples >= this.batchSamples) {
        if (lane.sends.length > this.queuePerLane) return this.cutWhenRoom(lane, piece, offset);
        this.cut(lane);
      }
    }
    return undefined;
  }

  /** Cuts the lane's full batch once its queue has room, then adds the rest of the piece. */
  private async cutWhenRoom(lane: Lane, piece: SeriesPiece, offset: number): Promise<void> {
    await this.cutAfterRoom(lane);
    if (offset < piece.timestamps.length) {
      await this.add({
        labels: piece.labels,
        timestamps: piece.timestamps.subarray(offset),
        values: piece.values.subarray(offset),
      });
    }
  }

  /**
   * Sends metric metadata in a request of its own (no samples), beside the lanes: a target keeps
   * metadata per family, apart from any series, so its order against the samples does not matter.
   */
  async writeMetadata(metadata: readonly MetricMetadata[]): Promise<void> {
    this.throwIfFailed();
    const body = snappyCompress(encodeMetadataWriteRequest(metadata));
    await this.writer.write({ series: NO_SERIES, samples: 0, body }, this.signal);
  }

  /** Sends what is batched and waits for every request; rejects with the first failure. */
  async flush(): Promise<void> {
    for (const lane of this.lanes) if (lane.samples > 0) await this.cutAfterRoom(lane);
    await Promise.all(this.lanes.flatMap((l) => l.sends));
    this.throwIfFailed();
  }

  /** Back-pressure: waits while the lane's queue is full, then cuts its batch. */
  private async cutAfterRoom(lane: Lane): Promise<void> {
    while (lane.sends.length > this.queuePerLane) await lane.sends[0];
    this.throwIfFailed();
    this.cut(lane);
  }

  /** The lane a series is sent on; tools that replay the same requests use it to keep the same order. */
  laneIndex(labels: SeriesPiece['labels']): number {
    // FNV-1a over names and values, each closed by a separator so that boundaries count.
    let h = 0x811c9dc5;
    for (const l of labels) {
      for (let i = 0; i < l.name.length; i++) h = Math.imul(h ^ l.name.charCodeAt(i), 0x01000193);
      h = Math.imul(h ^ 0xffff, 0x01000193);
      for (let i = 0; i < l.value.length; i++) h = Math.imul(h ^ l.value.charCodeAt(i), 0x01000193);
      h = Math.imul(h ^ 0xffff, 0x01000193);
    }
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

  /** Turns the lane's batch into a request queued behind the lane's earlier ones. */
  private cut(lane: Lane): void {
    const whole = { series: lane.series, samples: lane.samples };
    // Encoded now, while this lane's earlier requests are in flight, not when it is its turn.
    const batch = this.writer.prepare ? this.writer.prepare(whole) : whole;
    lane.series = [];
    lane.samples = 0;
    this.requests++;
    const previous = lane.sends.at(-1) ?? Promise.resolve();
    const onRejected = (r: RejectedSeries) => {
      mergeRejected(this.rejectedBySeries, r);
      this.rejectedSamples += r.samples;
    };
    // Chained on the lane's previous request: a series' samples arrive in time order. What the
    // target acknowledged counts even after another lane failed: the report says what it holds.
    const sent: Promise<void> = previous
      .then(() =>
        this.failure === undefined ? writeIsolating(this.writer, batch, onRejected, this.signal) : undefined,
      )
      .then(
        (counts) => {
          if (!counts) return;
          this.samplesSent += counts.accepted;
          this.requests += counts.requests - 1;
        },
        (err: unknown) => {
          const partial = partialCounts(err);
          if (partial) {
            this.samplesSent += partial.accepted;
            this.requests += partial.requests - 1;
          }
          this.failure ??= err;
        },
      )
      .finally(() => {
        lane.sends.splice(lane.sends.indexOf(sent), 1);
      });
    lane.sends.push(sent);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
