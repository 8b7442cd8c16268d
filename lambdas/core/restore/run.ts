/**
 * A whole restore: plan → (thaw, on AWS) → per shard: fetch → verify → decode → filter → write →
 * report. A corrupt or missing shard is reported by key and the others go on; a target that
 * rejects data permanently stops the run, since every later shard would fail the same way.
 */
import type { ObjectStore, RemoteWriter } from '../ports';
import type { ShardManifest } from '../shard';
import type { LabelMatcher, MetricMetadata, TimeWindow } from '../types';
import { MetadataIndex } from '../metadata';
import {
  CorruptShardError,
  ObjectNotFoundError,
  PromvaultError,
  ResponseTooLargeError,
  TargetRejectedError,
  TargetUnavailableError,
} from '../errors';
import { decodeShardBlocks } from '../format';
import { fetchVerified } from './fetch';
import { PieceFilter, SliceFilter } from './filter';
import type { ShardSlice } from './coverage';
import type { PlannedShard } from './plan';
import { WritePipeline, type WritePipelineOptions } from './write';
import { mergeRejected, type RejectedSeries } from './split';
import type { CompletedShard } from './resume';
import { labelsEqual } from '../labels';
import { withRetries, type ShardRetryPolicy } from '../retry';

export interface RestoreShardResult extends ShardCounts {
  readonly key: string;
  readonly seconds: number;
}

export interface RestoreFailure {
  readonly key: string;
  readonly error: string;
  readonly error_name: string;
  /** Samples of this shard the target acknowledged before it failed. */
  readonly samples: number;
  readonly requests: number;
}

export interface RestoreReport {
  readonly shards: number;
  readonly series: number;
  readonly samples: number;
  readonly requests: number;
  readonly seconds: number;
  readonly failed_shards: number;
  readonly failures: readonly RestoreFailure[];
  /** Samples in range not written because an overlapping shard supplied them. */
  readonly duplicate_samples_skipped: number;
  /** Samples of the series the target rejected; each series is named in `rejected_series`. */
  readonly rejected_samples: number;
  readonly rejected_series: readonly RejectedSeries[];
  /** The shards written in full (rejected series aside), for `restore --resume`. */
  readonly completed_shards: readonly CompletedShard[];
  /** Metric families whose metadata the target acknowledged, summed over shards. */
  readonly metadata_families: number;
  /** Shards whose metadata the target refused (their samples were written). */
  readonly metadata_rejected: readonly { readonly key: string; readonly error: string }[];
}

/** Rejected series listed in a report; `rejected_samples` counts them all. */
export const MAX_REJECTED_SERIES_LISTED = 100;

export interface RestoreShardInput {
  readonly window: TimeWindow;
  readonly selectorGroups: readonly (readonly LabelMatcher[])[];
}

/** What one shard put on the wire. */
export interface ShardCounts {
  readonly series: number;
  /** Samples the target acknowledged. */
  readonly samples: number;
  readonly requests: number;
  /** Samples in range left out because an overlapping shard supplies them. */
  readonly duplicate_samples_skipped: number;
  readonly rejected_samples: number;
  readonly rejected_series: readonly RejectedSeries[];
  /** Metric families whose metadata the target acknowledged. */
  readonly metadata_families: number;
  /** Why the target refused the shard's metadata (its samples were written). */
  readonly metadata_rejected?: string;
}

/** Families per metadata request, as Prometheus' own remote write sends them (max_samples_per_send). */
export const METADATA_PER_REQUEST = 500;

/** A shard's failure, with what the target had acknowledged of it by then. */
class PartialShardError extends Error {
  constructor(
    readonly cause: unknown,
    readonly counts: { readonly samples: number; readonly requests: number },
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * Decodes one verified shard into a pipeline (decode → filter → batch → send) and flushes it, so
 * the counts are final.
 */
export async function replayInto(
  body: AsyncIterable<Uint8Array>,
  input: RestoreShardInput,
  pipeline: WritePipeline,
  slice?: ShardSlice,
): Promise<ShardCounts> {
  const before = pipeline.counts;
  const sliced = slice && new SliceFilter(input.window, input.selectorGroups, slice);
  const filter = sliced ?? new PieceFilter(input.window, input.selectorGroups);
  const rejectedSamplesBefore = pipeline.rejectedSampleCount;
  let series = 0;
  let lastLabels: Parameters<typeof labelsEqual>[0] | undefined;
  // The shard's metadata, and that of the families whose series are restored, sent once at the end.
  const metadata = new MetadataIndex();
  const restoredFamilies = new Map<string, MetricMetadata>();
  let metadataFamilies = 0;
  let metadataRejected: string | undefined;
  try {
    await replayPieces();
  } catch (err) {
    // Requests still in flight on other lanes may land: count them before saying what landed.
    await pipeline.settle();
    const after = pipeline.counts;
    throw new PartialShardError(err, {
      samples: after.samples - before.samples,
      requests: after.requests - before.requests,
    });
  }
  const after = pipeline.counts;
  return {
    series,
    samples: after.samples - before.samples,
    requests: after.requests - before.requests,
    duplicate_samples_skipped: sliced?.duplicates ?? 0,
    rejected_samples: pipeline.rejectedSampleCount - rejectedSamplesBefore,
    rejected_series: pipeline.rejected,
    metadata_families: metadataFamilies,
    ...(metadataRejected !== undefined ? { metadata_rejected: metadataRejected } : {}),
  };

  async function replayPieces(): Promise<void> {
    for await (const block of decodeShardBlocks(body, { onMetadata: (m) => metadata.add(m) })) {
      for (const piece of block) {
        const kept = filter.keep(piece);
        if (!kept) continue;
        if (!lastLabels || !labelsEqual(lastLabels, kept.labels)) {
          series++;
          if (metadata.size > 0) noteFamily(kept.labels);
        }
        lastLabels = kept.labels;
        // Waits when the piece's lane is full. When the piece completed a request, it yields to
        // the event loop instead: responses waiting there free lanes for their next requests, so
        // decoding in bursts does not leave the target idle (measured: docs/BENCHMARKS.md).
        const cut = pipeline.counts.requests;
        const full = pipeline.add(kept);
        if (full) await full;
        else if (pipeline.counts.requests !== cut) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await sendMetadata();
    await pipeline.flush();
  }

  function noteFamily(labels: Parameters<typeof labelsEqual>[0]): void {
    const name = labels.find((l) => l.name === '__name__')?.value;
    const family = name === undefined ? undefined : metadata.familyOf(name);
    if (family) restoredFamilies.set(family.metricFamilyName, family);
  }

  /** The metadata of the restored families; a target that refuses it is reported, the samples stand. */
  async function sendMetadata(): Promise<void> {
    const entries = [...restoredFamilies.values()];
    for (let i = 0; i < entries.length && metadataRejected === undefined; i += METADATA_PER_REQUEST) {
      const part = entries.slice(i, i + METADATA_PER_REQUEST);
      try {
        await pipeline.writeMetadata(part);
        metadataFamilies += part.length;
      } catch (err) {
        if (!(err instanceof TargetRejectedError)) throw err;
        metadataRejected = err.message;
      }
    }
  }
}

/** One shard (or, where shards overlap, its `slice`) into an existing pipeline: fetch, verify, replay. */
export async function restoreShard(
  store: ObjectStore,
  manifest: ShardManifest,
  input: RestoreShardInput,
  pipeline: WritePipeline,
  nowMs: () => number = Date.now,
  slice?: ShardSlice,
): Promise<RestoreShardResult> {
  const started = nowMs();
  const body = await fetchVerified(store, manifest);
  const counts = await replayInto(body, input, pipeline, slice).catch((err: unknown) => {
    throw err instanceof PartialShardError ? err.cause : err;
  });
  return { key: manifest.object_key, ...counts, seconds: (nowMs() - started) / 1000 };
}

export interface RestoreRunDeps {
  readonly store: ObjectStore;
  readonly writer: RemoteWriter;
  readonly nowMs?: () => number;
  readonly onShardDone?: (result: RestoreShardResult | RestoreFailure, done: number, total: number) => void;
  readonly signal?: AbortSignal;
  /** Transient shard failures are retried with this policy (SHARD_RETRY, as on AWS). @default no retries */
  readonly retry?: ShardRetryPolicy;
  /** Called before waiting to retry a shard: the shard, the error, the attempt that failed, the wait. */
  readonly onRetry?: (shard: PlannedShard, err: unknown, attempt: number, delayMs: number) => void;
}

export async function runRestore(
  deps: RestoreRunDeps,
  shards: readonly PlannedShard[],
  input: RestoreShardInput,
  writeOptions: WritePipelineOptions = {},
): Promise<RestoreReport> {
  const nowMs = deps.nowMs ?? Date.now;
  const started = nowMs();
  const results: RestoreShardResult[] = [];
  const failures: RestoreFailure[] = [];
  let stopped: unknown;
  let prefetched: Promise<AsyncIterable<Uint8Array>> | undefined;
  // Before the first sample: a URL that is no receiver is bad input, not a run of failed shards.
  if (shards.length > 0) await deps.writer.probe?.(deps.signal);
  for (let i = 0; i < shards.length; i++) {
    const manifest = shards[i]!;
    let outcome: RestoreShardResult | RestoreFailure;
    if (stopped !== undefined) {
      outcome = failureOf(manifest, stopped, 'not attempted: ');
    } else {
      const shardStarted = nowMs();
      let body = prefetched ?? fetchShard(deps.store, manifest);
      prefetched = undefined;
      let prefetchedNext = false;
      // What the target acknowledged of the shard in its furthest attempt (each resends the same).
      let acknowledged = { samples: 0, requests: 0 };
      const attempt = async (n: number): Promise<ShardCounts> => {
        if (n > 1) body = fetchShard(deps.store, manifest);
        const verified = await body;
        if (!prefetchedNext) {
          prefetchedNext = true;
          // The next small shard is fetched and verified while this one is written: on S3 each
          // GET's latency would otherwise stand between two shards, with the target idle.
          const next = shards[i + 1];
          if (next && next.stored_bytes <= PREFETCH_MAX_BYTES) prefetched = fetchShard(deps.store, next);
        }
        // A fresh pipeline per attempt: a failed one leaves nothing half-sent behind for the next.
        const pipeline = new WritePipeline(deps.writer, writeOptions, deps.signal);
        try {
          return await replayInto(verified, input, pipeline, manifest.slice);
        } catch (caught) {
          if (!(caught instanceof PartialShardError)) throw caught;
          if (caught.counts.samples >= acknowledged.samples) acknowledged = caught.counts;
          throw caught.cause;
        }
      };
      try {
        const counts = deps.retry
          ? await withRetries(deps.retry, attempt, {
              signal: deps.signal,
              onRetry: (err, n, delayMs) => deps.onRetry?.(manifest, err, n, delayMs),
            })
          : await attempt(1);
        outcome = { key: manifest.object_key, ...counts, seconds: (nowMs() - shardStarted) / 1000 };
      } catch (err) {
        if (!isShardLocal(err)) stopped = err;
        outcome = failureOf(manifest, err, '', acknowledged);
      }
    }
    if ('error' in outcome) failures.push(outcome);
    else results.push(outcome);
    deps.onShardDone?.(outcome, results.length + failures.length, shards.length);
  }
  // A run stopped early leaves no read running behind it.
  await prefetched?.catch(() => undefined);
  const rejected = new Map<string, RejectedSeries>();
  for (const r of results) for (const x of r.rejected_series) mergeRejected(rejected, x);
  return {
    shards: shards.length,
    series: results.reduce((a, r) => a + r.series, 0),
    // Failed shards count too: the target holds what it acknowledged of them.
    samples: [...results, ...failures].reduce((a, r) => a + r.samples, 0),
    requests: [...results, ...failures].reduce((a, r) => a + r.requests, 0),
    seconds: (nowMs() - started) / 1000,
    failed_shards: failures.length,
    failures,
    duplicate_samples_skipped: results.reduce((a, r) => a + r.duplicate_samples_skipped, 0),
    rejected_samples: results.reduce((a, r) => a + r.rejected_samples, 0),
    rejected_series: [...rejected.values()].slice(0, MAX_REJECTED_SERIES_LISTED),
    completed_shards: results.map((r) => ({ key: r.key, samples: r.samples })),
    metadata_families: results.reduce((a, r) => a + r.metadata_families, 0),
    metadata_rejected: results.flatMap((r) =>
      r.metadata_rejected !== undefined ? [{ key: r.key, error: r.metadata_rejected }] : [],
    ),
  };
}

/** Shards up to this size are fetched one ahead; larger ones take long enough to write that it would not pay. */
export const PREFETCH_MAX_BYTES = 16 * 1024 * 1024;

/** fetchVerified, with its failure observed only where it is awaited (never unhandled). */
function fetchShard(store: ObjectStore, manifest: ShardManifest): Promise<AsyncIterable<Uint8Array>> {
  const fetching = fetchVerified(store, manifest);
  fetching.catch(() => undefined);
  return fetching;
}

/** Faults of one shard's bytes; anything else (the target, the network) affects every shard. */
function isShardLocal(err: unknown): boolean {
  return err instanceof CorruptShardError || err instanceof ObjectNotFoundError;
}

function failureOf(
  manifest: ShardManifest,
  err: unknown,
  prefix: string,
  acknowledged: { readonly samples: number; readonly requests: number } = { samples: 0, requests: 0 },
): RestoreFailure {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  const where =
    err instanceof TargetRejectedError ||
    err instanceof TargetUnavailableError ||
    err instanceof ResponseTooLargeError ||
    !(err instanceof PromvaultError)
      ? ` (shard ${manifest.object_key})`
      : '';
  return { key: manifest.object_key, error: `${prefix}${message}${where}`, error_name: name, ...acknowledged };
}
