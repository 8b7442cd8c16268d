import { InputError } from '../lambdas/core/errors';
import { formatDuration, parseDuration, parseTime, parseTimeout, formatIso } from '../lambdas/core/time';
import { parseSelector, formatSelector } from '../lambdas/core/prom/selector';
import {
  planBackup,
  previewBackup,
  runBackup,
  type BackupRunInput,
  type PlannedShard,
} from '../lambdas/core/backup/run';
import { openStore } from '../lambdas/adapters/open-store';
import { SHARD_RETRY, withMaxAttempts, withRetries, type ShardRetryPolicy } from '../lambdas/core/retry';
import { cleanLeftovers, DEFAULT_GC_GRACE_MS } from '../lambdas/core/gc';
import { storeOptions } from './store-flags';
import { openSource, sourceName, type SourceFlags } from './source';
import { createProgress } from './progress';
import { EXIT, duringRun, formatBytes, formatCount, printJson } from './output';

interface BackupFlags extends SourceFlags {
  store: string;
  from: string;
  to: string;
  shardLength: string;
  match: string[];
  s3Endpoint?: string;
  region?: string;
  concurrency: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
  gcGrace?: string;
  retries?: string;
}

/** --retries: how often a shard (or the source check) is retried after a transient failure. */
export function parseRetries(text: string | undefined): ShardRetryPolicy {
  return text === undefined ? SHARD_RETRY : withMaxAttempts(SHARD_RETRY, parseConcurrency(text, '--retries', 20, 0));
}

/** One stderr line per retry: what failed, and when it is tried again. */
export function retryWarning(what: string, err: unknown, attempt: number, delayMs: number): string {
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return `warning: ${what} failed (attempt ${attempt}), retrying in ${(delayMs / 1000).toFixed(1)} s: ${reason}\n`;
}

export function parseConcurrency(text: string, flag: string, max = 64, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InputError(`${flag} ${text} must be a whole number from ${min} to ${max}`);
  return n;
}

/** Each --match once: two that select the same series would plan every shard twice. */
function canonicalSelectors(texts: readonly string[]): string[] {
  const given = new Map<string, string>();
  for (const text of texts) {
    const canonical = formatSelector(parseSelector(text));
    const first = given.get(canonical);
    if (first !== undefined) {
      throw new InputError(`--match ${text} selects the same series as --match ${first}: give each selector once`);
    }
    given.set(canonical, text);
  }
  return [...given.keys()];
}

export async function backupCommand(flags: BackupFlags): Promise<void> {
  const nowMs = Date.now();
  // Everything the user typed is checked before any connection or write.
  const input: BackupRunInput = {
    source: sourceName(flags),
    fromMs: parseTime(flags.from, nowMs, '--from'),
    toMs: parseTime(flags.to, nowMs, '--to'),
    shardLengthMs: parseDuration(flags.shardLength, '--shard-length'),
    selectors: canonicalSelectors(flags.match),
    force: flags.force,
    concurrency: parseConcurrency(flags.concurrency, '--concurrency', 10),
  };
  const gcGraceMs = parseDuration(flags.gcGrace ?? formatDuration(DEFAULT_GC_GRACE_MS), '--gc-grace');
  const retry = parseRetries(flags.retries);
  const timeoutMs = parseTimeout(flags.timeout ?? '2m', '--timeout');
  const planned = planBackup(input);
  const store = openStore(flags.store, storeOptions(flags));
  const source = openSource(flags.source, flags, timeoutMs);
  if (flags.dryRun) return printPlan(input, store.location, await previewBackup(store, input), flags.json === true);
  // The source first: a directory store's check creates its root, and nothing may be written
  // for a run that cannot start.
  // A source that is down for a moment gets the shards' second chances before the run gives up.
  await withRetries(retry, () => source.probe((warning) => process.stderr.write(`warning: ${warning}\n`)), {
    onRetry: (err, attempt, delayMs) => process.stderr.write(retryWarning('the source check', err, attempt, delayMs)),
  });
  await store.check();

  const progress = createProgress('backup', !flags.json);
  progress.start(planned.length);
  // Past the probe and the store check, whatever fails is the run failing (exit 1), not bad input.
  const report = await duringRun(() =>
    runBackup(
      {
        reader: source.reader,
        store,
        nowMs: Date.now,
        retry,
        onRetry: (ref, err, attempt, delayMs) =>
          process.stderr.write(
            retryWarning(
              `shard [${formatIso(ref.window.startMs)}, ${formatIso(ref.window.endMs)})`,
              err,
              attempt,
              delayMs,
            ),
          ),
        onShardDone: (r, done) =>
          progress.update(done, 'status' in r ? `${formatIso(r.ref.window.startMs)} ${r.status}` : `FAILED ${r.key}`),
      },
      input,
    ),
  ).finally(() => progress.stop());
  const gc = await cleanLeftovers(store, { nowMs: Date.now(), graceMs: gcGraceMs }, (message) =>
    process.stderr.write(`warning: ${message}\n`),
  );

  for (const f of report.failed) process.stderr.write(`shard ${f.key} failed: ${f.error}\n`);
  for (const m of report.missing_replicas) {
    process.stderr.write(`shard ${m.key} is incomplete, the next run pulls it again: ${m.replicas.join('; ')}\n`);
  }
  for (const m of report.metadata_missing) {
    process.stderr.write(
      `shard ${m.key} is incomplete, its samples are stored but not its metric metadata; the next run pulls it again: ${m.error}\n`,
    );
  }
  if (flags.json) {
    printJson({
      source: input.source,
      store: store.location,
      ...report,
      gc_deleted: gc?.deleted ?? null,
      failed: report.failed.length,
      failures: report.failed,
    });
  } else {
    const bps = report.samples > 0 ? (report.stored_bytes / report.samples).toFixed(3) : '-';
    process.stdout.write(
      [
        `backup of ${input.source} into ${store.location}: [${formatIso(input.fromMs)}, ${formatIso(input.toMs)})`,
        `  shards     ${report.shards} (${report.committed} written, ${report.skipped} already committed, ${report.failed.length} failed)`,
        `  samples    ${formatCount(report.samples)} in ${formatCount(report.series)} shard-series`,
        `  stored     ${formatBytes(report.stored_bytes)} (${bps} bytes/sample)`,
        ...(flags.source.length > 1
          ? [
              `  replicas   ${flags.source.length}, ${source.mode}: ${formatCount(report.conflicting_samples)} conflicting samples, ${report.missing_replicas.length} shards missing a replica`,
            ]
          : []),
        `  checkpoint ${report.checkpoint_ms === null ? 'unchanged' : formatIso(report.checkpoint_ms)}`,
        `  took       ${report.seconds.toFixed(1)} s`,
      ].join('\n') + '\n',
    );
  }
  if (report.failed.length > 0) process.exitCode = 1;
  // Finished, but a replica's samples or the metadata may be missing from some shards.
  else if (report.missing_replicas.length > 0 || report.metadata_missing.length > 0) process.exitCode = EXIT.incomplete;
}

/** --dry-run: the shards and what would happen to each, from the store's manifests alone. */
function printPlan(input: BackupRunInput, store: string, plan: PlannedShard[], json: boolean): void {
  const skipped = plan.filter((p) => p.skip).length;
  if (json) {
    printJson({
      dry_run: true,
      source: input.source,
      store,
      shards: plan.length,
      skipped,
      to_pull: plan.length - skipped,
      planned: plan.map((p) => ({
        object_key: p.key,
        start_ms: p.ref.window.startMs,
        end_ms: p.ref.window.endMs,
        selector: p.ref.selector,
        action: p.skip ? 'skip' : 'pull',
      })),
    });
    return;
  }
  process.stdout.write(
    `backup plan of ${input.source} into ${store}: [${formatIso(input.fromMs)}, ${formatIso(input.toMs)}): ` +
      `${plan.length} shards, ${plan.length - skipped} to pull, ${skipped} already committed (nothing pulled or written: --dry-run)\n`,
  );
  for (const p of plan)
    process.stdout.write(
      `  ${p.skip ? 'skip' : 'pull'}  [${formatIso(p.ref.window.startMs)}, ${formatIso(p.ref.window.endMs)})` +
        `${p.ref.selector ? `  ${p.ref.selector}` : ''}  ${p.key}\n`,
    );
}
