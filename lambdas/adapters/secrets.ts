/**
 * HTTP credentials from Secrets Manager, cached for a lifetime (a rotated secret is picked up
 * within it) and re-read at once when a server refuses them. Secret values never reach a log
 * line or an error message: errors name the secret, never its content (JSON.parse's own message
 * quotes the text, so it is not passed on), and every value read is registered for redaction.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InputError, PermanentError, TransientError } from '../core/errors';
import { registerCredentials, type HttpCredentials } from './http-auth';

export type { HttpCredentials } from './http-auth';

export interface SecretsProvider {
  /** The credentials stored in the secret called `name`. */
  credentials(name: string): Promise<HttpCredentials>;
  /** Reads the secret again, past any cache: a server refused what `credentials` gave. */
  refresh?(name: string): Promise<HttpCredentials>;
}

/** A callback that re-reads secret `name` past the cache, when `provider` can. */
export function refresher(
  provider: SecretsProvider,
  name: string | undefined,
): (() => Promise<HttpCredentials>) | undefined {
  const refresh = provider.refresh?.bind(provider);
  return name === undefined || refresh === undefined ? undefined : () => refresh(name);
}

const SHAPES = '{"username","password"}, {"bearerToken"} or {"headers":{"Name":"value"}}';

/** Validates a secret's text as credentials; `name` is for messages only. */
export function parseCredentials(text: string, name: string): HttpCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError(`secret ${name} is not JSON: store ${SHAPES}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new InputError(`secret ${name} is not a JSON object: store ${SHAPES}`);
  const o = doc as Record<string, unknown>;
  const out: { basicAuth?: HttpCredentials['basicAuth']; bearerToken?: string; headers?: Record<string, string> } = {};
  if (o.username !== undefined || o.password !== undefined) {
    if (typeof o.username !== 'string' || typeof o.password !== 'string' || o.username === '') {
      throw new InputError(`secret ${name} needs both "username" and "password" as strings`);
    }
    out.basicAuth = { username: o.username, password: o.password };
  }
  if (o.bearerToken !== undefined) {
    if (typeof o.bearerToken !== 'string' || o.bearerToken === '')
      throw new InputError(`secret ${name} has a "bearerToken" that is not a non-empty string`);
    if (out.basicAuth)
      throw new InputError(`secret ${name} has both "username"/"password" and "bearerToken": keep one`);
    out.bearerToken = o.bearerToken;
  }
  if (o.headers !== undefined) {
    const h = o.headers;
    if (
      typeof h !== 'object' ||
      h === null ||
      Array.isArray(h) ||
      Object.values(h).some((v) => typeof v !== 'string')
    ) {
      throw new InputError(`secret ${name} has "headers" that is not an object of strings`);
    }
    out.headers = h as Record<string, string>;
  }
  if (!out.basicAuth && !out.bearerToken && !out.headers)
    throw new InputError(`secret ${name} holds no credentials: store ${SHAPES}`);
  return registerCredentials(out);
}

/** How long a secret read from Secrets Manager is used before it is read again. */
export const DEFAULT_SECRET_TTL_MS = 5 * 60_000;

export interface SecretsManagerCredentialsOptions {
  readonly client?: SecretsManagerClient;
  /** @default DEFAULT_SECRET_TTL_MS (5 minutes) */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** Secrets Manager answers in well under a second: bounds to connect and to answer (README, "Timeouts"). */
export const SECRETS_TIMEOUTS = { connectMs: 5_000, requestMs: 10_000 } as const;

/** A Secrets Manager client whose requests give up instead of hanging; `endpoint` for tests. */
export function createSecretsClient(options: { endpoint?: string; region?: string } = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    ...options,
    requestHandler: {
      connectionTimeout: SECRETS_TIMEOUTS.connectMs,
      requestTimeout: SECRETS_TIMEOUTS.requestMs,
      throwOnRequestTimeout: true,
    },
  });
}

export class SecretsManagerCredentials implements SecretsProvider {
  private readonly client: SecretsManagerClient;
  private readonly ttlMs: number;
  private readonly nowMs: () => number;
  private readonly cache = new Map<string, { readonly value: Promise<HttpCredentials>; readonly readAtMs: number }>();

  constructor(options: SecretsManagerCredentialsOptions = {}) {
    this.client = options.client ?? createSecretsClient();
    this.ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.nowMs = options.nowMs ?? Date.now;
  }

  credentials(name: string): Promise<HttpCredentials> {
    const cached = this.cache.get(name);
    if (cached !== undefined && this.nowMs() - cached.readAtMs < this.ttlMs) return cached.value;
    return this.refresh(name);
  }

  refresh(name: string): Promise<HttpCredentials> {
    const entry = { value: this.fetch(name), readAtMs: this.nowMs() };
    // A failed fetch is not cached: the next call tries again.
    entry.value.catch(() => {
      if (this.cache.get(name) === entry) this.cache.delete(name);
    });
    this.cache.set(name, entry);
    return entry.value;
  }

  private async fetch(name: string): Promise<HttpCredentials> {
    let text: string | undefined;
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const what = `cannot read secret ${name} from Secrets Manager (${e.name ?? 'Error'})`;
      if (e.name === 'ResourceNotFoundException')
        throw new PermanentError(`${what}: it does not exist; create it or fix the secret name in the config`);
      if (e.name === 'AccessDeniedException' || status === 403) {
        throw new PermanentError(
          `${what}: access denied; grant secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)`,
        );
      }
      if (status === undefined || status >= 500 || status === 429 || e.name === 'ThrottlingException') {
        throw new TransientError(`${what}; retrying later may help`);
      }
      throw new PermanentError(what);
    }
    if (text === undefined) throw new InputError(`secret ${name} has no value`);
    return parseCredentials(text, name);
  }
}
