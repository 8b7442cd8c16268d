/**
 * Shared HTTP retry policy: exponential backoff with full jitter, honouring Retry-After,
 * for 5xx, 429, timeouts and connection resets. Callers classify responses; this only waits.
 */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 250, maxDelayMs: 30_000 };

export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export { sleep } from '../core/time';

/** Error codes of a connection that failed or broke (Node's net/dns and undici's). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const NETWORK_CODE_IN_MESSAGE = new RegExp(`\\b(${[...NETWORK_CODES].join('|')})\\b`);

interface MaybeNetworkError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/**
 * Network-level failures (refused, reset, DNS, timeout) that are worth retrying, as node:http,
 * fetch (undici) and the AWS SDK report them: a code on the error or its cause, a timeout or
 * abort by name, fetch's "fetch failed", the SDK's rewrapped text, or any of an AggregateError's.
 */
export function isNetworkError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as MaybeNetworkError;
  const cause = (e.cause !== null && typeof e.cause === 'object' ? e.cause : {}) as MaybeNetworkError;
  if (NETWORK_CODES.has(e.code as string) || NETWORK_CODES.has(cause.code as string)) return true;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.name === 'RequestTimeout') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.name === 'TypeError' && message.includes('fetch failed')) return true;
  // The SDK's retry middleware rewraps errors from another realm (e.g. under jest) as
  // "AWS SDK error wrapper for Error: connect ECONNREFUSED ...", keeping only the text.
  if (message.startsWith('AWS SDK error wrapper') && NETWORK_CODE_IN_MESSAGE.test(message)) return true;
  return Array.isArray(e.errors) && e.errors.some(isNetworkError);
}

export function describeNetworkError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(err);
}
