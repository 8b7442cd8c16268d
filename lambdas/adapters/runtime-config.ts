/**
 * The runtime configuration of every Lambda: JSON in the PROMVAULT_CONFIG variable, written by
 * the CDK stack, parsed and validated once per container. A bad value fails the first
 * invocation with an InputError naming the key and what to put there.
 */
import { InputError } from '../core/errors';
import { validateShardLength } from '../core/backup/plan';
import { validateSourceName } from '../core/shard';
import { formatSelector, parseSelector } from '../core/prom/selector';
import type { RuntimeConfig, RuntimeSource } from '../handlers/contracts';

export const CONFIG_VARIABLE = 'PROMVAULT_CONFIG';

/** Values used when the JSON leaves an optional key out. */
export const CONFIG_DEFAULTS = {
  prefix: '',
  inlinePlanLimit: 500,
  restore: { concurrency: 4, batchSamples: 5000, thawTier: 'Bulk', thawDays: 7 },
} as const;

const THAW_TIERS = ['Standard', 'Bulk', 'Expedited'] as const;

type Json = Record<string, unknown>;

class Reader {
  constructor(
    private readonly obj: Json,
    private readonly path: string,
  ) {}

  private fail(key: string, what: string): InputError {
    return new InputError(`invalid ${CONFIG_VARIABLE}: ${this.at(key)} ${what}`);
  }

  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  string(key: string, fallback?: string): string {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'string') throw this.fail(key, `is ${describe(v)}: expected a string`);
    return v;
  }

  optionalString(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.string(key);
    if (v === '') throw this.fail(key, 'is empty: leave it out or give a value');
    return v;
  }

  int(key: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw this.fail(key, `is ${describe(v)}: expected a whole number from ${min} to ${max}`);
    }
    return v;
  }

  url(key: string, value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw this.fail(key, `${JSON.stringify(value)} is not a URL: expected http(s)://host:port/path`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw this.fail(key, `${value} must be an http:// or https:// URL`);
    return value;
  }

  stringArray(key: string, fallback?: readonly string[]): string[] {
    const v = this.obj[key] ?? fallback;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw this.fail(key, `is ${describe(v)}: expected an array of strings`);
    }
    return v as string[];
  }

  object(key: string, fallback?: Json): Reader {
    const v = this.obj[key] ?? fallback;
    if (!isObject(v)) throw this.fail(key, `is ${describe(v)}: expected an object`);
    return new Reader(v, this.at(key));
  }

  wrap<T>(key: string, parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (err instanceof InputError) throw this.fail(key, `is invalid: ${err.message}`);
      throw err;
    }
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

function parseSource(r: Reader): RuntimeSource {
  const name = r.wrap('name', () => validateSourceName(r.string('name')));
  const remoteReadUrls = r.stringArray('remoteReadUrls').map((u, i) => r.url(`remoteReadUrls[${i}]`, u));
  if (remoteReadUrls.length === 0) {
    throw new InputError(
      `invalid ${CONFIG_VARIABLE}: ${r.at('remoteReadUrls')} is empty: list at least one remote-read URL`,
    );
  }
  // Canonical selectors, so shard keys do not depend on how the selector was typed.
  const selectors = r
    .stringArray('selectors', [])
    .map((s, i) => r.wrap(`selectors[${i}]`, () => formatSelector(parseSelector(s))));
  const credentialsSecretName = r.optionalString('credentialsSecretName');
  const shardLengthMs = r.wrap('shardLengthMs', () =>
    validateShardLength(r.int('shardLengthMs', 1, Number.MAX_SAFE_INTEGER), 'shard length'),
  );
  return {
    name,
    remoteReadUrls,
    selectors,
    ...(credentialsSecretName !== undefined ? { credentialsSecretName } : {}),
    shardLengthMs,
    lagMs: r.int('lagMs', 0, 366 * 86_400_000),
    initialLookbackMs: r.int('initialLookbackMs', 1, 100 * 366 * 86_400_000),
  };
}

/** Parses the JSON text of PROMVAULT_CONFIG; throws InputError naming the key that is wrong. */
export function parseRuntimeConfig(text: string | undefined): RuntimeConfig {
  if (text === undefined || text.trim() === '') {
    throw new InputError(
      `${CONFIG_VARIABLE} is not set: the CDK stack sets it on every function; set it to the runtime config JSON`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${CONFIG_VARIABLE} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(doc)) throw new InputError(`${CONFIG_VARIABLE} must be a JSON object`);
  const r = new Reader(doc, '');
  const bucket = r.string('bucket');
  if (bucket === '') throw new InputError(`invalid ${CONFIG_VARIABLE}: bucket is empty: give the backup bucket's name`);
  const prefix = r
    .string('prefix', CONFIG_DEFAULTS.prefix)
    .split('/')
    .filter((s) => s !== '')
    .join('/');

  const rawSources = doc['sources'];
  if (!Array.isArray(rawSources))
    throw new InputError(`invalid ${CONFIG_VARIABLE}: sources is ${describe(rawSources)}: expected an array`);
  const sources = rawSources.map((s, i) => {
    if (!isObject(s))
      throw new InputError(`invalid ${CONFIG_VARIABLE}: sources[${i}] is ${describe(s)}: expected an object`);
    return parseSource(new Reader(s, `sources[${i}]`));
  });
  const seen = new Set<string>();
  sources.forEach((s, i) => {
    if (seen.has(s.name))
      throw new InputError(
        `invalid ${CONFIG_VARIABLE}: sources[${i}].name ${s.name} is used twice: names must be unique`,
      );
    seen.add(s.name);
  });

  const rr = r.object('restore', {});
  const d = CONFIG_DEFAULTS.restore;
  const targetUrl = rr.optionalString('targetUrl');
  if (targetUrl !== undefined) rr.url('targetUrl', targetUrl);
  const targetSecretName = rr.optionalString('targetSecretName');
  const thawTier = rr.string('thawTier', d.thawTier);
  if (!(THAW_TIERS as readonly string[]).includes(thawTier)) {
    throw new InputError(
      `invalid ${CONFIG_VARIABLE}: restore.thawTier is ${JSON.stringify(thawTier)}: use one of ${THAW_TIERS.join(', ')}`,
    );
  }
  return {
    bucket,
    prefix,
    sources,
    restore: {
      ...(targetUrl !== undefined ? { targetUrl } : {}),
      ...(targetSecretName !== undefined ? { targetSecretName } : {}),
      concurrency: rr.int('concurrency', 1, 64, d.concurrency),
      batchSamples: rr.int('batchSamples', 1, 1_000_000, d.batchSamples),
      thawTier: thawTier as RuntimeConfig['restore']['thawTier'],
      thawDays: rr.int('thawDays', 1, 365, d.thawDays),
    },
    inlinePlanLimit: r.int('inlinePlanLimit', 0, 10_000, CONFIG_DEFAULTS.inlinePlanLimit),
  };
}

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
