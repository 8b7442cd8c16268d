/**
 * The configuration (cdk.json context, as `cdk deploy` reads it) and the execution inputs of
 * `promvault run`, validated before any work. Shared by the local runner and the AWS path;
 * it loads no CDK code, so `run --aws` starts fast.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, PromvaultError } from '../../lambdas/core/errors';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { validateSourceName } from '../../lambdas/core/shard';
import { formatIso, parseTime } from '../../lambdas/core/time';
import type { BackupInput, RestoreInput } from '../../lambdas/handlers/contracts';
import { CONTEXT_KEY, parseConfig, type PromvaultConfig } from '../../cdk/lib/config';

export const DEFAULT_CONTEXT_FILE = './cdk.json';

export type Time = string | number;

/** ConfigError (a bad cdk.json value) prints as a message, like every PromvaultError. */
export function asInputError(err: unknown): unknown {
  if (err instanceof PromvaultError || !(err instanceof Error) || err.name !== 'ConfigError') return err;
  return new InputError(err.message, { cause: err });
}

/** The context of a cdk.json (or a bare context object) holding `promvault`. */
export function readContext(options: {
  context?: Record<string, unknown>;
  contextFile?: string;
}): Record<string, unknown> {
  if (options.context !== undefined) return options.context;
  const file = path.resolve(options.contextFile ?? DEFAULT_CONTEXT_FILE);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(`--context-file ${file} cannot be read as JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const o = (doc ?? {}) as { context?: unknown };
  const context = (typeof o.context === 'object' && o.context !== null ? o.context : doc) as Record<string, unknown>;
  if (typeof context !== 'object' || context === null || context[CONTEXT_KEY] === undefined)
    throw new InputError(`--context-file ${file} has no "${CONTEXT_KEY}" context: see docs/DEPLOY.md`);
  return context;
}

export function configOf(context: Record<string, unknown>): PromvaultConfig {
  try {
    return parseConfig(context[CONTEXT_KEY]);
  } catch (err) {
    throw asInputError(err);
  }
}

export function checkSource(config: PromvaultConfig | undefined, name: string, flag: string): string {
  validateSourceName(name);
  if (config !== undefined && !config.sources.some((s) => s.name === name))
    throw new InputError(
      `${flag} ${name} is not a configured source; configured: ${config.sources.map((s) => s.name).join(', ')}`,
    );
  return name;
}

/** A time option as the RFC3339 text the execution input carries; numbers are ms since the epoch. */
export function timeInput(value: Time, nowMs: number, flag: string): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new InputError(`${flag} ${value} is not a time in ms`);
    return formatIso(value);
  }
  return formatIso(parseTime(value, nowMs, flag));
}

export function checkHttpUrl(text: string, flag: string): string {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return text;
  } catch {
    // below
  }
  throw new InputError(
    `${flag} ${JSON.stringify(text)} is not an http(s) URL, e.g. http://prometheus:9090/api/v1/write`,
  );
}

export interface BackupRequest {
  readonly sourceName: string;
  readonly from?: Time;
  readonly to?: Time;
  readonly force?: boolean;
}

/** The backup state machine's input; `config` (when known) must configure the source. */
export function backupInput(r: BackupRequest, config: PromvaultConfig | undefined, nowMs: number): BackupInput {
  const input: BackupInput = {
    source: checkSource(config, r.sourceName, '--source-name'),
    ...(r.from !== undefined ? { from: timeInput(r.from, nowMs, '--from') } : {}),
    ...(r.to !== undefined ? { to: timeInput(r.to, nowMs, '--to') } : {}),
    ...(r.force ? { force: true } : {}),
  };
  if (input.from !== undefined && input.to !== undefined && Date.parse(input.from) >= Date.parse(input.to))
    throw new InputError(`--from ${input.from} is not before --to ${input.to}: swap them or widen the range`);
  return input;
}

export interface RestoreRequest {
  readonly from: Time;
  readonly to: Time;
  readonly match?: readonly string[];
  readonly sourceNames?: readonly string[];
  readonly target?: string;
  readonly thawTier?: 'Standard' | 'Bulk' | 'Expedited';
}

/** The restore state machine's input; without --target the config must name restore.targetUrl. */
export function restoreInput(r: RestoreRequest, config: PromvaultConfig | undefined, nowMs: number): RestoreInput {
  const from = timeInput(r.from, nowMs, '--from');
  const to = timeInput(r.to, nowMs, '--to');
  if (Date.parse(from) >= Date.parse(to))
    throw new InputError(`--from ${from} is not before --to ${to}: swap them or widen the range`);
  const selectors = [...(r.match ?? [])];
  for (const m of selectors) parseSelector(m);
  // Restore reads whatever the store holds: a source need not be configured (any more).
  const sources = (r.sourceNames ?? []).map((s) => checkSource(undefined, s, '--source-name'));
  if (r.target === undefined && config !== undefined && config.restore.targetUrl === undefined)
    throw new InputError('--target is required: the configuration has no restore.targetUrl');
  if (r.target !== undefined) checkHttpUrl(r.target, '--target');
  return {
    from,
    to,
    ...(selectors.length > 0 ? { selectors } : {}),
    ...(sources.length > 0 ? { sources } : {}),
    ...(r.target !== undefined ? { target: r.target } : {}),
    ...(r.thawTier !== undefined ? { thawTier: r.thawTier } : {}),
  };
}
