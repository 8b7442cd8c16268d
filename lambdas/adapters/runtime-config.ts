/**
 * The runtime configuration of every Lambda, read from the environment once per container. A
 * bad value fails the first invocation with an InputError naming the key and what to put there;
 * the schema is lambdas/schemas/runtime-config.ts.
 */
import { InputError } from '../core/errors';
import {
  CONFIG_VARIABLE,
  parseRuntimeConfig,
  type RuntimeConfig,
  type RuntimeFederateSource,
  type RuntimeSource,
} from '../schemas/runtime-config';

export { CONFIG_VARIABLE, parseRuntimeConfig } from '../schemas/runtime-config';

/** The configured source called `name`; `field` names the input that asked for it. */
export function findSource(config: RuntimeConfig, name: string, field = 'source'): RuntimeSource {
  const source = config.sources.find((s) => s.name === name);
  if (source === undefined) {
    throw new InputError(
      `${field} ${JSON.stringify(name)} is not a configured source; configured: ${config.sources.map((s) => s.name).join(', ') || '(none)'}`,
    );
  }
  return source;
}

/** The configured federate-mode source called `name`. */
export function findFederateSource(config: RuntimeConfig, name: string): RuntimeFederateSource {
  const source = config.federateSources.find((s) => s.name === name);
  if (source === undefined) {
    throw new InputError(
      `source ${JSON.stringify(name)} is not a federate-mode source; configured: ${config.federateSources.map((s) => s.name).join(', ') || '(none)'} (set "mode": "federate" on it in cdk.json)`,
    );
  }
  return source;
}

/** Parses PROMVAULT_CONFIG on the first call and returns the same result (or error) after. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): () => RuntimeConfig {
  let parsed: { config: RuntimeConfig } | { error: unknown } | undefined;
  return () => {
    if (parsed === undefined) {
      try {
        parsed = { config: parseRuntimeConfig(env[CONFIG_VARIABLE]) };
      } catch (error) {
        parsed = { error };
      }
    }
    if ('error' in parsed) throw parsed.error;
    return parsed.config;
  };
}
