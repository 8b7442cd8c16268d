/**
 * The configuration (cdk.json context, as `cdk deploy` reads it) and the execution inputs of
 * `promvault run`, validated before any work. Shared by the local runner and the AWS path;
 * it loads no CDK code, so `run --aws` starts fast.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, PromvaultError } from '../../lambdas/core/errors';
import {
  backupRequestSchema,
  parseRunRequest,
  restoreRequestSchema,
  type BackupRequest,
  type RestoreRequest,
} from '../../lambdas/schemas/run-request';
import type { BackupInputSent, RestoreInputSent } from '../../lambdas/schemas/tasks';
import { CONTEXT_KEY, parseConfig, type PromvaultConfig } from '../../cdk/lib/config';

export type { BackupRequest, RestoreRequest } from '../../lambdas/schemas/run-request';

export const DEFAULT_CONTEXT_FILE = './cdk.json';

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

function checkSource(config: PromvaultConfig | undefined, name: string, flag: string): string {
  if (config !== undefined && !config.sources.some((s) => s.name === name))
    throw new InputError(
      `${flag} ${name} is not a configured source; configured: ${config.sources.map((s) => s.name).join(', ')}`,
    );
  return name;
}

/** The backup state machine's input; `config` (when known) must configure the source. */
export function backupInput(r: BackupRequest, config: PromvaultConfig | undefined, nowMs: number): BackupInputSent {
  const input = parseRunRequest(backupRequestSchema(nowMs), r);
  checkSource(config, input.source, '--source-name');
  return input;
}

/** The restore state machine's input; without --target the config must name restore.targetUrl. */
export function restoreInput(r: RestoreRequest, config: PromvaultConfig | undefined, nowMs: number): RestoreInputSent {
  // Restore reads whatever the store holds: a source need not be configured (any more).
  const input = parseRunRequest(restoreRequestSchema(nowMs), r);
  if (input.target === undefined && config !== undefined && config.restore.targetUrl === undefined)
    throw new InputError('--target is required: the configuration has no restore.targetUrl');
  return input;
}
