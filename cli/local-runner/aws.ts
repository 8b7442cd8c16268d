/**
 * `promvault run … --aws`: starts the deployed state machine with StartExecution under a
 * deterministic name, then follows it (DescribeExecution, the execution history for the plan,
 * commit and report outputs and inline-Map shards, DescribeMapRun for a Distributed Map)
 * until it ends. Aborting `signal` (Ctrl-C) stops following; the execution goes on.
 */
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { InputError } from '../../lambdas/core/errors';
import {
  HANDLERS,
  type BackupInputSent as BackupInput,
  type BackupPlanOutput,
  type CommitOutput,
  type ReportOutput,
  type RestoreInputSent as RestoreInput,
} from '../../lambdas/handlers/contracts';
import {
  backupResult,
  caughtFailure,
  restoreResult,
  type BackupRunResult,
  type RestoreRunResult,
  type RunProgress,
  type ShardFailure,
} from './results';

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;
export const DEFAULT_POLL_MS = 5_000;
/** How many `-rN` names a repeated request may take before an explicit --execution-name is needed. */
const MAX_ATTEMPTS = 50;

export function checkStateMachineArn(arn: string, flag: string): { arn: string; region: string } {
  const m = STATE_MACHINE_ARN.exec(arn);
  if (m === null)
    throw new InputError(
      `${flag} ${JSON.stringify(arn)} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>); ` +
        'the stack outputs BackupStateMachineArn and RestoreStateMachineArn hold them',
    );
  return { arn, region: m[1]! };
}

export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

export interface AwsRunOptions {
  readonly stateMachineArn: string;
  /** The deterministic base name; a repeat of a finished request becomes `<name>-r2`, `-r3`, … */
  readonly executionName: string;
  /** The name is exactly this one (--execution-name): an existing execution with the same input is followed. */
  readonly exactName?: boolean;
  readonly client?: SFNClient;
  readonly pollMs?: number;
  readonly onProgress?: (progress: RunProgress) => void;
  /** Aborted: stop following (the execution keeps running). */
  readonly signal?: AbortSignal;
}

interface Started {
  readonly executionArn: string;
  readonly name: string;
}

const sameJson = (a: string | undefined, b: string) => {
  try {
    return JSON.stringify(JSON.parse(a ?? 'null')) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
};

async function start(client: SFNClient, options: AwsRunOptions, input: string): Promise<Started> {
  for (let attempt = 1; attempt <= (options.exactName ? 1 : MAX_ATTEMPTS); attempt++) {
    const suffix = attempt === 1 ? '' : `-r${attempt}`;
    const name = `${options.executionName.slice(0, 80 - suffix.length)}${suffix}`;
    try {
      // Same name and input as a running execution: Step Functions answers with that execution.
      const out = await client.send(
        new StartExecutionCommand({ stateMachineArn: options.stateMachineArn, name, input }),
      );
      return { executionArn: out.executionArn!, name };
    } catch (err) {
      if ((err as Error).name !== 'ExecutionAlreadyExists') throw err;
      if (!options.exactName) continue; // finished, or another input: this request's next attempt
      const executionArn = executionArnOf(options.stateMachineArn, name);
      const existing = await client.send(new DescribeExecutionCommand({ executionArn }));
      if (sameJson(existing.input, input)) return { executionArn, name };
      throw new InputError(
        `execution ${name} already exists with another input: choose another --execution-name or leave it out`,
      );
    }
  }
  throw new InputError(
    `${MAX_ATTEMPTS} executions named ${options.executionName}[-rN] exist already: pass --execution-name`,
  );
}

/** What the history says so far. */
export interface HistorySummary {
  plan?: Record<string, unknown>;
  commit?: CommitOutput;
  report?: ReportOutput;
  /** Shards finished in inline Maps (child executions of a Distributed Map are not in this history). */
  done: number;
  failures: ShardFailure[];
  mapRunArn?: string;
}

const SHARD_TASKS = new Set([HANDLERS.backupShard, HANDLERS.restoreShard].flatMap((n) => [n, `${n}FromS3`]));

function parse(text: string | undefined): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text ?? '') as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function summarizeHistory(events: readonly HistoryEvent[]): HistorySummary {
  const s: HistorySummary = { done: 0, failures: [] };
  for (const e of events) {
    if (e.mapRunStartedEventDetails?.mapRunArn) s.mapRunArn = e.mapRunStartedEventDetails.mapRunArn;
    const exit = e.stateExitedEventDetails;
    if (exit?.name === undefined) continue;
    const output = parse(exit.output);
    const name = exit.name;
    if (name === HANDLERS.planBackup || name === HANDLERS.planRestore) s.plan = output;
    else if (name === HANDLERS.commitBackup) s.commit = output as unknown as CommitOutput;
    else if (name === HANDLERS.report) s.report = output as unknown as ReportOutput;
    else if (SHARD_TASKS.has(name) && caughtFailure(output) === undefined) s.done++;
    else if (name.endsWith('Failed') && SHARD_TASKS.has(name.slice(0, -'Failed'.length))) {
      // The processor's Catch goes to <Task>Failed with the error at $.error.
      const failure = caughtFailure(output);
      if (failure) s.failures.push(failure);
      s.done++;
    }
  }
  return s;
}

async function history(client: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, includeExecutionData: true, nextToken }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export interface Followed {
  readonly execution: string;
  readonly description: DescribeExecutionCommandOutput;
  readonly summary: HistorySummary;
  /** Following stopped (Ctrl-C) while the execution was still running. */
  readonly detached: boolean;
}

async function follow(client: SFNClient, started: Started, options: AwsRunOptions): Promise<Followed> {
  for (;;) {
    const description = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    const summary = summarizeHistory(await history(client, started.executionArn));
    let done = summary.done;
    let total = typeof summary.plan?.shardCount === 'number' ? summary.plan.shardCount : undefined;
    if (summary.mapRunArn !== undefined) {
      const run = await client.send(new DescribeMapRunCommand({ mapRunArn: summary.mapRunArn }));
      const c = run.itemCounts;
      if (c) {
        done = (c.succeeded ?? 0) + (c.failed ?? 0) + (c.timedOut ?? 0) + (c.aborted ?? 0);
        total = c.total ?? total;
      }
    }
    options.onProgress?.({
      ...(total !== undefined ? { total } : {}),
      done,
      failed: summary.failures.length,
      detail: description.status ?? '',
    });
    const running = description.status === 'RUNNING' || description.status === 'PENDING_REDRIVE';
    if (!running || options.signal?.aborted)
      return { execution: started.executionArn, description, summary, detached: running };
    await sleep(options.pollMs ?? DEFAULT_POLL_MS, options.signal);
  }
}

function outcome(f: Followed) {
  const d = f.description;
  const status = d.status === 'SUCCEEDED' ? ('SUCCEEDED' as const) : ('FAILED' as const);
  const error =
    d.status === 'TIMED_OUT' ? 'States.Timeout' : d.status === 'ABORTED' ? 'ExecutionAborted' : (d.error ?? undefined);
  const seconds = d.startDate && d.stopDate ? (d.stopDate.getTime() - d.startDate.getTime()) / 1000 : 0;
  return {
    mode: 'aws' as const,
    execution: f.execution,
    status,
    seconds,
    failures: f.summary.failures,
    ...(status === 'FAILED' && error !== undefined ? { error } : {}),
    ...(status === 'FAILED' && d.cause !== undefined ? { cause: d.cause } : {}),
  };
}

export type Detached = {
  readonly mode: 'aws';
  readonly execution: string;
  readonly status: 'RUNNING';
  readonly detached: true;
};

const detached = (f: Followed): Detached => ({
  mode: 'aws',
  execution: f.execution,
  status: 'RUNNING',
  detached: true,
});

function clientFor(options: AwsRunOptions): SFNClient {
  return (
    options.client ??
    new SFNClient({ region: checkStateMachineArn(options.stateMachineArn, '--state-machine-arn').region })
  );
}

export async function runBackupOnAws(input: BackupInput, options: AwsRunOptions): Promise<BackupRunResult | Detached> {
  const client = clientFor(options);
  const f = await follow(client, await start(client, options, JSON.stringify(input)), options);
  if (f.detached) return detached(f);
  const o = outcome(f);
  const commit =
    o.status === 'SUCCEEDED'
      ? ((parse(f.description.output) as unknown as CommitOutput) ?? f.summary.commit)
      : f.summary.commit;
  const plan = f.summary.plan as BackupPlanOutput | undefined;
  return backupResult({ ...o, source: input.source, ...(plan ? { plan } : {}), ...(commit ? { commit } : {}) });
}

export async function runRestoreOnAws(
  input: RestoreInput,
  options: AwsRunOptions,
): Promise<RestoreRunResult | Detached> {
  const client = clientFor(options);
  const f = await follow(client, await start(client, options, JSON.stringify(input)), options);
  if (f.detached) return detached(f);
  const runId = f.summary.plan?.runId;
  return restoreResult({
    ...outcome(f),
    ...(typeof runId === 'string' ? { runId } : {}),
    ...(f.summary.report ? { report: f.summary.report } : {}),
  });
}
