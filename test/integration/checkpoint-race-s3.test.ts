/**
 * Issue 15, concurrency on S3: the checkpoint's conditional write (If-Match / If-None-Match) keeps
 * two runs of one source from moving it back or over a gap. s3rver ignores those headers (shown
 * below), so the races run through a proxy that enforces them as S3 does (harness/conditional-s3).
 */
import { S3Store } from '../../lambdas/adapters/s3-store';
import { commitCheckpoint, readCheckpoint } from '../../lambdas/core/backup/commit';
import { PreconditionFailedError } from '../../lambdas/core/errors';
import { hourOf, hours, raceCommits, RACE_T0, seedCheckpoint } from '../harness/checkpoint-race';
import { startConditionalProxy, type ConditionalProxy } from '../harness/conditional-s3';
import { s3rverClient, startS3rver, type S3rverHandle } from '../harness/s3rver';

const BUCKET = 'race';
let s3: S3rverHandle;
let proxy: ConditionalProxy;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  proxy = await startConditionalProxy(s3.endpoint, s3.client);
});

afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

const store = (prefix: string) => new S3Store({ bucket: BUCKET, prefix, client: s3rverClient(proxy.endpoint) });
const bytes = (s: string) => new TextEncoder().encode(s);

test('s3rver itself ignores If-None-Match on PutObject: why the proxy exists', async () => {
  const direct = new S3Store({ bucket: BUCKET, prefix: 'direct', client: s3.client });
  await direct.putIfMatch('x', bytes('1'), undefined);
  await expect(direct.putIfMatch('x', bytes('2'), undefined)).resolves.toBeDefined();
});

test('S3Store.putIfMatch: only when absent, only the expected version', async () => {
  const s = store('put-if-match');
  const first = await s.putIfMatch('x', bytes('1'), undefined);
  await expect(s.putIfMatch('x', bytes('2'), undefined)).rejects.toBeInstanceOf(PreconditionFailedError);
  const second = await s.putIfMatch('x', bytes('2'), first.etag);
  await expect(s.putIfMatch('x', bytes('3'), first.etag)).rejects.toBeInstanceOf(PreconditionFailedError);
  expect((await s.getVersioned('x'))?.etag).toBe(second.etag);
});

test('a run that read an older checkpoint does not move it back', async () => {
  const s = store('back');
  await seedCheckpoint(s, 'src', 2);
  const result = await raceCommits(
    s,
    'src',
    { planned: hours([2, 3], [3, 4]), committed: hours([2, 3], [3, 4]) },
    { planned: hours([2, 3], [3, 4]), committed: hours([2, 3]) },
  );
  expect(result).toEqual({ early: 4, late: 4, stored: 4 });
});

test('a run that read no checkpoint does not move it over a gap', async () => {
  const result = await raceCommits(
    store('gap'),
    'src',
    { planned: hours([0, 1], [1, 2]), committed: hours([0, 1], [1, 2]) },
    { planned: hours([3, 4]), committed: hours([3, 4]) },
  );
  expect(result).toEqual({ early: 2, late: 2, stored: 2 });
});

test('many runs at once: the checkpoint ends at the furthest contiguous end', async () => {
  const s = store('many');
  await seedCheckpoint(s, 'src', 1);
  const refusedBefore = proxy.refused();
  await Promise.all(
    [2, 7, 3, 9, 4, 5, 8, 6].map((end) =>
      commitCheckpoint(s, { source: 'src', planned: hours([1, end]), committed: hours([1, end]), nowMs: RACE_T0 }),
    ),
  );
  expect(hourOf((await readCheckpoint(s, 'src'))?.end_ms)).toBe(9);
  expect(proxy.refused()).toBeGreaterThan(refusedBefore);
});
