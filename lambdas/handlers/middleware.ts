/**
 * The middy chain every handler shares:
 *   logContext  - a logger with the run's context (runId, source, shard) on the Lambda context
 *   validate    - replaces the raw event by the typed input, or throws InputError naming the field
 *   errorLogger - logs the error's name and message (never the event: it may be large)
 * plus timeoutGuard, a middy plugin that aborts the handler's AbortSignal and fails with
 * ShardTimeoutError `marginMs` before Lambda's own timeout, so Step Functions sees a
 * retryable error instead of a killed function.
 */
import type middy from '@middy/core';
import type { Logger, LogFields } from '../adapters/log';
import { PromvaultError } from '../core/errors';
import { secrets } from '../core/redact';
import { ShardTimeoutError } from './errors';
import type { HandlerDeps } from './deps';
import type { Validator } from '../schemas/tasks';

export interface LambdaContext {
  readonly awsRequestId?: string;
  readonly functionName?: string;
  getRemainingTimeInMillis(): number;
}

/** The Lambda context as handlers see it: with the logger logContext put there. */
export interface HandlerContext extends LambdaContext {
  log: Logger;
}

/** middy's third handler argument: aborted when the timeout guard fires. */
export interface RunOptions {
  readonly signal: AbortSignal;
}

interface Internal {
  startedMs?: number;
}

type Request = middy.Request<unknown, unknown, Error, HandlerContext, Internal & Record<string, unknown>>;
type Middleware = middy.MiddlewareObj<unknown, unknown, Error, HandlerContext, Internal & Record<string, unknown>>;

/** runId, source and shard of any payload, for log lines written before (or without) validation. */
function contextFields(event: unknown): LogFields {
  if (typeof event !== 'object' || event === null) return {};
  const e = event as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const k of ['runId', 'source', 'executionId'] as const) if (typeof e[k] === 'string') out[k] = e[k];
  return out;
}

/** Only the scalar fields of a result: arrays of shards would flood the log. */
function summary(result: unknown): LogFields {
  if (typeof result !== 'object' || result === null) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result))
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
  return out;
}

function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error: 'Error', message: String(err) };
  const cause = err.cause instanceof Error ? { cause: `${err.cause.name}: ${err.cause.message}` } : {};
  return { error: err.name, message: err.message, ...cause };
}

export function logContext(name: string, deps: HandlerDeps): Middleware {
  return {
    before: (request: Request) => {
      request.internal.startedMs = deps.nowMs();
      request.context.log = deps.log.child({
        handler: name,
        requestId: request.context.awsRequestId,
        ...contextFields(request.event),
      });
    },
    after: (request: Request) => {
      // The result becomes state-machine state, which anyone with console access reads.
      request.response = secrets.value(request.response);
      const ms = deps.nowMs() - (request.internal.startedMs ?? deps.nowMs());
      request.context.log.info(`${name} done`, { ms, ...summary(request.response) });
    },
  };
}

/** Also adds the input's own log fields (e.g. the shard), known only once it is valid. */
export function validate<T>(validator: Validator<T>, fieldsOf?: (input: T) => LogFields): Middleware {
  return {
    before: (request: Request) => {
      const input = validator(request.event);
      request.event = input;
      if (fieldsOf) request.context.log = request.context.log.child(fieldsOf(input));
      request.context.log.info('start');
    },
  };
}

export function errorLogger(name: string, deps: HandlerDeps): Middleware {
  return {
    onError: (request: Request) => {
      const log = request.context.log ?? deps.log.child({ handler: name });
      const err = request.error;
      // Step Functions records the message as the failure's Cause.
      if (err instanceof Error) err.message = secrets.text(err.message);
      // PromvaultError messages say what to fix; anything else is a bug worth a stack.
      const stack = err instanceof PromvaultError || !(err instanceof Error) ? {} : { stack: err.stack };
      log.error(`${name} failed`, { ...errorFields(err), ...stack });
    },
  };
}

/** The chain in order: context first so even a validation error is logged with it. */
export function commonMiddleware<T>(
  name: string,
  deps: HandlerDeps,
  validator: Validator<T>,
  fieldsOf?: (input: T) => LogFields,
): Middleware[] {
  return [logContext(name, deps), errorLogger(name, deps), validate(validator, fieldsOf)];
}

/** What a payload is about, for the timeout message. */
function describeWork(event: unknown): string {
  const f = contextFields(event);
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const parts = [f.source && `source ${f.source}`, f.runId && `run ${f.runId}`];
  if (typeof e.startMs === 'number' && typeof e.endMs === 'number') {
    parts.push(`shard [${new Date(e.startMs).toISOString()}, ${new Date(e.endMs).toISOString()})`);
  }
  if (typeof e.manifestKey === 'string') parts.push(`shard ${e.manifestKey}`);
  return parts.filter(Boolean).join(', ');
}

/** A middy plugin: `middy(run, timeoutGuard(name, deps))`. */
export function timeoutGuard(name: string, deps: Pick<HandlerDeps, 'timeoutMarginMs'>): middy.PluginObject {
  // Lambda runs one invocation per container at a time, so the latest request is the one timing out.
  let current: { event: unknown } | undefined;
  const marginS = deps.timeoutMarginMs / 1000;
  return {
    timeoutEarlyInMillis: deps.timeoutMarginMs,
    // middy passes the request here, though its types declare no parameter.
    requestStart: ((request: { event: unknown }) => {
      current = request;
    }) as middy.PluginHook,
    timeoutEarlyResponse: () => {
      const what = describeWork(current?.event);
      throw new ShardTimeoutError(
        `${name}${what ? ` (${what})` : ''} was stopped ${marginS} s before the Lambda timeout; Step Functions retries it. ` +
          'If it keeps timing out, use a shorter shard length or give the function more memory/time',
      );
    },
  };
}
