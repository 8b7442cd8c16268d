/**
 * Runs the synthesized backup and restore state machines on this machine:
 *
 *   cdk.json context ─► synthesizeTemplate ─► state machine definition (tokens resolved, tokens.ts)
 *     ─► local stand-ins (asl.ts) ─► aws-local-stepfunctions (runner.ts)
 *          with each Lambda Task bound to its handler module in process (bindings.ts),
 *          or to the function's synthesized esbuild bundle (bundled: true, bundles.ts)
 *
 * No orchestration is written here: change the CDK workflow and the local run changes with it.
 * Used by `promvault run … --local` (cli/run.ts) and by the demo (bin/demo.ts).
 */
import './in-process-signals';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsProvider } from '../../lambdas/adapters/secrets';
import { InputError } from '../../lambdas/core/errors';
import { requireSources } from '../../lambdas/core/manifest';
import type { Logger } from '../../lambdas/adapters/log';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { HttpQueryReader } from '../../lambdas/adapters/prometheus-query';
import type { BackupPlanOutput, CommitOutput, ReportOutput } from '../../lambdas/handlers/contracts';
import { STORE_DIR_VARIABLE, type HandlerDeps } from '../../lambdas/handlers/deps';
import type { RuntimeConfig } from '../../lambdas/handlers/contracts';
import { CONFIG_VARIABLE } from '../../lambdas/adapters/runtime-config';
import { parseStoreUrl } from '../../lambdas/adapters/open-store';
import { handlerOfState } from '../../cdk/lib/constructs/workflow-parts';
import type { PromvaultConfig } from '../../cdk/lib/config';
import { synthesizeTemplate } from '../../cdk/lib/synth';
import { localizeDefinition } from './asl';
import { bindTasks, functionConfig, type BindOptions, type HandlerRole } from './bindings';
import { loadBundledAssembly } from './bundles';
import {
  fileSecrets,
  localDeps,
  localRuntimeConfig,
  openLocalStore,
  sourceReadUrl,
  stderrLogger,
  type LocalLogLevel,
  type LocalStore,
} from './local-deps';
import {
  backupExecutionName,
  backupResult,
  caughtFailure,
  describeShard,
  restoreExecutionName,
  restoreResult,
  type BackupRunResult,
  type RestoreRunResult,
  type RunProgress,
  type ShardFailure,
} from './results';
import {
  asInputError,
  backupInput,
  configOf,
  readContext,
  restoreInput,
  type BackupRequest,
  type RestoreRequest,
} from './inputs';
export type { BackupRunResult, RestoreRunResult, RunProgress, ShardFailure } from './results';
import { executeLocally, type ExecutionEvent, type LocalExecution } from './runner';
import { storedBackup } from './summary';
import {
  functionIdOfArn,
  functionInfo,
  logicalIdOfOutput,
  stateMachineDefinition,
  TokenResolver,
  type CfnTemplate,
  type Json,
} from './tokens';

export const DEFAULT_STORE = './.promvault-store';
/** `fast`: retries and Wait states pause this long instead of their ASL intervals. */
export const FAST_RETRY_DELAY_MS = 10;
export const FAST_WAIT_MS = 100;

export interface LocalRunOptions {
  /** A cdk.json (its `context`) to read the configuration from; default ./cdk.json. */
  readonly contextFile?: string;
  /** The context itself (`{"promvault": {...}}`), instead of contextFile. */
  readonly context?: Record<string, unknown>;
  /** A directory or s3://bucket/prefix; default ./.promvault-store. */
  readonly store?: string;
  /** An S3-compatible endpoint for an s3:// store (s3rver, MinIO). */
  readonly s3Endpoint?: string;
  readonly region?: string;
  /** A ready client for an s3:// store (e.g. s3rver's, with its credentials); overrides s3Endpoint/region. */
  readonly s3Client?: S3Client;
  /** Retries and Wait states pause 10 ms / 100 ms instead of their ASL intervals (tests, demos). */
  readonly fast?: boolean;
  /** Every Retry pauses this long (ms), overriding `fast`. */
  readonly retryDelayMs?: number;
  /** Every Wait state pauses this long (ms), overriding `fast`. */
  readonly waitMs?: number;
  /** JSON file of secret name → credentials, standing in for Secrets Manager. */
  readonly secretsFile?: string;
  /** Handler logs (JSON lines on stderr); default 'warn'. Ignored when `log` is given. */
  readonly logLevel?: LocalLogLevel;
  readonly log?: Logger;
  readonly executionName?: string;
  readonly onProgress?: (progress: RunProgress) => void;
  readonly onEvent?: (event: ExecutionEvent) => void;
  /**
   * Check before the run that the --source-url Prometheus / the restore target answers, so an
   * unreachable one fails in seconds rather than after every retry; default true. Tests that
   * fake the network through `deps` turn it off.
   */
  readonly preflight?: boolean;
  /**
   * Run each function's synthesized esbuild bundle (what `cdk deploy` uploads) instead of its
   * handler module in process; the ports (store, remote read/write, secrets, logs) stay local.
   */
  readonly bundled?: boolean;
  /** Adjusts the deps each function's handler gets (tests inject faults here). */
  readonly deps?: (deps: HandlerDeps, fn: { readonly role: HandlerRole; readonly functionId: string }) => HandlerDeps;
  readonly signal?: AbortSignal;
}

/**
 * sourceName: the configured source to back up; from/to: RFC3339, unix seconds, now-6h, or ms
 * since the epoch (default: from the checkpoint to now − lag); force: re-pull committed shards.
 */
export interface LocalBackupOptions extends LocalRunOptions, BackupRequest {
  /** Replaces the source's remote-read URL (its credentials are then not used). */
  readonly sourceUrl?: string;
}

/**
 * from/to: the range; match: series selectors (any of them); sourceNames: only these sources;
 * target: remote-write URL (default: the config's restore.targetUrl).
 */
export interface LocalRestoreOptions extends LocalRunOptions, RestoreRequest {}

const templates = new Map<string, CfnTemplate>();

/** The stack's template for `context`, synthesized once per process and context. */
/** The bundles read their secrets from Secrets Manager, as in Lambda: a local file cannot stand in. */
function checkBundled(options: LocalRunOptions): void {
  if (options.bundled === true && options.secretsFile !== undefined)
    throw new InputError(
      '--bundled runs the functions as deployed, with secrets from Secrets Manager: leave out --secrets-file',
    );
}

export function templateFor(context: Record<string, unknown>): CfnTemplate {
  const key = JSON.stringify(context);
  let template = templates.get(key);
  if (template === undefined) {
    try {
      template = synthesizeTemplate(context) as CfnTemplate;
    } catch (err) {
      throw asInputError(err);
    }
    templates.set(key, template);
  }
  return template;
}

/** Tracks plan/commit/report outputs and shard outcomes from the execution's events. */
class Tracker {
  plan: Record<string, unknown> | undefined;
  commit: CommitOutput | undefined;
  report: ReportOutput | undefined;
  done = 0;
  skipped = 0;
  readonly failures: ShardFailure[] = [];

  constructor(private readonly onProgress?: (p: RunProgress) => void) {}

  private progress(detail: string) {
    const total = typeof this.plan?.shardCount === 'number' ? this.plan.shardCount : undefined;
    this.onProgress?.({
      ...(total !== undefined ? { total } : {}),
      done: this.done,
      failed: this.failures.length,
      detail,
    });
  }

  onEvent = (event: ExecutionEvent): void => {
    if (!('state' in event)) return;
    const role = handlerOfState(event.state.name);
    if (event.type === 'StateRetried' && (role === 'backupShard' || role === 'restoreShard')) {
      this.progress(`retrying ${describeShard(event.state.input)}`);
      return;
    }
    if (event.type !== 'StateExited' || role === undefined) return;
    const output = event.state.output as Record<string, unknown> | undefined;
    if (role === 'planBackup' || role === 'planRestore') {
      this.plan = output;
      this.progress('planned');
    } else if (role === 'backupShard' || role === 'restoreShard') {
      this.done++;
      const failure = caughtFailure(output);
      if (failure) this.failures.push(failure);
      if (output?.status === 'skipped') this.skipped++;
      const what = describeShard(event.state.input);
      this.progress(failure ? `FAILED ${what}: ${failure.error}` : `${what} ${String(output?.status ?? 'restored')}`);
    } else if (role === 'commitBackup') this.commit = output as unknown as CommitOutput;
    else if (role === 'report') this.report = output as unknown as ReportOutput;
  };
}

interface MachineRun {
  /** The stack output naming the state machine: BackupStateMachineArn or RestoreStateMachineArn. */
  readonly output: string;
  readonly input: Json;
  readonly executionName: string;
  readonly local: LocalStore;
  readonly secrets: SecretsProvider;
  readonly context: Record<string, unknown>;
  readonly config: PromvaultConfig;
  readonly options: LocalRunOptions;
  readonly sourceOverride?: { sourceName: string; sourceUrl: string };
}

async function runMachine(run: MachineRun): Promise<{ execution: LocalExecution; tracker: Tracker }> {
  if (run.options.bundled !== true) return runTemplate(run, templateFor(run.context));
  const assembly = await loadBundledAssembly(run.context, (template) => bundledEnvironment(run, template));
  const restoreStdout = stdoutToStderr(run.options.logLevel ?? 'warn');
  try {
    return await runTemplate(run, assembly.template, (fn) => {
      const handler = assembly.handlers.get(fn.logicalId);
      if (handler === undefined)
        throw new InputError(`function ${fn.logicalId} has no bundle in ${assembly.directory}`);
      return handler;
    });
  } finally {
    restoreStdout();
    assembly.dispose();
  }
}

/** What Lambda's environment would hold for this local run: the config the functions share, the store. */
function bundledEnvironment(run: MachineRun, template: CfnTemplate): Record<string, string | undefined> {
  const resolver = new TokenResolver(template, { stackName: run.config.stackName });
  const configs = new Set(
    Object.keys(template.Resources)
      .filter((id) => template.Resources[id]!.Type === 'AWS::Lambda::Function')
      .map((id) => JSON.stringify(localRuntimeConfig(functionConfig(functionInfo(resolver, id)), run.sourceOverride))),
  );
  if (configs.size !== 1)
    throw new InputError('--bundled: the functions of the template differ in PROMVAULT_CONFIG; run without --bundled');
  const config = JSON.parse([...configs][0]!) as RuntimeConfig;
  const url = parseStoreUrl(run.options.store ?? DEFAULT_STORE);
  const level = run.options.logLevel ?? 'warn';
  return {
    [CONFIG_VARIABLE]: JSON.stringify(
      url.kind === 's3' ? { ...config, bucket: url.bucket, prefix: url.prefix } : config,
    ),
    [STORE_DIR_VARIABLE]: url.kind === 'dir' ? path.resolve(url.path) : undefined,
    ...(run.options.s3Endpoint !== undefined ? { AWS_ENDPOINT_URL_S3: run.options.s3Endpoint } : {}),
    ...(run.options.region !== undefined ? { AWS_REGION: run.options.region } : {}),
    LOG_LEVEL: level === 'silent' ? 'error' : level,
  };
}

/**
 * A function's stdout is its log stream (JSON log lines and EMF metrics); locally, logs go to
 * stderr as the in-process handlers' do, metrics nowhere, and stdout stays the command's own.
 */
function stdoutToStderr(level: LocalLogLevel): () => void {
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    if (level !== 'silent' && !text.includes('"_aws":')) process.stderr.write(text);
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write;
  return () => {
    process.stdout.write = write;
  };
}

async function runTemplate(
  run: MachineRun,
  template: CfnTemplate,
  bundledHandler?: BindOptions['bundledHandler'],
): Promise<{ execution: LocalExecution; tracker: Tracker }> {
  const { options, local, config } = run;
  const machineId = logicalIdOfOutput(template, run.output);
  const bucketId = logicalIdOfOutput(template, 'BucketName');
  if (machineId === undefined) throw new InputError(`the synthesized stack has no output ${run.output}`);
  const resolver = new TokenResolver(template, {
    stackName: config.stackName,
    refs: bucketId === undefined ? {} : { [bucketId]: local.bucket },
  });
  const localDef = localizeDefinition(stateMachineDefinition(resolver, machineId), {
    taskTimeoutSeconds: (resource) => {
      const id = functionIdOfArn(resource);
      return id === undefined ? undefined : functionInfo(resolver, id).timeoutSeconds;
    },
  });
  const log = options.log ?? stderrLogger(options.logLevel ?? 'warn');
  const tasks = bindTasks({
    local: localDef,
    resolver,
    store: local.store,
    bucket: local.bucket,
    prefix: config.bucket.prefix,
    ...(bundledHandler ? { bundledHandler } : {}),
    depsFor: (fn, role) => {
      const config = localRuntimeConfig(functionConfig(fn), run.sourceOverride);
      const deps = localDeps({ config, local, secrets: run.secrets, log });
      return options.deps ? options.deps(deps, { role, functionId: fn.logicalId }) : deps;
    },
  });
  const tracker = new Tracker(options.onProgress);
  const execution = await executeLocally(localDef.definition, run.input, {
    tasks,
    executionName: run.executionName,
    stateMachineName: machineId,
    ...(options.retryDelayMs !== undefined || options.fast
      ? { retryDelayMs: options.retryDelayMs ?? FAST_RETRY_DELAY_MS }
      : {}),
    ...(options.waitMs !== undefined || options.fast ? { waitMs: options.waitMs ?? FAST_WAIT_MS } : {}),
    onEvent: (e) => {
      tracker.onEvent(e);
      options.onEvent?.(e);
    },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { execution, tracker };
}

const secondsOf = (e: LocalExecution) => (e.stoppedMs - e.startedMs) / 1000;

/** Backs up one configured source by running the synthesized backup state machine locally. */
export async function runBackupLocally(options: LocalBackupOptions): Promise<BackupRunResult> {
  const nowMs = Date.now();
  const context = readContext(options);
  const config = configOf(context);
  const input = backupInput(options, config, nowMs);
  const source = input.source;
  const override = options.sourceUrl === undefined ? undefined : { sourceName: source, sourceUrl: options.sourceUrl };
  const readUrl = override === undefined ? undefined : sourceReadUrl(override.sourceUrl);
  checkBundled(options);
  const secrets = fileSecrets(options.secretsFile);
  const secret = config.sources.find((s) => s.name === source)?.credentialsSecretName;
  if (override === undefined && secret !== undefined && options.bundled !== true) await secrets.credentials(secret);
  const local = openLocalStore(options.store ?? DEFAULT_STORE, options);
  const queryMode = config.sources.find((s) => s.name === source)?.mode === 'query';
  if (readUrl !== undefined && options.preflight !== false)
    await probe(queryMode ? options.sourceUrl! : readUrl, queryMode);
  templateFor(context); // a bad configuration fails before anything is written
  await local.store.check();

  const executionName = options.executionName ?? backupExecutionName(input, nowMs);
  const { execution, tracker } = await runMachine({
    output: 'BackupStateMachineArn',
    input: input as unknown as Json,
    executionName,
    local,
    secrets,
    context,
    config,
    options,
    ...(override ? { sourceOverride: override } : {}),
  });
  const plan = tracker.plan as BackupPlanOutput | undefined;
  const stored =
    execution.status === 'FAILED' && tracker.commit === undefined && plan !== undefined
      ? await storedBackup(local.store, source, plan.planKey).catch(() => undefined)
      : undefined;
  return backupResult({
    mode: 'local',
    execution: executionName,
    status: execution.status,
    source,
    seconds: secondsOf(execution),
    ...(plan ? { plan } : {}),
    ...(tracker.commit ? { commit: tracker.commit } : {}),
    ...(stored ? { stored } : {}),
    failures: tracker.failures,
    skipped: tracker.skipped,
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
  });
}

async function probe(url: string, queryMode: boolean): Promise<void> {
  try {
    const options = { url, timeoutMs: 30_000 };
    await (queryMode ? new HttpQueryReader(options) : new HttpRemoteReader(options)).probe();
  } catch (err) {
    throw new InputError(`--source-url ${url}: ${(err as Error).message.replace(/ Check --source.*$/s, '')}`, {
      cause: err,
    });
  }
}

/**
 * Fails fast when nothing answers at the remote-write URL: otherwise every shard would go
 * through the writer's retries and the state machine's before the run reports it. Any HTTP
 * answer will do (a GET on a remote-write endpoint is usually 405).
 */
async function reachable(url: string, what: string): Promise<void> {
  try {
    const res = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(15_000) });
    await res.body?.cancel();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new InputError(`${what} ${url} cannot be reached (${reason}): start the target or fix the URL`, {
      cause: err,
    });
  }
}

/** Restores a range from the store by running the synthesized restore state machine locally. */
export async function runRestoreLocally(options: LocalRestoreOptions): Promise<RestoreRunResult> {
  const nowMs = Date.now();
  const context = readContext(options);
  const config = configOf(context);
  const input = restoreInput(options, config, nowMs);
  const target = input.target ?? config.restore.targetUrl!;
  checkBundled(options);
  const secrets = fileSecrets(options.secretsFile);
  // The configured secret goes to the configured target's origin only (lambdas/handlers/io.ts targetCredentials).
  const { targetSecretName, targetUrl } = config.restore;
  if (
    options.bundled !== true &&
    targetSecretName !== undefined &&
    (targetUrl === undefined || new URL(targetUrl).origin === new URL(target).origin)
  )
    await secrets.credentials(targetSecretName);
  const local = openLocalStore(options.store ?? DEFAULT_STORE, options);
  // Read first: a store (or prefix) without promvault data is bad input, and nothing is created.
  await local.store.checkReadable();
  await requireSources(local.store, input.sources);
  if (options.preflight !== false)
    await reachable(target, input.target === undefined ? 'restore.targetUrl' : '--target');
  templateFor(context); // a bad configuration fails before anything is written
  await local.store.check(); // the run writes its plan and results into the store

  const executionName = options.executionName ?? restoreExecutionName(input);
  const { execution, tracker } = await runMachine({
    output: 'RestoreStateMachineArn',
    input: input as unknown as Json,
    executionName,
    local,
    secrets,
    context,
    config,
    options,
  });
  return restoreResult({
    mode: 'local',
    execution: executionName,
    status: execution.status,
    seconds: secondsOf(execution),
    ...(typeof tracker.plan?.runId === 'string' ? { runId: tracker.plan.runId } : {}),
    ...(tracker.report ? { report: tracker.report } : {}),
    failures: tracker.failures,
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
  });
}
