import { SourceRejectedError, SourceUnavailableError, TransientError } from '../../../lambdas/core/errors';
import { retryDelayMs, SHARD_RETRY, withMaxAttempts, withRetries } from '../../../lambdas/core/retry';

const noSleep = { sleep: () => Promise.resolve() };

describe('withRetries (SHARD_RETRY)', () => {
  it('retries a transient error up to maxAttempts times, then rethrows the last one', async () => {
    let calls = 0;
    const work = () => {
      calls++;
      return Promise.reject(new SourceUnavailableError(`down ${calls}`));
    };
    await expect(withRetries(SHARD_RETRY, work, noSleep)).rejects.toThrow('down 7');
    expect(calls).toBe(1 + SHARD_RETRY.maxAttempts);
  });

  it('returns the first success, with the attempt number given to the work', async () => {
    const seen: number[] = [];
    const value = await withRetries(
      SHARD_RETRY,
      (attempt) => {
        seen.push(attempt);
        return attempt < 3 ? Promise.reject(new TransientError('S3 503')) : Promise.resolve('ok');
      },
      noSleep,
    );
    expect(value).toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('never retries a permanent error, nor an error of another name', async () => {
    for (const err of [new SourceRejectedError('401'), new Error('bug')]) {
      let calls = 0;
      await expect(
        withRetries(
          SHARD_RETRY,
          () => {
            calls++;
            return Promise.reject(err);
          },
          noSleep,
        ),
      ).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });

  it('with 0 retries tries once', async () => {
    let calls = 0;
    const work = () => {
      calls++;
      return Promise.reject(new SourceUnavailableError('down'));
    };
    await expect(withRetries(withMaxAttempts(SHARD_RETRY, 0), work, noSleep)).rejects.toThrow('down');
    expect(calls).toBe(1);
  });
});

describe('retryDelayMs: full jitter under an exponential cap, as Step Functions waits', () => {
  it.each([
    [0, 2_000],
    [1, 4_000],
    [4, 32_000],
    [5, 60_000],
    [9, 60_000],
  ])('retry %i waits at most %i ms and at least 0', (retry, cap) => {
    expect(retryDelayMs(SHARD_RETRY, retry, () => 1)).toBe(cap);
    expect(retryDelayMs(SHARD_RETRY, retry, () => 0)).toBe(0);
    expect(retryDelayMs(SHARD_RETRY, retry, () => 0.5)).toBe(cap / 2);
  });
});
