/**
 * report: the outcome of a restore run, aggregated from one record per shard (written by each
 * shard worker) against the plan. A planned shard without a record never finished: it counts
 * as failed, so a worker that died without a word cannot make the run look complete. Pure.
 */
import type { UnreadableManifest } from '../manifest';
import type { Gap, GapPair } from './coverage';

/** What the plan found missing from the range: no shard task carries it, so Report is told apart. */
export interface RestoreCoverage {
  readonly gaps: readonly Gap[];
  readonly unreadable: readonly UnreadableManifest[];
}

export function isRestoreCoverage(v: unknown): v is RestoreCoverage {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return Array.isArray(c.gaps) && Array.isArray(c.unreadable);
}

import { mergeRejected, type RejectedSeries } from './split';
import { MAX_REJECTED_SERIES_LISTED } from './run';

/** The id of a later read of a shard read once per part: its manifest key and the part's start. */
export function readIdOf(manifestKey: string, partStartMs: number): string {
  return `${manifestKey}#${partStartMs}`;
}

/** The manifest key of a read id (manifest keys hold no '#'). */
const manifestKeyOfRead = (readId: string) => readId.replace(/#\d+$/, '');

/** Mismatches named in a run report; `mismatches` counts them all. */
const MAX_MISMATCH_EXAMPLES = 10;

/** What one shard worker records about its shard; the last record of a shard wins. */
export type RestoreShardRecord =
  | {
      readonly status: 'restored';
      readonly manifest_key: string;
      /** Set on a later read of a shard read once per part (readIdOf). */
      readonly read_id?: string;
      readonly object_key: string;
      readonly series: number;
      readonly samples: number;
      readonly requests: number;
      readonly seconds: number;
      readonly finished_at: string;
      readonly rejected_samples?: number;
      readonly rejected_series?: readonly RejectedSeries[];
      /** Samples in range left out because an overlapping shard supplied them. */
      readonly duplicate_samples_skipped?: number;
      /** With verify: the shard read back from the target. */
      readonly verified_samples?: number;
      readonly mismatches?: number;
      readonly mismatch_examples?: readonly string[];
      /** Metric families whose metadata the target acknowledged. */
      readonly metadata_families?: number;
      /** Why the target refused the shard's metric metadata (its samples were written). */
      readonly metadata_rejected?: string;
    }
  | {
      readonly status: 'failed';
      readonly manifest_key: string;
      readonly read_id?: string;
      readonly error_name: string;
      readonly error: string;
      readonly finished_at: string;
    };

export interface RestoreRunReport {
  readonly run_id: string;
  readonly shards: number;
  readonly restored: number;
  readonly failed_shards: number;
  readonly series: number;
  readonly samples: number;
  readonly requests: number;
  /** Samples in range not written because an overlapping shard supplied them. */
  readonly duplicate_samples_skipped: number;
  readonly rejected_samples: number;
  readonly rejected_series: readonly RejectedSeries[];
  readonly verified_samples: number;
  readonly mismatches: number;
  readonly mismatch_examples: readonly string[];
  readonly metadata_families: number;
  /** Shards whose metric metadata the target refused (their samples were written). */
  readonly metadata_rejected: readonly { readonly manifest_key: string; readonly error: string }[];
  readonly failures: readonly { readonly manifest_key: string; readonly error_name: string; readonly error: string }[];
  /** Parts of the range without a committed shard, `[start_ms, end_ms]`; details in gap_details. */
  readonly gaps: readonly GapPair[];
  readonly gap_details: readonly Gap[];
  readonly created_at: string;
}

export function isRestoreShardRecord(v: unknown): v is RestoreShardRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (typeof r.manifest_key !== 'string') return false;
  if (r.status === 'restored') return typeof r.samples === 'number' && typeof r.series === 'number';
  return r.status === 'failed' && typeof r.error === 'string';
}

/** `planned`: the read id of each planned task (its manifest key, unless the shard is read once per part). */
export function aggregateRestore(
  runId: string,
  planned: readonly string[],
  records: readonly RestoreShardRecord[],
  nowMs: number,
  coverage: RestoreCoverage = { gaps: [], unreadable: [] },
): RestoreRunReport {
  const byKey = new Map(records.map((r) => [r.read_id ?? r.manifest_key, r]));
  let restored = 0;
  let series = 0;
  let samples = 0;
  let requests = 0;
  let rejectedSamples = 0;
  let duplicates = 0;
  let verified = 0;
  let mismatches = 0;
  const rejected = new Map<string, RejectedSeries>();
  const examples: string[] = [];
  let metadataFamilies = 0;
  const metadataRejected: { manifest_key: string; error: string }[] = [];
  const failures: { manifest_key: string; error_name: string; error: string }[] = [];
  for (const key of new Set(planned)) {
    const r = byKey.get(key);
    if (r === undefined) {
      failures.push({
        manifest_key: manifestKeyOfRead(key),
        error_name: 'NoResult',
        error: 'the shard worker left no result: it did not run or did not finish',
      });
    } else if (r.status === 'failed') {
      failures.push({ manifest_key: r.manifest_key, error_name: r.error_name, error: r.error });
    } else {
      restored++;
      series += r.series;
      samples += r.samples;
      requests += r.requests;
      rejectedSamples += r.rejected_samples ?? 0;
      duplicates += r.duplicate_samples_skipped ?? 0;
      for (const x of r.rejected_series ?? []) mergeRejected(rejected, x);
      verified += r.verified_samples ?? 0;
      mismatches += r.mismatches ?? 0;
      examples.push(...(r.mismatch_examples ?? []));
      metadataFamilies += r.metadata_families ?? 0;
      if (r.metadata_rejected !== undefined)
        metadataRejected.push({ manifest_key: r.manifest_key, error: r.metadata_rejected });
    }
  }
  for (const u of coverage.unreadable)
    failures.push({ manifest_key: u.key, error_name: 'CorruptShardError', error: u.error });
  const shards = restored + failures.length;
  return {
    run_id: runId,
    shards,
    restored,
    failed_shards: failures.length,
    series,
    samples,
    requests,
    duplicate_samples_skipped: duplicates,
    rejected_samples: rejectedSamples,
    rejected_series: [...rejected.values()].slice(0, MAX_REJECTED_SERIES_LISTED),
    verified_samples: verified,
    mismatches,
    mismatch_examples: examples.slice(0, MAX_MISMATCH_EXAMPLES),
    metadata_families: metadataFamilies,
    metadata_rejected: metadataRejected,
    failures,
    gaps: coverage.gaps.map((g) => [g.start_ms, g.end_ms]),
    gap_details: coverage.gaps,
    created_at: new Date(nowMs).toISOString(),
  };
}
