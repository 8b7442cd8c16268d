import { InputError } from '../lambdas/core/errors';
import { formatDuration, parseDuration, parseTime, formatIso } from '../lambdas/core/time';
import { parseSelector, formatSelector } from '../lambdas/core/prom/selector';
import {
  planBackup,
  previewBackup,
  runBackup,
  type BackupRunInput,
  type PlannedShard,
} from '../lambdas/core/backup/run';
import { openStore } from '../lambdas/adapters/open-store';
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
}

export function parseConcurrency(text: string, flag: string, max = 64): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new InputError(`${flag} ${text} must be a whole number from 1 to ${max}`);
  return n;
}

export async function backupCommand(flags: BackupFlags): Promise<void> {
  const nowMs = Date.now();
  // Everything the user typed is checked before any connection or write.
  const input: BackupRunInput = {
    source: sourceName(flags),
    fromMs: parseTime(flags.from, nowMs, '--from'),
    toMs: parseTime(flags.to, nowMs, '--to'),
    shardLengthMs: parseDuration(flags.shardLength, '--shard-length'),
    selectors: flags.match.map((m) => formatSelector(parseSelector(m))),
    force: flags.force,
    concurrency: parseConcurrency(flags.concurrency, '--concurrency', 10),
  };
  const gcGraceMs = parseDuration(flags.gcGrace ?? formatDuration(DEFAULT_GC_GRACE_MS), '--gc-grace');
  const planned = planBackup(input);
  const store = openStore(flags.store, storeOptions(flags));
  const source = openSource(flags.source, flags, parseDuration(flags.timeout ?? '2m', '--timeout'));
  if (flags.dryRun) return printPlan(input, store.location, await previewBackup(store, input), flags.json === true);
  // The source first: a directory store's check creates its root, and nothing may be written
  // for a run that cannot start.
  await source.probe((warning) => process.stderr.write(`warning: ${warning}\n`));
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
  // Finished, but a replica's samples may be missing from some shards.
  else if (report.missing_replicas.length > 0) process.exitCode = EXIT.incomplete;
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
