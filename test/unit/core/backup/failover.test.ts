/** Failover between HA replicas: the first replica that can serve the whole window, checked. */
import { FailoverReader } from '../../../../lambdas/core/backup/failover';
import { compareLabels, compareStrings } from '../../../../lambdas/core/labels';
import { collect, labels, ScriptedReplica, series, WINDOW } from './replicas-fixtures';

const api = labels({ job: 'api' });
const full = (endpoint: string, oldestMs?: number) =>
  new ScriptedReplica(
    endpoint,
    [
      series(api, [
        [0, 1],
        [10, 2],
      ]),
    ],
    { oldestMs },
  );

describe('FailoverReader: can the replica serve the window?', () => {
  it('passes over a replica that is up but empty when the next one has series (issue 14, case 2)', async () => {
    const empty = new ScriptedReplica('empty', []);
    const skipped: string[] = [];
    const reader = new FailoverReader([empty, full('full')], { onSkip: (e) => skipped.push(e) });
    const { series: out, outcome } = await collect(reader);
    expect(out).toHaveLength(1);
    expect(outcome).toEqual({ pulledFrom: ['full'], missingReplicas: [], conflictingSamples: 0 });
    expect(skipped).toEqual(['empty']);
  });

  it('does not use a replica whose oldest sample is newer than the window start, even with data', async () => {
    const restarted = new ScriptedReplica('restarted', [series(api, [[500_000, 3]])], {
      oldestMs: WINDOW.startMs + 400_000,
    });
    const healthy = full('healthy', WINDOW.startMs - 1);
    const reasons: string[] = [];
    const reader = new FailoverReader([restarted, healthy], { onSkip: (e, why) => reasons.push(`${e}: ${why}`) });
    const { series: out, outcome } = await collect(reader);
    expect(out[0]!.samples).toHaveLength(2);
    expect(outcome!.pulledFrom).toEqual(['healthy']);
    expect(restarted.calls).toBe(0);
    expect(reasons).toEqual([
      'restarted: it holds samples only from 1970-01-01T00:23:20Z, after the window start 1970-01-01T00:16:40Z',
    ]);
    // A replica with an empty TSDB reports the largest int64 as its oldest sample.
    const emptyTsdb = new ScriptedReplica('fresh', [], { oldestMs: 9.223372036854776e18 });
    const again = await collect(new FailoverReader([emptyTsdb, full('b')]));
    expect(again.outcome!.pulledFrom).toEqual(['b']);
    expect(emptyTsdb.calls).toBe(0);
  });

  it('uses the replica reaching furthest back when none reaches the window start', async () => {
    const a = new ScriptedReplica('a', [series(api, [[900_000, 1]])], { oldestMs: WINDOW.startMs + 800_000 });
    const b = new ScriptedReplica(
      'b',
      [
        series(api, [
          [600_000, 1],
          [900_000, 1],
        ]),
      ],
      {
        oldestMs: WINDOW.startMs + 500_000,
      },
    );
    const { series: out, outcome } = await collect(new FailoverReader([a, b]));
    expect(outcome!.pulledFrom).toEqual(['b']);
    expect(out[0]!.samples).toHaveLength(2);
  });

  it('commits an empty answer as complete only when every other replica agrees', async () => {
    const both = await collect(new FailoverReader([new ScriptedReplica('a', []), new ScriptedReplica('b', [])]));
    expect(both.series).toEqual([]);
    expect(both.outcome).toEqual({ pulledFrom: ['a'], missingReplicas: [], conflictingSamples: 0 });

    const down = new ScriptedReplica('b', [], { failAfter: () => 0 });
    const unconfirmed = await collect(new FailoverReader([new ScriptedReplica('a', []), down]));
    expect(unconfirmed.series).toEqual([]);
    expect(unconfirmed.outcome).toEqual({ pulledFrom: ['a'], missingReplicas: ['b: b reset'], conflictingSamples: 0 });
  });

  it('drops replica labels so series keep one identity across fail-overs', async () => {
    const a = new ScriptedReplica('a', [series(labels({ job: 'api', replica: 'a' }), [[0, 1]])]);
    const { series: out } = await collect(new FailoverReader([a], { replicaLabels: ['replica'] }));
    expect(out[0]!.labels).toBe('__name__=up,job=api');
  });
});

describe('compareLabels', () => {
  it('orders strings by code point, as Prometheus (Go) does, not by UTF-16 unit', () => {
    // U+FF5E is below U+1F600 as a code point, above its surrogate pair as UTF-16 units.
    expect(compareStrings('\uff5e', '\u{1f600}')).toBeLessThan(0);
    expect(compareStrings('a', 'ab')).toBeLessThan(0);
    expect(compareStrings('b', 'a')).toBeGreaterThan(0);
    expect(compareLabels(labels({ job: '\uff5e' }), labels({ job: '\u{1f600}' }))).toBeLessThan(0);
  });
});
