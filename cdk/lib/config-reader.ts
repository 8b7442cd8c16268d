/**
 * Typed reads from untyped `cdk.json` context. Every read knows its key path, so a bad value
 * fails with the key named (`promvault.sources[0].shardLength`) and what to write instead.
 */
import { parseDuration } from '../../lambdas/core/time';

/** A bad configuration value; the message names the key and says how to fix it. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`cdk.json context ${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Reader {
  constructor(
    readonly key: string,
    readonly value: Json,
  ) {}

  fail(problem: string): never {
    throw new ConfigError(this.key, problem);
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** The reader of a field of this object; fails when this is not an object. */
  field(name: string): Reader {
    return new Reader(`${this.key}.${name}`, this.object()[name]);
  }

  object(): Record<string, Json> {
    if (!this.present) return {};
    if (!isObject(this.value)) this.fail(`expected an object ({...}), got ${JSON.stringify(this.value)}`);
    return this.value;
  }

  /** Fails on keys this version does not know: a typo must not silently fall back to a default. */
  onlyKeys(known: readonly string[]): this {
    const unknown = Object.keys(this.object()).filter((k) => !known.includes(k));
    if (unknown.length > 0) {
      this.fail(
        `unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')}: the known keys are ${known.join(', ')}`,
      );
    }
    return this;
  }

  items(): Reader[] {
    if (!this.present) return [];
    if (!Array.isArray(this.value)) this.fail(`expected a list ([...]), got ${JSON.stringify(this.value)}`);
    return this.value.map((v, i) => new Reader(`${this.key}[${i}]`, v));
  }

  string(fallback?: string): string {
    if (!this.present) {
      if (fallback === undefined) this.fail('is required');
      return fallback;
    }
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${JSON.stringify(this.value)}`);
    return this.value;
  }

  /** A string matching `pattern`; `hint` says what a valid value looks like. */
  matching(pattern: RegExp, hint: string, fallback?: string): string {
    const s = this.string(fallback);
    if (!pattern.test(s)) this.fail(`${JSON.stringify(s)} is not valid: ${hint}`);
    return s;
  }

  integer(fallback: number, min: number, max: number): number {
    if (!this.present) return fallback;
    const n = this.value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      this.fail(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(n)}`);
    }
    return n;
  }

  /** A whole number of days, or null/false to switch the step off. */
  optionalDays(fallback: number | null, min: number, max: number): number | null {
    if (this.value === null || this.value === false) return null;
    if (this.value === undefined) return fallback;
    return this.integer(0, min, max);
  }

  oneOf<T extends string>(choices: readonly T[], fallback: T): T {
    const s = this.string(fallback);
    const found = choices.find((c) => c.toLowerCase() === s.toLowerCase());
    if (found === undefined) this.fail(`${JSON.stringify(s)} is not one of ${choices.join(', ')}`);
    return found;
  }

  /** A Prometheus duration (`30s`, `5m`, `1h30m`) in milliseconds. */
  duration(fallback: string): number {
    const s = this.string(fallback);
    try {
      return parseDuration(s, this.key);
    } catch (err) {
      return this.fail((err as Error).message.replace(/^invalid \S+ /, ''));
    }
  }

  /** An http(s) URL, returned normalised. */
  httpUrl(): string {
    const s = this.string();
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return this.fail(`${JSON.stringify(s)} is not a URL: write it in full, e.g. http://prometheus.internal:9090`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') this.fail(`${s} must be an http:// or https:// URL`);
    return url.toString();
  }

  stringList(pattern: RegExp, hint: string): string[] {
    return this.items().map((item) => item.matching(pattern, hint));
  }
}
