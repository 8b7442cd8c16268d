/**
 * capture: the /federate loop. /federate answers only the newest sample of each series, so
 * history cannot be pulled, only captured as it happens: every interval, fetch → parse →
 * split by shard window → commit a snapshot shard per window; once a fetch has happened at or
 * after a window's end, that window is compacted into one normal shard (compact.ts).
 *
 * Windows with snapshots left by earlier or killed runs are compacted too, after this run's
 * first fetch (which may still carry samples of them).
 */
import { formatLabels } from '../labels';
import type { FederateScraper, ObjectStore } from '../ports';
import { parseExposition } from '../prom/exposition';
import { formatIso } from '../time';
import type { MetricMetadata } from '../types';
import { compactWindow, listPendingWindows, type CompactResult } from './compact';
import { commitSnapshot, LastSeen, splitSnapshot } from './snapshot';
import type { ShardRef } from '../shard';

export interface CaptureInput {
  readonly source: string;
  /** Canonical selectors ('' for every series): one /federate request and one shard series each. */
  readonly selectors: readonly string[];
  readonly intervalMs: number;
  /** Stop after this long; undefined: until `signal` aborts. */
  readonly durationMs?: number;
  readonly shardLengthMs: number;
}

export interface CaptureDeps {
  readonly scraper: FederateScraper;
  readonly store: ObjectStore;
  readonly nowMs: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Progress, one line per event. */
  readonly onProgress?: (line: string) => void;
  /** Stops the loop after the snapshot in progress; pending complete windows are still compacted. */
  readonly signal?: AbortSignal;
}

export interface CaptureReport {
  /** Snapshot shards committed. */
  snapshots: number;
  /** Fetches (one per selector per interval) and those that failed. */
  fetches: number;
  failed_fetches: number;
  /** Distinct series captured. */
  series: number;
  /** Distinct samples captured (a sample seen by two snapshots counts once). */
  samples: number;
  compacted_shards: number;
  /** Compactions that failed; their snapshots are kept for the next run. */
  failed_compactions: number;
  /** Windows whose snapshots still wait (not yet complete, or raced, or failed). */
  pending_windows: number;
  conflicting_samples: number;
  /** Metric families seen in # TYPE / # HELP lines. */
  metadata: MetricMetadata[];
  errors: string[];
}

/** The counts of a report, as the CLI's JSON line and the capture function's result give them. */
export function captureCounts(r: CaptureReport) {
  return {
    snapshots: r.snapshots,
    series: r.series,
    samples: r.samples,
    compacted_shards: r.compacted_shards,
    fetches: r.fetches,
    failed_fetches: r.failed_fetches,
    failed_compactions: r.failed_compactions,
    pending_windows: r.pending_windows,
    conflicting_samples: r.conflicting_samples,
  };
}
export type CaptureCounts = ReturnType<typeof captureCounts>;

const refKey = (ref: ShardRef) => `${ref.window.startMs}\u0000${ref.selector}`;

export async function runCapture(deps: CaptureDeps, input: CaptureInput): Promise<CaptureReport> {
  const report: CaptureReport = {
    snapshots: 0,
    fetches: 0,
    failed_fetches: 0,
    series: 0,
    samples: 0,
    compacted_shards: 0,
    failed_compactions: 0,
    pending_windows: 0,
    conflicting_samples: 0,
    metadata: [],
    errors: [],
  };
  const progress = deps.onProgress ?? (() => undefined);
  const pending = new Map<string, ShardRef>();
  /** Windows whose compaction failed in this run: not tried again until the next run. */
  const failed = new Set<string>();
  for (const ref of await listPendingWindows(deps.store, input.source)) pending.set(refKey(ref), ref);
  const seen = new LastSeen();
  const metadata = new Map<string, MetricMetadata>();
  const startMs = deps.nowMs();
  const stopMs = input.durationMs === undefined ? Infinity : startMs + input.durationMs;

  for (let tick = 0; ; tick++) {
    const tickMs = startMs + tick * input.intervalMs;
    if (tickMs >= stopMs || deps.signal?.aborted) break;
    if (tick > 0) {
      await deps.sleep(tickMs - deps.nowMs(), deps.signal).catch(() => undefined);
      if (deps.signal?.aborted) break;
    }
    const fetchedAtMs = deps.nowMs();
    for (const selector of input.selectors) {
      report.fetches++;
      let text: string;
      try {
        text = await deps.scraper.scrape(selector, deps.signal);
      } catch (err) {
        // Stopped (SIGINT, SIGTERM) in the middle of a fetch: not a failure of the source.
        if (deps.signal?.aborted) {
          report.fetches--;
          break;
        }
        report.failed_fetches++;
        const message = `snapshot at ${formatIso(fetchedAtMs)} of ${deps.scraper.endpoint}${selector ? ` ${selector}` : ''} failed: ${(err as Error).message}`;
        report.errors.push(message);
        progress(message);
        continue;
      }
      // A reply that is not the exposition format is a failed fetch, like a 5xx: the next one may be fine.
      let parsed: ReturnType<typeof parseExposition>;
      try {
        parsed = parseExposition(text);
      } catch (err) {
        // Stopped (SIGINT, SIGTERM) in the middle of a fetch: not a failure of the source.
        if (deps.signal?.aborted) {
          report.fetches--;
          break;
        }
        report.failed_fetches++;
        const message = `snapshot at ${formatIso(fetchedAtMs)} from ${deps.scraper.endpoint} is unreadable: ${(err as Error).message}`;
        report.errors.push(message);
        progress(message);
        continue;
      }
      for (const m of parsed.metadata) if (!metadata.has(m.metricFamilyName)) metadata.set(m.metricFamilyName, m);
      const keys = parsed.labels.map((l) => `${selector}\u0000${formatLabels(l)}`);
      const split = splitSnapshot(parsed, fetchedAtMs, input.shardLengthMs, seen, (i) => keys[i]!);
      for (const [windowStart, set] of split.windows) {
        const ref = {
          source: input.source,
          window: { startMs: windowStart, endMs: windowStart + input.shardLengthMs },
          selector,
        };
        await commitSnapshot(deps.store, ref, set, fetchedAtMs, deps.scraper.endpoint, parsed.metadata);
        pending.set(refKey(ref), ref);
        report.snapshots++;
      }
      report.samples += split.fresh;
      progress(
        `snapshot ${formatIso(fetchedAtMs)}${selector ? ` ${selector}` : ''}: ${split.received} samples, ${split.fresh} new`,
      );
    }
    await compactDue(deps, pending, failed, fetchedAtMs, report, progress);
  }
  report.series = seen.series;
  report.metadata = [...metadata.values()];
  report.pending_windows = pending.size;
  return report;
}

/** Compacts every pending window that ended at or before `fetchedAtMs`. */
async function compactDue(
  deps: CaptureDeps,
  pending: Map<string, ShardRef>,
  failed: Set<string>,
  fetchedAtMs: number,
  report: CaptureReport,
  progress: (line: string) => void,
): Promise<void> {
  for (const [key, ref] of [...pending]) {
    if (ref.window.endMs > fetchedAtMs || failed.has(key)) continue;
    let result: CompactResult;
    try {
      result = await compactWindow(deps.store, ref, { nowMs: deps.nowMs, endpoint: deps.scraper.endpoint });
    } catch (err) {
      report.failed_compactions++;
      const message = `compaction of [${formatIso(ref.window.startMs)}, ${formatIso(ref.window.endMs)}) failed, its snapshots are kept: ${(err as Error).message}`;
      report.errors.push(message);
      progress(message);
      failed.add(key);
      continue;
    }
    if (result.status === 'raced') {
      progress(
        `compaction of [${formatIso(ref.window.startMs)}, ${formatIso(ref.window.endMs)}) raced another run; retried later`,
      );
      continue;
    }
    pending.delete(key);
    report.conflicting_samples += result.conflicts;
    if (result.status === 'compacted') report.compacted_shards++;
    progress(
      `compacted [${formatIso(ref.window.startMs)}, ${formatIso(ref.window.endMs)}): ${result.snapshots} snapshots → ${result.manifest?.samples ?? 0} samples in ${result.manifest?.series ?? 0} series (${result.status})`,
    );
  }
}
