/**
 * The one retry policy for a shard that failed transiently. The state machines' Retry on every
 * Task (cdk/lib/constructs/workflow-parts.ts) and the CLI's per-shard retries (backup, restore)
 * both read SHARD_RETRY, so a shard gets the same second chances on AWS and on a laptop.
 */
import { SourceUnavailableError, TargetUnavailableError, TransientError } from './errors';
import { sleep } from './time';

export interface ShardRetryPolicy {
  /** Error names retried, matched exactly as Step Functions matches them (not by subclass). */
  readonly errors: readonly string[];
  /** Cap of the first wait; each later cap is backoffRate times the previous, up to maxDelayMs. */
  readonly intervalMs: number;
  readonly backoffRate: number;
  /** Retries after the first attempt (Step Functions' MaxAttempts): 6 means at most 7 attempts. */
  readonly maxAttempts: number;
  readonly maxDelayMs: number;
  /** Full jitter: each wait is uniform in [0, cap], so parallel shards do not retry in lock step. */
  readonly jitter: 'full';
}

/**
 * Transient faults of the core's ports: the source or the target down, slow or overloaded (5xx,
 * 429, timeouts, resets), and the store's equivalents (TransientError). Bad input and a source
 * or target that refuses are permanent: retrying would fail the same way.
 */
export const SHARD_RETRY: ShardRetryPolicy = {
  errors: [TransientError.name, SourceUnavailableError.name, TargetUnavailableError.name],
  intervalMs: 2_000,
  backoffRate: 2,
  maxAttempts: 6,
  maxDelayMs: 60_000,
  jitter: 'full',
};

/** The policy with another number of retries (the CLI's --retries). */
export function withMaxAttempts(policy: ShardRetryPolicy, maxAttempts: number): ShardRetryPolicy {
  return { ...policy, maxAttempts };
}

export function isRetried(policy: ShardRetryPolicy, err: unknown): boolean {
  return err instanceof Error && policy.errors.includes(err.name);
}

/** The wait before retry number `retry` (0 for the first), with full jitter. */
export function retryDelayMs(policy: ShardRetryPolicy, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.intervalMs * policy.backoffRate ** retry);
  return Math.round(random() * cap);
}

export interface RetryHooks {
  readonly signal?: AbortSignal;
  /** Called before each wait: the error, the attempt that failed (1-based), the wait. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Runs `work` (given its attempt number, from 1) until it succeeds, fails with an error the
 * policy does not retry, or has failed 1 + maxAttempts times; then the last error is rethrown.
 */
export async function withRetries<T>(
  policy: ShardRetryPolicy,
  work: (attempt: number) => Promise<T>,
  hooks: RetryHooks = {},
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await work(retry + 1);
    } catch (err) {
      if (retry >= policy.maxAttempts || !isRetried(policy, err) || hooks.signal?.aborted) throw err;
      const delayMs = retryDelayMs(policy, retry, hooks.random);
      hooks.onRetry?.(err, retry + 1, delayMs);
      await (hooks.sleep ?? sleep)(delayMs, hooks.signal);
    }
  }
}
