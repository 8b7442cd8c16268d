/**
 * promvault gc: delete what killed runs left in a store (temporary files, objects no manifest
 * names) once older than --grace. The AWS SDK loads only when the command runs.
 */
import type { Command } from 'commander';
import { collectGarbage, DEFAULT_GC_GRACE_MS, type GcReport } from '../lambdas/core/gc';
import { formatDuration, parseDuration } from '../lambdas/core/time';
import { storeOptions, type StoreFlags } from './store-flags';
import { EXIT, EXIT_CODES_HELP, formatBytes, printJson } from './output';

interface GcFlags extends StoreFlags {
  store: string;
  grace: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description(
      'delete leftovers of killed or superseded runs (temporary files, objects no manifest names) older than --grace; committed shards are never touched',
    )
    .requiredOption('--store <dir|s3://bucket/prefix>', 'the store to clean')
    .option(
      '--grace <duration>',
      'keep leftovers younger than this: a run in progress has not written its manifest yet',
      formatDuration(DEFAULT_GC_GRACE_MS),
    )
    .option('--dry-run', 'print what would be deleted; delete nothing')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint')
    .option('--region <region>', 'AWS region of the bucket')
    .option('--s3-timeout <duration>', 'longest wait for an S3 answer before a retry (default 60s)')
    .option('--json', 'print one JSON object as the last stdout line')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(gcCommand);
}

export async function gcCommand(flags: GcFlags): Promise<void> {
  const graceMs = parseDuration(flags.grace, '--grace');
  const options = storeOptions(flags);
  const { openStore } = require('../lambdas/adapters/open-store') as typeof import('../lambdas/adapters/open-store');
  const store = openStore(flags.store, options);
  await store.check();
  const report = await collectGarbage(store, { nowMs: Date.now(), graceMs, dryRun: flags.dryRun === true });
  for (const f of report.failures) process.stderr.write(`cannot delete ${f.key}: ${f.error}\n`);
  if (flags.json) printJson({ store: store.location, grace_ms: graceMs, ...report, failed: report.failures.length });
  else process.stdout.write(describeGc(store.location, report));
  if (report.failures.length > 0) process.exitCode = EXIT.incomplete;
}

export function describeGc(location: string, r: GcReport): string {
  const verb = r.dry_run ? 'would delete' : 'deleted';
  return (
    [
      `gc of ${location}: ${verb} ${r.deleted} leftovers (${formatBytes(r.bytes)})`,
      ...r.deleted_keys.map((k) => `  ${k}`),
      `  kept ${r.kept_young} younger than the grace period, ${r.kept_unreadable} of shards with an unreadable manifest, ` +
        `${r.kept_unknown} unknown keys; ${r.referenced} committed objects`,
      ...(r.failures.length > 0 ? [`  ${r.failures.length} could not be deleted`] : []),
    ].join('\n') + '\n'
  );
}
