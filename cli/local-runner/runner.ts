/**
 * Runs a localized ASL definition with aws-local-stepfunctions, every Task state overridden by
 * a local function (the library matches overrides by state name). A Task without a binding
 * is refused up front: the library would otherwise call the real Lambda in AWS.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { allStates, UnsupportedStateError } from './asl';
import type { Json } from './tokens';

export type ExecutionEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export type TaskFn = (input: Json) => Promise<Json>;

export interface LocalExecutionOptions {
  /** One function per Task state name, nested ones included. */
  readonly tasks: Readonly<Record<string, TaskFn>>;
  /** Context object: $$.Execution.Name and $$.StateMachine.Name. */
  readonly executionName: string;
  readonly stateMachineName: string;
  /** Every Retry waits this long instead of its IntervalSeconds/BackoffRate/jitter (tests). */
  readonly retryDelayMs?: number;
  /** Every Wait state waits this long instead of its Seconds (tests). */
  readonly waitMs?: number;
  readonly onEvent?: (event: ExecutionEvent) => void;
  readonly signal?: AbortSignal;
}

export interface LocalExecution {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Json;
  /** Error name as Step Functions reports it, e.g. ShardsFailedError or States.Timeout. */
  readonly error?: string;
  readonly cause?: string;
  readonly startedMs: number;
  readonly stoppedMs: number;
}

type JsonObject = { [key: string]: Json };

/** Retry and Wait overrides for every state that has one, keyed by state name as the library wants. */
export function timingOverrides(
  definition: JsonObject,
  options: Pick<LocalExecutionOptions, 'retryDelayMs' | 'waitMs'>,
): { retryIntervalOverrides: Record<string, number>; waitTimeOverrides: Record<string, number> } {
  const retryIntervalOverrides: Record<string, number> = {};
  const waitTimeOverrides: Record<string, number> = {};
  for (const [name, state] of allStates(definition)) {
    if (options.retryDelayMs !== undefined && Array.isArray(state.Retry))
      retryIntervalOverrides[name] = options.retryDelayMs;
    if (options.waitMs !== undefined && state.Type === 'Wait') waitTimeOverrides[name] = options.waitMs;
  }
  return { retryIntervalOverrides, waitTimeOverrides };
}

/** Fails naming every Task state without a local function. */
export function checkBindings(definition: JsonObject, tasks: Readonly<Record<string, TaskFn>>): void {
  const unbound = allStates(definition)
    .filter(([name, s]) => s.Type === 'Task' && tasks[name] === undefined)
    .map(([name]) => name);
  if (unbound.length > 0)
    throw new UnsupportedStateError(
      `Task state(s) ${unbound.join(', ')} have no local binding: the local runner binds the promvault handlers ` +
        '(cdk/lib/constructs/workflow-parts.ts handlerOfState) and its own stand-ins, nothing else',
    );
}

function errorOf(err: unknown): { error: string; cause: string } {
  // ExecutionError wraps the state's error: its name is what Retry/Catch matched on.
  const inner = err instanceof Error && err.name === 'ExecutionError' && err.cause instanceof Error ? err.cause : err;
  if (inner instanceof Error) {
    if (inner.name === 'ExecutionTimeoutError') return { error: 'States.Timeout', cause: inner.message };
    if (inner.name === 'ExecutionAbortedError') return { error: 'ExecutionAborted', cause: inner.message };
    return { error: inner.name, cause: inner.message };
  }
  return { error: 'Error', cause: String(inner) };
}

export async function executeLocally(
  definition: JsonObject,
  input: Json,
  options: LocalExecutionOptions,
): Promise<LocalExecution> {
  checkBindings(definition, options.tasks);
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  const startedMs = Date.now();
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: options.tasks, ...timingOverrides(definition, options) },
    context: {
      Execution: { Name: options.executionName, Id: `local:${options.stateMachineName}:${options.executionName}` },
      StateMachine: { Name: options.stateMachineName, Id: `local:${options.stateMachineName}` },
    },
  });
  const onAbort = () => execution.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const events = (async () => {
    for await (const event of execution.eventLogs) {
      try {
        options.onEvent?.(event);
      } catch {
        // A progress display must not break the run.
      }
    }
  })();
  try {
    const output = await execution.result;
    return { status: 'SUCCEEDED', output, startedMs, stoppedMs: Date.now() };
  } catch (err) {
    return { status: 'FAILED', ...errorOf(err), startedMs, stoppedMs: Date.now() };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await events;
  }
}
