/** The small core steps the handlers rely on: fail-over, the run range, thaw and report aggregation. */
import { FailoverReader } from '../../../lambdas/core/backup/failover';
import { planRunRange } from '../../../lambdas/core/backup/plan-run';
import { thawObjects, type ArchiveStatus, type ArchiveThawer } from '../../../lambdas/core/restore/thaw';
import { aggregateRestore } from '../../../lambdas/core/restore/report';
import { SourceRejectedError, SourceUnavailableError } from '../../../lambdas/core/errors';
import { archiveStatusOf } from '../../../lambdas/adapters/s3-thaw';
import { emfDocument } from '../../../lambdas/adapters/emf';
import type { SeriesPiece } from '../../../lambdas/core/types';
import { FakeReader, HOUR, MINUTE, T0 } from './fixtures';

async function drain(it: AsyncIterable<SeriesPiece>): Promise<number> {
  let n = 0;
  for await (const p of it) n += p.timestamps.length;
  return n;
}

const window = { startMs: T0, endMs: T0 + HOUR };

describe('FailoverReader', () => {
  const down = (url: string) => new FakeReader(url, () => new SourceUnavailableError(`${url} answered 503`));

  it('reads from the first healthy replica and keeps preferring it', async () => {
    const a = down('a');
    const b = new FakeReader('b');
    const failovers: string[] = [];
    const reader = new FailoverReader([a, b], { onFailover: (from) => failovers.push(from) });
    expect(await drain(reader.read(window, []))).toBe(120);
    expect(reader.endpoint).toBe('b');
    expect(failovers).toEqual(['a']);
    await drain(reader.read(window, []));
    expect([a.calls, b.calls]).toEqual([1, 2]);
  });

  it('names every replica when all are unavailable', async () => {
    const reader = new FailoverReader([down('a'), down('b')]);
    const err = (await drain(reader.read(window, [])).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SourceUnavailableError);
    expect(err.message).toContain('a: a answered 503');
    expect(err.message).toContain('b: b answered 503');
  });

  it('does not fail over on a permanent rejection', async () => {
    const b = new FakeReader('b');
    const reader = new FailoverReader([new FakeReader('a', () => new SourceRejectedError('401')), b]);
    await expect(drain(reader.read(window, []))).rejects.toBeInstanceOf(SourceRejectedError);
    expect(b.calls).toBe(0);
  });

  it('does not switch replicas once a read has yielded data', async () => {
    const b = new FakeReader('b');
    const breaking = {
      endpoint: 'a',
      async *read(): AsyncGenerator<SeriesPiece> {
        yield { labels: [], timestamps: new Float64Array([T0]), values: new Float64Array([1]) };
        throw new SourceUnavailableError('connection reset');
      },
    };
    const reader = new FailoverReader([breaking, b]);
    await expect(drain(reader.read(window, []))).rejects.toThrow('connection reset');
    expect(b.calls).toBe(0);
  });
});

describe('planRunRange', () => {
  const base = { shardLengthMs: HOUR, lagMs: 5 * MINUTE, initialLookbackMs: 6 * HOUR };
  it.each([
    [
      'one whole window past the lag',
      { checkpointMs: T0, nowMs: T0 + HOUR + 5 * MINUTE },
      { fromMs: T0, toMs: T0 + HOUR },
    ],
    ['one ms short: empty', { checkpointMs: T0, nowMs: T0 + HOUR + 5 * MINUTE - 1 }, { fromMs: T0, toMs: T0 }],
    ['one ms over', { checkpointMs: T0, nowMs: T0 + HOUR + 5 * MINUTE + 1 }, { fromMs: T0, toMs: T0 + HOUR }],
    ['first run', { nowMs: T0 + 6 * HOUR }, { fromMs: T0, toMs: T0 + 5 * HOUR }],
    [
      'explicit from',
      { checkpointMs: T0, nowMs: T0 + 3 * HOUR, from: '2026-01-01T01:00:00Z' },
      { fromMs: T0 + HOUR, toMs: T0 + 2 * HOUR },
    ],
  ])('%s', (_name, input, expected) => {
    expect(planRunRange({ ...base, ...input })).toEqual(expected);
  });

  it('names the field of a bad time', () => {
    expect(() => planRunRange({ ...base, nowMs: T0, from: 'soon' })).toThrow(/invalid from "soon"/);
  });
});

describe('thawObjects', () => {
  it('requests only archived objects, once each, and counts the rest as pending', async () => {
    const states: Record<string, ArchiveStatus> = { a: 'readable', b: 'archived', c: 'restoring' };
    const requested: string[] = [];
    const thawer: ArchiveThawer = {
      status: async (k) => states[k]!,
      requestThaw: async (k) => {
        requested.push(k);
        return 'restoring';
      },
    };
    expect(await thawObjects(thawer, ['a', 'b', 'c', 'b'], { tier: 'Bulk', days: 1, concurrency: 2 })).toEqual({
      objects: 3,
      readable: 1,
      pending: 2,
      requested: 1,
    });
    expect(requested).toEqual(['b']);
  });

  it.each([
    [{ StorageClass: 'STANDARD' }, 'readable'],
    [{ StorageClass: 'STANDARD_IA' }, 'readable'],
    [{ StorageClass: 'GLACIER_IR' }, 'readable'],
    [{ StorageClass: 'GLACIER' }, 'archived'],
    [{ StorageClass: 'DEEP_ARCHIVE', Restore: 'ongoing-request="true"' }, 'restoring'],
    [
      { StorageClass: 'GLACIER', Restore: 'ongoing-request="false", expiry-date="Fri, 23 Dec 2026 00:00:00 GMT"' },
      'readable',
    ],
    [{ StorageClass: 'INTELLIGENT_TIERING', ArchiveStatus: 'ARCHIVE_ACCESS' }, 'archived'],
  ] as const)('S3 head %j is %s', (head, status) => {
    expect(archiveStatusOf(head)).toBe(status);
  });
});

describe('aggregateRestore', () => {
  it('sums restored shards and counts failed and silent ones as failed', () => {
    const r = aggregateRestore(
      'run',
      ['m1', 'm2', 'm3'],
      [
        {
          status: 'restored',
          manifest_key: 'm1',
          object_key: 'o1',
          series: 2,
          samples: 10,
          requests: 1,
          seconds: 1,
          finished_at: '',
        },
        { status: 'failed', manifest_key: 'm2', error_name: 'CorruptShardError', error: 'bad', finished_at: '' },
        {
          status: 'restored',
          manifest_key: 'other',
          object_key: 'o',
          series: 9,
          samples: 99,
          requests: 1,
          seconds: 1,
          finished_at: '',
        },
      ],
      T0,
    );
    expect(r).toMatchObject({ shards: 3, restored: 1, failed_shards: 2, samples: 10, series: 2 });
    expect(r.failures.map((f) => f.error_name)).toEqual(['CorruptShardError', 'NoResult']);
  });
});

describe('emfDocument', () => {
  it('declares the metrics under their namespace and dimension', () => {
    expect(
      emfDocument({
        namespace: 'Promvault',
        dimensions: { Source: 'prod' },
        metrics: [{ name: 'Samples', value: 5, unit: 'Count' }],
        timestampMs: T0,
      }),
    ).toEqual({
      _aws: {
        Timestamp: T0,
        CloudWatchMetrics: [
          { Namespace: 'Promvault', Dimensions: [['Source']], Metrics: [{ Name: 'Samples', Unit: 'Count' }] },
        ],
      },
      Source: 'prod',
      Samples: 5,
    });
  });
});
