/** How S3's answers map to exit codes, with a client that answers without a network. */
import type { S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../../lambdas/adapters/s3-store';
import { InputError, PermanentError } from '../../../lambdas/core/errors';
import { exitCodeOf } from '../../../cli/output';

const answering = (err: Error) => ({ send: () => Promise.reject(err) }) as unknown as S3Client;
const sdkError = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('S3Store errors a user fixes in --store or --region are bad input (exit 2)', () => {
  it.each([
    [
      'a bucket that does not exist',
      sdkError('NoSuchBucket', 404),
      'bucket typo does not exist: create it or fix --store',
    ],
    ['a bucket in another region', sdkError('PermanentRedirect', 301), 'is in another region: set --region'],
  ])('%s', async (_what, answer, message) => {
    const store = new S3Store({ bucket: 'typo', prefix: 'p', client: answering(answer) });
    for (const call of [() => store.checkReadable(), () => store.head('k')]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(message);
      expect(exitCodeOf(err)).toBe(2);
    }
  });

  it('access denied stays a failure of the environment (exit 1)', async () => {
    const store = new S3Store({ bucket: 'b', client: answering(sdkError('AccessDenied', 403)) });
    const err = await store.checkReadable().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).not.toBeInstanceOf(InputError);
    expect(exitCodeOf(err)).toBe(1);
  });
});
