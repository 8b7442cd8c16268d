/**
 * Task state → in-process function. A Lambda task runs the same handler module its function
 * runs (`createHandler(deps)` of lambdas/handlers/*), chosen by the state's name through
 * handlerOfState(), with the function's own PROMVAULT_CONFIG from the template and a Lambda
 * context that times out like the function. Its errors reach the state machine as Lambda's do:
 * Error = the error's name, Cause = {"errorType","errorMessage","trace"} as JSON.
 */
import { randomUUID } from 'node:crypto';
import { InputError } from '../../lambdas/core/errors';
import type { ObjectStore } from '../../lambdas/core/ports';
import { parseRuntimeConfig, CONFIG_VARIABLE } from '../../lambdas/adapters/runtime-config';
import { HANDLERS, type RuntimeConfig } from '../../lambdas/handlers/contracts';
import type { HandlerDeps } from '../../lambdas/handlers/deps';
import type { LambdaContext } from '../../lambdas/handlers/middleware';
import { getJson } from '../../lambdas/handlers/io';
import * as planBackup from '../../lambdas/handlers/plan-backup';
import * as backupShard from '../../lambdas/handlers/backup-shard';
import * as commitBackup from '../../lambdas/handlers/commit-backup';
import * as planRestore from '../../lambdas/handlers/plan-restore';
import * as thaw from '../../lambdas/handlers/thaw';
import * as restoreShard from '../../lambdas/handlers/restore-shard';
import * as report from '../../lambdas/handlers/report';
import { handlerOfState } from '../../cdk/lib/constructs/workflow-parts';
import { allStates, dropField, type LocalDefinition, type StandIn } from './asl';
import type { TaskFn } from './runner';
import { functionIdOfArn, functionInfo, type FunctionInfo, type Json, type TokenResolver } from './tokens';

export type HandlerRole = keyof typeof HANDLERS;
export type Invocable = (event: unknown, context: LambdaContext) => Promise<unknown>;

const FACTORIES: Readonly<Record<HandlerRole, (deps: HandlerDeps) => unknown>> = {
  planBackup: planBackup.createHandler,
  backupShard: backupShard.createHandler,
  commitBackup: commitBackup.createHandler,
  planRestore: planRestore.createHandler,
  thaw: thaw.createHandler,
  restoreShard: restoreShard.createHandler,
  report: report.createHandler,
};

const LAMBDA_INVOKE = /^arn:[a-z-]+:states:::lambda:invoke$/;

/** An error as a Lambda function reports it to Step Functions. */
export class LambdaFunctionError extends Error {
  constructor(readonly original: unknown) {
    const e = original instanceof Error ? original : new Error(String(original));
    super(JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') }));
    this.name = e.name;
  }
}

/** Step Functions passes at most 256 KiB between states. */
export const MAX_STATE_BYTES = 256 * 1024;

/**
 * A result too large for the state, as Step Functions fails it: States.DataLimitExceeded, which
 * neither Retry nor Catch (not even States.ALL) handles. The library honours these two flags.
 */
export class DataLimitExceededError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(message: string) {
    super(message);
    this.name = 'States.DataLimitExceeded';
  }
}

/** The function's PROMVAULT_CONFIG, parsed by the same code the Lambda runs. */
export function functionConfig(fn: FunctionInfo): RuntimeConfig {
  return parseRuntimeConfig(fn.environment[CONFIG_VARIABLE]);
}

export interface BindOptions {
  readonly local: LocalDefinition;
  readonly resolver: TokenResolver;
  /** The deps a function's handler gets, given what the template says about the function. */
  readonly depsFor: (fn: FunctionInfo, role: HandlerRole) => HandlerDeps;
  /** The store the ItemReader stand-in reads from, and what the template's bucket/prefix map to. */
  readonly store: ObjectStore;
  readonly bucket: string;
  readonly prefix: string;
  /** A function's handler as deployed (its bundle), instead of its handler module made with depsFor. */
  readonly bundledHandler?: (fn: FunctionInfo) => Invocable;
}

function lambdaContext(fn: FunctionInfo): LambdaContext & Record<string, unknown> {
  const deadline = Date.now() + fn.timeoutSeconds * 1000;
  return {
    awsRequestId: randomUUID(),
    functionName: fn.logicalId,
    functionVersion: '$LATEST',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Lambda passes JSON: what goes in and out is serialized and parsed, as on AWS. */
const asJson = (value: unknown): Json => (value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json));

function invokeFunction(fn: FunctionInfo, role: HandlerRole, options: BindOptions): TaskFn {
  const bundled = options.bundledHandler?.(fn);
  return async (input) => {
    // A fresh handler per invocation, as each concurrent Lambda invocation gets its own container.
    const handler = bundled ?? (FACTORIES[role](options.depsFor(fn, role)) as Invocable);
    let result: unknown;
    try {
      result = await handler(asJson(input), lambdaContext(fn));
    } catch (err) {
      throw new LambdaFunctionError(err);
    }
    const text = JSON.stringify(result ?? null);
    if (Buffer.byteLength(text) > MAX_STATE_BYTES)
      throw new DataLimitExceededError(
        `${fn.logicalId} returned ${Buffer.byteLength(text)} bytes, more than the ${MAX_STATE_BYTES} a state may hold`,
      );
    return JSON.parse(text) as Json;
  };
}

function lambdaTask(state: string, resource: string, options: BindOptions): TaskFn | undefined {
  const role = handlerOfState(state);
  if (role === undefined) return undefined;
  const fnOf = (arn: string): FunctionInfo => {
    const id = functionIdOfArn(arn);
    if (id === undefined)
      throw new InputError(`Task state ${state} invokes ${arn}, not a Lambda function of the template`);
    const fn = functionInfo(options.resolver, id);
    const described = /^promvault (\w+)$/.exec(fn.description ?? '')?.[1];
    if (described !== undefined && described !== HANDLERS[role])
      throw new InputError(`Task state ${state} runs handler ${HANDLERS[role]} locally but invokes ${fn.description}`);
    return fn;
  };
  if (!LAMBDA_INVOKE.test(resource)) return invokeFunction(fnOf(resource), role, options);
  // The lambda:invoke integration sends {FunctionName, Payload} and answers {StatusCode, Payload}.
  return async (input) => {
    const o = (input ?? {}) as { FunctionName?: unknown; Payload?: Json };
    const fn = fnOf(String(o.FunctionName));
    const payload = await invokeFunction(fn, role, options)(o.Payload ?? null);
    return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: payload };
  };
}

function standInTask(name: string, standIn: StandIn, options: BindOptions): TaskFn {
  if (standIn.kind === 'dropItems') return async (input) => dropField(input, standIn.field);
  return async (input) => {
    const { Bucket, Key } = (input ?? {}) as { Bucket?: unknown; Key?: unknown };
    const prefix = options.prefix === '' ? '' : `${options.prefix}/`;
    if (Bucket !== options.bucket || typeof Key !== 'string' || !Key.startsWith(prefix))
      throw new InputError(
        `${name}: the ItemReader of ${standIn.map} reads s3://${String(Bucket)}/${String(Key)}, outside the archive ` +
          `(s3://${options.bucket}/${prefix}) that the local store ${options.store.location} stands for`,
      );
    const items = await getJson(options.store, Key.slice(prefix.length));
    if (!Array.isArray(items))
      throw new InputError(`${name}: ${Key} in ${options.store.location} is not a JSON array of items`);
    return (standIn.maxItems !== undefined ? items.slice(0, standIn.maxItems) : items) as Json;
  };
}

/** A function for every Task state of the localized definition that promvault knows how to run. */
export function bindTasks(options: BindOptions): Record<string, TaskFn> {
  const tasks: Record<string, TaskFn> = {};
  for (const [name, state] of allStates(options.local.definition)) {
    if (state.Type !== 'Task') continue;
    const standIn = options.local.standIns[name];
    const fn = standIn ? standInTask(name, standIn, options) : lambdaTask(name, String(state.Resource), options);
    if (fn !== undefined) tasks[name] = fn;
  }
  return tasks;
}
