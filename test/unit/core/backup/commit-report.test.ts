import { MAX_LISTED_SHARDS, missingShardsMessage, runMetrics } from '../../../../lambdas/core/backup/commit-report';
import type { PlannedCommit } from '../../../../lambdas/core/backup/commit-plan';
import type { ShardManifest } from '../../../../lambdas/core/shard';

const NOW = Date.UTC(2024, 0, 2, 12);
const checkpoint = { source: 'prod', end_ms: NOW - 90_000, updated_at: new Date(NOW - 30_000).toISOString() };

function planned(over: Partial<PlannedCommit> = {}): PlannedCommit {
  return {
    checkpoint,
    committed: [{} as ShardManifest, {} as ShardManifest],
    missing: ['shards/prod/a'],
    samples: 1234,
    storedBytes: 567,
    ...over,
  };
}

describe('runMetrics', () => {
  it('reports shards, samples, bytes, duration, lag and checkpoint age', () => {
    expect(runMetrics(planned(), NOW, NOW - 4_000)).toEqual([
      { name: 'ShardsCommitted', value: 2, unit: 'Count' },
      { name: 'ShardsFailed', value: 1, unit: 'Count' },
      { name: 'Samples', value: 1234, unit: 'Count' },
      { name: 'StoredBytes', value: 567, unit: 'Bytes' },
      { name: 'DurationSeconds', value: 4, unit: 'Seconds' },
      { name: 'LagSeconds', value: 90, unit: 'Seconds' },
      { name: 'CheckpointAgeSeconds', value: 30, unit: 'Seconds' },
    ]);
  });

  it('leaves out what is not known: no plan time, no checkpoint, an unreadable update time', () => {
    const names = (p: PlannedCommit, plannedAt?: number) => runMetrics(p, NOW, plannedAt).map((m) => m.name);
    const always = ['ShardsCommitted', 'ShardsFailed', 'Samples', 'StoredBytes'];
    expect(names(planned({ checkpoint: undefined }))).toEqual(always);
    const unreadable = planned({ checkpoint: { ...checkpoint, updated_at: 'yesterday' } });
    expect(names(unreadable, NOW)).toEqual([...always, 'DurationSeconds', 'LagSeconds']);
  });
});

describe('missingShardsMessage', () => {
  it('names the missing shards, the run, the checkpoint and what happens next', () => {
    expect(missingShardsMessage({ source: 'prod', runId: 'r1', planned: 3, missing: ['k1', 'k2'], checkpoint })).toBe(
      '2 of 3 shards of source prod in run r1 were not backed up: k1, k2. The checkpoint is at ' +
        `${new Date(checkpoint.end_ms).toISOString().replace('.000Z', 'Z')}; the next run retries from there ` +
        '(the BackupShard logs name each shard’s error)',
    );
  });

  it('says when there is no checkpoint yet', () => {
    expect(
      missingShardsMessage({ source: 'prod', runId: 'r1', planned: 1, missing: ['k'], checkpoint: undefined }),
    ).toContain('The checkpoint is at (not set yet);');
  });

  it(`lists at most ${MAX_LISTED_SHARDS} keys and counts the rest`, () => {
    const missing = Array.from({ length: MAX_LISTED_SHARDS + 3 }, (_, i) => `k${i}`);
    const text = missingShardsMessage({ source: 'prod', runId: 'r1', planned: 30, missing, checkpoint: undefined });
    expect(text).toContain(`k${MAX_LISTED_SHARDS - 1} and 3 more.`);
    expect(text).not.toContain(`k${MAX_LISTED_SHARDS},`);
  });
});
