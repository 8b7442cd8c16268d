/**
 * `promvault run backup|restore`: runs the backup or restore state machine, locally (default:
 * the synthesized definition through aws-local-stepfunctions, handlers in process) or on AWS
 * (--aws: StartExecution, then follow it). Configuration comes from the cdk.json context, as
 * for `cdk deploy`. Everything the user typed is checked before any work starts.
 */
import { Command, Option } from 'commander';
import { InputError } from '../lambdas/core/errors';
import { THAW_TIERS } from '../lambdas/core/restore/thaw';
import { formatIso, parseDuration } from '../lambdas/core/time';
import type { PromvaultConfig } from '../cdk/lib/config';
import {
  backupInput,
  configOf,
  DEFAULT_CONTEXT_FILE,
  readContext,
  restoreInput,
  type BackupRequest,
  type RestoreRequest,
} from './local-runner/inputs';
import { backupExecutionName, restoreExecutionName } from './local-runner/results';
import type { BackupRunResult, RestoreRunResult, RunProgress } from './local-runner/results';
import type { Detached } from './local-runner/aws';
import type { LocalLogLevel } from './local-runner/local-deps';
import { createProgress } from './progress';
import { formatBytes, formatCount, printJson } from './output';

export const BACKUP_ARN_ENV = 'PROMVAULT_BACKUP_STATE_MACHINE_ARN';
export const RESTORE_ARN_ENV = 'PROMVAULT_RESTORE_STATE_MACHINE_ARN';
const DEFAULT_STORE = './.promvault-store';
const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
/** Flags that only mean something for one mode. */
const LOCAL_ONLY = [
  'store',
  's3Endpoint',
  'region',
  'sourceUrl',
  'secretsFile',
  'fast',
  'logLevel',
  'bundled',
] as const;
const AWS_ONLY = ['stateMachineArn', 'executionName', 'pollInterval'] as const;

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Loaded on use: the local runner pulls in the CDK (seconds to load), which `--aws` does not
 * need. `require`, not `import()`: the bundle (scripts/build-cli.js) is CommonJS.
 */
const loadLocal = () => require('./local-runner/api') as typeof import('./local-runner/api');
const loadAws = () => require('./local-runner/aws') as typeof import('./local-runner/aws');

interface ModeFlags {
  local?: boolean;
  aws?: boolean;
  contextFile: string;
  store: string;
  s3Endpoint?: string;
  region?: string;
  secretsFile?: string;
  fast?: boolean;
  bundled?: boolean;
  logLevel: LocalLogLevel;
  stateMachineArn?: string;
  executionName?: string;
  pollInterval: string;
  dryRun?: boolean;
  json?: boolean;
}

interface BackupFlags extends ModeFlags {
  sourceName: string;
  sourceUrl?: string;
  from?: string;
  to?: string;
  force?: boolean;
}

interface RestoreFlags extends ModeFlags {
  from: string;
  to: string;
  match: string[];
  sourceName: string[];
  target?: string;
  thawTier?: (typeof THAW_TIERS)[number];
}

function modeOptions(cmd: Command, arnEnv: string): Command {
  return cmd
    .addOption(new Option('--local', 'run the synthesized state machine on this machine (default)').conflicts('aws'))
    .addOption(new Option('--aws', 'start the deployed state machine and follow it').conflicts('local'))
    .option('--context-file <file>', 'cdk.json whose context configures promvault', DEFAULT_CONTEXT_FILE)
    .option('--store <dir|s3://bucket/prefix>', 'local: where the backups are', DEFAULT_STORE)
    .option('--s3-endpoint <url>', 'local: S3-compatible endpoint for an s3:// store, e.g. http://127.0.0.1:4568')
    .option('--region <region>', 'local: AWS region of an s3:// store')
    .option('--secrets-file <file>', 'local: JSON of secret name → credentials, standing in for Secrets Manager')
    .option('--fast', 'local: retries and Wait states pause 10 ms / 100 ms instead of their ASL intervals')
    .option(
      '--bundled',
      'local: run the Lambda bundles `cdk deploy` uploads (synthesized with esbuild) in place of the sources',
    )
    .addOption(new Option('--log-level <level>', 'local: handler logs on stderr').choices(LOG_LEVELS).default('warn'))
    .addOption(
      new Option(
        '--state-machine-arn <arn>',
        `aws: the state machine (stack output ${arnEnv === BACKUP_ARN_ENV ? 'BackupStateMachineArn' : 'RestoreStateMachineArn'})`,
      ).env(arnEnv),
    )
    .option('--execution-name <name>', 'aws: execution name (default: derived from the input)')
    .option('--poll-interval <duration>', 'aws: time between two progress polls', '5s')
    .option('--dry-run', 'print the plan (mode, execution name, state machine input) and start nothing')
    .option('--json', 'print one JSON object as the last stdout line');
}

export function registerRunCommand(program: Command): void {
  const run = program.command('run').description('run the backup or restore state machine, locally or on AWS');

  modeOptions(
    run
      .command('backup')
      .description('back up one configured source: plan, back up shards, commit the checkpoint')
      .requiredOption('--source-name <name>', 'the source, as named in the configuration')
      .option('--from <time>', 'start: RFC3339, unix seconds or now-6h (default: the checkpoint)')
      .option('--to <time>', 'end, exclusive (default: now minus the source lag)')
      .option('--force', 're-pull shards that are already committed')
      .option('--source-url <url>', "local: use this Prometheus instead of the source's configured URL"),
    BACKUP_ARN_ENV,
  ).action(runBackupCommand);

  modeOptions(
    run
      .command('restore')
      .description('restore a range from the backups into a remote-write endpoint')
      .requiredOption('--from <time>', 'start: RFC3339, unix seconds or now-6h')
      .requiredOption('--to <time>', 'end (exclusive)')
      .option('--match <selector>', 'only series matching this selector; repeatable (any of them)', collect, [])
      .option('--source-name <name>', 'only this source; repeatable (default: every source)', collect, [])
      .option('--target <remote-write-url>', 'e.g. http://prometheus:9090/api/v1/write (default: restore.targetUrl)')
      .addOption(new Option('--thaw-tier <tier>', 'retrieval tier for archived shards').choices(THAW_TIERS)),
    RESTORE_ARN_ENV,
  ).action(runRestoreCommand);
}

/** Refuses flags given for the other mode; returns the config when the context file can be read. */
function checkMode(flags: ModeFlags, cmd: Command, aws: boolean): PromvaultConfig | undefined {
  const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
  const kebab = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const wrong = (aws ? [...LOCAL_ONLY] : [...AWS_ONLY]).filter(given);
  if (wrong.length > 0)
    throw new InputError(
      `${wrong.map(kebab).join(', ')} ${wrong.length > 1 ? 'are' : 'is'} for ${aws ? '--local' : '--aws'} runs`,
    );
  if (aws && !flags.stateMachineArn)
    throw new InputError(
      `--aws needs --state-machine-arn (or $${cmd.name() === 'backup' ? BACKUP_ARN_ENV : RESTORE_ARN_ENV}): ` +
        `the stack output ${cmd.name() === 'backup' ? 'BackupStateMachineArn' : 'RestoreStateMachineArn'}`,
    );
  // On AWS the configuration only validates the input: without a readable default cdk.json, skip it.
  if (aws && !given('contextFile')) {
    try {
      return configOf(readContext({ contextFile: flags.contextFile }));
    } catch (err) {
      if (err instanceof InputError && /cannot be read/.test(err.message)) return undefined;
      throw err;
    }
  }
  return configOf(readContext({ contextFile: flags.contextFile }));
}

function progressPrinter(label: string, enabled: boolean): { onProgress: (p: RunProgress) => void; stop: () => void } {
  const bar = createProgress(label, enabled);
  let started = false;
  return {
    onProgress: (p) => {
      if (p.total === undefined) return;
      if (!started) bar.start(p.total);
      started = true;
      bar.update(p.done, p.detail);
    },
    stop: () => started && bar.stop(),
  };
}

/** Ctrl-C while following an AWS execution stops following, not the execution. */
async function following<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function awsOptions(flags: ModeFlags, name: string, onProgress: (p: RunProgress) => void, signal: AbortSignal) {
  return {
    stateMachineArn: flags.stateMachineArn!,
    executionName: flags.executionName ?? name,
    exactName: flags.executionName !== undefined,
    pollMs: parseDuration(flags.pollInterval, '--poll-interval'),
    onProgress,
    signal,
  };
}

function localOptions(flags: ModeFlags, onProgress: (p: RunProgress) => void) {
  return {
    contextFile: flags.contextFile,
    store: flags.store,
    ...(flags.s3Endpoint !== undefined ? { s3Endpoint: flags.s3Endpoint } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
    ...(flags.secretsFile !== undefined ? { secretsFile: flags.secretsFile } : {}),
    fast: flags.fast === true,
    bundled: flags.bundled === true,
    logLevel: flags.logLevel,
    onProgress,
  };
}

function reportDetached(r: Detached, json: boolean): void {
  process.stderr.write(
    `stopped following; execution ${r.execution} keeps running ` +
      `(aws stepfunctions describe-execution --execution-arn ${r.execution})\n`,
  );
  if (json) printJson(r);
  process.exitCode = 130;
}

async function runBackupCommand(flags: BackupFlags, cmd: Command): Promise<void> {
  const aws = flags.aws === true;
  const config = checkMode(flags, cmd, aws);
  const nowMs = Date.now();
  const request: BackupRequest = {
    sourceName: flags.sourceName,
    ...(flags.from !== undefined ? { from: flags.from } : {}),
    ...(flags.to !== undefined ? { to: flags.to } : {}),
    ...(flags.force ? { force: true } : {}),
  };
  const input = backupInput(request, config, nowMs);
  if (flags.dryRun) return printRunPlan('backup', flags, backupExecutionName(input, nowMs), input);
  const progress = progressPrinter('backup', !flags.json);
  let result: BackupRunResult | Detached;
  try {
    if (aws) {
      const { runBackupOnAws, checkStateMachineArn } = loadAws();
      checkStateMachineArn(flags.stateMachineArn!, '--state-machine-arn');
      const name = backupExecutionName(input, nowMs);
      result = await following((signal) => runBackupOnAws(input, awsOptions(flags, name, progress.onProgress, signal)));
    } else {
      const { runBackupLocally } = loadLocal();
      result = await runBackupLocally({
        ...request,
        ...localOptions(flags, progress.onProgress),
        ...(flags.sourceUrl !== undefined ? { sourceUrl: flags.sourceUrl } : {}),
      });
    }
  } finally {
    progress.stop();
  }
  if ('detached' in result) return reportDetached(result, flags.json === true);
  for (const f of result.failures) process.stderr.write(`shard ${f.shard} failed: ${f.error}: ${f.message}\n`);
  const where = aws ? { state_machine_arn: flags.stateMachineArn } : { store: flags.store };
  if (flags.json) printJson({ ...result, ...where });
  else process.stdout.write(backupText(result, aws ? flags.stateMachineArn! : flags.store));
  if (result.status !== 'SUCCEEDED') process.exitCode = 1;
}

/** --dry-run: what would be started, and where; nothing is. */
function printRunPlan(what: 'backup' | 'restore', flags: ModeFlags, execution: string, input: object): void {
  const aws = flags.aws === true;
  if (aws) loadAws().checkStateMachineArn(flags.stateMachineArn!, '--state-machine-arn');
  const where = aws ? { state_machine_arn: flags.stateMachineArn! } : { store: flags.store };
  if (flags.json) return printJson({ dry_run: true, mode: aws ? 'aws' : 'local', execution, input, ...where });
  process.stdout.write(
    `${what} plan (${aws ? 'aws' : 'local'}, ${aws ? where.state_machine_arn : `store ${flags.store}`}): ` +
      `execution ${execution} with input ${JSON.stringify(input)} (nothing started: --dry-run)\n`,
  );
}

function backupText(r: BackupRunResult, where: string): string {
  const range = r.from_ms !== null && r.to_ms !== null ? ` [${formatIso(r.from_ms)}, ${formatIso(r.to_ms)})` : '';
  const n = (v: number | null, f: (x: number) => string) => (v === null ? 'unknown' : f(v));
  return (
    [
      `backup of ${r.source}${range} (${r.mode}, execution ${r.execution} of ${where}): ${r.status}`,
      `  shards     ${r.shards}: ${r.committed} committed${r.skipped !== undefined ? ` (${r.skipped} of them before this run)` : ''}, ${r.failed} failed`,
      `  samples    ${n(r.samples, formatCount)}`,
      `  stored     ${n(r.stored_bytes, formatBytes)}`,
      `  checkpoint ${r.checkpoint_ms === null ? '(not set)' : formatIso(r.checkpoint_ms)}`,
      `  took       ${r.seconds.toFixed(1)} s`,
      ...(r.status === 'FAILED' ? [`  error      ${r.error ?? 'Error'}: ${r.message ?? ''}`] : []),
    ].join('\n') + '\n'
  );
}

async function runRestoreCommand(flags: RestoreFlags, cmd: Command): Promise<void> {
  const aws = flags.aws === true;
  const config = checkMode(flags, cmd, aws);
  const nowMs = Date.now();
  const request: RestoreRequest = {
    from: flags.from,
    to: flags.to,
    match: flags.match,
    sourceNames: flags.sourceName,
    ...(flags.target !== undefined ? { target: flags.target } : {}),
    ...(flags.thawTier !== undefined ? { thawTier: flags.thawTier } : {}),
  };
  const input = restoreInput(request, config, nowMs);
  if (flags.dryRun) return printRunPlan('restore', flags, restoreExecutionName(input), input);
  const progress = progressPrinter('restore', !flags.json);
  let result: RestoreRunResult | Detached;
  try {
    if (aws) {
      const { runRestoreOnAws, checkStateMachineArn } = loadAws();
      checkStateMachineArn(flags.stateMachineArn!, '--state-machine-arn');
      const name = restoreExecutionName(input);
      result = await following((signal) =>
        runRestoreOnAws(input, awsOptions(flags, name, progress.onProgress, signal)),
      );
    } else {
      const { runRestoreLocally } = loadLocal();
      result = await runRestoreLocally({ ...request, ...localOptions(flags, progress.onProgress) });
    }
  } finally {
    progress.stop();
  }
  if ('detached' in result) return reportDetached(result, flags.json === true);
  for (const f of result.failures) process.stderr.write(`shard ${f.shard} failed: ${f.error}: ${f.message}\n`);
  const where = aws ? { state_machine_arn: flags.stateMachineArn } : { store: flags.store };
  if (flags.json) printJson({ ...result, ...where });
  else {
    process.stdout.write(
      `restore (${result.mode}, execution ${result.execution}): ${result.status}: ${result.restored}/${result.shards} shards, ` +
        `${formatCount(result.samples)} samples of ${formatCount(result.series)} shard-series in ${result.seconds.toFixed(1)} s` +
        (result.report_key ? `; report at ${result.report_key}` : '') +
        (result.status === 'FAILED' ? `\n  error ${result.error ?? 'Error'}: ${result.message ?? ''}` : '') +
        '\n',
    );
  }
  if (result.status !== 'SUCCEEDED') process.exitCode = 1;
}
