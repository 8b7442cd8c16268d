/**
 * The `promvault` context of cdk.json, parsed once into a typed, validated object. Pure: no
 * CDK, no AWS, no environment; a bad value throws ConfigError naming the key and the fix.
 * The schema, its defaults and the runtime mapping are lambdas/schemas/cdk-config.ts;
 * docs/DEPLOY.md documents every key.
 */
import { keyPath, parseOrThrow } from '../../lambdas/schemas/issues';
import { CONTEXT_KEY, promvaultConfigSchema, type PromvaultConfig } from '../../lambdas/schemas/cdk-config';

export {
  CONTEXT_KEY,
  FUNCTION_DEFAULTS,
  toRuntimeConfig,
  type BucketConfig,
  type FunctionRole,
  type FunctionSettings,
  type MonitoringConfig,
  type PromvaultConfig,
  type RestoreConfig,
  type SourceConfig,
  type VpcConfig,
} from '../../lambdas/schemas/cdk-config';
export type { ArchiveClass, ThawTier } from '../../lambdas/schemas/fields';

/** A bad configuration value; the message names each key and says how to fix it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const subject = (path: readonly PropertyKey[]) => `cdk.json context ${keyPath(path, CONTEXT_KEY)}`;

/** Parses the `promvault` context value. */
export function parseConfig(raw: unknown): PromvaultConfig {
  if (raw === undefined || raw === null)
    throw new ConfigError(
      `${subject([])}: is missing: add a "promvault" object to "context" in cdk.json (see docs/DEPLOY.md)`,
    );
  return parseOrThrow(promvaultConfigSchema, raw, subject, (message) => new ConfigError(message));
}
