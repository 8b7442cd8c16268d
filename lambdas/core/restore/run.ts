/**
 * A whole restore: plan → (thaw, on AWS) → per shard: fetch → verify → decode → filter → write →
 * report. A corrupt or missing shard is reported by key and the others go on; a target that
 * rejects data permanently stops the run, since every later shard would fail the same way.
 */
import type { ObjectStore, RemoteWriter } from '../ports';
import type { ShardManifest } from '../shard';
import type { LabelMatcher, TimeWindow } from '../types';
import {
  CorruptShardError,
  ObjectNotFoundError,
  PromvaultError,
  TargetRejectedError,
  TargetUnavailableError,
} from '../errors';
import { decodeShard } from '../format';
import { fetchVerified } from './fetch';
import { filterPieces } from './filter';
import { WritePipeline, type WritePipelineOptions } from './write';
import { labelsEqual } from '../labels';

export interface RestoreShardResult {
  readonly key: string;
  readonly series: number;
  readonly samples: number;
  readonly requests: number;
  readonly seconds: number;
}

export interface RestoreFailure {
  readonly key: string;
  readonly error: string;
  readonly error_name: string;
}

export interface RestoreReport {
  readonly shards: number;
  readonly series: number;
  readonly samples: number;
  readonly requests: number;
  readonly seconds: number;
  readonly failed_shards: number;
  readonly failures: readonly RestoreFailure[];
}

export interface RestoreShardInput {
  readonly window: TimeWindow;
  readonly selectorGroups: readonly (readonly LabelMatcher[])[];
}

/** One shard into an existing pipeline; flushes it so the shard's result is final. */
export async function restoreShard(
  store: ObjectStore,
  manifest: ShardManifest,
  input: RestoreShardInput,
  pipeline: WritePipeline,
  nowMs: () => number = Date.now,
): Promise<RestoreShardResult> {
  const started = nowMs();
  const before = pipeline.counts;
  const body = await fetchVerified(store, manifest);
  let series = 0;
  let lastLabels: Parameters<typeof labelsEqual>[0] | undefined;
  for await (const piece of filterPieces(decodeShard(body), input.window, input.selectorGroups)) {
    if (!lastLabels || !labelsEqual(lastLabels, piece.labels)) series++;
    lastLabels = piece.labels;
    await pipeline.add(piece);
  }
  await pipeline.flush();
  const after = pipeline.counts;
  return {
    key: manifest.object_key,
    series,
    samples: after.samples - before.samples,
    requests: after.requests - before.requests,
    seconds: (nowMs() - started) / 1000,
  };
}

export interface RestoreRunDeps {
  readonly store: ObjectStore;
  readonly writer: RemoteWriter;
  readonly nowMs?: () => number;
  readonly onShardDone?: (result: RestoreShardResult | RestoreFailure, done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export async function runRestore(
  deps: RestoreRunDeps,
  shards: readonly ShardManifest[],
  input: RestoreShardInput,
  writeOptions: WritePipelineOptions = {},
): Promise<RestoreReport> {
  const nowMs = deps.nowMs ?? Date.now;
  const started = nowMs();
  const results: RestoreShardResult[] = [];
  const failures: RestoreFailure[] = [];
  let stopped: unknown;
  for (const manifest of shards) {
    let outcome: RestoreShardResult | RestoreFailure;
    if (stopped !== undefined) {
      outcome = failureOf(manifest, stopped, 'not attempted: ');
    } else {
      // A fresh pipeline per shard: a failed shard leaves nothing half-sent behind for the next.
      const pipeline = new WritePipeline(deps.writer, writeOptions, deps.signal);
      try {
        outcome = await restoreShard(deps.store, manifest, input, pipeline, nowMs);
      } catch (err) {
        if (!isShardLocal(err)) stopped = err;
        outcome = failureOf(manifest, err, '');
      }
    }
    if ('error' in outcome) failures.push(outcome);
    else results.push(outcome);
    deps.onShardDone?.(outcome, results.length + failures.length, shards.length);
  }
  return {
    shards: shards.length,
    series: results.reduce((a, r) => a + r.series, 0),
    samples: results.reduce((a, r) => a + r.samples, 0),
    requests: results.reduce((a, r) => a + r.requests, 0),
    seconds: (nowMs() - started) / 1000,
    failed_shards: failures.length,
    failures,
  };
}

/** Faults of one shard's bytes; anything else (the target, the network) affects every shard. */
function isShardLocal(err: unknown): boolean {
  return err instanceof CorruptShardError || err instanceof ObjectNotFoundError;
}

function failureOf(manifest: ShardManifest, err: unknown, prefix: string): RestoreFailure {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  const where =
    err instanceof TargetRejectedError || err instanceof TargetUnavailableError || !(err instanceof PromvaultError)
      ? ` (shard ${manifest.object_key})`
      : '';
  return { key: manifest.object_key, error: `${prefix}${message}${where}`, error_name: name };
}
